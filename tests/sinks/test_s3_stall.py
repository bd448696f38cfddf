"""A stalled S3 endpoint fails within a bound, in one line, with everything open aborted.

The CLI runs with short ``--s3-read-timeout``/``--s3-deadline`` so a stall costs seconds
here; the defaults (connect 5 s, read 10 s, deadline 60 s) are checked to bound a stall to
about a minute on a simulated clock.
"""
from __future__ import annotations

import re
import time

from botocore.exceptions import ReadTimeoutError

from procs import UPLOADER, WORKER, cli, named, one_line, start, survivors, tree, wait_until
from s3_servers import FaultyProxy, StalledServer
from temu_gen.sinks import s3 as s3_mod
from temu_gen.sinks.s3 import S3Options

SHORT = ["--s3-connect-timeout", "1", "--s3-read-timeout", "1", "--s3-deadline", "3"]


def test_an_endpoint_that_never_answers_fails_within_the_deadline(tmp_path):
    server = StalledServer()
    try:
        started = time.monotonic()
        r = cli("--events", "1000", "--run-id", "st", "--output", "s3://bucket-x/p", "--spool-dir",
                str(tmp_path / "spool"), *SHORT, endpoint=server.endpoint, timeout=60)
        elapsed = time.monotonic() - started
        asked = len(server.held)
    finally:
        server.stop()
    assert r.returncode == 3
    assert one_line(r.stderr) == ("temu-gen: error: the S3 endpoint for s3://bucket-x/p/events/run_id=st stopped "
                                  "answering (ReadTimeoutError, retried until the deadline); check the endpoint and "
                                  "the network, or raise --s3-read-timeout / --s3-deadline")
    assert elapsed < 3 + 1 + 8  # deadline + one read timeout + start-up
    # the lock's create, retried until the deadline; then nothing more (asking whether it landed waited again)
    assert asked <= 3, asked
    assert not (tmp_path / "spool").exists()


def test_uploads_that_stall_mid_run_fail_within_the_deadline_and_are_aborted(moto_server, bucket, tmp_path):
    """Every part PUT hangs; listing, aborting and the lock still answer, so the clean-up can be checked."""
    proxy = FaultyProxy(moto_server.port, p503=0, p500=0, pdrop=0,
                        hold=lambda method, path: None if method == "PUT" and "/part-" in path else 0)
    s3 = moto_server.client()
    try:
        started = time.monotonic()
        proc = start("--events", "600000", "--chunk-size", "300000", "--seed", "2", "--run-id", "st", "--workers",
                     "2", "--part-size", "5MiB", "--output", f"s3://{bucket}/p", "--spool-dir",
                     str(tmp_path / "spool"), *SHORT, endpoint=proxy.endpoint)
        wait_until(lambda: s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), proc, what="an upload opened")
        children = tree(proc.pid)
        assert named(children, UPLOADER) and named(children, WORKER)
        _, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        proxy.stop()
    assert proc.returncode == 4, err
    line = one_line(err)
    # the first upload to stall is any file of the run: a part, or the products table (written beside the map)
    assert re.fullmatch(rf"temu-gen: error: run st failed \(upload of ((products)/)?part-0000(\d)\.parquet failed: the S3 "
                        rf"endpoint for s3://{bucket}/p/(\2|events)/run_id=st/part-0000\3\.parquet stopped answering "
                        rf"\(ReadTimeoutError, "
                        rf"retried until the deadline\); check the endpoint and the network, or raise "
                        rf"--s3-read-timeout / --s3-deadline\); chunks delivered: none of 2; not committed "
                        rf"\(no _SUCCESS\); resume with --resume st", line), line  # no upload to abort: s3transfer aborted its own
    assert proxy.counts["held"] >= 2 and elapsed < 3 + 1 + 12
    assert survivors(children) == []
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["p/events/run_id=st/_run.json"]  # no part, no _SUCCESS, no lock
    assert not list((tmp_path / "spool").glob("st.*"))


def test_the_defaults_bound_a_stalled_request_to_about_a_minute(monkeypatch):
    """Each attempt waits a whole read timeout for a byte; retries stop once the deadline is spent."""
    opts = S3Options()
    assert (opts.connect_timeout_s, opts.read_timeout_s, opts.deadline_s) == (5.0, 10.0, 60.0)
    for jitter in (0.0, 0.5, 1.0):  # backoff draws rand(0, 1): the bound holds for any draw
        clock = [1000.0]
        monkeypatch.setattr(s3_mod.time, "monotonic", lambda: clock[0])
        retry = s3_mod._Retry(opts.max_attempts, opts.deadline_s)
        retry._backoff._random = lambda: jitter
        context: dict = {}
        s3_mod._stamp_first_attempt(context=context)
        attempts = 0
        while True:
            attempts += 1
            clock[0] += opts.read_timeout_s
            delay = retry(attempts=attempts, operation=None, response=None, request_dict={"context": context},
                          caught_exception=ReadTimeoutError(endpoint_url="http://stalled"))
            if delay is None:
                break
            clock[0] += delay
        assert 60 <= clock[0] - 1000.0 <= opts.deadline_s + opts.read_timeout_s, (jitter, clock[0] - 1000.0)
        assert attempts < opts.max_attempts  # the deadline, not the attempt count, ended it
