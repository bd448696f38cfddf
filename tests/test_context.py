"""The ``context`` column (``--context``): valid JSON with the documented keys, consistent with its row, 400-800
bytes, fixed per device and session, and a pure function of (seed, the row's columns).

Read from the session's jsonl run (``jsonl_run``: seed 7, context on), where each line
embeds the context object as the exact text the column holds.
"""
from __future__ import annotations

import collections
import gzip
import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from temu_gen import client_context as cc
from temu_gen.encode.context import COLUMNS, Keys, context_column

DICTIONARY = ("event_type", "platform", "device_brand", "app_version", "carrier", "network_type", "traffic_source",
              "state")


@pytest.fixture(scope="module")
def rows(jsonl_run):
    """(row without context, the context's exact text, the context parsed) for every event of the run."""
    _, root = jsonl_run
    out = []
    for path in sorted((root / "events" / "run_id=jl").glob("part-*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            cut = line.index(',"context":')
            text = line[cut + len(',"context":'):-1]
            out.append((json.loads(line[:cut] + "}"), text, json.loads(text)))
    assert len(out) == 60_000
    return out


def test_context_is_json_with_the_documented_keys(rows):
    server = client = web = 0
    for row, _, ctx in rows:
        assert set(ctx) <= set(cc.KEYS) and ctx["timezone"] == cc.TIMEZONE
        assert ctx["locale"] in ("en-NG", "ha-NG", "yo-NG", "ig-NG", "pcm-NG")
        assert set(ctx["experiments"]) == {e.name for e in cc.EXPERIMENTS}
        if row["device_id"] is None:  # server events, and payment at the door
            server += 1
            assert tuple(ctx) == cc.SERVER_KEYS
            continue
        client += 1
        assert ctx["device"]["id"] == row["device_id"] and ctx["network"]["carrier"] == row["carrier"]
        assert ctx["network"]["wifi"] == (row["network_type"] == "wifi")
        assert {"device", "os", "screen", "userAgent", "library", "locale", "ip"} <= set(ctx)
        if row["platform"] == "web":
            web += 1
            assert "app" not in ctx and ctx["page"]["url"].endswith(ctx["page"]["path"])
            assert ctx["userAgent"].startswith("Mozilla/5.0")
        else:
            assert ctx["app"]["version"] == row["app_version"] and "page" not in ctx
            assert ctx["userAgent"].startswith(f"Temu/{row['app_version']} (")
            assert ctx["device"]["type"] == row["platform"] and ctx["os"]["version"] in ctx["userAgent"]
            maker, models = cc.BRAND_MODELS[row["device_brand"]]
            assert ctx["device"]["manufacturer"] == maker and ctx["device"]["model"] in {m.model for m in models}
        source = row["traffic_source"]
        paid = row["session_id"] is not None and source not in cc.NO_CAMPAIGN
        assert ("campaign" in ctx) == paid
        if paid:
            assert ctx["campaign"]["medium"] == cc.UTM[source][1] and ctx["campaign"]["source"] in cc.UTM[source][0]
    assert server > 100 and client > 50_000 and web > 1_000  # every kind of context is exercised


def test_context_weighs_400_to_800_bytes(rows):
    sizes = [len(text.encode()) for _, text, _ in rows]
    assert 400 <= sum(sizes) / len(sizes) <= 800, sum(sizes) / len(sizes)


def test_context_is_fixed_per_device_and_session(rows):
    devices, sessions = collections.defaultdict(set), collections.defaultdict(set)
    for row, _, ctx in rows:
        if row["device_id"] is not None:
            fixed = {k: ctx[k] for k in ("os", "screen", "locale", "experiments")}
            fixed["device"] = {k: v for k, v in ctx["device"].items()}
            devices[row["device_id"]].add(json.dumps(fixed, sort_keys=True))
        if row["session_id"] is not None:
            sessions[row["session_id"]].add(json.dumps([ctx["ip"], ctx.get("campaign")], sort_keys=True))
    assert len(devices) > 300 and all(len(v) == 1 for v in devices.values())
    assert len(sessions) > 3_000 and all(len(v) == 1 for v in sessions.values())
    locales = collections.Counter(json.loads(next(iter(v)))["locale"] for v in devices.values())
    assert 0.7 < locales["en-NG"] / len(devices) < 0.9 and len(locales) >= 4  # English, and the regions' languages


def test_context_is_a_pure_function_of_the_row(rows, jsonl_cfg):
    """Recomputed from the values read back (with dictionaries in another order), it is the same text."""
    sample = rows[::3]
    columns = {c: pa.array([r[c] for r, _, _ in sample]) for c in COLUMNS}
    for c in DICTIONARY:
        columns[c] = pc.dictionary_encode(pc.cast(columns[c], pa.string()))
    batch = pa.record_batch(list(columns.values()), names=list(columns))
    regions = tuple((s.name, s.region) for s in jsonl_cfg.geography.states)
    assert context_column(batch, Keys.for_run(7), regions).to_pylist() == [t for _, t, _ in sample]
    other = context_column(batch, Keys.for_run(8), regions).to_pylist()
    assert sum(a != b for a, b in zip(other, (t for _, t, _ in sample))) > len(sample) // 2  # another seed: others
