"""Time in the kernels: the launch's traffic clock, acquisition, habits and working hours.

Invariant: every function is pure in its arguments; times are µs since the epoch (UTC)
and tables are indexed by hours or days since the period's first local midnight
(``TimeParams.start_us``). ``traffic_time`` inverts ``traffic_clock`` (both are monotone),
which is what lets a user's sessions follow the population's hour-of-day, weekday and
campaign curve through a change of time.
"""
import numpy as np

from ._jit import jit
from .sampling import std_normal, uniform

US_PER_MINUTE = 60_000_000
US_PER_HOUR = 3_600_000_000
US_PER_DAY = 86_400_000_000


@jit
def _invert(cum, q):
    """Fractional index x with cum[floor(x)] <= q, interpolated; cum is non-decreasing."""
    a = 0
    b = cum.shape[0] - 2
    while a < b:  # last bin h with cum[h] <= q
        m = (a + b + 1) >> 1
        if cum[m] <= q:
            a = m
        else:
            b = m - 1
    width = cum[a + 1] - cum[a]
    frac = (q - cum[a]) / width if width > 0.0 else 0.5
    if frac > 1.0:
        frac = 1.0
    return a + frac


@jit
def arrival_us(tp, q):
    """When the user at acquisition quantile ``q`` in [0, 1) arrives."""
    return tp.start_us + np.int64(_invert(tp.acquisition_cum, q) * US_PER_HOUR)


@jit
def traffic_clock(tp, t):
    """Population traffic accumulated from the period start to ``t`` (one unit ~ an average hour)."""
    h = (t - tp.start_us) / US_PER_HOUR
    n = tp.traffic_cum.shape[0] - 1
    if h <= 0.0:
        return h * tp.traffic_cum[1]
    if h >= n:
        return tp.traffic_cum[n] + (h - n)
    i = int(h)
    return tp.traffic_cum[i] + (h - i) * (tp.traffic_cum[i + 1] - tp.traffic_cum[i])


@jit
def traffic_time(tp, c):
    """The time at which the population clock reads ``c`` (inverse of :func:`traffic_clock`)."""
    n = tp.traffic_cum.shape[0] - 1
    if c >= tp.traffic_cum[n]:
        return tp.start_us + np.int64((n + c - tp.traffic_cum[n]) * US_PER_HOUR)
    return tp.start_us + np.int64(_invert(tp.traffic_cum, c) * US_PER_HOUR)


@jit
def day_index(tp, t):
    d = (t - tp.start_us) // US_PER_DAY
    return d if d > 0 else 0


@jit
def period_end_us(tp):
    return tp.start_us + tp.period_hours * US_PER_HOUR


@jit
def habit_time(tp, t, minute_of_day, sd_us, st):
    """``t`` moved to the user's habitual minute of the same local day, with some spread."""
    day_start = tp.start_us + ((t - tp.start_us) // US_PER_DAY) * US_PER_DAY
    shifted = day_start + np.int64(minute_of_day * US_PER_MINUTE + sd_us * std_normal(st))
    if shifted < day_start:
        shifted = day_start
    if shifted >= day_start + US_PER_DAY:
        shifted = day_start + US_PER_DAY - 1
    return shifted


@jit
def habit_minute(tp, st):
    """A habitual minute of the day, drawn from the population's hourly curve."""
    u = uniform(st)
    h = 0
    while h < 23 and tp.hour_cum[h] <= u:
        h += 1
    return h * 60.0 + 60.0 * uniform(st)


@jit
def working_time(tp, t, st):
    """The first moment at or after ``t`` when couriers work (working day, inside working hours)."""
    n = tp.working_day.shape[0]
    d = day_index(tp, t)
    start = np.int64(tp.work_start_h * US_PER_HOUR)
    end = np.int64(tp.work_end_h * US_PER_HOUR)
    while d < n:
        day0 = tp.start_us + d * US_PER_DAY
        if tp.working_day[d] == 1:
            if t < day0 + start:
                return day0 + start + np.int64(uniform(st) * 1.5 * US_PER_HOUR)
            if t < day0 + end:
                return t
        d += 1
        t = tp.start_us + d * US_PER_DAY
    return t


@jit
def working_day_end(tp, t):
    """End of the working hours of ``t``'s day."""
    return tp.start_us + day_index(tp, t) * US_PER_DAY + np.int64(tp.work_end_h * US_PER_HOUR)


@jit
def order_multiplier(tp, t):
    """The calendar's checkout multiplier on the day of ``t`` (salary week, Black Friday)."""
    d = day_index(tp, t)
    n = tp.order_day_mult.shape[0]
    return tp.order_day_mult[d if d < n else n - 1]
