"""Shared fixtures: configs, whole runs generated once per test session, and a loopback S3 server."""
from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from temu_gen import config
from temu_gen.run import run
from temu_gen.sinks import LocalDirSink

from paths import ROOT, SMOKE  # noqa: F401 - re-exported for fixtures below
from s3_servers import MotoServer


@pytest.fixture(scope="session")
def smoke_cfg():
    return config.load(SMOKE)


@pytest.fixture(scope="session")
def default_cfg():
    return config.load()


def read_run(run_dir: Path) -> list:
    return [pq.read_table(p) for p in sorted(run_dir.glob("part-*.parquet"))]


@pytest.fixture(scope="session")
def smoke_run(smoke_cfg, tmp_path_factory):
    """The smoke config (20k rows, 4 chunks) generated with 2 workers."""
    root = tmp_path_factory.mktemp("smoke")
    summary = run(smoke_cfg, LocalDirSink(root), seed=11, run_id="smoke", workers=2, progress=False)
    run_dir = root / "events" / "run_id=smoke"
    return summary, run_dir, read_run(run_dir)


@pytest.fixture(scope="session")
def mid_run(default_cfg, tmp_path_factory):
    """A mid-size run of the default config: 1M events (about 15k users through the launch) in 4 parts."""
    root = tmp_path_factory.mktemp("mid")
    cfg = default_cfg.with_run(events=1_000_000, chunk_size=250_000)
    summary = run(cfg, LocalDirSink(root), seed=5, run_id="mid", workers=2, progress=False)
    run_dir = root / "events" / "run_id=mid"
    return summary, run_dir, read_run(run_dir)


@pytest.fixture(scope="session")
def jsonl_cfg(smoke_cfg):
    """The smoke config as gzip JSON lines with the context column: 60k events in 3 parts."""
    return smoke_cfg.with_run(events=60_000, chunk_size=20_000, format="jsonl", context=True)


@pytest.fixture(scope="session")
def jsonl_run(jsonl_cfg, tmp_path_factory):
    """``jsonl_cfg`` generated with 2 workers, seed 7, run id "jl"; returns (summary, output root)."""
    root = tmp_path_factory.mktemp("jsonl")
    return run(jsonl_cfg, LocalDirSink(root), seed=7, run_id="jl", workers=2, progress=False), root


@pytest.fixture(scope="session")
def moto_server():
    """moto over HTTP on 127.0.0.1 for the session (S3 tiers, locks, signals, chaos)."""
    srv = MotoServer()
    yield srv
    srv.stop()


@pytest.fixture
def bucket(moto_server):
    name = f"b-{uuid.uuid4().hex[:12]}"
    moto_server.client().create_bucket(Bucket=name)
    return name
