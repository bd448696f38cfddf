"""The reduce stage's scheduler: a task counts as done only once every answer for its index is delivered.

Task 0's products table is written beside the map by a future of its own (``early``); ``--resume`` skips the
tasks the scheduler reports done, so reporting task 0 before its products table is delivered would lose it.
"""
from concurrent.futures import Future
from pathlib import Path

import pytest

from temu_gen.merge import PartSpec
from temu_gen.reduce import ChunkOutput, TaskOutput
from temu_gen.schedule import Limits, Progress, QuietBar, progress_bar, run_chunks, run_tasks
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
        delivered = {r.key for r in delivery.delivered}
        seen.append((set(progress.tasks), delivered))
        if "orders/part-00000.parquet" in delivered and not early.done():  # part 0's own files are all delivered
            early.set_result(_out(0, "products"))

    progress = Progress()
    run_chunks(_parts(2), _reduce, Executor(), Delivery(settle_late), Limits(2), Monitor(), progress, Bar(), {early: 0})
    before = [tasks for tasks, delivered in seen if "products/part-00000.parquet" not in delivered]
    assert any("orders/part-00000.parquet" in delivered for _, delivered in seen[:len(before)])
    assert all(0 not in tasks for tasks in before)
    assert progress.tasks == {0, 1} and "products/part-00000.parquet" in progress.records


def _products_done() -> Future:
    early: Future = Future()
    early.set_result(_out(0, "products"))
    return early


def _over_budget() -> Monitor:
    monitor = Monitor()
    monitor.sample = lambda: 200  # of a --max-memory of 100
    return monitor


class Recorder(Executor):
    """Notes, when part 0 is submitted, whether task 0 already counted as done and what was delivered."""

    def __init__(self, progress):
        super().__init__()
        self.progress, self.at_part_0 = progress, None

    def submit(self, fn, *args):
        if args[0].index == 0:
            self.at_part_0 = (0 in self.progress.tasks, set(self.progress.records))
        return super().submit(fn, *args)


@pytest.mark.parametrize("limits", [Limits(1), Limits(2, max_memory=100)])
def test_part_0_is_not_held_back_by_the_limits_its_products_table_takes(limits):
    """Part 0 is the same task as its early products table: --max-in-flight 1, or a tree already near
    --max-memory (the monitor reads 200 of 100), neither holds it back behind it, and task 0 never counts as done
    before part 0 was even submitted."""
    early, monitor, progress = _products_done(), _over_budget(), Progress()
    executor = Recorder(progress)
    run_chunks(_parts(3), _reduce, executor, Delivery(), limits, monitor, progress, Bar(), {early: 0})
    assert executor.at_part_0 == (False, set())  # submitted first, before anything was delivered
    assert executor.submitted == [0, 1, 2] and progress.tasks == {0, 1, 2}
    assert {"part-00000.parquet", "products/part-00000.parquet"} <= set(progress.records)


def test_a_failed_products_table_leaves_task_0_undone():
    early: Future = Future()
    early.set_exception(OSError("disk full"))
    progress = Progress()
    with pytest.raises(OSError, match="disk full"):
        run_chunks(_parts(2), _reduce, Executor(), Delivery(), Limits(2), Monitor(), progress, Bar(), {early: 0})
    assert 0 not in progress.tasks


class Slow(Executor):
    """Its tasks never finish (the map is still running); it settles a future only when asked to wait on it, as
    the Dask executor does, and gives up after a few waits instead of hanging the test."""

    def __init__(self, beside: Future, failure: Exception):
        super().__init__()
        self.beside, self.failure, self.waits = beside, failure, 0

    def submit(self, fn, *args) -> Future:
        return Future()

    def wait(self, futures, timeout):
        self.waits += 1
        assert self.waits < 5, "the stage went on waiting for its shards after the work beside them failed"
        if self.beside in futures and not self.beside.done():
            self.beside.set_exception(self.failure)
        return {f for f in futures if f.done()}


def test_the_map_ends_at_once_when_work_beside_it_fails():
    """A products table that fails (or whose worker died) while the shards still run ends the stage then."""
    beside: Future = Future()
    executor = Slow(beside, RuntimeError("a worker process died (killed by SIGKILL; out of memory?)"))
    with pytest.raises(RuntimeError, match="worker process died"):
        run_tasks([PartSpec(i, 0, 0, ()) for i in range(3)], lambda s: s, executor, watch=iter([beside]))


def test_the_map_does_not_wait_for_work_beside_it():
    beside: Future = Future()  # still running when the shards are done
    specs = [PartSpec(i, 0, 0, ()) for i in range(3)]
    assert run_tasks(specs, lambda s: s, Executor(), watch=[beside]) == specs


def test_early_answers_for_a_task_yielded_late_hold_nothing_back():
    """Whatever order the parts come in, task 0's early products table neither blocks part 1 under the limits nor
    lets task 0 finish before part 0 was submitted."""
    early, monitor, progress = _products_done(), _over_budget(), Progress()
    executor = Recorder(progress)
    parts = iter([PartSpec(1, 10, 10, ()), PartSpec(0, 0, 10, ())])
    run_chunks(parts, _reduce, executor, Delivery(), Limits(1, max_memory=100), monitor, progress, Bar(), {early: 0})
    assert executor.submitted == [1, 0] and executor.at_part_0[0] is False and progress.tasks == {0, 1}


def test_early_answers_for_a_task_the_run_does_not_hold_are_an_error():
    early: Future = Future()
    early.set_result(_out(7, "products"))
    with pytest.raises(ValueError, match=r"tasks \[7\]"):
        run_chunks(_parts(2), _reduce, Executor(), Delivery(), Limits(2), Monitor(), Progress(), Bar(), {early: 7})


class _Stderr:
    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("show, tty, drawn", [(None, True, True), (None, False, False), (True, False, True),
                                              (False, True, False)])
def test_a_bar_is_drawn_on_a_terminal_or_when_asked(monkeypatch, show, tty, drawn):
    err = _Stderr(tty)
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr("tqdm.tqdm.monitor_interval", 0)  # no monitor thread left behind in this process
    with progress_bar(show, 10, initial=2, unit="ev", desc="writing") as bar:
        bar.total += 5
        bar.update(3)
        assert (bar.n, bar.total) == (5, 15)
    assert isinstance(bar, QuietBar) is not drawn
    assert ("writing" in err.text) is drawn  # tqdm writes to the stderr of the moment it starts
