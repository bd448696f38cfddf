"""Defects: each type at its configured rate, labelled, deterministic across workers; unlabelled rows clean.

One hostile run (every defect type, schema drift from part 1, a poison part 0) is made
twice, with 1 and 2 workers, and read back through its manifest.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from temu_gen import config
from temu_gen.defects.catalog import NAMES
from temu_gen.encode.schema import EVENT_SCHEMA
from temu_gen.reduce import POISON_SHARE
from temu_gen.run import run
from temu_gen.sinks import LocalDirSink

from oracles import (check_arrival_order, check_basic, check_entities, check_null_contract, check_orders,
                     check_sessions)

EVENTS, CHUNK = 400_000, 100_000


def _make(root: Path, workers: int, preset: str = "hostile"):
    cfg = config.load().with_run(events=EVENTS, chunk_size=CHUNK).with_defects(preset)
    summary = run(cfg, LocalDirSink(root), seed=21, run_id="d", workers=workers, progress=False)
    return cfg, summary, root


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return _make(tmp_path_factory.mktemp("hostile2"), 2)


def _manifest(root: Path) -> dict:
    return json.loads((root / "events" / "run_id=d" / "_manifest.json").read_text())


def _events(root: Path) -> list[pa.Table]:
    m = _manifest(root)
    return [pq.read_table(root / "events" / "run_id=d" / f["name"]) for f in m["files"] if not f.get("poison")]


def _labels(root: Path) -> pa.Table:
    return pq.read_table(root / "defects" / "run_id=d")


def test_same_bytes_with_one_worker(hostile, tmp_path):
    *_, root = hostile
    _make(tmp_path, 1)
    for folder in sorted((root).glob("*/run_id=d")):
        for f in sorted(folder.glob("part-*")):
            twin = tmp_path / folder.relative_to(root) / f.name
            assert twin.read_bytes() == f.read_bytes(), f


def test_every_type_at_its_rate_and_counted_in_the_manifest(hostile):
    cfg, summary, root = hostile
    d, m = cfg.defects, _manifest(root)
    labels = _labels(root)
    counts = dict(zip(*np.unique(labels["defect"].to_numpy(zero_copy_only=False), return_counts=True)))
    assert m["defects"]["labels"] == {n: int(counts.get(n, 0)) for n in NAMES}
    for name in ("duplicate", "id_collision", "late", "clock_skew", "contract_violation"):
        expected = EVENTS * d.rate(name)
        assert abs(counts[name] - expected) < 5 * expected ** 0.5 + 0.02 * expected, (name, counts[name], expected)
    orders = pq.read_table(root / "orders" / "run_id=d")
    orphaned = {e for e, k in zip(labels["event_id"].to_pylist(), labels["defect"].to_pylist()) if k == "orphan_order"}
    assert orphaned and counts["orphan_user"] > 0
    assert orders.num_rows > 0
    written = sum(f["rows"] for f in m["files"])
    assert m["rows_written"] == written == summary.rows_written and m["events"] == EVENTS
    # the summary line names every kind of file it counts beside the events parts
    assert f"(+{summary.table_files} files of users, orders, products, defects, the poison file)" in summary.line()


def test_labels_name_their_rows(hostile):
    *_, root = hostile
    tables = _events(root)
    labels = _labels(root)
    for part, row, eid in zip(labels["part"].to_pylist(), labels["row"].to_pylist(), labels["event_id"].to_pylist()):
        assert tables[part]["event_id"][row].as_py() == eid


def _labelled(root: Path, tables: list[pa.Table]) -> list[np.ndarray]:
    labels = _labels(root)
    marks = [np.zeros(t.num_rows, bool) for t in tables]
    for part, row in zip(labels["part"].to_numpy(), labels["row"].to_numpy()):
        marks[part][row] = True
    return marks


def test_duplicates_and_collisions_share_an_id_and_nothing_else_does(hostile):
    *_, root = hostile
    tables = _events(root)
    marks = np.concatenate(_labelled(root, tables))
    ids = pa.chunked_array([t["event_id"].combine_chunks() for t in tables]).combine_chunks()
    # an unlabelled row's id is unique among unlabelled rows: every repeat is a labelled copy
    clean = ids.filter(pa.array(~marks))
    assert pc.count_distinct(clean).as_py() == len(clean)
    counts = pc.value_counts(ids).field("counts").to_numpy()
    assert int(marks.sum()) >= int((counts - 1).sum()) > 0


def _v1(t: pa.Table) -> pa.Table:
    """A drifted (version 2) file read as version 1, and every column with the contract's nullability."""
    if "connection_type" in t.column_names:
        t = t.drop_columns(["app_build"]).rename_columns(
            ["network_type" if c == "connection_type" else c for c in t.column_names if c != "app_build"])
    return t.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)


def test_unlabelled_rows_satisfy_the_contract(hostile):
    *_, root = hostile
    tables = _events(root)
    marks = _labelled(root, tables)
    # whole sessions and orders a label touches leave the check: the rest is a clean log
    everything = pa.concat_tables([t.select(["session_id", "order_id"]) for t in tables])
    labelled = everything.filter(pa.array(np.concatenate(marks)))
    sessions = pc.unique(pc.drop_null(labelled["session_id"].combine_chunks()))
    in_session = pc.is_in(everything["session_id"], value_set=sessions).fill_null(False)
    # an order whose checkout session left takes its fulfilment events with it
    orders = pc.unique(pc.drop_null(pa.concat_arrays([labelled["order_id"].combine_chunks(),
                                                      everything["order_id"].filter(in_session).combine_chunks()])))
    clean = []
    for t, mark in zip(tables, marks):
        touched = pc.or_(pc.is_in(t["session_id"], value_set=sessions).fill_null(False),
                         pc.is_in(t["order_id"], value_set=orders).fill_null(False))
        keep = pc.and_(pa.array(~mark), pc.invert(touched))
        clean.append(_v1(t.filter(keep).combine_chunks()))
    assert sum(t.num_rows for t in clean) > 0.4 * EVENTS  # hostile: a few % of rows touch half the sessions
    t = pa.concat_tables(clean)
    # identity is left out: a device's sign-in state runs across sessions, and removing the touched ones breaks it
    assert (check_basic(t) + check_arrival_order(clean) + check_sessions(t) + check_orders(t) + check_entities(t)
            + check_null_contract(t)) == []


def test_schema_drift_from_its_part(hostile):
    cfg, _, root = hostile
    m = _manifest(root)
    start = cfg.defects.schema_drift_from_part
    for f in m["files"]:
        if f.get("poison"):
            continue
        names = pq.read_schema(root / "events" / "run_id=d" / f["name"]).names
        version = 2 if f["chunk"] >= start else 1
        assert f["schema_version"] == version
        assert names == [c["name"] for c in m["schema_versions"][str(version)]]
    assert "connection_type" in [c["name"] for c in m["schema_versions"]["2"]]


def test_poison_file_is_a_cut_off_part(hostile):
    cfg, _, root = hostile
    m = _manifest(root)
    poison = [f for f in m["files"] if f.get("poison")]
    assert len(poison) == 1 and poison[0]["chunk"] == cfg.defects.poison_part
    folder = root / "events" / "run_id=d"
    data = (folder / poison[0]["name"]).read_bytes()
    whole = (folder / f"part-{poison[0]['chunk']:05d}.parquet").read_bytes()
    assert data == whole[: int(len(whole) * POISON_SHARE)] and data[:4] == b"PAR1"
    with pytest.raises(Exception):
        pq.read_metadata(folder / poison[0]["name"])


def test_orphan_users_are_missing_from_the_users_table(hostile):
    *_, root = hostile
    users = set(pq.read_table(root / "users" / "run_id=d")["user_id"].to_pylist())
    tables = _events(root)
    marks = _labelled(root, tables)
    labels = _labels(root)
    orphan_rows = {(p, r) for p, r, k in zip(labels["part"].to_pylist(), labels["row"].to_pylist(),
                                             labels["defect"].to_pylist()) if k == "orphan_user"}
    for i, t in enumerate(tables):
        uid = t["user_id"].to_numpy(zero_copy_only=False)
        missing = [r for r in np.flatnonzero(~np.isin(uid, list(users))) if not np.isnan(uid[r])]
        assert {(i, int(r)) for r in missing} <= orphan_rows | {(i, int(r)) for r in np.flatnonzero(marks[i])}


def test_defects_off_is_the_none_preset(tmp_path):
    """The default config and --defects none are one and the same run: no labels table, no poison."""
    cfg = config.load()
    assert cfg.with_defects("none").config_hash == cfg.config_hash and not cfg.defects.enabled


def test_a_part_the_defects_empty_still_commits(tmp_path):
    """One-row parts with a tenth of the rows late: some parts hold nothing, and keep their arrival window."""
    base = config.load().with_run(events=60, chunk_size=1)
    cfg = config.parse({**base.document, "defects": {**base.document["defects"], "late": 0.1}})
    summary = run(cfg, LocalDirSink(tmp_path), seed=3, run_id="d", workers=1, progress=False)
    m = _manifest(tmp_path)
    empty = [f for f in m["files"] if f["rows"] == 0]
    assert summary.events == 60 and empty and sum(f["rows"] for f in m["files"]) == m["rows_written"]
    for f in empty:
        assert pq.read_metadata(tmp_path / "events" / "run_id=d" / f["name"]).num_rows == 0
        assert f["first_ingest_ts"] <= f["last_ingest_ts"]
