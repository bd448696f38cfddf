"""The real-S3-server tier: the end-to-end run against Ceph's radosgw on 127.0.0.1.

``scripts/radosgw.sh start DIR`` (called by .ci/run) installs and starts it and writes
``DIR/rgw.env``; where it could not, it writes ``DIR/rgw.skip`` and this tier reports
that reason as its skip. While a start is still running (``DIR/rgw.starting``), the tier
waits for it. DIR is ``$TEMU_GEN_RGW_DIR`` (default ``.rgw`` in the repo).
"""
from __future__ import annotations

import os
import time

import boto3
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from botocore.config import Config

from paths import ROOT
from s3_helpers import cli, local_files, s3_files

RGW_DIR = os.environ.get("TEMU_GEN_RGW_DIR", str(ROOT / ".rgw"))
START_WAIT_S = 600
"""How long the tier waits for a start still in progress (installing Ceph's packages on a fresh machine)."""


@pytest.fixture(scope="module")
def rgw():
    env_file = os.path.join(RGW_DIR, "rgw.env")
    deadline = time.monotonic() + START_WAIT_S
    while os.path.exists(os.path.join(RGW_DIR, "rgw.starting")) and time.monotonic() < deadline:
        time.sleep(1)
    if not os.path.exists(env_file):
        skip = os.path.join(RGW_DIR, "rgw.skip")
        why = open(skip).read().strip() if os.path.exists(skip) else f"not started (run scripts/radosgw.sh start {RGW_DIR})"
        pytest.skip(f"radosgw tier: {why}")
    env = dict(line.strip().split("=", 1) for line in open(env_file) if "=" in line)
    client = boto3.client("s3", endpoint_url=env["RGW_ENDPOINT"], aws_access_key_id=env["RGW_ACCESS_KEY"],
                          aws_secret_access_key=env["RGW_SECRET_KEY"], region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
    return env, client


def test_end_to_end_on_radosgw(rgw, tmp_path):
    env, s3 = rgw
    bucket = f"rgw-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    creds = {"AWS_ACCESS_KEY_ID": env["RGW_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": env["RGW_SECRET_KEY"]}
    common = ["--events", "700000", "--chunk-size", "300000", "--seed", "4", "--run-id", "rgw", "--workers", "2"]
    r = cli(*common, "--output", str(tmp_path / "local"))
    assert r.returncode == 0, r.stderr
    r = cli(*common, "--output", f"s3://{bucket}/p", "--part-size", "5MiB", "--sse", "aws:kms", "--sse-kms-key-id",
            "testkey-1", "--spool-dir", str(tmp_path / "spool"), endpoint=env["RGW_ENDPOINT"], env=creds)
    assert r.returncode == 0, r.stderr
    prefix = "p/events/run_id=rgw/"
    keys = {o["Key"][len(prefix):] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]}
    assert {"_SUCCESS", "_manifest.json", "part-00000.parquet", "part-00002.parquet"} <= keys
    head = s3.head_object(Bucket=bucket, Key=prefix + "part-00000.parquet")
    pieces = -(-head["ContentLength"] // (5 << 20))
    assert pieces >= 2 and head["ETag"].endswith(f'-{pieces}"')
    assert s3_files(s3, bucket, prefix) == local_files(tmp_path / "local" / "events" / "run_id=rgw")
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    fs = pafs.S3FileSystem(access_key=env["RGW_ACCESS_KEY"], secret_key=env["RGW_SECRET_KEY"], region="us-east-1",
                           endpoint_override=env["RGW_ENDPOINT"].removeprefix("http://"), scheme="http")
    assert pq.read_table(f"{bucket}/{prefix}part-00001.parquet", filesystem=fs).num_rows == 300_000
