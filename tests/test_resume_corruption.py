"""--resume of a local run keeps a part only if it is provably the part this run writes; anything else is regenerated.

A failed run leaves parts 0-2 of 4 journalled in ``_journal``; each case damages part 1 the
way a disk, a careless copy or an adversary would, and the resumed run must be
byte-identical to the clean run (``smoke_run``: seed 11, run id "smoke"), keeping parts 0
and 2 and regenerating part 1, with a manifest that lists the files' real digests.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal

import pytest

from outcomes import committed_local, local_files
from faults import reduce_fails_at
from procs import cli, one_line, start, wait_until
from temu_gen.errors import RunFailed
from temu_gen.reduce import task_files
from temu_gen.run import resume, run
from temu_gen.sinks import LocalDirSink

PART = "part-00001.parquet"


@pytest.fixture(scope="module")
def foreign(smoke_cfg, tmp_path_factory):
    """Run folders that hold parts this run must never keep: another seed, and another run id of the same length."""
    root = tmp_path_factory.mktemp("foreign")
    run(smoke_cfg, LocalDirSink(root), seed=12, run_id="smoke", workers=1, progress=False)
    run(smoke_cfg, LocalDirSink(root), seed=11, run_id="smoka", workers=1, progress=False)
    return {"seed": root / "events" / "run_id=smoke", "run_id": root / "events" / "run_id=smoka"}


def fail_after_three_parts(cfg, root, monkeypatch, run_id="smoke", seed=11):
    """Run until chunk 3 fails: parts 0, 1 and 2 are delivered and journalled, nothing is committed."""
    with reduce_fails_at(3), pytest.raises(RunFailed, match="chunks delivered: 0, 1, 2 of 4"):
        run(cfg, LocalDirSink(root), seed=seed, run_id=run_id, workers=1, progress=False)
    return root / "events" / f"run_id={run_id}"


def _journal_says(run_dir, name: str, data: bytes) -> None:
    """Rewrite the journal line of ``name`` to claim ``data``'s size and digest (an adversary's edit)."""
    lines = []
    for line in (run_dir / "_journal").read_bytes().splitlines():
        rec = json.loads(line)
        if rec["name"] == name:
            rec.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        lines.append(json.dumps(rec, sort_keys=True).encode() + b"\n")
    (run_dir / "_journal").write_bytes(b"".join(lines))


def _flip(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 8]) + data[mid + 8:]


def truncated(run_dir, foreign, outside):
    path = run_dir / PART
    path.write_bytes(path.read_bytes()[:-1000])


def flipped_bytes(run_dir, foreign, outside):
    path = run_dir / PART
    path.write_bytes(_flip(path.read_bytes()))


def foreign_seed_with_its_digest(run_dir, foreign, outside):
    data = (foreign["seed"] / PART).read_bytes()
    (run_dir / PART).write_bytes(data)
    _journal_says(run_dir, PART, data)


def foreign_run_of_the_same_size(run_dir, foreign, outside):
    data = (foreign["run_id"] / PART).read_bytes()  # same seed, another run id: same size, same rows
    assert len(data) == (run_dir / PART).stat().st_size
    (run_dir / PART).write_bytes(data)
    _journal_says(run_dir, PART, data)


def another_chunk_renamed(run_dir, foreign, outside):
    data = (run_dir / "part-00002.parquet").read_bytes()
    (run_dir / PART).write_bytes(data)
    _journal_says(run_dir, PART, data)


def not_journalled(run_dir, foreign, outside):
    """The coordinator died between renaming the part and journalling it."""
    lines = (run_dir / "_journal").read_bytes().splitlines(keepends=True)
    (run_dir / "_journal").write_bytes(b"".join(line for line in lines if PART.encode() not in line))


def torn_journal(run_dir, foreign, outside):
    """The coordinator died mid-append of part 1's line (so part 2 was never journalled either)."""
    lines = (run_dir / "_journal").read_bytes().splitlines(keepends=True)
    task0 = [line for line in lines if json.loads(line)["chunk"] == 0]  # its events, users, orders, products
    line1 = next(line for line in lines if json.loads(line)["chunk"] == 1)
    (run_dir / "_journal").write_bytes(b"".join(task0) + line1[:len(line1) // 2])


def dangling_link(run_dir, foreign, outside):
    os.unlink(run_dir / PART)
    os.symlink(outside / "nowhere.parquet", run_dir / PART)


def link_to_the_right_bytes(run_dir, foreign, outside):
    shutil.copy(run_dir / PART, outside / PART)
    os.unlink(run_dir / PART)
    os.symlink(outside / PART, run_dir / PART)


@pytest.mark.parametrize("damage,kept", [(truncated, 2), (flipped_bytes, 2), (foreign_seed_with_its_digest, 2),
                                         (foreign_run_of_the_same_size, 2), (another_chunk_renamed, 2),
                                         (not_journalled, 2), (torn_journal, 1), (dangling_link, 2),
                                         (link_to_the_right_bytes, 2)],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_damaged_part_is_regenerated(smoke_cfg, smoke_run, foreign, tmp_path, monkeypatch, damage, kept):
    run_dir = fail_after_three_parts(smoke_cfg, tmp_path / "out", monkeypatch)
    outside = tmp_path / "outside"
    outside.mkdir()
    damage(run_dir, foreign, outside)
    planted = {p.name: p.read_bytes() for p in outside.iterdir()}
    summary = resume(LocalDirSink(tmp_path / "out"), "smoke", workers=1, progress=False)
    assert summary.resumed_files == kept and summary.events == 20_000  # part 0 (and 2) kept, the rest generated
    reference = local_files(smoke_run[1])
    committed_local(run_dir, reference)
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == planted  # nothing written through a link


def test_kill_9_then_flipped_and_foreign_parts_are_regenerated(default_cfg, tmp_path):
    """Issue 8, first row: kill -9 a run, flip 8 bytes in one part, copy in another seed's part, --resume."""
    events, chunk = 600_000, 50_000
    ref_root, other_root, out = tmp_path / "ref", tmp_path / "other", tmp_path / "out"
    cfg = default_cfg.with_run(events=events, chunk_size=chunk)
    run(cfg, LocalDirSink(ref_root), seed=3, run_id="k", workers=2, progress=False)
    run(default_cfg.with_run(events=2 * chunk, chunk_size=chunk), LocalDirSink(other_root), seed=4, run_id="k",
        workers=1, progress=False)
    reference = local_files(ref_root / "events" / "run_id=k")

    run_dir = out / "events" / "run_id=k"
    proc = start("--events", str(events), "--chunk-size", str(chunk), "--seed", "3", "--run-id", "k", "--workers", "1",
                 "--output", str(out))
    # part 3's events file comes after every file of task 2 (one worker): three whole tasks at least
    wait_until((run_dir / "part-00003.parquet").exists, proc, what="three parts were written")
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    recs = [json.loads(line) for line in (run_dir / "_journal").read_bytes().splitlines()]
    files = {(r.get("table", "events"), r["chunk"]) for r in recs}
    # a part counts as kept only with every file of its task (its users and orders share, products for part 0)
    whole = {c for _, c in files if all((t, c) in files for t, _ in task_files(cfg, c))}
    assert {0, 1} <= whole and "_SUCCESS" not in os.listdir(run_dir)

    (run_dir / "part-00000.parquet").write_bytes(_flip((run_dir / "part-00000.parquet").read_bytes()))
    shutil.copy(other_root / "events" / "run_id=k" / PART, run_dir / PART)

    args = ["--resume", "k", "--workers", "2", "--output", str(out)]
    r = cli(*args)
    assert r.returncode == 3 and "(a stale lock); if no other process writes this run, rerun with --force-unlock" in \
        one_line(r.stderr)
    r = cli(*args, "--force-unlock")
    assert r.returncode == 0, r.stderr
    assert f"{events:,} events, {events // chunk} files, {len(whole) - 2} kept from the failed run" in r.stdout
    committed_local(run_dir, reference)


@pytest.mark.parametrize("damage", ["removed", "truncated"])
def test_a_part_that_vanished_or_changed_after_delivery_is_not_committed(smoke_cfg, smoke_run, tmp_path, monkeypatch,
                                                                         damage):
    """Another process removed or cut a delivered part while the run went on: the run must not commit over it
    (nothing bad under _SUCCESS); --resume then regenerates it."""
    from temu_gen.sinks.local import LocalRun

    real_place = LocalRun.place

    def place_then_damage_part_0(self, record, path):
        done = real_place(self, record, path)
        if record.table == "events" and record.chunk == 2:
            victim = self.dir / "part-00000.parquet"
            victim.unlink() if damage == "removed" else os.truncate(victim, 100)
        return done

    monkeypatch.setattr(LocalRun, "place", place_then_damage_part_0)
    with pytest.raises(RunFailed, match=r"delivered file events/part-00000.parquet of run smoke at .* vanished or "
                                        r"changed before the commit: another process writes there\); chunks "
                                        r"delivered: 0, 1, 2, 3 of 4; not committed \(no _SUCCESS\)"):
        run(smoke_cfg, LocalDirSink(tmp_path), seed=11, run_id="smoke", workers=1, progress=False)
    run_dir = tmp_path / "events" / "run_id=smoke"
    assert not (run_dir / "_SUCCESS").exists() and not (run_dir / "_manifest.json").exists()
    monkeypatch.setattr(LocalRun, "place", real_place)
    summary = resume(LocalDirSink(tmp_path), "smoke", workers=1, progress=False)
    assert summary.resumed_files > 0
    assert local_files(run_dir) == local_files(smoke_run[1])
