"""Run orchestration: plan, fan chunks out to workers, deliver files, commit.

Invariant: a run either commits (every part delivered, then ``_manifest.json``, then
``_SUCCESS``) or raises :class:`RunFailed` after aborting the sink, so no failed or
interrupted run ever looks finished. At most ``max_in_flight`` chunks are generated
but not yet delivered, which bounds memory and spool disk whatever the run's size.
Files are byte-identical for the same seed and run id whatever the number of workers.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, replace

from tqdm import tqdm

from . import __version__
from .config import RunConfig, parse
from .encode import EVENT_SCHEMA
from .errors import ConfigError, OutputError, RunFailed
from .generate import make_context, warm_up
from .monitor import RssMonitor
from .plan import plan_chunks
from .pool import WorkerSetup, make_executor, parquet_options, w_generate_chunk
from .seeds import random_seed
from .sinks.base import PartInfo, Sink, part_name
from .uploader import Delivered, InlineDelivery, UploaderDelivery

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MEMORY_HEADROOM = 0.85  # hold back new chunks once the tree uses this share of --max-memory


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
    peak_spool_bytes: int
    sessions: int
    orders: int
    workers: int
    resumed_files: int = 0
    upload_seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        kept = f", {self.resumed_files} kept from the failed run" if self.resumed_files else ""
        spool = f", peak spool {self.peak_spool_bytes / 2**20:.0f} MiB" if self.location.startswith("s3://") else ""
        return (f"run {self.run_id}: {self.events:,} events, {self.files} files{kept}, {self.bytes / 1e6:.1f} MB, "
                f"{self.seconds:.2f} s, {self.events_per_s:,.0f} events/s, peak RSS {self.peak_rss_bytes / 2**20:.0f} MiB"
                f"{spool} -> {self.location}")


def _delivery(sink: Sink, max_in_flight: int):
    return UploaderDelivery(sink, max_in_flight) if hasattr(sink, "upload") else InlineDelivery(sink)


def plan_document(cfg: RunConfig, seed: int, run_id: str) -> bytes:
    return json.dumps({"run_id": run_id, "seed": seed, "temu_gen_version": __version__,
                       "config_sha256": cfg.config_hash, "config": cfg.document}, indent=1,
                      ensure_ascii=False).encode()


def run(cfg: RunConfig, sink: Sink, *, seed: int | None = None, run_id: str | None = None, workers: int = 1,
        overwrite: bool = False, resume: bool = False, max_in_flight: int | None = None,
        max_memory: int | None = None, progress: bool | None = None) -> RunSummary:
    """Generate the run described by ``cfg`` into ``sink`` and commit it.

    With ``resume``, parts the sink already holds (complete and verified) are kept and only
    the missing chunks are generated.
    """
    started = time.perf_counter()
    seed = random_seed() if seed is None else seed
    run_id = check_run_id(run_id) if run_id else new_run_id()
    specs = plan_chunks(cfg.run.events, cfg.run.chunk_size, seed)
    workers = max(1, min(workers, len(specs)))
    max_in_flight = max(1, max_in_flight or workers + 2)
    sink.prepare(run_id, overwrite, resume=resume)
    kept: dict[int, PartInfo] = {}
    if resume:
        sink.abort()  # a crashed coordinator cannot clean up after itself; do it now
        existing = sink.existing_parts()
        kept = {s.index: existing[part_name(s.index)] for s in specs
                if part_name(s.index) in existing and existing[part_name(s.index)].rows == s.n_rows}
    else:
        sink.write_plan(plan_document(cfg, seed, run_id))
    todo = deque(s for s in specs if s.index not in kept)
    warm_up(make_context(cfg, seed))
    metadata = {"temu_gen.run_id": run_id, "temu_gen.seed": str(seed), "temu_gen.config_sha256": cfg.config_hash,
                "temu_gen.version": __version__}
    setup = WorkerSetup(cfg, seed, run_id, sink.staging_dir, metadata)
    delivered: dict[int, Delivered] = {}
    counts: dict[int, tuple[int, int]] = {}
    spool = peak_spool = 0
    in_flight: dict[int, int] = {}  # chunk index -> spool bytes (0 while generating)
    delivery = executor = None
    mon = RssMonitor()
    ok = False
    try:
        delivery = _delivery(sink, max_in_flight)
        executor = make_executor(workers, setup)
        futures: dict = {}

        def submit_more() -> None:
            while todo and len(in_flight) < max_in_flight:
                if max_memory and in_flight and mon.sample() > _MEMORY_HEADROOM * max_memory:
                    return  # near the limit: workers wait until uploads free memory
                spec = todo.popleft()
                in_flight[spec.index] = 0
                futures[executor.submit(w_generate_chunk, spec)] = spec.index

        submit_more()
        with mon, tqdm(total=cfg.run.events, initial=sum(p.rows for p in kept.values()), unit="ev", unit_scale=True,
                       disable=None if progress is None else not progress, leave=False,
                       desc=f"{len(kept)}/{len(specs)} chunks") as bar:
            while in_flight:
                done = set()
                if futures:
                    done, _ = wait(futures, timeout=0.05, return_when=FIRST_COMPLETED)
                failure = None
                for fut in sorted(done, key=futures.pop):  # deliver every success before reporting a failure
                    if fut.exception() is not None:
                        failure = failure or fut.exception()
                        continue
                    res = fut.result()
                    counts[res.index] = (res.sessions, res.orders)
                    in_flight[res.index] = res.bytes
                    spool += res.bytes
                    peak_spool = max(peak_spool, spool)
                    delivery.submit(res.index, res.name, res.path, PartInfo(res.rows, res.bytes, res.sha256))
                for d in delivery.poll(timeout=0.0 if futures else 0.05):
                    delivered[d.index] = d
                    spool -= in_flight.pop(d.index)
                    bar.update(d.part.rows)
                    bar.set_description(f"{len(delivered) + len(kept)}/{len(specs)} chunks")
                if failure is not None:
                    raise failure
                submit_more()
        ok = True
    except BaseException as e:
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if delivery is not None:
            delivery.close(ok=False)
        aborted = sink.abort()
        made = ", ".join(str(i) for i in sorted([*delivered, *kept])) or "none"
        cause = "interrupted" if isinstance(e, KeyboardInterrupt) else str(e) if isinstance(e, RunFailed) \
            else f"{type(e).__name__}: {e}"
        if "BrokenProcessPool" in type(e).__name__:
            cause = "a worker process died (killed or out of memory)"
        hint = f"; resume with --resume {run_id}" if made != "none" else ""
        aborted_note = f"; aborted {aborted} open multipart upload(s)" if aborted else ""
        raise RunFailed(f"run {run_id} failed ({cause}); chunks delivered: {made} of {len(specs)}; "
                        f"not committed (no _SUCCESS){aborted_note}{hint}") from e
    executor.shutdown(wait=True)
    delivery.close(ok=True)
    parts = {i: d.part for i, d in delivered.items()} | kept
    summary = RunSummary(run_id, seed, sink.location, sum(p.rows for p in parts.values()), len(parts),
                         sum(p.bytes for p in parts.values()), 0.0, mon.peak, peak_spool,
                         sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values()), workers,
                         resumed_files=len(kept), upload_seconds=sum(d.seconds for d in delivered.values()))
    if summary.events != cfg.run.events:
        raise RunFailed(f"run {run_id} has {summary.events} rows, expected {cfg.run.events}; not committed")
    sink.commit(manifest_bytes(cfg, summary, [(s.index, parts[s.index]) for s in specs], delivered))
    return replace(summary, seconds=time.perf_counter() - started)


def resume(sink: Sink, run_id: str, **kwargs) -> RunSummary:
    """Finish a failed run: keep its verified parts, regenerate the rest from the recorded seed and config."""
    check_run_id(run_id)
    sink.prepare(run_id, overwrite=False, resume=True)
    plan = sink.read_plan()
    if plan is None:
        raise OutputError(f"no run {run_id} to resume at {sink.location} (no _run.json); check --output and the id")
    cfg = parse(plan["config"], source=f"run {run_id}'s recorded config")
    return run(cfg, sink, seed=plan["seed"], run_id=run_id, resume=True, **kwargs)


def manifest_bytes(cfg: RunConfig, summary: RunSummary, parts: list[tuple[int, PartInfo]],
                   delivered: dict[int, Delivered]) -> bytes:
    """The run's manifest: what it is, how to replay it, and every file with its digest."""
    opts = parquet_options(cfg)
    doc = {
        "run_id": summary.run_id, "seed": summary.seed, "temu_gen_version": __version__,
        "config_sha256": cfg.config_hash, "events": summary.events, "chunk_size": cfg.run.chunk_size,
        "sessions": summary.sessions, "orders": summary.orders, "workers": summary.workers,
        "peak_rss_bytes": summary.peak_rss_bytes, "peak_spool_bytes": summary.peak_spool_bytes,
        "resumed_files": summary.resumed_files,
        "parquet": {"compression": opts.compression, "compression_level": opts.compression_level,
                    "row_group_size": opts.row_group_size},
        "files": [{"name": part_name(i), "chunk": i, "rows": p.rows, "bytes": p.bytes, "sha256": p.sha256,
                   **({"upload_parts": delivered[i].parts} if i in delivered and delivered[i].seconds else {})}
                  for i, p in parts],
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in EVENT_SCHEMA],
        "config": cfg.document,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False).encode()
