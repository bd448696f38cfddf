"""The content checks of ``validate``: the event contract in SQL, over one run's located events.

Each check reads the declarations rather than restating them: the null rule of every
column (:data:`temu_gen.model.FIELDS`), the enum domains and ranges of the run's own config
(its manifest's copy), the order lifecycle (:data:`temu_gen.lifecycle.TRANSITIONS`, loaded
as a table) and the defect catalog. Invariant, as :mod:`temu_gen.defects.catalog` states
the run's promise: every unlabelled row satisfies the per-row contract; every session,
order, device and user that no label touches satisfies the rules across rows; and every
label describes what is at its (part, row). Every check is SQL over ``events`` with
``_part``/``_row`` (:func:`~temu_gen.tools.views.connect` ``located=True``), returns
:class:`Problem` entries, and never loads the run into Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..defects.catalog import NAMES as DEFECT_NAMES
from ..kernels.codes import EVENT_TYPES
from ..lifecycle import transition_rows
from ..model import (ALL, FIELDS, ORDER_ID_PREFIX, POD_SUCCESS, PRODUCT_ID_BASE, USER_ID_BASE)
from .runref import quote

_AT = "_part * 10000000000 + _row"
"""One sortable number per row (parts hold far fewer than 10^10 rows), so min() picks the first example."""
_EXAMPLE = "arg_min({'part': _part, 'row': _row, 'event_id': event_id, 'event_type': event_type}, " + _AT + ")"
COPY_DEFECTS = ("duplicate", "id_collision")
"""Labels on the extra copies of an event: the one row per event_id without such a label is the original."""


@dataclass
class Problem:
    kind: str
    count: int
    message: str
    example: str = ""

    def doc(self) -> dict:
        return {"kind": self.kind, "count": self.count, "message": self.message, "example": self.example}


class Rule(NamedTuple):
    kind: str
    column: str
    sql: str
    """True on a row that breaks the rule."""


def where(ex: dict | None) -> str:
    """'part 2 row 17 (app_open, event_id ...)' for an example row struct."""
    if not ex:
        return ""
    return f"part {ex['part']} row {ex['row']} ({ex.get('event_type') or 'no event_type'}, event_id {ex['event_id']})"


def _in(names) -> str:
    return "(" + ", ".join(quote(n) for n in sorted(names)) + ")"


_ET = "coalesce(list_position([" + ", ".join(quote(e) for e in EVENT_TYPES) + "], event_type), 0)"
"""Each row's event type as a number (0: null or unknown), computed once per row, so that every column's null rule
is a bit test on a mask instead of IN lists of up to 28 strings (a quarter of the time)."""
_PLACED = EVENT_TYPES.index("order_placed") + 1


def _mask(types) -> str:
    return f"{sum(1 << (EVENT_TYPES.index(t) + 1) for t in types)}::BIGINT"


def _null_sql(f) -> str:
    """The column's null rule as bit tests on ``et``; rows of unknown or null event type answer to other rules."""
    if f.present_on == ALL and not f.sometimes:
        return f"{f.name} IS NULL"
    arms = []
    if f.present_on - f.sometimes:
        arms.append(f"(({_mask(f.present_on - f.sometimes)} >> et) & 1 = 1 AND {f.name} IS NULL)")
    if ALL - f.present_on:
        arms.append(f"(({_mask(ALL - f.present_on)} >> et) & 1 = 1 AND {f.name} IS NOT NULL)")
    if f.sometimes == POD_SUCCESS:  # device and session columns: null exactly when paid on delivery
        arms.append(f"(et = {EVENT_TYPES.index('payment_succeeded') + 1} AND ({f.name} IS NOT NULL) = "
                    f"coalesce(payment_method = 'pay_on_delivery', false))")
    return " OR ".join(arms)


def row_rules(cfg, max_price) -> list[Rule]:
    """Every per-row rule: each column's null rule, then the ranges the contract gives in words."""
    from ..timeline import period_start_us

    start = period_start_us(cfg.period.start, cfg.period.utc_offset_hours)
    quantities = ", ".join(sorted(cfg.funnel.quantity_weights.names, key=int))
    attempts = max(cfg.payments.max_attempts, cfg.fulfilment.max_delivery_attempts)
    rules = [Rule("null_rule", f.name, _null_sql(f)) for f in FIELDS]
    price = f"unit_price_ngn < {cfg.catalog.min_price_ngn}" + (f" OR unit_price_ngn > {max_price}" if max_price else "")
    rules += [Rule("range", c, s) for c, s in (
        ("event_id", "length(event_id) <> 36 OR event_id[15] <> '4'"),
        ("event_ts", f"epoch_us(event_ts) < {start}"),
        ("ingest_ts", "ingest_ts < event_ts"),
        ("user_id", f"user_id NOT BETWEEN {USER_ID_BASE} AND {10 * USER_ID_BASE - 1}"),
        ("device_id", "length(device_id) <> 16"),
        ("session_id", "length(session_id) <> 16"),
        ("product_id", f"product_id < {PRODUCT_ID_BASE}"),
        ("unit_price_ngn", price),
        ("quantity", f"quantity NOT IN ({quantities})"),
        ("order_id", f"NOT starts_with(order_id, {quote(ORDER_ID_PREFIX)}) OR length(order_id) <> "
                     f"{len(ORDER_ID_PREFIX) + 12}"),
        ("order_total_ngn", "order_total_ngn <= 0"),
        ("discount_ngn", "discount_ngn < 0"),
        ("attempt_number", f"attempt_number NOT BETWEEN 1 AND {attempts}"),
    )]
    if cfg.run.context:  # the optional column: never null, and always a JSON object
        rules += [Rule("null_rule", "context", "context IS NULL"),
                  Rule("range", "context", "NOT (json_valid(context) AND starts_with(context, '{'))")]
    return rules


class Checker:
    """The checks over one connection; :meth:`prepare` first builds the small tables they share."""

    def __init__(self, con, cfg, vocab, late_days_min: float | None):
        self.con, self.cfg, self.vocab, self.late_days_min = con, cfg, vocab, late_days_min
        self.rules: list[Rule] = []

    def q(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def prepare(self) -> None:
        """Labels, and one pass over every row keeping only those that break a rule or carry a label (small)."""
        self.q("CREATE TEMP TABLE _labels AS SELECT part AS _part, row AS _row, CAST(defect AS VARCHAR) AS defect, "
               "event_id AS label_event_id FROM defects")
        self.q("CREATE TEMP TABLE _lrows AS SELECT DISTINCT _part, _row FROM _labels")
        max_price = self.q("SELECT max(price_ngn) FROM products")[0][0] if self.cfg else None
        self.rules = row_rules(self.cfg, max_price) if self.cfg else [
            Rule("null_rule", f.name, _null_sql(f)) for f in FIELDS]
        bits = [f"(coalesce(({r.sql}), false)::BIGINT << {i % 60})" for i, r in enumerate(self.rules)]
        groups = [" | ".join(bits[k:k + 60]) for k in range(0, len(bits), 60)]
        masks = ", ".join(f"{g} AS bad{k}" for k, g in enumerate(groups))
        anybad = " OR ".join(f"bad{k} <> 0" for k in range(len(groups)))
        self.q(f"""CREATE TEMP TABLE _rows AS SELECT e.*, (l._part IS NOT NULL) AS labelled FROM (
                     SELECT _part, _row, event_id, event_type, event_ts, ingest_ts, user_id, device_id, session_id,
                            order_id, {masks} FROM (SELECT *, {_ET} AS et FROM events)) e
                   LEFT JOIN _lrows l USING (_part, _row) WHERE l._part IS NOT NULL OR {anybad}""")
        self.q("CREATE TEMP TABLE _broken (_part INTEGER, _row BIGINT, why VARCHAR)")
        self.q("CREATE TEMP TABLE _transitions (variant VARCHAR, from_state VARCHAR, event VARCHAR, to_state VARCHAR)")
        self.con.executemany("INSERT INTO _transitions VALUES (?, ?, ?, ?)", transition_rows())

    def rows(self) -> list[Problem]:
        """Per-row rules on unlabelled rows: null rules and ranges, counted per kind with the columns that break."""
        found: dict[str, list] = {}
        for k in range(0, len(self.rules), 60):
            n = min(60, len(self.rules) - k)
            self.q(f"INSERT INTO _broken SELECT _part, _row, 'rule' FROM _rows WHERE bad{k // 60} <> 0")
            res = self.q(f"""SELECT i, count(*), {_EXAMPLE} FROM _rows, range({n}) t(i)
                             WHERE NOT labelled AND (bad{k // 60} >> i) & 1 = 1 GROUP BY i ORDER BY i""")
            for i, count, ex in res:
                rule = self.rules[k + i]
                found.setdefault(rule.kind, []).append((rule.column, count, ex))
        out = []
        for kind, hits in found.items():
            total = sum(c for _, c, _ in hits)
            cols = ", ".join(f"{col} {c:,}" for col, c, _ in sorted(hits, key=lambda h: -h[1])[:6])
            what = "break the null rule of" if kind == "null_rule" else "are out of range in"
            example = f"{where(hits[0][2])} [{hits[0][0]}]"
            out.append(Problem(kind, total, f"unlabelled rows {what}: {cols}", example))
        return out

    def enums(self) -> list[Problem]:
        """Enum columns hold only their vocabulary: their distinct values in one GROUPING SETS pass, then the few
        rows with an unknown value (a long IN list per row is slower than the whole scan)."""
        if not self.vocab:
            return []
        cols = [f for f in FIELDS if f.vocab]
        names = ", ".join(f.name for f in cols)
        seen = self.q(f"SELECT {names} FROM events GROUP BY GROUPING SETS ({', '.join(f'({f.name})' for f in cols)})")
        out = []
        for i, f in enumerate(cols):
            allowed = set(getattr(self.vocab, f.vocab))
            bad = sorted({r[i] for r in seen if r[i] is not None and r[i] not in allowed})
            if not bad:
                continue
            self.q(f"INSERT INTO _broken SELECT _part, _row, {quote(f.name)} FROM events WHERE {f.name} IN {_in(bad)}")
            hits = self.q(f"""SELECT {f.name}, count(*), {_EXAMPLE} FROM events e ANTI JOIN _lrows l
                              USING (_part, _row) WHERE {f.name} IN {_in(bad)} GROUP BY 1 ORDER BY 2 DESC""")
            if hits:
                shown = ", ".join(f"{v!r} {n:,}" for v, n, _ in hits[:3])
                out.append(Problem("enum", sum(h[1] for h in hits), f"unlabelled rows have {f.name} values outside "
                                   f"the config's: {shown}", where(hits[0][2])))
        return out

    def duplicates(self) -> list[Problem]:
        """Each event_id has exactly one row without a duplicate/id_collision label (its original)."""
        self.q("CREATE TEMP TABLE _dups AS SELECT event_id, count(*) AS n FROM events WHERE event_id IS NOT NULL "
               "GROUP BY event_id HAVING count(*) > 1")
        n, rows, ex = self.q(f"""SELECT count(*), sum(d.n - 1 - coalesce(c.copies, 0)), min(d.event_id)
            FROM _dups d LEFT JOIN (SELECT label_event_id AS event_id, count(DISTINCT (_part, _row)) AS copies
                                    FROM _labels WHERE defect IN {_in(COPY_DEFECTS)} GROUP BY 1) c USING (event_id)
            WHERE d.n - 1 > coalesce(c.copies, 0)""")[0]
        if not n:
            return []
        return [Problem("duplicate_event_id", n, f"event_ids occur more than once without a duplicate or id_collision "
                                                 f"label ({rows:,} unlabelled extra rows)", f"event_id {ex}")]

    def arrival(self, windows: dict[int, tuple]) -> list[Problem]:
        """Each file is in ingest_ts order, spans the window the manifest gives it, and starts where the last ended."""
        out = []
        back = self.q("""SELECT _part, count(*) FILTER (WHERE ingest_ts < prev),
                                min(_row) FILTER (WHERE ingest_ts < prev)
                         FROM (SELECT _part, _row, ingest_ts, lag(ingest_ts) OVER (PARTITION BY _part ORDER BY _row)
                               AS prev FROM events) GROUP BY _part HAVING count(*) FILTER (WHERE ingest_ts < prev) > 0
                         ORDER BY _part""")
        if back:
            out.append(Problem("arrival_order", sum(b[1] for b in back), "rows arrive before the row above them "
                               f"(ingest_ts goes back) in parts {', '.join(str(b[0]) for b in back[:5])}",
                               f"part {back[0][0]} row {back[0][2]}"))
        spans = self.q("SELECT _part, min(ingest_ts), max(ingest_ts) FROM events GROUP BY _part ORDER BY _part")
        wrong = [p for p, lo, hi in spans if p in windows and (lo.isoformat(), hi.isoformat()) != windows[p]]
        if wrong:
            out.append(Problem("file_window", len(wrong), "files whose first or last ingest_ts is not the one the "
                               "manifest gives", f"part {wrong[0]}"))
        overlap = [b[0] for a, b in zip(spans, spans[1:]) if b[1] < a[2]]
        if overlap:
            out.append(Problem("file_window", len(overlap), "files start before the previous file ends",
                               f"part {overlap[0]}"))
        return out

    _REFERENCES = (
        ("orphan_user", "user_id", "user_id NOT IN (SELECT user_id FROM users WHERE user_id IS NOT NULL)",
         "name a user_id not in users"),
        ("orphan_order", "order_id", f"order_id NOT IN (SELECT order_id FROM events WHERE {_ET} IN (0, {_PLACED}) "
                                     f"AND order_id IS NOT NULL)",
         "belong to an order whose order_placed is not in the log"),
        (None, "order_id", "order_id NOT IN (SELECT order_id FROM orders WHERE order_id IS NOT NULL)",
         "name an order_id not in orders"),
    )
    """(the label that excuses it, column, the broken reference, in words). An orphan order is one whose placement
    never reached the log; the orders table, like the shop's own database, still knows it. A row of null or unknown
    event_type (a contract violation) may be the placement, broken: it does not make its order an orphan. A label
    is read the strict way (:meth:`labels`): only an order_placed row places a labelled orphan's order."""

    def references(self) -> list[Problem]:
        """Events name users in users and orders placed in the log (and in orders), unless labelled orphans."""
        out = []
        for label, col, broken, words in self._REFERENCES:
            table = f"_{label or 'unknown_order'}"
            self.q(f"CREATE TEMP TABLE {table} AS SELECT _part, _row FROM events WHERE {col} IS NOT NULL AND {broken}")
            n, ex = self.q(f"""SELECT count(*), min({_AT}) FROM {table} o
                               WHERE NOT EXISTS (SELECT 1 FROM _labels l WHERE l._part = o._part AND l._row = o._row
                                                 AND l.defect = {quote(label or 'orphan_order')})""")[0]
            if n:
                excuse = f" and are not labelled {label}" if label else ""
                out.append(Problem("reference", n, f"rows {words}{excuse}", f"part {ex // 10**10} row {ex % 10**10}"))
        return out

    def orders(self) -> list[Problem]:
        """Orders no label touches follow the declared lifecycle; no order is placed twice."""
        self.q("""CREATE TEMP TABLE _oe AS SELECT order_id, event_type, payment_method,
                      row_number() OVER (PARTITION BY order_id ORDER BY event_ts, _part, _row) AS i
                  FROM events e WHERE order_id IS NOT NULL AND order_id NOT IN
                      (SELECT order_id FROM _rows WHERE labelled AND order_id IS NOT NULL)""")
        self.q("""CREATE TEMP TABLE _ov AS SELECT order_id, count(*) AS n, CASE WHEN arg_min(payment_method, i)
                      FILTER (WHERE payment_method IS NOT NULL) = 'pay_on_delivery' THEN 'pay_on_delivery'
                      ELSE 'prepaid' END AS variant FROM _oe GROUP BY order_id""")
        bad = self.q("""WITH RECURSIVE walk(order_id, variant, i, state) AS (
                SELECT order_id, variant, 0, 'new' FROM _ov
                UNION ALL
                SELECT w.order_id, w.variant, w.i + 1, t.to_state FROM walk w
                JOIN _oe o ON o.order_id = w.order_id AND o.i = w.i + 1
                JOIN _transitions t ON t.variant = w.variant AND t.from_state = w.state AND t.event = o.event_type)
            SELECT v.order_id, max(w.i) AS reached, arg_max(w.state, w.i) AS state, v.n FROM _ov v
            JOIN walk w USING (order_id) GROUP BY v.order_id, v.n HAVING max(w.i) < v.n ORDER BY v.order_id""")
        out = []
        if bad:
            oid, reached, state, _ = bad[0]
            nxt = self.q(f"SELECT event_type FROM _oe WHERE order_id = {quote(oid)} AND i = {reached + 1}")[0][0]
            why = f"starts with {nxt}" if state == "new" else f"{nxt} is not allowed after {state}"
            out.append(Problem("lifecycle", len(bad), "orders no label touches leave the declared lifecycle",
                               f"order {oid}: {why}"))
        twice = self.q("""SELECT count(*), min(order_id) FROM (SELECT order_id FROM events e ANTI JOIN _lrows
                          USING (_part, _row) WHERE event_type = 'order_placed' GROUP BY order_id
                          HAVING count(*) > 1)""")[0]
        if twice[0]:
            out.append(Problem("lifecycle", twice[0], "orders are placed more than once (unlabelled order_placed rows)",
                               f"order {twice[1]}"))
        return out

    # Attributes that must not change are compared as one 64-bit hash per row: min/max over four strings per row
    # costs three times as much, and a collision could only hide a change (odds 2^-64 per pair).
    _SESSION_KEEPS = "hash(device_id, platform, network_type, traffic_source)"

    def sessions(self) -> list[Problem]:
        """Sessions no label touches open with one app_open, first in time, and keep their device and context."""
        n, ex = self.q(f"""SELECT count(*), min(session_id) FROM (
                SELECT session_id FROM events WHERE session_id IS NOT NULL GROUP BY session_id
                HAVING count(*) FILTER (WHERE event_type = 'app_open') <> 1
                    OR min(event_ts) FILTER (WHERE event_type = 'app_open') IS DISTINCT FROM min(event_ts)
                    OR min({self._SESSION_KEEPS}) <> max({self._SESSION_KEEPS})) s
            WHERE session_id NOT IN (SELECT session_id FROM _rows WHERE labelled AND session_id IS NOT NULL)""")[0]
        return [Problem("session", n, "sessions no label touches do not start with exactly one app_open, or change "
                        "device, platform, network or traffic source", f"session {ex}")] if n else []

    def identity(self) -> list[Problem]:
        """A device belongs to one user and keeps its platform, brand and carrier; a user keeps their home."""
        out = []
        for key, rule in (("device_id", "min(user_id) <> max(user_id) OR min(hash(platform, device_brand, carrier)) "
                                        "<> max(hash(platform, device_brand, carrier))"),
                          ("user_id", "min(hash(state, city)) <> max(hash(state, city))")):
            n, ex = self.q(f"""SELECT count(*), min({key}) FROM (SELECT {key} FROM events WHERE {key} IS NOT NULL
                               GROUP BY {key} HAVING {rule}) s
                               WHERE {key} NOT IN (SELECT {key} FROM _rows WHERE labelled AND {key} IS NOT NULL)""")[0]
            if n:
                what = "devices used by two users or changing platform, brand or carrier" if key == "device_id" else \
                    "users whose state or city changes"
                out.append(Problem("identity", n, f"{what} (untouched by labels)", f"{key} {ex}"))
        return out

    def labels(self, parts: list[int], recorded: dict | None) -> list[Problem]:
        """Each label names a row of the run with its event_id, and that row shows the labelled defect."""
        if not self.q("SELECT count(*) FROM _labels")[0][0] and not any((recorded or {}).values()):
            return []
        out = []
        scope = f"l._part IN ({', '.join(map(str, parts)) or 'NULL'})"  # labels into unreadable parts: reported there
        n, ex = self.q(f"""SELECT count(*), min(l._part * 10000000000 + l._row) FROM _labels l
                           LEFT JOIN _rows r USING (_part, _row)
                           WHERE {scope} AND r.event_id IS DISTINCT FROM l.label_event_id""")[0]
        if n:
            out.append(Problem("label_position", n, "labels name a (part, row) that does not exist or holds another "
                               "event_id", f"part {ex // 10**10} row {ex % 10**10}"))
        late = f"epoch_us(r.ingest_ts) - epoch_us(r.event_ts) >= {int((self.late_days_min or 0) * 86_400e6)}"
        shows = {"duplicate": "l.label_event_id IN (SELECT event_id FROM _dups)",
                 "id_collision": "l.label_event_id IN (SELECT event_id FROM _dups)",
                 "late": late, "clock_skew": "r.event_ts > r.ingest_ts OR epoch_us(r.event_ts) = 0",
                 "contract_violation": "EXISTS (SELECT 1 FROM _broken b WHERE b._part = l._part AND b._row = l._row)",
                 "orphan_user": "EXISTS (SELECT 1 FROM _orphan_user b WHERE b._part = l._part AND b._row = l._row)",
                 # the strict reading: a broken row of unknown type (_REFERENCES) is no placement for a labelled orphan
                 "orphan_order": "r.order_id NOT IN (SELECT order_id FROM events WHERE event_type = 'order_placed' "
                                 "AND order_id IS NOT NULL)"}
        arms = " ".join(f"WHEN {quote(d)} THEN coalesce({s}, false)" for d, s in shows.items())
        wrong = self.q(f"""SELECT l.defect, count(*), min(l._part * 10000000000 + l._row) FROM _labels l
                           JOIN _rows r USING (_part, _row)
                           WHERE {scope} AND r.event_id = l.label_event_id AND NOT (CASE l.defect {arms} ELSE false END)
                           GROUP BY l.defect ORDER BY 2 DESC""")
        for defect, count, at in wrong:
            known = "" if defect in DEFECT_NAMES else " (not a defect type of the catalog)"
            out.append(Problem("label_mismatch", count, f"rows labelled {defect} do not show it{known}",
                               f"part {at // 10**10} row {at % 10**10}"))
        counts = dict(self.q("SELECT defect, count(*) FROM _labels GROUP BY 1"))
        diff = {d: (counts.get(d, 0), n) for d, n in (recorded or {}).items() if counts.get(d, 0) != n}
        if diff:
            d, (have, want) = next(iter(diff.items()))
            out.append(Problem("label_counts", len(diff), "defect types whose label count differs from the manifest",
                               f"{d}: {have:,} labels, manifest says {want:,}"))
        return out
