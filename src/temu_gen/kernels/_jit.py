"""The single owner of numba's options: every kernel is compiled through :func:`jit`.

Invariant: all kernels are cached on disk (``cache=True``) so a process that finds a
warm cache never compiles, and they release the GIL (``nogil=True``) so threads can
run them side by side. ``error_model="numpy"`` keeps division by zero from raising
inside hot loops; ``boundscheck`` stays off for speed and is switched on by tests via
``NUMBA_BOUNDSCHECK=1``.
"""
import numba

_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


def jit(fn):
    """Compile ``fn`` with the project's numba options."""
    return numba.njit(**_OPTIONS)(fn)
