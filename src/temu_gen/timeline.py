"""The launch's clocks: traffic, acquisition, campaign and working-time tables, hour by hour.

Invariant: every table is a pure function of the config, indexed by hours or days since
the period's first local midnight, and extends ``TAIL_DAYS`` past the period so orders
placed on its last day still find working days for their deliveries. Cumulative tables
start at 0 and never decrease, so the kernels invert them by binary search.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import NamedTuple

import numpy as np

TAIL_DAYS = 120
US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR


class TimeParams(NamedTuple):
    """Clock tables for the kernels (see the module docstring for their shared index)."""

    start_us: int
    """Local midnight of the period's first day, in µs since the epoch (UTC)."""
    period_hours: int
    traffic_cum: np.ndarray
    """float64[hours + 1]: cumulative population traffic (day and calendar multipliers x hourly curve)."""
    state_day_mult: np.ndarray
    """float64[days, states]: session multipliers of campaigns scoped to some states (1 elsewhere)."""
    state_mult_max: np.ndarray
    """float64[states]: the largest of each state's column above (bounds thinning)."""
    react_day: np.ndarray
    """float64[days, states]: reactivation strength of the campaigns running that day for that state."""
    react_max: np.ndarray
    """float64[states]."""
    order_day_mult: np.ndarray
    """float64[days + tail]: checkout multiplier per day."""
    acquisition_cum: np.ndarray
    """float64[hours + 1]: cumulative share of all users acquired by the start of each hour (ends at 1)."""
    hour_cum: np.ndarray
    """float64[24]: cumulative hourly curve, for habit hours."""
    working_day: np.ndarray
    """int8[days + tail]: 1 when couriers work that day (weekday and not a holiday)."""
    work_start_h: float
    work_end_h: float


def period_start_us(start: dt.date, utc_offset_hours: float) -> int:
    tz = dt.timezone(dt.timedelta(hours=utc_offset_hours))
    return int(dt.datetime.combine(start, dt.time(0), tzinfo=tz).timestamp()) * 1_000_000


def _days(cfg, extra: int = 0) -> list[dt.date]:
    return [cfg.period.start + dt.timedelta(days=d) for d in range(cfg.period.days + extra)]


def _rules_on(cfg, day: dt.date):
    return [r for r in cfg.time.calendar if r.start <= day <= r.end]


def bass_density(days: np.ndarray, p: float, q: float) -> np.ndarray:
    """New adopters per unit time of the Bass diffusion model at ``days`` since launch (unnormalised)."""
    e = np.exp(-(p + q) * days)
    return (p + q) ** 2 / p * e / (1.0 + q / p * e) ** 2


def build_time(cfg) -> TimeParams:
    """All clock tables of ``cfg``."""
    states = [s.name for s in cfg.geography.states]
    days = _days(cfg)
    hourly = np.asarray(cfg.time.hourly_weights, dtype=np.float64)
    hourly = hourly / hourly.mean()
    day_mult = np.ones(len(days))
    installs = np.ones(len(days))
    state_mult = np.ones((len(days), len(states)))
    react = np.zeros((len(days), len(states)))
    for i, day in enumerate(days):
        day_mult[i] = cfg.time.day_of_week_multipliers[day.weekday()]
        for r in _rules_on(cfg, day):
            cols = [states.index(s) for s in r.states] if r.states else list(range(len(states)))
            if r.states:
                state_mult[i, cols] *= r.session_multiplier
            else:
                day_mult[i] *= r.session_multiplier
            installs[i] *= r.install_multiplier
            react[i, cols] += r.reactivation
    traffic = (day_mult[:, None] * hourly[None, :]).ravel()
    midday = np.arange(len(days) * 24) / 24.0 + 1 / 48
    acq = bass_density(midday, cfg.acquisition.bass_p_per_day, cfg.acquisition.bass_q_per_day)
    acq *= np.repeat(installs, 24) * np.tile(hourly, len(days))
    order_day = np.ones(len(days) + TAIL_DAYS)
    working = np.zeros(len(days) + TAIL_DAYS, dtype=np.int8)
    holidays = set(cfg.fulfilment.holidays)
    for i, day in enumerate(_days(cfg, TAIL_DAYS)):
        for r in _rules_on(cfg, day):
            order_day[i] *= r.order_multiplier
        working[i] = 1 if cfg.fulfilment.working_days[day.weekday()] and day not in holidays else 0
    hc = np.cumsum(hourly / hourly.sum())
    hc[-1] = 1.0
    return TimeParams(
        start_us=period_start_us(cfg.period.start, cfg.period.utc_offset_hours), period_hours=len(days) * 24,
        traffic_cum=_cum(traffic, normalise=False), state_day_mult=state_mult, state_mult_max=state_mult.max(axis=0),
        react_day=react, react_max=react.max(axis=0), order_day_mult=order_day, acquisition_cum=_cum(acq),
        hour_cum=hc, working_day=working, work_start_h=float(cfg.fulfilment.working_hours_start),
        work_end_h=float(cfg.fulfilment.working_hours_end))


def _cum(values: np.ndarray, normalise: bool = True) -> np.ndarray:
    out = np.zeros(len(values) + 1)
    out[1:] = np.cumsum(values)
    if normalise and out[-1] > 0:
        out /= out[-1]
        out[-1] = 1.0
    return out


def peak_acquisition_day(cfg) -> dt.date:
    """The day most users arrive (the launch's chart-topping moment, for docs and tests)."""
    t = build_time(cfg)
    per_day = np.diff(t.acquisition_cum)[: cfg.period.days * 24].reshape(-1, 24).sum(axis=1)
    return cfg.period.start + dt.timedelta(days=int(np.argmax(per_day)))


assert math.isclose(US_PER_DAY, 86_400_000_000)
