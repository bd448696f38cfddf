"""Configuration: load JSON, merge over the defaults, validate, freeze.

Invariant: a :class:`RunConfig` is only ever built from a document that passed
``config/schema.json`` and the cross-field checks below, and it is immutable. Workers
receive it whole and never read files or the environment. Errors name the JSON path,
the bad value and what was expected.
"""
from __future__ import annotations

import copy
import difflib
import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from .errors import ConfigError

COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "none")
TIERS = ("lagos_ogun", "major_hub", "other", "rural")
MAX_CHUNK_SIZE = 10_000_000
MAX_EVENTS = 100_000_000_000
"""Event ids, part names (five digits) and planning all honour this many events."""
MAX_CONFIG_BYTES = 16 * 2**20
MAX_PARTS = 99_999  # part names carry five digits


@dataclass(frozen=True, slots=True)
class Weights:
    """Named categories with non-negative weights, in file order."""

    names: tuple[str, ...]
    values: tuple[float, ...]

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> Weights:
        items = [(k, float(v)) for k, v in doc.items() if not k.startswith("_")]
        return cls(tuple(k for k, _ in items), tuple(v for _, v in items))


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Run-level knobs; the CLI overrides these."""

    events: int
    chunk_size: int
    compression: str
    compression_level: int | None
    row_group_size: int
    late_ingest_share: float
    """Share of client events that reach the platform hours late (offline phones)."""


@dataclass(frozen=True, slots=True)
class State:
    name: str
    weight: float
    delivery_tier: str
    cities: Weights


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    weight: float
    median_price_ngn: float
    p90_price_ngn: float
    search_terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    name: str
    weight: float
    first_attempt_failure: float
    providers: Weights
    failure_reasons: Weights


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    transit_days_min: float
    transit_days_max: float
    first_attempt_failure: float


@dataclass(frozen=True, slots=True)
class CalendarRule:
    name: str
    start: dt.date
    end: dt.date
    session_multiplier: float
    order_multiplier: float


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a run needs, parsed once. ``sections`` keeps the validated document
    for the scalar knobs of each section (funnel, payments, fulfilment, population)."""

    run: RunSettings
    period_start: dt.date
    period_days: int
    utc_offset_hours: float
    states: tuple[State, ...]
    categories: tuple[Category, ...]
    methods: tuple[PaymentMethod, ...]
    tiers: tuple[Tier, ...]
    calendar: tuple[CalendarRule, ...]
    hourly_weights: tuple[float, ...]
    day_of_week_multipliers: tuple[float, ...]
    devices: dict
    funnel: dict
    payments: dict
    fulfilment: dict
    population: dict
    min_price_ngn: float
    document: dict
    """The merged, validated document (recorded in each run's manifest for replay)."""
    config_hash: str
    """sha256 of the merged, canonical document: two runs with equal hashes share rules."""

    def with_run(self, **overrides: Any) -> RunConfig:
        """A copy with run settings replaced (CLI flags); values are checked."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        run = dataclasses.replace(self.run, **changes)
        _check_run(run)
        # the document and hash follow, so a run's manifest replays exactly what ran
        doc = {**self.document, "run": {**self.document["run"], **changes}}
        return dataclasses.replace(self, run=run, document=doc, config_hash=_hash(doc))


def default_document() -> dict:
    """The embedded default config, as a fresh dict."""
    return json.loads(resources.files("temu_gen").joinpath("config_data/default.json").read_text("utf-8"))


def schema_document() -> dict:
    """The published JSON Schema for config files."""
    return json.loads(resources.files("temu_gen").joinpath("config_data/schema.json").read_text("utf-8"))


def merge(base: dict, override: dict) -> dict:
    """Deep-merge ``override`` into a copy of ``base``; objects merge, anything else replaces."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _reject_constant(name: str):
    raise ConfigError(f"the config holds {name}, which is not a number in strict JSON; write a finite number")


def read_json(text: str, source: str):
    """Strict JSON: NaN and +-Infinity are refused, and so is nesting too deep to mean anything."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{source} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise ConfigError(f"{source} is nested too deeply to be a config; check the file") from None
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def load(path: str | Path | None = None) -> RunConfig:
    """Load ``path`` (a full or partial config) over the defaults and validate it."""
    doc = default_document()
    if path is not None:
        p = Path(path)
        try:
            size = p.stat().st_size
            if size > MAX_CONFIG_BYTES:
                raise ConfigError(f"config file {p} is {size:,} bytes; a config is at most "
                                  f"{MAX_CONFIG_BYTES // 2**20} MiB")
            text = p.read_text("utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file {p} does not exist; pass an existing JSON file to --config") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"config file {p} cannot be read ({e.__class__.__name__}: {e}); check the path and "
                              f"permissions") from None
        user = read_json(text, f"config file {p}")
        if not isinstance(user, dict):
            raise ConfigError(f"config file {p}: top level is {type(user).__name__}, expected a JSON object")
        doc = merge(doc, user)
    return parse(doc, source=str(path) if path else "default config")


def parse(doc: dict, source: str = "config") -> RunConfig:
    """Validate a merged document against the schema and freeze it into a RunConfig."""
    _check_finite(doc, "$", source)
    validator = jsonschema.Draft202012Validator(schema_document())
    try:
        errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.path), list(map(str, e.path))))
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {describe_schema_error(errors[0])}{more}")
    r = doc["run"]
    run = RunSettings(r["events"], r["chunk_size"], r["compression"], r["compression_level"],
                      r["row_group_size"], r["late_ingest_share"])
    _check_run(run)
    cfg = RunConfig(
        run=run,
        period_start=_date(doc["period"]["start"], "$.period.start"),
        period_days=doc["period"]["days"],
        utc_offset_hours=doc["period"]["utc_offset_hours"],
        states=tuple(State(n, s["weight"], s["delivery_tier"], Weights.parse(s["cities"]))
                     for n, s in _entries(doc["geography"]["states"])),
        categories=tuple(Category(n, c["weight"], c["median_price_ngn"], c["p90_price_ngn"], tuple(c["search_terms"]))
                         for n, c in _entries(doc["catalog"]["categories"])),
        methods=tuple(PaymentMethod(n, m["weight"], m["first_attempt_failure"], Weights.parse(m["providers"]),
                                    Weights.parse(m["failure_reasons"]))
                      for n, m in _entries(doc["payments"]["methods"])),
        tiers=tuple(Tier(n, **{k: v for k, v in doc["fulfilment"]["tiers"][n].items() if not k.startswith("_")})
                    for n in TIERS),
        calendar=tuple(CalendarRule(c["name"], _date(c["start"], f"$.time.calendar[{i}].start"),
                                    _date(c["end"], f"$.time.calendar[{i}].end"),
                                    c["session_multiplier"], c["order_multiplier"])
                       for i, c in enumerate(doc["time"]["calendar"])),
        hourly_weights=tuple(doc["time"]["hourly_weights_wat"]),
        day_of_week_multipliers=tuple(doc["time"]["day_of_week_multipliers"]),
        devices=doc["devices"], funnel=doc["funnel"], payments=doc["payments"],
        fulfilment=doc["fulfilment"], population=doc["population"],
        min_price_ngn=doc["catalog"]["min_price_ngn"],
        document=doc,
        config_hash=_hash(doc),
    )
    _check_semantics(cfg, doc)
    return cfg


def _check_finite(value: Any, path: str, source: str, depth: int = 0) -> None:
    """NaN and +-Infinity pass every JSON Schema bound (comparisons with NaN are false), so refuse them here."""
    if depth > 64:
        raise ConfigError(f"{source}: {path} is nested too deeply to be a config")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {path} = {value}: not a finite number; write a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{path}.{k}", source, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, f"{path}[{i}]", source, depth + 1)


def _hash(doc: dict) -> str:
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_run(run: RunSettings) -> None:
    if not 1 <= run.events <= MAX_EVENTS:
        raise ConfigError(f"events = {run.events}: must be between 1 and {MAX_EVENTS:,}")
    if not 1 <= run.chunk_size <= MAX_CHUNK_SIZE:
        raise ConfigError(f"chunk_size = {run.chunk_size}: must be between 1 and {MAX_CHUNK_SIZE:,} rows (a chunk "
                          f"is held in a worker's memory whole)")
    parts = -(-run.events // min(run.chunk_size, run.events))
    if parts > MAX_PARTS:
        raise ConfigError(f"events = {run.events:,} at chunk_size = {run.chunk_size:,} makes {parts:,} files; at "
                          f"most {MAX_PARTS:,}: raise --chunk-size to {-(-run.events // MAX_PARTS):,} or more")
    if run.compression not in COMPRESSIONS:
        raise ConfigError(f"compression = {run.compression!r}: unknown codec; use one of {', '.join(COMPRESSIONS)}")
    if not 1 <= run.row_group_size <= MAX_CHUNK_SIZE:
        raise ConfigError(f"row_group_size = {run.row_group_size}: must be between 1 and {MAX_CHUNK_SIZE:,} rows")


def describe_schema_error(e: jsonschema.ValidationError) -> str:
    """One line for a schema violation: where, the user's value, and the fix (a close key for a typo)."""
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        allowed = list(e.schema.get("properties", {}))
        patterns = list(e.schema.get("patternProperties", {}))
        unknown = [k for k in e.instance if k not in allowed and not any(re.search(p, k) for p in patterns)]
        if unknown:
            key = unknown[0]
            where = ".".join(map(str, e.absolute_path)) or "the top level"
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else (
                f"known keys: {', '.join(allowed)}" if allowed else "keys here are names with a number")
            return f"unknown key {key!r} in {where} (value {_short(e.instance[key])}); {hint}"
    return f"{e.json_path} = {_short(e.instance)}: {e.message}"


def _check_semantics(cfg: RunConfig, doc: dict) -> None:
    """Rules JSON Schema cannot say: ranges ordered, weights not all zero, names known."""
    from .kernels.codes import EVENT_TYPES

    def need(ok: bool, path: str, value: Any, expected: str) -> None:
        if not ok:
            raise ConfigError(f"config: {path} = {_short(value)}: {expected}")

    need(sum(s.weight for s in cfg.states) > 0, "$.geography.states", "all weights 0", "at least one state needs a positive weight")
    for s in cfg.states:
        need(sum(s.cities.values) > 0, f"$.geography.states['{s.name}'].cities", dict(zip(s.cities.names, s.cities.values)),
             "at least one city needs a positive weight")
    need(sum(c.weight for c in cfg.categories) > 0, "$.catalog.categories", "all weights 0", "at least one category needs a positive weight")
    for c in cfg.categories:
        need(c.p90_price_ngn > c.median_price_ngn, f"$.catalog.categories['{c.name}'].p90_price_ngn", c.p90_price_ngn,
             f"must exceed median_price_ngn ({c.median_price_ngn})")
    need(sum(m.weight for m in cfg.methods) > 0, "$.payments.methods", "all weights 0", "at least one payment method needs a positive weight")
    for m in cfg.methods:
        need(sum(m.providers.values) > 0, f"$.payments.methods['{m.name}'].providers", "all weights 0", "give at least one provider a positive weight")
        need(m.first_attempt_failure == 0 or sum(m.failure_reasons.values) > 0, f"$.payments.methods['{m.name}'].failure_reasons",
             "{}", "a method that can fail needs at least one failure reason")
    pod = [m for m in cfg.methods if m.name == "pay_on_delivery"]
    need(not pod or pod[0].first_attempt_failure == 0, "$.payments.methods['pay_on_delivery'].first_attempt_failure",
         pod[0].first_attempt_failure if pod else 0, "must be 0: pay-on-delivery is collected at the door")
    need(any(m.weight > 0 for m in cfg.methods if m.name != "pay_on_delivery"), "$.payments.methods", "only pay_on_delivery",
         "at least one prepaid method needs a positive weight (retries switch between prepaid methods)")
    pairs = [("$.funnel", cfg.funnel, "coupon_pct"), ("$.payments", cfg.payments, "unpaid_cancel_hours"),
             ("$.fulfilment", cfg.fulfilment, "dispatch_days"), ("$.fulfilment", cfg.fulfilment, "refund_days")]
    pairs += [(f"$.fulfilment.tiers.{t}", doc["fulfilment"]["tiers"][t], "transit_days") for t in TIERS]
    for prefix, sec, stem in pairs:
        lo, hi = sec[f"{stem}_min"], sec[f"{stem}_max"]
        need(lo <= hi, f"{prefix}.{stem}_max", hi, f"must be >= {stem}_min ({lo})")
    unknown = sorted(set(cfg.funnel["mean_gap_seconds"]) - set(EVENT_TYPES))
    need(not unknown, f"$.funnel.mean_gap_seconds.{unknown[0] if unknown else ''}", unknown, f"not an event type; use one of {', '.join(EVENT_TYPES)}")
    need(sum(cfg.hourly_weights) > 0, "$.time.hourly_weights_wat", "all 0", "at least one hour needs a positive weight")
    for i, c in enumerate(cfg.calendar):
        need(c.start <= c.end, f"$.time.calendar[{i}].end", str(c.end), f"must not be before start ({c.start})")


def _entries(section: dict) -> list[tuple[str, dict]]:
    return [(k, v) for k, v in section.items() if not k.startswith("_")]


def _date(text: str, path: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"config: {path} = {text!r}: not a real date; use YYYY-MM-DD") from None


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) or not value.startswith("all") else value
    return text if len(text) <= limit else text[: limit - 3] + "..."
