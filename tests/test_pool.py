"""The process pool when its workers die: a task never waits for a worker that is gone."""
import os
import signal
import time

import pytest

from temu_gen.pool import ProcessPool, WorkerDied


def _nothing() -> None:
    pass


def _kill(pid: int) -> None:
    """SIGKILL ``pid`` and wait until it is a zombie (dead, not yet reaped by the pool)."""
    os.kill(pid, signal.SIGKILL)
    while open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)


def test_tasks_fail_when_every_worker_died_while_idle():
    pool = ProcessPool(2, _nothing, ())
    try:
        for pid in pool.pids:
            _kill(pid)
        future = pool.submit(abs, -3)
        assert pool.wait({future}, timeout=1.0) == {future}  # failed at once (it used to spin for ever)
        with pytest.raises(WorkerDied, match=r"a worker process died \(killed by SIGKILL; out of memory\?\)"):
            future.result()
    finally:
        pool.close(kill=True)


def test_a_worker_that_died_while_idle_leaves_the_rest_working():
    pool = ProcessPool(2, _nothing, ())
    try:
        _kill(pool.pids[0])
        futures = [pool.submit(abs, -i) for i in range(4)]
        deadline = time.monotonic() + 30
        while not all(f.done() for f in futures) and time.monotonic() < deadline:
            pool.wait(futures, timeout=0.05)
        assert [f.result() for f in futures] == [0, 1, 2, 3]
    finally:
        pool.close(kill=True)
