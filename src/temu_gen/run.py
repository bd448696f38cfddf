"""Run orchestration: plan, fan chunks out to workers, deliver files, commit.

Invariant: a run either commits (every part delivered, then ``_manifest.json``, then
``_SUCCESS``) or raises :class:`RunFailed` after aborting the sink, so no failed or
interrupted run ever looks finished. Files are byte-identical for the same seed and
run id whatever the number of workers.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import asdict, dataclass

from tqdm import tqdm

from . import __version__
from .config import RunConfig
from .encode import EVENT_SCHEMA
from .errors import ConfigError, RunFailed
from .generate import make_context, warm_up
from .monitor import RssMonitor
from .plan import plan_chunks
from .pool import ChunkResult, WorkerSetup, make_executor, parquet_options, w_generate_chunk
from .seeds import random_seed
from .sinks.base import Sink

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def new_run_id(now: dt.datetime | None = None) -> str:
    """A unique run id that sorts by start time: ``20241129T101500Z-3fa9c1``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise ConfigError(f"run id {run_id!r} is not allowed; use 1-128 letters, digits, '.', '_' or '-', "
                          f"starting with a letter or digit")
    return run_id


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
    sessions: int
    orders: int
    workers: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (f"run {self.run_id}: {self.events:,} events, {self.files} files, {self.bytes / 1e6:.1f} MB, "
                f"{self.seconds:.2f} s, {self.events_per_s:,.0f} events/s, peak RSS {self.peak_rss_bytes / 2**20:.0f} MiB "
                f"-> {self.location}")


def run(cfg: RunConfig, sink: Sink, *, seed: int | None = None, run_id: str | None = None, workers: int = 1,
        overwrite: bool = False, progress: bool | None = None) -> RunSummary:
    """Generate the run described by ``cfg`` into ``sink`` and commit it."""
    started = time.perf_counter()
    seed = random_seed() if seed is None else seed
    run_id = check_run_id(run_id) if run_id else new_run_id()
    specs = plan_chunks(cfg.run.events, cfg.run.chunk_size, seed)
    workers = max(1, min(workers, len(specs)))
    sink.prepare(run_id, overwrite)
    warm_up(make_context(cfg, seed))
    metadata = {"temu_gen.run_id": run_id, "temu_gen.seed": str(seed), "temu_gen.config_sha256": cfg.config_hash,
                "temu_gen.version": __version__}
    setup = WorkerSetup(cfg, seed, run_id, sink.staging_dir, metadata)
    results: dict[int, ChunkResult] = {}
    executor = make_executor(workers, setup)
    try:
        pending = {executor.submit(w_generate_chunk, s): s.index for s in specs}
        with RssMonitor() as mon, tqdm(total=cfg.run.events, unit="ev", unit_scale=True,
                                       disable=None if progress is None else not progress,
                                       desc=f"{len(specs)} chunks", leave=False) as bar:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                failure = None
                for fut in sorted(done, key=pending.pop):  # deliver every success before reporting a failure
                    if fut.exception() is not None:
                        failure = failure or fut.exception()
                        continue
                    res = fut.result()
                    sink.put(res.name, res.path)
                    results[res.index] = res
                    bar.update(res.rows)
                    bar.set_description(f"{len(results)}/{len(specs)} chunks")
                if failure is not None:
                    raise failure
    except BaseException as e:
        executor.shutdown(wait=False, cancel_futures=True)
        sink.abort()
        made = ", ".join(str(i) for i in sorted(results)) or "none"
        cause = "interrupted" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
        raise RunFailed(f"run {run_id} failed ({cause}); chunks delivered: {made} of {len(specs)}; "
                        f"not committed (no _SUCCESS)") from e
    executor.shutdown(wait=True)
    ordered = [results[s.index] for s in specs]
    summary = RunSummary(run_id, seed, sink.location, sum(r.rows for r in ordered), len(ordered),
                         sum(r.bytes for r in ordered), 0.0, mon.peak, sum(r.sessions for r in ordered),
                         sum(r.orders for r in ordered), workers)
    sink.commit(manifest_bytes(cfg, summary, ordered))
    return RunSummary(**{**asdict(summary), "seconds": time.perf_counter() - started})


def manifest_bytes(cfg: RunConfig, summary: RunSummary, parts: list[ChunkResult]) -> bytes:
    """The run's manifest: what it is, how to replay it, and every file with its digest."""
    opts = parquet_options(cfg)
    doc = {
        "run_id": summary.run_id, "seed": summary.seed, "temu_gen_version": __version__,
        "config_sha256": cfg.config_hash, "events": summary.events, "chunk_size": cfg.run.chunk_size,
        "sessions": summary.sessions, "orders": summary.orders, "workers": summary.workers,
        "peak_rss_bytes": summary.peak_rss_bytes,
        "parquet": {"compression": opts.compression, "compression_level": opts.compression_level,
                    "row_group_size": opts.row_group_size},
        "files": [{"name": p.name, "chunk": p.index, "rows": p.rows, "bytes": p.bytes, "sha256": p.sha256}
                  for p in parts],
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in EVENT_SCHEMA],
        "config": cfg.document,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False).encode()
