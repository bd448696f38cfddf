"""The dimension tables of a run: users and orders as of the end of the log, products with their price history.

Invariant: each table is a pure function of the spool and the run's cut plan (or, for
products, of the catalog), never of the written parts: group *g* of the spooled runs
(every user lives in exactly one run) gives users part *g* and orders part *g*, read
from each run's rows in the log (``[0, cuts[-1])``), so they hold exactly the users and
orders that the events show, in the states the events leave them in. Traits come from
the same draw that simulated each user; prices from the same function that priced each
event.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from . import spool
from .defects.select import orphan_users
from .encode.arrow import int_dtype
from .encode.schema import table_schema
from .kernels.codes import (APP_OPEN, EVENT_TYPES, NARROW_COLUMNS, ORDER_PLACED, SIGN_UP, WIDE_COLUMNS)
from .merge import CutPlan

# What each table reads: the users table every row of a few columns; the orders table only the rows of orders
# (a tenth of the log), so neither holds a group's whole rows
USER_COLUMNS = ("user", "event_ts", "order_total", "event_type", "signed_in")
ORDER_COLUMNS = ("order", "event_ts", "user", "event_seq", "product", "unit_price", "order_total", "discount",
                 "event_type", "quantity", "payment_method", "payment_provider", "logistics_partner", "state", "city")
_EVENT = {name: i for i, name in enumerate(EVENT_TYPES)}


class Rows(NamedTuple):
    """The columns the dimension tables read, for the log's rows of a group of runs."""

    cols: dict[str, np.ndarray]

    def __getattr__(self, name: str) -> np.ndarray:
        return self.cols[name]


def group_runs(plan: CutPlan, group: int, groups: int) -> list[tuple[int, int]]:
    """Runs of group ``group`` of ``groups`` (contiguous in key order) and their rows in the log."""
    runs = plan.keys.shape[0]
    lo, hi = runs * group // groups, runs * (group + 1) // groups
    return [(int(plan.keys[r]), int(plan.cuts[-1, r])) for r in range(lo, hi) if plan.cuts[-1, r] > 0]


def read_rows(folder: Path, runs: list[tuple[int, int]], columns: tuple[str, ...] = USER_COLUMNS) -> Rows:
    """``columns`` for rows [0, cut) of each run, read straight into one array per column."""
    assert "order" not in columns, "orders need their global numbers: read_order_rows"
    total = sum(cut for _, cut in runs)
    cols = {n: np.empty(total, _dtype(n)) for n in columns}
    at = 0
    for key, cut in runs:
        f = spool.open_shard(folder, key)
        try:
            for n in columns:
                _read(f, n, cut, cols[n][at:at + cut])
        finally:
            f.close()
        at += cut
    return Rows(cols)


def read_order_rows(folder: Path, runs: list[tuple[int, int]]) -> Rows:
    """:data:`ORDER_COLUMNS` for the rows of orders among rows [0, cut) of each run (orders numbered globally)."""
    parts: dict[str, list[np.ndarray]] = {n: [] for n in ORDER_COLUMNS}
    for key, cut in runs:
        f = spool.open_shard(folder, key)
        try:
            order = np.empty(cut, np.int64)
            _read(f, "order", cut, order)
            keep = np.flatnonzero(order >= 0)
            parts["order"].append(f.ranks[order[keep]])
            for n in ORDER_COLUMNS[1:]:
                column = np.empty(cut, _dtype(n))
                _read(f, n, cut, column)
                parts[n].append(column[keep])
        finally:
            f.close()
    return Rows({n: np.concatenate(a) if a else np.zeros(0, _dtype(n)) for n, a in parts.items()})


def _dtype(name: str):
    return np.int64 if name in WIDE_COLUMNS else np.int16


def _read(f: spool.ShardFiles, name: str, rows: int, out: np.ndarray) -> None:
    block, layout = (f.wide, WIDE_COLUMNS) if name in WIDE_COLUMNS else (f.narrow, NARROW_COLUMNS)
    block.read(layout.index(name), 0, rows, out)


def _dictionary(codes: np.ndarray, names, index=pa.int8(), valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~valid
    return pa.DictionaryArray.from_arrays(pa.array(np.where(codes >= 0, codes, 0).astype(int_dtype(index)),
                                                   index, mask=mask), pa.array(list(names), pa.string()))


def _ts(us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return pa.array(us, pa.timestamp("us", tz="UTC"), mask=None if valid is None else ~valid)


def _money(kobo: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Kobo as decimal128(18, 2): two little-endian int64 words per value (the value, then its sign)."""
    kobo = np.ascontiguousarray(kobo, np.int64)
    words = np.empty((kobo.size, 2), np.int64)
    words[:, 0] = kobo
    words[:, 1] = kobo >> 63
    nulls = 0 if valid is None else int(kobo.size - np.count_nonzero(valid))
    validity = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(pa.decimal128(18, 2), kobo.size, [validity, pa.py_buffer(words)], nulls)


class _Groups(NamedTuple):
    """Rows sorted by a key, with where each key's run of rows starts."""

    perm: np.ndarray
    starts: np.ndarray
    keys: np.ndarray

    @classmethod
    def of(cls, *keys: np.ndarray) -> _Groups:
        perm = np.lexsort(keys[::-1]) if len(keys) > 1 else np.argsort(keys[0], kind="stable")
        k = keys[0][perm]
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if k.size else np.zeros(0, np.int64)
        return cls(perm, starts, k[starts])

    def count(self, mask: np.ndarray) -> np.ndarray:
        return np.add.reduceat(mask[self.perm].astype(np.int64), self.starts) if self.starts.size else self.starts

    def reduce(self, ufunc, values: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(values[self.perm], self.starts) if self.starts.size else values[:0]

    def first_where(self, mask: np.ndarray, values: np.ndarray, none: int) -> np.ndarray:
        """Per key, ``values`` at the first row where ``mask`` holds (sorted order), else ``none``."""
        m, v = mask[self.perm], values[self.perm]
        pos = np.where(m, np.arange(m.size), m.size)
        first = np.minimum.reduceat(pos, self.starts) if self.starts.size else pos[:0]
        return np.where(first < m.size, v[np.minimum(first, m.size - 1)], none)


def users_table(rows: Rows, ctx, keys, seed: int, orphan_rate: float, vocab) -> pa.Table:
    """One row per user named (user_id) in these rows, but the orphans the defects leave out."""
    from .generate import user_traits
    from .kernels.ids import hex_ids, permuted
    from .kernels.state import (F_ACTIVITY, F_SENSITIVITY, U_AREA, U_BRAND0, U_CARRIER, U_CHANNEL, U_CITY, U_DEVICES,
                                U_FAV1, U_FAV2, U_METHOD, U_NETWORK, U_PLATFORM0, U_STATE, U_TIER)
    from .model import USER_ID_BASE
    from .sections import AREAS, TIERS

    g = _Groups.of(rows.user)
    named = g.count(rows.signed_in == 1) > 0
    named &= ~orphan_users(seed, g.keys, orphan_rate)
    users = g.keys[named]
    et, ts = rows.event_type, rows.event_ts
    sel = lambda a: a[named]  # noqa: E731
    placed = et == ORDER_PLACED
    signed_up = sel(g.first_where(et == SIGN_UP, ts, -1))
    first_order = sel(g.first_where(placed, ts, -1))
    u, f = user_traits(ctx, users)
    n = users.size
    favs = pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)),
                                    pa.array([vocab.category[c] for pair in u[:, [U_FAV1, U_FAV2]] for c in pair],
                                             pa.string()))
    sens, act = f[:, F_SENSITIVITY], f[:, F_ACTIVITY]
    columns = {
        "user_id": pa.array(permuted(users, keys.user, USER_ID_BASE), pa.int64()),
        "first_seen_ts": _ts(sel(g.reduce(np.minimum, ts))), "signed_up_ts": _ts(signed_up, signed_up >= 0),
        "last_seen_ts": _ts(sel(g.reduce(np.maximum, ts))),
        "state": _dictionary(u[:, U_STATE], vocab.state), "city": _dictionary(u[:, U_CITY], vocab.city, pa.int16()),
        "area": _dictionary(u[:, U_AREA], AREAS), "city_tier": _dictionary(u[:, U_TIER], TIERS),
        "platform": _dictionary(u[:, U_PLATFORM0], vocab.platform),
        "device_brand": _dictionary(u[:, U_BRAND0], vocab.device_brand),
        "first_device_id": _strings(hex_ids(users, np.zeros(n, np.int64), keys.device), n),
        "devices": pa.array(u[:, U_DEVICES].astype(np.int8)),
        "carrier": _dictionary(u[:, U_CARRIER], vocab.carrier),
        "usual_network": _dictionary(u[:, U_NETWORK], vocab.network_type),
        "acquisition_channel": _dictionary(u[:, U_CHANNEL], vocab.traffic_source),
        "preferred_payment_method": _dictionary(u[:, U_METHOD], vocab.payment_method),
        "favourite_categories": favs,
        "price_segment": _dictionary(np.digitize(sens, [1 / 3, 2 / 3]), ("premium", "value", "deal_seeker")),
        "activity_segment": _dictionary(np.digitize(act, [0.7, 1.5]), ("light", "regular", "heavy")),
        "sessions": pa.array(sel(g.count(et == APP_OPEN)).astype(np.int32)),
        "orders": pa.array(sel(g.count(placed)).astype(np.int32)),
        "first_order_ts": _ts(first_order, first_order >= 0),
        "lifetime_value_ngn": _money(sel(g.reduce(np.add, np.where(placed, rows.order_total, 0)))),
    }
    return pa.Table.from_pydict(columns, schema=table_schema("users"))


def _strings(built, n: int) -> pa.Array:
    offsets, data = built
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def orders_table(rows: Rows, keys, vocab) -> pa.Table:
    """One row per order placed in these rows, in the state its events in the log leave it."""
    from .kernels.ids import numbered_ids, permuted
    from .lifecycle import POD, PREPAID, final_state
    from .model import ORDER_ID_PREFIX, ORDER_NUMBER_BASE, USER_ID_BASE

    has = rows.order >= 0
    idx = np.flatnonzero(has)
    order, seq, et = rows.order[idx], rows.event_seq[idx], rows.event_type[idx]
    g = _Groups.of(order, seq)  # each order's events in the order its user wrote them
    placed_at = g.first_where(et == ORDER_PLACED, np.arange(idx.size), -1)
    ok = placed_at >= 0  # an order whose order_placed is past the log's end is not in the log yet
    p = idx[placed_at[ok]]
    numbers = g.keys[ok]
    names = np.array(EVENT_TYPES, dtype=object)[et[g.perm]]
    bounds = np.r_[g.starts, et.size]
    pod_code = list(vocab.payment_method).index(POD) if POD in vocab.payment_method else -1
    pod = rows.payment_method[p] == pod_code
    status, last_ts = [], []
    for i, k in enumerate(np.flatnonzero(ok)):
        a, b = bounds[k], bounds[k + 1]
        status.append(final_state(list(names[a:b]), bool(pod[i])) or "invalid")
        last_ts.append(rows.event_ts[idx[g.perm[b - 1]]])
    ts, event = rows.event_ts[idx], lambda name: et == _EVENT[name]  # noqa: E731
    sub = lambda a: a[ok]  # noqa: E731
    delivered = sub(g.first_where(event("delivered"), ts, -1))
    refunded = sub(g.reduce(np.add, np.where(event("refund_processed"), rows.order_total[idx], 0)))
    partner = sub(g.first_where(rows.logistics_partner[idx] >= 0, rows.logistics_partner[idx], -1))
    states = sorted(set(status))
    n = numbers.size
    offsets, data = numbered_ids(numbers + ORDER_NUMBER_BASE, np.frombuffer(ORDER_ID_PREFIX.encode(), np.uint8), 12)
    columns = {
        "order_id": pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)),
        "user_id": pa.array(permuted(rows.user[p], keys.user, USER_ID_BASE), pa.int64()),
        "placed_ts": _ts(rows.event_ts[p]),
        "status": _dictionary(np.array([states.index(s) for s in status], np.int64), states),
        "status_ts": _ts(np.array(last_ts, np.int64)),
        "payment_variant": _dictionary(pod.astype(np.int64), (PREPAID, POD)),
        "payment_method": _dictionary(rows.payment_method[p].astype(np.int64), vocab.payment_method),
        "payment_provider": _dictionary(rows.payment_provider[p].astype(np.int64), vocab.payment_provider),
        "order_total_ngn": _money(rows.order_total[p]), "discount_ngn": _money(np.maximum(rows.discount[p], 0)),
        "items": _items(rows, idx, g, ok, keys),
        "lines": pa.array(sub(g.count(event("order_item"))).astype(np.int16)),
        "units": pa.array(sub(g.reduce(np.add, np.where(event("order_item"), rows.quantity[idx], 0))).astype(np.int32)),
        "payment_attempts": pa.array(sub(g.count(event("payment_initiated"))).astype(np.int8)),
        "delivery_attempts": pa.array(sub(g.count(event("out_for_delivery"))).astype(np.int8)),
        "logistics_partner": _dictionary(partner, vocab.logistics_partner, valid=partner >= 0),
        "delivered_ts": _ts(delivered, delivered >= 0),
        "refunded_ngn": _money(refunded, refunded > 0),
        "state": _dictionary(rows.state[p].astype(np.int64), vocab.state),
        "city": _dictionary(rows.city[p].astype(np.int64), vocab.city, pa.int16()),
    }
    return pa.Table.from_pydict(columns, schema=table_schema("orders"))


def _items(rows: Rows, idx: np.ndarray, g: _Groups, ok: np.ndarray, keys) -> pa.Array:
    """Each order's order_item rows as a list of (product_id, quantity, unit_price_ngn), in the order written."""
    from .kernels.ids import permuted
    from .model import PRODUCT_ID_BASE

    et = rows.event_type[idx][g.perm]
    item = et == _EVENT["order_item"]
    group = np.repeat(np.arange(g.starts.size), np.diff(np.r_[g.starts, et.size]))
    keep = item & ok[group]
    at = idx[g.perm][keep]
    counts = np.bincount(group[keep], minlength=g.starts.size)[ok]
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
    lines = pa.StructArray.from_arrays(
        [pa.array(permuted(rows.product[at], keys.product, PRODUCT_ID_BASE), pa.int64()),
         pa.array(rows.quantity[at], pa.int16()), _money(rows.unit_price[at])],
        fields=list(table_schema("orders").field("items").type.value_type))
    return pa.ListArray.from_arrays(pa.array(offsets), lines)
