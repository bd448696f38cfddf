"""Whole runs as a user starts them (a fresh process each time): workers 1 and 2, cold and warm JIT."""
from __future__ import annotations

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

    benchmark.pedantic(once, rounds=1 if quick else 3, warmup_rounds=0 if quick else 1)
    benchmark.extra_info.update(events=events, workers=workers, events_per_s=events / benchmark.stats.stats.min,
                                peak_rss_mib=info["peak_rss_mib"], peak_pss_mib=info["peak_pss_mib"],
                                summary=info["stdout"].strip())


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_jit_start(benchmark, tmp_path, cache, quick):
    """Process start to first chunk: 'cold' compiles every kernel into an empty cache, 'warm' loads it."""
    if cache == "cold" and quick:
        pytest.skip("a cold compile takes ~45 s; full mode only")
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")} if cache == "cold" else {}
    counter = iter(range(100))

    def once():
        if cache == "cold":
            env["NUMBA_CACHE_DIR"] = str(tmp_path / f"numba{next(counter)}")
        run_process(temu_gen_cmd("--events", "1000", "--workers", "1", "--output", str(tmp_path / "o")), env=env)

    benchmark.pedantic(once, rounds=1 if cache == "cold" else 3)
