"""Local folder vs loopback S3: events/s at workers 1 and 2, upload MB/s, and flat memory from 2.1M to 21M events.

The S3 server is Ceph radosgw when ``scripts/radosgw.sh`` started one (``$TEMU_GEN_RGW_DIR``), else moto's
threaded server; both on 127.0.0.1. Memory is sampled over the whole process tree, uploader included.
"""
from __future__ import annotations

import os
import re
import sys
import uuid

import boto3
import pytest
from botocore.config import Config

from conftest import ROOT, run_process, temu_gen_cmd

sys.path.insert(0, str(ROOT / "tests"))
from s3_servers import CREDS, MotoServer  # noqa: E402


@pytest.fixture(scope="module")
def s3_target():
    env_file = os.path.join(os.environ.get("TEMU_GEN_RGW_DIR", str(ROOT / ".rgw")), "rgw.env")
    if os.path.exists(env_file):
        env = dict(line.strip().split("=", 1) for line in open(env_file) if "=" in line)
        creds = {"AWS_ACCESS_KEY_ID": env["RGW_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": env["RGW_SECRET_KEY"],
                 "AWS_REGION": "us-east-1"}
        yield "radosgw", env["RGW_ENDPOINT"], creds
        return
    srv = MotoServer()
    yield "moto", srv.endpoint, CREDS
    srv.stop()


_CREATED: list = []


def _bucket(endpoint, creds):
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}))
    name = f"bench-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    _CREATED.append((s3, name))
    return name


@pytest.fixture(autouse=True)
def _empty_buckets():
    """A single-node test server has little room: delete what each benchmark wrote."""
    yield
    while _CREATED:
        s3, name = _CREATED.pop()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=name, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=name)


def _mb(stdout: str) -> float:
    return float(re.search(r"([0-9.]+) MB,", stdout).group(1))


@pytest.mark.parametrize("target", ["local", "s3"])
@pytest.mark.parametrize("workers", [1, 2])
def test_local_vs_s3(benchmark, tmp_path, s3_target, quick, target, workers):
    server, endpoint, creds = s3_target
    events = 200_000 if quick else 2_100_000
    env = {}
    out = str(tmp_path / "out")
    extra = []
    if target == "s3":
        out = f"s3://{_bucket(endpoint, creds)}/bench"
        env = creds
        extra = ["--endpoint-url", endpoint, "--spool-dir", str(tmp_path / "spool")]
    info = {}

    def once():
        info.update(run_process(temu_gen_cmd("--events", str(events), "--workers", str(workers), "--seed", "1",
                                             "--run-id", "b", "--overwrite", "--output", out, *extra), env=env))

    benchmark.pedantic(once, rounds=1 if quick else 3, warmup_rounds=0)
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(server=server if target == "s3" else "local", events=events, workers=workers,
                                events_per_s=events / best, mb=_mb(info["stdout"]),
                                mb_per_s=_mb(info["stdout"]) / best, peak_rss_mib=info["peak_rss_mib"],
                                peak_pss_mib=info["peak_pss_mib"], summary=info["stdout"].strip())


@pytest.mark.parametrize("events", [2_100_000, 21_000_000])
def test_peak_memory_is_flat(benchmark, tmp_path, s3_target, quick, events):
    """The same peak for 2.1M and 21M events: at most workers+2 chunks are ever in flight."""
    if quick and events > 2_100_000:
        pytest.skip("21M events: full mode only")
    events = 300_000 if quick else events
    server, endpoint, creds = s3_target
    info = {}

    def once():
        info.update(run_process(temu_gen_cmd("--events", str(events), "--workers", "2", "--seed", "1",
                                             "--output", f"s3://{_bucket(endpoint, creds)}/bench", "--endpoint-url",
                                             endpoint, "--spool-dir", str(tmp_path / "spool")), env=creds))

    benchmark.pedantic(once, rounds=1)
    manifest_spool = re.search(r"peak spool ([0-9]+) MiB", info["stdout"]).group(1)
    benchmark.extra_info.update(server=server, events=events, events_per_s=events / benchmark.stats.stats.min,
                                peak_rss_mib=info["peak_rss_mib"], peak_pss_mib=info["peak_pss_mib"],
                                peak_spool_mib=int(manifest_spool), summary=info["stdout"].strip())


def test_upload_stage(benchmark, s3_target, tmp_path, quick):
    """The uploader alone: one ~10 MB chunk file through S3Sink.upload (multipart, 5 MiB parts) to loopback S3."""
    import hashlib

    from temu_gen.sinks.base import Holder, PartRecord
    from temu_gen.sinks.s3 import S3Options, S3Sink

    server, endpoint, creds = s3_target
    for k, v in creds.items():
        os.environ.setdefault(k, v)
    data = os.urandom(2_000_000 if quick else 10_000_000)
    path = tmp_path / "part-00000.parquet"
    path.write_bytes(data)
    info = PartRecord(0, "part-00000.parquet", 1, len(data), hashlib.sha256(data).hexdigest())
    target = S3Sink(f"s3://{_bucket(endpoint, creds)}/bench", S3Options(endpoint_url=endpoint, part_size=5 * 2**20),
                    spool_dir=tmp_path).open_run("up")
    target.lock(Holder.me(), force=True)
    benchmark.pedantic(lambda: target.upload(info, path), rounds=3 if quick else 10)
    target.unlock()
    benchmark.extra_info.update(server=server, mb=len(data) / 1e6, mb_per_s=len(data) / 1e6 / benchmark.stats.stats.min)
