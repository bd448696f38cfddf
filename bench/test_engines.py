"""The Dask engine's overhead: whole runs (a fresh process each) on a local Dask cluster against the local pool.

Both use 2 workers and a warm kernel cache; what differs is only where the tasks run, so the
difference of the medians is what Dask costs on one machine (importing distributed, starting the
cluster, sending tasks and answers through its scheduler).
"""
from __future__ import annotations

import re

import pytest

from conftest import run_process, temu_gen_cmd

EVENTS = 2_100_000


@pytest.mark.parametrize("engine", ["pool", "dask"])
def test_engine(benchmark, tmp_path, engine, quick):
    if engine == "dask":
        pytest.importorskip("distributed", reason="--engine dask needs dask[distributed]: pip install 'temu-gen[dask]'")
    events = 100_000 if quick else EVENTS
    info = {}

    def once():
        info.update(run_process(temu_gen_cmd("--engine", engine, "--events", str(events), "--workers", "2", "--seed",
                                             "1", "--run-id", "bench", "--overwrite", "--output", str(tmp_path))))

    benchmark.pedantic(once, rounds=1 if quick else 5, warmup_rounds=0 if quick else 1)
    stages = re.search(r"simulate ([0-9.]+) s, plan [0-9.]+ s, write ([0-9.]+) s", info["stdout"])
    benchmark.extra_info.update(engine=engine, events=events, workers=2,
                                events_per_s=events / benchmark.stats.stats.min, median_s=benchmark.stats.stats.median,
                                peak_rss_mib=info["peak_rss_mib"], peak_pss_mib=info["peak_pss_mib"],
                                simulate_s=float(stages.group(1)), write_s=float(stages.group(2)),
                                summary=info["stdout"].strip())
