"""One writer per run id: a second run or resume of a run in progress is refused at once, naming its holder.

Local runs lock with ``_lock`` created O_EXCL, S3 runs with a ``_lock`` object created with
``If-None-Match: *`` (moto over HTTP). A stale lock (holder gone) is reported with
``--force-unlock``, which clears it deliberately but never takes a live writer's lock.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import pyarrow.parquet as pq
import pytest

from outcomes import committed_local, committed_s3, local_files, not_committed_local
from procs import cli, one_line, start, wait_until
from temu_gen.errors import RunFailed
from temu_gen.run import run
from temu_gen.sinks import LocalDirSink
from temu_gen.sinks.base import Holder
from temu_gen.sinks.local import LocalRun

EVENTS, CHUNK = 300_000, 50_000  # 6 parts; a run met mid-way is held there with SIGSTOP
RACE_EVENTS = 1_200_000  # a few seconds on one worker: two runs started at once do meet
HOST = socket.gethostname()


def _args(seed: int, *extra: str, events: int = EVENTS) -> list[str]:
    return ["--events", str(events), "--chunk-size", str(CHUNK), "--seed", str(seed), "--run-id", "same",
            "--workers", "1", *extra]


@pytest.fixture(scope="module")
def reference(default_cfg, tmp_path_factory):
    """The clean run of seed 1 under run id 'same': what the one writer that commits must leave."""
    root = tmp_path_factory.mktemp("ref")
    run(default_cfg.with_run(events=EVENTS, chunk_size=CHUNK), LocalDirSink(root), seed=1, run_id="same", workers=2,
        progress=False)
    return local_files(root / "events" / "run_id=same")


def test_a_second_run_or_resume_is_refused_naming_the_holder(tmp_path, reference):
    run_dir = tmp_path / "events" / "run_id=same"
    first = start(*_args(1), "--output", str(tmp_path))
    wait_until((run_dir / "part-00000.parquet").exists, first, what="the first run delivered a part")
    os.killpg(first.pid, signal.SIGSTOP)  # hold the first run mid-way (alive, locked) while the others try
    try:
        for second in (_args(2), ["--resume", "same", "--workers", "1"]):
            r = cli(*second, "--output", str(tmp_path))
            assert r.returncode == 3, r.stderr
            assert one_line(r.stderr).startswith(f"temu-gen: error: run same at {run_dir} is being written by pid "
                                                 f"{first.pid} on host {HOST} since 20")
            assert r.stderr.rstrip().endswith("; wait for it to finish or stop it, or choose another --run-id")
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert committed_local(run_dir, reference)["seed"] == 1


def test_two_runs_started_at_once_commit_one_consistent_run(tmp_path):
    a, b = (start(*_args(seed, events=RACE_EVENTS), "--output", str(tmp_path)) for seed in (1, 2))
    codes = {1: a.wait(timeout=120), 2: b.wait(timeout=120)}
    assert sorted(codes.values()) == [0, 3], (codes, a.stderr.read(), b.stderr.read())
    winner, loser = (1, b) if codes[1] == 0 else (2, a)
    owner = a if winner == 1 else b
    assert f"is being written by pid {owner.pid} on host {HOST}" in one_line(loser.stderr.read())
    run_dir = tmp_path / "events" / "run_id=same"
    files = local_files(run_dir)
    manifest = committed_local(run_dir, files)
    assert manifest["seed"] == winner and len(files) == RACE_EVENTS // CHUNK
    for name in files:  # every part is the winner's, none the other run's
        meta = pq.read_metadata(run_dir / name).metadata
        assert meta[b"temu_gen.seed"] == str(winner).encode() and meta[b"temu_gen.run_id"] == b"same"


def test_a_second_writer_on_s3_is_refused_naming_the_holder(moto_server, bucket, tmp_path, reference):
    out = ["--output", f"s3://{bucket}/p", "--spool-dir", str(tmp_path / "spool")]
    s3 = moto_server.client()
    first = start(*_args(1), *out, endpoint=moto_server.endpoint)
    wait_until(lambda: "Contents" in s3.list_objects_v2(Bucket=bucket, Prefix="p/events/run_id=same/part-"), first,
               what="the first run uploaded a part")
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        r = cli(*_args(2), *out, endpoint=moto_server.endpoint)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    assert r.returncode == 3, r.stderr
    assert one_line(r.stderr).startswith(f"temu-gen: error: run same at s3://{bucket}/p/events/run_id=same is being "
                                         f"written by pid {first.pid} on host {HOST} since 20")
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert committed_s3(s3, bucket, "p/events/run_id=same/", reference)["seed"] == 1
    assert list((tmp_path / "spool").iterdir()) == []  # the spool is emptied after a commit, no pid file left


def _plant(run_dir, holder: Holder) -> bytes:
    run_dir.mkdir(parents=True)
    (run_dir / "_lock").write_bytes(holder.to_bytes())
    return holder.to_bytes()


def test_a_stale_lock_is_reported_and_cleared_only_deliberately(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    run_dir = tmp_path / "events" / "run_id=s"
    lock = _plant(run_dir, Holder(HOST, dead.pid, "2026-11-27T16:49:12+00:00", "n", 1.0))
    args = ["--events", "2000", "--run-id", "s", "--output", str(tmp_path)]
    r = cli(*args)
    assert r.returncode == 3
    assert one_line(r.stderr) == (f"temu-gen: error: run s at {run_dir} is locked by pid {dead.pid} on host {HOST} "
                                  f"since 2026-11-27T16:49:12+00:00, which is no longer running (a stale lock); if no "
                                  f"other process writes this run, rerun with --force-unlock")
    assert (run_dir / "_lock").read_bytes() == lock
    r = cli(*args, "--force-unlock")
    assert r.returncode == 0, r.stderr
    assert committed_local(run_dir, local_files(run_dir))["events"] == 2000


def test_force_unlock_never_takes_a_live_writers_lock(tmp_path):
    run_dir = tmp_path / "events" / "run_id=s"
    me = Holder.me()  # this test process: alive, on this host
    lock = _plant(run_dir, me)
    r = cli("--events", "2000", "--run-id", "s", "--output", str(tmp_path), "--force-unlock")
    assert r.returncode == 3
    line = one_line(r.stderr)
    assert f"is being written by pid {os.getpid()} on host {HOST} since {me.started}" in line
    assert "--force-unlock" not in line  # never asks for a flag that was given
    assert sorted(p.name for p in run_dir.iterdir()) == ["_lock"] and (run_dir / "_lock").read_bytes() == lock


def test_a_lock_from_another_host_needs_force_unlock(tmp_path):
    run_dir = tmp_path / "events" / "run_id=s"
    _plant(run_dir, Holder("elsewhere.example", 4242, "2026-11-27T16:49:12+00:00", "n", 1.0))
    args = ["--events", "2000", "--run-id", "s", "--output", str(tmp_path)]
    r = cli(*args)
    assert r.returncode == 3
    assert one_line(r.stderr).endswith(f"run s at {run_dir} is locked by pid 4242 on host elsewhere.example since "
                                       f"2026-11-27T16:49:12+00:00; wait for it to finish, or if that process is gone, "
                                       f"rerun with --force-unlock")
    assert cli(*args, "--force-unlock").returncode == 0
    assert not (run_dir / "_lock").exists()


def test_a_run_that_lost_its_lock_does_not_commit(smoke_cfg, tmp_path, monkeypatch):
    """--force-unlock by another process while this one writes: this one must not commit over it."""
    other = Holder("elsewhere.example", 7, "2026-11-27T16:49:12+00:00", "theirs", 1.0)
    real_place = LocalRun.place

    def place_then_lose_the_lock(self, record, path):
        done = real_place(self, record, path)
        if record.chunk == 1:
            (self.dir / "_lock").write_bytes(other.to_bytes())
            (self.dir / ".part-00003.parquet.7-00000000.tmp").write_bytes(b"the other writer's temp file")
        return done

    monkeypatch.setattr(LocalRun, "place", place_then_lose_the_lock)
    with pytest.raises(RunFailed) as e:
        run(smoke_cfg, LocalDirSink(tmp_path), seed=1, run_id="l", workers=1, progress=False)
    assert e.value.exit_code == 4
    assert ("lost its lock (_lock now held by pid 7 on host elsewhere.example since 2026-11-27T16:49:12+00:00; was it "
            "cleared with --force-unlock while this run was writing?), so it was not committed") in str(e.value)
    run_dir = tmp_path / "events" / "run_id=l"
    names = not_committed_local(run_dir)
    assert ".part-00003.parquet.7-00000000.tmp" in names  # the other writer's files are not this run's to remove
    assert Holder.parse((run_dir / "_lock").read_bytes()) == other
    assert json.loads((run_dir / "_run.json").read_bytes())["seed"] == 1


def test_an_interruption_while_the_lock_is_written_leaves_no_lock(tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM) landing just after the lock file is made, before the run holds it: no stale lock."""
    import temu_gen.sinks.local as local_sink

    real = local_sink.create_whole

    def written_then_interrupted(path, data):
        real(path, data)
        raise KeyboardInterrupt

    monkeypatch.setattr(local_sink, "create_whole", written_then_interrupted)
    target = LocalDirSink(tmp_path, spool_dir=tmp_path / "spool").open_run("s")
    with pytest.raises(KeyboardInterrupt):
        target.lock(Holder.me())
    assert not (tmp_path / "events" / "run_id=s" / "_lock").exists()


def test_a_lock_made_where_hard_links_are_not_supported(tmp_path, monkeypatch):
    """FUSE mounts (rclone, s3fs) answer link() with ENOSYS: the lock is then created exclusively in place."""
    import errno

    def no_links(src, dst):
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(os, "link", no_links)
    target = LocalDirSink(tmp_path, spool_dir=tmp_path / "spool").open_run("s")
    me = Holder.me()
    target.lock(me)
    run_dir = tmp_path / "events" / "run_id=s"
    assert Holder.parse((run_dir / "_lock").read_bytes()) == me and os.listdir(run_dir) == ["_lock"]
    with pytest.raises(Exception, match="is being written by pid"):
        LocalDirSink(tmp_path, spool_dir=tmp_path / "spool").open_run("s").lock(Holder.me())


def test_a_lock_whose_answer_was_lost_is_ours(tmp_path, monkeypatch):
    """NFS retransmits a link whose answer was lost, and the retry meets the lock the first one made (EEXIST)."""
    import temu_gen.sinks.local as local_sink

    real = local_sink.create_whole

    def made_then_exists(path, data):
        real(path, data)
        raise FileExistsError(17, "File exists")

    monkeypatch.setattr(local_sink, "create_whole", made_then_exists)
    target = LocalDirSink(tmp_path, spool_dir=tmp_path / "spool").open_run("s")
    me = Holder.me()
    target.lock(me)
    assert Holder.parse((tmp_path / "events" / "run_id=s" / "_lock").read_bytes()) == me
    target.unlock()
    assert not (tmp_path / "events" / "run_id=s" / "_lock").exists()
