"""Cross-field rules of a config that JSON Schema cannot state: ranges ordered, names known, groups usable.

Invariant: a :class:`~temu_gen.config.RunConfig` that passed :func:`check_semantics` can be
turned into kernel parameters without any further check: every weight group has a
positive weight, every name one section uses is declared where it belongs, and every
``*_min`` is at most its ``*_max``. Each failure is one line naming the JSON path, the
value and what to do. Imports no numba.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from .errors import ConfigError
from .kernels.codes import EVENT_TYPES, PLATFORMS
from .plan import plan_chunks
from .sections import AREAS, REGIONS, TIERS, Weights


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) and value.startswith("all") else json.dumps(value, ensure_ascii=False,
                                                                                        default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def need(ok: bool, path: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"config: {path} = {_short(value)}: {expected}")


def _positive(w: Weights, path: str) -> None:
    need(sum(w.values) > 0, path, dict(zip(w.names, w.values)), "give at least one entry a positive weight")


def _known(names, allowed, path: str, what: str) -> None:
    unknown = sorted(set(names) - set(allowed))
    need(not unknown, f"{path}.{unknown[0] if unknown else ''}", unknown, f"not {what}; use one of {', '.join(allowed)}")


def _ordered(lo: float, hi: float, path: str, stem: str) -> None:
    need(lo <= hi, f"{path}.{stem}_max", hi, f"must be >= {stem}_min ({lo})")


def check_semantics(cfg) -> None:
    """Raise ConfigError on the first rule ``cfg`` breaks."""
    _geography(cfg)
    _devices(cfg)
    _funnel(cfg)
    _catalog(cfg)
    _payments(cfg)
    _time(cfg)
    _fulfilment(cfg)
    _defects(cfg)


def _geography(cfg) -> None:
    geo = cfg.geography
    _known([r.name for r in geo.regions], REGIONS, "$.geography.regions", "a region")
    need(sum(s.weight for s in geo.states) > 0, "$.geography.states", "all weights 0",
         "at least one state needs a positive weight")
    for s in geo.states:
        path = f"$.geography.states['{s.name}']"
        _positive(s.cities, f"{path}.cities")
        need(s.region in {r.name for r in geo.regions}, f"{path}.region", s.region,
             "not a region of $.geography.regions")
        need(s.delivery_tier in TIERS, f"{path}.delivery_tier", s.delivery_tier, f"use one of {', '.join(TIERS)}")


def _devices(cfg) -> None:
    d = cfg.devices
    _known(d.platforms, AREAS, "$.devices.platforms", "an area")
    _known(d.networks, AREAS, "$.devices.networks", "an area")
    for area in AREAS:
        need(area in d.platforms, "$.devices.platforms", sorted(d.platforms), f"needs an entry for '{area}'")
        need(area in d.networks, "$.devices.networks", sorted(d.networks), f"needs an entry for '{area}'")
        _known(d.platforms[area].names, PLATFORMS, f"$.devices.platforms.{area}", "a platform")
        _positive(d.platforms[area], f"$.devices.platforms.{area}")
        _positive(d.networks[area], f"$.devices.networks.{area}")
        need(d.networks[area].names == d.networks[AREAS[0]].names, f"$.devices.networks.{area}",
             list(d.networks[area].names), "list the same networks in the same order as 'urban'")
    for pl in PLATFORMS:
        need(pl in d.brands, "$.devices.brands", sorted(d.brands), f"needs an entry for platform '{pl}'")
        _positive(d.brands[pl], f"$.devices.brands.{pl}")
    need(len(d.app_releases) > 0, "$.devices.app_releases", {}, "list at least one app release")
    for name in ("carriers", "acquisition_channels", "return_sources"):
        _positive(getattr(d, name), f"$.devices.{name}")


def _funnel(cfg) -> None:
    f, d = cfg.funnel, cfg.devices
    _ordered(f.coupon_pct_min, f.coupon_pct_max, "$.funnel", "coupon_pct")
    _positive(f.quantity_weights, "$.funnel.quantity_weights")
    networks = d.networks["urban"].names
    sources = tuple(dict.fromkeys(d.acquisition_channels.names + d.return_sources.names))
    for m, path in ((f.conversion, "$.funnel.conversion_multipliers"), (f.session_length,
                                                                          "$.funnel.session_length_multipliers")):
        _known(m.platform.names, PLATFORMS, f"{path}.platform", "a platform")
        _known(m.network.names, networks, f"{path}.network", "a network of $.devices.networks")
    _known(f.conversion.traffic_source.names, sources, "$.funnel.conversion_multipliers.traffic_source",
           "an acquisition channel or return source")
    _known(f.think_time_median_seconds, EVENT_TYPES, "$.funnel.think_time_median_seconds", "an event type")
    _known(cfg.lateness.p_offline_session.names, networks, "$.lateness.p_offline_session", "a network")


def _catalog(cfg) -> None:
    c = cfg.catalog
    need(sum(x.weight for x in c.categories) > 0, "$.catalog.categories", "all weights 0",
         "at least one category needs a positive weight")
    for x in c.categories:
        need(x.p90_price_ngn > x.median_price_ngn, f"$.catalog.categories['{x.name}'].p90_price_ngn",
             x.p90_price_ngn, f"must exceed median_price_ngn ({x.median_price_ngn})")
    _known(c.price_endings.names, ("99", "00", "50", "90", "10"), "$.catalog.price_endings", "a price ending")
    _positive(c.price_endings, "$.catalog.price_endings")


def _payments(cfg) -> None:
    p = cfg.payments
    need(sum(m.weight for m in p.methods) > 0, "$.payments.methods", "all weights 0",
         "at least one payment method needs a positive weight")
    for m in p.methods:
        path = f"$.payments.methods['{m.name}']"
        _positive(m.providers, f"{path}.providers")
        need(m.first_attempt_failure == 0 or sum(m.failure_reasons.values) > 0, f"{path}.failure_reasons", {},
             "a method that can fail needs at least one failure reason")
        _ordered(m.confirm_seconds_min, m.confirm_seconds_max, path, "confirm_seconds")
    pod = [m for m in p.methods if m.name == "pay_on_delivery"]
    need(not pod or pod[0].first_attempt_failure == 0, "$.payments.methods['pay_on_delivery'].first_attempt_failure",
         pod[0].first_attempt_failure if pod else 0, "must be 0: pay-on-delivery is collected at the door")
    need(any(m.weight > 0 for m in p.methods if m.name != "pay_on_delivery"), "$.payments.methods",
         "only pay_on_delivery", "at least one prepaid method needs a positive weight (retries switch between them)")
    for k, w in p.preference_multipliers.items():
        _known([k], ("ios", "rural"), "$.payments.preference_multipliers", "a preference group")
        _known(w.names, [m.name for m in p.methods], f"$.payments.preference_multipliers.{k}", "a payment method")
    _ordered(p.unpaid_cancel_hours_min, p.unpaid_cancel_hours_max, "$.payments", "unpaid_cancel_hours")


_FIRST_DAY, _LAST_DAY = dt.date(1970, 1, 1), dt.date(2200, 1, 1)  # timestamps are microseconds since 1970 in int64


def _time(cfg) -> None:
    p = cfg.period
    need(p.start >= _FIRST_DAY, "$.period.start", p.start.isoformat(), f"must be {_FIRST_DAY} or later")
    need(p.start + dt.timedelta(days=p.days) <= _LAST_DAY, "$.period", f"{p.start} + {p.days} days",
         f"must end by {_LAST_DAY}")
    t = cfg.time
    need(sum(t.hourly_weights) > 0, "$.time.hourly_weights_wat", "all 0", "at least one hour needs a positive weight")
    states = [s.name for s in cfg.geography.states]
    for i, r in enumerate(t.calendar):
        need(r.start <= r.end, f"$.time.calendar[{i}].end", str(r.end), f"must not be before start ({r.start})")
        _known(r.states, states, f"$.time.calendar[{i}].states", "a state")
        if r.price_drop:
            _ordered(r.price_drop.depth_min, r.price_drop.depth_max, f"$.time.calendar[{i}].price_drop", "depth")


def _fulfilment(cfg) -> None:
    f = cfg.fulfilment
    for stem in ("dispatch_days", "refund_days", "return_to_sender_days"):
        _ordered(getattr(f, f"{stem}_min"), getattr(f, f"{stem}_max"), "$.fulfilment", stem)
    for t in f.tiers:
        _ordered(t.transit_days_min, t.transit_days_max, f"$.fulfilment.tiers.{t.name}", "transit_days")
    need(f.working_hours_start < f.working_hours_end, "$.fulfilment.working_hours_end", f.working_hours_end,
         f"must be after working_hours_start ({f.working_hours_start})")
    need(any(f.working_days), "$.fulfilment.working_days", list(f.working_days), "at least one day must be worked")
    for name in ("logistics_partners", "delivery_failure_reasons", "cancel_reasons", "return_reasons"):
        _positive(getattr(f, name), f"$.fulfilment.{name}")


def _defects(cfg) -> None:
    d = cfg.defects
    need(d.late_days[0] <= d.late_days[1], "$.defects.late_days", list(d.late_days), "give [min, max] with min <= max")
    need(d.row_rate <= 0.2, "$.defects", round(d.row_rate, 6),
         "duplicate + id_collision + late + clock_skew + contract_violation must be at most 0.2")


def check_defects(cfg) -> None:
    """The defects section against the run's parts (known only once events and chunk size are final)."""
    d, r = cfg.defects, cfg.run
    parts = len(plan_chunks(r.events, r.chunk_size))
    for key in ("schema_drift_from_part", "poison_part"):
        value = getattr(d, key)
        need(value is None or value < parts, f"$.defects.{key}", value,
             f"the run has {parts} part(s), numbered 0-{parts - 1}; pick one of them or null")
