"""tracebacks.clip: a failed task's exceptions keep their messages and chains, and pickle as Dask pickles them."""
from __future__ import annotations

import pickle
import sys

import pytest

from temu_gen import tracebacks

pickling_support = pytest.importorskip("tblib.pickling_support", reason="tblib comes with dask[distributed]")


def _depth(e: BaseException) -> int:
    n, tb = 0, e.__traceback__
    while tb is not None:
        n, tb = n + 1, tb.tb_next
    return n


def _frames(e: BaseException) -> list[str]:
    out, tb = [], e.__traceback__
    while tb is not None:
        out.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return out


def _recurse(n: int):
    return _recurse(n + 1)


def _deep_failure() -> RecursionError:
    try:
        _recurse(0)
    except RecursionError as e:
        return e
    raise AssertionError("no RecursionError")


def _as_dask_sends_it(e: BaseException) -> bytes:
    """What distributed does with a task's exception: tblib's pickling of it and everything chained to it."""
    pickling_support.install(e)
    return pickle.dumps(e)


def test_a_deep_traceback_keeps_both_ends_and_then_pickles():
    e = _deep_failure()
    assert _depth(e) > 500
    with pytest.raises(RecursionError):  # the failure this guards against
        _as_dask_sends_it(e)
    e = _deep_failure()
    outer, inner = _frames(e)[:20], _frames(e)[-20:]
    tracebacks.clip(e)
    assert _depth(e) == 40 and _frames(e) == outer + inner
    back = pickle.loads(_as_dask_sends_it(e))
    assert isinstance(back, RecursionError) and str(back) == str(e)


def test_a_short_traceback_is_left_whole():
    try:
        _recurse_to(10)
    except ValueError as e:
        before = _frames(e)
        tracebacks.clip(e)
        assert _frames(e) == before


def _recurse_to(n: int):
    if n == 0:
        raise ValueError("bottom")
    return _recurse_to(n - 1)


def test_causes_contexts_and_groups_are_clipped_too():
    deep = _deep_failure()
    try:
        try:
            raise deep
        except RecursionError:
            raise OSError("disk full while failing") from _deep_failure()  # a cause, and the context beside it
    except OSError as e:
        outer = e
    beside = _deep_failure()
    groups = sys.version_info >= (3, 11)  # BaseExceptionGroup is 3.11's
    tracebacks.clip(BaseExceptionGroup("two", [outer, beside]) if groups else outer)
    for e in (outer, outer.__cause__, outer.__context__, *([beside] if groups else [])):
        assert _depth(e) <= 40
    assert outer.__context__ is deep and outer.__cause__ is not deep
    pickle.loads(_as_dask_sends_it(outer))


def test_a_cycle_in_the_chain_ends():
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    tracebacks.clip(a)  # returns
