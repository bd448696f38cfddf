"""Kernel parameters: a RunConfig turned into small groups of numpy arrays and scalars for numba.

Invariant: ``build_params`` is a pure function of the config, computed once per process.
Categorical distributions become cumulative arrays that end at exactly 1.0; ragged ones
(cities per state, brands per platform, reasons per method) share a flat array
addressed by offsets. Each group serves one concern, so a kernel function receives only
what it reads. ``Vocabulary`` holds the names behind every code in the same order.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import NamedTuple, get_type_hints

import numpy as np

from .kernels.codes import EVENT_TYPES, IOS, PLATFORMS
from .kernels.tables import power_table
from .sections import AREAS, TIERS, Weights
from .timeline import TimeParams, build_time, period_start_us
from .vocab import Vocabulary, base_vocabulary, search_vocabulary

_Z90 = 1.2815515655446004  # standard normal 90th percentile: p90 = median * exp(sigma * z90)
_US = 1_000_000
_SLOW = ("2G", "3G")


class UserParams(NamedTuple):
    """Traits drawn once per user, and the shape of their sessions over time."""

    state_cum: np.ndarray
    city_off: np.ndarray
    city_cum: np.ndarray
    city_tier: np.ndarray
    state_urban: np.ndarray
    state_region: np.ndarray
    platform_cum: np.ndarray
    """float64[states, 2 areas, 3 platforms]."""
    brand_off: np.ndarray
    brand_cum: np.ndarray
    carrier_cum: np.ndarray
    network_cum: np.ndarray
    """float64[regions, 2 areas, networks]."""
    channel_cum: np.ndarray
    return_cum: np.ndarray
    return_code: np.ndarray
    cat_cum: np.ndarray
    method_cum: np.ndarray
    """float64[2 (iOS or not), 2 areas, methods]: a user's preferred payment method."""
    releases_us: np.ndarray
    update_lag_us: float
    p_never_updates: float
    web_app_version: int
    rate0_per_hour: float
    """Sessions per average hour of traffic right after arrival, for a median user."""
    activity_sigma: float
    decay_us: float
    decay_exponent: float
    p_churn: float
    p_churn_buyer: float
    buyer_boost: float
    react_per_hour: float
    push_code: int
    """traffic_source of a comeback session (push notification, or the first return source)."""
    habit_mean: float
    habit_sd_us: float
    min_gap_us: float
    max_sessions: int
    p_second_device: float
    p_sign_in_first: float
    p_sign_in_later: float
    p_logout: float
    p_usual_network: float


class FunnelParams(NamedTuple):
    """One session's browsing, cart and checkout."""

    p_search: float
    mean_extra_searches: float
    p_browse: float
    mean_views: float
    p_category_view: float
    p_stay: float
    p_favourite: float
    p_revisit: float
    p_wishlist: float
    p_add: float
    cheap_boost: float
    p_remove: float
    p_view_cart: float
    p_intent: float
    intent_views: float
    intent_adds: float
    p_checkout_intent: float
    p_checkout_browsing: float
    p_coupon: float
    coupon_min: float
    coupon_max: float
    p_place: float
    qty_cum: np.ndarray
    qty_values: np.ndarray
    conv_platform: np.ndarray
    conv_network: np.ndarray
    conv_source: np.ndarray
    conv_orders: np.ndarray
    sensitivity_effect: float
    len_platform: np.ndarray
    len_network: np.ndarray
    think_us: np.ndarray
    """float64[event types]: median think time before each event type."""
    think_sigma: float
    p_offline: np.ndarray
    flush_median_us: float
    flush_sigma: float
    flush_max_us: float
    online_lag_us: float


class CatalogParams(NamedTuple):
    """Products, prices over time, and search queries."""

    per_category: int
    popularity_table: np.ndarray
    """Knots of u**skew: the popularity head of products within a category (see sampling.skewed_table)."""
    cat_mu: np.ndarray
    cat_sigma: np.ndarray
    cat_median_naira: np.ndarray
    min_naira: float
    ending_cum: np.ndarray
    ending_code: np.ndarray
    promo_start_us: np.ndarray
    promo_end_us: np.ndarray
    promo_share: np.ndarray
    promo_depth_min: np.ndarray
    promo_depth_max: np.ndarray
    term_off: np.ndarray
    term_variants: np.ndarray
    """int64[terms, variants]: the query code of each (term, variant); variant 0 is the plain term."""
    term_table: np.ndarray
    n_typos: int
    p_typo: float
    p_modifier: float


class PayParams(NamedTuple):
    """Payment attempts, failures, retries and confirmation times."""

    method_fail: np.ndarray
    confirm_min_us: np.ndarray
    confirm_max_us: np.ndarray
    prepaid_cum: np.ndarray
    pod_method: int
    p_preferred: float
    provider_off: np.ndarray
    provider_cum: np.ndarray
    provider_code: np.ndarray
    reason_off: np.ndarray
    reason_cum: np.ndarray
    reason_code: np.ndarray
    p_retry: float
    p_switch: float
    max_attempts: int
    unpaid_cancel_h_min: float
    unpaid_cancel_h_max: float


class ShipParams(NamedTuple):
    """An order's life after payment: dispatch, delivery on working days, returns and refunds."""

    dispatch_d_min: float
    dispatch_d_max: float
    tier_transit_min: np.ndarray
    tier_transit_max: np.ndarray
    tier_fail: np.ndarray
    partner_cum: np.ndarray
    dfail_cum: np.ndarray
    dfail_code: np.ndarray
    max_attempts: int
    p_retry: float
    p_cancel: float
    cancel_cum: np.ndarray
    cancel_code: np.ndarray
    p_return: float
    p_refund_after_return: float
    return_cum: np.ndarray
    return_code: np.ndarray
    refund_d_min: float
    refund_d_max: float
    return_window_d: float
    rts_d_min: float
    rts_d_max: float


class Params(NamedTuple):
    time: TimeParams
    users: UserParams
    funnel: FunnelParams
    catalog: CatalogParams
    pay: PayParams
    ship: ShipParams


def cumulative(weights) -> np.ndarray:
    """Normalised cumulative weights ending at exactly 1.0 (all-zero stays all-zero)."""
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if total <= 0:
        return np.zeros(len(w))
    c = np.cumsum(w / total)
    c[-1] = 1.0
    return c


def ragged(groups: list) -> tuple[np.ndarray, np.ndarray]:
    off = np.zeros(len(groups) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(g) for g in groups])
    cum = np.concatenate([cumulative(g) for g in groups]) if off[-1] else np.zeros(0)
    return off, cum


def _aligned(w: Weights, names, default: float = 1.0) -> np.ndarray:
    return np.array([w.get(n, default) for n in names], dtype=np.float64)


class _Interner:
    """Dense codes for names, first come first served."""

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


def _user_params(cfg, sources: list[str], time: TimeParams) -> UserParams:
    geo, d, e, ident = cfg.geography, cfg.devices, cfg.engagement, cfg.identity
    regions = [r.name for r in geo.regions]
    cities, tiers = [], []
    for s in geo.states:
        for _ in s.cities.names:
            cities.append(_)
            tiers.append(TIERS.index(s.delivery_tier))
    city_off, city_cum = ragged([list(s.cities.values) for s in geo.states])
    plat = np.zeros((len(geo.states), 2, len(PLATFORMS)))
    for i, s in enumerate(geo.states):
        ios = geo.regions[regions.index(s.region)].ios_multiplier * s.ios_multiplier
        for a, area in enumerate(AREAS):
            w = _aligned(d.platforms[area], PLATFORMS, 0.0)
            w[IOS] *= ios
            plat[i, a] = cumulative(w)
    nets = d.networks["urban"].names
    net = np.zeros((len(regions), 2, len(nets)))
    for r, reg in enumerate(geo.regions):
        for a, area in enumerate(AREAS):
            w = np.array(d.networks[area].values)
            w *= [reg.slow_network_multiplier if n in _SLOW else 1.0 for n in nets]
            net[r, a] = cumulative(w)
    brand_off, brand_cum = ragged([list(d.brands[p].values) for p in PLATFORMS])
    methods = [m.name for m in cfg.payments.methods]
    prefs = np.zeros((2, 2, len(methods)))
    for ios in (0, 1):
        for a, area in enumerate(AREAS):
            w = _floats([m.weight for m in cfg.payments.methods])
            if ios:
                w *= _aligned(cfg.payments.preference_multipliers.get("ios", Weights((), ())), methods)
            if area == "rural":
                w *= _aligned(cfg.payments.preference_multipliers.get("rural", Weights((), ())), methods)
            prefs[ios, a] = cumulative(w)
    tz = dt.timezone(dt.timedelta(hours=cfg.period.utc_offset_hours))
    releases = np.array([int(dt.datetime.combine(day, dt.time(0), tzinfo=tz).timestamp()) * _US
                         for _, day in d.app_releases], dtype=np.int64)
    return UserParams(
        state_cum=cumulative([s.weight for s in geo.states]), city_off=city_off, city_cum=city_cum,
        city_tier=np.array(tiers, dtype=np.int64), state_urban=_floats([s.urban_share for s in geo.states]),
        state_region=np.array([regions.index(s.region) for s in geo.states], dtype=np.int64),
        platform_cum=plat, brand_off=brand_off, brand_cum=brand_cum, carrier_cum=cumulative(d.carriers.values),
        network_cum=net, channel_cum=cumulative(d.acquisition_channels.values),
        return_cum=cumulative(d.return_sources.values),
        return_code=np.array([sources.index(n) for n in d.return_sources.names], dtype=np.int64),
        cat_cum=cumulative([c.weight for c in cfg.catalog.categories]), method_cum=prefs,
        releases_us=releases, update_lag_us=d.update_lag_days_mean * 86_400 * _US,
        p_never_updates=d.p_never_updates, web_app_version=len(d.app_releases),
        rate0_per_hour=e.first_day_sessions_per_day / 24.0, activity_sigma=e.activity_sigma,
        decay_us=e.decay_days * 86_400 * _US, decay_exponent=e.decay_exponent, p_churn=e.p_churn_per_session,
        p_churn_buyer=e.p_churn_per_session_buyer, buyer_boost=e.buyer_activity_multiplier,
        react_per_hour=e.reactivation_per_day / 24.0,
        push_code=sources.index("push_notification") if "push_notification" in sources else
        sources.index(d.return_sources.names[0]), habit_mean=e.habit_strength_mean,
        habit_sd_us=e.habit_sd_minutes * 60 * _US, min_gap_us=e.min_gap_minutes * 60 * _US,
        max_sessions=e.max_sessions_per_user, p_second_device=ident.p_second_device,
        p_sign_in_first=ident.p_sign_in_first_session, p_sign_in_later=ident.p_sign_in_later_session,
        p_logout=ident.p_logout, p_usual_network=d.p_usual_network)


def _funnel_params(cfg, sources: list[str]) -> FunnelParams:
    f, late = cfg.funnel, cfg.lateness
    nets = cfg.devices.networks["urban"].names
    think = np.full(len(EVENT_TYPES), 5.0)
    for name, seconds in f.think_time_median_seconds.items():
        think[EVENT_TYPES.index(name)] = seconds
    orders = list(f.orders_before_multipliers)
    return FunnelParams(
        p_search=f.p_search, mean_extra_searches=f.mean_extra_searches, p_browse=f.p_browse,
        mean_views=f.mean_product_views, p_category_view=f.p_category_view, p_stay=f.p_stay_in_category,
        p_favourite=f.p_favourite_category, p_revisit=f.p_revisit_saved, p_wishlist=f.p_wishlist,
        p_add=f.p_add_to_cart, cheap_boost=f.cheap_item_add_boost, p_remove=f.p_remove_from_cart,
        p_view_cart=f.p_view_cart, p_intent=f.p_purchase_intent, intent_views=f.intent_view_multiplier,
        intent_adds=f.intent_add_multiplier, p_checkout_intent=f.p_checkout_with_intent,
        p_checkout_browsing=f.p_checkout_browsing, p_coupon=f.p_apply_coupon,
        coupon_min=f.coupon_pct_min, coupon_max=f.coupon_pct_max, p_place=f.p_place_order,
        qty_cum=cumulative(f.quantity_weights.values),
        qty_values=np.array([int(n) for n in f.quantity_weights.names], dtype=np.int64),
        conv_platform=_aligned(f.conversion.platform, PLATFORMS), conv_network=_aligned(f.conversion.network, nets),
        conv_source=_aligned(f.conversion.traffic_source, sources), conv_orders=np.array(orders, dtype=np.float64),
        sensitivity_effect=f.price_sensitivity_effect, len_platform=_aligned(f.session_length.platform, PLATFORMS),
        len_network=_aligned(f.session_length.network, nets), think_us=think * _US, think_sigma=f.think_time_sigma,
        p_offline=_aligned(late.p_offline_session, nets, 0.0), flush_median_us=late.flush_median_minutes * 60 * _US,
        flush_sigma=late.flush_sigma, flush_max_us=late.max_flush_days * 86_400 * _US,
        online_lag_us=late.online_lag_ms_mean * 1000.0)


def _catalog_params(cfg, term_off, term_variants) -> CatalogParams:
    c, tz = cfg.catalog, dt.timezone(dt.timedelta(hours=cfg.period.utc_offset_hours))
    mu = np.log([x.median_price_ngn for x in c.categories])
    sigma = (np.log([x.p90_price_ngn for x in c.categories]) - mu) / _Z90
    rules = [r for r in cfg.time.calendar if r.price_drop]

    def us(day: dt.date, end: bool = False) -> int:
        return int(dt.datetime.combine(day + dt.timedelta(days=int(end)), dt.time(0), tzinfo=tz).timestamp()) * _US

    return CatalogParams(
        per_category=cfg.population.products_per_category,
        popularity_table=power_table(cfg.population.product_popularity_skew),
        cat_mu=mu, cat_sigma=sigma, cat_median_naira=_floats([x.median_price_ngn for x in c.categories]),
        min_naira=float(c.min_price_ngn), ending_cum=cumulative(c.price_endings.values),
        ending_code=np.array([int(n) for n in c.price_endings.names], dtype=np.int64),
        promo_start_us=np.array([us(r.start) for r in rules], dtype=np.int64),
        promo_end_us=np.array([us(r.end, True) for r in rules], dtype=np.int64),
        promo_share=_floats([r.price_drop.share for r in rules]),
        promo_depth_min=_floats([r.price_drop.depth_min for r in rules]),
        promo_depth_max=_floats([r.price_drop.depth_max for r in rules]),
        term_off=term_off, term_variants=term_variants, term_table=power_table(cfg.search.term_popularity_exponent),
        n_typos=3, p_typo=cfg.search.p_misspelling, p_modifier=cfg.search.p_modifier)


def _pay_params(cfg, providers: _Interner, failures: _Interner) -> PayParams:
    p = cfg.payments
    methods = [m.name for m in p.methods]
    pod = methods.index("pay_on_delivery") if "pay_on_delivery" in methods else -1
    provider_off, provider_cum = ragged([list(m.providers.values) for m in p.methods])
    reason_off, reason_cum = ragged([list(m.failure_reasons.values) for m in p.methods])
    return PayParams(
        method_fail=_floats([m.first_attempt_failure for m in p.methods]),
        confirm_min_us=_floats([m.confirm_seconds_min * _US for m in p.methods]),
        confirm_max_us=_floats([m.confirm_seconds_max * _US for m in p.methods]),
        prepaid_cum=cumulative([0.0 if i == pod else m.weight for i, m in enumerate(p.methods)]), pod_method=pod,
        p_preferred=p.p_preferred_method, provider_off=provider_off, provider_cum=provider_cum,
        provider_code=np.concatenate([providers.codes(m.providers.names) for m in p.methods]),
        reason_off=reason_off, reason_cum=reason_cum,
        reason_code=np.concatenate([failures.codes(m.failure_reasons.names) for m in p.methods]
                                   + [np.zeros(0, np.int64)]),
        p_retry=p.p_retry, p_switch=p.p_switch_method, max_attempts=p.max_attempts,
        unpaid_cancel_h_min=p.unpaid_cancel_hours_min, unpaid_cancel_h_max=p.unpaid_cancel_hours_max)


def _ship_params(cfg, failures: _Interner, statuses: _Interner) -> ShipParams:
    f = cfg.fulfilment
    return ShipParams(
        dispatch_d_min=f.dispatch_days_min, dispatch_d_max=f.dispatch_days_max,
        tier_transit_min=_floats([t.transit_days_min for t in f.tiers]),
        tier_transit_max=_floats([t.transit_days_max for t in f.tiers]),
        tier_fail=_floats([t.first_attempt_failure for t in f.tiers]),
        partner_cum=cumulative(f.logistics_partners.values), dfail_cum=cumulative(f.delivery_failure_reasons.values),
        dfail_code=failures.codes(f.delivery_failure_reasons.names), max_attempts=f.max_delivery_attempts,
        p_retry=f.p_retry_delivery, p_cancel=f.p_cancel_before_ship, cancel_cum=cumulative(f.cancel_reasons.values),
        cancel_code=statuses.codes(f.cancel_reasons.names), p_return=f.p_return,
        p_refund_after_return=f.p_refund_after_return, return_cum=cumulative(f.return_reasons.values),
        return_code=statuses.codes(f.return_reasons.names), refund_d_min=f.refund_days_min,
        refund_d_max=f.refund_days_max, return_window_d=f.return_window_days, rts_d_min=f.return_to_sender_days_min,
        rts_d_max=f.return_to_sender_days_max)


def traffic_sources(cfg) -> list[str]:
    """Acquisition channels, then return sources not already named: the traffic_source codes."""
    return list(dict.fromkeys(cfg.devices.acquisition_channels.names + cfg.devices.return_sources.names))


def _floats(values) -> np.ndarray:
    """A kernel array of config numbers: float64 however the config spells them (5 or 5.5)."""
    return np.array(values, dtype=np.float64)


def _as_declared(group):
    """``group`` with every scalar of the type its field declares.

    The kernels are compiled, and shipped compiled, for these types: a config that spelled a float field as a
    whole number (transit days 7, not 7.5) gave numba an int64 where another config gives a float64, and every
    worker compiled the kernels again, for a minute, without a word.
    """
    hints = get_type_hints(type(group))
    fixed = {}
    for name, value in zip(group._fields, group):
        if hints[name] is float and not isinstance(value, float):
            fixed[name] = float(value)
        elif hints[name] is int:
            assert isinstance(value, (int, np.integer)) and not isinstance(value, bool), (name, value)
    return group._replace(**fixed)


def build_params(cfg) -> tuple[Params, Vocabulary]:
    """Flatten ``cfg`` into kernel inputs and the vocabulary that names their codes."""
    sources = traffic_sources(cfg)
    queries, term_off, term_variants = search_vocabulary(cfg.catalog.categories, cfg.search.modifiers)
    providers, failures = _Interner(), _Interner()
    statuses = _Interner(("payment_not_completed", "undeliverable"))
    time = build_time(cfg)
    params = Params(*map(_as_declared, (
        time, _user_params(cfg, sources, time), _funnel_params(cfg, sources),
        _catalog_params(cfg, term_off, term_variants), _pay_params(cfg, providers, failures),
        _ship_params(cfg, failures, statuses))))
    vocab = Vocabulary(search_query=queries, **base_vocabulary(cfg, tuple(sources), providers.names, failures.names,
                                                                statuses.names))
    assert math.isclose(time.acquisition_cum[-1], 1.0)
    return params, vocab


__all__ = ["Params", "UserParams", "FunnelParams", "CatalogParams", "PayParams", "ShipParams", "TimeParams",
           "Vocabulary", "build_params", "cumulative", "period_start_us", "traffic_sources"]
