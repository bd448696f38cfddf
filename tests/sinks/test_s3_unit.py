"""S3Sink against moto in-process: addressing, the commit protocol, resume bookkeeping, abort, errors."""
from __future__ import annotations

import hashlib
import json
import socket

import boto3
import pytest
from moto import mock_aws

from temu_gen.errors import ConfigError, OutputError, RunLocked
from temu_gen.sinks.base import Holder, PartExpectation, PartRecord
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
    with pytest.raises(ConfigError):  # a bad flag (exit 2), not an output that cannot be written
        parse_s3_uri(uri)


def test_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="minimum"):
        S3Sink("s3://ng-events/x", S3Options(part_size=2**20))
    with pytest.raises(ConfigError, match="needs --sse aws:kms"):
        S3Sink("s3://ng-events/x", S3Options(sse_kms_key_id="k"))
    with pytest.raises(ConfigError, match=r"above S3's maximum of 5,368,709,120 \(5GiB\)"):
        S3Sink("s3://ng-events/x", S3Options(part_size=6 * 2**30))
    with pytest.raises(ConfigError, match="--region 'bad region' is not a region name; use e.g. eu-west-1"):
        S3Sink("s3://ng-events/x", S3Options(region="bad region"))
    S3Sink("s3://ng-events/x", S3Options(region="af-south-1", part_size=5 * 2**30))


def _part(tmp_path, size=6 * 2**20 + 123):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    p = tmp_path / "part-00000.parquet"
    p.write_bytes(data)
    return p, PartRecord(0, "part-00000.parquet", 10, len(data), hashlib.sha256(data).hexdigest())


def _open(aws, uri, run_id, tmp_path, **opts):
    target = S3Sink(uri, S3Options(**opts), spool_dir=tmp_path).open_run(run_id)
    target.lock(Holder.me())
    return target


class _Gate:
    def check(self):
        pass


def test_upload_is_multipart_with_checksums_sse_and_a_record(aws, tmp_path):
    target = _open(aws, "s3://ng-events/load/ng", "r1", tmp_path, sse="AES256", part_size=5 * 2**20)
    path, rec = _part(tmp_path)
    done = target.upload(rec, path)
    assert done.upload_parts == 2 and done.etag.endswith('-2"') and done.checksum_sha256
    key = "load/ng/events/run_id=r1/part-00000.parquet"
    head = aws.head_object(Bucket="ng-events", Key=key, ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256" and head["Metadata"]["sha256"] == rec.sha256
    record = json.loads(aws.get_object(Bucket="ng-events", Key="load/ng/events/run_id=r1/_parts/part-00000.parquet.json")
                        ["Body"].read())
    assert PartRecord.from_json(record) == done._replace(upload_seconds=0.0)


@pytest.mark.parametrize("lock_now", ["resumed by another writer", "committed since"])
def test_a_task_of_an_attempt_that_lost_its_lock_writes_nothing_under_the_run(aws, tmp_path, lock_now):
    """A Dask worker that outlived its coordinator (kill -9) must not add a record (or a part) to the run that the
    resumed attempt owns, or has already committed."""
    target = _open(aws, "s3://ng-events/f", "r9", tmp_path)
    path, rec = _part(tmp_path, size=1000)
    if lock_now == "resumed by another writer":
        other = Holder("elsewhere.example", 7, "2026-11-27T16:49:12+00:00", "theirs", 1.0)
        aws.put_object(Bucket="ng-events", Key="f/events/run_id=r9/_lock", Body=other.to_bytes())
    else:
        aws.delete_object(Bucket="ng-events", Key="f/events/run_id=r9/_lock")
    with pytest.raises(RunLocked, match="lost its lock"):
        target.upload(rec, path)
    keys = {o["Key"] for o in aws.list_objects_v2(Bucket="ng-events", Prefix="f/").get("Contents", [])}
    assert not any("part-00000" in k for k in keys), keys


def test_a_task_whose_lock_goes_mid_upload_leaves_no_record(aws, tmp_path, monkeypatch):
    target = _open(aws, "s3://ng-events/g", "r9", tmp_path)
    path, rec = _part(tmp_path, size=1000)
    upload_file = target.client.upload_file

    def and_then_resumed(*a, **k):
        upload_file(*a, **k)
        aws.delete_object(Bucket="ng-events", Key="g/events/run_id=r9/_lock")  # --force-unlock while it uploaded

    monkeypatch.setattr(target.client, "upload_file", and_then_resumed)
    with pytest.raises(RunLocked, match="lost its lock"):
        target.upload(rec, path)
    assert not aws.list_objects_v2(Bucket="ng-events", Prefix="g/events/run_id=r9/_parts/").get("Contents")


def test_commit_order_overwrite_protection_and_lock_release(aws, tmp_path):
    target = _open(aws, "s3://ng-events/p", "r2", tmp_path)
    target.write_plan(b'{"seed": 1}')
    target.commit(b"{}", _Gate())
    keys = {o["Key"] for o in aws.list_objects_v2(Bucket="ng-events", Prefix="p/")["Contents"]}
    assert keys == {"p/events/run_id=r2/_SUCCESS", "p/events/run_id=r2/_manifest.json", "p/events/run_id=r2/_run.json"}
    again = _open(aws, "s3://ng-events/p", "r2", tmp_path)
    assert again.is_committed()
    again.reset()
    assert not again.is_committed()
    keys = {o["Key"] for o in aws.list_objects_v2(Bucket="ng-events", Prefix="p/")["Contents"]}
    assert keys == {"p/events/run_id=r2/_lock"}


def test_a_second_writer_is_refused_with_the_holder(aws, tmp_path):
    first = _open(aws, "s3://ng-events/p", "r5", tmp_path)
    with pytest.raises(RunLocked, match=r"being written by pid \d+ on host"):
        _open(aws, "s3://ng-events/p", "r5", tmp_path)
    first.unlock()
    _open(aws, "s3://ng-events/p", "r5", tmp_path)  # free again


def test_abort_leaves_no_open_multipart_uploads(aws, tmp_path):
    target = _open(aws, "s3://ng-events/p", "r3", tmp_path)
    for i in range(3):
        aws.create_multipart_upload(Bucket="ng-events", Key=f"p/events/run_id=r3/part-{i:05d}.parquet")
    aws.create_multipart_upload(Bucket="ng-events", Key="other/keep-me")
    assert target.abort() == 3
    left = [u["Key"] for u in aws.list_multipart_uploads(Bucket="ng-events").get("Uploads", [])]
    assert left == ["other/keep-me"]
    assert target.staging_dir.parent == tmp_path and not target.staging_dir.exists()  # the spool is gone too
    assert "Contents" not in aws.list_objects_v2(Bucket="ng-events", Prefix="p/events/run_id=r3/_lock")


def test_resume_keeps_nothing_without_a_record(aws, tmp_path):
    target = _open(aws, "s3://ng-events/p", "r4", tmp_path)
    aws.put_object(Bucket="ng-events", Key="p/events/run_id=r4/part-00001.parquet", Body=b"torn")  # no record
    exp = [PartExpectation(1, "part-00001.parquet", 4, {})]
    assert target.verify(exp) == {}
    assert "Contents" not in aws.list_objects_v2(Bucket="ng-events", Prefix="p/events/run_id=r4/part-")


def test_missing_bucket_is_one_line(aws, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        _open(aws, "s3://no-such-bucket/x", "r", tmp_path)


def test_force_unlock_clears_a_stale_lock_but_never_a_live_one(aws, tmp_path):
    key = "p/events/run_id=r6/_lock"
    stale = Holder(socket.gethostname(), 2**22 + 1, "2026-11-27T16:49:12+00:00", "old", 1.0)  # above pid_max
    aws.put_object(Bucket="ng-events", Key=key, Body=stale.to_bytes())
    with pytest.raises(RunLocked, match=r"no longer running \(a stale lock\).*rerun with --force-unlock"):
        _open(aws, "s3://ng-events/p", "r6", tmp_path)
    target = S3Sink("s3://ng-events/p", S3Options(), spool_dir=tmp_path).open_run("r6")
    me = Holder.me()
    target.lock(me, force=True)
    assert Holder.parse(aws.get_object(Bucket="ng-events", Key=key)["Body"].read()) == me
    again = S3Sink("s3://ng-events/p", S3Options(), spool_dir=tmp_path).open_run("r6")
    with pytest.raises(RunLocked) as e:
        again.lock(Holder.me(), force=True)  # the holder (this process) is alive: --force-unlock does not take it
    assert "is being written by pid" in str(e.value) and "--force-unlock" not in str(e.value)
    assert Holder.parse(aws.get_object(Bucket="ng-events", Key=key)["Body"].read()) == me


def test_a_run_that_lost_its_lock_neither_commits_nor_cleans_up_the_new_writers_run(aws, tmp_path):
    target = _open(aws, "s3://ng-events/p", "r7", tmp_path)
    other = Holder("elsewhere.example", 7, "2026-11-27T16:49:12+00:00", "theirs", 1.0)
    aws.put_object(Bucket="ng-events", Key="p/events/run_id=r7/_lock", Body=other.to_bytes())  # --force-unlock'ed
    upload = aws.create_multipart_upload(Bucket="ng-events", Key="p/events/run_id=r7/part-00000.parquet")
    (target.staging_dir / "theirs.parquet").write_bytes(b"x")
    with pytest.raises(RunLocked, match=r"lost its lock \(_lock now held by pid 7 on host elsewhere.example"):
        target.commit(b"{}", _Gate())
    assert target.abort() == 0
    keys = {o["Key"] for o in aws.list_objects_v2(Bucket="ng-events", Prefix="p/")["Contents"]}
    assert keys == {"p/events/run_id=r7/_lock"}  # no manifest, no _SUCCESS, the other writer's lock kept
    assert [u["UploadId"] for u in aws.list_multipart_uploads(Bucket="ng-events")["Uploads"]] == [upload["UploadId"]]
    assert (target.staging_dir / "theirs.parquet").exists()


def test_a_fresh_run_aborts_the_uploads_a_crashed_attempt_left_open(aws, tmp_path):
    aws.create_multipart_upload(Bucket="ng-events", Key="p/events/run_id=r8/part-00000.parquet")
    aws.put_object(Bucket="ng-events", Key="p/events/run_id=r8/_parts/part-00000.parquet.json", Body=b"{}")
    target = _open(aws, "s3://ng-events/p", "r8", tmp_path)
    target.reset()
    assert not aws.list_multipart_uploads(Bucket="ng-events").get("Uploads")
    keys = {o["Key"] for o in aws.list_objects_v2(Bucket="ng-events", Prefix="p/")["Contents"]}
    assert keys == {"p/events/run_id=r8/_lock"}


@pytest.mark.parametrize("body,needle", [(b"[" * 100_000, "nested too deeply"),
                                         (b'{"seed": NaN}', "NaN is not a number"), (b"{", "JSONDecodeError")])
def test_a_bad_recorded_plan_is_one_line(aws, tmp_path, body, needle):
    aws.put_object(Bucket="ng-events", Key="p/events/run_id=r9/_run.json", Body=body)
    target = S3Sink("s3://ng-events/p", S3Options(), spool_dir=tmp_path).open_run("r9")
    with pytest.raises(OutputError, match="the recorded plan s3://ng-events/p/events/run_id=r9/_run.json is not "
                                          "valid JSON") as e:
        target.read_plan()
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_two_destinations_of_one_run_id_keep_their_own_spool(aws, tmp_path):
    """Runs with the same id to two prefixes (or buckets, or endpoints) once shared one spool folder, and each one's
    clean-up removed the other's parts."""
    aws.create_bucket(Bucket="other-bucket")
    a = S3Sink("s3://ng-events/a", S3Options(), spool_dir=tmp_path).open_run("r")
    folders = {a.staging_dir, S3Sink("s3://ng-events/b", S3Options(), spool_dir=tmp_path).open_run("r").staging_dir,
               S3Sink("s3://other-bucket/a", S3Options(), spool_dir=tmp_path).open_run("r").staging_dir,
               S3Sink("s3://ng-events/a", S3Options(endpoint_url="http://127.0.0.1:9"),
                      spool_dir=tmp_path).open_run("r").staging_dir}
    assert len(folders) == 4 and all(f.parent == tmp_path and f.name.startswith("r.s3-") for f in folders)
    assert S3Sink("s3://ng-events/a", S3Options(), spool_dir=tmp_path).open_run("r").staging_dir == a.staging_dir


def test_a_lock_whose_answer_was_lost_is_recognised_as_ours(aws, tmp_path):
    """botocore retries a create whose answer was lost; the retry finds the lock made by the first try (412).
    The run once took that for another writer's lock, refused itself, and left the lock behind."""
    target = S3Sink("s3://ng-events/p", S3Options(), spool_dir=tmp_path).open_run("r10")
    real = target.client.put_object
    calls = []

    def answer_lost_then_retried(**kw):
        calls.append(kw["Key"])
        if len(calls) == 1:
            real(**kw)
        return real(**kw)

    target.client.put_object = answer_lost_then_retried
    me = Holder.me()
    target.lock(me)
    assert Holder.parse(aws.get_object(Bucket="ng-events", Key="p/events/run_id=r10/_lock")["Body"].read()) == me
    assert target.staging_dir.is_dir()
    target.unlock()
    assert "Contents" not in aws.list_objects_v2(Bucket="ng-events", Prefix="p/events/run_id=r10/_lock")


def test_an_interruption_while_taking_the_lock_leaves_no_lock(aws, tmp_path, monkeypatch):
    """A signal (or a failed request) after the lock object is created, before lock() returns: the lock goes."""
    target = S3Sink("s3://ng-events/p", S3Options(), spool_dir=tmp_path).open_run("r11")

    def interrupted(holder):
        raise KeyboardInterrupt

    monkeypatch.setattr(target, "_check_exclusive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        target.lock(Holder.me())
    assert "Contents" not in aws.list_objects_v2(Bucket="ng-events", Prefix="p/events/run_id=r11/")


def test_a_delivered_object_that_vanished_or_changed_stops_the_commit(aws, tmp_path):
    target = _open(aws, "s3://ng-events/p", "r12", tmp_path)
    recs = []
    for i, (table, body) in enumerate([("events", b"a" * 10), ("users", b"b" * 20)]):
        name = f"part-{i:05d}.parquet"
        etag = aws.put_object(Bucket="ng-events", Key=target.file_object(table, name), Body=body)["ETag"]
        recs.append(PartRecord(i, name, 1, len(body), hashlib.sha256(body).hexdigest(), etag=etag, table=table))
    target.check_delivered(recs)
    aws.put_object(Bucket="ng-events", Key=target.file_object("users", "part-00001.parquet"), Body=b"c" * 20)
    with pytest.raises(OutputError, match=r"delivered file users/part-00001.parquet of run r12 at .* vanished or "
                                          r"changed before the commit"):
        target.check_delivered(recs)  # same size, another ETag
    aws.delete_object(Bucket="ng-events", Key=target.file_object("events", "part-00000.parquet"))
    with pytest.raises(OutputError, match=r"events/part-00000.parquet and 1 more"):
        target.check_delivered(recs)


def test_a_silent_endpoint_costs_the_clean_up_one_short_wait(aws, tmp_path, monkeypatch):
    """Once the lock's read times out, abort asks nothing more: each request would wait out its timeout too."""
    from botocore.exceptions import ReadTimeoutError

    from temu_gen.sinks import s3_run

    target = _open(aws, "s3://ng-events/p", "r13", tmp_path)
    asked = []

    class Silent:
        def __getattr__(self, name):
            def call(**kw):
                asked.append(name)
                raise ReadTimeoutError(endpoint_url="http://127.0.0.1:9")
            return call

    monkeypatch.setattr(s3_run, "make_client", lambda options, quick=False: Silent())
    assert target.abort() == 0
    assert asked == ["get_object"] and not target.staging_dir.exists()


def test_a_listing_whose_etag_differs_is_settled_by_the_objects_own(aws, tmp_path, monkeypatch):
    """Some servers (MinIO with encryption) list another ETag than HEAD gives: HEAD decides, not the listing."""
    target = _open(aws, "s3://ng-events/p", "r14", tmp_path)
    etag = aws.put_object(Bucket="ng-events", Key=target.file_object("events", "part-00000.parquet"),
                          Body=b"a" * 10)["ETag"]
    rec = PartRecord(0, "part-00000.parquet", 1, 10, hashlib.sha256(b"a" * 10).hexdigest(), etag=etag)
    real = target._list

    def listed_otherwise(sub="", base=None):
        return {k: {**o, "ETag": '"not-the-head-etag"'} for k, o in real(sub, base).items()}

    monkeypatch.setattr(target, "_list", listed_otherwise)
    target.check_delivered([rec])
    aws.put_object(Bucket="ng-events", Key=target.file_object("events", "part-00000.parquet"), Body=b"b" * 10)
    with pytest.raises(OutputError, match="vanished or changed before the commit"):
        target.check_delivered([rec])


def test_a_dask_workers_failed_upload_names_the_worker_whose_credentials_failed(tmp_path):
    """On a cluster, a worker uploads its own files with its own credentials: the one line says which machine."""
    import socket

    from botocore.exceptions import NoCredentialsError

    from temu_gen.delivery import upload_task_files
    from temu_gen.errors import RunFailed
    from temu_gen.reduce import ChunkOutput, TaskOutput

    class NoCredentials:
        def upload(self, record, path):
            raise NoCredentialsError()

        def url(self, record):
            return f"s3://ng-events/p/events/run_id=r/{record.name}"

    path, rec = _part(tmp_path, size=10)
    with pytest.raises(RunFailed) as failed:
        upload_task_files(NoCredentials(), TaskOutput(0, (ChunkOutput(rec, path),)))
    message = str(failed.value)
    assert f"by the Dask worker on {socket.gethostname()} failed" in message and "credentials" in message.lower()
    assert len(message.splitlines()) == 1
