"""The HTML report, made from a real Prometheus, rendered by real headless Chromium.

Checks what a reader (or a printer) gets: no console errors, not a single request beyond
the file itself (self-contained), charts drawn with the right colours where the outages
are, a full-page PNG and a multi-page A4 PDF.
"""

from __future__ import annotations

import base64
import re
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.report_scenario import CONFIG_YAML, PERIOD_START, backfill
from tests.support.prometheus import PrometheusServer
from tests.support.tools import require_tool
from twinlens.cli import main
from twinlens.runtime.chromium import CHROMIUM_ARGS

pytestmark = pytest.mark.e2e


# Counts pixels of each status colour in a PNG (given as a data URL) via a canvas.
_COUNT_COLOURS = """
async (url) => {
  const img = new Image();
  img.src = url;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height).data;
  const want = {up: [46, 125, 50], down: [198, 40, 40], no_data: [158, 158, 158],
                maintenance: [21, 101, 192]};
  const counts = {up: 0, down: 0, no_data: 0, maintenance: 0, total: data.length / 4};
  for (let i = 0; i < data.length; i += 4) {
    for (const [name, [r, g, b]] of Object.entries(want)) {
      if (Math.abs(data[i] - r) < 6 && Math.abs(data[i+1] - g) < 6 && Math.abs(data[i+2] - b) < 6) {
        counts[name]++;
      }
    }
  }
  return counts;
}
"""


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@pytest.fixture
def report_html(tmp_path: Path) -> Path:
    backfill(require_tool("promtool"), tmp_path)
    config = tmp_path / "sla.yml"
    config.write_text(CONFIG_YAML)
    out = tmp_path / "sla.html"
    with PrometheusServer(
        tmp_path, scrape_configs=[], extra_args=["--storage.tsdb.retention.time=100y"]
    ) as prom:
        deadline = time.monotonic() + 30
        while not prom.query("count(twinlens_check_runs_total)", time_=PERIOD_START.timestamp()):
            assert time.monotonic() < deadline, "backfilled data never became queryable"
            time.sleep(0.2)
        status = main(
            [
                "report",
                "--prometheus",
                prom.url,
                "--from",
                "2026-10-05T00:00:00Z",
                "--to",
                "2026-10-05T06:00:00Z",
                "--config.file",
                str(config),
                "--format",
                "html",
                "-o",
                str(out),
            ]
        )
    assert status == 0
    return out


async def test_html_report_renders_in_chromium(report_html: Path, tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    from playwright.async_api import async_playwright

    console: list[str] = []
    requests: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            await page.goto(report_html.as_uri(), wait_until="load")

            png = await page.screenshot(path=str(tmp_path / "sla.png"), full_page=True)
            # The homepage strip: its two outages in red, maintenance and the gap visible.
            strips = page.locator("svg.strip")
            assert await strips.count() == 2  # api, homepage
            home_strip = strips.nth(1)
            box = await home_strip.bounding_box()
            strip_png = await home_strip.screenshot()
            url = "data:image/png;base64," + base64.b64encode(strip_png).decode()
            counts: dict[str, Any] = await page.evaluate(_COUNT_COLOURS, url)
            headings = await page.locator("h3").all_inner_texts()

            await page.emulate_media(media="print")
            pdf = await page.pdf(format="A4", print_background=True)
        finally:
            await browser.close()

    assert console == []
    assert requests == [report_html.as_uri()]
    width, height = png_size(png)
    assert width == 1100
    assert height > 2000  # the whole report, not just the first screen
    assert len(png) > 50_000
    assert box is not None and box["width"] > 900 and box["height"] == pytest.approx(28, abs=1)
    # Shares of the 360 minutes: down 13, maintenance 60, no data 20, the rest up (a little
    # less: the antialiased edges between stretches match no colour exactly).
    total = counts["total"]
    assert counts["maintenance"] / total == pytest.approx(60 / 360, abs=0.01)
    assert counts["no_data"] / total == pytest.approx(20 / 360, abs=0.01)
    assert counts["down"] / total == pytest.approx(13 / 360, abs=0.01)
    assert counts["up"] / total == pytest.approx(267 / 360, abs=0.04)
    assert headings[:2] == ["api", "homepage"]
    assert pdf[:5] == b"%PDF-"
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert 2 <= pages <= 8
