"""``temu-gen show`` and ``temu-gen runs`` end to end, and all four tools over a run in (loopback) S3."""
from __future__ import annotations

import json

import pytest

from s3_servers import CREDS

from tool_helpers import copy_run, temu_gen


def one_line_error(done, text: str) -> None:
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert done.stderr.startswith("temu-gen") and ": error: " in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert text in done.stderr, done.stderr


def test_show_prints_a_filtered_sample(hostile_run):
    done = temu_gen("show", hostile_run.folder, "--limit", 5, "--columns", "event_id,event_type,state",
                    "--where", "event_type = 'order_placed' AND state IS NOT NULL")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"events of run hostile ({hostile_run.folder})"
    body = [ln for ln in lines if "order_placed" in ln]
    assert len(body) == 5 and all(ln.startswith("│") for ln in body)
    assert "event_id" in lines[2] and "event_type" in lines[2] and "state" in lines[2]


def test_show_other_tables(hostile_run):
    done = temu_gen("show", hostile_run.root, "--run-id", "hostile", "--table", "defects", "--limit", 3,
                    "--width", 100)
    assert done.returncode == 0, done.stderr
    assert all(len(ln) <= 100 for ln in done.stdout.splitlines())
    assert "defect" in done.stdout and "detail" in done.stdout


@pytest.mark.parametrize("args, text", [
    (["--where", "no_such_column = 1"], "--where 'no_such_column = 1': Binder Error"),
    (["--where", "1 = 1; DROP TABLE users"], "--where '1 = 1; DROP TABLE users': Parser Error"),
    (["--where", "CAST(event_id AS INTEGER) > 1"], "Conversion Error"),
    (["--columns", "event_id,colour"], "--columns: colour not in events"),
    (["--table", "sessions"], "argument --table: invalid choice"),
    (["--limit", "0"], "argument --limit: 0 must be at least 1"),
])
def test_show_bad_input_is_one_line(clean_run, args, text):
    one_line_error(temu_gen("show", clean_run.folder, *args), text)


def test_runs_lists_committed_and_failed_runs(clean_run, hostile_run, tmp_path):
    for run in (clean_run, hostile_run):
        copy_run(run, tmp_path)
    (tmp_path / "events" / "run_id=clean" / "_SUCCESS").unlink()  # as if the run died before its commit
    done = temu_gen("runs", tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {ln.split()[1]: ln.split() for ln in done.stdout.splitlines()[2:]}
    assert rows["clean"][0] == "failed" and rows["hostile"][0] == "committed"
    assert rows["hostile"][2:4] == ["3", "300,000"] and "on" in rows["hostile"]
    doc = json.loads(temu_gen("runs", tmp_path, "--format", "json").stdout)
    by = {r["run_id"]: r for r in doc["runs"]}
    assert by["clean"]["status"] == "failed" and by["clean"]["files"] > 0 and by["clean"]["defects"] is False
    manifest = json.loads((hostile_run.folder / "_manifest.json").read_text())
    assert by["hostile"]["bytes"] == sum(f["bytes"] for f in manifest["files"]) + sum(
        f["bytes"] for t in manifest["tables"].values() for f in t["files"])
    assert by["hostile"]["labels"] == sum(manifest["defects"]["labels"].values())


@pytest.mark.parametrize("manifest", ['{"files": [1]}', '[]', '{"files": [], "ev', "", None,
                                      '{"files": [], "events": "many"}'])
def test_a_committed_run_whose_manifest_is_broken_is_listed_as_such(clean_run, tmp_path, manifest):
    """Not as a plain 'committed' run with figures made up from nothing, and not as an internal error."""
    copy_run(clean_run, tmp_path)
    path = tmp_path / "events" / "run_id=clean" / "_manifest.json"
    if manifest is None:
        path.unlink()
    else:
        path.write_text(manifest)
    done = temu_gen("runs", tmp_path, "--format", "json")
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)["runs"]
    assert row["status"] == "committed (manifest unreadable: run validate)" and row["events"] is None
    text = temu_gen("runs", tmp_path)
    assert text.returncode == 0 and "manifest unreadable" in text.stdout, text.stderr
    head, row = text.stdout.splitlines()[1:3]
    assert row.index(" clean ") + 1 == head.index("run_id")  # the long status keeps to its own column


def test_runs_bad_input(tmp_path):
    one_line_error(temu_gen("runs", tmp_path / "nothing"), "no such folder: ")
    done = temu_gen("runs", tmp_path)
    assert done.returncode == 0 and done.stdout == f"no runs in {tmp_path}\n"


@pytest.mark.network
def test_the_tools_read_a_run_in_s3(moto_server, bucket, tmp_path, monkeypatch):
    from temu_gen.tools.runref import open_run
    from temu_gen.tools.views import connect

    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    root, endpoint = f"s3://{bucket}/lake", ["--endpoint-url", moto_server.endpoint]
    done = temu_gen("--events", 60_000, "--chunk-size", 20_000, "--seed", 9, "--run-id", "s", "--output", root,
                    "--workers", 2, "--no-progress", "--defects", "hostile", *endpoint)
    assert done.returncode == 0, done.stderr
    listed = temu_gen("runs", root, *endpoint)
    assert listed.returncode == 0 and listed.stdout.splitlines()[2].split()[:2] == ["committed", "s"], listed.stdout
    valid = temu_gen("validate", f"{root}/events/run_id=s", *endpoint)
    assert valid.returncode == 0 and valid.stdout.startswith("run s is valid: "), valid.stdout + valid.stderr
    shown = temu_gen("show", root, "--run-id", "s", "--table", "users", "--limit", 2, *endpoint)
    assert shown.returncode == 0 and "user_id" in shown.stdout, shown.stderr
    one_line_error(temu_gen("validate", root, "--run-id", "nope", *endpoint), "no run 'nope' in s3://")
    empty = temu_gen("runs", f"s3://{bucket}/nothing-here", *endpoint)
    assert empty.returncode == 0 and empty.stdout.startswith("no runs in s3://"), empty.stdout + empty.stderr
    one_line_error(temu_gen("runs", "s3://no-such-bucket-x/lake", *endpoint),
                   "no such bucket: s3://no-such-bucket-x/lake")
    # reconcile against the raw log: every labelled copy passed through is a duplicate, and nothing else differs
    out = tmp_path / "raw.parquet"
    with connect(open_run(f"{root}/events/run_id=s", endpoint_url=moto_server.endpoint)) as con:
        con.execute(f"COPY (SELECT * FROM events) TO '{out}' (FORMAT parquet)")
        copied = con.execute("SELECT count(DISTINCT event_id) FROM defects WHERE defect IN ('duplicate', "
                             "'id_collision')").fetchone()[0]
    rec = temu_gen("reconcile", f"{root}/events/run_id=s", "--against", out, "--format", "json", *endpoint)
    assert rec.returncode == 1, rec.stderr
    cats = json.loads(rec.stdout)["categories"]
    assert cats["duplicated"]["unexpected"] == copied > 0
    assert sum(c["unexpected"] for c in cats.values()) == copied


def test_another_tables_file_under_an_events_name_is_one_line(clean_run, tmp_path):
    """The users file copied over the first events part: DuckDB finds no event_id (a Binder error, once exit 70)."""
    import shutil

    run = copy_run(clean_run, tmp_path)
    shutil.copy(run.table("users") / "part-00000.parquet", run.folder / "part-00000.parquet")
    one_line_error(temu_gen("show", run.folder), "its events files cannot be read")
    one_line_error(temu_gen("reconcile", run.folder, "--against", run.folder), "its events files cannot be read")
