"""Least privilege, enforced: the generator runs under exactly the uploader policy Terraform deploys.

A moto server with IAM enforcement (its own process) holds one user with the policy
rendered from ``infra/terraform/policies/uploader.json.tftpl`` and one with that policy
minus ``s3:AbortMultipartUpload``.
"""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from s3_helpers import cli
from s3_servers import MotoServer
from temu_gen.sinks.s3 import S3Options, S3Sink
from uploader_policy import render_uploader_policy

BUCKET, PREFIX = "ng-load-tests", "load/ng"
SETUP_REQUESTS = 7  # bucket + 2 x (user, policy, access key), all before enforcement starts


def _without(policy: dict, action: str) -> dict:
    out = json.loads(json.dumps(policy))
    for s in out["Statement"]:
        s["Action"] = [a for a in s["Action"] if a != action]
    out["Statement"] = [s for s in out["Statement"] if s["Action"]]
    return out


@pytest.fixture(scope="module")
def iam_server():
    srv = MotoServer(no_auth_actions=SETUP_REQUESTS)
    srv.client().create_bucket(Bucket=BUCKET)
    iam = srv.client("iam")
    policy = render_uploader_policy(BUCKET, PREFIX)
    keys = {}
    for user, doc in (("uploader", policy), ("no-abort", _without(policy, "s3:AbortMultipartUpload"))):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="uploader", PolicyDocument=json.dumps(doc))
        k = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"key": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
    yield srv, keys
    srv.stop()


def _env(creds):
    return {"AWS_ACCESS_KEY_ID": creds["key"], "AWS_SECRET_ACCESS_KEY": creds["secret"]}


def test_generator_runs_under_the_uploader_policy(iam_server, tmp_path):
    srv, keys = iam_server
    r = cli("--events", "400000", "--chunk-size", "300000", "--seed", "3", "--run-id", "least", "--output",
            f"s3://{BUCKET}/{PREFIX}", "--spool-dir", str(tmp_path), "--sse", "aws:kms", "--part-size", "5MiB",
            endpoint=srv.endpoint, env=_env(keys["uploader"]))
    assert r.returncode == 0, r.stderr
    s3 = srv.client(**keys["uploader"])
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/events/run_id=least/")["Contents"]
    assert {o["Key"].rsplit("/", 1)[1] for o in listed} >= {"_SUCCESS", "_manifest.json", "part-00000.parquet"}
    head = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/events/run_id=least/part-00000.parquet")
    assert int(head["ETag"].rstrip('"').rsplit("-", 1)[1]) >= 2  # the multipart path ran under the policy too
    # resume needs only what the policy grants: listing, reading metadata, the plan
    r = cli("--resume", "least", "--output", f"s3://{BUCKET}/{PREFIX}", "--spool-dir", str(tmp_path),
            endpoint=srv.endpoint, env=_env(keys["uploader"]))
    assert r.returncode == 3 and "already committed" in r.stderr


def test_writes_outside_the_prefix_are_denied(iam_server):
    srv, keys = iam_server
    s3 = srv.client(**keys["uploader"])
    for key in ("other/x.parquet", "load/x.parquet", "load/ngx/y"):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):
        s3.delete_bucket(Bucket=BUCKET)


def test_cli_reports_denied_and_rejected_credentials(iam_server, tmp_path):
    srv, keys = iam_server
    r = cli("--events", "100", "--output", f"s3://{BUCKET}/elsewhere", "--spool-dir", str(tmp_path),
            endpoint=srv.endpoint, env=_env(keys["uploader"]))
    assert r.returncode == 3 and "access denied" in r.stderr and len(r.stderr.splitlines()) == 1
    r = cli("--events", "100", "--output", f"s3://{BUCKET}/{PREFIX}", "--spool-dir", str(tmp_path),
            endpoint=srv.endpoint, env={"AWS_ACCESS_KEY_ID": "AKIAUNKNOWN0000000", "AWS_SECRET_ACCESS_KEY": "x"})
    assert r.returncode == 3 and "credentials were rejected" in r.stderr and len(r.stderr.splitlines()) == 1


def test_dropping_abort_from_the_policy_is_caught(iam_server, tmp_path):
    """Without s3:AbortMultipartUpload a failed run would leave uploads open: the cleanup must fail here."""
    srv, keys = iam_server
    for user, expect_open in (("uploader", 0), ("no-abort", 1)):
        s3 = srv.client(**keys[user])
        key = f"{PREFIX}/events/run_id=abort-{user}/part-00000.parquet"
        s3.create_multipart_upload(Bucket=BUCKET, Key=key)
        target = S3Sink(f"s3://{BUCKET}/{PREFIX}", S3Options(endpoint_url=srv.endpoint),
                        spool_dir=tmp_path).open_run(f"abort-{user}")
        target._abort_uploads(srv.client(**keys[user]))  # what abort() does, with this user's credentials
        open_uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])
        assert len(open_uploads) == expect_open, user
