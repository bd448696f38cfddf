"""Oracles for whole runs: the contract's invariants, checked on what was written.

Each check returns a list of human-readable violations (empty = the property holds),
so a failing test prints the offending ids. Lives under tests/ because production
code has no caller for it.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from temu_gen.model import FIELDS

USER_ATTRIBUTES = ("state", "city", "platform", "device_brand", "carrier", "app_version")


def _codes(col: pa.ChunkedArray) -> np.ndarray:
    """Dense int codes for any column (nulls -> -1), equal values -> equal codes."""
    enc = pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    idx = enc.indices.to_numpy(zero_copy_only=False)
    return np.where(np.asarray(enc.is_valid()), idx, -1).astype(np.int64)


def check_basic(t: pa.Table) -> list[str]:
    bad = []
    ev, ing = t["event_ts"].to_numpy(), t["ingest_ts"].to_numpy()
    if (ing < ev).any():
        bad.append(f"{int((ing < ev).sum())} rows have ingest_ts before event_ts")
    if pc.count_distinct(t["event_id"]).as_py() != t.num_rows:
        bad.append("event_id is not unique")
    return bad


def check_sorted_files(tables: list[pa.Table]) -> list[str]:
    return [f"file {i} is not sorted by event_ts" for i, t in enumerate(tables)
            if (np.diff(t["event_ts"].to_numpy().astype(np.int64)) < 0).any()]


def check_sessions(t: pa.Table) -> list[str]:
    """Sessions start with app_open, keep user and platform, and never go back in time."""
    bad = []
    sid = _codes(t["session_id"])
    has = sid >= 0
    rows = np.nonzero(has)[0]
    order = rows[np.lexsort((rows, sid[rows]))]  # by session, then file position
    s = sid[order]
    first = np.ones(len(order), bool)
    first[1:] = s[1:] != s[:-1]
    et = np.asarray(t["event_type"].to_pylist(), dtype=object)[order]
    if (et[first] != "app_open").any():
        bad.append(f"{int((et[first] != 'app_open').sum())} sessions do not start with app_open")
    if (et[~first] == "app_open").any():
        bad.append("a session has a second app_open")
    ts = t["event_ts"].to_numpy().astype(np.int64)[order]
    back = (~first[1:]) & (np.diff(ts) < 0)
    if back.any():
        bad.append(f"{int(back.sum())} session steps go back in time")
    for col in ("user_id", "platform"):
        c = _codes(t[col])[order]
        changed = (~first[1:]) & (c[1:] != c[:-1])
        if changed.any():
            bad.append(f"{col} changes within {int(changed.sum())} session steps")
    return bad


def _order_path_violation(events: list[str], pod: bool) -> str | None:
    """Walk one order's events through the lifecycle; return what breaks, if anything."""
    if events[0] != "order_placed":
        return f"starts with {events[0]}"
    seen: set[str] = set()
    cancelled = paid = shipped = False
    for e in events:
        if e == "order_placed" and seen:
            return "second order_placed"
        if cancelled and e != "refund_processed":
            return f"{e} after order_cancelled"
        if e in ("payment_initiated", "payment_failed") and (pod or shipped):
            return f"{e} on a {'pay-on-delivery' if pod else 'shipped'} order"
        if e == "payment_succeeded":
            if pod and "delivered" not in seen:
                return "pay-on-delivery payment before delivery"
            if paid:
                return "paid twice"
            paid = True
        if e == "order_cancelled" and shipped:
            return "cancel after shipping"
        if e == "order_cancelled":
            cancelled = True
        if e == "order_shipped":
            if not pod and not paid:
                return "prepaid order shipped before payment_succeeded"
            shipped = True
        if e in ("hub_arrival", "out_for_delivery") and not shipped:
            return f"{e} before order_shipped"
        if e in ("delivered", "delivery_failed") and "out_for_delivery" not in seen:
            return f"{e} before out_for_delivery"
        if e == "delivered" and "delivered" in seen:
            return "delivered twice"
        if e == "return_requested" and "delivered" not in seen:
            return "return before delivery"
        if e == "refund_processed" and not ("return_requested" in seen or (cancelled and not pod and paid)):
            return "refund without a return or a cancelled prepaid order"
        seen.add(e)
    return None


def check_orders(t: pa.Table) -> list[str]:
    """Every order's events, in time order, form a valid (possibly unfinished) lifecycle."""
    oid = _codes(t["order_id"])
    rows = np.nonzero(oid >= 0)[0]
    ts = t["event_ts"].to_numpy().astype(np.int64)
    order = rows[np.lexsort((rows, ts[rows], oid[rows]))]
    et = t["event_type"].to_pylist()
    pm = t["payment_method"].to_pylist()
    names = t["order_id"].to_pylist()
    by: dict[int, list[int]] = defaultdict(list)
    for r in order:
        by[oid[r]].append(r)
    bad = []
    for rs in by.values():
        pod = pm[rs[0]] == "pay_on_delivery"
        why = _order_path_violation([et[r] for r in rs], pod)
        if why:
            bad.append(f"order {names[rs[0]]}: {why} ({[et[r] for r in rs]})")
    return bad[:20]


def check_users(t: pa.Table) -> list[str]:
    """A user's home state, city, platform and device are the same in every event."""
    uid = t["user_id"].to_numpy()
    order = np.argsort(uid, kind="stable")
    u = uid[order]
    same = u[1:] == u[:-1]
    bad = []
    for col in USER_ATTRIBUTES:
        c = _codes(t[col])[order]
        n = int((same & (c[1:] != c[:-1])).sum())
        if n:
            bad.append(f"{col} differs between events of the same user ({n} times)")
    return bad


def check_null_contract(t: pa.Table) -> list[str]:
    """Each column is non-null exactly on the event types the contract declares."""
    et = np.asarray(t["event_type"].to_pylist(), dtype=object)
    pod = np.asarray(pc.equal(t["payment_method"], "pay_on_delivery").fill_null(False))
    bad = []
    for f in FIELDS:
        valid = np.asarray(t[f.name].is_valid())
        for name in np.unique(et):
            m = et == name
            v = valid[m]
            if name in f.sometimes:  # the one declared case: session columns of payment_succeeded
                expect = ~pod[m]
                if (v != expect).any():
                    bad.append(f"{f.name} on {name}: null iff pay_on_delivery is broken")
            elif name in f.present_on and not v.all():
                bad.append(f"{f.name} is null on {int((~v).sum())} {name} events")
            elif name not in f.present_on and v.any():
                bad.append(f"{f.name} is set on {int(v.sum())} {name} events")
    return bad


def all_violations(tables: list[pa.Table]) -> list[str]:
    t = pa.concat_tables(tables)
    return (check_basic(t) + check_sorted_files(tables) + check_sessions(t) + check_orders(t)
            + check_users(t) + check_null_contract(t))
