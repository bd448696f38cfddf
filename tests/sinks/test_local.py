"""LocalRun against a hostile folder and a full disk: nothing is written through a link, a full disk never commits.

The runs are the smoke config under seed 11 and run id "smoke", so the committed result
must equal the session's ``smoke_run`` byte for byte.
"""
from __future__ import annotations

import errno
import math
import os
import subprocess
import sys

import pytest

from outcomes import committed_local, local_files, not_committed_local
from paths import SMOKE
from procs import cli, one_line
from temu_gen.errors import RunFailed
from temu_gen.run import resume, run
from temu_gen.sinks import LocalDirSink
from temu_gen.sinks import local as local_sink

SMOKE_ARGS = ["--config", str(SMOKE), "--seed", "11", "--run-id", "smoke", "--workers", "1"]
PLANTED = [".part-00000.parquet.tmp", "part-00000.parquet", "part-00003.parquet", "_manifest.json", "_SUCCESS",
           "_journal", "_run.json", "_lock"]


def test_planted_links_are_never_written_through(smoke_run, tmp_path):
    run_dir = tmp_path / "out" / "events" / "run_id=smoke"
    outside = tmp_path / "outside"
    run_dir.mkdir(parents=True)
    outside.mkdir()
    for i, name in enumerate(PLANTED):
        os.symlink(outside / f"target-{i}", run_dir / name)  # dangling: a write through it would create the target
    r = cli(*SMOKE_ARGS, "--output", str(tmp_path / "out"))
    assert r.returncode == 3
    assert one_line(r.stderr) == (f"temu-gen: error: run smoke at {run_dir} has an unreadable lock (_lock); if no "
                                  f"process is writing this run, rerun with --force-unlock")
    assert sorted(os.listdir(run_dir)) == sorted(PLANTED) and not os.listdir(outside)
    r = cli(*SMOKE_ARGS, "--output", str(tmp_path / "out"), "--force-unlock")
    assert r.returncode == 0, r.stderr
    committed_local(run_dir, local_files(smoke_run[1]))  # every name a regular file, none a link
    assert not os.listdir(outside)


def test_disk_full_at_the_manifest_never_commits_and_resumes(smoke_cfg, smoke_run, tmp_path, monkeypatch):
    real = local_sink.write_atomic

    def full_at_manifest(path, data, fsync=True):
        if path.name == "_manifest.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data, fsync)

    monkeypatch.setattr(local_sink, "write_atomic", full_at_manifest)
    with pytest.raises(RunFailed) as e:
        run(smoke_cfg, LocalDirSink(tmp_path), seed=11, run_id="smoke", workers=1, progress=False)
    assert e.value.exit_code == 4
    assert str(e.value) == ("run smoke failed (No space left on device); chunks delivered: 0, 1, 2, 3 of 4; not "
                            "committed (no _SUCCESS); resume with --resume smoke")
    run_dir = tmp_path / "events" / "run_id=smoke"
    assert not_committed_local(run_dir) == ["_journal", "_run.json", *sorted(local_files(smoke_run[1]))]
    monkeypatch.setattr(local_sink, "write_atomic", real)
    assert resume(LocalDirSink(tmp_path), "smoke", progress=False).resumed_files == 4
    committed_local(run_dir, local_files(smoke_run[1]))


@pytest.fixture
def tiny_disk(tmp_path):
    """A tmpfs of our own (the machine and CI run as root); mount(size) remounts it with another size."""
    mnt = tmp_path / "disk"
    mnt.mkdir()

    def mount(size: int, remount: bool = False) -> None:
        opts = f"remount,size={size}" if remount else f"size={size}"
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(mnt)], capture_output=True, text=True)
        if r.returncode:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI must be able to mount a tmpfs for the disk-full test: {r.stderr.strip()}")
            pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
        mounted.append(mnt)

    mounted: list = []
    yield mnt, mount
    if mounted:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_real_full_disk_fails_in_one_line_and_resumes(smoke_run, tiny_disk):
    """Room for the plan, lock, journal and every part, but not the manifest: the commit's first write fails."""
    mnt, mount = tiny_disk
    ref = smoke_run[1]
    page = os.sysconf("SC_PAGE_SIZE")
    pages = lambda n: math.ceil(n / page)  # noqa: E731 - tmpfs allocates whole pages
    files = list(ref.parent.parent.glob("*/run_id=smoke/part-*"))  # every table's files
    need = sum(pages(p.stat().st_size) for p in files) + pages((ref / "_run.json").stat().st_size) + 3
    manifest = pages((ref / "_manifest.json").stat().st_size)
    assert manifest >= 3
    mount((need + manifest - 2) * page)
    r = cli(*SMOKE_ARGS, "--output", str(mnt))
    assert r.returncode == 4
    run_dir = mnt / "events" / "run_id=smoke"
    assert one_line(r.stderr) == (f"temu-gen: error: run smoke failed (No space left on device: {run_dir}); chunks "
                                  f"delivered: 0, 1, 2, 3 of 4; not committed (no _SUCCESS); resume with --resume "
                                  f"smoke")
    assert not_committed_local(run_dir) == ["_journal", "_run.json", *sorted(local_files(ref))]  # no lock, no temps
    mount(4 * 2**20, remount=True)
    r = cli("--resume", "smoke", "--output", str(mnt))
    assert r.returncode == 0 and "4 files, 4 kept from the failed run" in r.stdout, r.stderr
    committed_local(run_dir, local_files(ref))


def test_a_disk_too_full_for_the_lock_leaves_no_lock(tiny_disk):
    mnt, mount = tiny_disk
    mount(os.sysconf("SC_PAGE_SIZE"))
    (mnt / "events" / "run_id=smoke").mkdir(parents=True)
    (mnt / "fill").write_bytes(b"x" * os.sysconf("SC_PAGE_SIZE"))
    for _ in range(2):  # the second attempt meets the same clean folder: no half-written lock to trip over
        r = cli(*SMOKE_ARGS, "--output", str(mnt))
        assert r.returncode == 3
        assert one_line(r.stderr) == (f"temu-gen: error: output {mnt}/events/run_id=smoke is not writable (No space "
                                      f"left on device); choose another --output")
        assert os.listdir(mnt / "events" / "run_id=smoke") == []


@pytest.mark.parametrize("spool,why", [("afile", "is a file, not a folder; pass a folder to --spool-dir"),
                                       ("afile/sub", "is not writable (Not a directory); pass --spool-dir")])
def test_an_unusable_spool_folder_is_refused_before_anything_is_made(tmp_path, spool, why):
    (tmp_path / "afile").write_bytes(b"")
    r = cli("--events", "1000", "--output", str(tmp_path / "out"), "--spool-dir", str(tmp_path / spool))
    assert r.returncode == 3 and one_line(r.stderr) == f"temu-gen: error: spool folder {tmp_path / spool} {why}"
    assert not (tmp_path / "out").exists()


def test_a_folder_named_success_is_not_a_commit_and_is_named(tmp_path):
    """A folder where _SUCCESS goes (a tool's mkdir -p, a bad sync): every command reads it as no commit, and the
    run, --overwrite and --resume say what is in the way (they failed on 'Is a directory')."""
    out, run_dir = tmp_path / "out", tmp_path / "out" / "events" / "run_id=d"
    assert cli("--events", "1000", "--run-id", "d", "--output", str(out)).returncode == 0
    (run_dir / "_SUCCESS").unlink()
    (run_dir / "_SUCCESS").mkdir()
    listed = subprocess.run([sys.executable, "-m", "temu_gen", "runs", str(out)], capture_output=True, text=True)
    assert listed.returncode == 0 and "\nfailed " in listed.stdout, listed.stdout
    for extra in (["--events", "1000", "--run-id", "d"], ["--events", "1000", "--run-id", "d", "--overwrite"],
                  ["--resume", "d"]):
        r = cli(*extra, "--output", str(out))
        assert r.returncode == 3 and one_line(r.stderr) == (f"temu-gen: error: {run_dir / '_SUCCESS'} is a folder, "
                                                            f"which temu-gen never writes; remove it (it is not this "
                                                            f"run's) and rerun"), r.stderr
    assert "_lock" not in {p.name for p in run_dir.iterdir()}


def test_a_planted_link_for_success_is_not_a_commit_in_the_listing(tmp_path):
    out, run_dir = tmp_path / "out", tmp_path / "out" / "events" / "run_id=d"
    assert cli("--events", "1000", "--run-id", "d", "--output", str(out)).returncode == 0
    (tmp_path / "elsewhere").write_bytes(b"")
    (run_dir / "_SUCCESS").unlink()
    (run_dir / "_SUCCESS").symlink_to(tmp_path / "elsewhere")
    listed = subprocess.run([sys.executable, "-m", "temu_gen", "runs", str(out)], capture_output=True, text=True)
    assert listed.returncode == 0 and "\nfailed " in listed.stdout, listed.stdout
