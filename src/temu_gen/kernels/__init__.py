"""Numba kernels: pure array code that simulates the event log.

Invariant: this package imports only numpy, numba and math. It reads no files,
environment or clock, and every kernel is a function of its seed arguments and the
arrays it is handed (checked by ``tests/test_imports.py``).
"""
from .entities import product_prices, user_table
from .columns import split_columns
from .ids import format_ids
from .sessions import simulate_journeys

__all__ = ["simulate_journeys", "split_columns", "format_ids", "user_table", "product_prices"]
