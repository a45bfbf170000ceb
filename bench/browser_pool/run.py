"""Browser journeys: the shared browser pool vs a fresh browser per run, in one run.

Tools that launch a browser for every check pay Chromium's start-up each time. twinlens
keeps one Chromium per process and gives each run a fresh *context* (cookies, storage and
cache are still per run). This measures what that buys on this machine, side by side:

1. **pool** — ``RUNS`` sequential runs of a two-step journey (``goto`` a local page,
   ``expect_text``) through :func:`exporter.probe.run_probe`, after one warm-up run;
2. **launch per run** — ``LAUNCHES`` runs, each in a new pool that is closed after it
   (Chromium started and stopped every time, as a per-run launcher does);
3. **memory** — proportional set size (shared pages counted once) of every process of the
   pooled Chromium (browser, zygotes, GPU, network service, renderers) right after the
   pooled runs, from ``/proc/<pid>/smaps_rollup``.

    .venv/bin/python bench/browser_pool/run.py            # ~40 s on an idle 2-core box
    .venv/bin/python bench/browser_pool/run.py --quick    # fewer runs, a smoke test

Loopback only, bounded in count and time. Prints the per-run medians and their ratio;
exits 1 when the pool is not at least twice as fast (the design goal) or a run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from exporter import browser_pool  # noqa: E402
from exporter.config import Module  # noqa: E402
from exporter.probe import run_probe  # noqa: E402
from twinlens.runtime.config import decode  # noqa: E402

PAGE = "<!doctype html><title>bench</title><h1>Catalogue</h1>" + "<p>item</p>" * 200
TIME_LIMIT = 300.0  # seconds for the whole benchmark, whatever the machine


async def _serve() -> tuple[web.AppRunner, str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/"


def _pss_mib(pids: list[int]) -> float:
    """Proportional set size: shared pages (zygote forks share most) counted once."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


async def _timed(module: Module, url: str) -> float:
    t0 = time.perf_counter()
    outcome = await run_probe("bench", module, url, 60.0)
    if not outcome.success:
        print(outcome.log.text(), file=sys.stderr)
        raise SystemExit("a benchmark run failed")
    return time.perf_counter() - t0


async def main(runs: int, launches: int) -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found", file=sys.stderr)
        return 1
    steps = [{"goto": "/"}, {"expect_text": {"selector": "h1", "text": "Catalogue"}}]
    module = decode(
        {"prober": "browser", "browser": {"executable": chromium, "steps": steps}}, Module
    )
    runner, url = await _serve()
    started = time.monotonic()
    try:
        await _timed(module, url)  # warm-up: the pool's one launch
        pooled = []
        for _ in range(runs):
            pooled.append(await _timed(module, url))
            if time.monotonic() - started > TIME_LIMIT:
                break
        pool = browser_pool.get_pool(chromium)
        pss = _pss_mib(pool.processes())
        processes = len(pool.processes())
        await browser_pool.close_all()
        fresh = []
        for _ in range(launches):
            fresh.append(await _timed(module, url))  # launches: the pool was closed
            await browser_pool.close_all()
            if time.monotonic() - started > TIME_LIMIT:
                break
    finally:
        await browser_pool.close_all()
        await runner.cleanup()
    pooled_ms = statistics.median(pooled) * 1000
    fresh_ms = statistics.median(fresh) * 1000
    ratio = fresh_ms / pooled_ms
    print(f"pool:            {len(pooled)} runs, median {pooled_ms:.0f} ms per run")
    print(f"launch per run:  {len(fresh)} runs, median {fresh_ms:.0f} ms per run")
    print(f"ratio:           the pool is {ratio:.1f}x faster per run")
    print(f"pooled Chromium: {processes} processes, {pss:.0f} MiB (PSS) after the runs")
    return 0 if ratio >= 2 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 + 2 runs, a smoke test")
    args = parser.parse_args()
    n_runs, n_launches = (3, 2) if args.quick else (20, 8)
    sys.exit(asyncio.run(main(n_runs, n_launches)))
