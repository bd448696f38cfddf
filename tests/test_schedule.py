"""The reduce stage's scheduler: a task counts as done only once every answer for its index is delivered.

Task 0's products table is written beside the map by a future of its own (``early``); ``--resume`` skips the
tasks the scheduler reports done, so reporting task 0 before its products table is delivered would lose it.
"""
from concurrent.futures import Future
from pathlib import Path

import pytest

from temu_gen.merge import PartSpec
from temu_gen.reduce import ChunkOutput, TaskOutput
from temu_gen.schedule import Limits, Progress, run_chunks
from temu_gen.sinks.base import PartRecord


def _out(index: int, *tables: str) -> TaskOutput:
    return TaskOutput(index, tuple(ChunkOutput(PartRecord(index, f"part-{index:05d}.parquet", 1, 10, "x", table=t),
                                               Path(f"/nowhere/{t}-{index}")) for t in tables))


class Executor:
    """Runs a task when it is submitted; ``later`` futures are settled by the test's own hand."""

    def __init__(self):
        self.submitted = []

    def submit(self, fn, *args) -> Future:
        self.submitted.append(args[0].index)
        f: Future = Future()
        f.set_result(fn(*args))
        return f

    def wait(self, futures, timeout):
        return {f for f in futures if f.done()}


class Delivery:
    def __init__(self, on_poll=None):
        self.queue, self.delivered, self.on_poll = [], [], on_poll

    def submit(self, record, path):
        self.queue.append(record)

    def poll(self, timeout):
        if self.on_poll is not None:
            self.on_poll(self)
        out, self.queue = self.queue, []
        self.delivered += out
        return out


class Monitor:
    def sample(self):
        return 0


class Bar:
    def update(self, n):
        pass


def _reduce(part: PartSpec) -> TaskOutput:
    return _out(part.index, "events", "users", "orders")


def _parts(n: int):
    return iter([PartSpec(i, i * 10, 10, ()) for i in range(n)])


def test_task_0_is_done_with_its_early_products_table():
    early: Future = Future()
    early.set_result(_out(0, "products"))
    progress, delivery = Progress(), Delivery()
    run_chunks(_parts(3), _reduce, Executor(), delivery, Limits(2), Monitor(), progress, Bar(), {early: 0})
    assert progress.tasks == {0, 1, 2}
    assert {"products/part-00000.parquet", "users/part-00000.parquet", "part-00000.parquet"} <= set(progress.records)
    assert progress.spool_bytes == 0
    assert len(delivery.delivered) == 10


def test_task_0_waits_for_its_products_table_however_late():
    early: Future = Future()
    seen = []

    def settle_late(delivery):
        seen.append(set(progress.tasks))
        if len(seen) == 3 and not early.done():  # part 0's own files are long delivered by now
            early.set_result(_out(0, "products"))

    progress = Progress()
    run_chunks(_parts(2), _reduce, Executor(), Delivery(settle_late), Limits(1), Monitor(), progress, Bar(), {early: 0})
    assert all(0 not in tasks for tasks in seen[:3])
    assert progress.tasks == {0, 1} and "products/part-00000.parquet" in progress.records


def test_a_failed_products_table_leaves_task_0_undone():
    early: Future = Future()
    early.set_exception(OSError("disk full"))
    progress = Progress()
    with pytest.raises(OSError, match="disk full"):
        run_chunks(_parts(2), _reduce, Executor(), Delivery(), Limits(2), Monitor(), progress, Bar(), {early: 0})
    assert 0 not in progress.tasks
