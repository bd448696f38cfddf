"""Benchmark fixtures: one realistic 500k-row chunk, built once, JIT warm before timing.

Run with ``python -m pytest bench`` (``--benchmark-json bench/results/<name>.json`` to keep the numbers).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from temu_gen import config, generate, pool

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 500_000


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", help="small sizes, one round: checks the suite runs (CI)")


@pytest.fixture(scope="session")
def quick(request):
    return request.config.getoption("--quick")


@pytest.fixture(scope="session")
def rows(quick):
    return 50_000 if quick else CHUNK


@pytest.fixture(scope="session")
def cfg():
    return config.load()


@pytest.fixture(scope="session")
def ctx(cfg):
    c = generate.make_context(cfg, 42)
    pool.warm_up(c)  # JIT load happens here, outside every timed region
    return c


@pytest.fixture(scope="session")
def users(ctx, rows):
    """Users whose lives hold about ``rows`` events (measured on a pilot of 2,048)."""
    pilot = generate.simulate_shard(0, 2048, ctx)
    return max(16, int(rows * 2048 / pilot.wide.shape[1]))


@pytest.fixture(scope="session")
def part(ctx, cfg, users, rows, tmp_path_factory):
    """A spool of four shards and the plan of its first part of ``rows`` rows (the reduce stage's input)."""
    from temu_gen import merge, spool

    folder = tmp_path_factory.mktemp("spool")
    buckets = spool.hist_buckets(cfg.period.days)
    summaries = [spool.write_shard(folder, k, generate.simulate_shard(k * users, (k + 1) * users, ctx),
                                   ctx.params.time.start_us, buckets) for k in range(4)]
    merge.number_orders(folder, summaries)
    return folder, merge.plan_parts(folder, summaries, rows * 2, rows)[1]


@pytest.fixture(scope="session")
def merged(part):
    from temu_gen.merge import merge_part

    return merge_part(*part)


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
                    pss += p.memory_full_info().pss
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
