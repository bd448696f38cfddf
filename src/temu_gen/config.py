"""Configuration: load JSON, merge over the defaults, validate, freeze.

Invariant: a :class:`RunConfig` is only ever built from a document that passed
``config/schema.json`` and the cross-field checks below, and it is immutable. The embedded
default passes the schema by test (``tests/test_config.py``), so loading it alone skips
jsonschema, whose import and pass are 0.1-0.25 s of every run's start. Workers
receive it whole and never read files or the environment. Errors name the JSON path,
the bad value and what was expected.
"""
from __future__ import annotations

import contextlib
import copy
import difflib
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .defects.section import Defects
from .errors import ConfigError
from .sections import (Acquisition, Catalog, Devices, Engagement, Fulfilment, Funnel, Geography, Identity,
                       Lateness, Payments, Period, Population, RunSettings, Search, TimeCurves, scalars)

if TYPE_CHECKING:
    import jsonschema

COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "none")
FORMATS = ("parquet", "jsonl")
MAX_CHUNK_SIZE = 10_000_000
MAX_EVENTS = 100_000_000_000
"""Event ids, part names (five digits) and planning all honour this many events."""
MAX_CONFIG_BYTES = 16 * 2**20
MAX_PARTS = 99_999  # part names carry five digits


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a run needs, parsed once into typed sections."""

    run: RunSettings
    period: Period
    population: Population
    acquisition: Acquisition
    engagement: Engagement
    identity: Identity
    geography: Geography
    devices: Devices
    funnel: Funnel
    catalog: Catalog
    search: Search
    payments: Payments
    time: TimeCurves
    fulfilment: Fulfilment
    lateness: Lateness
    defects: Defects
    document: dict
    """The merged, validated document (recorded in each run's plan and manifest for replay)."""
    config_hash: str
    """sha256 of the merged, canonical document: two runs with equal hashes share rules."""

    def with_defects(self, preset: str | None) -> RunConfig:
        """A copy whose ``defects`` section is preset ``preset`` (``--defects``); None keeps the config's."""
        if preset is None:
            return self
        section = defect_preset(preset)
        _preset_fits(preset, section, self.run.events, self.run.chunk_size)
        doc = {**self.document, "defects": {**self.document["defects"], **section}}
        return parse(doc, source=f"--defects {preset}")

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
    return json.loads(_default_text())


@functools.cache
def _default_text() -> str:
    """Read once: a load reads it to merge over, and :func:`parse` again to spell numbers as it does."""
    return resources.files("temu_gen").joinpath("config_data/default.json").read_text("utf-8")


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
    if path is None:
        return parse(doc, source="default config", schema_checked=True)
    p = Path(path)
    try:
        with open(p, "rb") as f:  # read to the limit, not to the size stat reports: /dev/zero or a pipe has none
            data = f.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {p} is too large: a config is at most {MAX_CONFIG_BYTES // 2**20} MiB")
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist; pass an existing JSON file to --config") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {p} cannot be read ({e.__class__.__name__}: {e}); check the path and "
                          f"permissions") from None
    user = read_json(text, f"config file {p}")
    if not isinstance(user, dict):
        raise ConfigError(f"config file {p}: top level is {type(user).__name__}, expected a JSON object")
    doc = merge(doc, user)
    return parse(doc, source=str(path))


def parse(doc: dict, source: str = "config", schema_checked: bool = False) -> RunConfig:
    """Validate a merged document against the schema (unless ``schema_checked``: the embedded default, untouched)
    and freeze it into a RunConfig."""
    _check_finite(doc, "$", source)
    if not schema_checked:
        _check_schema(doc, source)
    with _named(source):
        return _freeze(doc)


def _freeze(doc: dict) -> RunConfig:
    """The typed, frozen config of a document the schema has passed, after the checks across fields."""
    # the sections read numbers as the kernels take them; the document (and its hash) stays as it was written
    typed = _spelled_as_default(doc, default_document())
    run = scalars(RunSettings, typed["run"])
    _check_run(run)
    p = typed["period"]
    cfg = RunConfig(
        run=run,
        period=Period(_date(p["start"], "$.period.start"), p["days"], p["utc_offset_hours"]),
        population=scalars(Population, typed["population"]),
        acquisition=scalars(Acquisition, typed["acquisition"]),
        engagement=scalars(Engagement, typed["engagement"]),
        identity=scalars(Identity, typed["identity"]),
        geography=Geography.parse(typed["geography"]),
        devices=_section(Devices.parse, typed, "devices"),
        funnel=Funnel.parse(typed["funnel"]),
        catalog=Catalog.parse(typed["catalog"]),
        search=scalars(Search, typed["search"], modifiers=tuple(typed["search"]["modifiers"])),
        payments=Payments.parse(typed["payments"]),
        time=_section(TimeCurves.parse, typed, "time"),
        fulfilment=_section(Fulfilment.parse, typed, "fulfilment"),
        lateness=Lateness.parse(typed["lateness"]),
        defects=Defects.parse(typed["defects"]),
        document=doc,
        config_hash=_hash(doc),
    )
    from .checks import check_semantics

    check_semantics(cfg)
    return cfg


@contextlib.contextmanager
def _named(source: str):
    """Errors of the checks after the schema's (which say "config: ...") name the file they are about."""
    try:
        yield
    except ConfigError as e:
        if source == "config" or not str(e).startswith("config: "):
            raise
        raise ConfigError(f"{source}: {str(e).removeprefix('config: ')}") from None


DEFECT_PRESETS = ("none", "realistic", "hostile")


def _preset_fits(preset: str, section: dict, events: int, chunk_size: int) -> None:
    """A preset that numbers parts (schema drift from part 1, a poison part) needs a run of that many parts: say so
    in terms of the flags, since the user set no part number."""
    from .plan import plan_chunks

    numbered = {k: section[k] for k in ("schema_drift_from_part", "poison_part") if section.get(k) is not None}
    key = max(numbered, key=numbered.get, default=None)
    parts = len(plan_chunks(events, chunk_size))
    if key is not None and parts <= numbered[key]:
        what = "drifts the schema from" if key == "schema_drift_from_part" else "poisons"
        need = numbered[key] + 1
        raise ConfigError(f"--defects {preset} {what} part {numbered[key]} and needs {need} parts; {events:,} events "
                          f"at --chunk-size {chunk_size:,} make {parts}: use a --chunk-size of "
                          f"{-(-events // need):,} or less, or more --events")


def defect_preset(name: str) -> dict:
    """The ``defects`` section of preset ``name`` (``config_data/defect_presets.json``)."""
    doc = json.loads(resources.files("temu_gen").joinpath("config_data/defect_presets.json").read_text("utf-8"))
    if name not in DEFECT_PRESETS or name not in doc:
        raise ConfigError(f"--defects {name!r}: unknown preset; use one of {', '.join(DEFECT_PRESETS)}")
    return doc[name]


def _section(parse, doc: dict, key: str):
    """Parse a section whose dates the schema only checks by shape: a 30 February is a one-line error."""
    try:
        return parse(doc[key])
    except ValueError as e:
        raise ConfigError(f"config: $.{key} holds a date that does not exist ({e}); use real YYYY-MM-DD dates") \
            from None


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


def _spelled_as_default(value: Any, default: Any) -> Any:
    """``value`` with each number spelled as the embedded default spells the same place: ``5`` where it has
    ``5.0`` becomes ``5.0``, and ``92.0`` where it has ``92`` becomes ``92``.

    The kernels are compiled (and shipped) for the types the default gives their parameters: another spelling
    of the same number made every worker compile them again, for a minute and gigabytes, without a word.
    A place the default does not have (a new category) keeps its spelling.
    """
    if isinstance(value, dict) and isinstance(default, dict):
        return {k: _spelled_as_default(v, default.get(k)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(default, list) and len(value) == len(default):
        return [_spelled_as_default(v, d) for v, d in zip(value, default)]
    if type(value) is int and type(default) is float:
        return float(value)
    if type(value) is float and type(default) is int and value.is_integer():
        return int(value)
    return value


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
    if run.format not in FORMATS:
        raise ConfigError(f"format = {run.format!r}: unknown output format; use one of {', '.join(FORMATS)}")
    if run.format == "jsonl" and not 1 <= run.gzip_level <= 9:
        raise ConfigError(f"compression_level = {run.compression_level}: jsonl parts are gzip, whose levels are 1-9; "
                          f"set run.compression_level to 1-9, or null for gzip's default 6")


def _check_schema(doc: dict, source: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema_document())
    try:
        errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.path), list(map(str, e.path))))
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {describe_schema_error(errors[0], doc)}{more}")


def _sibling_typo(e: jsonschema.ValidationError, doc: Any) -> str | None:
    """For an entry of a named map (payment methods, campaigns) lacking required fields: the existing entry whose
    name it nearly has, when it is likely a misspelling rather than a new entry."""
    path = list(e.absolute_path)
    if e.validator != "required" or not path or not isinstance(path[-1], str):
        return None
    parent = doc
    for key in path[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return None
    siblings = [k for k in parent if k != path[-1]] if isinstance(parent, dict) else []
    close = difflib.get_close_matches(path[-1], siblings, n=1, cutoff=0.8)
    return close[0] if close else None


def describe_schema_error(e: jsonschema.ValidationError, doc: Any = None) -> str:
    """One line for a schema violation: where, the user's value, and the fix (a close key for a typo)."""
    typo = _sibling_typo(e, doc)
    if typo is not None:
        return (f"{e.json_path} = {_short(e.instance)}: no such entry, and a new one needs every field ({e.message}); "
                f"did you mean {typo!r}?")
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


def _date(text: str, path: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"config: {path} = {text!r}: not a real date; use YYYY-MM-DD") from None


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) or not value.startswith("all") else value
    return text if len(text) <= limit else text[: limit - 3] + "..."
