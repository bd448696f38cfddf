"""Measure a whole process as a user starts it: wall seconds and the peak memory of its process tree.

Invariant: sampling never fails the measured run: a process that ends between listing and reading
is skipped, and where the kernel cannot report PSS (some sandboxes), PSS stays 0.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil


DASK_QUIET = {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False", "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s"}
"""The environment a benchmark's running Dask cluster starts with: no sampling profiler waking every 10 ms and
slow health ticks beside the tasks, as a LocalCluster sets for itself (``dask_engine._LOCAL_CONFIG``)."""


def run_process(args: list[str], env: dict | None = None, interval: float = 0.02) -> dict:
    """Run a command, sampling its whole process tree: seconds, peak tree RSS and PSS, peak RSS per child."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    ps = psutil.Process(proc.pid)
    peak_rss = peak_pss = peak_main = 0
    per_child: dict[int, int] = {}
    samples = 0
    while proc.poll() is None:
        rss = pss = 0
        try:
            procs = [ps, *ps.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                r = p.memory_info().rss
                rss += r
                if p.pid == ps.pid:
                    peak_main = max(peak_main, r)
                else:
                    per_child[p.pid] = max(per_child.get(p.pid, 0), r)
                if samples % 5 == 0:
                    pss += _pss(p)
            except psutil.Error:
                pass
        peak_rss = max(peak_rss, rss)
        peak_pss = max(peak_pss, pss)
        samples += 1
        time.sleep(interval)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{args} failed: {err}")
    return {"seconds": seconds, "peak_rss_mib": peak_rss / 2**20, "peak_pss_mib": peak_pss / 2**20,
            "peak_main_rss_mib": peak_main / 2**20,
            "peak_child_rss_mib": max(per_child.values(), default=0) / 2**20, "stdout": out}


def temu_gen_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "temu_gen", "--no-progress", *args]


def _pss(p: psutil.Process) -> int:
    try:
        return p.memory_full_info().pss
    except (psutil.Error, AttributeError, OSError, NotImplementedError):
        return 0
