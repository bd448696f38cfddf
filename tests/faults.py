"""In-process faults for runs made by the tests: a reduce task that fails at a chosen part.

Invariant: the fault lasts exactly as long as its ``with`` block; forked workers (pool or
Dask) inherit it because it replaces ``pool.read_part`` before they start.
"""
from __future__ import annotations

from contextlib import contextmanager

from temu_gen import pool


@contextmanager
def reduce_fails_at(index: int):
    """Part ``index``'s reduce task raises MemoryError; every other part is written as usual."""
    real = pool.read_part

    def dies(folder, part):
        if part.index == index:
            raise MemoryError("simulated")
        return real(folder, part)

    pool.read_part = dies
    try:
        yield
    finally:
        pool.read_part = real
