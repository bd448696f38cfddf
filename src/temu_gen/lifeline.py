"""Child processes that cannot outlive the coordinator, and signals that unwind it cleanly.

Invariant: every worker and uploader process calls :func:`die_with_parent` first (the uploader
in its own code; the pool's workers and a Dask LocalCluster's, which Dask forks from its own
threads, at the fork itself, through :func:`children_die_with_me`), so the kernel kills it (SIGKILL) the moment
the coordinator exits, however it exits (kill -9 included); nothing of a run writes after
its coordinator is gone. In the coordinator,
SIGTERM and SIGHUP raise :class:`~temu_gen.errors.Terminated` like Ctrl-C raises
KeyboardInterrupt, and :func:`deferred_signals` holds them back during a commit so a
commit is either not begun or complete.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading

from .errors import Terminated

_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(parent_pid: int, name: str) -> None:
    """Make this process die with ``parent_pid`` and show ``name`` in ``ps``/``top``.

    Linux: PR_SET_PDEATHSIG, then a check that the parent did not die before it took
    effect. Elsewhere: a daemon thread polls the parent once a second.
    """
    prctl = _prctl()
    if prctl is not None and prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
        prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died between fork and prctl
            os._exit(1)
        return

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            threading.Event().wait(1.0)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


_HOLDER: int | None = None
"""The pid whose forked children die with it (:func:`children_die_with_me`); None: no one's."""
_HOOKED = False


def _after_fork_in_child() -> None:
    if _HOLDER is not None and os.getppid() == _HOLDER:
        die_with_parent(_HOLDER, "temu-gen-worker")
        # before any of the worker's own start-up: the coordinator's handlers, inherited, would raise Terminated
        # in a worker that a signal to the process group reaches while it starts (a traceback per worker)
        child_signal_defaults()


def children_die_with_me(on: bool) -> None:
    """While on, every process this one forks (from any thread) calls :func:`die_with_parent` and takes the
    workers' signal handling (:func:`child_signal_defaults`) at once. Only worker processes may be forked meanwhile.

    For workers forked by code that is not ours (Dask's LocalCluster): Dask's own watch is a thread
    reading a pipe that the coordinator's death closes, which needs the worker's GIL and every copy
    of the pipe closed, and a sibling forked later holds one. A kill -9 of the coordinator left
    workers alive for over 30 s (an hour, unwatched). The kernel's PR_SET_PDEATHSIG needs neither.
    """
    global _HOLDER, _HOOKED
    if on and not _HOOKED:
        os.register_at_fork(after_in_child=_after_fork_in_child)  # permanent: _HOLDER switches it on and off
        _HOOKED = True
    _HOLDER = os.getpid() if on else None


def set_process_name(name: str) -> None:
    """Show ``name`` in ``ps``/``top`` for the calling thread (the main one: the process); Linux only."""
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


_STOPS: list[int] = []
"""Stop signals this process has had since :func:`install_termination_handlers`: the first one stops the run."""


def _stop(signum, _frame):
    """The first stop signal unwinds the run (KeyboardInterrupt, or Terminated); one more is held, so a quick second
    Ctrl-C cannot land between the first and the clean-up's own hold (:func:`deferred_signals`); a third acts."""
    _STOPS.append(signum)
    if len(_STOPS) == 2:
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def install_termination_handlers() -> None:
    """SIGTERM and SIGHUP unwind the coordinator like Ctrl-C, and a second stop signal is held (main thread only)."""
    _STOPS.clear()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)


def child_signal_defaults() -> None:
    """Workers and the uploader: Ctrl-C reaches the whole process group, but only the
    coordinator decides what happens next; SIGTERM kills them outright."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class SignalGate:
    """Signals held back by :func:`deferred_signals`; :meth:`check` acts on them."""

    def __init__(self, pending: list[int] | None = None) -> None:
        self.pending: list[int] = pending or []

    def check(self) -> None:
        """Raise the first held-back signal now (before a point of no return)."""
        if self.pending:
            signum = self.pending[0]
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated(signum)


@contextlib.contextmanager
def deferred_signals(patience: int | None = None):
    """Hold SIGINT, SIGTERM and SIGHUP back during a commit; yields a :class:`SignalGate`.

    The commit calls ``gate.check()`` just before its point of no return (``_SUCCESS``),
    so an interruption either stops the commit before it or arrives after it is
    complete. A signal that arrives after the last check finds the run committed, and the
    process ends normally moments later. Third-party code that drops exceptions (Cython)
    runs under it too: a signal is only recorded, and ``check`` raises it in our code.
    ``patience``: the signal that would be the ``patience``-th held one acts at once instead
    (a clean-up that hangs can still be interrupted).
    """
    gate = SignalGate(_STOPS[1:] if patience is not None else None)  # a clean-up counts the one already held
    if threading.current_thread() is not threading.main_thread():
        yield gate
        return
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def hold(signum, _frame):
        if patience is not None and len(gate.pending) + 1 >= patience:
            for s, handler in old.items():
                signal.signal(s, handler)
            SignalGate([signum]).check()
        gate.pending.append(signum)

    old = {s: signal.signal(s, hold) for s in sigs}
    try:
        yield gate
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
