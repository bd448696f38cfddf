"""Run planning: the only place that turns a row count into chunks.

Invariant: chunks tile [0, events) exactly, in order, each ``chunk_size`` rows except
a smaller last one, and chunk *k*'s spec depends only on (events, chunk_size, seed, k).
The plan is lazy: a spec is computed when asked for, so planning costs nothing however
large the run.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .seeds import derive_seed


class ChunkSpec(NamedTuple):
    """Where chunk ``index`` sits in the run and the seeds of its streams."""

    index: int
    row_start: int
    n_rows: int
    total_rows: int
    session_seed: int

    @property
    def quantiles(self) -> tuple[float, float]:
        """The slice of the run's traffic curve that this chunk's sessions start in."""
        return self.row_start / self.total_rows, (self.row_start + self.n_rows) / self.total_rows


class ChunkPlan(Sequence):
    """The run's chunks, computed on demand: ``plan[k]`` is chunk *k*."""

    def __init__(self, events: int, chunk_size: int, seed: int):
        self.events, self.seed = events, seed
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
        return ChunkSpec(k, start, min(self.size, self.events - start), self.events, derive_seed(self.seed, "sessions", k))


def plan_chunks(events: int, chunk_size: int, seed: int) -> ChunkPlan:
    """Cut a run of ``events`` rows into chunks of ``chunk_size`` rows."""
    return ChunkPlan(events, chunk_size, seed)
