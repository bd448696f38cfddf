"""Run orchestration: open and lock the run, plan it, schedule its chunks, commit it.

Invariant: a run either commits (every part delivered and recorded, then
``_manifest.json``, then ``_SUCCESS``, all while this process holds the run's lock) or
raises :class:`RunFailed` after stopping every worker and the uploader and aborting the
target, so no failed or interrupted run ever looks finished. Files are byte-identical
for the same seed and run id whatever the number of workers, and ``--resume`` keeps
only parts that prove to be the ones this run writes.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
import signal
import sys
import time
from concurrent.futures import Future

from . import __version__
from .config import RunConfig
from .errors import OutputError, RunFailed, Terminated, TemuGenError
from .lifeline import deferred_signals
from .manifest import RunSummary, manifest_bytes, plan_document, read_plan_document
from .monitor import RssMonitor, release_free_memory
from .plan import plan_chunks
from . import jitcache, spool
from .merge import cut_plan, number_orders, save_plan
from .population import more_users, shards, size_population
from .checks import check_defects
from .engines import POOL
from .pool import WorkerDied, WorkerSetup, import_simulation, w_reduce_part, w_simulate_shard, w_write_products
from .reduce import expectations, task_files
from .schedule import Limits, Progress, progress_bar, run_chunks, run_tasks
from .seeds import random_seed
from .sinks.base import Holder, PartExpectation, PartRecord, RunTarget, Sink, file_key, part_name

PILOT_SHARDS = 8
"""The pilot's users run as this many map tasks: a fixed count, so the shards do not depend on the workers."""
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def new_run_id(now: dt.datetime | None = None) -> str:
    """A unique run id that sorts by start time: ``20241129T101500Z-3fa9c1``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise TemuGenError(f"run id {run_id!r} is not allowed; use 1-128 letters, digits, '.', '_' or '-', "
                           f"starting with a letter or digit")
    return run_id


def run(cfg: RunConfig, sink: Sink, *, seed: int | None = None, run_id: str | None = None, workers: int = 1,
        overwrite: bool = False, force_unlock: bool = False, max_in_flight: int | None = None,
        max_memory: int | None = None, progress: bool | None = None, engine=None) -> RunSummary:
    """Generate the run described by ``cfg`` into ``sink`` and commit it.

    ``engine``: where the tasks run (:mod:`temu_gen.engines`; default the local process pool).
    """
    seed = random_seed() if seed is None else seed
    run_id = new_run_id() if run_id is None else check_run_id(run_id)
    check_defects(cfg)
    target = sink.open_run(run_id)
    target.lock(Holder.me(), force=force_unlock)
    with _failing(target, run_id, len(plan_chunks(cfg.run.events, cfg.run.chunk_size))):
        if target.is_committed():
            if not overwrite:
                raise OutputError(f"run {run_id} is already committed at {target.location}; pass --overwrite to "
                                  f"replace it or choose another --run-id")
        target.reset()
        target.write_plan(plan_document(cfg, seed, run_id))
    return _execute(cfg, seed, run_id, target, {}, workers, Limits(max_in_flight or workers + 2, max_memory),
                    progress, engine or POOL)


def resume(sink: Sink, run_id: str, *, force_unlock: bool = False, workers: int = 1, max_in_flight: int | None = None,
           max_memory: int | None = None, progress: bool | None = None, engine=None) -> RunSummary:
    """Finish a failed run: keep its verified parts, regenerate the rest from the recorded seed and config."""
    check_run_id(run_id)
    target = sink.open_run(run_id)
    doc = target.read_plan()  # creates nothing: an unknown run leaves no trace
    if doc is None:
        raise OutputError(f"no run {run_id} to resume at {target.location} (no _run.json); check --output and the "
                          f"run id")
    cfg, seed = read_plan_document(doc, run_id, target.location)
    target.lock(Holder.me(), force=force_unlock)
    specs = plan_chunks(cfg.run.events, cfg.run.chunk_size)
    with _failing(target, run_id, len(specs)):
        if target.read_plan() != doc:  # another writer replaced the plan between our read and our lock
            raise OutputError(f"the recorded plan of run {run_id} at {target.location} changed while this process "
                              f"was taking the run's lock; rerun --resume {run_id} to replay the current plan")
        if target.is_committed():
            raise OutputError(f"run {run_id} at {target.location} is already committed; nothing to resume")
        kept = target.verify(run_expectations(cfg, seed, run_id))
    return _execute(cfg, seed, run_id, target, kept, workers, Limits(max_in_flight or workers + 2, max_memory),
                    progress, engine or POOL)


def run_expectations(cfg: RunConfig, seed: int, run_id: str) -> list[PartExpectation]:
    """Every file the run writes, as ``--resume`` must find it."""
    base = run_metadata(cfg, seed, run_id)
    return [e for s in plan_chunks(cfg.run.events, cfg.run.chunk_size)
            for e in expectations(cfg, s.index, s.row_start, s.n_rows, base)]


def kept_tasks(cfg: RunConfig, kept: dict[str, PartRecord]) -> set[int]:
    """Tasks whose every file was kept: only those are skipped (a task always writes all its files at once)."""
    specs = plan_chunks(cfg.run.events, cfg.run.chunk_size)
    return {s.index for s in specs if all(file_key(t, n) in kept for t, n in task_files(cfg, s.index))}


def run_metadata(cfg: RunConfig, seed: int, run_id: str) -> dict[str, str]:
    """Key-value metadata every part of the run carries in its Parquet footer (or jsonl gzip header)."""
    return {"temu_gen.run_id": run_id, "temu_gen.seed": str(seed), "temu_gen.config_sha256": cfg.config_hash,
            "temu_gen.version": __version__}


class _failing:
    """On any exception in the block: abort the target and raise RunFailed naming what was delivered."""

    def __init__(self, target: RunTarget, run_id: str, total: int, progress: Progress | None = None,
                 kept: set[int] | None = None, cleanup=None):
        self.target, self.run_id, self.total = target, run_id, total
        self.progress, self.kept, self.cleanup = progress, kept or set(), cleanup

    def __enter__(self) -> _failing:
        return self

    def __exit__(self, kind, e, tb) -> bool:
        if e is None:
            return False
        # a second Ctrl-C must not cut the clean-up short (a lock, temp files left); a third does, if it hangs
        with deferred_signals(patience=2):
            if self.cleanup is not None:
                self.cleanup()
            aborted = self.target.abort()
        if isinstance(e, TemuGenError) and not isinstance(e, RunFailed) and self.progress is None:
            return False  # refused before any work: the user's error, as it is
        made = sorted({*self.kept, *(self.progress.tasks if self.progress else ())})
        cause, code = _cause(e)
        made_txt = ", ".join(map(str, made)) if made else "none"
        # the run's plan is recorded by then (progress is _execute's): resuming it is the way on, even with nothing
        # delivered yet (a fixed --run-id would otherwise need --overwrite)
        hint = f"; resume with --resume {self.run_id}" if made or self.progress is not None else ""
        note = f"; aborted {aborted} open multipart upload(s)" if aborted else ""
        raise RunFailed(f"run {self.run_id} failed ({cause}); chunks delivered: {made_txt} of {self.total}; not "
                        f"committed (no _SUCCESS){note}{hint}", exit_code=code) from e


def _cause(e: BaseException) -> tuple[str, int]:
    if isinstance(e, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(e, Terminated):
        return f"terminated by {signal.Signals(e.signum).name}", e.exit_code
    if isinstance(e, (RunFailed, WorkerDied)):
        return str(e).removeprefix("run failed: "), 4
    if isinstance(e, TemuGenError):
        return str(e), 4
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}{f': {e.filename}' if e.filename else ''}", 4
    return f"{type(e).__name__}: {e}", 4


def _execute(cfg: RunConfig, seed: int, run_id: str, target: RunTarget, kept: dict[str, PartRecord], workers: int,
             limits: Limits, show: bool | None, engine) -> RunSummary:
    started = time.perf_counter()
    specs = plan_chunks(cfg.run.events, cfg.run.chunk_size)
    done = kept_tasks(cfg, kept)
    progress = Progress()
    executor = delivery = None
    map_dir = target.spool_dir / "map"

    def stop() -> None:
        if executor is not None:
            executor.close(kill=True)
        if delivery is not None:
            delivery.close(ok=False)
        spool.remove(map_dir)

    with _failing(target, run_id, len(specs), progress, done, stop), RssMonitor() as mon:
        map_s = plan_s = reduce_s = 0.0
        users = map_bytes = 0
        if len(done) < len(specs):
            t0 = time.perf_counter()
            # a cluster's own workers load (or compile) the kernels where they run: this process never needs them
            if engine.forks_workers:  # the executor loads (or compiles) every kernel here before it forks
                import_simulation()
                if not jitcache.cache_is_warm() and not jitcache.install() and show is not False:
                    print("temu-gen: compiling the kernels once for this install (2-3 minutes on 2 cores, under "
                          "one on 16; later runs load them in about a second)", file=sys.stderr, flush=True)
            spool.fresh(map_dir)
            spool.claim(target.spool_dir)
            spool.sweep(target.spool_dir.parent, keep=target.spool_dir)  # scratch of runs killed outright
            setup = WorkerSetup(cfg, seed, target.staging_dir, map_dir, run_metadata(cfg, seed, run_id))
            executor = engine.executor(max(1, workers), setup, target)
            summaries, early = _map_stage(cfg, executor, show, products=0 not in done)
            users = sum(s.users for s in summaries)
            t_plan = time.perf_counter()
            number_orders(map_dir, summaries)
            parts, plan = cut_plan(map_dir, summaries, cfg.run.events, cfg.run.chunk_size, bounds=cfg.defects.late > 0)
            save_plan(map_dir, plan)  # every reduce task reads it: dimension groups, late rows' destinations
            del plan
            map_bytes = spool.folder_bytes(map_dir)  # held until the last part is written
            release_free_memory()  # planning's scratch: the coordinator stays the same size whatever the run
            t1 = time.perf_counter()
            delivery = engine.delivery(target, limits.max_in_flight)
            kept_rows = sum(_log_rows(kept[part_name(i, cfg.run.format)]) for i in done)
            with progress_bar(show, cfg.run.events, initial=kept_rows, unit="ev", unit_scale=True,
                              desc="writing") as bar:
                run_chunks((p for p in parts if p.index not in done), w_reduce_part, executor, delivery, limits, mon,
                           progress, bar, early)
            executor.close()
            delivery.close(ok=True)
            spool.remove(map_dir)
            map_s, plan_s, reduce_s = t_plan - t0, t1 - t_plan, time.perf_counter() - t1
        have = {**kept, **progress.records}
        records = [have[file_key(t, n)] for s in specs for t, n in task_files(cfg, s.index)]
        events = [r for r in records if r.table == "events" and not r.poison]
        summary = RunSummary(run_id, seed, target.location, sum(map(_log_rows, events)), len(events),
                             sum(r.bytes for r in records), 0.0, mon.peak, progress.peak_spool_bytes,
                             sum(r.sessions for r in events), sum(r.orders for r in events), workers,
                             resumed_files=len(done), upload_seconds=sum(r.upload_seconds for r in records),
                             map_seconds=map_s, plan_seconds=plan_s, reduce_seconds=reduce_s, users=users,
                             rows_written=sum(r.rows for r in events), table_files=len(records) - len(events),
                             table_names=_other_tables(records), map_spool_bytes=map_bytes, engine=engine.name)
        if summary.events != cfg.run.events:
            raise RunFailed(f"run {run_id} has {summary.events} rows, expected {cfg.run.events}")
        target.check_delivered(records)  # nothing under _SUCCESS that another process removed or replaced
        with deferred_signals() as gate:
            target.commit(manifest_bytes(cfg, summary, records), gate)
    return dataclasses.replace(summary, seconds=time.perf_counter() - started)


_TABLE_ORDER = ("users", "orders", "products", "defects", "partial")


def _other_tables(records: list[PartRecord]) -> tuple[str, ...]:
    """What a run's files other than its events parts hold: the tables in a fixed order, then the poison file."""
    names = {r.table for r in records if r.table != "events"}
    order = sorted(names, key=lambda n: (_TABLE_ORDER.index(n) if n in _TABLE_ORDER else len(_TABLE_ORDER), n))
    return tuple(order) + (("the poison file",) if any(r.poison for r in records) else ())


def _log_rows(rec: PartRecord) -> int:
    """Rows of the clean log an events file covers (with defects, the file itself holds more or fewer)."""
    return rec.log_rows or rec.rows


def _simulate(specs, executor, bar, watch=()) -> list[spool.ShardSummary]:
    """Run map tasks; returns the spooled runs in (shard, run) order."""
    return [run for result in run_tasks(specs, w_simulate_shard, executor, bar, watch) for run in result.runs]


def _map_stage(cfg: RunConfig, executor, show: bool | None, products: bool
               ) -> tuple[list[spool.ShardSummary], dict[Future, int]]:
    """Simulate users in shards until the log holds at least ``events`` rows; returns every shard's summary, and
    the future of task 0's products table (if ``products``), which is written beside the map.

    The first ``pilot_users`` users (in PILOT_SHARDS shards, whatever the number of workers) go first: their
    rows per user size the rest of the population. The products table needs no simulated row; it is queued
    between the pilots and the population (its failure ends the stage): not before the pilots, since a Dask
    scheduler places tasks on workers as they are submitted and a pilot placed behind a longer task holds up
    the sizing of the whole population (traced: 0.35 s); not after the population, or it would run last and
    unbalance the reduce that follows.
    """
    pop, events = cfg.population, cfg.run.events
    pilot = shards(0, pop.pilot_users, -(-pop.pilot_users // PILOT_SHARDS), 0, 0.0)
    with progress_bar(show, len(pilot), unit="shard", desc="simulating") as bar:
        summaries = _simulate(pilot, executor, bar)
        sizing = size_population(events, sum(s.rows for s in summaries), pop.pilot_users, pop.size_margin,
                                 pop.target_shard_events)
        todo = shards(pop.pilot_users, sizing.users, sizing.users_per_shard, len(pilot), sizing.events_per_user)
        next_index = len(pilot) + len(todo)
        early = {executor.submit(w_write_products, 0): 0} if products else {}
        while True:
            bar.total += len(todo)
            summaries += _simulate(todo, executor, bar, early)
            rows, users = sum(s.rows for s in summaries), sum(s.users for s in summaries)
            if rows >= events:
                break
            extra = more_users(events, rows, users, rows / users, pop.size_margin)
            todo = shards(users, users + extra, sizing.users_per_shard, next_index, sizing.events_per_user)
            next_index += len(todo)
    return summaries, early
