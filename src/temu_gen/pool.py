"""Worker side of a run: per-process setup, the chunk task, and the executors that run it.

Invariant: the tasks ``w_simulate_shard`` (map), ``w_reduce_part`` (reduce) and
``w_write_products`` (task 0's products table, run beside the map) are module-level
functions of a picklable spec that return small picklable answers; everything else they
need is set once per process by ``w_init``, or inherited: forked workers start from a
:func:`ready_state` the coordinator built, with every kernel loaded, so no worker loads
code. A task's memory is released before it returns.
Every executor has the same three calls (``submit``, ``wait``, ``close``), so
``InlineExecutor`` (``--workers 1``, debuggable) and ``ProcessPool`` give byte-identical
output. Pool workers die with the coordinator, and ``close`` kills them, so no worker
outlives its run.
"""
from __future__ import annotations

import contextlib
import gc
import multiprocessing
import signal
from collections import deque
from concurrent.futures import Future
from multiprocessing.connection import wait as wait_ready
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple

import numpy as np

from . import jitcache, spool
from .config import RunConfig
from .encode.arrow import IdKeys, encode_part
from .encode.parquet import ParquetOptions, event_parquet_options
from .kernels.codes import WIDE_COLUMNS
from .lifeline import children_die_with_me
from .merge import PartSpec, read_part
from .monitor import release_free_memory
from .population import ShardSpec
from .reduce import Job, TaskOutput, write_products, write_task

if TYPE_CHECKING:  # the simulation (numba) is imported where tasks run: see make_executor
    from .generate import GenContext


class WorkerSetup(NamedTuple):
    """What each worker process needs once; it pickles."""

    cfg: RunConfig
    seed: int
    staging_dir: Path
    """Where finished parts are written (temp files, then delivered)."""
    map_dir: Path
    """The run attempt's spool of simulated shards."""
    metadata: dict


class _WorkerState(NamedTuple):
    ctx: GenContext
    setup: WorkerSetup
    job: Job
    buckets: int


_STATE: _WorkerState | None = None


def parquet_options(cfg: RunConfig) -> ParquetOptions:
    r = cfg.run
    return event_parquet_options(r.compression, r.compression_level, r.row_group_size)


def w_init(setup: WorkerSetup) -> _WorkerState:
    """Per-process setup: flatten the config and draw the product table once.

    Returns the state, so an engine whose workers serve several runs can switch back to it (:func:`w_switch`).
    """
    from .generate import make_context

    global _STATE
    jitcache.install()  # a Dask worker on a machine of its own may start with a cold cache: load, not compile
    jitcache.lean_loads()
    with _loading():
        ctx = make_context(setup.cfg, setup.seed)
    job = Job(setup.cfg, setup.seed, ctx, IdKeys.for_run(setup.seed), parquet_options(setup.cfg), setup.map_dir,
              setup.staging_dir, setup.metadata)
    _STATE = _WorkerState(ctx, setup, job, spool.hist_buckets(setup.cfg.period.days))
    return _STATE


def w_switch(state: _WorkerState | None) -> None:
    """Make ``state`` (an earlier :func:`w_init`'s in this process) the one the next tasks use (None: no run's)."""
    global _STATE
    _STATE = state


def _state() -> _WorkerState:
    assert _STATE is not None, "w_init must run first"
    return _STATE


class ShardResult(NamedTuple):
    index: int
    runs: list
    """One :class:`spool.ShardSummary` per sorted run the shard was spooled as."""


def w_simulate_shard(shard: ShardSpec) -> ShardResult:
    """Map: simulate the shard's users and spool their rows in arrival order, in runs of bounded size."""
    from .generate import simulate_runs

    st = _state()
    capacity = st.setup.cfg.population.target_shard_events
    runs = [spool.write_shard(st.setup.map_dir, shard.index * spool.RUNS_PER_SHARD + k, arrays,
                              st.ctx.params.time.start_us, st.buckets)
            for k, arrays in enumerate(simulate_runs(shard.u0, shard.u1, st.ctx, capacity))]
    return ShardResult(shard.index, runs)


def w_reduce_part(part: PartSpec) -> TaskOutput:
    """Reduce: merge the part's rows from the spool, then write the part and its share of the other tables."""
    st = _state()
    with read_part(st.setup.map_dir, part) as rows:
        return write_task(st.job, part, rows)


def w_write_products(index: int) -> TaskOutput:
    """Task ``index``'s products table (task 0 has one): needs no spool, so it runs beside the map."""
    assert index == 0, "only task 0 writes the products table"
    return write_products(_state().job)


def warm_up(ctx: GenContext) -> None:
    """Load (or compile) every kernel a run's tasks call, in this process, on a few users and one tiny part."""
    from .generate import price_history, simulate_shard, user_traits

    arrays = simulate_shard(0, 2, ctx)
    w, n = arrays.wide, arrays.narrow
    w = w.copy()
    order = WIDE_COLUMNS.index("order")
    w[order] = np.where(w[order] >= 0, 0, -1)
    encode_part(w, n, ctx.vocab, IdKeys.for_run(0))
    user_traits(ctx, np.arange(2))
    price_history(ctx, np.array([ctx.params.time.start_us]))


class WorkerDied(Exception):
    """A pool process ended while it held a task (killed, or out of memory)."""


class InlineExecutor:
    """Runs each task at submit time in this process (``--workers 1``)."""

    def __init__(self, initializer: Callable | None = None, initargs: tuple = ()):
        if initializer is not None:
            initializer(*initargs)

    def submit(self, fn: Callable, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as e:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(e)
        return future

    def wait(self, futures: Iterable[Future], timeout: float) -> set[Future]:
        return {f for f in futures if f.done()}

    def close(self, kill: bool = False) -> None:
        pass


def _worker_main(conn, initializer: Callable, initargs: tuple) -> None:
    # dying with the coordinator, the name in ps and the signal handling were set at the fork (children_die_with_me)
    initializer(*initargs)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, args = msg
        try:
            reply = ("ok", fn(*args))
        except Exception as e:  # noqa: BLE001 - the coordinator decides what a failure means
            reply = ("error", e)
        try:
            conn.send(reply)
        except Exception:  # noqa: BLE001 - an exception that does not pickle still reaches the coordinator
            conn.send(("error", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))
        del reply
        release_free_memory()  # a worker's memory must not creep up over many tasks


class _Slot:
    def __init__(self, process, conn):
        self.process, self.conn = process, conn
        self.future: Future | None = None


class ProcessPool:
    """``workers`` forked processes (compiled kernels are inherited), one task each at a time, over pipes.

    A worker that dies fails only its own task's future, with :class:`WorkerDied`.
    """

    def __init__(self, workers: int, initializer: Callable, initargs: tuple):
        ctx = multiprocessing.get_context("fork")
        self._slots: list[_Slot] = []
        self._queue: deque[tuple[Future, Callable, tuple]] = deque()
        gc.freeze()  # objects from before the fork stay out of the workers' collections: pages stay shared
        children_die_with_me(True)  # each worker dies with this process and takes the workers' signal handling
        try:
            for _ in range(workers):
                mine, theirs = ctx.Pipe(duplex=True)
                p = ctx.Process(target=_worker_main, args=(theirs, initializer, initargs), daemon=True)
                p.start()
                theirs.close()
                self._slots.append(_Slot(p, mine))
        finally:
            children_die_with_me(False)

    @property
    def pids(self) -> list[int]:
        return [s.process.pid for s in self._slots]

    def submit(self, fn: Callable, *args: Any) -> Future:
        future: Future = Future()
        self._queue.append((future, fn, args))
        self._dispatch()
        return future

    def _dispatch(self) -> None:
        for slot in self._slots:
            if not self._queue:
                return
            if slot.future is None and slot.process.is_alive():
                future, fn, args = self._queue.popleft()
                slot.future = future
                slot.conn.send((fn, args))
        if self._queue and not any(s.process.is_alive() for s in self._slots):
            # every worker died while idle: fail what waits, or the caller would wait for ever
            why = WorkerDied(_death(self._slots[0].process))
            while self._queue:
                self._queue.popleft()[0].set_exception(why)

    def wait(self, futures: Iterable[Future], timeout: float) -> set[Future]:
        """Collect answers (waiting up to ``timeout`` for the first); returns the futures now done."""
        futures = set(futures)
        busy = [s for s in self._slots if s.future is not None]
        if busy and not any(f.done() for f in futures):
            wait_ready([s.conn for s in busy] + [s.process.sentinel for s in busy], timeout)
        for slot in busy:
            if slot.conn.poll(0):
                try:
                    kind, value = slot.conn.recv()
                except (EOFError, OSError):
                    kind, value = "error", WorkerDied(_death(slot.process))
                self._finish(slot, kind, value)
            elif not slot.process.is_alive():
                self._finish(slot, "error", WorkerDied(_death(slot.process)))
        self._dispatch()
        return {f for f in futures if f.done()}

    @staticmethod
    def _finish(slot: _Slot, kind: str, value: Any) -> None:
        future, slot.future = slot.future, None
        if kind == "ok":
            future.set_result(value)
        else:
            future.set_exception(value)

    def close(self, kill: bool = False) -> None:
        """Stop every worker: politely after a finished run, at once (SIGKILL) after a failure."""
        for slot in self._slots:
            if kill:
                slot.process.kill()
            else:
                try:
                    slot.conn.send(None)
                except OSError:
                    pass
        for slot in self._slots:
            slot.process.join(timeout=None if kill else 10)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            slot.conn.close()


def _death(process) -> str:
    process.join(timeout=1)
    code = process.exitcode
    if code is not None and code < 0:
        return f"a worker process died (killed by {signal.Signals(-code).name}; out of memory?)"
    return f"a worker process died (exit code {code})"


def import_simulation() -> None:
    """Import the simulation (numba and the kernels) in this process: forked workers then inherit it, and only a
    coordinator whose tasks run elsewhere (a Dask scheduler's workers) never pays for it."""
    with collector_paused():
        from . import generate  # noqa: F401


def _loading():
    """The collector paused while kernels are loaded from a warm cache (no garbage to find), but not while they are
    compiled: a compile makes cyclic garbage by the hundred megabytes."""
    return collector_paused() if jitcache.cache_is_warm() else contextlib.nullcontext()


@contextlib.contextmanager
def collector_paused():
    """No cyclic garbage collection inside the block (unless it was off already).

    Importing numba and the kernels, and numba's first use (its lowering registries), make about 130,000
    objects and next to no garbage; the collector's passes over them cost about 50 ms of a run's start.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def ready_state(setup: WorkerSetup) -> _WorkerState:
    """:func:`w_init` in this process, then every kernel loaded (compiled, on a cold cache): for processes forked
    from this one.

    They start ready to work: the catalog is drawn once for all of them, its pages are shared, and they never use
    numba's code loader, so LLVM's library (50 MiB of a worker's resident memory when it loads the kernels
    itself) is never paged into them.
    """
    state = w_init(setup)
    with _loading():
        warm_up(state.ctx)
    release_free_memory()  # the warm-up's scratch: the forked workers would inherit it
    return state


def make_executor(workers: int, setup: WorkerSetup):
    """A process pool of ``workers`` forked from a :func:`ready_state`, or inline for 1."""
    import_simulation()
    if workers == 1:
        return InlineExecutor(w_init, (setup,))
    try:
        return ProcessPool(workers, w_switch, (ready_state(setup),))
    finally:
        w_switch(None)  # the workers have theirs (or it was cut short); this process runs no task
