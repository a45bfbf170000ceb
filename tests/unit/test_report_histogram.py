"""Percentiles and Web Vitals shares from cumulative buckets (pure)."""

from __future__ import annotations

import math

import pytest

from twinlens.report.histogram import add_buckets, quantile, shares, total

INF = math.inf
# LCP buckets with 300 page loads: 50 in (0.5,1], 80 in (1,1.5], 25 in (1.5,2], 30 in
# (2,2.5], 20 in (2.5,3], 50 in (3,4], 20 in (4,6], 25 in (6,10]
LCP = {
    0.5: 0,
    1: 50,
    1.5: 130,
    2: 155,
    2.5: 185,
    3: 205,
    4: 255,
    6: 275,
    10: 300,
    20: 300,
    INF: 300,
}


def test_quantile_interpolates_like_histogram_quantile() -> None:
    assert quantile(0.75, LCP) == pytest.approx(3.4)  # rank 225 in (3,4]: 3 + 20/50
    assert quantile(0.5, LCP) == pytest.approx(1.9)  # rank 150 in (1.5,2]: 1.5 + .5*20/25
    assert quantile(0.1, LCP) == pytest.approx(0.8)  # rank 30 in (0.5,1]: .5 + .5*30/50
    assert quantile(1.0, LCP) == pytest.approx(10)


def test_quantile_edges() -> None:
    first = {0.1: 10, 0.25: 10, INF: 10}
    assert quantile(0.5, first) == pytest.approx(0.05)  # first bucket starts at 0
    in_inf = {0.1: 1, 0.25: 2, INF: 10}
    assert quantile(0.9, in_inf) == 0.25  # in +Inf: the highest finite bound
    assert quantile(0.5, {0.1: 0, INF: 0}) is None
    assert quantile(0.5, {0.1: 5}) is None  # no +Inf bucket: not a histogram
    # momentarily non-monotonic buckets (scraped one by one) are fixed as PromQL does
    assert quantile(0.5, {0.1: 6, 0.25: 5, INF: 10}) == pytest.approx(0.05 / 0.6)


def test_shares_are_exact_on_bucket_bounds() -> None:
    good, ni, poor = shares(LCP, 2.5, 4) or (0, 0, 0)
    assert (good, ni, poor) == pytest.approx((185 / 300, 70 / 300, 45 / 300))
    assert shares(LCP, 2.4, 4) is None  # not a bucket bound: refuse to guess
    assert shares({0.1: 0, INF: 0}, 0.1, 0.25) is None


def test_add_and_total() -> None:
    a = {0.1: 1.0, INF: 2.0}
    add_buckets(a, {0.1: 3.0, 0.25: 4.0, INF: 5.0})
    assert a == {0.1: 4.0, 0.25: 4.0, INF: 7.0}
    assert total(a) == 7.0
    assert total({0.1: 1.0}) == 0.0
