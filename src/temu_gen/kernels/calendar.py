"""Session start times: the launch calendar's traffic curve, inverted.

Invariant: a chunk covering rows [a, b) of an N-row run draws its session starts
from the traffic quantiles [a/N, b/N), so chunks follow each other in time and the
whole run follows the hour-of-day, day-of-week and calendar curve of the config.
"""
from ._jit import jit
from .sampling import uniform, uniform_range

_US_PER_HOUR = 3_600_000_000.0
_US_PER_DAY = 86_400_000_000


@jit
def session_start_us(st, q0, q1, p):
    """A session start (µs since the epoch, UTC) at a traffic quantile in [q0, q1)."""
    q = uniform_range(st, q0, q1)
    cum = p.hour_cum
    a = 0
    b = cum.shape[0] - 2
    while a < b:  # last hour h with cum[h] <= q
        m = (a + b + 1) >> 1
        if cum[m] <= q:
            a = m
        else:
            b = m - 1
    width = cum[a + 1] - cum[a]
    frac = (q - cum[a]) / width if width > 0.0 else uniform(st)
    return p.period_start_us + int((a + frac) * _US_PER_HOUR)


@jit
def order_multiplier(ts, p):
    """The calendar's conversion multiplier on the day of ``ts`` (salary week, Black Friday)."""
    d = (ts - p.period_start_us) // _US_PER_DAY
    if d < 0:
        d = 0
    n = p.day_order_mult.shape[0]
    if d >= n:
        d = n - 1
    return p.day_order_mult[d]
