"""The sizing model's fit: per-core throughput, start-up and a USL curve from a calibration's measured runs.

Invariant: pure arithmetic over the measured points (no I/O, no clock, a fixed resampling seed),
so the same points always give the same fit. A calibration's central values and the interval
of every prediction come from the same :func:`fit` over medians: the central values from all
passes, the interval from passes drawn with replacement (a bootstrap). Medians, not bests: on a
shared machine the fastest run of a few is luck, and the fit subtracts start-up from short runs,
which turns a lucky run into a large error in the speedup; the median of interleaved passes is
what repeats from one calibration to the next.
"""
from __future__ import annotations

import math
import random
import statistics
from typing import NamedTuple

TINY = 50_000
"""Events of the start-up probe: one small part, so the run is nearly all start-up."""
REPEATS = 10
"""Default passes of a calibration: on a shared 2-core VM, the medians of 10 interleaved passes repeated within a few
per cent from one calibration to the next; 3 passes did not (one pass's 2-worker speedup ranged 1.1-2.2 there)."""
BOOTSTRAP = 400
"""Resamples behind a prediction's interval."""
INTERVAL = (0.1, 0.9)
"""The interval's quantiles: 80% of the resampled fits predict inside it."""


class Point(NamedTuple):
    """One measured configuration: every pass's wall seconds, in pass order."""

    engine: str
    workers: int
    events: int
    cores: float
    """Usable cores of the calibration machine at these workers (hyperthreads count as a fraction of a core)."""
    seconds: tuple[float, ...]


class Fit(NamedTuple):
    rate: float
    """Events per second on one core."""
    startup: float
    plan_per_event: float
    sigma: float
    kappa: float
    speedup_2: float
    """Speedup of the 2-worker point over one (1.0 on a 1-core machine)."""
    dask_overhead: float | None


def fit_usl(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (sigma, kappa) >= 0 of ``c / S - 1 = sigma (c - 1) + kappa c (c - 1)`` over (cores, speedup)."""
    rows = [(c - 1.0, c * (c - 1.0), c / s - 1.0) for c, s in points if c > 1 and s > 0]
    if not rows:
        return 0.0, 0.0
    aa = sum(a * a for a, _, _ in rows)
    ab = sum(a * b for a, b, _ in rows)
    bb = sum(b * b for _, b, _ in rows)
    ay = sum(a * y for a, _, y in rows)
    by = sum(b * y for _, b, y in rows)
    det = aa * bb - ab * ab
    if len(rows) > 1 and det > 1e-12:
        sigma, kappa = (ay * bb - by * ab) / det, (aa * by - ab * ay) / det
        if sigma >= 0 and kappa >= 0:
            return min(sigma, 1.0), kappa
        if sigma < 0:  # the best fit with sigma held at 0
            return 0.0, max(0.0, by / bb)
    return min(1.0, max(0.0, ay / aa)), 0.0  # sigma 1: no speedup at all (a machine busy with something else)


def fit(points: list[Point], plan_per_event: float, passes: list[int] | None = None) -> Fit:
    """The model over the median of each point's passes (``passes``: which passes, repeats allowed; default all).

    ``points`` holds the start-up probe (pool, 1 worker, :data:`TINY` events), one bigger pool run per number of
    workers, and optionally a Dask run at the same size as a pool run.
    """
    def median(p: Point) -> float:
        return statistics.median(p.seconds[i] for i in passes) if passes is not None else statistics.median(p.seconds)

    t = {(p.engine, p.workers, p.events): median(p) for p in points}
    pool = sorted((p for p in points if p.engine == "pool" and p.events > TINY), key=lambda p: p.workers)
    one, probe = pool[0], t[("pool", 1, TINY)]
    startup, rate = probe, 1.0
    for _ in range(5):  # the probe's own events are not start-up: solve the pair of equations by iteration
        rate = one.events / max(t[one[:3]] - startup - plan_per_event * one.events, 1e-6)
        startup = max(0.0, probe - TINY / rate)
    speedups = [(p.cores, p.events / max(t[p[:3]] - startup - plan_per_event * p.events, 1e-6) / rate)
                for p in pool[1:]]
    sigma, kappa = fit_usl(speedups)
    two = next((s for (c, s), p in zip(speedups, pool[1:]) if p.workers == 2), 1.0)
    dask = next((p for p in points if p.engine == "dask"), None)
    overhead = None
    if dask is not None and ("pool", dask.workers, dask.events) in t:
        overhead = max(0.0, t[dask[:3]] - t[("pool", dask.workers, dask.events)])
    return Fit(rate, startup, plan_per_event, sigma, kappa, two, overhead)


def bootstrap(points: list[Point], plan_per_event: float, n: int = BOOTSTRAP) -> list[Fit]:
    """Fits over ``n`` resamples of the passes (whole passes, so runs measured side by side stay together).

    Empty with fewer than 3 passes: there is nothing to resample.
    """
    passes = min(len(p.seconds) for p in points)
    if passes < 3:
        return []
    rng = random.Random(0)
    return [fit(points, plan_per_event, [rng.randrange(passes) for _ in range(passes)]) for _ in range(n)]


def quantiles(values: list[float]) -> tuple[float, float]:
    """The :data:`INTERVAL` quantiles of ``values`` (nearest rank)."""
    s = sorted(values)
    return tuple(s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))] for q in INTERVAL)
