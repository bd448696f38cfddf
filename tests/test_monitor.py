"""monitor.adaptive_malloc: a process started with Dask's pinned malloc thresholds gets glibc's adaptive ones back.

The oracle is the page faults of reallocating one 1 MiB block: with the thresholds pinned low, every block is
mapped anew and faults in page by page; with the adaptive ones it is reused from the heap.
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
from temu_gen.monitor import adaptive_malloc

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        np.ones(1 << 20, dtype=np.uint8)  # 1 MiB, written, freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults()
first = faults()
changed = adaptive_malloc()
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


def test_an_explicit_mmap_threshold_is_the_users_choice():
    got = _probe(MALLOC_TRIM_THRESHOLD_="65536", MALLOC_MMAP_THRESHOLD_="131072")
    assert not got["changed"]


def test_only_the_initial_environment_counts():
    # a forked child whose os.environ gained the variable later (a LocalCluster's nanny does this) runs with
    # glibc's adaptive thresholds, read once at start: nothing to undo
    code = ("import os; os.environ['MALLOC_TRIM_THRESHOLD_'] = '65536'; "
            "from temu_gen.monitor import adaptive_malloc; print(adaptive_malloc())")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _psutil_tree_rss(proc) -> int:
    return proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))


def test_tree_rss_counts_every_descendant_as_psutil_does(tmp_path):
    import threading
    import time

    import psutil

    from temu_gen import monitor

    # a child with a grandchild, and a child started from a thread (the kernel lists it under that thread)
    started = [subprocess.Popen([sys.executable, "-c", "import subprocess, time; "
                                 "subprocess.Popen(['sleep', '30']); time.sleep(30)"])]
    thread = threading.Thread(target=lambda: started.append(subprocess.Popen(["sleep", "30"])))
    thread.start()
    thread.join()
    me = psutil.Process()
    try:
        deadline = time.monotonic() + 20
        while len(me.children(recursive=True)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(me.children(recursive=True)) == 3
        tree = monitor._kernel_tree(me.pid)
        assert tree is not None, "this Linux kernel has no /proc/PID/task/TID/children"
        assert sorted(tree) == sorted([me.pid, *(c.pid for c in me.children(recursive=True))])
        assert abs(monitor.tree_rss(me) - _psutil_tree_rss(me)) < 2 << 20  # the same pages, read a moment apart
    finally:
        for p in me.children(recursive=True):
            p.kill()
        for p in started:
            p.wait()


def test_tree_rss_falls_back_to_psutil_without_the_kernels_lists(monkeypatch):
    import psutil

    from temu_gen import monitor

    monkeypatch.setattr(monitor, "_kernel_tree", lambda pid: None)
    me = psutil.Process()
    assert abs(monitor.tree_rss(me) - _psutil_tree_rss(me)) < 2 << 20
