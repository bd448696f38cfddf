"""runref: the views cover exactly one run's committed files, in schema version 1."""
from __future__ import annotations

import json
import os
import shutil

from temu_gen.model import FIELD_NAMES
from temu_gen.tools.runref import open_run
from temu_gen.tools.views import connect

from tool_helpers import copy_run


def test_views_read_exactly_the_listed_files(clean_run, hostile_run, tmp_path):
    run = copy_run(hostile_run, tmp_path)
    copy_run(clean_run, tmp_path)  # another run under the same root
    shutil.copy(run.folder / "part-00001.parquet", run.folder / "part-00009.parquet")  # a stray, unlisted part
    manifest = json.loads((run.folder / "_manifest.json").read_text())
    with connect(open_run(os.fspath(run.root), "hostile"), located=True) as con:
        n = dict(con.execute("SELECT _part, count(*) FROM events GROUP BY 1").fetchall())
        assert n == {f["chunk"]: f["rows"] for f in manifest["files"] if not f.get("poison")}
        for table, doc in manifest["tables"].items():
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == doc["rows"], table


def test_events_are_in_schema_version_1_across_drift(hostile_run):
    manifest = json.loads((hostile_run.folder / "_manifest.json").read_text())
    assert {f.get("schema_version") for f in manifest["files"]} >= {1, 2}
    with connect(open_run(os.fspath(hostile_run.folder))) as con:
        assert [r[0] for r in con.execute("DESCRIBE events").fetchall()] == list(FIELD_NAMES)
        nulls = con.execute("SELECT count(*) FILTER (WHERE network_type IS NULL AND platform IS NOT NULL), "
                            "max(quantity) FROM events").fetchone()
    assert nulls[0] == 0 and nulls[1] >= 1  # renamed back from connection_type; widened quantity read in both


def test_a_clean_run_has_an_empty_defects_view(clean_run):
    with connect(open_run(os.fspath(clean_run.root), "clean")) as con:
        assert con.execute("SELECT count(*) FROM defects").fetchone()[0] == 0
        assert [r[0] for r in con.execute("DESCRIBE defects").fetchall()] == ["event_id", "part", "row", "defect",
                                                                              "detail"]
