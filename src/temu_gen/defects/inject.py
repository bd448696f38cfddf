"""Apply the defects to one part: its clean merged rows in, the rows its file holds and their labels out.

Invariant: :func:`inject` is a pure function of the part's clean rows, the run's cut plan,
the spool and (seed, config): it keeps every clean row except the ones it moves (late) or
drops (an orphan order's order_placed), alters rows in place (clock skew, contract
violations), and adds copies (duplicates, id collisions) and the late rows that arrive in
this part, each at the place its arrival time gives it, so the file stays in ingest_ts
order. Every row it adds or alters, and every orphan, gets a label naming its final row.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..kernels.codes import (N_CATEGORY, N_EVENT_TYPE, N_PAYMENT_METHOD, N_PLATFORM, N_QUANTITY, N_SIGNED_IN,
                             N_STATE, ORDER_PLACED, W_EVENT_TS, W_INGEST_TS, W_ORDER, W_UNIT_PRICE, W_USER)
from ..merge import CutPlan, gather_rows
from .section import Defects
from .catalog import NAMES, UNKNOWN_VALUES
from .select import (CLOCK_SKEW, CONTRACT, DUPLICATE, ID_COLLISION, LATE, US_PER_DAY, US_PER_S, Draw, contract_kind,
                     draw_part, late_destinations, orphan_orders, orphan_users, senders_of)

ABSURD_PRICE_KOBO = 10**13
"""₦100 billion for one item: a price no product has."""
_CODE = {n: i for i, n in enumerate(NAMES)}


class Labels(NamedTuple):
    """One entry per label: the row it names in the part's file, its defect (index into NAMES) and a detail."""

    rows: np.ndarray
    defects: np.ndarray
    details: list[str]


class PartInput(NamedTuple):
    """What :func:`inject` needs besides the part's rows."""

    seed: int
    index: int
    plan: CutPlan
    folder: Path
    defects: Defects
    unknown_codes: dict[str, int]
    """Column -> the code of its out-of-contract value (UNKNOWN_VALUES, appended to the run's dictionaries)."""


class _Rows:
    """The part's rows being assembled: the clean block, blocks of added rows, and labels by row number."""

    def __init__(self, wide: np.ndarray, narrow: np.ndarray):
        self.wide, self.narrow = [wide], [narrow]
        self.size = wide.shape[1]
        self.dropped: list[np.ndarray] = []
        self.label_rows: list[np.ndarray] = []
        self.label_defects: list[np.ndarray] = []
        self.details: list[str] = []

    def add(self, wide: np.ndarray, narrow: np.ndarray) -> np.ndarray:
        """Append rows; returns their row numbers in the combined block."""
        at = self.size
        self.wide.append(wide)
        self.narrow.append(narrow)
        self.size += wide.shape[1]
        return np.arange(at, self.size)

    def drop(self, rows: np.ndarray) -> None:
        """Rows that leave this part's file (moved later, or never sent)."""
        self.dropped.append(np.asarray(rows, np.int64))

    def combined(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row so far (clean, then added) and whether it stays."""
        keep = np.ones(self.size, bool)
        for d in self.dropped:
            keep[d] = False
        return np.concatenate(self.wide, axis=1), np.concatenate(self.narrow, axis=1), keep

    def label(self, rows: np.ndarray, defect: str, details: list[str]) -> None:
        self.label_rows.append(np.asarray(rows, np.int64))
        self.label_defects.append(np.full(len(rows), _CODE[defect], np.int8))
        self.details += details

    def finish(self) -> tuple[np.ndarray, np.ndarray, Labels]:
        wide, narrow, keep = self.combined()
        src = np.flatnonzero(keep)
        src = src[np.argsort(wide[W_INGEST_TS, src], kind="stable")]  # added rows go after equal arrivals
        where = np.full(self.size, -1, np.int64)
        where[src] = np.arange(src.size)
        rows = where[np.concatenate(self.label_rows)] if self.label_rows else np.zeros(0, np.int64)
        defects = np.concatenate(self.label_defects) if self.label_defects else np.zeros(0, np.int8)
        here = rows >= 0  # a label on a row that then left (an orphan's order_placed) goes with it
        labels = Labels(rows[here], defects[here], [t for t, h in zip(self.details, here) if h])
        return np.take(wide, src, axis=1), np.take(narrow, src, axis=1), labels


def _ts(us: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(us))).strftime("%Y-%m-%dT%H:%M:%SZ")


def inject(wide: np.ndarray, narrow: np.ndarray, order: np.ndarray, p: PartInput) -> tuple[np.ndarray, np.ndarray,
                                                                                              Labels]:
    """The part's file rows and labels, from its clean merged rows (``order``: the merge's permutation)."""
    d, last_part = p.defects, p.index == p.plan.cuts.shape[0] - 2
    draw = draw_part(p.seed, p.index, wide.shape[1], d)
    merged = np.empty(order.size, np.int64)
    merged[order] = np.arange(order.size)
    at = merged[draw.pos]
    rows = _Rows(wide, narrow)
    first, last = int(wide[W_INGEST_TS, 0]), int(wide[W_INGEST_TS, -1])
    _copies(rows, draw, at, DUPLICATE, ~draw.later | last_part, last)
    _copies(rows, draw, at, ID_COLLISION, np.ones(draw.pos.size, bool), last)
    rows.drop(at[draw.kind == LATE])  # they arrive later, maybe in a later part
    _skew(rows, draw, at)
    _contract(rows, draw, at, p.unknown_codes)
    if p.index > 0:
        _duplicates_from_previous(rows, p, first, last)
    _late_arrivals(rows, p)
    _orphans(rows, p)
    return rows.finish()


def _copies(rows: _Rows, draw: Draw, at: np.ndarray, kind: int, here: np.ndarray, last: int) -> None:
    pick = (draw.kind == kind) & here
    src = at[pick]
    w, n = rows.wide[0][:, src].copy(), rows.narrow[0][:, src].copy()
    sent = w[W_INGEST_TS].copy()
    w[W_INGEST_TS] = np.minimum(sent + draw.delay_us[pick], last)
    if kind == ID_COLLISION:
        shift = (draw.variant[pick] % 120 + 1) * US_PER_S
        w[W_EVENT_TS] += shift
        details = [f"same event_id as the row received at {_ts(t)}; event_ts {s // US_PER_S:+d} s"
                   for t, s in zip(sent, shift)]
        rows.label(rows.add(w, n), "id_collision", details)
    else:
        rows.label(rows.add(w, n), "duplicate", [f"copy of the row received at {_ts(t)}" for t in sent])


def _skew(rows: _Rows, draw: Draw, at: np.ndarray) -> None:
    pick = draw.kind == CLOCK_SKEW
    src, variant = at[pick], draw.variant[pick]
    w = rows.wide[0]
    future = variant % 2 == 0
    true_ts = w[W_EVENT_TS, src].copy()
    ahead = (variant // 2 % 365 + 1) * US_PER_DAY
    w[W_EVENT_TS, src] = np.where(future, w[W_INGEST_TS, src] + ahead, 0)
    details = [f"event_ts {'in the future (+' + str(a // US_PER_DAY) + ' d)' if f else 'at the Unix epoch'}; "
               f"the event happened at {_ts(t)}" for f, a, t in zip(future, ahead, true_ts)]
    rows.label(src, "clock_skew", details)


def _contract(rows: _Rows, draw: Draw, at: np.ndarray, unknown: dict[str, int]) -> None:
    pick = draw.kind == CONTRACT
    w, n = rows.wide[0], rows.narrow[0]
    details = []
    for r, v in zip(at[pick], draw.variant[pick]):
        v = int(v)
        kind = contract_kind(v, {"quantity": n[N_QUANTITY, r] >= 0, "unit_price": w[W_UNIT_PRICE, r] >= 0})
        if kind == "negative_quantity":
            n[N_QUANTITY, r] = -(n[N_QUANTITY, r] + 1)  # -1 is the kernels' null: a negative is at most -2
            details.append(f"quantity {n[N_QUANTITY, r]}")
        elif kind in ("zero_price", "absurd_price"):
            w[W_UNIT_PRICE, r] = 0 if kind == "zero_price" else ABSURD_PRICE_KOBO
            details.append(f"unit_price_ngn {w[W_UNIT_PRICE, r] / 100:.2f}")
        elif kind == "unknown_enum":
            column = _unknown_column(n, r, v)
            n[_NARROW_OF[column], r] = unknown[column]
            details.append(f"{column} {UNKNOWN_VALUES[column]!r}")
        else:
            column = ("event_type", "state", "category")[v // 8 % 3]
            if column == "category" and n[N_CATEGORY, r] < 0:
                column = "state"
            n[_NARROW_OF[column], r] = -1
            details.append(f"{column} is null")
    rows.label(at[pick], "contract_violation", details)


_NARROW_OF = {"event_type": N_EVENT_TYPE, "state": N_STATE, "category": N_CATEGORY, "platform": N_PLATFORM,
              "payment_method": N_PAYMENT_METHOD}


def _unknown_column(n: np.ndarray, r: int, variant: int) -> str:
    usable = [c for c in UNKNOWN_VALUES if c == "event_type" or n[_NARROW_OF[c], r] >= 0]
    return usable[variant // 8 % len(usable)]


def _duplicates_from_previous(rows: _Rows, p: PartInput, first: int, last: int) -> None:
    """The previous part's duplicates that arrive in this file."""
    prev = p.index - 1
    draw = draw_part(p.seed, prev, int(p.plan.cuts[prev + 1].sum() - p.plan.cuts[prev].sum()), p.defects)
    pick = (draw.kind == DUPLICATE) & draw.later
    if not pick.any():
        return
    w, n = gather_rows(p.folder, p.plan.source_rows(prev, draw.pos[pick]))
    sent = w[W_INGEST_TS].copy()
    w[W_INGEST_TS] = np.clip(sent + draw.delay_us[pick], first, last)
    rows.label(rows.add(w, n), "duplicate", [f"copy of a row of part {prev} received at {_ts(t)}" for t in sent])


def _late_arrivals(rows: _Rows, p: PartInput) -> None:
    """Late rows of this and earlier parts whose arrival time falls in this part."""
    d, plan = p.defects, p.plan
    if d.late <= 0:
        return
    for j in senders_of(p.index, plan.bounds, int(d.late_days[1] * US_PER_DAY) + 1):
        draw = draw_part(p.seed, j, int(plan.cuts[j + 1].sum() - plan.cuts[j].sum()), d)
        pick = draw.kind == LATE
        if not pick.any():
            continue
        # positions ascend and slices are in source order, so the gathered rows come back in draw order
        w, n = gather_rows(p.folder, plan.source_rows(j, draw.pos[pick]))
        delay = draw.delay_us[pick]
        dest = late_destinations(w[W_INGEST_TS], delay, plan.bounds, j)
        mine = dest == p.index
        if not mine.any():
            continue
        w, n = w[:, mine], n[:, mine]
        due = w[W_INGEST_TS].copy()
        w[W_INGEST_TS] = due + delay[mine]
        details = [f"due at {_ts(t)} (part {j}); arrived {(a - e) / US_PER_DAY:.1f} days after event_ts"
                   for t, a, e in zip(due, w[W_INGEST_TS], w[W_EVENT_TS])]
        rows.label(rows.add(w, n), "late", details)


def _orphans(rows: _Rows, p: PartInput) -> None:
    """Drop an orphan order's order_placed; label every other row of it, and every row naming an orphan user."""
    d = p.defects
    wide, narrow, keep = rows.combined()
    if d.orphan_order > 0:
        orphan = orphan_orders(p.seed, wide[W_ORDER], d.orphan_order)
        placed = orphan & (narrow[N_EVENT_TYPE] == ORDER_PLACED)
        rows.drop(np.flatnonzero(placed))
        keep &= ~placed
        hit = np.flatnonzero(orphan & keep)
        rows.label(hit, "orphan_order", ["its order_placed is not in the log"] * hit.size)
    if d.orphan_user > 0:
        named = narrow[N_SIGNED_IN] == 1
        hit = np.flatnonzero(orphan_users(p.seed, wide[W_USER], d.orphan_user) & named & keep)
        rows.label(hit, "orphan_user", ["user_id is not in the users table"] * hit.size)

