"""Worker side of a run: per-process setup, the chunk task, and the executors that run it.

Invariant: ``w_generate_chunk`` is a module-level function of a picklable
:class:`ChunkSpec` and returns a small picklable :class:`ChunkOutput`; everything else it
needs is set once per process by ``w_init``. Chunk memory is released before it
returns. Every executor has the same three calls (``submit``, ``wait``, ``close``), so
``InlineExecutor`` (``--workers 1``, debuggable) and ``ProcessPool`` give byte-identical
output. Pool workers die with the coordinator, and ``close`` kills them, so no worker
outlives its run.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from concurrent.futures import Future
from multiprocessing.connection import wait as wait_ready
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

from .config import RunConfig
from .encode import ParquetOptions, encode_chunk, event_parquet_options, write_parquet
from .generate import GenContext, generate_chunk, make_context
from .lifeline import child_signal_defaults, die_with_parent
from .plan import ChunkSpec
from .sinks.base import PartRecord, part_name


class WorkerSetup(NamedTuple):
    """What each worker process needs once; it pickles."""

    cfg: RunConfig
    seed: int
    staging_dir: Path
    metadata: dict


class ChunkOutput(NamedTuple):
    """A worker's answer for one chunk: the part's record, its temp file, and what it simulated."""

    record: PartRecord
    path: Path
    sessions: int
    orders: int


class _WorkerState(NamedTuple):
    ctx: GenContext
    options: ParquetOptions
    setup: WorkerSetup


_STATE: _WorkerState | None = None


def parquet_options(cfg: RunConfig) -> ParquetOptions:
    r = cfg.run
    return event_parquet_options(r.compression, r.compression_level, r.row_group_size)


def chunk_metadata(base: dict[str, str], spec: ChunkSpec) -> dict[str, str]:
    """The Parquet key-value metadata of chunk ``spec``'s part (what ``--resume`` checks)."""
    return {**base, "temu_gen.chunk_index": str(spec.index), "temu_gen.row_start": str(spec.row_start)}


def w_init(setup: WorkerSetup) -> None:
    """Per-process setup: flatten the config once for the kernels."""
    global _STATE
    _STATE = _WorkerState(make_context(setup.cfg, setup.seed), parquet_options(setup.cfg), setup)


def w_generate_chunk(spec: ChunkSpec) -> ChunkOutput:
    """Generate, encode and write chunk ``spec`` as a temp file in the staging folder."""
    assert _STATE is not None, "w_init must run first"
    ctx, options, setup = _STATE
    chunk = generate_chunk(spec, ctx)
    table = encode_chunk(chunk.columns, spec.row_start, ctx.vocab, ctx.id_salt)
    sessions, orders = chunk.sessions, chunk.orders
    del chunk
    name = part_name(spec.index)
    path, size, sha = write_parquet(table, setup.staging_dir, name, options, chunk_metadata(setup.metadata, spec))
    rows = table.num_rows
    del table
    return ChunkOutput(PartRecord(spec.index, name, rows, size, sha), path, sessions, orders)


def warm_up(ctx: GenContext) -> None:
    """Load (or compile) every kernel in this process on a tiny chunk.

    Called before the pool forks, so workers inherit compiled code instead of each
    loading the cache again.
    """
    chunk = generate_chunk(ChunkSpec(0, 0, 64, 64, 0), ctx)
    encode_chunk(chunk.columns, 0, ctx.vocab, ctx.id_salt)


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


def _worker_main(conn, parent_pid: int, initializer: Callable, initargs: tuple) -> None:
    die_with_parent(parent_pid, "temu-gen-worker")
    child_signal_defaults()
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
        parent = os.getpid()
        for _ in range(workers):
            mine, theirs = ctx.Pipe(duplex=True)
            p = ctx.Process(target=_worker_main, args=(theirs, parent, initializer, initargs), daemon=True)
            p.start()
            theirs.close()
            self._slots.append(_Slot(p, mine))

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


def make_executor(workers: int, setup: WorkerSetup):
    """A process pool of ``workers``, or inline for 1."""
    if workers == 1:
        return InlineExecutor(w_init, (setup,))
    return ProcessPool(workers, w_init, (setup,))
