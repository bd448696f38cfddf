"""``--format jsonl`` end to end: the same run as Parquet, as gzip JSON lines, byte-identical and resumable.

The oracle is the Parquet run with the same seed and run id: every line of every jsonl
file must parse to exactly the row at the same place in the Parquet file (one format
read as the other, like tpchgen's reparse test).
"""
from __future__ import annotations

import dataclasses
import decimal
import gzip
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from faults import reduce_fails_at
from temu_gen.encode.gzip_member import read_provenance
from temu_gen.errors import ConfigError, RunFailed
from temu_gen.run import resume, run, run_expectations
from temu_gen.sinks import LocalDirSink
from temu_gen.sinks.local import _proves
from temu_gen.sinks.base import PartRecord

TABLES = ("events", "users", "orders", "products")


def digests(root: Path, run_id: str = "jl") -> dict[str, str]:
    """table/name -> sha256 of every part file of the run, all tables."""
    return {f"{t}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for t in TABLES
            for p in sorted((root / t / f"run_id={run_id}").glob("part-*"))}


def _iso(value):
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso(v) for v in value]
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if hasattr(value, "strftime") else value


@pytest.fixture(scope="module")
def parquet_twin(jsonl_cfg, tmp_path_factory):
    """The jsonl run's config, seed and run id as Parquet."""
    root = tmp_path_factory.mktemp("twin")
    run(jsonl_cfg.with_run(format="parquet"), LocalDirSink(root), seed=7, run_id="jl", workers=2, progress=False)
    return root


def test_identical_bytes_under_one_and_two_workers(jsonl_cfg, jsonl_run, tmp_path):
    _, root = jsonl_run
    run(jsonl_cfg, LocalDirSink(tmp_path), seed=7, run_id="jl", workers=1, progress=False)
    ref = digests(root)
    assert len(ref) == 3 + 3 + 3 + 1 and all(k.endswith(".jsonl.gz") for k in ref)
    assert digests(tmp_path) == ref


def test_manifest_lists_every_file_with_its_digest(jsonl_run):
    summary, root = jsonl_run
    folder = root / "events" / "run_id=jl"
    m = json.loads((folder / "_manifest.json").read_text())
    assert m["format"] == "jsonl" and m["context"] is True and "parquet" not in m
    assert m["jsonl"]["compression"] == "gzip" and "microseconds" in m["jsonl"]["timestamps"]
    listed = [("events", f) for f in m["files"]] + [(t, f) for t, d in m["tables"].items() for f in d["files"]]
    assert sorted(f"{t}/{f['name']}" for t, f in listed) == sorted(digests(root))
    for table, f in listed:
        data = (root / table / "run_id=jl" / f["name"]).read_bytes()
        assert len(data) == f["bytes"] and hashlib.sha256(data).hexdigest() == f["sha256"]
        assert gzip.decompress(data).count(b"\n") == f["rows"]
        rows, meta = read_provenance(data[:8192])
        assert rows == f["rows"] and meta[b"temu_gen.run_id"] == b"jl" and meta[b"temu_gen.seed"] == b"7"
        assert meta[b"temu_gen.chunk_index"] == str(f["chunk"]).encode()
    assert sum(f["rows"] for f in m["files"]) == m["events"] == summary.events == 60_000
    assert [c["name"] for c in m["schema"]][-1] == "context"


def test_lines_are_the_parquet_rows(jsonl_run, parquet_twin):
    """Every table: each JSON line parses to the Parquet row at its place (context: the object its text holds).

    Every 7th row, so the oracle (Python's json and to_pylist) stays quick; every row count is compared whole.
    """
    _, root = jsonl_run
    for table in TABLES:
        for path in sorted((parquet_twin / table / "run_id=jl").glob("part-*.parquet")):
            parquet = pq.read_table(path)
            want = [_iso(r) for r in parquet.take(list(range(0, parquet.num_rows, 7))).to_pylist()]
            if table == "events":
                for r in want:
                    r["context"] = json.loads(r["context"], parse_float=decimal.Decimal)
            lines = gzip.decompress((root / table / "run_id=jl" / path.name.replace(".parquet", ".jsonl.gz"))
                                    .read_bytes()).decode().splitlines()
            assert len(lines) == parquet.num_rows
            got = [json.loads(line, parse_float=decimal.Decimal) for line in lines[::7]]
            assert got == want, f"{table}/{path.name}"
            assert list(got[0]) == list(want[0])  # keys in schema order


def test_resume_regenerates_a_truncated_part(jsonl_cfg, jsonl_run, tmp_path):
    _, root = jsonl_run
    with reduce_fails_at(2), pytest.raises(RunFailed, match="chunks delivered: 0, 1 of 3"):
        run(jsonl_cfg, LocalDirSink(tmp_path), seed=7, run_id="jl", workers=1, progress=False)
    part = tmp_path / "events" / "run_id=jl" / "part-00001.jsonl.gz"
    part.write_bytes(part.read_bytes()[:-4096])  # a copy cut short: its digest no longer matches the journal
    summary = resume(LocalDirSink(tmp_path), "jl", workers=2, progress=False)
    assert summary.resumed_files == 1 and summary.events == 60_000
    assert digests(tmp_path) == digests(root)


def test_resume_keeps_only_files_whose_header_names_this_run(jsonl_cfg, jsonl_run, tmp_path):
    """A file with the journalled size and digest is still not kept if its gzip header names another run or part."""
    _, root = jsonl_run
    expected = {e.key: e for e in run_expectations(jsonl_cfg, 7, "jl")}
    ours = root / "events" / "run_id=jl" / "part-00001.jsonl.gz"
    rec = PartRecord(1, ours.name, 20_000, ours.stat().st_size, hashlib.sha256(ours.read_bytes()).hexdigest())
    assert _proves(ours, rec, expected[ours.name])
    other = tmp_path / "other"
    run(jsonl_cfg, LocalDirSink(other), seed=8, run_id="jl", workers=1, progress=False)
    foreign = other / "events" / "run_id=jl" / "part-00001.jsonl.gz"
    vouched = rec._replace(bytes=foreign.stat().st_size, sha256=hashlib.sha256(foreign.read_bytes()).hexdigest())
    assert not _proves(foreign, vouched, expected[ours.name])  # the header says seed 8
    assert not _proves(ours, rec._replace(chunk=2, name="part-00002.jsonl.gz"), expected["part-00002.jsonl.gz"])


def test_jsonl_settings_are_checked(jsonl_cfg):
    with pytest.raises(ConfigError, match="jsonl parts are gzip, whose levels are 1-9"):
        jsonl_cfg.with_run(compression_level=22)
    with pytest.raises(ConfigError, match="unknown output format"):
        jsonl_cfg.with_run(format="csv")
    assert dataclasses.replace(jsonl_cfg.run, compression_level=None).gzip_level == 6  # null: gzip's default


def test_cli_refuses_a_parquet_codec_for_jsonl(tmp_path):
    from procs import cli, one_line

    r = cli("--format", "jsonl", "--compression", "snappy", "--output", str(tmp_path))
    assert r.returncode == 2 and one_line(r.stderr) == (
        "temu-gen: error: --compression snappy is a Parquet codec; jsonl parts are always gzip: drop --compression, "
        "or use --format parquet")
    assert not list(tmp_path.iterdir())


def test_parts_without_users_or_orders_write_empty_files(smoke_cfg, tmp_path):
    """More parts than spooled runs: some parts' groups hold no users or orders, and their files are empty
    members whose header says 0 rows, not a failed run; the rows that exist are the Parquet run's."""
    cfg = smoke_cfg.with_run(events=6_000, chunk_size=200, format="jsonl")
    run(cfg, LocalDirSink(tmp_path / "j"), seed=3, run_id="e", workers=1, progress=False)
    run(cfg.with_run(format="parquet"), LocalDirSink(tmp_path / "p"), seed=3, run_id="e", workers=1, progress=False)
    for table in ("users", "orders"):
        files = sorted((tmp_path / "j" / table / "run_id=e").glob("part-*.jsonl.gz"))
        assert len(files) == 30
        rows = [read_provenance(f.read_bytes()[:8192])[0] for f in files]
        assert 0 in rows and sum(rows) > 0, rows
        assert rows == [len(gzip.decompress(f.read_bytes()).splitlines()) for f in files]
        twin = sorted((tmp_path / "p" / table / "run_id=e").glob("part-*.parquet"))
        assert rows == [pq.ParquetFile(f).metadata.num_rows for f in twin]
