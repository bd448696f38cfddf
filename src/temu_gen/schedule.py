"""Scheduling: feed tasks to an executor and finished parts to a delivery, with bounded memory.

Invariant: at most ``max_in_flight`` tasks are generated but not yet delivered (and,
with ``max_memory``, none starts while the process tree is near that budget), so memory
and spool disk stay flat however large the run. Every finished part is handed to the
delivery before a failure is reported, and :class:`Progress` records what was delivered
even when the loop ends in an exception, so the error can say which chunks made it.
"""
from __future__ import annotations

import sys
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator

from .lifeline import deferred_signals
from .monitor import RssMonitor
from .sinks.base import Delivery, PartRecord

if TYPE_CHECKING:
    from tqdm import tqdm

_MEMORY_HEADROOM = 0.85  # hold back new chunks once the tree uses this share of --max-memory
_TICK = 0.05


class QuietBar:
    """The part of tqdm's bar a run uses, doing nothing: what a run shows where no bar is drawn."""

    def __init__(self, total: int = 0, initial: int = 0):
        self.total, self.n = total, initial

    def update(self, n: int = 1) -> None:
        self.n += n

    def __enter__(self) -> QuietBar:
        return self

    def __exit__(self, *exc) -> None:
        return None


def progress_bar(show: bool | None, total: int, **kwargs):
    """tqdm's bar when one is drawn (``show``, or None: stderr is a terminal), else a :class:`QuietBar`.

    tqdm's import is 20-25 ms of every start (its version lookup reads package metadata); a run in a
    pipeline, where stderr is a file or a pipe, never draws the bar, so it never pays that.
    """
    if sys.stderr is None or not (show or (show is None and _terminal(sys.stderr))):
        return QuietBar(total, kwargs.get("initial", 0))
    from tqdm import tqdm

    return tqdm(total=total, leave=False, **kwargs)


def _terminal(stream) -> bool:
    """Whether ``stream`` is a terminal (False for one that cannot say)."""
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


@dataclass
class Progress:
    """What a run has delivered so far (filled in as it goes)."""

    records: dict[str, PartRecord] = field(default_factory=dict)
    """Delivered files by key (:func:`temu_gen.sinks.base.file_key`)."""
    tasks: set[int] = field(default_factory=set)
    """Tasks whose every file was delivered."""
    spool_bytes: int = 0
    peak_spool_bytes: int = 0


@dataclass(frozen=True)
class Limits:
    max_in_flight: int
    max_memory: int | None = None


def run_tasks(specs: list, task, executor, bar: tqdm | QuietBar | None = None, watch: Iterable[Future] = ()) -> list:
    """Run ``task`` on every spec (each has ``.index``) and return the answers in spec order.

    For the map stage: answers are small and nothing is delivered, so every spec is
    submitted at once and the executor queues what its workers cannot take yet. ``watch``:
    other futures running beside them, not waited for, whose failure ends the stage at once.
    """
    futures = {executor.submit(task, s): s.index for s in specs}
    answers, watch = {}, tuple(watch)
    while futures:
        done = executor.wait(set(futures) | {f for f in watch if not f.done()}, timeout=_TICK)
        for fut in watch:
            if fut.done() and fut.exception() is not None:
                raise fut.exception()
        done &= set(futures)
        failure = None
        for fut in sorted(done, key=futures.pop):
            if fut.exception() is not None:
                failure = failure or fut.exception()
                continue
            answers[fut.result().index] = fut.result()
            if bar is not None:
                bar.update(1)
        if failure is not None:
            raise failure
    return [answers[s.index] for s in specs]


def run_chunks(todo: Iterator, task, executor, delivery: Delivery, limits: Limits, monitor: RssMonitor,
               progress: Progress, bar: tqdm | QuietBar, early: dict[Future, int] | None = None) -> None:
    """Run ``task`` on every part spec of ``todo`` and deliver every file it writes; returns when all are delivered.

    A task answers a :class:`~temu_gen.reduce.TaskOutput` (its files). ``early``: futures already submitted, each
    answering some of the files of a task that ``todo`` also holds (task 0's products table, written beside the
    map); a task is done once its ``todo`` spec was submitted, every answer of its index is back and each of their
    files is delivered. Such a task counts against the limits from its own submission on and is never held back
    by them, in whatever order ``todo`` yields it.
    """
    futures: dict[Future, int] = dict(early or {})
    in_flight: dict[int, int] = dict.fromkeys(futures.values(), 0)  # task index -> spool bytes (0 while generating)
    owed = set(in_flight)  # tasks with early answers whose own spec is still to be submitted
    waiting: dict[int, set[str]] = {}  # task index -> keys of its files not yet delivered
    failed: set[int] = set()  # tasks with an answer that failed: never done, whatever else of them arrives
    pending = next(todo, None)
    while pending is not None or in_flight:
        if pending is None and owed:
            raise ValueError(f"early answers for tasks {sorted(owed)}, which the run does not hold")
        # a task with early answers takes a place in flight from its own submission on, and is never held back
        while pending is not None and (pending.index in owed or len(in_flight) - len(owed) < limits.max_in_flight):
            if pending.index not in owed and limits.max_memory and len(in_flight) > len(owed) \
                    and monitor.sample() > _MEMORY_HEADROOM * limits.max_memory:
                break  # near the budget: wait until deliveries free memory
            in_flight.setdefault(pending.index, 0)
            owed.discard(pending.index)
            futures[executor.submit(task, pending)] = pending.index
            pending = next(todo, None)
        done = executor.wait(futures, timeout=_TICK) if futures else set()
        failure = None
        # A file that reaches the destination is counted in the same breath: a signal waits until both are done,
        # so a failure message names every task that --resume will find.
        with deferred_signals() as gate:
            # in task order, and every success is delivered before a failure is reported
            for fut, index in sorted(((f, futures.pop(f)) for f in done), key=lambda d: d[1]):
                if fut.exception() is not None:
                    failure = failure or fut.exception()
                    failed.add(index)
                    continue
                out = fut.result()
                size = sum(f.record.bytes for f in out.files)
                in_flight[out.index] += size
                waiting.setdefault(out.index, set()).update(f.record.key for f in out.files)
                progress.spool_bytes += size
                progress.peak_spool_bytes = max(progress.peak_spool_bytes, progress.spool_bytes)
                for f in out.files:
                    delivery.submit(f.record, f.path)
            for record in delivery.poll(timeout=0.0 if futures else _TICK):
                progress.records[record.key] = record
                if record.table == "events" and not record.poison:
                    bar.update(record.log_rows or record.rows)
                waiting[record.chunk].discard(record.key)
            for index in [i for i, left in waiting.items()
                          if not (left or i in failed or i in owed or i in futures.values())]:
                del waiting[index]
                progress.tasks.add(index)
                progress.spool_bytes -= in_flight.pop(index)
        gate.check()
        if failure is not None:
            raise failure
