"""The reduce task's output: one part of the events, its defect labels, and its share of the other tables.

Invariant: task *k* writes exactly the files :func:`task_files` names for it, each a pure
function of (seed, config, the spool, the cut plan): events part *k* (with the defects
injected when they are on), the labels of that part, users and orders part *k* (group *k*
of the spooled runs), the products table (task 0, in a call of its own that needs no spool:
:func:`write_products`) and the poison file (task ``defects.poison_part``), all in the
run's format (``run.format``: Parquet, or gzip JSON lines). So any worker writes any task
byte for byte, and ``--resume`` knows every file a run must hold before it starts.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyarrow as pa

from .config import RunConfig
from .defects.catalog import NAMES, UNKNOWN_VALUES
from .defects.drift import schema_v2, to_v2
from .defects.inject import Labels, PartInput, inject
from .encode.arrow import IdKeys, encode_part
from .encode.parquet import ParquetOptions, write_parquet
from .encode.schema import CONTEXT, EVENT_SCHEMA, table_schema
from .files import new_file, temp_path, write_all
from .kernels.codes import APP_OPEN, N_EVENT_TYPE, ORDER_PLACED, W_EVENT_SEQ, W_INGEST_TS, W_USER
from .merge import CutPlan, PartRows, PartSpec, load_plan
from .monitor import release_free_memory
from .plan import plan_chunks
from .sinks.base import SUFFIXES, PartExpectation, PartRecord, part_name

if TYPE_CHECKING:  # the simulation (numba) is imported only where tasks run
    from .generate import GenContext

ENCODE_SLICE = 131_072
"""Rows encoded into Arrow at once: a part's Arrow copy never holds more (the writer buffers one row group)."""
POISON_SHARE = 0.6
"""The poison file is this share of its part's bytes: an upload cut off mid-file (no footer)."""


class ChunkOutput(NamedTuple):
    """One file a task wrote: its record and its temp file."""

    record: PartRecord
    path: Path


class TaskOutput(NamedTuple):
    """Everything task ``index`` wrote."""

    index: int
    files: tuple[ChunkOutput, ...]


def poison_name(index: int, fmt: str = "parquet") -> str:
    return f"part-{index:05d}-partial{SUFFIXES[fmt]}"


def task_files(cfg: RunConfig, index: int) -> list[tuple[str, str]]:
    """(table, file name) of every file task ``index`` writes."""
    d, name = cfg.defects, part_name(index, cfg.run.format)
    files = [("events", name)]
    if d.changes_rows:
        files.append(("defects", name))
    files += [("users", name), ("orders", name)]
    if index == 0:
        files.append(("products", name))
    if d.poison_part == index:
        files.append(("events", poison_name(index, cfg.run.format)))
    return files


def expectations(cfg: RunConfig, index: int, row_start: int, n_rows: int,
                 metadata: dict[str, str]) -> list[PartExpectation]:
    """What ``--resume`` checks each file of task ``index`` against."""
    out = []
    for table, name in task_files(cfg, index):
        if name == poison_name(index, cfg.run.format):
            out.append(PartExpectation(index, name, 0, {}, table))  # no footer to check: its digest must match
        else:
            rows = n_rows if table == "events" and not cfg.defects.changes_rows else None
            out.append(PartExpectation(index, name, rows, part_metadata(metadata, index, row_start), table))
    return out


def part_metadata(base: dict[str, str], index: int, row_start: int) -> dict[str, str]:
    """The key-value metadata of task ``index``'s files, in a Parquet footer or a gzip header (what ``--resume``
    checks)."""
    return {**base, "temu_gen.chunk_index": str(index), "temu_gen.row_start": str(row_start)}


class Job(NamedTuple):
    """What every reduce task of a run shares (set once per worker process)."""

    cfg: RunConfig
    seed: int
    ctx: GenContext
    keys: IdKeys
    options: ParquetOptions
    map_dir: Path
    staging_dir: Path
    metadata: dict

    @property
    def parts(self) -> int:
        r = self.cfg.run
        return len(plan_chunks(r.events, r.chunk_size))


_PLANS: dict[bytes, CutPlan] = {}
_PLANS_LOCK = threading.Lock()


def _plan(folder: Path) -> CutPlan:
    """The run attempt's cut plan, read once per process.

    Keyed by the file's SHA-256 (a few kB): a process that serves several runs or attempts (one worker, a Dask
    worker with threads) never gets another run's plan, whatever the file system's timestamps say.
    """
    data = (folder / "plan.npz").read_bytes()
    key = hashlib.sha256(data).digest()
    with _PLANS_LOCK:
        if key not in _PLANS:
            if len(_PLANS) >= 2:
                _PLANS.clear()
            _PLANS[key] = load_plan(folder, data)
        return _PLANS[key]


@functools.lru_cache(maxsize=4)
def run_vocab(job_vocab, contract: bool):
    """The run's vocabularies; runs with contract violations add the out-of-contract values at the end."""
    if not contract:
        return job_vocab
    return job_vocab._replace(**{c: tuple(getattr(job_vocab, c)) + (v,) for c, v in UNKNOWN_VALUES.items()})


def event_schema(cfg: RunConfig, version: int = 1, context: bool | None = None) -> pa.Schema:
    """The events files' schema: the contract's, every column nullable when contract violations are on, then the
    context column when the run has it (``context`` None: as ``run.context`` says)."""
    schema = EVENT_SCHEMA
    if cfg.defects.contract_violation > 0:  # a required column carries the labelled nulls
        schema = pa.schema([f.with_nullable(True) for f in schema])
    if cfg.run.context if context is None else context:
        schema = schema.append(CONTEXT)
    return schema_v2(schema) if version == 2 else schema


class _Tally:
    """What a part's record says about its rows, counted as the rows go by."""

    def __init__(self):
        self.sessions = self.orders = 0
        self.first = self.last = None

    def count(self, narrow: np.ndarray) -> None:
        """The clean log's sessions and orders in these rows."""
        types = narrow[N_EVENT_TYPE]
        self.sessions += int((types == APP_OPEN).sum())
        self.orders += int((types == ORDER_PLACED).sum())

    def span(self, wide: np.ndarray) -> None:
        """Widen the arrival window to these rows (in arrival order)."""
        if wide.shape[1]:
            self.first = int(wide[W_INGEST_TS, 0]) if self.first is None else self.first
            self.last = int(wide[W_INGEST_TS, -1])

    def watch(self, blocks):
        """``blocks``, counted as they go by (map() holds no block while the encoder has it, a generator would)."""
        return map(self._see, blocks)

    def _see(self, block):
        self.count(block[1])
        self.span(block[0])
        return block


def write_task(job: Job, part: PartSpec, rows: PartRows) -> TaskOutput:
    """Write every file of task ``part.index`` from the part's rows (read from the spool as it writes).

    A clean part streams: one slice of merged rows at a time is encoded and written. Defects that move rows
    between parts need the whole part at once.
    """
    d = job.cfg.defects
    vocab = run_vocab(job.ctx.vocab, d.contract_violation > 0)
    meta = part_metadata(job.metadata, part.index, part.row_start)
    version = 2 if d.schema_drift_from_part is not None and part.index >= d.schema_drift_from_part else 1
    tally, labels = _Tally(), None
    if d.changes_rows:
        wide, narrow = rows.whole()
        tally.count(narrow)
        window = (int(wide[W_INGEST_TS, 0]), int(wide[W_INGEST_TS, -1]))
        unknown = {c: len(getattr(job.ctx.vocab, c)) for c in UNKNOWN_VALUES}
        pin = PartInput(job.seed, part.index, _plan(job.map_dir), job.map_dir, d, unknown)
        wide, narrow, labels = inject(wide, narrow, rows.order, pin)
        tally.span(wide)
        if tally.first is None:  # the defects emptied the part (every row moved late): it keeps its window
            tally.first, tally.last = window
        n_out = wide.shape[1]
        blocks = ((wide[:, lo:lo + ENCODE_SLICE], narrow[:, lo:lo + ENCODE_SLICE])
                  for lo in range(0, n_out, ENCODE_SLICE))
    else:
        n_out, blocks = rows.n, tally.watch(rows.slices(ENCODE_SLICE))
    files = [_write_events(job, part, blocks, n_out, vocab, version, meta, tally)]
    if labels is not None:
        files.append(_write_labels(job, part.index, labels, wide, meta))
        del wide, narrow
    rows.close()  # the spool files and the merge order go before the dimension tables are built
    release_free_memory()  # and what encoding the events freed, which the allocators would keep otherwise
    files += _write_dims(job, part.index, vocab, meta)
    if d.poison_part == part.index:
        files.append(_write_poison(job, part.index, files[0]))
    return TaskOutput(part.index, tuple(files))


def _write_events(job: Job, part: PartSpec, blocks, n_rows: int, vocab, version: int, meta,
                  tally: _Tally) -> ChunkOutput:
    schema = event_schema(job.cfg, version)
    base = event_schema(job.cfg, context=False)
    # map(), unlike a generator expression, keeps neither the last slice nor its table while it makes the next
    slices = map(lambda block: encode_part(*block, vocab, job.keys, base), blocks)
    if job.cfg.run.context:
        slices = _with_context(slices, job)
    if version == 2:
        slices = map(lambda t: to_v2(t, schema), slices)
    options = job.options if version == 1 else v2_options(job.options)
    name = part_name(part.index, job.cfg.run.format)
    path, size, sha, rows = _write_file(job, slices, schema, name, options, meta, n_rows)
    record = PartRecord(part.index, name, rows, size, sha, first_ingest_us=tally.first, last_ingest_us=tally.last,
                        sessions=tally.sessions, orders=tally.orders,
                        log_rows=part.n_rows if job.cfg.defects.changes_rows else 0,
                        schema_version=version if version > 1 else 0)
    return ChunkOutput(record, path)


def _released(tables):
    """``tables`` in turn; once the writer has let go of one, what it freed goes back to the system before the next
    is made. Arrow's allocator keeps freed blocks for reuse, and a part's slices differ enough in size that the
    next slice took fresh memory beside them: a worker's peak was 199-209 MiB with it kept, 190-194 MiB returned
    (default run, 3 runs each; the wall time did not move over 5 interleaved runs)."""
    for table in tables:
        yield table
        del table  # the writer's own reference is gone by now: this frees the slice
        release_free_memory()


def _with_context(slices, job: Job):
    """Each slice of events with its context column (computed from the slice's own columns)."""
    from .encode.context import Keys, context_column

    keys = Keys.for_run(job.seed)
    regions = tuple((s.name, s.region) for s in job.cfg.geography.states)
    return map(lambda t: t.append_column(CONTEXT, context_column(t, keys, regions)), slices)


def _write_file(job: Job, tables, schema: pa.Schema, name: str, options: ParquetOptions, meta: dict[str, str],
                rows: int, temp_name: str | None = None) -> tuple[Path, int, str, int]:
    """Write one file of the run in its format: (temp path, bytes, sha256, rows), each slice's memory handed back
    before the next slice is made (:func:`_released`)."""
    tables = _released(tables)
    if job.cfg.run.format == "jsonl":
        from .encode.jsonl import write_jsonl

        return write_jsonl(tables, job.staging_dir, name, job.cfg.run.gzip_level, meta, rows)
    return write_parquet(tables, schema, job.staging_dir, temp_name or name, options, meta)


def v2_options(v1: ParquetOptions) -> ParquetOptions:
    """The events' Parquet options for schema version 2: the same encodings under the renamed column, plus app_build."""
    from .defects.drift import RENAMED

    def names(cols):
        return None if cols is None else tuple(RENAMED.get(c, c) for c in cols)

    return dataclasses.replace(v1, dictionary_columns=names(v1.dictionary_columns) + ("app_build",),
                       delta_columns=names(v1.delta_columns), delta_length_columns=names(v1.delta_length_columns),
                       statistics_columns=names(v1.statistics_columns))


def options_for(schema: pa.Schema, like: ParquetOptions) -> ParquetOptions:
    """Options for another table: the run's codec, dictionaries where the schema has them, statistics everywhere."""
    dictionaries = tuple(f.name for f in schema if pa.types.is_dictionary(f.type))
    return ParquetOptions(like.compression, like.compression_level, like.row_group_size, dictionaries)


def _write_table(job: Job, index: int, table_name: str, table, meta, schema: pa.Schema | None = None,
                 rows: int | None = None) -> ChunkOutput:
    """Write a table of part ``index``: one ``pa.Table``, or an iterator of slices with their ``schema`` and ``rows``."""
    if isinstance(table, pa.Table):
        schema, rows, table = table.schema, table.num_rows, [table]
    name = part_name(index, job.cfg.run.format)
    path, size, sha, rows = _write_file(job, table, schema, name, options_for(schema, job.options), meta,
                                        rows, temp_name=f"{table_name}-{name}")
    return ChunkOutput(PartRecord(index, name, rows, size, sha, table=table_name), path)


def _write_labels(job: Job, index: int, labels: Labels, wide: np.ndarray, meta) -> ChunkOutput:
    from .kernels.ids import uuid_ids

    rows = labels.rows
    order = np.lexsort((labels.defects, rows))
    rows, kinds = rows[order], labels.defects[order]
    details = [labels.details[i] for i in order]
    offsets, data = uuid_ids(wide[W_USER, rows], wide[W_EVENT_SEQ, rows], job.keys.event)
    table = pa.Table.from_pydict({
        "event_id": pa.StringArray.from_buffers(rows.size, pa.py_buffer(offsets), pa.py_buffer(data)),
        "part": pa.array(np.full(rows.size, index, np.int32)),
        "row": pa.array(rows, pa.int64()),
        "defect": pa.DictionaryArray.from_arrays(pa.array(kinds, pa.int8()), pa.array(NAMES, pa.string())),
        "detail": pa.array(details, pa.string()),
    }, schema=table_schema("defects"))
    out = _write_table(job, index, "defects", table, meta)
    counts = np.bincount(kinds, minlength=len(NAMES))
    summary = ",".join(f"{n}={c}" for n, c in zip(NAMES, counts) if c)
    return out._replace(record=out.record._replace(counts=summary))


def _write_dims(job: Job, index: int, vocab, meta) -> list[ChunkOutput]:
    from .dims import group_runs, orders_table, read_order_rows, read_rows, users_table

    runs = group_runs(_plan(job.map_dir), index, job.parts)
    users = users_table(read_rows(job.map_dir, runs), job.ctx, job.keys, job.seed, job.cfg.defects.orphan_user,
                        job.ctx.vocab)
    out = [_write_table(job, index, "users", users, meta)]
    del users
    out.append(_write_table(job, index, "orders", orders_table(read_order_rows(job.map_dir, runs), job.keys,
                                                               job.ctx.vocab), meta))
    return out


def write_products(job: Job) -> TaskOutput:
    """Task 0's products table: a pure function of (seed, config) that needs no simulated row, so a run writes
    it beside the map (it is the longest file of task 0, and the reduce stage's tail is shorter without it)."""
    from .products import products_tables

    end = job.ctx.params.time.start_us + job.cfg.period.days * 86_400_000_000
    products = products_tables(job.ctx, job.keys, job.seed, job.ctx.vocab, end)
    meta = part_metadata(job.metadata, 0, 0)
    return TaskOutput(0, (_write_table(job, 0, "products", products.tables, meta, table_schema("products"),
                                       products.rows),))


def _write_poison(job: Job, index: int, events: ChunkOutput) -> ChunkOutput:
    """The first POISON_SHARE of the part's bytes under another part name: a cut-off upload (Parquet's magic and no
    footer; or a gzip stream that stops mid-deflate, with no trailer and a torn last line)."""
    data = events.path.read_bytes()[: int(events.record.bytes * POISON_SHARE)]
    name = poison_name(index, job.cfg.run.format)
    path = temp_path(job.staging_dir, name)
    with new_file(path) as fd:
        write_all(fd, data)
    return ChunkOutput(PartRecord(index, name, 0, len(data), hashlib.sha256(data).hexdigest(), poison=True), path)
