"""The process pool: a task never waits for a worker that is gone, and workers start ready to work."""
import os
import signal
import subprocess
import sys
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


_READY_THEN_RUN = """
import sys
from pathlib import Path
import numba.core.dispatcher as dispatcher
from temu_gen import pool
from temu_gen.cli import main
from temu_gen.config import load

folder = Path(sys.argv[1])
cfg = load(None).with_run(events=60000, chunk_size=20000)
pool.ready_state(pool.WorkerSetup(cfg, 3, folder, folder, {}))
loads = []
first_use = dispatcher.Dispatcher._compile_for_args  # where numba goes for a signature it has not loaded yet


def noted(self, *args, **kwargs):
    loads.append(self.py_func.__name__)
    return first_use(self, *args, **kwargs)


dispatcher.Dispatcher._compile_for_args = noted
code = main(["--events", "60000", "--chunk-size", "20000", "--workers", "1", "--seed", "3", "--no-progress",
             "--output", str(folder / "out")])
print(code, sorted(set(loads)))
"""


def test_a_ready_state_has_loaded_every_kernel_a_run_calls(tmp_path):
    """Workers forked from :func:`pool.ready_state` never load a kernel, so numba's code loader (and LLVM's library,
    50 MiB of resident memory) never enters them: a whole run after it, in the same process, loads nothing more."""
    done = subprocess.run([sys.executable, "-c", _READY_THEN_RUN, str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "0 []", done.stdout
