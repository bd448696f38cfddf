"""Numba kernels: pure array code that simulates the event log.

Invariant: this package imports only numpy, numba and math. It reads no files,
environment or clock, and every kernel is a function of its seed arguments and the
arrays it is handed (checked by ``tests/test_imports.py``). The package itself imports
nothing, so ``kernels.codes`` (plain constants) loads without numba: the data contract
and the config use it without compiling anything.
"""
