"""Worker side of a run: per-process setup, the chunk task, and the executors that run it.

Invariant: ``w_generate_chunk`` is a module-level function of a picklable
:class:`ChunkSpec` and returns a small picklable :class:`ChunkResult`; everything else
it needs is set once per process by ``w_init``. Chunk memory is released before the
function returns. ``InlineExecutor`` runs the same functions in-process, so
``--workers 1`` is debuggable and gives byte-identical output.
"""
from __future__ import annotations

import multiprocessing
import signal
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

from .config import RunConfig
from .encode import ParquetOptions, encode_chunk, write_parquet
from .encode.arrow import DICTIONARY_COLUMNS, EVENT_SCHEMA, UNSORTED_ID_COLUMNS
from .generate import GenContext, generate_chunk, make_context
from .plan import ChunkSpec
from .sinks.base import part_name


class WorkerSetup(NamedTuple):
    """What each worker process needs once; it pickles."""

    cfg: RunConfig
    seed: int
    run_id: str
    staging_dir: Path
    metadata: dict


class ChunkResult(NamedTuple):
    """What a worker reports about one finished chunk file."""

    index: int
    name: str
    path: Path
    rows: int
    bytes: int
    sha256: str
    sessions: int
    orders: int


class _WorkerState(NamedTuple):
    ctx: GenContext
    options: ParquetOptions
    setup: WorkerSetup


_STATE: _WorkerState | None = None


def parquet_options(cfg: RunConfig) -> ParquetOptions:
    """The measured defaults (bench/RESULTS.md) with the run's codec and row group size."""
    r = cfg.run
    return ParquetOptions(r.compression, r.compression_level, r.row_group_size, DICTIONARY_COLUMNS,
                          delta_columns=("event_ts", "ingest_ts"),
                          # min/max only where a reader can prune with them: not on random ids, and not on
                          # dictionary columns, whose few values all occur in every row group (-22% write time)
                          statistics_columns=tuple(n for n in EVENT_SCHEMA.names
                                                   if n not in UNSORTED_ID_COLUMNS and n not in DICTIONARY_COLUMNS))


def w_init(setup: WorkerSetup) -> None:
    """Per-process setup: flatten the config once for the kernels."""
    global _STATE
    if multiprocessing.parent_process() is not None:
        # Ctrl-C reaches the whole process group; only the coordinator decides what happens next
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STATE = _WorkerState(make_context(setup.cfg, setup.seed), parquet_options(setup.cfg), setup)


def w_generate_chunk(spec: ChunkSpec) -> ChunkResult:
    """Generate, encode and write chunk ``spec`` into the staging folder."""
    assert _STATE is not None, "w_init must run first"
    ctx, options, setup = _STATE
    chunk = generate_chunk(spec, ctx)
    table = encode_chunk(chunk, ctx)
    sessions, orders = chunk.sessions, chunk.orders
    del chunk
    name = part_name(spec.index)
    meta = {**setup.metadata, "temu_gen.chunk_index": str(spec.index), "temu_gen.row_start": str(spec.row_start)}
    written = write_parquet(table, setup.staging_dir / name, options, meta)
    del table
    return ChunkResult(spec.index, name, written.path, written.rows, written.bytes, written.sha256, sessions, orders)


class InlineExecutor(Executor):
    """An Executor that runs each task at submit time in this process."""

    def __init__(self, initializer=None, initargs=()):
        if initializer is not None:
            initializer(*initargs)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(e)
        return future


def make_executor(workers: int, setup: WorkerSetup) -> Executor:
    """A process pool of ``workers`` (fork, so compiled kernels are inherited), or inline for 1."""
    if workers == 1:
        return InlineExecutor(w_init, (setup,))
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=w_init, initargs=(setup,))
