"""S3Sink against moto in-process: addressing, the commit protocol, resume bookkeeping, abort, errors."""
from __future__ import annotations

import hashlib

import boto3
import pytest
from moto import mock_aws

from temu_gen.errors import OutputError
from temu_gen.sinks import PartInfo
from temu_gen.sinks.s3 import S3Options, S3Sink, parse_s3_uri


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="ng-events")
        yield boto3.client("s3")


@pytest.mark.parametrize("uri,expected", [("s3://ng-events/a/b/", ("ng-events", "a/b")), ("s3://ng-events", ("ng-events", "")),
                                          ("s3://my.bucket-1/x", ("my.bucket-1", "x"))])
def test_parse_s3_uri(uri, expected):
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["s3:/events/x", "http://events/x", "s3://Events/x", "s3://e/x", "s3://ng-events/a//b"])
def test_malformed_uris_are_refused(uri):
    with pytest.raises(OutputError):
        parse_s3_uri(uri)


def test_options_are_checked(tmp_path):
    with pytest.raises(OutputError, match="minimum"):
        S3Sink("s3://ng-events/x", S3Options(part_size=2**20))
    with pytest.raises(OutputError, match="needs --sse aws:kms"):
        S3Sink("s3://ng-events/x", S3Options(sse_kms_key_id="k"))


def _part(tmp_path, size=6 * 2**20 + 123):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    p = tmp_path / "part-00000.parquet"
    p.write_bytes(data)
    return p, PartInfo(10, len(data), hashlib.sha256(data).hexdigest())


def test_upload_is_multipart_with_checksums_and_sse(aws, tmp_path):
    sink = S3Sink("s3://ng-events/load/ng", S3Options(sse="AES256", part_size=5 * 2**20), spool_dir=tmp_path)
    sink.prepare("r1", overwrite=False)
    path, info = _part(tmp_path)
    assert sink.upload("part-00000.parquet", path, info) == {"parts": 2}
    key = "load/ng/events/run_id=r1/part-00000.parquet"
    head = aws.head_object(Bucket="ng-events", Key=key, ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-2"') and head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"]["sha256"] == info.sha256 and head["ChecksumSHA256"]
    assert sink.existing_parts() == {"part-00000.parquet": info}


def test_commit_order_and_overwrite_protection(aws, tmp_path):
    sink = S3Sink("s3://ng-events/p", spool_dir=tmp_path)
    sink.prepare("r2", overwrite=False)
    sink.write_plan(b'{"seed": 1}')
    sink.commit(b"{}")
    keys = [o["Key"] for o in aws.list_objects_v2(Bucket="ng-events", Prefix="p/")["Contents"]]
    assert "p/events/run_id=r2/_SUCCESS" in keys and "p/events/run_id=r2/_manifest.json" in keys
    with pytest.raises(OutputError, match="--overwrite"):
        S3Sink("s3://ng-events/p", spool_dir=tmp_path).prepare("r2", overwrite=False)
    again = S3Sink("s3://ng-events/p", spool_dir=tmp_path)
    again.prepare("r2", overwrite=True)
    assert not again.is_committed()


def test_abort_leaves_no_open_multipart_uploads(aws, tmp_path):
    sink = S3Sink("s3://ng-events/p", spool_dir=tmp_path)
    sink.prepare("r3", overwrite=False)
    for i in range(3):
        aws.create_multipart_upload(Bucket="ng-events", Key=f"p/events/run_id=r3/part-{i:05d}.parquet")
    aws.create_multipart_upload(Bucket="ng-events", Key="other/keep-me")
    assert sink.abort() == 3
    left = [u["Key"] for u in aws.list_multipart_uploads(Bucket="ng-events").get("Uploads", [])]
    assert left == ["other/keep-me"]


def test_resume_ignores_parts_without_verification(aws, tmp_path):
    sink = S3Sink("s3://ng-events/p", spool_dir=tmp_path)
    sink.prepare("r4", overwrite=False)
    aws.put_object(Bucket="ng-events", Key="p/events/run_id=r4/part-00001.parquet", Body=b"torn")  # no metadata
    path, info = _part(tmp_path, 1000)
    sink.upload("part-00000.parquet", path, info)
    assert set(sink.existing_parts()) == {"part-00000.parquet"}


def test_missing_bucket_is_one_line(aws, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        S3Sink("s3://no-such-bucket/x", spool_dir=tmp_path).prepare("r", overwrite=False)
