"""Helpers for the S3 tiers: run the CLI against an endpoint, hash what landed."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from s3_servers import CREDS


def cli(*args, endpoint=None, env=None, timeout=300):
    full_env = {**os.environ, **CREDS, **(env or {})}
    full_env.pop("AWS_ENDPOINT_URL", None)
    extra = ["--endpoint-url", endpoint] if endpoint else []
    return subprocess.run([sys.executable, "-m", "temu_gen", "--no-progress", *extra, *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout)


def s3_files(client, bucket, prefix) -> dict[str, str]:
    """name -> sha256 of the part objects under a run prefix."""
    out = {}
    for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        name = o["Key"].rsplit("/", 1)[1]
        if name.startswith("part-"):
            out[name] = hashlib.sha256(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()).hexdigest()
    return out


def local_files(run_dir) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.glob("part-*.parquet"))}


def reference_run(out, events: int, chunk: int, seed: int, run_id: str):
    """A local run with the same seed and id: the oracle an S3 run's bytes must equal. Returns its folder."""
    r = cli("--events", str(events), "--chunk-size", str(chunk), "--seed", str(seed), "--run-id", run_id,
            "--workers", "2", "--output", str(out))
    assert r.returncode == 0, r.stderr
    return out / "events" / f"run_id={run_id}"
