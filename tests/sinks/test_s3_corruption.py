"""--resume on S3 keeps a part only if the object is provably the part this run writes (moto over HTTP).

A failed run leaves parts 0-2 of 4 uploaded with their records under ``_parts/``; each
case damages part 1's object (or its record) the way a careless copy or an adversary
would, and the resumed run must be byte-identical to the clean local run (``smoke_run``:
seed 11, run id "smoke"), keeping parts 0 and 2 and regenerating part 1.
"""
from __future__ import annotations

import hashlib
import json

import pytest

from outcomes import committed_s3, local_files
from s3_servers import CREDS
from temu_gen.errors import RunFailed
from faults import reduce_fails_at
from temu_gen.run import resume, run
from temu_gen.sinks import LocalDirSink
from temu_gen.sinks.s3 import S3Options, S3Sink

PREFIX = "p/events/run_id=smoke/"
PART = PREFIX + "part-00001.parquet"
RECORD = PREFIX + "_parts/part-00001.parquet.json"


@pytest.fixture(scope="module")
def foreign(smoke_cfg, tmp_path_factory):
    """Part 1 of runs this run must never keep: another seed, and another run id of the same length."""
    root = tmp_path_factory.mktemp("foreign")
    cfg = smoke_cfg
    run(cfg, LocalDirSink(root), seed=12, run_id="smoke", workers=1, progress=False)
    run(cfg, LocalDirSink(root), seed=11, run_id="smoka", workers=1, progress=False)
    return {k: (root / "events" / f"run_id={rid}" / "part-00001.parquet").read_bytes()
            for k, rid in (("seed", "smoke"), ("run_id", "smoka"))}


@pytest.fixture
def s3_env(monkeypatch):
    """This process and the uploader it spawns talk to moto with test credentials."""
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _sink(moto_server, bucket, tmp_path) -> S3Sink:
    return S3Sink(f"s3://{bucket}/p", S3Options(endpoint_url=moto_server.endpoint, part_size=5 * 2**20),
                  spool_dir=tmp_path / "spool")


def fail_after_three_parts(cfg, sink, monkeypatch):
    """One worker, one chunk in flight: chunks 0-2 are uploaded and recorded before chunk 3 fails."""
    with reduce_fails_at(3), pytest.raises(RunFailed, match="chunks delivered: 0, 1, 2 of 4"):
        run(cfg, sink, seed=11, run_id="smoke", workers=1, max_in_flight=1, progress=False)


def _flip(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 8]) + data[mid + 8:]


def _replace(s3, bucket, body: bytes, **extra) -> None:
    """Overwrite part 1 with ``body``, its user metadata copied over from the real object."""
    meta = s3.head_object(Bucket=bucket, Key=PART)["Metadata"]
    s3.put_object(Bucket=bucket, Key=PART, Body=body, Metadata=meta, **extra)


def _vouch(s3, bucket, body: bytes) -> None:
    """Rewrite part 1's record so its ETag, checksum and size match the object now there (an adversary's edit)."""
    head = s3.head_object(Bucket=bucket, Key=PART, ChecksumMode="ENABLED")
    rec = json.loads(s3.get_object(Bucket=bucket, Key=RECORD)["Body"].read())
    rec.update(etag=head["ETag"], checksum_sha256=head.get("ChecksumSHA256", ""), bytes=len(body))
    s3.put_object(Bucket=bucket, Key=RECORD, Body=json.dumps(rec).encode())


def truncated(s3, bucket, data, foreign):
    _replace(s3, bucket, data[:-1000])


def flipped_bytes_same_size(s3, bucket, data, foreign):
    _replace(s3, bucket, _flip(data))


def flipped_bytes_and_a_record_that_vouches_for_them(s3, bucket, data, foreign):
    _replace(s3, bucket, _flip(data), ChecksumAlgorithm="SHA256")
    _vouch(s3, bucket, data)  # size and SHA-256 of the record stay those of the real part


def foreign_part_of_the_same_size(s3, bucket, data, foreign):
    assert len(foreign["run_id"]) == len(data)
    _replace(s3, bucket, foreign["run_id"])


def copy_object_from_another_seeds_run(s3, bucket, data, foreign):
    s3.put_object(Bucket=bucket, Key="other/events/run_id=smoke/part-00001.parquet", Body=foreign["seed"],
                  ChecksumAlgorithm="SHA256")
    s3.copy_object(Bucket=bucket, Key=PART, CopySource={"Bucket": bucket, "Key": "other/events/run_id=smoke/"
                                                                                "part-00001.parquet"})
    _vouch(s3, bucket, foreign["seed"])
    rec = json.loads(s3.get_object(Bucket=bucket, Key=RECORD)["Body"].read())
    rec["sha256"] = hashlib.sha256(foreign["seed"]).hexdigest()  # the record describes the copy exactly
    s3.put_object(Bucket=bucket, Key=RECORD, Body=json.dumps(rec).encode())


def object_without_metadata(s3, bucket, data, foreign):
    s3.put_object(Bucket=bucket, Key=PART, Body=data)  # the right bytes, but no metadata and no checksum


def object_without_record(s3, bucket, data, foreign):
    s3.delete_object(Bucket=bucket, Key=RECORD)  # the uploader died between the upload and its record


def record_without_object(s3, bucket, data, foreign):
    s3.delete_object(Bucket=bucket, Key=PART)


@pytest.mark.parametrize("damage", [truncated, flipped_bytes_same_size,
                                    flipped_bytes_and_a_record_that_vouches_for_them, foreign_part_of_the_same_size,
                                    copy_object_from_another_seeds_run, object_without_metadata,
                                    object_without_record, record_without_object],
                         ids=lambda f: f.__name__)
def test_a_damaged_part_is_regenerated(smoke_cfg, smoke_run, foreign, moto_server, bucket, s3_env, tmp_path,
                                       monkeypatch, damage):
    s3 = moto_server.client()
    fail_after_three_parts(smoke_cfg, _sink(moto_server, bucket, tmp_path), monkeypatch)
    records = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX + "_parts/")["Contents"]}
    events = {k for k in records if k.count("/") == PREFIX.count("/") + 1}  # other tables' records sit a level deeper
    assert events == {f"{PREFIX}_parts/part-0000{i}.parquet.json" for i in range(3)}
    assert f"{PREFIX}_parts/users/part-00002.parquet.json" in records
    damage(s3, bucket, s3.get_object(Bucket=bucket, Key=PART)["Body"].read(), foreign)
    summary = resume(_sink(moto_server, bucket, tmp_path), "smoke", workers=1, progress=False)
    assert summary.resumed_files == 2 and summary.events == 20_000  # parts 0 and 2 kept, 1 and 3 uploaded
    committed_s3(s3, bucket, PREFIX, local_files(smoke_run[1]))
    assert not list((tmp_path / "spool").iterdir())
