"""The readiness kit's costs, each a fresh process as a user starts it: a run with each defects preset, then
``validate`` and ``reconcile`` on the run (reconcile against the run's own events, the "perfect pipeline")."""
from __future__ import annotations

import pytest

import subprocess
import sys

from conftest import run_process, temu_gen_cmd

EVENTS = 2_100_000


@pytest.fixture(scope="module")
def events(quick):
    return 100_000 if quick else EVENTS


def _chunk(events: int) -> str:
    return str(min(500_000, events // 4))  # at least 4 parts: the hostile preset drifts from part 1


@pytest.fixture(scope="module")
def runs(tmp_path_factory, events):
    """One run per preset, made once for the validate and reconcile benchmarks."""
    root = tmp_path_factory.mktemp("readiness")
    for preset in ("none", "realistic"):
        run_process(temu_gen_cmd("--events", str(events), "--chunk-size", _chunk(events), "--workers", "2", "--seed",
                                 "1", "--run-id", preset,
                                 "--defects", preset, "--output", str(root)))
    return root


def _tool(*args: str) -> str:
    """A read-only command (exit 1 = it found differences, still a measurement); its first lines."""
    r = subprocess.run([sys.executable, "-m", "temu_gen", *args], capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    return r.stdout[:300]


@pytest.fixture(scope="module")
def pipeline(runs):
    """A careful pipeline's output for each run: one row per event_id, the first received."""
    import duckdb

    out = {}
    for preset in ("none", "realistic"):
        src = runs / "events" / f"run_id={preset}" / "part-?????.parquet"
        out[preset] = runs / f"pipeline-{preset}.parquet"
        duckdb.sql(f"copy (select * exclude (rn) from (select *, row_number() over (partition by event_id order by "
                   f"ingest_ts) rn from read_parquet('{src}', union_by_name = true)) where rn = 1) to "
                   f"'{out[preset]}' (format parquet)")
    return out


@pytest.mark.parametrize("preset", ["none", "realistic", "hostile"])
def test_run_with_defects(benchmark, tmp_path, events, preset, quick):
    """Defects off must cost nothing measurable against a run without the flag; on, the injection's cost."""
    info = {}

    def once():
        info.update(run_process(temu_gen_cmd("--events", str(events), "--chunk-size", _chunk(events), "--workers", "2",
                                             "--seed", "1", "--run-id",
                                             "bench", "--overwrite", "--defects", preset, "--output", str(tmp_path))))

    benchmark.pedantic(once, rounds=1 if quick else 5, warmup_rounds=0 if quick else 1)
    benchmark.extra_info.update(events=events, workers=2, preset=preset, median_s=benchmark.stats.stats.median,
                                peak_rss_mib=info["peak_rss_mib"], summary=info["stdout"].strip())


@pytest.mark.parametrize("preset", ["none", "realistic"])
def test_validate(benchmark, runs, events, preset, quick):
    info = {}
    benchmark.pedantic(lambda: info.update(out=_tool("validate", str(runs), "--run-id", preset)),
                       rounds=1 if quick else 3, warmup_rounds=0)
    benchmark.extra_info.update(events=events, preset=preset, median_s=benchmark.stats.stats.median,
                                summary=info["out"].strip())


@pytest.mark.parametrize("preset", ["none", "realistic"])
def test_reconcile(benchmark, runs, pipeline, events, preset, quick):
    info = {}
    folder = runs / "events" / f"run_id={preset}"
    benchmark.pedantic(lambda: info.update(out=_tool("reconcile", str(folder), "--against", str(pipeline[preset]))),
                       rounds=1 if quick else 3, warmup_rounds=0)
    benchmark.extra_info.update(events=events, preset=preset, median_s=benchmark.stats.stats.median,
                                summary=info["out"].strip())
