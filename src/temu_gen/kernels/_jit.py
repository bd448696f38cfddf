"""The single owner of numba's options: every kernel is compiled through :func:`jit` or :func:`jit_alloc`.

Invariant: all kernels are cached on disk (``cache=True``) so a process that finds a
warm cache never compiles; they are compiled for numba's portable ``generic`` CPU
target (unless ``NUMBA_CPU_NAME`` says otherwise), so a cache built on one x86-64
Linux machine loads on any other (see :mod:`temu_gen.jitcache`); and they release
the GIL (``nogil=True``) so threads can run them side by side. ``error_model="numpy"``
keeps division by zero from raising inside hot loops; ``boundscheck`` stays off for
speed and is switched on by tests via ``NUMBA_BOUNDSCHECK=1``.

Why a portable target: the kernels are scalar, branchy code that gains nothing from the
host's wider vector units (one core, 500k-event shard, interleaved, 2026-12-02: 2.3-3.1M
events/s for the host's ``znver4`` against 2.7-4.0M for ``generic``), and a portable cache can
ship with the package, which turns a first run's two minutes of compiling into a second.

Why two decorators: numba's runtime (NRT) reference-counts every array a function
touches, and each count is an atomic operation; measured here, a client event written
through three small helpers cost 135 ns with NRT and 22 ns without. So every helper
that only reads and writes arrays it is handed is compiled without NRT (:func:`jit`),
and only the few entry points that allocate arrays keep it (:func:`jit_alloc`). A
:func:`jit` function must never create, slice-and-keep or return an array.
"""
import hashlib
import os
from pathlib import Path

import numba

_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


def _cache_dir() -> str:
    """A cache folder per version of the kernels' source (and numba).

    numba checks a cached function against its own file only, so a kernel that calls a
    helper in another file would keep stale machine code after that file changed; keying
    the folder by every kernel file makes a stale cache impossible. The folder is under
    ``$NUMBA_CACHE_DIR`` when it is set, else the user's cache (installed packages may be
    read-only).
    """
    h = hashlib.sha256(f"{numba.__version__}|{sorted(_OPTIONS.items())}".encode())
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode() + f.read_bytes())
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "temu-gen", "numba")
    return os.path.join(base, h.hexdigest()[:16])


if os.environ.get("NUMBA_CPU_NAME") is None:
    # before any kernel is compiled or loaded: numba reads these when it first builds its CPU target
    numba.config.CPU_NAME, numba.config.CPU_FEATURES = "generic", ""
numba.config.CACHE_DIR = _cache_dir()


def jit(fn):
    """Compile a helper that allocates nothing (no reference counting: see the module docstring)."""
    return numba.njit(_nrt=False, **_OPTIONS)(fn)


def jit_inline(fn):
    """A hot helper inlined into its caller at numba's level.

    numba passes a tuple argument as all of its fields, one by one, so a call that hands
    down the parameter groups (dozens of arrays) costs more than the work it does; LLVM
    rarely inlines such calls by itself. Inlining the per-session steps and the per-event
    leaves (writing a row, a think time, a price) took the kernels from 1.4 to 2.5 million
    events per second per core (measured); inlining everything was slower and doubled the
    compile time, so only those carry this decorator.
    """
    return numba.njit(_nrt=False, inline="always", **_OPTIONS)(fn)


def jit_alloc(fn):
    """Compile an entry point that allocates arrays (NRT on)."""
    return numba.njit(**_OPTIONS)(fn)
