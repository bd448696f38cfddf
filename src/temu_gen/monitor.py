"""Memory watch: peak RSS of this process and all its children, sampled by psutil.

Invariant: sampling runs on a daemon thread and never raises into the run; a child
that exits between listing and reading is skipped.
"""
from __future__ import annotations

import ctypes
import sys
import threading

import psutil


try:
    _LIBC = ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None
except OSError:
    _LIBC = None


def release_free_memory() -> None:
    """Give freed memory back to the OS: glibc's heap and Arrow's allocator both keep it otherwise, and a
    process that runs many tasks creeps up."""
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and its descendants right now."""
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
