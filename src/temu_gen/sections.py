"""The config's sections as frozen, typed dataclasses, each parsed from its validated JSON section.

Invariant: every section is built only from a document that passed ``config/schema.json``;
nothing downstream reads the raw document. Keys starting with ``_`` are source notes and
never become fields. Weight groups keep the file's order (it fixes the codes) and are
renormalised by the kernel parameter builder, so only their ratios matter.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

TIERS = ("lagos_ogun", "major_hub", "other", "rural")
REGIONS = ("south_west", "south_south", "south_east", "north_central", "north_west", "north_east")
AREAS = ("urban", "rural")


def entries(section: dict) -> list[tuple[str, Any]]:
    """The section's named entries, without ``_`` source notes."""
    return [(k, v) for k, v in section.items() if not k.startswith("_")]


def scalars(cls, doc: dict, **extra):
    """An instance of dataclass ``cls`` from the same-named keys of ``doc`` (plus ``extra``).

    A key the schema lets a document leave out (one added after runs were recorded without it) takes the
    field's default.
    """
    names = {f.name for f in dataclasses.fields(cls)} - set(extra)
    return cls(**{n: doc[n] for n in names if n in doc}, **extra)


@dataclass(frozen=True, slots=True)
class Weights:
    """Named categories with non-negative weights, in file order."""

    names: tuple[str, ...]
    values: tuple[float, ...]

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> Weights:
        items = [(k, float(v)) for k, v in entries(doc)]
        return cls(tuple(k for k, _ in items), tuple(v for _, v in items))

    def get(self, name: str, default: float = 0.0) -> float:
        return self.values[self.names.index(name)] if name in self.names else default


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Run-level knobs; the CLI overrides these."""

    events: int
    chunk_size: int
    compression: str
    """Parquet's codec; jsonl parts are always gzip."""
    compression_level: int | None
    """The codec's level; for jsonl, gzip's (1-9, None = 6)."""
    row_group_size: int
    format: str = "parquet"
    """parquet, or jsonl: gzip JSON lines (``part-NNNNN.jsonl.gz``), the raw landing format of Firehose and Segment."""
    context: bool = False
    """Add the ``context`` column: an analytics SDK's context object as JSON (:mod:`temu_gen.client_context`)."""

    @property
    def gzip_level(self) -> int:
        """The gzip level of jsonl parts."""
        return 6 if self.compression_level is None else self.compression_level


@dataclass(frozen=True, slots=True)
class Period:
    start: dt.date
    days: int
    utc_offset_hours: float


@dataclass(frozen=True, slots=True)
class Population:
    products_per_category: int
    product_popularity_skew: float
    size_margin: float
    """Users are simulated for ``events x (1 + size_margin)``; the run keeps the first ``events`` arrivals."""
    pilot_users: int
    target_shard_events: int


@dataclass(frozen=True, slots=True)
class Acquisition:
    bass_p_per_day: float
    bass_q_per_day: float


@dataclass(frozen=True, slots=True)
class Engagement:
    first_day_sessions_per_day: float
    activity_sigma: float
    decay_days: float
    decay_exponent: float
    p_churn_per_session: float
    p_churn_per_session_buyer: float
    buyer_activity_multiplier: float
    reactivation_per_day: float
    habit_strength_mean: float
    habit_sd_minutes: float
    min_gap_minutes: float
    max_sessions_per_user: int


@dataclass(frozen=True, slots=True)
class Identity:
    p_second_device: float
    p_sign_in_first_session: float
    p_sign_in_later_session: float
    p_logout: float


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    ios_multiplier: float
    slow_network_multiplier: float


@dataclass(frozen=True, slots=True)
class State:
    name: str
    weight: float
    delivery_tier: str
    region: str
    urban_share: float
    ios_multiplier: float
    cities: Weights


@dataclass(frozen=True, slots=True)
class Geography:
    regions: tuple[Region, ...]
    states: tuple[State, ...]

    @classmethod
    def parse(cls, doc: dict) -> Geography:
        regions = tuple(Region(n, r["ios_multiplier"], r["slow_network_multiplier"]) for n, r in entries(doc["regions"]))
        states = tuple(State(n, s["weight"], s["delivery_tier"], s["region"], s["urban_share"],
                             s.get("ios_multiplier", 1.0), Weights.parse(s["cities"])) for n, s in entries(doc["states"]))
        return cls(regions, states)


@dataclass(frozen=True, slots=True)
class Devices:
    platforms: dict[str, Weights]
    """Area (urban, rural) -> platform weights."""
    brands: dict[str, Weights]
    """Platform -> device brand weights."""
    app_releases: tuple[tuple[str, dt.date], ...]
    update_lag_days_mean: float
    p_never_updates: float
    carriers: Weights
    networks: dict[str, Weights]
    """Area -> usual network weights."""
    p_usual_network: float
    acquisition_channels: Weights
    return_sources: Weights

    @classmethod
    def parse(cls, doc: dict) -> Devices:
        releases = tuple(sorted(((v, dt.date.fromisoformat(d)) for v, d in entries(doc["app_releases"])),
                                key=lambda x: x[1]))
        return cls({a: Weights.parse(w) for a, w in entries(doc["platforms"])},
                   {p: Weights.parse(w) for p, w in entries(doc["brands"])}, releases,
                   doc["update_lag_days_mean"], doc["p_never_updates"], Weights.parse(doc["carriers"]),
                   {a: Weights.parse(w) for a, w in entries(doc["networks"])}, doc["p_usual_network"],
                   Weights.parse(doc["acquisition_channels"]), Weights.parse(doc["return_sources"]))


@dataclass(frozen=True, slots=True)
class Multipliers:
    platform: Weights
    network: Weights
    traffic_source: Weights


@dataclass(frozen=True, slots=True)
class Funnel:
    p_search: float
    mean_extra_searches: float
    p_browse: float
    mean_product_views: float
    p_category_view: float
    p_stay_in_category: float
    p_favourite_category: float
    p_revisit_saved: float
    p_wishlist: float
    p_add_to_cart: float
    cheap_item_add_boost: float
    p_remove_from_cart: float
    p_view_cart: float
    p_purchase_intent: float
    intent_view_multiplier: float
    intent_add_multiplier: float
    p_checkout_with_intent: float
    p_checkout_browsing: float
    p_apply_coupon: float
    coupon_pct_min: float
    coupon_pct_max: float
    p_place_order: float
    quantity_weights: Weights
    conversion: Multipliers
    orders_before_multipliers: tuple[float, ...]
    price_sensitivity_effect: float
    session_length: Multipliers
    think_time_median_seconds: dict[str, float]
    think_time_sigma: float

    @classmethod
    def parse(cls, doc: dict) -> Funnel:
        conv, length = doc["conversion_multipliers"], doc["session_length_multipliers"]
        return scalars(cls, doc, quantity_weights=Weights.parse(doc["quantity_weights"]),
                       conversion=Multipliers(Weights.parse(conv["platform"]), Weights.parse(conv["network"]),
                                              Weights.parse(conv["traffic_source"])),
                       orders_before_multipliers=tuple(conv["orders_before"]),
                       price_sensitivity_effect=conv["price_sensitivity"],
                       session_length=Multipliers(Weights.parse(length["platform"]), Weights.parse(length["network"]),
                                                  Weights(("organic",), (1.0,))),
                       think_time_median_seconds=dict(entries(doc["think_time_median_seconds"])))


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    weight: float
    median_price_ngn: float
    p90_price_ngn: float
    search_terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    categories: tuple[Category, ...]
    min_price_ngn: float
    price_endings: Weights

    @classmethod
    def parse(cls, doc: dict) -> Catalog:
        cats = tuple(Category(n, c["weight"], c["median_price_ngn"], c["p90_price_ngn"], tuple(c["search_terms"]))
                     for n, c in entries(doc["categories"]))
        return cls(cats, doc["min_price_ngn"], Weights.parse(doc["price_endings"]))


@dataclass(frozen=True, slots=True)
class Search:
    p_misspelling: float
    p_modifier: float
    term_popularity_exponent: float
    modifiers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    name: str
    weight: float
    first_attempt_failure: float
    confirm_seconds_min: float
    confirm_seconds_max: float
    providers: Weights
    failure_reasons: Weights


@dataclass(frozen=True, slots=True)
class Payments:
    methods: tuple[PaymentMethod, ...]
    preference_multipliers: dict[str, Weights]
    """'ios' or 'rural' -> method -> multiplier on the method's weight."""
    p_preferred_method: float
    p_retry: float
    p_switch_method: float
    max_attempts: int
    unpaid_cancel_hours_min: float
    unpaid_cancel_hours_max: float

    @classmethod
    def parse(cls, doc: dict) -> Payments:
        methods = tuple(PaymentMethod(n, m["weight"], m["first_attempt_failure"], m["confirm_seconds_min"],
                                      m["confirm_seconds_max"], Weights.parse(m["providers"]),
                                      Weights.parse(m["failure_reasons"])) for n, m in entries(doc["methods"]))
        prefs = {k: Weights.parse(v) for k, v in entries(doc["preference_multipliers"])}
        return scalars(cls, doc, methods=methods, preference_multipliers=prefs)


@dataclass(frozen=True, slots=True)
class PriceDrop:
    share: float
    depth_min: float
    depth_max: float


@dataclass(frozen=True, slots=True)
class CalendarRule:
    name: str
    start: dt.date
    end: dt.date
    session_multiplier: float
    order_multiplier: float
    install_multiplier: float
    reactivation: float
    states: tuple[str, ...]
    """Empty: the rule applies everywhere; else only to users living in these states."""
    price_drop: PriceDrop | None


@dataclass(frozen=True, slots=True)
class TimeCurves:
    hourly_weights: tuple[float, ...]
    day_of_week_multipliers: tuple[float, ...]
    calendar: tuple[CalendarRule, ...]

    @classmethod
    def parse(cls, doc: dict) -> TimeCurves:
        rules = []
        for r in doc["calendar"]:
            drop = r.get("price_drop")
            rules.append(CalendarRule(r["name"], dt.date.fromisoformat(r["start"]), dt.date.fromisoformat(r["end"]),
                                      r["session_multiplier"], r["order_multiplier"], r.get("install_multiplier", 1.0),
                                      r.get("reactivation", 0.0), tuple(r.get("states", ())),
                                      PriceDrop(drop["share"], drop["depth_min"], drop["depth_max"]) if drop else None))
        return cls(tuple(doc["hourly_weights_wat"]), tuple(doc["day_of_week_multipliers"]), tuple(rules))


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    transit_days_min: float
    transit_days_max: float
    first_attempt_failure: float


@dataclass(frozen=True, slots=True)
class Fulfilment:
    dispatch_days_min: float
    dispatch_days_max: float
    tiers: tuple[Tier, ...]
    logistics_partners: Weights
    delivery_failure_reasons: Weights
    max_delivery_attempts: int
    p_retry_delivery: float
    p_cancel_before_ship: float
    cancel_reasons: Weights
    p_return: float
    p_refund_after_return: float
    return_reasons: Weights
    refund_days_min: float
    refund_days_max: float
    return_window_days: float
    working_hours_start: float
    working_hours_end: float
    working_days: tuple[int, ...]
    holidays: tuple[dt.date, ...]
    return_to_sender_days_min: float
    return_to_sender_days_max: float

    @classmethod
    def parse(cls, doc: dict) -> Fulfilment:
        tiers = tuple(Tier(n, **dict(entries(doc["tiers"][n]))) for n in TIERS)
        return scalars(cls, doc, tiers=tiers, logistics_partners=Weights.parse(doc["logistics_partners"]),
                       delivery_failure_reasons=Weights.parse(doc["delivery_failure_reasons"]),
                       cancel_reasons=Weights.parse(doc["cancel_reasons"]),
                       return_reasons=Weights.parse(doc["return_reasons"]), working_days=tuple(doc["working_days"]),
                       holidays=tuple(dt.date.fromisoformat(h) for h in doc["holidays"]))


@dataclass(frozen=True, slots=True)
class Lateness:
    p_offline_session: Weights
    """Network -> probability that the whole session is buffered on the phone and sent later."""
    flush_median_minutes: float
    flush_sigma: float
    max_flush_days: float
    online_lag_ms_mean: float

    @classmethod
    def parse(cls, doc: dict) -> Lateness:
        return scalars(cls, doc, p_offline_session=Weights.parse(doc["p_offline_session"]))
