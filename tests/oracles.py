"""Oracles for whole runs: the contract's invariants, checked on what was written.

Each check returns a list of human-readable violations (empty = the property holds),
so a failing test prints the offending ids. The order lifecycle is the one declared in
``temu_gen.lifecycle`` and walked here event by event. Lives under tests/ because
production code has no caller for it.

A run is the first N arrivals of a longer simulation, so an entity may miss its later
events (they arrive after the log ends) but never events in between: checks compare
what is present and never require what may lie beyond the cut.
"""
from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from temu_gen.lifecycle import order_path_violation
from temu_gen.model import FIELDS, POD_SUCCESS, SESSION_EVENTS

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
DEVICE_ATTRIBUTES = ("platform", "device_brand", "carrier")


def _codes(col) -> np.ndarray:
    """Dense int codes for any column (nulls -> -1), equal values -> equal codes."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    enc = pc.dictionary_encode(col)
    idx = enc.indices.to_numpy(zero_copy_only=False)
    return np.where(np.asarray(enc.is_valid()), idx, -1).astype(np.int64)


def _names(t: pa.Table, col: str) -> np.ndarray:
    return np.asarray(t[col].cast(pa.string()).to_pylist(), dtype=object)


def check_basic(t: pa.Table) -> list[str]:
    bad = []
    ev, ing = t["event_ts"].to_numpy(), t["ingest_ts"].to_numpy()
    if (ing < ev).any():
        bad.append(f"{int((ing < ev).sum())} rows have ingest_ts before event_ts")
    if pc.count_distinct(t["event_id"]).as_py() != t.num_rows:
        bad.append("event_id is not unique")
    sample = t["event_id"].slice(0, 2000).to_pylist()
    if not all(_UUID.fullmatch(x) for x in sample):
        bad.append("event_id is not a UUID-shaped string")
    return bad


def check_arrival_order(tables: list[pa.Table]) -> list[str]:
    """Rows are in ingest_ts order within each file, and each file starts where the previous one ended."""
    bad = []
    last = None
    for i, t in enumerate(tables):
        ing = t["ingest_ts"].to_numpy().astype(np.int64)
        if (np.diff(ing) < 0).any():
            bad.append(f"file {i} is not in ingest_ts order")
        if last is not None and ing[0] < last:
            bad.append(f"file {i} starts before file {i - 1} ends")
        last = ing[-1]
    return bad


def _grouped(key: np.ndarray, *sort_by: np.ndarray) -> np.ndarray:
    """Row numbers with key >= 0, ordered by key, then by ``sort_by`` (last key first, as lexsort)."""
    rows = np.nonzero(key >= 0)[0]
    return rows[np.lexsort((rows, *(s[rows] for s in sort_by), key[rows]))]


def check_sessions(t: pa.Table) -> list[str]:
    """A session starts with app_open, keeps its device, never goes back in time, and signs in at most forward."""
    bad = []
    sid = _codes(t["session_id"])
    ts = t["event_ts"].to_numpy().astype(np.int64)
    order = _grouped(sid, ts)
    s = sid[order]
    first = np.ones(len(order), bool)
    first[1:] = s[1:] != s[:-1]
    et = _names(t, "event_type")[order]
    if (et[first] != "app_open").any():
        bad.append(f"{int((et[first] != 'app_open').sum())} sessions do not start with app_open")
    if (et[~first] == "app_open").any():
        bad.append("a session has a second app_open")
    if ((~first[1:]) & (np.diff(ts[order]) < 0)).any():
        bad.append("session steps go back in time")
    for col in ("device_id", "platform", "network_type", "traffic_source"):
        c = _codes(t[col])[order]
        changed = (~first[1:]) & (c[1:] != c[:-1])
        if changed.any():
            bad.append(f"{col} changes within {int(changed.sum())} session steps")
    user = t["user_id"].to_numpy(zero_copy_only=False)[order]
    named = ~np.isnan(user.astype(np.float64))
    lost = (~first[1:]) & named[:-1] & ~named[1:] & (et[:-1] != "logout")
    if lost.any():
        bad.append(f"user_id disappears within {int(lost.sum())} session steps without a logout")
    return bad


def check_identity(t: pa.Table) -> list[str]:
    """A device belongs to one user; user_id is hidden before its first sign-in and after a logout."""
    bad = []
    dev = _codes(t["device_id"])
    ts = t["event_ts"].to_numpy().astype(np.int64)
    et = _names(t, "event_type")
    user = t["user_id"].fill_null(-1).to_numpy()
    in_session = np.isin(et, list(SESSION_EVENTS))
    order = _grouped(np.where(in_session, dev, -1), ts)
    owners: dict[int, int] = {}
    signed: dict[int, bool | None] = defaultdict(lambda: None)  # None = not known yet
    for r in order:
        d, e, u = dev[r], et[r], user[r]
        if u >= 0 and owners.setdefault(d, u) != u:
            bad.append(f"device {t['device_id'][r]} is used by two users")
        if e in ("sign_up", "login"):
            signed[d] = True
        if signed[d] is None and u >= 0:
            signed[d] = True  # its sign-in arrived after the log ends
        if signed[d] is True and u < 0:
            bad.append(f"{e} without user_id after the device signed in ({t['device_id'][r]})")
        if signed[d] is False and u >= 0:
            bad.append(f"{e} with user_id on a signed-out device ({t['device_id'][r]})")
        if e == "logout":
            signed[d] = False
        if signed[d] is None:
            signed[d] = False
    ups = pc.value_counts(t.filter(pc.equal(t["event_type"], "sign_up"))["user_id"])
    if ups and max(ups.field("counts").to_pylist()) > 1:
        bad.append("a user signed up twice")
    return bad[:20]


def check_orders(t: pa.Table) -> list[str]:
    """Every order's events, in time order, form a path of the declared lifecycle (possibly unfinished)."""
    oid = _codes(t["order_id"])
    ts = t["event_ts"].to_numpy().astype(np.int64)
    order = _grouped(oid, ts)
    et = _names(t, "event_type")
    pm = _names(t, "payment_method")
    names = t["order_id"].to_pylist()
    by: dict[int, list[int]] = defaultdict(list)
    for r in order:
        by[oid[r]].append(r)
    bad = []
    for rs in by.values():
        methods = [pm[r] for r in rs if pm[r] is not None]
        pod = bool(methods) and methods[0] == "pay_on_delivery"
        why = order_path_violation([et[r] for r in rs], pod)
        if why:
            bad.append(f"order {names[rs[0]]}: {why} ({[et[r] for r in rs]})")
    return bad[:20]


def check_order_arrival(t: pa.Table) -> list[str]:
    """No row of an order reaches the log before its ``order_placed``: a cut by arrival never orphans an order."""
    has = np.asarray(t["order_id"].is_valid())
    oid = _codes(t["order_id"])[has]
    ingest = t["ingest_ts"].to_numpy().astype(np.int64)[has]
    placed = (_names(t, "event_type") == "order_placed")[has]
    first = dict(zip(oid[placed].tolist(), ingest[placed].tolist()))
    names = np.asarray(t["order_id"].to_pylist(), dtype=object)[has]
    bad = [f"order {names[r]}: a row arrives before its order_placed"
           for r in range(oid.size) if oid[r] in first and ingest[r] < first[oid[r]]]
    missing = sorted({names[r] for r in range(oid.size) if oid[r] not in first})
    bad += [f"order {n}: rows in the log without its order_placed" for n in missing]
    return bad[:20]


def check_entities(t: pa.Table) -> list[str]:
    """A user's home and a device's platform, brand and carrier never change; app versions only go up."""
    bad = []
    for key, cols in (("user_id", ("state", "city")), ("device_id", DEVICE_ATTRIBUTES)):
        k = _codes(t[key])
        order = _grouped(k)
        same = k[order][1:] == k[order][:-1]
        for col in cols:
            c = _codes(t[col])[order]
            n = int((same & (c[1:] != c[:-1])).sum())
            if n:
                bad.append(f"{col} differs between events of the same {key} ({n} times)")
    versions = t["app_version"].combine_chunks()
    rank = {v: i for i, v in enumerate(versions.dictionary.to_pylist())}  # releases are in release order
    dev = _codes(t["device_id"])
    order = _grouped(dev, t["event_ts"].to_numpy().astype(np.int64))
    v = np.array([rank.get(x, -1) if x is not None else -1 for x in versions.cast(pa.string()).to_pylist()])[order]
    d = dev[order]
    down = (d[1:] == d[:-1]) & (v[1:] < v[:-1])
    if down.any():
        bad.append(f"app_version goes down on {int(down.sum())} device steps")
    return bad


def check_null_contract(t: pa.Table) -> list[str]:
    """Each column is non-null exactly on the event types the contract declares."""
    et = pc.dictionary_encode(t["event_type"].cast(pa.string()).combine_chunks())
    codes = et.indices.to_numpy(zero_copy_only=False)
    masks = {name: codes == k for k, name in enumerate(et.dictionary.to_pylist())}  # once, not once per column
    pod = np.asarray(pc.equal(t["payment_method"], "pay_on_delivery").fill_null(False))
    bad = []
    for f in FIELDS:
        valid = np.asarray(t[f.name].is_valid())
        for name, m in masks.items():
            v = valid[m]
            if name in f.sometimes:
                if f.sometimes == POD_SUCCESS and (v != ~pod[m]).any():
                    bad.append(f"{f.name} on {name}: null iff pay_on_delivery is broken")
            elif name in f.present_on and not v.all():
                bad.append(f"{f.name} is null on {int((~v).sum())} {name} events")
            elif name not in f.present_on and v.any():
                bad.append(f"{f.name} is set on {int(v.sum())} {name} events")
    return bad


def all_violations(tables: list[pa.Table]) -> list[str]:
    t = pa.concat_tables(tables)
    return (check_basic(t) + check_arrival_order(tables) + check_sessions(t) + check_identity(t) + check_orders(t)
            + check_order_arrival(t) + check_entities(t) + check_null_contract(t))
