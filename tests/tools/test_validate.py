"""``temu-gen validate``: passes the runs the generator commits, and names what is wrong with tampered copies."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from temu_gen.cli import main

from tool_helpers import copy_run, temu_gen


def validate(capsys, *args) -> tuple[int, str, str]:
    code = main(["validate", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def problems(capsys, run, *args) -> dict[str, dict]:
    """The problems of ``run`` (a RunDir), by kind; asserts the exit code is 1."""
    code, out, _ = validate(capsys, run.folder, "--format", "json", *args)
    doc = json.loads(out)
    assert code == 1 and not doc["ok"], out
    return {p["kind"]: p for p in doc["problems"]}


def rewrite(path, change) -> None:
    """Replace a Parquet file with ``change(table)``, keeping its Arrow schema (a tamper, not a new run)."""
    table = pq.ParquetFile(path).read()
    pq.write_table(change(table), path)


def test_clean_run_is_valid_end_to_end(clean_run):
    done = temu_gen("validate", clean_run.folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("run clean is valid: 300,000 rows in 3 events files")
    assert done.stderr == ""


def test_the_verdict_is_the_exit_code_also_with_stdout_closed(clean_run):
    done = subprocess.run([sys.executable, "-m", "temu_gen", "validate", str(clean_run.folder)], text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1))
    assert (done.returncode, done.stderr) == (0, "")


def test_hostile_run_is_valid_and_every_check_ran(capsys, hostile_run):
    code, out, _ = validate(capsys, hostile_run.root, "--run-id", "hostile", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["problems"] == [], out
    names = [c["name"] for c in doc["checks"]]
    assert names == ["files", "json lines", "read counts", "scan", "rows", "enums", "duplicates", "arrival", "references",
                     "lifecycle", "sessions", "identity", "labels"]
    assert set(doc["timings"]) == set(names)
    assert "defect labels" in doc["summary"]


@pytest.mark.slow
def test_every_defect_at_its_highest_rate_gives_a_valid_run(capsys, tmp_path):
    """Defects pile up on the same orders: an orphan order whose other row lost its event_type to a contract
    violation is still an orphan (the broken row is no placement), and the run the generator commits is valid."""
    rates = {"duplicate": 0.04, "duplicate_later_file": 1.0, "id_collision": 0.04, "late": 0.04,
             "late_days": [0.01, 365], "clock_skew": 0.04, "contract_violation": 0.04, "orphan_order": 0.5,
             "orphan_user": 0.5, "poison_part": 3}
    config = tmp_path / "max.json"
    config.write_text(json.dumps({"defects": rates}))
    done = temu_gen("--events", 200_000, "--chunk-size", 50_000, "--seed", 11, "--run-id", "max", "--output", tmp_path,
                    "--workers", 2, "--no-progress", "--config", config)
    assert done.returncode == 0, done.stderr
    code, out, _ = validate(capsys, tmp_path / "events" / "run_id=max")
    assert code == 0, out


def test_a_dropped_row_is_named(capsys, clean_run, tmp_path):
    run = copy_run(clean_run, tmp_path)
    rewrite(run.folder / "part-00001.parquet", lambda t: pa.concat_tables([t.slice(0, 500), t.slice(501)]))
    found = problems(capsys, run)
    assert found["row_count"]["example"] == "events/part-00001.parquet: 99,999 rows, manifest says 100,000"
    assert found["digest_mismatch"]["example"] == "events/part-00001.parquet"


def test_a_changed_value_is_named(capsys, clean_run, tmp_path):
    run = copy_run(clean_run, tmp_path)

    def change(t):
        q = t["quantity"].to_pylist()
        row = next(i for i, v in enumerate(q) if v is not None)
        q[row] = 99
        return t.set_column(t.schema.get_field_index("quantity"), t.schema.field("quantity"),
                            pa.array(q, t.schema.field("quantity").type))

    rewrite(run.folder / "part-00002.parquet", change)
    found = problems(capsys, run)
    assert set(found) == {"digest_mismatch", "size_mismatch", "range"}
    assert found["range"]["count"] == 1 and "quantity 1" in found["range"]["message"]
    assert found["range"]["example"].startswith("part 2 row ")


def test_a_missing_part_is_named_and_rules_across_files_wait(capsys, clean_run, tmp_path):
    run = copy_run(clean_run, tmp_path)
    (run.folder / "part-00002.parquet").unlink()
    code, out, _ = validate(capsys, run.folder)
    assert code == 1
    assert "missing_file (1): files the manifest lists are missing; e.g. events/part-00002.parquet" in out
    assert "skipped: across files (a listed file could not be read)" in out
    assert len(out.splitlines()) <= 20


def test_swapped_parts_are_named(capsys, clean_run, tmp_path):
    run = copy_run(clean_run, tmp_path)
    a, b = run.folder / "part-00000.parquet", run.folder / "part-00001.parquet"
    a.rename(tmp_path / "swap")
    b.rename(a)
    (tmp_path / "swap").rename(b)
    found = problems(capsys, run)
    assert found["digest_mismatch"]["count"] == 2
    assert found["file_window"]["message"] in ("files start before the previous file ends",
                                               "files whose first or last ingest_ts is not the one the manifest gives")
    assert "file_window" in found and "size_mismatch" in found


def test_an_unlabelled_duplicate_is_named(capsys, clean_run, tmp_path):
    run = copy_run(clean_run, tmp_path)
    last = {}

    def dup(t):
        last["id"] = t["event_id"][t.num_rows - 1].as_py()
        return pa.concat_tables([t, t.slice(t.num_rows - 1, 1)])  # a re-sent last row: arrival order still holds

    rewrite(run.folder / "part-00001.parquet", dup)
    found = problems(capsys, run)
    assert found["duplicate_event_id"]["count"] == 1
    assert found["duplicate_event_id"]["example"] == f"event_id {last['id']}"
    assert found["row_count"]["example"] == "events/part-00001.parquet: 100,001 rows, manifest says 100,000"
    assert "arrival_order" not in found


def test_a_removed_label_leaves_an_unlabelled_duplicate(capsys, hostile_run, tmp_path):
    run = copy_run(hostile_run, tmp_path)
    path = run.table("defects") / "part-00000.parquet"
    labels = pq.ParquetFile(path).read()
    first = labels["defect"].to_pylist().index("duplicate")
    rewrite(path, lambda t: pa.concat_tables([t.slice(0, first), t.slice(first + 1)]))
    found = problems(capsys, run)
    assert found["duplicate_event_id"]["count"] == 1
    assert found["duplicate_event_id"]["example"] == f"event_id {labels['event_id'][first].as_py()}"
    assert found["label_counts"]["example"].startswith("duplicate: ")
    assert {"digest_mismatch", "row_count"} <= set(found)


def test_a_label_on_the_wrong_row_is_named(capsys, hostile_run, tmp_path):
    run = copy_run(hostile_run, tmp_path)
    path = run.table("defects") / "part-00001.parquet"
    rewrite(path, lambda t: t.set_column(t.schema.get_field_index("row"), t.schema.field("row"),
                                         pa.array([r + 1 for r in t["row"].to_pylist()], pa.int64())))
    found = problems(capsys, run)
    assert found["label_position"]["count"] > 0
    assert found["label_position"]["example"].startswith("part 1 row ")


def test_an_unlisted_part_and_a_changed_poison_file(capsys, hostile_run, tmp_path):
    run = copy_run(hostile_run, tmp_path)
    part = (run.folder / "part-00000.parquet").read_bytes()
    (run.folder / "part-00007.parquet").write_bytes(part)
    # any name, at any depth, that a reader of the folder reads with the run's files; hidden names it skips
    (run.folder / "retry").mkdir()
    for name in ("copy.parquet", "retry/part-00001.parquet", ".part-00002.parquet.tmp", "_note"):
        (run.folder / name).write_bytes(part)
    with open(run.folder / "part-00000-partial.parquet", "r+b") as f:
        f.write(b"X")
    found = problems(capsys, run)
    assert set(found) == {"unlisted_file", "digest_mismatch"}
    assert found["unlisted_file"]["count"] == 3 and found["unlisted_file"]["example"] == "events/copy.parquet"
    assert found["digest_mismatch"]["example"] == "events/part-00000-partial.parquet"


@pytest.mark.parametrize("edit, finding", [
    (lambda m: m["files"][0].update(schema_version="two"), "the manifest lists a events file it does not describe"),
    (lambda m: m["schema_versions"]["1"].__setitem__(0, "event_id"), "no recorded schema version 1 (a list of columns"),
    (lambda m: m["defects"].update(labels=[1]), "its defect label counts are not {defect: count}"),
    (lambda m: m.update(defects="yes"), "its defect label counts are not {defect: count}"),
    (lambda m: m.update(format="jsonl"), 'the manifest says format "jsonl" and lists the events file part-00000'),
])
def test_an_edited_manifest_is_a_finding_not_a_crash(capsys, hostile_run, tmp_path, edit, finding):
    run = copy_run(hostile_run, tmp_path)
    path = run.folder / "_manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    code, out, err = validate(capsys, run.folder)
    assert code == 1 and err == "" and finding in out, out


def test_a_broken_manifest_is_a_report_not_a_traceback(capsys, clean_run, tmp_path):
    run = copy_run(clean_run, tmp_path)
    (run.folder / "_manifest.json").write_text("{ not json")
    code, out, err = validate(capsys, run.folder)
    assert code == 1 and err == ""
    assert "manifest (1): run clean: _manifest.json is not valid JSON" in out


@pytest.mark.parametrize("case, message", [
    ("missing", "no such folder: "),
    ("uncommitted", "is not committed (no _SUCCESS)"),
    ("not_a_run", "is not a run folder; give OUTPUT/events/run_id=ID, or OUTPUT --run-id ID (runs there: clean)"),
    ("other_id", "no run 'nope' in "),
])
def test_bad_input_is_one_line(capsys, clean_run, tmp_path, case, message):
    run = copy_run(clean_run, tmp_path)
    (run.folder / "_SUCCESS").unlink() if case == "uncommitted" else None
    target = {"missing": [tmp_path / "nothing"], "uncommitted": [run.folder], "not_a_run": [run.root],
              "other_id": [run.root, "--run-id", "nope"]}[case]
    code, out, err = validate(capsys, *target)
    assert code == 2 and out == ""
    assert err.startswith("temu-gen: error: ") and message in err and err.count("\n") == 1, err


def test_without_duckdb_the_error_says_how_to_install_it(capsys, clean_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # import duckdb -> ImportError
    code, _, err = validate(capsys, clean_run.folder)
    assert code == 2
    assert err == "temu-gen: error: this command needs DuckDB: pip install 'temu-gen[check]'\n"


def test_validate_reads_the_run_out_of_core(clean_run, monkeypatch):
    """The content checks are SQL over the files: pyarrow reads footers only, never a whole table."""
    calls = []
    monkeypatch.setattr(pq, "read_table", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(pq.ParquetFile, "read", lambda *a, **k: calls.append(a))
    from temu_gen.tools.runref import open_run
    from temu_gen.tools.validate import validate as run_checks

    assert run_checks(open_run(os.fspath(clean_run.folder))).ok
    assert calls == []


def test_an_old_duckdb_is_named(capsys, clean_run, monkeypatch):
    import duckdb

    monkeypatch.setattr(duckdb, "__version__", "1.1.3")
    code, _, err = validate(capsys, clean_run.folder)
    assert code == 2 and "needs DuckDB 1.3 or later (found 1.1.3)" in err and err.count("\n") == 1


def test_a_part_of_another_run_with_a_vouching_manifest_is_named(capsys, clean_run, tmp_path):
    """A part copied in from another run (same seed), with the manifest's digest and size edited to match: every
    digest agrees, only the footer tells."""
    run = copy_run(clean_run, tmp_path)
    part = run.folder / "part-00001.parquet"
    rewrite(part, lambda t: t.replace_schema_metadata({**t.schema.metadata, b"temu_gen.run_id": b"another"}))
    manifest = json.loads((run.folder / "_manifest.json").read_bytes())
    entry = next(f for f in manifest["files"] if f["name"] == part.name)
    entry["sha256"], entry["bytes"] = hashlib.sha256(part.read_bytes()).hexdigest(), part.stat().st_size
    (run.folder / "_manifest.json").write_text(json.dumps(manifest))
    found = problems(capsys, run)
    assert set(found) == {"provenance"}, found
    assert found["provenance"]["example"] == ("events/part-00001.parquet: temu_gen.run_id is another, expected "
                                              f"{run.run_id}")


def test_an_unreadable_manifest_reads_as_such(clean_run, tmp_path):
    run = copy_run(clean_run, tmp_path)
    (run.folder / "_manifest.json").write_text("garbage")
    done = temu_gen("validate", run.folder)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[0].startswith("run clean is NOT valid: 1 problem of 1 kind (")
    assert done.stdout.splitlines()[-1] == ("no checks ran: without a readable manifest there is nothing to check the "
                                            "files against")


def test_a_temporary_folder_without_room_is_one_line(clean_run, tmp_path):
    """An S3 run is copied to TMPDIR first; a full (or unusable) one was pyarrow's message and an undocumented code."""
    from temu_gen.errors import TemuGenError
    from temu_gen.tools.runref import open_run, stage

    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(TemuGenError, match=r"cannot copy run clean from .* to the temporary folder .*; point TMPDIR "
                                           r"at a disk with room for the run"):
        stage(open_run(os.fspath(clean_run.folder)), os.fspath(tmp_path / "file"))
