"""The tools over ``--format jsonl`` runs: validate passes clean and hostile runs and names tampering, show prints,
runs lists the format, and the views read every table with its recorded types."""
from __future__ import annotations

import gzip
import json
import shutil
import zlib

import pytest

from temu_gen.cli import main
from temu_gen.dimensions import TABLE_COLUMNS
from temu_gen.run import run
from temu_gen.sinks import LocalDirSink
from temu_gen.tools.runref import open_run
from temu_gen.tools.views import connect

from tool_helpers import temu_gen


def validate(capsys, folder) -> tuple[int, dict]:
    code = main(["validate", str(folder), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def hostile_jsonl(smoke_cfg, tmp_path_factory):
    """Every defect type as jsonl: 20k events in 4 parts, schema version 2 from part 1, the poison file at part 0."""
    root = tmp_path_factory.mktemp("hostile-jsonl")
    cfg = smoke_cfg.with_run(format="jsonl").with_defects("hostile")
    run(cfg, LocalDirSink(root), seed=6, run_id="hj", workers=2, progress=False)
    return root / "events" / "run_id=hj"


def test_clean_jsonl_run_is_valid(capsys, jsonl_run):
    _, root = jsonl_run
    code, doc = validate(capsys, root / "events" / "run_id=jl")
    assert code == 0 and doc["ok"], doc["problems"]
    assert doc["summary"].startswith("60,000 rows in 3 events files") and len(doc["checks"]) == 13


def test_hostile_jsonl_run_is_valid(capsys, hostile_jsonl):
    code, doc = validate(capsys, hostile_jsonl)
    assert code == 0 and doc["ok"], doc["problems"]
    assert "defect labels" in doc["summary"]
    poison = (hostile_jsonl / "part-00000-partial.jsonl.gz").read_bytes()
    with pytest.raises(EOFError):  # a cut-off upload: the gzip stream has no end
        gzip.decompress(poison)
    first = json.loads(gzip.decompress((hostile_jsonl / "part-00001.jsonl.gz").read_bytes()).split(b"\n", 1)[0])
    assert "connection_type" in first and "app_build" in first and "network_type" not in first  # version 2


def test_tampered_jsonl_files_are_named(capsys, jsonl_run, tmp_path):
    _, root = jsonl_run
    for table in ("events", "users", "orders", "products"):
        shutil.copytree(root / table / "run_id=jl", tmp_path / table / "run_id=jl")
    folder = tmp_path / "events" / "run_id=jl"
    lines = gzip.decompress((folder / "part-00001.jsonl.gz").read_bytes()).split(b"\n")
    del lines[500]  # a dropped row, recompressed as a valid file
    (folder / "part-00001.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines)))
    cut = folder / "part-00002.jsonl.gz"
    cut.write_bytes(cut.read_bytes()[:100_000])
    code, doc = validate(capsys, folder)
    found = {p["kind"]: p for p in doc["problems"]}
    assert code == 1 and not doc["ok"]
    assert found["row_count"]["example"] == "events/part-00001.jsonl.gz: 19,999 rows, manifest says 20,000"
    assert found["digest_mismatch"]["count"] == 2
    assert found["unreadable"]["example"] == "events/part-00002.jsonl.gz: the gzip stream is cut off (no trailer)"


def test_show_prints_a_jsonl_run(jsonl_run):
    _, root = jsonl_run
    done = temu_gen("show", root, "--run-id", "jl", "--limit", 4, "--columns", "event_id,event_type,context",
                    "--where", "event_type = 'product_view'", "--width", 200)
    assert done.returncode == 0, done.stderr
    body = [ln for ln in done.stdout.splitlines() if "product_view" in ln]
    assert len(body) == 4 and all('{"device":{"id":"' in ln for ln in body)
    listed = temu_gen("runs", root, "--format", "json")
    assert json.loads(listed.stdout)["runs"][0]["format"] == "jsonl"


def test_views_have_the_recorded_columns_and_types(jsonl_run):
    _, root = jsonl_run
    with connect(open_run(str(root), "jl")) as con:
        for table, columns in TABLE_COLUMNS.items():
            described = con.execute(f"DESCRIBE {table}").fetchall()
            assert [r[0] for r in described] == [c.name for c in columns], table  # no hive run_id column
        types = dict((r[0], r[1]) for r in con.execute("DESCRIBE events").fetchall())
        assert types["event_ts"] == "TIMESTAMP WITH TIME ZONE" and types["unit_price_ngn"] == "DECIMAL(18,2)"
        assert types["context"] == "VARCHAR"
        total, valid = con.execute("SELECT count(*), count(*) FILTER (WHERE json_valid(context)) FROM events"
                                   ).fetchall()[0]
        assert total == valid == 60_000
        items = con.execute("SELECT items FROM orders WHERE len(items) > 1 LIMIT 1").fetchall()[0][0]
        assert set(items[0]) == {"product_id", "quantity", "unit_price_ngn"}


def test_poison_file_of_a_jsonl_run_is_not_gzip(hostile_jsonl):
    data = (hostile_jsonl / "part-00000-partial.jsonl.gz").read_bytes()
    z = zlib.decompressobj(31)
    z.decompress(data)
    assert not z.eof


def _forge(folder, name: str, edit) -> None:
    """Rewrite one jsonl part with ``edit`` applied to its lines, and the manifest's digest and size to match."""
    path = folder / name
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    data = gzip.compress(b"\n".join(edit(lines)), mtime=0)
    path.write_bytes(data)
    manifest = json.loads((folder / "_manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["name"] == name)
    entry["bytes"], entry["sha256"] = len(data), __import__("hashlib").sha256(data).hexdigest()
    (folder / "_manifest.json").write_text(json.dumps(manifest))


def _forge_table(root, table: str, name: str, edit) -> None:
    """``_forge`` for a file of the run's other tables (listed under the manifest's ``tables``)."""
    path = root / table / "run_id=jl" / name
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    data = gzip.compress(b"\n".join(edit(lines)), mtime=0)
    path.write_bytes(data)
    events = root / "events" / "run_id=jl"
    manifest = json.loads((events / "_manifest.json").read_text())
    entry = next(f for f in manifest["tables"][table]["files"] if f["name"] == name)
    entry["bytes"], entry["sha256"] = len(data), __import__("hashlib").sha256(data).hexdigest()
    (events / "_manifest.json").write_text(json.dumps(manifest))


def _edit_line(at: int, change):
    def edit(lines):
        lines[at] = json.dumps(change(json.loads(lines[at])), separators=(",", ":")).encode()
        return lines
    return edit


def _copy(root, dest):
    for table in ("events", "users", "orders", "products"):
        shutil.copytree(root / table / "run_id=jl", dest / table / "run_id=jl")
    return dest / "events" / "run_id=jl"


def test_forged_jsonl_lines_fail_even_with_matching_digests(capsys, jsonl_run, tmp_path):
    # a blank line keeps the count of line ends (DuckDB skips it); extra and missing keys keep the typed views happy
    _, root = jsonl_run
    folder = _copy(root, tmp_path)

    def edit(lines):
        lines[10] = b""
        row = json.loads(lines[20])
        lines[20] = json.dumps({**row, "coupon": "FREE"}, separators=(",", ":")).encode()
        row = json.loads(lines[30])
        del row["device_id"]
        lines[30] = json.dumps(row, separators=(",", ":")).encode()
        return lines
    _forge(folder, "part-00001.jsonl.gz", edit)
    code, doc = validate(capsys, folder)
    found = {p["kind"]: p for p in doc["problems"]}
    assert code == 1 and "digest_mismatch" not in found and "row_count" not in found
    assert found["rows_read"]["example"] == "events/part-00001.jsonl.gz: 19,999 rows read, manifest says 20,000"
    assert found["json_keys"]["example"] == "events/part-00001.jsonl.gz: 2 lines"


def test_values_of_the_wrong_json_type_fail_even_with_matching_digests(capsys, jsonl_run, tmp_path):
    # read_json with the recorded types would cast every one of these quietly: "12" to an integer, 12 to a string
    _, root = jsonl_run
    folder = _copy(root, tmp_path)

    def edit(lines):
        for at, change in ((40, lambda r: {**r, "event_id": 12345}),
                           (41, lambda r: {**r, "user_id": str(r["user_id"])}),
                           (42, lambda r: {**r, "event_ts": r["event_ts"].replace("T", " ").rstrip("Z")}),
                           (43, lambda r: {**r, "state": None}),  # never null in the contract
                           (44, lambda r: {**r, "event_id": r["event_id"]})):  # unchanged: not a finding
            lines[at] = json.dumps(change(json.loads(lines[at])), separators=(",", ":")).encode()
        return lines
    _forge(folder, "part-00001.jsonl.gz", edit)
    code, doc = validate(capsys, folder)
    found = {p["kind"]: p for p in doc["problems"]}
    assert code == 1 and "digest_mismatch" not in found and "json_keys" not in found, doc["problems"]
    assert found["json_types"]["count"] == 4
    assert found["json_types"]["example"] == "events/part-00001.jsonl.gz: 1 line where event_id is not a string"
    text = main(["validate", str(folder)]) and capsys.readouterr().out
    assert "json_types (4): JSON values that are not what their column holds" in text


@pytest.mark.parametrize("table,column,change,needle", [
    # each of these a typed reader takes without a word: cast, rounded, or read as null
    ("events", "attempt_number", lambda r: {**r, "attempt_number": 300}, "an integer that fits int8 or null"),
    ("events", "user_id", lambda r: {**r, "user_id": 2 ** 63}, "an integer that fits int64 or null"),
    ("events", "unit_price_ngn", lambda r: {**r, "unit_price_ngn": 1899.129}, "a number with at most 2 decimals or null"),
    ("users", "favourite_categories", lambda r: {**r, "favourite_categories": [1, True]}, "an array of strings"),
    ("orders", "items", lambda r: {**r, "items": [{**r["items"][0], "product_id": "12"}]}, "an array of objects"),
    ("orders", "items", lambda r: {**r, "items": [{k: v for k, v in r["items"][0].items() if k != "quantity"}]},
     "an array of objects"),
    ("orders", "items", lambda r: {**r, "items": [{**r["items"][0], "coupon": "FREE"}]}, "an array of objects"),
])
def test_values_a_typed_reader_would_forgive_are_findings(capsys, jsonl_run, tmp_path, table, column, change, needle):
    _, root = jsonl_run
    folder = _copy(root, tmp_path)
    name = "part-00001.jsonl.gz"
    if table == "events":
        _forge(folder, name, _edit_line(7, change))
    else:
        _forge_table(tmp_path, table, name, _edit_line(0, change))
    code, doc = validate(capsys, folder)
    found = {p["kind"]: p for p in doc["problems"]}
    assert code == 1 and list(found)[0] == "json_types" and "json_keys" not in found, doc["problems"]
    assert found["json_types"]["count"] == 1
    assert found["json_types"]["example"].startswith(f"{table}/{name}: 1 line where {column} is not {needle}")


def test_a_line_that_does_not_parse_is_a_finding_not_a_crash(capsys, jsonl_run, tmp_path):
    _, root = jsonl_run
    folder = _copy(root, tmp_path)
    _forge(folder, "part-00002.jsonl.gz", lambda lines: lines[:5] + [b'{"event_id": "x", "event_id": 1'] + lines[6:])
    code, doc = validate(capsys, folder)
    assert code == 1 and [p["kind"] for p in doc["problems"]] == ["unreadable"]
    assert "its events files cannot be read" in doc["problems"][0]["example"]
    _forge(folder, "part-00000.jsonl.gz", lambda lines: lines[:2] + [b'{"event_id": '] + lines[3:])
    done = temu_gen("show", tmp_path, "--run-id", "jl", "--limit", 10)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("temu-gen: error: run jl: ") and "--where" not in done.stderr


def test_the_rules_follow_the_recorded_type_down_into_lists_and_structs():
    from temu_gen.tools.jsonl_lines import checks

    found = checks("items", "list<item: struct<product_id: int64 not null, price: decimal128(18, 2)>>", False)
    assert [(c.path, c.kinds) for c in found] == [
        ('$."items"', ("ARRAY",)), ('$."items"[*]', ("OBJECT", "NULL")),
        ('$."items"[*]."product_id"', ("BIGINT", "UBIGINT")),
        ('$."items"[*]."price"', ("BIGINT", "UBIGINT", "DOUBLE", "NULL"))]
    assert found[1].keys == ("product_id", "price") and "DECIMAL(18, 2)" in found[3].text
    with pytest.raises(ValueError, match="cannot be checked in a JSON path"):
        checks('a"b', "string", False)  # a path that cannot name the key would skip it: refused instead
