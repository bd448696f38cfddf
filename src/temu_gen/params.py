"""Kernel parameters: a RunConfig turned into flat numpy arrays and scalars for numba.

Invariant: ``build_params`` is a pure function of the config, computed once per
process; categorical distributions become cumulative arrays that end at exactly 1.0,
and ragged ones (cities per state, brands per platform, reasons per method) share a
flat array addressed by offsets. ``Vocabulary`` holds the names behind every code,
in the same order, so the encoder can label what the kernels wrote.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import NamedTuple

import numpy as np

from .config import TIERS, RunConfig, Weights
from .kernels.codes import EVENT_TYPES, PLATFORMS

_Z90 = 1.2815515655446004  # standard normal 90th percentile: p90 = median * exp(sigma * z90)
_US_PER_HOUR = 3_600_000_000
_DEFAULT_GAP_S = 10.0
_RURAL = TIERS.index("rural")
_OTHER = TIERS.index("other")


class KernelParams(NamedTuple):
    """Everything the kernels read; arrays are contiguous, scalars are int64/float64."""

    n_users: int
    user_skew: float
    products_per_category: int
    product_skew: float
    state_cum: np.ndarray
    city_off: np.ndarray
    city_cum: np.ndarray
    city_tier: np.ndarray
    platform_cum: np.ndarray
    brand_off: np.ndarray
    brand_cum: np.ndarray
    app_version_cum: np.ndarray
    web_app_version: int
    carrier_cum: np.ndarray
    network_cum: np.ndarray
    source_cum: np.ndarray
    period_start_us: int
    hour_cum: np.ndarray
    day_order_mult: np.ndarray
    late_share: float
    p_login: float
    p_search: float
    mean_extra_searches: float
    p_browse: float
    mean_product_views: float
    p_category_view: float
    p_stay_in_category: float
    p_wishlist: float
    p_add_to_cart: float
    p_remove_from_cart: float
    p_view_cart: float
    p_begin_checkout: float
    p_apply_coupon: float
    coupon_pct_min: float
    coupon_pct_max: float
    p_place_order: float
    qty_cum: np.ndarray
    qty_values: np.ndarray
    mean_gap_us: np.ndarray
    cat_cum: np.ndarray
    cat_mu: np.ndarray
    cat_sigma: np.ndarray
    term_off: np.ndarray
    term_cum: np.ndarray
    min_price_naira: float
    method_cum: np.ndarray
    prepaid_method_cum: np.ndarray
    method_fail: np.ndarray
    pod_method: int
    provider_off: np.ndarray
    provider_cum: np.ndarray
    provider_code: np.ndarray
    reason_off: np.ndarray
    reason_cum: np.ndarray
    reason_code: np.ndarray
    p_retry: float
    p_switch_method: float
    max_attempts: int
    unpaid_cancel_h_min: float
    unpaid_cancel_h_max: float
    dispatch_d_min: float
    dispatch_d_max: float
    tier_transit_min: np.ndarray
    tier_transit_max: np.ndarray
    tier_fail: np.ndarray
    partner_cum: np.ndarray
    dfail_cum: np.ndarray
    dfail_code: np.ndarray
    max_delivery_attempts: int
    p_retry_delivery: float
    p_cancel_before_ship: float
    cancel_cum: np.ndarray
    cancel_code: np.ndarray
    p_return: float
    p_refund_after_return: float
    return_cum: np.ndarray
    return_code: np.ndarray
    refund_d_min: float
    refund_d_max: float
    return_window_d: float


class Vocabulary(NamedTuple):
    """The names behind each categorical code column, index = code."""

    event_type: tuple[str, ...]
    platform: tuple[str, ...]
    device_brand: tuple[str, ...]
    app_version: tuple[str, ...]
    carrier: tuple[str, ...]
    network_type: tuple[str, ...]
    traffic_source: tuple[str, ...]
    state: tuple[str, ...]
    city: tuple[str, ...]
    category: tuple[str, ...]
    search_query: tuple[str, ...]
    payment_method: tuple[str, ...]
    payment_provider: tuple[str, ...]
    failure_reason: tuple[str, ...]
    status_reason: tuple[str, ...]
    logistics_partner: tuple[str, ...]


def cumulative(weights) -> np.ndarray:
    """Normalised cumulative weights ending at exactly 1.0 (all-zero stays all-zero)."""
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if total <= 0:
        return np.zeros(len(w))
    c = np.cumsum(w / total)
    c[-1] = 1.0
    return c


def _ragged(groups: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    off = np.zeros(len(groups) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(g) for g in groups])
    cum = np.concatenate([cumulative(g) for g in groups]) if off[-1] else np.zeros(0)
    return off, cum


class _Interner:
    """Assigns dense codes to names, first come first served, without duplicates."""

    def __init__(self, first: tuple[str, ...] = ()):
        self.names: list[str] = []
        for n in first:
            self.code(n)

    def code(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)

    def codes(self, names) -> np.ndarray:
        return np.array([self.code(n) for n in names], dtype=np.int64)


def period_start_us(cfg: RunConfig) -> int:
    """Local midnight of the first day, as µs since the epoch in UTC."""
    tz = dt.timezone(dt.timedelta(hours=cfg.utc_offset_hours))
    start = dt.datetime.combine(cfg.period_start, dt.time(0), tzinfo=tz)
    return int(start.timestamp()) * 1_000_000


def hourly_intensity(cfg: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Relative session intensity per hour of the period, and order multiplier per day."""
    days = [cfg.period_start + dt.timedelta(days=d) for d in range(cfg.period_days)]
    session_day = np.ones(len(days))
    order_day = np.ones(len(days))
    for i, day in enumerate(days):
        session_day[i] *= cfg.day_of_week_multipliers[day.weekday()]
        for rule in cfg.calendar:
            if rule.start <= day <= rule.end:
                session_day[i] *= rule.session_multiplier
                order_day[i] *= rule.order_multiplier
    hours = (session_day[:, None] * np.asarray(cfg.hourly_weights)[None, :]).ravel()
    return hours, order_day


def build_params(cfg: RunConfig) -> tuple[KernelParams, Vocabulary]:
    """Flatten ``cfg`` into kernel inputs and the vocabulary that names their codes."""
    dev, fun, pay, ful, pop = cfg.devices, cfg.funnel, cfg.payments, cfg.fulfilment, cfg.population
    cities: list[str] = []
    city_tier: list[int] = []
    for s in cfg.states:
        tier = TIERS.index(s.delivery_tier)
        for j, c in enumerate(s.cities.names):
            cities.append(c)
            # beyond the first (hub) city of an 'other'-tier state, deliveries are rural
            city_tier.append(_RURAL if tier == _OTHER and j > 0 else tier)
    city_off, city_cum = _ragged([list(s.cities.values) for s in cfg.states])

    brands = [Weights.parse(dev["brands"][pl]) for pl in PLATFORMS]
    brand_off, brand_cum = _ragged([list(b.values) for b in brands])
    app_versions = Weights.parse(dev["app_versions"])
    hours, order_day = hourly_intensity(cfg)
    hour_cum = np.concatenate([[0.0], cumulative(hours)])

    qty = Weights.parse(fun["quantity_weights"])
    gaps = np.full(len(EVENT_TYPES), _DEFAULT_GAP_S)
    for name, seconds in fun["mean_gap_seconds"].items():
        gaps[EVENT_TYPES.index(name)] = seconds

    cats = cfg.categories
    term_off, term_cum = _ragged([[1.0] * len(c.search_terms) for c in cats])
    mu = np.log([c.median_price_ngn for c in cats])
    sigma = (np.log([c.p90_price_ngn for c in cats]) - mu) / _Z90

    methods = cfg.methods
    method_names = tuple(m.name for m in methods)
    pod = method_names.index("pay_on_delivery") if "pay_on_delivery" in method_names else -1
    prepaid_w = [0.0 if i == pod else m.weight for i, m in enumerate(methods)]
    providers = _Interner()
    provider_code = np.concatenate([providers.codes(m.providers.names) for m in methods])
    provider_off, provider_cum = _ragged([list(m.providers.values) for m in methods])
    failures = _Interner()
    reason_code = np.concatenate([failures.codes(m.failure_reasons.names) for m in methods] + [np.zeros(0, np.int64)])
    reason_off, reason_cum = _ragged([list(m.failure_reasons.values) for m in methods])
    dfail = Weights.parse(ful["delivery_failure_reasons"])
    statuses = _Interner(("payment_not_completed",))
    cancel, ret = Weights.parse(ful["cancel_reasons"]), Weights.parse(ful["return_reasons"])
    partners = Weights.parse(ful["logistics_partners"])

    w = {k: Weights.parse(dev[k]) for k in ("carriers", "networks", "traffic_sources")}
    params = KernelParams(
        n_users=int(pop["users"]), user_skew=float(pop["user_activity_skew"]),
        products_per_category=int(pop["products_per_category"]), product_skew=float(pop["product_popularity_skew"]),
        state_cum=cumulative([s.weight for s in cfg.states]), city_off=city_off, city_cum=city_cum,
        city_tier=np.array(city_tier, dtype=np.int64),
        platform_cum=cumulative([dev["platforms"][pl] for pl in PLATFORMS]), brand_off=brand_off, brand_cum=brand_cum,
        app_version_cum=cumulative(app_versions.values), web_app_version=len(app_versions.names),
        carrier_cum=cumulative(w["carriers"].values), network_cum=cumulative(w["networks"].values),
        source_cum=cumulative(w["traffic_sources"].values),
        period_start_us=period_start_us(cfg), hour_cum=hour_cum, day_order_mult=order_day,
        late_share=float(cfg.run.late_ingest_share),
        **{k: float(fun[k]) for k in ("p_login", "p_search", "mean_extra_searches", "p_browse", "mean_product_views",
                                      "p_category_view", "p_stay_in_category", "p_wishlist", "p_add_to_cart",
                                      "p_remove_from_cart", "p_view_cart", "p_begin_checkout", "p_apply_coupon",
                                      "coupon_pct_min", "coupon_pct_max", "p_place_order")},
        qty_cum=cumulative(qty.values), qty_values=np.array([int(n) for n in qty.names], dtype=np.int64),
        mean_gap_us=gaps * 1e6,
        cat_cum=cumulative([c.weight for c in cats]), cat_mu=mu, cat_sigma=sigma,
        term_off=term_off, term_cum=term_cum, min_price_naira=float(cfg.min_price_ngn),
        method_cum=cumulative([m.weight for m in methods]), prepaid_method_cum=cumulative(prepaid_w),
        method_fail=np.array([m.first_attempt_failure for m in methods], dtype=np.float64), pod_method=pod,
        provider_off=provider_off, provider_cum=provider_cum, provider_code=provider_code,
        reason_off=reason_off, reason_cum=reason_cum, reason_code=reason_code,
        p_retry=float(pay["p_retry"]), p_switch_method=float(pay["p_switch_method"]), max_attempts=int(pay["max_attempts"]),
        unpaid_cancel_h_min=float(pay["unpaid_cancel_hours_min"]), unpaid_cancel_h_max=float(pay["unpaid_cancel_hours_max"]),
        dispatch_d_min=float(ful["dispatch_days_min"]), dispatch_d_max=float(ful["dispatch_days_max"]),
        tier_transit_min=np.array([t.transit_days_min for t in cfg.tiers], dtype=np.float64),
        tier_transit_max=np.array([t.transit_days_max for t in cfg.tiers], dtype=np.float64),
        tier_fail=np.array([t.first_attempt_failure for t in cfg.tiers], dtype=np.float64),
        partner_cum=cumulative(partners.values),
        dfail_cum=cumulative(dfail.values), dfail_code=failures.codes(dfail.names),
        max_delivery_attempts=int(ful["max_delivery_attempts"]), p_retry_delivery=float(ful["p_retry_delivery"]),
        p_cancel_before_ship=float(ful["p_cancel_before_ship"]),
        cancel_cum=cumulative(cancel.values), cancel_code=statuses.codes(cancel.names),
        p_return=float(ful["p_return"]), p_refund_after_return=float(ful["p_refund_after_return"]),
        return_cum=cumulative(ret.values), return_code=statuses.codes(ret.names),
        refund_d_min=float(ful["refund_days_min"]), refund_d_max=float(ful["refund_days_max"]),
        return_window_d=float(ful["return_window_days"]),
    )
    vocab = Vocabulary(
        event_type=EVENT_TYPES, platform=PLATFORMS,
        device_brand=tuple(n for b in brands for n in b.names),
        app_version=app_versions.names + ("web",),
        carrier=w["carriers"].names, network_type=w["networks"].names, traffic_source=w["traffic_sources"].names,
        state=tuple(s.name for s in cfg.states), city=tuple(cities),
        category=tuple(c.name for c in cats), search_query=tuple(t for c in cats for t in c.search_terms),
        payment_method=method_names, payment_provider=tuple(providers.names),
        failure_reason=tuple(failures.names), status_reason=tuple(statuses.names),
        logistics_partner=partners.names,
    )
    assert math.isclose(hour_cum[-1], 1.0)
    return params, vocab
