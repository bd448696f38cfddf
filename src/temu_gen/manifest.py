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
from .encode.schema import EVENT_SCHEMA
from .errors import OutputError
from .encode.parquet import event_parquet_options
from .sinks.base import PartRecord


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
    reduce_seconds: float = 0.0
    """Merging the spool into parts, encoding, writing and delivering them."""
    users: int = 0
    """Users simulated (the population sized for the run)."""

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        kept = f", {self.resumed_files} kept from the failed run" if self.resumed_files else ""
        spool = f", peak spool {self.peak_spool_bytes / 2**20:.0f} MiB" if self.location.startswith("s3://") else ""
        stages = f" (simulate {self.map_seconds:.2f} s, write {self.reduce_seconds:.2f} s)" if self.map_seconds else ""
        return (f"run {self.run_id}: {self.events:,} events, {self.files} files{kept}, {self.bytes / 1e6:.1f} MB, "
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


def manifest_bytes(cfg: RunConfig, summary: RunSummary, records: list[PartRecord]) -> bytes:
    """The run's manifest: what it is, how to replay it, and every file with its digest."""
    r = cfg.run
    opts = event_parquet_options(r.compression, r.compression_level, r.row_group_size)
    return dumps({
        "run_id": summary.run_id, "seed": summary.seed, "temu_gen_version": __version__,
        "config_sha256": cfg.config_hash, "events": summary.events, "chunk_size": cfg.run.chunk_size,
        "sessions": summary.sessions, "orders": summary.orders, "workers": summary.workers,
        "peak_rss_bytes": summary.peak_rss_bytes, "peak_spool_bytes": summary.peak_spool_bytes,
        "resumed_files": summary.resumed_files, "users_simulated": summary.users,
        "stage_seconds": {"simulate": round(summary.map_seconds, 3), "write": round(summary.reduce_seconds, 3)},
        "parquet": {"compression": opts.compression, "compression_level": opts.compression_level,
                    "row_group_size": opts.row_group_size},
        "first_ingest_ts": _iso(records[0].first_ingest_us), "last_ingest_ts": _iso(records[-1].last_ingest_us),
        "files": [{"name": r.name, "chunk": r.chunk, "rows": r.rows, "bytes": r.bytes, "sha256": r.sha256,
                   "first_ingest_ts": _iso(r.first_ingest_us), "last_ingest_ts": _iso(r.last_ingest_us),
                   "sessions": r.sessions, "orders": r.orders,
                   **({"upload_parts": r.upload_parts} if r.upload_parts else {})} for r in records],
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in EVENT_SCHEMA],
        "config": cfg.document,
    })
