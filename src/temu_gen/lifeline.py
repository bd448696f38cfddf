"""Child processes that cannot outlive the coordinator, and signals that unwind it cleanly.

Invariant: every worker and uploader process calls :func:`die_with_parent` first, so the
kernel kills it (SIGKILL) the moment the coordinator exits, however it exits (kill -9
included); nothing of a run writes after its coordinator is gone. In the coordinator,
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


def set_process_name(name: str) -> None:
    """Show ``name`` in ``ps``/``top`` for the calling thread (the main one: the process); Linux only."""
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def _raise_terminated(signum, _frame):
    raise Terminated(signum)


def install_termination_handlers() -> None:
    """SIGTERM and SIGHUP unwind the coordinator like Ctrl-C (main thread only)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_terminated)


def child_signal_defaults() -> None:
    """Workers and the uploader: Ctrl-C reaches the whole process group, but only the
    coordinator decides what happens next; SIGTERM kills them outright."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class SignalGate:
    """Signals held back by :func:`deferred_signals`; :meth:`check` acts on them."""

    def __init__(self) -> None:
        self.pending: list[int] = []

    def check(self) -> None:
        """Raise the first held-back signal now (before a point of no return)."""
        if self.pending:
            signum = self.pending[0]
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated(signum)


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGINT, SIGTERM and SIGHUP back during a commit; yields a :class:`SignalGate`.

    The commit calls ``gate.check()`` just before its point of no return (``_SUCCESS``),
    so an interruption either stops the commit before it or arrives after it is
    complete. A signal that arrives after the last check finds the run committed, and the
    process ends normally moments later.
    """
    gate = SignalGate()
    if threading.current_thread() is not threading.main_thread():
        yield gate
        return
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, lambda signum, _f: gate.pending.append(signum)) for s in sigs}
    try:
        yield gate
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
