"""Whole runs: byte-identical across worker counts, exact counts, manifest, commit protocol."""
import hashlib
import json

import pytest

from temu_gen import pool
from faults import reduce_fails_at
from temu_gen.errors import OutputError, RunFailed
from temu_gen.run import check_run_id, new_run_id, run
from temu_gen.sinks import LocalDirSink


def _files(run_dir):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.glob("part-*.parquet"))}


def test_identical_bytes_for_any_worker_count(smoke_cfg, smoke_run, tmp_path):
    _, ref_dir, _ = smoke_run  # seed 11, run id "smoke", 2 workers
    ref = _files(ref_dir)
    for workers in (1, 8):  # 8 on this machine: more processes than cores and than chunks
        run(smoke_cfg, LocalDirSink(tmp_path / str(workers)), seed=11, run_id="smoke", workers=workers, progress=False)
        assert _files(tmp_path / str(workers) / "events" / "run_id=smoke") == ref
    run(smoke_cfg, LocalDirSink(tmp_path / "other"), seed=12, run_id="smoke", workers=2, progress=False)
    other = _files(tmp_path / "other" / "events" / "run_id=smoke")
    assert not set(other.values()) & set(ref.values())


def test_exact_counts_and_manifest(smoke_cfg, smoke_run):
    summary, run_dir, tables = smoke_run
    assert [t.num_rows for t in tables] == [5_000] * 4
    m = json.loads((run_dir / "_manifest.json").read_text())
    assert m["events"] == summary.events == 20_000 and m["seed"] == 11 and m["run_id"] == "smoke"
    assert m["config_sha256"] == smoke_cfg.config_hash and m["temu_gen_version"]
    for f in m["files"]:
        data = (run_dir / f["name"]).read_bytes()
        assert len(data) == f["bytes"] and hashlib.sha256(data).hexdigest() == f["sha256"]
    assert [c["name"] for c in m["schema"]][:3] == ["event_id", "event_ts", "ingest_ts"]
    assert (run_dir / "_SUCCESS").stat().st_mtime_ns >= (run_dir / "_manifest.json").stat().st_mtime_ns
    assert not list(run_dir.glob(".*"))


def test_the_manifest_records_the_scratch_the_shards_held(smoke_cfg, tmp_path, monkeypatch):
    """map_spool_bytes is what --spool-dir held while the parts were written (measured here as the map folder goes)."""
    from temu_gen import spool

    seen, remove = [], spool.remove

    def measuring(folder):
        if folder.name == "map" and folder.is_dir():
            seen.append(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()))
        remove(folder)

    monkeypatch.setattr(spool, "remove", measuring)
    s = run(smoke_cfg, LocalDirSink(tmp_path), seed=11, run_id="m", workers=2, progress=False)
    m = json.loads((tmp_path / "events" / "run_id=m" / "_manifest.json").read_text())
    assert m["map_spool_bytes"] == s.map_spool_bytes == seen[-1] > 50 * s.events
    assert "(+9 files of users, orders, products)" in s.line()


def test_chunk_larger_than_run_makes_one_file(smoke_cfg, tmp_path):
    s = run(smoke_cfg.with_run(events=1_234, chunk_size=10_000), LocalDirSink(tmp_path), seed=1, run_id="one",
            workers=4, progress=False)
    assert s.files == 1 and s.events == 1_234


def test_committed_run_is_not_overwritten_by_accident(smoke_cfg, tmp_path):
    cfg = smoke_cfg.with_run(events=500, chunk_size=500)
    run(cfg, LocalDirSink(tmp_path), seed=1, run_id="r", progress=False)
    with pytest.raises(OutputError, match="--overwrite"):
        run(cfg, LocalDirSink(tmp_path), seed=2, run_id="r", progress=False)
    run(cfg, LocalDirSink(tmp_path), seed=2, run_id="r", overwrite=True, progress=False)
    assert json.loads((tmp_path / "events/run_id=r/_manifest.json").read_text())["seed"] == 2


def test_failed_run_is_never_committed(smoke_cfg, tmp_path, monkeypatch):
    real = pool.read_part

    def flaky(folder, part):
        if part.index == 2:
            raise OSError(28, "No space left on device")
        return real(folder, part)

    monkeypatch.setattr(pool, "read_part", flaky)
    with pytest.raises(RunFailed) as e:
        run(smoke_cfg, LocalDirSink(tmp_path), seed=1, run_id="bad", workers=1, progress=False)
    msg = str(e.value)
    assert "No space left" in msg and "chunks delivered: 0, 1 of 4" in msg and "not committed" in msg
    run_dir = tmp_path / "events/run_id=bad"
    assert not (run_dir / "_SUCCESS").exists() and not (run_dir / "_manifest.json").exists()
    # a retry under the same id starts clean and commits
    monkeypatch.setattr(pool, "read_part", real)
    run(smoke_cfg, LocalDirSink(tmp_path), seed=1, run_id="bad", workers=1, progress=False)
    assert (run_dir / "_SUCCESS").exists()


def test_run_ids_sort_by_time_and_are_checked():
    import datetime as dt
    a = new_run_id(dt.datetime(2024, 11, 29, 10, tzinfo=dt.timezone.utc))
    b = new_run_id(dt.datetime(2024, 11, 29, 11, tzinfo=dt.timezone.utc))
    assert a < b and new_run_id() != new_run_id()
    for bad in ("../x", "", "a b", "-x"):
        with pytest.raises(Exception, match="not allowed"):
            check_run_id(bad)


def test_resume_of_a_local_run_is_byte_identical(smoke_cfg, smoke_run, tmp_path, monkeypatch):
    from temu_gen.run import resume

    with reduce_fails_at(2), pytest.raises(RunFailed, match="--resume smoke"):
        run(smoke_cfg, LocalDirSink(tmp_path), seed=11, run_id="smoke", workers=1, progress=False)
    summary = resume(LocalDirSink(tmp_path), "smoke", workers=1, progress=False)
    assert summary.resumed_files == 2 and summary.events == 20_000
    assert _files(tmp_path / "events" / "run_id=smoke") == _files(smoke_run[1])
    with pytest.raises(OutputError, match="no run nope"):
        resume(LocalDirSink(tmp_path), "nope", progress=False)
