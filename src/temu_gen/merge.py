"""The ordered reduce: where each part of the log begins in every shard, and a part's rows merged in arrival order.

Invariant: the log is all shards' rows in (``ingest_ts``, shard, position in shard)
order, cut after N rows; part *k* holds log rows [k * part_size, (k+1) * part_size) and
is a pure function of the spooled shards, so any worker builds any part, byte for byte.
Orders are numbered by when they were placed across the whole population (a running
order number, like a shop's), ties broken by (shard, order within shard).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import spool
from .kernels.codes import WIDE_COLUMNS

_ORDER = WIDE_COLUMNS.index("order")
_INGEST = WIDE_COLUMNS.index("ingest_ts")


class PartSpec(NamedTuple):
    """Part ``index``: log rows [row_start, row_start + n_rows), and the slice of each shard they come from."""

    index: int
    row_start: int
    n_rows: int
    slices: tuple[tuple[int, int, int], ...]
    """(shard, first row, end row) for every shard with rows in this part, in shard order."""


def number_orders(folder: Path, shard_orders: list[int]) -> int:
    """Give every order its number in placement order across all shards; returns how many orders there are."""
    times = [spool.read_orders(folder, s) for s in range(len(shard_orders))]
    ts = np.concatenate(times) if times else np.zeros(0, np.int64)
    order = np.argsort(ts, kind="stable")  # shards are concatenated in order: ties go by (shard, index)
    rank = np.empty(ts.shape[0], np.int64)
    rank[order] = np.arange(ts.shape[0], dtype=np.int64)
    start = 0
    for s, n in enumerate(shard_orders):
        spool.write_ranks(folder, s, rank[start:start + n])
        start += n
    return ts.shape[0]


def _split(folder: Path, summaries, cum: np.ndarray, global_cum: np.ndarray, rank: int) -> np.ndarray:
    """Per shard, how many of its rows come before row ``rank`` of the merged log."""
    if rank <= 0:
        return np.zeros(len(summaries), np.int64)
    if rank >= global_cum[-1]:
        return cum[:, -1].copy()
    b = int(np.searchsorted(global_cum, rank, side="right")) - 1  # the hour bucket holding that row
    inside = rank - int(global_cum[b])
    if inside == 0:
        return cum[:, b].copy()
    keys, owners = [], []
    for s, summary in enumerate(summaries):
        lo, hi = int(cum[s, b]), int(cum[s, b + 1])
        if hi > lo:
            keys.append(np.asarray(spool.ingest_column(folder, summary.index)[lo:hi]))
            owners.append(np.full(hi - lo, s, np.int64))
    first = np.argsort(np.concatenate(keys), kind="stable")[:inside]  # (ingest, shard, position) order
    return cum[:, b] + np.bincount(np.concatenate(owners)[first], minlength=len(summaries))


def plan_parts(folder: Path, summaries, events: int, part_size: int) -> list[PartSpec]:
    """Cut the first ``events`` rows of the merged log into parts of ``part_size`` rows."""
    hist = np.stack([s.hist for s in summaries])
    cum = np.zeros((hist.shape[0], hist.shape[1] + 1), np.int64)
    cum[:, 1:] = hist.cumsum(axis=1)
    global_cum = np.zeros(hist.shape[1] + 1, np.int64)
    global_cum[1:] = hist.sum(axis=0).cumsum()
    size = min(part_size, events)
    starts = list(range(0, events, size)) + [events]
    splits = [_split(folder, summaries, cum, global_cum, r) for r in starts]
    parts = []
    for k in range(len(starts) - 1):
        lo, hi = splits[k], splits[k + 1]
        slices = tuple((summaries[s].index, int(lo[s]), int(hi[s])) for s in range(len(summaries)) if hi[s] > lo[s])
        parts.append(PartSpec(k, starts[k], starts[k + 1] - starts[k], slices))
    return parts


def merge_part(folder: Path, part: PartSpec) -> tuple[np.ndarray, np.ndarray]:
    """The part's rows as (wide, narrow) column blocks in arrival order; order columns hold global numbers.

    Column by column: only the arrival order, one unsorted column and the sorted result are in memory at once.
    """
    files = [(spool.open_shard(folder, shard), lo, hi) for shard, lo, hi in part.slices]
    order = np.argsort(np.concatenate([f.wide[_INGEST, lo:hi] for f, lo, hi in files]), kind="stable")
    blocks = []
    for kind, dtype in (("wide", np.int64), ("narrow", np.int16)):
        width = getattr(files[0][0], kind).shape[0]
        out = np.empty((width, order.shape[0]), dtype)
        for j in range(width):
            column = np.concatenate([getattr(f, kind)[j, lo:hi] for f, lo, hi in files])
            if kind == "wide" and j == _ORDER:
                column = _number(column, files)
            out[j] = column[order]  # runs of sorted slices: the stable argsort above merged them
        blocks.append(out)
    return blocks[0], blocks[1]


def _number(local: np.ndarray, files) -> np.ndarray:
    """Shard-local order indexes -> global order numbers (each slice through its shard's ranks)."""
    at = 0
    for f, lo, hi in files:
        chunk = local[at:at + hi - lo]
        placed = chunk >= 0
        chunk[placed] = f.ranks[chunk[placed]]
        at += hi - lo
    return local
