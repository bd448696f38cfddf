"""Faults: throttling, 5xx and dropped connections are retried; killed processes fail cleanly and resume exactly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from s3_helpers import cli, local_files, reference_run, s3_files
from s3_servers import CREDS, FaultyProxy
from temu_gen.config import load
from temu_gen.reduce import task_files
from temu_gen.sinks.base import file_key

EVENTS, CHUNK = 1_500_000, 300_000  # 5 parts of ~6 MB, each a 2-part multipart upload at 5 MiB parts
BUSY = 3_000_000
"""Events of the killed-worker case: 10 parts, so the workers still hold tasks when the first part is stored, and the
victim is a worker caught using CPU (with 5 parts, or faster workers, a slow upload could let both finish every task
first, and killing an idle worker rightly harms nothing)."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return local_files(reference_run(tmp_path_factory.mktemp("ref"), EVENTS, CHUNK, 8, "f"))


@pytest.fixture(scope="module")
def reference_busy(tmp_path_factory):
    return local_files(reference_run(tmp_path_factory.mktemp("ref-busy"), BUSY, CHUNK, 8, "f"))


def _args(bucket, tmp_path, *extra, events=EVENTS):
    return ["--events", str(events), "--chunk-size", str(CHUNK), "--seed", "8", "--run-id", "f", "--part-size", "5MiB",
            "--output", f"s3://{bucket}/p", "--spool-dir", str(tmp_path / "spool"), *extra]


def test_throttling_errors_and_drops_are_retried(moto_server, bucket, reference, tmp_path):
    proxy = FaultyProxy(moto_server.port, p503=0.12, p500=0.06, pdrop=0.06, seed=1)
    try:
        r = cli(*_args(bucket, tmp_path, "--workers", "2"), endpoint=proxy.endpoint)
    finally:
        proxy.stop()
    assert r.returncode == 0, r.stderr
    assert proxy.counts["503"] > 0 and proxy.counts["500"] > 0 and proxy.counts["drop"] > 0, proxy.counts
    s3 = moto_server.client()
    assert s3_files(s3, bucket, "p/events/run_id=f/") == reference
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads") is None


def _start(bucket, tmp_path, endpoint, workers, events=EVENTS):
    env = {**os.environ, **CREDS}
    env.pop("AWS_ENDPOINT_URL", None)
    cmd = [sys.executable, "-m", "temu_gen", "--no-progress", "--endpoint-url", endpoint,
           *_args(bucket, tmp_path, "--workers", str(workers), "--max-in-flight", "2", events=events)]
    # own process group, like a terminal job: Ctrl-C reaches every process of the run
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def _wait_for_first_part(s3, bucket, proc, timeout=120, whole=True):
    """Until task 0 counts as delivered (``whole``: the record of every file it writes is stored; waiting for the
    objects alone races the records' uploads), or until any file has a record."""
    deadline = time.time() + timeout
    prefix = "p/events/run_id=f/_parts/"
    task_0 = {f"{prefix}{file_key(table, name)}.json" for table, name in task_files(load(None), 0)}
    while time.time() < deadline:
        records = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}
        if task_0 <= records if whole else records:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no part was uploaded in time")


def _tree(pid: int, name: str) -> list[psutil.Process]:
    """The run's processes called ``name`` (workers and the uploader name themselves)."""
    return [c for c in psutil.Process(pid).children(recursive=True) if c.name() == name]


def _holding(p: psutil.Process, folder: Path) -> bool:
    """Whether ``p`` has a file of ``folder`` open: a worker in a task (spool shards, its part's temp file)."""
    try:
        return any(f.path.startswith(str(folder)) for f in p.open_files())
    except psutil.NoSuchProcess:
        return False


def _busy(pid: int, name: str, folder: Path, timeout: float = 60.0) -> psutil.Process:
    """One of the run's ``name`` processes caught in a task: using CPU (40% of a core over two windows in a row) with
    a file of the run's ``folder`` open. Killing an idle worker rightly harms nothing, and the run commits; so does
    killing one that only tidies up after its task (a trim of freed memory uses CPU too) while no task is sent to it,
    as when the uploads hold the next parts back."""
    deadline = time.time() + timeout
    streak: dict[int, int] = {}
    while time.time() < deadline:
        procs = _tree(pid, name)
        before = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
        time.sleep(0.05)
        for p in procs:
            try:
                busy = sum(p.cpu_times()[:2]) - before[p.pid] > 0.02
            except psutil.NoSuchProcess:
                busy = False
            streak[p.pid] = streak.get(p.pid, 0) + 1 if busy else 0
            if streak[p.pid] >= 2 and _holding(p, folder):
                return p
    raise AssertionError(f"no {name} process was busy in a task within {timeout} s")


def _resume_is_exact(moto_server, bucket, tmp_path, reference, *extra):
    s3 = moto_server.client()
    prefix = "p/events/run_id=f/"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}
    assert prefix + "_SUCCESS" not in keys and prefix + "_manifest.json" not in keys
    r = cli("--resume", "f", "--workers", "2", "--part-size", "5MiB", "--output", f"s3://{bucket}/p", "--spool-dir",
            str(tmp_path / "spool"), *extra, endpoint=moto_server.endpoint)
    assert r.returncode == 0, r.stderr
    assert "kept from the failed run" in r.stdout
    assert s3_files(s3, bucket, prefix) == reference
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads") is None


@pytest.mark.parametrize("victim", ["worker", "uploader"])
def test_killed_process_fails_cleanly_and_resume_is_exact(moto_server, bucket, request, tmp_path, victim):
    s3 = moto_server.client()
    events = BUSY if victim == "worker" else EVENTS
    reference = request.getfixturevalue("reference_busy" if victim == "worker" else "reference")
    proc = _start(bucket, tmp_path, moto_server.endpoint, workers=2, events=events)
    _wait_for_first_part(s3, bucket, proc)
    if victim == "uploader":
        os.kill(_tree(proc.pid, "temu-gen-upload")[0].pid, signal.SIGKILL)
    else:
        _busy(proc.pid, "temu-gen-worker", tmp_path / "spool").kill()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err
    cause = "uploader process died" if victim == "uploader" else "worker process died"
    assert cause in err and "not committed" in err and len(err.strip().splitlines()) == 1, err
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads") is None
    assert not list((tmp_path / "spool").glob("f.*"))  # a failed run removes its spool files
    _resume_is_exact(moto_server, bucket, tmp_path, reference)


def test_crashed_coordinator_leaves_nothing_committed_and_resumes(moto_server, bucket, reference, tmp_path):
    """SIGKILL of the main process: no error can be printed, but nothing looks finished and --resume completes."""
    s3 = moto_server.client()
    proc = _start(bucket, tmp_path, moto_server.endpoint, workers=1)
    _wait_for_first_part(s3, bucket, proc)
    (uploader,) = _tree(proc.pid, "temu-gen-upload")
    proc.kill()
    proc.communicate(timeout=60)
    uploader.wait(timeout=5)  # the kernel kills it with its parent (PR_SET_PDEATHSIG)
    r = cli("--resume", "f", "--output", f"s3://{bucket}/p", "--spool-dir", str(tmp_path / "spool"),
            endpoint=moto_server.endpoint)
    assert r.returncode == 3 and "stale lock" in r.stderr and "--force-unlock" in r.stderr, r.stderr
    _resume_is_exact(moto_server, bucket, tmp_path, reference, "--force-unlock")


def test_ctrl_c_aborts_cleanly(moto_server, bucket, tmp_path):
    s3 = moto_server.client()
    proc = _start(bucket, tmp_path, moto_server.endpoint, workers=2)
    _wait_for_first_part(s3, bucket, proc, whole=False)  # nothing is resumed: the earliest moment mid-run will do
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="p/").get("Contents", [])}
    assert "p/events/run_id=f/_SUCCESS" not in keys
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads") is None
