"""What a run records about itself: the plan written first, the summary, and the manifest written last.

Invariant: every document is strict JSON (no NaN or Infinity, which strict readers
reject) and lists only parts whose digests were verified or just written; the plan
holds everything ``--resume`` needs to regenerate any chunk byte for byte.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from . import __version__
from .config import RunConfig, parse
from .errors import OutputError
from .encode.parquet import event_parquet_options
from .sinks.base import PartRecord, is_jsonl

JSONL_CONVENTIONS = {
    "compression": "gzip", "lines": "one JSON object per row, every column a key, in schema order",
    "nulls": "JSON null", "timestamps": "ISO 8601 UTC strings with microseconds, e.g. 2024-11-01T09:30:00.000000Z",
    "decimals": "JSON numbers, exact, 2 decimals", "dictionary_columns": "their string values",
    "provenance": "gzip header: FEXTRA subfield 'TG' holds the run id, seed, config hash, chunk, first row and rows "
                  "as JSON; FNAME the part's name"}
"""How a jsonl run writes its values (recorded in its manifest)."""


@dataclass(frozen=True)
class RunSummary:
    """The figures a finished run reports."""

    run_id: str
    seed: int
    location: str
    events: int
    files: int
    bytes: int
    seconds: float
    peak_rss_bytes: int
    peak_spool_bytes: int
    sessions: int
    orders: int
    workers: int
    resumed_files: int = 0
    upload_seconds: float = 0.0
    map_seconds: float = 0.0
    """Simulating the population into the spool (the pilot included)."""
    plan_seconds: float = 0.0
    """The coordinator's serial step between map and reduce: numbering orders and cutting the parts."""
    reduce_seconds: float = 0.0
    """Merging the spool into parts, encoding, writing and delivering them."""
    users: int = 0
    """Users simulated (the population sized for the run)."""
    table_files: int = 0
    """Files of the other tables (users, orders, products, defect labels, the poison file)."""
    table_names: tuple[str, ...] = ()
    """What those files are, in the order the line names them (``partial`` for the poison file)."""
    map_spool_bytes: int = 0
    """The simulated shards under ``--spool-dir`` while the parts are written: the scratch disk a run needs on
    top of ``peak_spool_bytes`` (files waiting for upload)."""
    rows_written: int = 0
    """Rows in the events files: ``events`` plus injected duplicates and minus orphaned rows, when defects are on."""
    engine: str = "pool"
    """Where the tasks ran (:mod:`temu_gen.engines`): ``pool`` or ``dask``."""

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        kept = f", {self.resumed_files} kept from the failed run" if self.resumed_files else ""  # parts
        spool = f", peak spool {self.peak_spool_bytes / 2**20:.0f} MiB" if self.location.startswith("s3://") else ""
        stages = (f" (simulate {self.map_seconds:.2f} s, plan {self.plan_seconds:.2f} s, write {self.reduce_seconds:.2f} s)"
                  if self.map_seconds else "")
        mess = f" ({self.rows_written:,} rows with defects)" if self.rows_written not in (0, self.events) else ""
        tables = f" (+{self.table_files} files of {', '.join(self.table_names)})" if self.table_files else ""
        files = f"{self.files} file{'' if self.files == 1 else 's'}"
        return (f"run {self.run_id}: {self.events:,} events{mess}, {files}{kept}{tables}, {self.bytes / 1e6:.1f} MB, "
                f"{self.seconds:.2f} s{stages}, {self.events_per_s:,.0f} events/s, peak RSS "
                f"{self.peak_rss_bytes / 2**20:.0f} MiB{spool} -> {self.location}")


def dumps(doc: dict) -> bytes:
    """Strict JSON: a NaN or Infinity anywhere is a bug, never written."""
    return json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False).encode()


def plan_document(cfg: RunConfig, seed: int, run_id: str) -> bytes:
    return dumps({"run_id": run_id, "seed": seed, "temu_gen_version": __version__, "config_sha256": cfg.config_hash,
                  "config": cfg.document})


def read_plan_document(doc: object, run_id: str, where: str) -> tuple[RunConfig, int]:
    """The config and seed a recorded plan holds, or a one-line OutputError saying why it cannot be replayed."""
    bad = f"the recorded plan of run {run_id} at {where}"
    if not isinstance(doc, dict) or not {"run_id", "seed", "config"} <= doc.keys():
        raise OutputError(f"{bad} is incomplete (needs run_id, seed and config); this run cannot be resumed: start "
                          f"a new run")
    if doc["run_id"] != run_id:
        raise OutputError(f"{bad} names run {doc['run_id']!r}; it was copied or edited: start a new run")
    seed = doc["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise OutputError(f"{bad} has seed {seed!r}, not a whole number in [0, 2**63); start a new run")
    if not isinstance(doc["config"], dict):
        raise OutputError(f"{bad} has no config object; start a new run")
    from .errors import ConfigError

    try:
        cfg = parse(doc["config"], source=f"{bad}: config")
    except ConfigError as e:
        raise OutputError(f"{e}; this run cannot be resumed: start a new run") from None
    return cfg, seed


def _iso(us: int) -> str:
    """A µs timestamp as ISO 8601 UTC (the arrival window of a file)."""
    return (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)).isoformat()


def _schema_doc(schema) -> list[dict]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def _file_doc(r: PartRecord) -> dict:
    doc = {"name": r.name, "chunk": r.chunk, "rows": r.rows, "bytes": r.bytes, "sha256": r.sha256}
    if r.table == "events" and not r.poison:
        doc.update(first_ingest_ts=_iso(r.first_ingest_us), last_ingest_ts=_iso(r.last_ingest_us),
                   sessions=r.sessions, orders=r.orders, schema_version=r.schema_version or 1)
        if r.log_rows:
            doc["log_rows"] = r.log_rows
    if r.poison:
        doc["poison"] = True
        doc["note"] = ("deliberately not valid gzip JSON lines (defects.poison_part): a cut-off upload, no gzip trailer"
                       if is_jsonl(r.name) else
                       "deliberately not valid Parquet (defects.poison_part): a cut-off upload with no footer")
    if r.counts:
        doc["defects"] = {k: int(v) for k, v in (kv.split("=") for kv in r.counts.split(","))}
    if r.upload_parts:
        doc["upload_parts"] = r.upload_parts
    return doc


def _tables(summary: RunSummary, records: list[PartRecord]) -> dict:
    from .encode.schema import table_schema
    from .sinks.base import run_prefix

    out = {}
    for table in ("users", "products", "orders", "defects"):
        files = [r for r in records if r.table == table]
        if files:
            out[table] = {"prefix": run_prefix(summary.run_id, table) + "/", "rows": sum(r.rows for r in files),
                          "files": [_file_doc(r) for r in files], "schema": _schema_doc(table_schema(table))}
    return out


def _defects(cfg: RunConfig, records: list[PartRecord]) -> dict:
    from .defects.catalog import NAMES

    counts = dict.fromkeys(NAMES, 0)
    for r in records:
        for kv in filter(None, r.counts.split(",")):
            name, n = kv.split("=")
            counts[name] += int(n)
    d = cfg.defects
    return {"enabled": d.enabled, "labels": counts, "labelled_rows_table": "defects" if d.changes_rows else None,
            "schema_drift_from_part": d.schema_drift_from_part, "poison_part": d.poison_part}


def manifest_bytes(cfg: RunConfig, summary: RunSummary, records: list[PartRecord]) -> bytes:
    """The run's manifest: what it is, how to replay it, and every file of every table with its digest."""
    from .reduce import event_schema

    r = cfg.run
    opts = event_parquet_options(r.compression, r.compression_level, r.row_group_size)
    events = [rec for rec in records if rec.table == "events"]
    clean = [rec for rec in events if not rec.poison]
    versions = {"1": _schema_doc(event_schema(cfg))}
    if any(rec.schema_version == 2 for rec in clean):
        versions["2"] = _schema_doc(event_schema(cfg, 2))
    return dumps({
        "run_id": summary.run_id, "seed": summary.seed, "temu_gen_version": __version__,
        "config_sha256": cfg.config_hash, "events": summary.events, "rows_written": summary.rows_written,
        "chunk_size": cfg.run.chunk_size, "sessions": summary.sessions, "orders": summary.orders,
        "workers": summary.workers, "engine": summary.engine, "peak_rss_bytes": summary.peak_rss_bytes,
        "peak_spool_bytes": summary.peak_spool_bytes, "map_spool_bytes": summary.map_spool_bytes,
        "resumed_files": summary.resumed_files,
        "users_simulated": summary.users,
        "stage_seconds": {"simulate": round(summary.map_seconds, 3), "plan": round(summary.plan_seconds, 3),
                          "write": round(summary.reduce_seconds, 3)},
        "format": r.format, "context": r.context,
        **({"jsonl": {**JSONL_CONVENTIONS, "level": r.gzip_level}} if r.format == "jsonl" else
           {"parquet": {"compression": opts.compression, "compression_level": opts.compression_level,
                        "row_group_size": opts.row_group_size}}),
        "first_ingest_ts": _iso(clean[0].first_ingest_us), "last_ingest_ts": _iso(clean[-1].last_ingest_us),
        "files": [_file_doc(rec) for rec in events],
        "schema": versions["1"],
        "schema_versions": versions,
        "defects": _defects(cfg, records),
        "tables": _tables(summary, records),
        "config": cfg.document,
    })
