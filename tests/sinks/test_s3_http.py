"""End to end over real HTTP: the CLI writes to moto's server; objects, parts, encryption, data = local run."""
from __future__ import annotations

import json

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from s3_helpers import cli, local_files, reference_run, s3_files

EVENTS, CHUNK = 700_000, 300_000  # 3 parts of ~6 MB: two multipart uploads of 2 parts each, one smaller


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    return reference_run(tmp_path_factory.mktemp("local"), EVENTS, CHUNK, 21, "ref")


@pytest.mark.parametrize("sse", ["AES256", "aws:kms"])
def test_run_to_s3_matches_the_local_run(moto_server, bucket, local_reference, tmp_path, sse):
    kms = ["--sse-kms-key-id", "arn:aws:kms:us-east-1:123456789012:key/test"] if sse == "aws:kms" else []
    r = cli("--events", str(EVENTS), "--chunk-size", str(CHUNK), "--seed", "21", "--run-id", "ref", "--workers", "2",
            "--output", f"s3://{bucket}/load/ng", "--sse", sse, *kms, "--part-size", "5MiB",
            "--spool-dir", str(tmp_path / "spool"), endpoint=moto_server.endpoint)
    assert r.returncode == 0, r.stderr
    assert "700,000 events, 3 files" in r.stdout and "peak spool" in r.stdout
    s3 = moto_server.client()
    prefix = "load/ng/events/run_id=ref/"
    keys = {o["Key"][len(prefix):] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]}
    assert keys == {"_run.json", "_manifest.json", "_SUCCESS", "part-00000.parquet", "part-00001.parquet",
                    "part-00002.parquet"}
    assert s3_files(s3, bucket, prefix) == local_files(local_reference)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "_manifest.json")["Body"].read())
    assert manifest["events"] == EVENTS and manifest["peak_spool_bytes"] > 0
    # one multipart part per started 5 MiB (a part under 5 MiB goes up in one PUT)
    assert [f["upload_parts"] for f in manifest["files"]] == [-(-f["bytes"] // (5 * 2**20)) for f in manifest["files"]]
    assert manifest["files"][0]["upload_parts"] >= 2
    for f in manifest["files"]:
        head = s3.head_object(Bucket=bucket, Key=prefix + f["name"])
        assert head["ServerSideEncryption"] == sse
        assert head["ETag"].endswith(f'-{f["upload_parts"]}"') == (f["bytes"] >= 5 * 2**20)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads") is None
    assert not list((tmp_path / "spool").glob("ref.*/*.parquet"))  # spool emptied after confirmation
    fs = pafs.S3FileSystem(access_key="testing", secret_key="testing", region="us-east-1",
                           endpoint_override=moto_server.endpoint.removeprefix("http://"), scheme="http")
    remote = pq.read_table(f"{bucket}/{prefix}part-00001.parquet", filesystem=fs)
    assert remote.equals(pq.read_table(local_reference / "part-00001.parquet"))


def test_committed_run_is_refused_without_overwrite(moto_server, bucket, tmp_path):
    args = ["--events", "2000", "--run-id", "r", "--output", f"s3://{bucket}/p", "--spool-dir", str(tmp_path)]
    assert cli(*args, endpoint=moto_server.endpoint).returncode == 0
    r = cli(*args, endpoint=moto_server.endpoint)
    assert r.returncode == 3 and "--overwrite" in r.stderr and len(r.stderr.splitlines()) == 1
    assert cli(*args, "--overwrite", endpoint=moto_server.endpoint).returncode == 0


@pytest.mark.parametrize("output,endpoint,env,needle", [
    ("s3://no-such-bucket-x/p", "moto", {}, "does not exist"),
    ("s3://BAD/p", "moto", {}, "not a valid bucket name"),
    ("s3://events-x/p", "http://127.0.0.1:9", {}, "cannot reach the S3 endpoint"),
    ("s3://events-x/p", "moto", {"AWS_PROFILE": "none-such"}, "profile 'none-such'"),
    ("s3://events-x/p", "moto", {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_CONFIG_FILE": "/nonexistent",
                                 "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"},
     "no AWS credentials"),
])
def test_bad_destinations_are_one_line(moto_server, tmp_path, output, endpoint, env, needle):
    r = cli("--events", "100", "--output", output, "--spool-dir", str(tmp_path),
            endpoint=moto_server.endpoint if endpoint == "moto" else endpoint, env=env)
    assert r.returncode != 0 and needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
