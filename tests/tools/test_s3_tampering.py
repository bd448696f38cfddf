"""The tools against a run in S3 that was tampered with: each case is a finding or one line, never a crash.

One small committed run per module, copied to a fresh prefix per test (a server-side copy), so a
tamper never reaches another test's run.
"""
from __future__ import annotations

import pytest

from s3_servers import CREDS
from tool_helpers import temu_gen

pytestmark = pytest.mark.network
RUN = "t"


@pytest.fixture(scope="module")
def s3_run(moto_server):
    """(server, bucket, prefix) of one committed run of 60,000 events in three parts, made once."""
    import os

    s3 = moto_server.client()
    s3.create_bucket(Bucket="tamper")
    done = temu_gen("--events", 60_000, "--chunk-size", 20_000, "--seed", 4, "--run-id", RUN, "--output",
                    "s3://tamper/base", "--workers", 2, "--no-progress", "--endpoint-url", moto_server.endpoint,
                    env={**os.environ, **CREDS})
    assert done.returncode == 0, done.stderr
    return moto_server, "tamper", "base"


@pytest.fixture
def copy(s3_run, request):
    """A private copy of the run under its own prefix: (client, bucket, root URI, tool arguments)."""
    server, bucket, base = s3_run
    s3, prefix = server.client(), f"c{abs(hash(request.node.name)) % 10**8}"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{base}/"):
        for o in page.get("Contents", []):
            s3.copy_object(Bucket=bucket, Key=prefix + o["Key"][len(base):], CopySource={"Bucket": bucket,
                                                                                          "Key": o["Key"]})
    return s3, bucket, prefix, ["--endpoint-url", server.endpoint]


def tool(*args, env_drop=()):
    import os

    env = {k: v for k, v in {**os.environ, **CREDS}.items() if k not in env_drop}
    return temu_gen(*map(str, args), env=env)


def one_line(done, code: int, needle: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert needle in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "internal error" not in done.stderr


@pytest.mark.parametrize("key", ["events/run_id=t//part-00009.parquet", "events/run_id=t/part-00000.parquet/x"])
def test_an_object_no_file_can_hold_is_an_unlisted_file(copy, key):
    s3, bucket, prefix, endpoint = copy
    s3.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=b"x")
    done = tool("validate", f"s3://{bucket}/{prefix}", "--run-id", RUN, "--format", "json", *endpoint)
    assert done.returncode == 1 and '"kind": "unlisted_file"' in done.stdout, done.stdout + done.stderr
    assert "internal error" not in done.stderr and "TMPDIR" not in done.stderr


@pytest.mark.parametrize("body", ["garbage", "users"])
def test_a_part_that_is_not_the_runs_is_one_line_to_show_and_reconcile(copy, tmp_path, body):
    """Not Parquet at all, or the users table's file under an events part's name (Arrow would read null rows)."""
    s3, bucket, prefix, endpoint = copy
    key = f"{prefix}/events/run_id={RUN}/part-00001.parquet"
    if body == "garbage":
        s3.put_object(Bucket=bucket, Key=key, Body=b"garbage" * 1000)
    else:
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket,
                                                           "Key": f"{prefix}/users/run_id={RUN}/part-00000.parquet"})
    root = f"s3://{bucket}/{prefix}"
    one_line(tool("show", root, "--run-id", RUN, *endpoint), 2, "check it with temu-gen validate")
    (tmp_path / "out.parquet").write_bytes(b"")
    one_line(tool("reconcile", root, "--run-id", RUN, "--against", tmp_path, *endpoint), 2, "")
    assert tool("validate", root, "--run-id", RUN, *endpoint).returncode == 1


def test_without_credentials_runs_says_so(copy):
    s3, bucket, prefix, endpoint = copy
    done = tool("runs", f"s3://{bucket}/{prefix}", *endpoint,
                env_drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    one_line(done, 3, "(check the credentials, and that they may read objects there)")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:5055", "http://", "http://127.0.0.1:99999", " http://x"])
def test_a_bad_endpoint_is_a_bad_flag_to_the_tools(url):
    for command in ("runs", "validate", "show"):
        one_line(tool(command, "s3://tamper/base", "--endpoint-url", url), 2, "is not an http(s) URL")


def test_a_missing_bucket_is_named_as_such(s3_run):
    server = s3_run[0]
    for command in ("validate", "show"):
        one_line(tool(command, "s3://no-such-bucket-x/out", "--run-id", RUN, "--endpoint-url", server.endpoint), 2,
                 "no such bucket: s3://no-such-bucket-x")
