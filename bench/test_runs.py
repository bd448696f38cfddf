"""Whole runs as a user starts them (a fresh process each time): workers 1 and 2, cold and warm JIT."""
from __future__ import annotations

import os
import re
import statistics

import pytest

from conftest import run_process, temu_gen_cmd

EVENTS = 2_100_000


@pytest.fixture(scope="module")
def events(quick):
    return 100_000 if quick else EVENTS


@pytest.mark.parametrize("workers", [1, 2])
def test_full_run(benchmark, tmp_path, events, workers, quick):
    info = {}

    def once():
        info.update(run_process(temu_gen_cmd("--events", str(events), "--workers", str(workers), "--seed", "1",
                                             "--run-id", "bench", "--overwrite", "--output", str(tmp_path))))

    benchmark.pedantic(once, rounds=1 if quick else 5, warmup_rounds=0 if quick else 1)
    stages = re.search(r"simulate ([0-9.]+) s, plan [0-9.]+ s, write ([0-9.]+) s", info["stdout"])
    benchmark.extra_info.update(events=events, workers=workers, events_per_s=events / benchmark.stats.stats.min,
                                median_s=benchmark.stats.stats.median, peak_rss_mib=info["peak_rss_mib"],
                                peak_pss_mib=info["peak_pss_mib"], peak_worker_rss_mib=info["peak_child_rss_mib"],
                                simulate_s=float(stages.group(1)), write_s=float(stages.group(2)),
                                summary=info["stdout"].strip())


def test_peer_random_columns(benchmark, tmp_path, events, quick):
    """The baseline: a vectorised numpy + pyarrow script writing random columns of the same schema (no users)."""
    import sys

    from conftest import ROOT

    cmd = [sys.executable, str(ROOT / "bench" / "peer_random_columns.py"), "--events", str(events), "--workers", "2",
           "--output", str(tmp_path)]
    benchmark.pedantic(lambda: run_process(cmd), rounds=1 if quick else 5, warmup_rounds=0 if quick else 1)
    benchmark.extra_info.update(events=events, workers=2, events_per_s=events / benchmark.stats.stats.min,
                                median_s=benchmark.stats.stats.median)


CORES = os.cpu_count() or 1
SWEEP = [(w, c) for w in range(1, CORES + 1) for c in (100_000, 250_000, 500_000, 1_000_000)]


@pytest.mark.parametrize("workers,chunk", SWEEP)
def test_sweep(benchmark, tmp_path, workers, chunk, quick):
    """Whole run over workers (1..cores) x chunk sizes; quick mode keeps two points at a tenth of the size."""
    if quick and (workers, chunk) not in ((1, 100_000), (CORES, 250_000)):
        pytest.skip("quick mode: two sweep points")
    events, chunk = (EVENTS // 10, chunk // 10) if quick else (EVENTS, chunk)
    info = {}

    def once():
        info.update(run_process(temu_gen_cmd("--events", str(events), "--chunk-size", str(chunk), "--workers",
                                             str(workers), "--seed", "1", "--run-id", "s", "--overwrite",
                                             "--output", str(tmp_path))))

    benchmark.pedantic(once, rounds=1)
    benchmark.extra_info.update(events=events, workers=workers, chunk=chunk,
                                events_per_s=events / benchmark.stats.stats.min, peak_rss_mib=info["peak_rss_mib"],
                                peak_pss_mib=info["peak_pss_mib"], peak_worker_rss_mib=info["peak_child_rss_mib"])


@pytest.mark.parametrize("cache", ["fresh", "compile", "warm"])
def test_jit_start(benchmark, tmp_path, cache, quick):
    """Process start to first chunk with the kernel cache in three states.

    'fresh': an empty cache, as on a new install: the shipped archive is unpacked and loaded.
    'compile': an empty cache and no archive (another Python or numba): every kernel compiles.
    'warm': the cache is in place.
    """
    if cache == "compile" and quick:
        pytest.skip("compiling every kernel takes about two minutes; full mode only")
    env = {"TEMU_GEN_PREBUILT": "off"} if cache == "compile" else {}
    counter = iter(range(100))

    def once():
        if cache != "warm":
            env["NUMBA_CACHE_DIR"] = str(tmp_path / f"numba{next(counter)}")
        run_process(temu_gen_cmd("--events", "1000", "--workers", "1", "--output", str(tmp_path / "o")), env=env)

    benchmark.pedantic(once, rounds=1 if cache == "compile" else 3)


def test_sizing_prediction_error(benchmark, tmp_path, quick):
    """The sizing model against measured full runs on this machine: the error goes into RESULTS.md."""
    if quick:
        pytest.skip("full mode only: calibrates (10 passes), then runs 2.1M events 5 times at 1 and 2 workers")
    from temu_gen import sizing
    from temu_gen.calibrate import calibrate

    cal = calibrate()
    local = sizing.this_machine()
    errors = {}

    def once():
        for workers in (1, 2):
            p = sizing.predict(EVENTS, cal, local, 0.25, workers=workers, to_network=False)
            measured = statistics.median(run_process(temu_gen_cmd(
                "--events", str(EVENTS), "--workers", str(workers), "--seed", "1", "--run-id", "z", "--overwrite",
                "--output", str(tmp_path)))["seconds"] for _ in range(5))  # a typical run, as the model predicts
            errors[workers] = {"predicted_s": p.seconds, "range_s": [p.seconds_low, p.seconds_high],
                               "measured_s": measured, "error": (p.seconds - measured) / measured}

    benchmark.pedantic(once, rounds=1)
    import dataclasses

    benchmark.extra_info.update(calibration=dataclasses.asdict(cal), **{f"workers_{w}": e for w, e in errors.items()})
