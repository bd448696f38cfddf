"""Run layout: the only place that turns a row count into parts.

Invariant: parts tile [0, events) exactly, in order, each ``chunk_size`` rows except a
smaller last one, and part *k*'s spec depends only on (events, chunk_size, k). The
layout is lazy: a spec is computed when asked for, so planning costs nothing however
large the run.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class ChunkSpec(NamedTuple):
    """Part ``index`` holds log rows [row_start, row_start + n_rows)."""

    index: int
    row_start: int
    n_rows: int


class ChunkPlan(Sequence):
    """The run's parts, computed on demand: ``plan[k]`` is part *k*."""

    def __init__(self, events: int, chunk_size: int):
        self.events = events
        self.size = min(chunk_size, events)
        self._n = -(-events // self.size)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(self._n))]
        if not -self._n <= k < self._n:
            raise IndexError(k)
        k %= self._n
        start = k * self.size
        return ChunkSpec(k, start, min(self.size, self.events - start))


def plan_chunks(events: int, chunk_size: int) -> ChunkPlan:
    """Cut a run of ``events`` rows into parts of ``chunk_size`` rows."""
    return ChunkPlan(events, chunk_size)
