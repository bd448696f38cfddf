"""The Dask engine's overhead: whole runs (a fresh process each) on Dask against the local pool.

All use 2 workers and a warm kernel cache; what differs is only where the tasks run, so the
difference of the medians is what Dask costs on one machine: ``dask`` starts a LocalCluster per
run (importing distributed, forking the workers, sending tasks and answers through its
scheduler); ``dask-scheduler`` connects to a cluster that is already running (`dask scheduler`
and two `dask worker` processes of one thread each, started once for the module), as a
deployment on EC2 would be.
"""
from __future__ import annotations

import re
import sys

import pytest

from conftest import ROOT, run_process, temu_gen_cmd
from procmon import DASK_QUIET

sys.path.insert(0, str(ROOT / "tests"))
from procs import dask_cluster  # noqa: E402

EVENTS = 2_100_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The address of a running `dask scheduler` on 127.0.0.1 with 2 single-thread workers; stopped afterwards."""
    pytest.importorskip("distributed", reason="--engine dask needs dask[distributed]: pip install 'temu-gen[dask]'")
    with dask_cluster(tmp_path_factory.mktemp("dask"), env=DASK_QUIET) as (address, workers, _):
        workers(2)
        yield address


@pytest.mark.parametrize("engine", ["pool", "dask", "dask-scheduler"])
def test_engine(benchmark, tmp_path, engine, quick, request):
    if engine == "pool":
        flags = ["--engine", "pool", "--workers", "2"]
    elif engine == "dask":
        pytest.importorskip("distributed", reason="--engine dask needs dask[distributed]: pip install 'temu-gen[dask]'")
        flags = ["--engine", "dask", "--workers", "2"]
    else:
        flags = ["--scheduler", request.getfixturevalue("cluster")]
    events = 100_000 if quick else EVENTS
    info = {}

    def once():
        info.update(run_process(temu_gen_cmd(*flags, "--events", str(events), "--seed", "1", "--run-id", "bench",
                                             "--overwrite", "--output", str(tmp_path))))

    benchmark.pedantic(once, rounds=1 if quick else 5, warmup_rounds=0 if quick else 1)
    stages = re.search(r"simulate ([0-9.]+) s, plan [0-9.]+ s, write ([0-9.]+) s", info["stdout"])
    benchmark.extra_info.update(engine=engine, events=events, workers=2,
                                events_per_s=events / benchmark.stats.stats.min, median_s=benchmark.stats.stats.median,
                                peak_rss_mib=info["peak_rss_mib"], peak_pss_mib=info["peak_pss_mib"],
                                simulate_s=float(stages.group(1)), write_s=float(stages.group(2)),
                                summary=info["stdout"].strip())
