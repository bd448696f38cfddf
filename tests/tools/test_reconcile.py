"""``temu-gen reconcile``: pipeline outputs made from the hostile run itself, and exactly the differences made."""
from __future__ import annotations

import json
import os

import pytest

from temu_gen.cli import main
from temu_gen.tools.runref import open_run
from temu_gen.tools.views import connect

from tool_helpers import temu_gen

ORIGINALS = """SELECT e.* EXCLUDE (_part, _row) FROM events e WHERE NOT EXISTS (SELECT 1 FROM defects l
               WHERE l.part = e._part AND l.row = e._row AND l.defect IN ('duplicate', 'id_collision'))"""
"""A correct pipeline's output: one row per event_id (the original), everything else as received."""
UNLABELLED = "event_id NOT IN (SELECT event_id FROM defects)"


def build(run, path, sql: str) -> str:
    """Write ``sql`` over the run's views (events with _part/_row) to ``path`` as Parquet."""
    with connect(open_run(os.fspath(run.folder)), located=True) as con:
        con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")
    return os.fspath(path)


def ids(run, sql: str) -> list[str]:
    with connect(open_run(os.fspath(run.folder)), located=True) as con:
        return [r[0] for r in con.execute(sql).fetchall()]


def reconcile(capsys, run, against, *extra) -> tuple[int, dict]:
    code = main(["reconcile", os.fspath(run.folder), "--against", os.fspath(against), "--format", "json", *extra])
    out = capsys.readouterr()
    assert out.err == ""
    return code, json.loads(out.out)


def test_a_correct_pipeline_reconciles(capsys, hostile_run, tmp_path):
    out = build(hostile_run, tmp_path / "out.parquet", ORIGINALS)
    code, doc = reconcile(capsys, hostile_run, out)
    assert code == 0 and doc["ok"]
    for name, c in doc["categories"].items():
        assert (c["expected"], c["unexpected"]) == (0, 0), name
    assert doc["output_rows"] == doc["run_events"] and doc["not_compared"] == []


def test_set_aside_and_repaired_events_are_expected(capsys, hostile_run, tmp_path):
    """Dead-letter contract violations, hold orphan orders, trust ingest_ts over a skewed clock, key orphan users
    as unknown members (an event both skewed and an orphan gets both repairs): all explained."""
    both = ids(hostile_run, "SELECT event_id FROM defects GROUP BY event_id HAVING "
                            "list_has_all(list(defect::VARCHAR), ['clock_skew', 'orphan_user'])")
    assert both  # the run holds events with both labels, or this test would not try the combined repair
    sql = f"""SELECT * REPLACE (CASE WHEN event_id IN (SELECT event_id FROM defects WHERE defect = 'clock_skew')
                                THEN ingest_ts ELSE event_ts END AS event_ts,
                                CASE WHEN event_id IN (SELECT event_id FROM defects WHERE defect = 'orphan_user')
                                THEN -1 ELSE user_id END AS user_id) FROM ({ORIGINALS})
              WHERE event_id NOT IN (SELECT event_id FROM defects WHERE defect IN ('contract_violation',
                                                                                    'orphan_order'))"""
    out = build(hostile_run, tmp_path / "out.parquet", sql)
    code, doc = reconcile(capsys, hostile_run, out)
    cats = doc["categories"]
    assert code == 0 and doc["ok"], cats
    dropped = set(ids(hostile_run, "SELECT event_id FROM defects WHERE defect IN ('contract_violation', "
                                   "'orphan_order')"))
    skewed = set(ids(hostile_run, "SELECT event_id FROM defects WHERE defect = 'clock_skew'")) - dropped
    orphans = set(ids(hostile_run, "SELECT event_id FROM defects WHERE defect = 'orphan_user'")) - dropped
    assert cats["altered"]["expected"] == len(skewed | orphans)
    assert cats["altered"]["columns"] == {"event_ts": len(skewed), "user_id": len(orphans)}
    assert cats["altered"]["by_defect"] == {"clock_skew": len(skewed), "orphan_user": len(orphans - skewed)}
    assert cats["missing"]["expected"] == len(dropped)
    # each event counted once, under the first defect of the catalog that explains it
    assert set(cats["missing"]["by_defect"]) <= {"clock_skew", "contract_violation", "orphan_order"}
    assert cats["missing"]["by_defect"]["orphan_order"] > 0 and cats["missing"]["by_defect"]["contract_violation"] > 0


def test_exactly_the_differences_made(capsys, hostile_run, tmp_path):
    """Five events dropped, three altered, two invented, four duplicated: reconcile reports exactly those."""
    pick = f"SELECT event_id FROM ({ORIGINALS}) WHERE {UNLABELLED} AND event_type = 'product_view' ORDER BY event_id"
    chosen = ids(hostile_run, f"{pick} LIMIT 14")
    dropped, altered, invented, doubled = chosen[:5], chosen[5:8], chosen[8:10], chosen[10:14]
    lst = lambda xs: "(" + ", ".join(f"'{x}'" for x in xs) + ")"  # noqa: E731
    fresh = ["ffffffff-0000-4000-8000-00000000000" + str(i) for i in range(2)]
    sql = f"""
        SELECT * REPLACE (CASE WHEN event_id IN {lst(altered)} THEN unit_price_ngn + 1 ELSE unit_price_ngn END
                          AS unit_price_ngn) FROM ({ORIGINALS}) WHERE event_id NOT IN {lst(dropped)}
        UNION ALL SELECT * FROM ({ORIGINALS}) WHERE event_id IN {lst(doubled)}
        UNION ALL SELECT * REPLACE (CASE event_id WHEN '{invented[0]}' THEN '{fresh[0]}' ELSE '{fresh[1]}' END
                                    AS event_id) FROM ({ORIGINALS}) WHERE event_id IN {lst(invented)}"""
    out = build(hostile_run, tmp_path / "out.parquet", sql)
    code, doc = reconcile(capsys, hostile_run, out)
    cats = doc["categories"]
    assert code == 1 and not doc["ok"]
    assert (cats["missing"]["unexpected"], cats["missing"]["expected"]) == (5, 0)
    assert cats["missing"]["examples"] == sorted(dropped)
    assert (cats["altered"]["unexpected"], cats["altered"]["expected"]) == (3, 0)
    assert cats["altered"]["examples"] == sorted(altered) and cats["altered"]["columns"] == {"unit_price_ngn": 3}
    assert cats["duplicated"]["unexpected"] == 4 and cats["duplicated"]["examples"] == sorted(doubled)
    assert cats["duplicated"]["labelled_in_run"] == 0
    assert cats["unexpected"]["unexpected"] == 2 and cats["unexpected"]["examples"] == sorted(fresh)


def test_passing_duplicates_through_is_unexpected(capsys, hostile_run, tmp_path):
    out = build(hostile_run, tmp_path / "raw.parquet", "SELECT * EXCLUDE (_part, _row) FROM events")
    copied = ids(hostile_run, "SELECT DISTINCT event_id FROM defects WHERE defect IN ('duplicate', 'id_collision')")
    code, doc = reconcile(capsys, hostile_run, out)
    cats = doc["categories"]
    assert code == 1
    assert cats["duplicated"]["unexpected"] == len(copied) == cats["duplicated"]["labelled_in_run"]
    assert cats["altered"]["unexpected"] == 0  # an id_collision copy kept is a run row, not an alteration
    assert cats["missing"]["unexpected"] == cats["unexpected"]["unexpected"] == 0


def test_a_value_that_does_not_convert_differs_also_where_the_run_has_null(capsys, hostile_run, tmp_path):
    """'garbage' in a money column is no NULL: a pipeline that writes it where the run has none altered 7 rows."""
    spoiled = ids(hostile_run, f"SELECT event_id FROM ({ORIGINALS}) WHERE {UNLABELLED} AND order_total_ngn IS NULL "
                               f"ORDER BY event_id LIMIT 7")
    out = build(hostile_run, tmp_path / "text.parquet", f"""SELECT * REPLACE (CASE WHEN event_id IN
        ({', '.join(f"'{x}'" for x in spoiled)}) THEN 'garbage' ELSE CAST(order_total_ngn AS VARCHAR) END
        AS order_total_ngn) FROM ({ORIGINALS})""")
    code, doc = reconcile(capsys, hostile_run, out)
    altered = doc["categories"]["altered"]
    assert code == 1 and (altered["unexpected"], altered["expected"]) == (7, 0)
    assert altered["examples"] == sorted(spoiled)[:5] and altered["columns"] == {"order_total_ngn": 7}


def test_a_folder_is_read_as_a_dataset_reader_reads_it(capsys, hostile_run, tmp_path):
    """Hidden leftovers (_temporary, .staging, _SUCCESS, .h=1) are not data; a file without an extension (Hive's
    000000_0) is, and so is an upper-case EVENT_ID. Each file is read once: p*1 is a name, not also pxx1's pattern,
    and lake[1] is not lake1."""
    folder = tmp_path / "lake[1]"
    (folder / "_day=1").mkdir(parents=True)
    quarter = f"SELECT * FROM ({ORIGINALS}) WHERE hash(event_id) % 4 = "
    build(hostile_run, folder / "_day=1" / "000000_0", quarter + "0")
    build(hostile_run, folder / "p*1.parquet", f"SELECT * RENAME (event_id AS EVENT_ID) FROM ({quarter} 1)")
    build(hostile_run, folder / "pxx1.parquet", quarter + "2")
    build(hostile_run, folder / "p?2.parquet", quarter + "3")
    (tmp_path / "lake1").mkdir()
    for leftover in ("_temporary/0/part-0.parquet", ".staging/part-0.parquet", "_delta_log/00.checkpoint.parquet",
                     ".h=1/part-0.parquet", "../lake1/part-0.parquet"):
        (folder / leftover).parent.mkdir(parents=True, exist_ok=True)
        build(hostile_run, folder / leftover, f"SELECT * FROM ({ORIGINALS}) LIMIT 1000")
    (folder / "_SUCCESS").write_text("")
    code, doc = reconcile(capsys, hostile_run, folder)
    assert code == 0 and doc["output_rows"] == doc["run_events"], doc["categories"]


def test_a_folder_of_only_data_is_read_whole(capsys, hostile_run, tmp_path):
    """No hidden name: the folder's own '**', with its glob characters escaped (lake1 beside it is not read)."""
    folder, beside = tmp_path / "lake[1]", tmp_path / "lake1"
    for root in (folder, beside):
        (root / "k=0").mkdir(parents=True)
    build(hostile_run, folder / "k=0" / "a.parquet", f"SELECT * FROM ({ORIGINALS}) WHERE hash(event_id) % 2 = 0")
    build(hostile_run, folder / "b", f"SELECT * FROM ({ORIGINALS}) WHERE hash(event_id) % 2 = 1")
    for name in ("k=0/a.parquet", "b"):  # the same names in the folder that lake[1] would match as a pattern
        build(hostile_run, beside / name, f"SELECT * FROM ({ORIGINALS}) LIMIT 1000")
    code, doc = reconcile(capsys, hostile_run, folder)
    assert code == 0 and doc["output_rows"] == doc["run_events"], doc["categories"]


def test_late_events_loaded_twice_are_not_blamed_on_the_runs_copies(capsys, hostile_run, tmp_path):
    late = f"SELECT event_id FROM ({ORIGINALS}) WHERE event_id IN (SELECT event_id FROM defects WHERE defect = 'late')"
    twice = build(hostile_run, tmp_path / "twice.parquet", f"SELECT * FROM ({ORIGINALS}) UNION ALL "
                                                          f"SELECT * FROM ({ORIGINALS}) WHERE event_id IN ({late})")
    code, doc = reconcile(capsys, hostile_run, twice)
    copies = ids(hostile_run, f"SELECT DISTINCT event_id FROM defects WHERE event_id IN ({late}) "
                              f"AND defect IN ('duplicate', 'id_collision')")
    duplicated = doc["categories"]["duplicated"]
    assert code == 1 and duplicated["unexpected"] == len(ids(hostile_run, late)) > len(copies)
    assert duplicated["labelled_in_run"] == len(copies)


def test_a_watermark_at_the_late_labels_least_lateness_is_expected(capsys, hostile_run, tmp_path):
    """Set aside whatever arrived as late as a late label (hostile: 1 day), labelled or not: all expected."""
    late = f"epoch_us(ingest_ts) - epoch_us(event_ts) >= {int(86_400e6)}"
    natural = ids(hostile_run, f"SELECT event_id FROM ({ORIGINALS}) WHERE {late} AND event_id NOT IN (SELECT "
                               f"event_id FROM defects WHERE defect NOT IN ('duplicate', 'id_collision'))")
    assert natural  # the log's own lateness (offline sessions) reaches past the label's minimum
    # the originals are each event's first arrival: an event is as late as that, whatever its copies
    out = build(hostile_run, tmp_path / "watermarked.parquet", f"SELECT * FROM ({ORIGINALS}) WHERE NOT ({late})")
    code, doc = reconcile(capsys, hostile_run, out)
    missing = doc["categories"]["missing"]
    assert code == 0 and missing["unexpected"] == 0 and missing["by_defect"]["arrived_late"] == len(natural)


def test_a_run_without_late_labels_sets_no_watermark(capsys, clean_run, tmp_path):
    """A clean run injects no late events: dropping what arrived 2 days late (its late_days[0]) loses events."""
    late = f"epoch_us(ingest_ts) - epoch_us(event_ts) >= {int(2 * 86_400e6)}"
    dropped = ids(clean_run, f"SELECT event_id FROM events WHERE {late}")
    assert dropped
    out = build(clean_run, tmp_path / "watermarked.parquet", f"SELECT * EXCLUDE (_part, _row) FROM events "
                                                            f"WHERE NOT ({late})")
    code, doc = reconcile(capsys, clean_run, out)
    assert code == 1 and doc["categories"]["missing"]["unexpected"] == len(dropped)


def test_an_output_uniting_both_schema_versions_by_name(capsys, hostile_run, tmp_path):
    """Files of version 1 and 2 read with union_by_name: network_type and connection_type, each null on half."""
    folder = tmp_path / "lake"
    folder.mkdir()
    build(hostile_run, folder / "v1.parquet", f"SELECT * FROM ({ORIGINALS}) WHERE hash(event_id) % 2 = 0")
    build(hostile_run, folder / "v2.parquet", f"SELECT * RENAME (network_type AS connection_type) FROM ({ORIGINALS}) "
                                              f"WHERE hash(event_id) % 2 = 1")
    code, doc = reconcile(capsys, hostile_run, folder)
    assert code == 0 and "network_type" in doc["compared_columns"], doc["categories"]["altered"]


def test_a_duckdb_table_and_a_folder_in_schema_version_2(capsys, hostile_run, tmp_path):
    import duckdb

    folder = tmp_path / "lake"
    folder.mkdir()
    for k in range(2):  # two files, the pipeline having adopted schema version 2's column name
        build(hostile_run, folder / f"p{k}.parquet", f"SELECT * RENAME (network_type AS connection_type) FROM "
                                                     f"({ORIGINALS}) WHERE hash(event_id) % 2 = {k}")
    code, doc = reconcile(capsys, hostile_run, folder)
    assert code == 0 and "network_type" in doc["compared_columns"]
    db = tmp_path / "pipe.duckdb"
    with duckdb.connect(os.fspath(db)) as con:
        con.execute(f"CREATE TABLE clean_events AS SELECT * EXCLUDE (state) FROM read_parquet('{folder}/*.parquet')")
    code, doc = reconcile(capsys, hostile_run, f"{db}:clean_events", "--columns", "event_ts,state,quantity")
    assert code == 0 and doc["compared_columns"] == ["event_ts", "quantity"] and doc["not_compared"] == ["state"]


def test_end_to_end_text_report(hostile_run, tmp_path):
    out = build(hostile_run, tmp_path / "raw.parquet", "SELECT * EXCLUDE (_part, _row) FROM events")
    done = temu_gen("reconcile", hostile_run.folder, "--against", out)
    assert done.returncode == 1 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].startswith("run hostile (") and "compared on 27 columns" in lines[0]
    assert lines[2].startswith("  duplicated  ") and "labelled copies in the run (not deduplicated)" in lines[2]
    assert lines[-1].startswith("NOT ok: ")


@pytest.mark.parametrize("against, extra, message", [
    ("nowhere", [], "--against {tmp}/nowhere: no such file or folder"),
    ("empty", [], "--against {tmp}/empty: no Parquet files there"),
    ("noid.parquet", [], "the pipeline output has no event_id column"),
    ("x.duckdb:t", [], "no such DuckDB file"),
    ("noid.parquet", ["--columns", "event_ts,colour"], "--columns: colour not event columns"),
    ("mixed", [], "(the folder holds files that are not Parquet: give a glob such as DIR/**/*.parquet)"),
])
def test_bad_input_is_one_line(capsys, hostile_run, tmp_path, against, extra, message):
    (tmp_path / "empty").mkdir()
    build(hostile_run, tmp_path / "noid.parquet", "SELECT event_ts FROM events LIMIT 3")
    (tmp_path / "mixed").mkdir()  # a data folder with notes in it (a dataset reader reads every non-hidden name)
    build(hostile_run, tmp_path / "mixed" / "part-0.parquet", f"SELECT * FROM ({ORIGINALS}) LIMIT 3")
    (tmp_path / "mixed" / "README.txt").write_text("written by the nightly load\n" * 4)
    code = main(["reconcile", os.fspath(hostile_run.folder), "--against", os.fspath(tmp_path / against), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("temu-gen: error: ") and err.count("\n") == 1
    assert message.format(tmp=tmp_path) in err, err


def test_a_repair_is_expected_only_in_the_columns_it_may_change(capsys, hostile_run, tmp_path):
    """An unknown-member key for an orphan user is a repair; moving the same events in time is a bug."""
    only_orphan = ("SELECT event_id FROM defects GROUP BY event_id "
                   "HAVING bool_and(CAST(defect AS VARCHAR) = 'orphan_user')")
    orphans = ids(hostile_run, only_orphan)
    keyed = build(hostile_run, tmp_path / "keyed.parquet", f"""SELECT * REPLACE (CASE WHEN event_id IN
        ({only_orphan}) THEN -1 ELSE user_id END AS user_id) FROM ({ORIGINALS})""")
    code, doc = reconcile(capsys, hostile_run, keyed)
    assert code == 0 and doc["categories"]["altered"]["by_defect"] == {"orphan_user": len(orphans)}
    moved = build(hostile_run, tmp_path / "moved.parquet", f"""SELECT * REPLACE (CASE WHEN event_id IN
        ({only_orphan}) THEN event_ts + INTERVAL 1 HOUR ELSE event_ts END AS event_ts) FROM ({ORIGINALS})""")
    code, doc = reconcile(capsys, hostile_run, moved)
    altered = doc["categories"]["altered"]
    assert code == 1 and (altered["unexpected"], altered["expected"]) == (len(orphans), 0)
    assert altered["columns"] == {"event_ts": len(orphans)}


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_damaged_file_of_the_run_is_blamed_on_the_run(capsys, hostile_run, tmp_path, damage):
    """A part of the run cut short once read as a fault of --against; a missing one was an internal error."""
    from tool_helpers import copy_run

    out = build(hostile_run, tmp_path / "raw.parquet", "SELECT * EXCLUDE (_part, _row) FROM events")
    run = copy_run(hostile_run, tmp_path / "copy")
    part = sorted(run.folder.glob("part-*.parquet"))[-1]  # the last: a view reads the first file's footer early
    part.unlink() if damage == "missing" else os.truncate(part, part.stat().st_size // 2)
    code = main(["reconcile", os.fspath(run.folder), "--against", out])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("temu-gen: error: run hostile: ") and part.name in err and "--against" not in err, err
    assert err.endswith("; check it with temu-gen validate\n"), err
