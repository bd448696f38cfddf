"""A jsonl run in S3 (moto over HTTP): multipart uploads with checksums, resume proving parts by their gzip header,
and the tools reading it back. The oracle is the same run written locally."""
from __future__ import annotations

import json

import pytest

from faults import reduce_fails_at
from outcomes import committed_s3, local_files
from s3_servers import CREDS
from temu_gen.cli import main
from temu_gen.errors import RunFailed
from temu_gen.run import resume, run
from temu_gen.sinks import LocalDirSink
from temu_gen.sinks.s3 import S3Options, S3Sink
from temu_gen.tools.runref import open_run
from temu_gen.tools.views import connect

PREFIX = "p/events/run_id=sj/"


@pytest.fixture
def s3_env(monkeypatch):
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_jsonl_run_resumes_in_s3_and_validates(jsonl_cfg, moto_server, bucket, s3_env, tmp_path, capsys):
    cfg = jsonl_cfg.with_run(chunk_size=48_000)  # part 0 is ~5.5 MiB: a multipart upload of 2 parts at 5 MiB
    run(cfg, LocalDirSink(tmp_path / "local"), seed=9, run_id="sj", workers=2, progress=False)
    reference = local_files(tmp_path / "local" / "events" / "run_id=sj")
    sink = S3Sink(f"s3://{bucket}/p", S3Options(endpoint_url=moto_server.endpoint, part_size=5 * 2**20),
                  spool_dir=tmp_path / "spool")
    with reduce_fails_at(1), pytest.raises(RunFailed, match="chunks delivered: 0 of 2"):
        run(cfg, sink, seed=9, run_id="sj", workers=1, max_in_flight=1, progress=False)
    summary = resume(sink, "sj", workers=1, progress=False)
    assert summary.resumed_files == 1  # task 0's files proved theirs by size, ETag, checksum and gzip header
    s3 = moto_server.client()
    assert sorted(reference) == ["part-00000.jsonl.gz", "part-00001.jsonl.gz"]
    manifest = committed_s3(s3, bucket, PREFIX, reference)
    assert [f["upload_parts"] for f in manifest["files"]] == [2, 1]
    head = s3.head_object(Bucket=bucket, Key=PREFIX + "part-00000.jsonl.gz", ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-2"') and head["ChecksumSHA256"]  # multipart, with S3's own SHA-256
    code = main(["validate", f"s3://{bucket}/p", "--run-id", "sj", "--endpoint-url", moto_server.endpoint,
                 "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["ok"], doc["problems"]
    with connect(open_run(f"s3://{bucket}/p", "sj", moto_server.endpoint)) as con:  # show and reconcile's way in
        assert con.execute("SELECT count(*), count(DISTINCT context) > 1000 FROM events").fetchall() == [(60_000, True)]
