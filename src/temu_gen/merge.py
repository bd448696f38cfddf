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
from .kernels.codes import N_NARROW, N_WIDE, WIDE_COLUMNS

_ORDER = WIDE_COLUMNS.index("order")
_INGEST = WIDE_COLUMNS.index("ingest_ts")


class CutPlan(NamedTuple):
    """Where every part starts in every run: enough for any task to find any part's rows without merging it."""

    keys: np.ndarray
    """int64[runs]: the spooled runs, in key order."""
    cuts: np.ndarray
    """int64[parts + 1, runs]: rows of each run before each part (the last row: the run's rows in the log)."""
    bounds: np.ndarray
    """int64[parts]: the first arrival (ingest_ts) of each part; empty when not computed."""

    def slices(self, part: int) -> list[tuple[int, int, int]]:
        lo, hi = self.cuts[part], self.cuts[part + 1]
        return [(int(k), int(a), int(b)) for k, a, b in zip(self.keys, lo, hi) if b > a]

    def source_rows(self, part: int, positions: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Positions in part ``part``'s source order (its slices concatenated) as (run key, rows of that run)."""
        slices = self.slices(part)
        starts = np.cumsum([0] + [hi - lo for _, lo, hi in slices])
        which = np.searchsorted(starts, positions, side="right") - 1
        out = []
        for s in np.unique(which):
            key, lo, _ = slices[s]
            out.append((key, positions[which == s] - starts[s] + lo))
        return out


class PartSpec(NamedTuple):
    """Part ``index``: log rows [row_start, row_start + n_rows), and the slice of each shard they come from."""

    index: int
    row_start: int
    n_rows: int
    slices: tuple[tuple[int, int, int], ...]
    """(run key, first row, end row) for every spooled run with rows in this part, in key order."""


def number_orders(folder: Path, summaries) -> int:
    """Give every order its number in placement order across all runs; returns how many orders there are."""
    times = [spool.read_orders(folder, s.key) for s in summaries]
    ts = np.concatenate(times) if times else np.zeros(0, np.int64)
    order = np.argsort(ts, kind="stable")  # shards are concatenated in order: ties go by (shard, index)
    rank = np.empty(ts.shape[0], np.int64)
    rank[order] = np.arange(ts.shape[0], dtype=np.int64)
    start = 0
    for s in summaries:
        spool.write_ranks(folder, s.key, rank[start:start + s.orders])
        start += s.orders
    return ts.shape[0]


def _split(folder: Path, summaries, hist: np.ndarray, global_cum: np.ndarray, rank: int) -> np.ndarray:
    """Per run, how many of its rows come before row ``rank`` of the merged log."""
    if rank <= 0:
        return np.zeros(len(summaries), np.int64)
    if rank >= global_cum[-1]:
        return np.array([s.rows for s in summaries], np.int64)
    b = int(np.searchsorted(global_cum, rank, side="right")) - 1  # the hour bucket holding that row
    before = hist[:, :b].sum(axis=1, dtype=np.int64)  # each run's rows in earlier buckets (no runs x buckets copy)
    inside = rank - int(global_cum[b])
    if inside == 0:
        return before
    keys, owners = [], []
    for s, summary in enumerate(summaries):
        lo, hi = int(before[s]), int(before[s] + hist[s, b])
        if hi > lo:
            block = spool.Columns(spool.shard_path(folder, summary.key, "wide"))
            try:
                keys.append(np.empty(hi - lo, np.int64))
                block.read(_INGEST, lo, hi, keys[-1])
            finally:
                block.close()
            owners.append(np.full(hi - lo, s, np.int64))
    first = np.argsort(np.concatenate(keys), kind="stable")[:inside]  # (ingest, run, position) order
    return before + np.bincount(np.concatenate(owners)[first], minlength=len(summaries))


def plan_parts(folder: Path, summaries, events: int, part_size: int) -> list[PartSpec]:
    """Cut the first ``events`` rows of the merged log into parts of ``part_size`` rows."""
    return cut_plan(folder, summaries, events, part_size)[0]


def cut_plan(folder: Path, summaries, events: int, part_size: int,
             bounds: bool = False) -> tuple[list[PartSpec], CutPlan]:
    """The parts of :func:`plan_parts` and the :class:`CutPlan` behind them (with each part's first arrival)."""
    hist = np.stack([s.hist for s in summaries])
    global_cum = np.zeros(hist.shape[1] + 1, np.int64)
    global_cum[1:] = hist.sum(axis=0, dtype=np.int64).cumsum()
    size = min(part_size, events)
    starts = list(range(0, events, size)) + [events]
    splits = [_split(folder, summaries, hist, global_cum, r) for r in starts]
    parts = []
    for k in range(len(starts) - 1):
        lo, hi = splits[k], splits[k + 1]
        slices = tuple((summaries[s].key, int(lo[s]), int(hi[s])) for s in range(len(summaries)) if hi[s] > lo[s])
        parts.append(PartSpec(k, starts[k], starts[k + 1] - starts[k], slices))
    plan = CutPlan(np.array([s.key for s in summaries], np.int64), np.stack(splits).astype(np.int64),
                   np.zeros(0, np.int64))
    if bounds:
        plan = plan._replace(bounds=_first_arrivals(folder, plan, len(parts)))
    return parts, plan


def _first_arrivals(folder: Path, plan: CutPlan, parts: int) -> np.ndarray:
    """Each part's first ingest_ts: the least first row of its slices (each slice is sorted)."""
    out = np.zeros(parts, np.int64)
    one = np.empty(1, np.int64)
    blocks = {}
    try:
        for k in range(parts):
            first = None
            for key, lo, _ in plan.slices(k):
                if key not in blocks:
                    blocks[key] = spool.Columns(spool.shard_path(folder, key, "wide"))
                blocks[key].read(_INGEST, lo, lo + 1, one)
                first = int(one[0]) if first is None else min(first, int(one[0]))
            out[k] = first
    finally:
        for b in blocks.values():
            b.close()
    return out


def save_plan(folder: Path, plan: CutPlan) -> None:
    np.savez(folder / "plan.npz", keys=plan.keys, cuts=plan.cuts, bounds=plan.bounds)


def load_plan(folder: Path, data: bytes | None = None) -> CutPlan:
    """The cut plan saved in ``folder`` (or held in ``data``, that file's bytes)."""
    import io

    with np.load(folder / "plan.npz" if data is None else io.BytesIO(data), allow_pickle=False) as f:
        return CutPlan(f["keys"], f["cuts"], f["bounds"])


def gather_rows(folder: Path, picks: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Rows at (run key, row positions) of the spool as merged columns (order columns hold global numbers)."""
    ws, ns = [], []
    for key, rows in picks:
        w = np.array(np.load(spool.shard_path(folder, key, "wide"), mmap_mode="r")[:, rows])
        ns.append(np.array(np.load(spool.shard_path(folder, key, "narrow"), mmap_mode="r")[:, rows]))
        ranks = np.load(spool.shard_path(folder, key, "ranks"), mmap_mode="r")
        placed = w[_ORDER] >= 0
        w[_ORDER, placed] = ranks[w[_ORDER, placed]]
        ws.append(w)
    if not ws:
        return np.zeros((N_WIDE, 0), np.int64), np.zeros((N_NARROW, 0), np.int16)
    return np.concatenate(ws, axis=1), np.concatenate(ns, axis=1)


def merge_part(folder: Path, part: PartSpec) -> tuple[np.ndarray, np.ndarray]:
    """The part's rows as (wide, narrow) column blocks in arrival order; order columns hold global numbers."""
    with read_part(folder, part) as rows:
        return rows.whole()


def read_part(folder: Path, part: PartSpec) -> PartRows:
    """Part ``part``'s rows, ready to be read in arrival order (close it, or use it in a ``with``)."""
    return PartRows(folder, part)


class PartRows:
    """A part's rows in arrival order, read from the spool a slice at a time.

    Each spooled run is sorted, so the first m rows of the merge hold a prefix of every run:
    a slice of the merge is a contiguous range of each run, read column by column and put in
    order. Only the arrival order (int64 per row) and one slice are in memory at once, and a
    slice is exactly the rows the whole merge has at those positions.
    """

    def __init__(self, folder: Path, part: PartSpec):
        self._files = []
        try:
            for shard, lo, hi in part.slices:
                self._files.append((spool.open_shard(folder, shard), lo, hi))
            self.n = sum(hi - lo for _, lo, hi in self._files)
            ingest = np.empty(self.n, np.int64)
            _read(self._files, "wide", _INGEST, ingest)
            self._order = np.argsort(ingest, kind="stable")  # runs of sorted slices: timsort merges them
        except BaseException:
            self.close()
            raise

    @property
    def order(self) -> np.ndarray:
        """The merge's permutation: merged row m of the part is row ``order[m]`` of its runs' slices concatenated."""
        return self._order

    def __enter__(self) -> PartRows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for f, _, _ in self._files:
            f.close()
        self._files, self._order, self.n = [], np.zeros(0, np.int64), 0

    def whole(self) -> tuple[np.ndarray, np.ndarray]:
        """Every row at once."""
        if self.n == 0:
            return np.zeros((N_WIDE, 0), np.int64), np.zeros((N_NARROW, 0), np.int16)
        return next(self.slices(self.n))

    def slices(self, rows: int):
        """(wide, narrow) blocks of ``rows`` merged rows each (the last may be shorter), in arrival order."""
        if rows >= self.n > 0:  # one slice: the whole merge, in the runs' own order
            yield self._gather(self._files, self._order)
            return
        starts = np.cumsum([0] + [hi - lo for _, lo, hi in self._files])
        taken = np.zeros(len(self._files), np.int64)  # rows of each run already yielded
        for at in range(0, self.n, rows):
            picks = self._order[at:at + rows]
            run = np.searchsorted(starts, picks, side="right") - 1
            counts = np.bincount(run, minlength=len(self._files))
            offset = np.cumsum(counts) - counts  # where each run's rows sit in this slice's source order
            local = picks - starts[run] - taken[run] + offset[run]
            ranges = [(f, lo + int(t), lo + int(t + c)) for (f, lo, _), t, c in zip(self._files, taken, counts) if c]
            yield self._gather(ranges, local)
            taken += counts

    def _gather(self, ranges, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = local.shape[0]
        blocks = []
        for kind, dtype in (("wide", np.int64), ("narrow", np.int16)):
            width = getattr(ranges[0][0], kind).width
            out = np.empty((width, m), dtype)
            column = np.empty(m, dtype)
            for j in range(width):
                _read(ranges, kind, j, column)
                if kind == "wide" and j == _ORDER:
                    _number(column, ranges)
                np.take(column, local, out=out[j])
            blocks.append(out)
        return blocks[0], blocks[1]


def _read(files, kind: str, j: int, column: np.ndarray) -> None:
    at = 0
    for f, lo, hi in files:
        getattr(f, kind).read(j, lo, hi, column[at:at + hi - lo])
        at += hi - lo


def _number(local: np.ndarray, files) -> np.ndarray:
    """Shard-local order indexes -> global order numbers (each slice through its shard's ranks)."""
    at = 0
    for f, lo, hi in files:
        chunk = local[at:at + hi - lo]
        placed = chunk >= 0
        chunk[placed] = f.ranks[chunk[placed]]
        at += hi - lo
    return local
