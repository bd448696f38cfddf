"""Tracebacks short enough to travel: a failed task's exception is pickled on its way to the coordinator.

Invariant: :func:`clip` keeps the exception, its message and every exception chained to it (cause, context,
the members of a group); only the middle of a long traceback goes, replaced by nothing.
"""
from __future__ import annotations

KEEP_FRAMES = 20
"""Frames a traceback keeps at each end."""


def clip(error: BaseException, keep: int = KEEP_FRAMES) -> None:
    """Cut every traceback in ``error``'s chain to its outer and inner ``keep`` frames, in place.

    Dask pickles a failed task's exceptions with their tracebacks, recursively, frame by frame (tblib): a deep
    one (a RecursionError's thousand frames) fails to pickle on the worker, the worker's report of the failure is
    lost, and the coordinator waits for the task for ever. The coordinator prints one line either way.
    """
    seen: set[int] = set()
    todo = [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        frames = []
        tb = e.__traceback__
        while tb is not None:
            frames.append(tb)
            tb = tb.tb_next
        if len(frames) > 2 * keep:
            frames[keep - 1].tb_next = frames[-keep]
        todo += [e.__cause__, e.__context__, *getattr(e, "exceptions", ())]
