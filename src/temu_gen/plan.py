"""Run planning: the only place that turns a row count into chunks.

Invariant: chunks tile [0, events) exactly, in order, each ``chunk_size`` rows except
a smaller last one, and chunk *k*'s spec depends only on (events, chunk_size, seed, k).
"""
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


def plan_chunks(events: int, chunk_size: int, seed: int) -> list[ChunkSpec]:
    """Cut a run of ``events`` rows into chunks of ``chunk_size`` rows."""
    size = min(chunk_size, events)
    return [
        ChunkSpec(k, start, min(size, events - start), events, derive_seed(seed, "sessions", k))
        for k, start in enumerate(range(0, events, size))
    ]
