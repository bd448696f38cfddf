"""monitor: the run's memory sampler (tree_rss) and the malloc thresholds of a Dask worker (unpin_malloc).

unpin_malloc's oracle is the page faults of reallocating one 1 MiB block: with the thresholds pinned low, every
block is mapped anew and faults in page by page; unpinned, it is reused from the heap. tree_rss's is psutil.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")

_PROBE = """
import json, resource, numpy as np
from temu_gen.monitor import unpin_malloc

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        np.ones(1 << 20, dtype=np.uint8)  # 1 MiB, written, freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults()
first = faults()
changed = unpin_malloc()
print(json.dumps({"changed": changed, "before": first, "after": faults()}))
"""


def _probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_dasks_pinned_threshold_is_undone_and_blocks_are_reused():
    got = _probe(MALLOC_TRIM_THRESHOLD_="65536")  # what a `dask worker` nanny starts its workers with
    assert got["changed"]
    assert got["before"] >= 50 * 200  # 256 pages per block, every time
    assert got["after"] < got["before"] / 10


def test_a_process_started_without_it_is_left_alone():
    got = _probe()
    assert not got["changed"]
    assert got["before"] < 50 * 50  # glibc's adaptive threshold already reuses the block


@pytest.mark.parametrize("choice", [{"MALLOC_MMAP_THRESHOLD_": "131072"},
                                    {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"}])
def test_an_explicit_mmap_threshold_is_the_users_choice(choice):
    got = _probe(MALLOC_TRIM_THRESHOLD_="65536", **choice)
    assert not got["changed"]
    assert got["after"] >= 50 * 200  # still pinned


def test_only_the_initial_environment_counts():
    # a forked child whose os.environ gained the variable later (a LocalCluster's nanny does this) runs with
    # glibc's adaptive thresholds, read once at start: nothing to undo
    code = ("import os; os.environ['MALLOC_TRIM_THRESHOLD_'] = '65536'; "
            "from temu_gen.monitor import unpin_malloc; print(unpin_malloc())")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _psutil_tree_rss(proc) -> int:
    return proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))


def test_tree_rss_counts_every_descendant_as_psutil_does():
    import threading
    import time

    import psutil

    from temu_gen import monitor

    # other fixtures' processes (a moto server) may be children of this one too: only ours are started and killed
    child = subprocess.Popen([sys.executable, "-c", "import subprocess, time; "
                              "subprocess.Popen(['sleep', '30']); time.sleep(30)"])
    from_thread, release = [], threading.Event()

    def start_and_wait() -> None:  # alive through the checks: the kernel lists its child under this thread
        from_thread.append(subprocess.Popen(["sleep", "30"]))
        release.wait(30)

    thread = threading.Thread(target=start_and_wait)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not (from_thread and psutil.Process(child.pid).children()) and time.monotonic() < deadline:
            time.sleep(0.05)
        grandchild = psutil.Process(child.pid).children()[0]
        me = psutil.Process()
        tree = monitor._kernel_tree(me.pid)
        assert tree is not None, "this Linux kernel has no /proc/PID/task/TID/children"
        assert {me.pid, child.pid, grandchild.pid, from_thread[0].pid} <= tree
        assert tree == {me.pid, *(c.pid for c in me.children(recursive=True))}
        assert abs(monitor.tree_rss(me) - _psutil_tree_rss(me)) < 2 << 20  # the same pages, read a moment apart
    finally:
        release.set()
        thread.join()
        for p in (*psutil.Process(child.pid).children(), child, *from_thread):
            p.kill()
        child.wait()
        from_thread[0].wait()


def test_tree_rss_falls_back_to_psutil_without_the_kernels_lists(monkeypatch):
    import psutil

    from temu_gen import monitor

    asked = []
    real = psutil.Process.children
    monkeypatch.setattr(psutil.Process, "children", lambda self, **kw: asked.append(kw) or real(self, **kw))
    monkeypatch.setattr(monitor, "_kernel_tree", lambda pid: None)
    me = psutil.Process()
    assert abs(monitor.tree_rss(me) - _psutil_tree_rss(me)) < 2 << 20
    assert {"recursive": True} in asked
