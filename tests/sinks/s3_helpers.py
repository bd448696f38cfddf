"""Helpers for the S3 tiers: run the CLI against an endpoint, hash what landed."""
from __future__ import annotations

from outcomes import local_files, s3_files  # noqa: F401 - re-exported
from procs import cli


def reference_run(out, events: int, chunk: int, seed: int, run_id: str):
    """A local run with the same seed and id: the oracle an S3 run's bytes must equal. Returns its folder."""
    r = cli("--events", str(events), "--chunk-size", str(chunk), "--seed", str(seed), "--run-id", run_id,
            "--workers", "2", "--output", str(out))
    assert r.returncode == 0, r.stderr
    return out / "events" / f"run_id={run_id}"
