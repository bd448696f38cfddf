"""Memory: the peak RSS of this process and all its children, sampled while a run lasts, and glibc's malloc
settings that decide how much of it comes back to the system.

Invariant: sampling runs on a daemon thread and never raises into the run; a child or thread that exits
between listing and reading is skipped. Nothing here imports numba or Arrow.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading

import psutil


try:
    _LIBC = ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None
except OSError:
    _LIBC = None
if _LIBC is not None:
    _LIBC.mallopt.argtypes, _LIBC.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int


def release_free_memory() -> None:
    """Give freed memory back to the OS: glibc's heap and Arrow's allocator both keep it otherwise, and a
    process that runs many tasks creeps up."""
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
_MMAP_THRESHOLD = 32 << 20
"""The ceiling of glibc's adaptive mmap threshold on 64-bit (``DEFAULT_MMAP_THRESHOLD_MAX``)."""


def unpin_malloc() -> bool:
    """Undo a ``MALLOC_TRIM_THRESHOLD_`` this process was started with (Dask's nanny sets 64 KiB for its workers).

    Any such variable switches off glibc's adaptive thresholds, which leaves the mmap threshold at 128 KiB: every
    block of that size or more is mapped on allocation and unmapped on free, so a task's columns and Arrow's
    buffers fault in page by page every time (a reduce task took 0.69-0.88 s in such a Dask worker, 0.47-0.63 s
    after this call). Sets the thresholds to the adaptive rule's ceiling (mmap 32 MiB, trim twice that, as glibc
    would after freeing a block that large); they stay fixed there. Memory still goes back to the system after
    each slice and task through :func:`release_free_memory`.

    Only the process's initial environment counts: glibc reads it once at start, so a forked child's later
    ``os.environ`` does not apply. A threshold the user set (``MALLOC_MMAP_THRESHOLD_``, or ``mmap_threshold``
    in ``GLIBC_TUNABLES``) is left alone. Returns whether it changed anything.
    """
    if _LIBC is None:
        return False
    try:
        with open("/proc/self/environ", "rb") as f:
            env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    except OSError:
        return False
    if (b"MALLOC_TRIM_THRESHOLD_" not in env or b"MALLOC_MMAP_THRESHOLD_" in env
            or b"glibc.malloc.mmap_threshold" in env.get(b"GLIBC_TUNABLES", b"")):
        return False
    mmap = _LIBC.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)  # 1 on success
    trim = _LIBC.mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD)
    return bool(mmap or trim)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _kernel_tree(pid: int) -> set[int] | None:
    """``pid`` and its descendants from the kernel's own child lists (``/proc/PID/task/TID/children``), or None
    where the kernel keeps none (not Linux, or built without ``CONFIG_PROC_CHILDREN``).

    It reads only the tree's own files: psutil's ``children()`` reads the status of every process on the machine
    (1.3 ms a sample with 70 processes, and linear in them), and the run samples 20 times a second. Each thread
    has its own list (a LocalCluster's workers are forked by its event-loop thread), so every thread is read, and
    one that ends mid-walk skips only itself.
    """
    if not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
        return None
    tree, todo = set(), [pid]
    while todo:
        pid = todo.pop()
        if pid in tree:  # a child reparented while the walk ran is listed twice
            continue
        tree.add(pid)
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:  # the process ended
            continue
        for tid in threads:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    todo.extend(map(int, f.read().split()))
            except OSError:  # the thread ended
                pass
    return tree


def _rss(pid: int) -> int:
    """Resident bytes of ``pid`` (``statm``'s second field, as psutil reads it), 0 for one that has ended."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and its descendants right now: from the kernel's child lists where it keeps
    them, else through psutil."""
    tree = _kernel_tree(proc.pid)
    if tree is not None:
        return sum(map(_rss, tree))
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total


class RssMonitor:
    """Samples the process tree's RSS every ``interval`` seconds; use as a context manager."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak = 0
        self.current = 0
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-monitor", daemon=True)

    def sample(self) -> int:
        try:
            self.current = tree_rss(self._proc)
        except psutil.Error:
            return self.current
        self.peak = max(self.peak, self.current)
        return self.current

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> RssMonitor:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
