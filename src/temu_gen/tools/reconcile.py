"""``temu-gen reconcile RUN --against PATH``: compare a pipeline's output with the run it read, event by event.

The run's distinct events (by ``event_id``) are the truth. The output is a Parquet folder
(read as a dataset reader reads it: :func:`output_files`), file or glob, or a DuckDB table
(``file.duckdb:table``). Four kinds of difference:
*missing* (an event of the run absent from the output), *duplicated* (an event_id on more
than one output row), *altered* (an output row that no row of the run with its event_id
matches on the compared columns) and *unexpected* (an event_id the run does not have).

Invariant: a difference is *expected* exactly when a defect label on that event explains
it by the catalog's guidance (:data:`temu_gen.defects.catalog.DEFECTS`): labelled extra
copies (duplicate, id_collision) are what a correct pipeline drops, so dropping them is
no difference at all, and keeping another copy's values is no alteration; late,
skewed, broken and orphan events may be set aside, so their absence is expected (in a run
with late labels, so is that of any event that first arrived as late as they: ``arrived_late``);
skewed, broken and orphan-user events may be repaired, each label's columns, so their
alteration is expected. Nothing explains a duplicated or invented event. Exit 0 when nothing is unexpected, else 1.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import time

from ..cli import _Parser
from ..defects.catalog import DEFECTS, SCHEMA_V2
from ..errors import TemuGenError
from ..model import FIELD_NAMES, OPTIONAL_FIELDS
from .runref import add_run_arguments, hidden_name, open_run, quote, require_duckdb
from .views import connect

MAY_DROP = tuple(d.name for d in DEFECTS if d.effect in ("moved", "altered", "orphan"))
"""Events a careful pipeline may set aside: routed to a late path, quarantined, dead-lettered or held."""
ARRIVED_LATE = "arrived_late"
"""An event with no label that lets it be set aside, first arriving at least late_days[0] after its event_ts in a
run that injects late events: past a late label's watermark, so a pipeline may route it to its late path too."""
MAY_ALTER = tuple(d.name for d in DEFECTS if d.effect == "altered") + ("orphan_user",)
"""Events a careful pipeline may repair: trust ingest_ts, fix a field, or give an unknown-member key (REPAIRS)."""
DEFAULT_COLUMNS = tuple(c for c in FIELD_NAMES if c not in ("event_id", "ingest_ts"))
"""Compared by default: the payload. ingest_ts is the one field a re-sent copy changes, so it is left out, and so is
the optional context (a pipeline often flattens it): ``--columns`` may name it."""
CATEGORIES = ("missing", "duplicated", "altered", "unexpected")
_DUCKDB_TABLE = re.compile(r"(?P<file>.+\.(?:duckdb|ddb|db)):(?P<table>[A-Za-z_][A-Za-z0-9_.]*)")


def _attach_output(con, against: str) -> str:
    """Create view ``pipeline`` over the output; returns how to name it in the report."""
    m = _DUCKDB_TABLE.fullmatch(against)
    if m:
        if not os.path.isfile(m.group("file")):
            raise TemuGenError(f"--against {against}: no such DuckDB file {m.group('file')}")
        try:
            con.execute(f"ATTACH {quote(m.group('file'))} AS pipe (READ_ONLY)")
            con.execute(f"CREATE VIEW pipeline AS SELECT * FROM pipe.{m.group('table')}")
        except Exception as e:  # noqa: BLE001 - duckdb.Error; one line for the user
            raise TemuGenError(f"--against {against}: {str(e).splitlines()[0]}") from None
        return against
    files, whole = output_files(against)
    if not files:
        raise TemuGenError(f"--against {against}: no Parquet files there" if os.path.exists(against) or
                           glob.has_magic(against) else f"--against {against}: no such file or folder")
    # a folder none of whose names is hidden is its own '**' (one short pattern instead of a list of every file)
    sources = quote(f"{literal(against.rstrip('/'))}/**") if whole and len(files) > 1 else \
        "[" + ", ".join(quote(literal(f)) for f in files) + "]"
    try:
        con.execute(f"CREATE VIEW pipeline AS SELECT * FROM read_parquet({sources}, union_by_name = true)")
    except Exception as e:  # noqa: BLE001
        why = str(e).splitlines()[0]
        hint = (" (the folder holds files that are not Parquet: give a glob such as DIR/**/*.parquet)"
                if whole is not None and ("parquet" in why.lower() or "magic bytes" in why) else "")
        raise TemuGenError(f"--against {against}: {why}{hint}") from None
    return against


def literal(path: str) -> str:
    """``path`` as a DuckDB file pattern that matches exactly that file: a name's glob characters are escaped."""
    return re.sub(r"([*?\[])", r"[\1]", path)


def output_files(against: str) -> tuple[list[str], bool | None]:
    """The files a dataset reader reads for ``against``, and whether they are all of a folder's files: a folder's
    files at any depth (whatever their extension, as Hive's ``000000_0``) but hidden ones (:func:`hidden_name`),
    a file, or a glob's files (None: not a folder)."""
    if os.path.isdir(against):
        found, whole = [], True
        for top, dirs, names in os.walk(against):
            kept = sorted(d for d in dirs if not hidden_name(d))
            shown = sorted(n for n in names if not hidden_name(n))
            whole = whole and len(kept) == len(dirs) and len(shown) == len(names)
            dirs[:] = kept
            found += [os.path.join(top, n) for n in shown]
        return found, whole
    if os.path.isfile(against):
        return [against], None
    return sorted(f for f in glob.glob(against, recursive=True) if os.path.isfile(f)), None


def _columns(con, wanted: tuple[str, ...]) -> tuple[dict[str, tuple[tuple[str, ...], str]], list[str]]:
    """{run column: (its output columns, the run's type)} for the wanted columns the output has, and those it lacks."""
    # SQL names are case-insensitive, so are DuckDB's: a pipeline's EVENT_ID is event_id
    have = {r[0].lower() for r in con.execute("DESCRIBE SELECT * FROM pipeline").fetchall()}
    if "event_id" not in have:
        raise TemuGenError("the pipeline output has no event_id column, so its rows cannot be matched to the run")
    types = {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM events").fetchall()}
    renamed = {old: new for op, old, new in SCHEMA_V2 if op == "rename"}  # a pipeline may have adopted version 2
    out, absent = {}, []
    for c in wanted:
        # under either name; both when the output unites files of both versions by name (one is null on each row)
        sources = [n for n in (c, renamed.get(c)) if n in have]
        if not sources or c not in types:  # not in the output, or a column this run did not write
            absent.append(c)
        else:
            out[c] = (tuple(sources), types[c])
    return out, absent


def _source(names: tuple[str, ...], alias: str) -> str:
    """The output's value of a column held under one name or two (the first not null)."""
    quoted = [f'{alias}"{n}"' for n in names]
    return quoted[0] if len(quoted) == 1 else f"coalesce({', '.join(quoted)})"


def _read(cols: dict[str, tuple[tuple[str, ...], str]], alias: str = "") -> list[str]:
    """The output's values as the run's types (a value that does not convert reads as NULL: see :func:`_unread`)."""
    return [f"TRY_CAST({_source(src, alias)} AS {typ})" for src, typ in cols.values()]


def _unread(cols: dict[str, tuple[tuple[str, ...], str]], alias: str = "") -> list[str]:
    """Per column, whether the output's value is there but does not convert to the run's type (so it differs)."""
    return [f"({_source(src, alias)} IS NOT NULL AND {read} IS NULL)" for (src, _), read in zip(cols.values(),
                                                                                               _read(cols, alias))]


def _label_sets(con) -> None:
    con.execute("CREATE TEMP TABLE _ev AS SELECT event_id, list(DISTINCT CAST(defect AS VARCHAR)) AS defects "
                "FROM defects GROUP BY event_id")


EXAMPLES = 5
_COPIES = "[" + ", ".join(quote(d.name) for d in DEFECTS if d.effect == "extra") + "]"
"""The labels of a run's extra copies of an event (duplicate, id_collision), as a DuckDB list."""
REPAIRS = {"clock_skew": ("event_ts",), "contract_violation": None, "orphan_user": ("user_id",)}
"""What repairing each alterable defect may change (None: any column, as the broken one varies): trusting
ingest_ts rewrites event_ts, an unknown-member key rewrites user_id. Any other change is unexpected."""
assert set(REPAIRS) == set(MAY_ALTER)


def _count(con, name: str, query: str) -> dict:
    """Keep ``query``'s (event_id, why) rows as table ``name``; count them expected (why names the defect that
    explains the event) and unexpected (why is NULL), with up to EXAMPLES event_ids, the unexpected ones first."""
    con.execute(f"CREATE TEMP TABLE {name} AS {query}")
    by = dict(con.execute(f"SELECT why, count(*) FROM {name} GROUP BY why").fetchall())
    examples = [r[0] for r in con.execute(f"SELECT event_id FROM {name} ORDER BY why IS NOT NULL, event_id "
                                          f"LIMIT {EXAMPLES}").fetchall()]
    unexpected = by.pop(None, 0)
    return {"expected": sum(by.values()), "unexpected": unexpected, "by_defect": {k: by[k] for k in sorted(by)},
            "examples": examples}


def _split(con, name: str, query: str, excuses: tuple[str, ...], arrived_late: bool = False) -> dict:
    """:func:`_count` of ``query``'s event_ids, each explained by its first label among ``excuses`` (or, with
    ``arrived_late``, by arriving as late as a late label: ``_ids.late``)."""
    # the first excusing defect in catalog order, so an event with several labels is counted once, the same way
    # (a CASE, not a lambda: lambda syntax differs between DuckDB versions)
    arms = " ".join(f"WHEN list_contains(d.defects, {quote(d.name)}) THEN {quote(d.name)}" for d in DEFECTS
                    if d.name in excuses)
    if arrived_late:
        arms += f" WHEN t.event_id IN (SELECT event_id FROM _ids WHERE late) THEN {quote(ARRIVED_LATE)}"
    pick = f"CASE {arms} END" if arms else "CAST(NULL AS VARCHAR)"
    return _count(con, name, f"SELECT t.event_id, {pick} AS why FROM ({query}) t LEFT JOIN _ev d USING (event_id)")


def _altered(con, cols: dict[str, tuple[tuple[str, ...], str]]) -> dict:
    if not cols:
        return {"expected": 0, "unexpected": 0, "by_defect": {}, "examples": [], "columns": {}}
    # One 64-bit hash of the compared values per row on each side (a collision could only hide an alteration, odds
    # 2^-64), and an anti join: output rows with no run row of the same event_id and values, among the run's ids.
    # The output's side also hashes how many of its values do not convert, the run's side 0: such a row differs.
    mine = f"hash({', '.join(_read(cols))}, {' + '.join(f'{u}::INT' for u in _unread(cols))})"
    theirs = f"hash({', '.join(cols)}, 0)"
    con.execute(f"""CREATE TEMP TABLE _alt AS SELECT DISTINCT p.event_id, p.h FROM
                      (SELECT event_id, {mine} AS h FROM pipeline WHERE event_id IS NOT NULL) p
                    ANTI JOIN (SELECT event_id, {theirs} AS h FROM events) r
                      ON p.event_id = r.event_id AND p.h = r.h
                    SEMI JOIN _ids i ON i.event_id = p.event_id""")
    # the columns each altered output row changed: those that differ from every run row of its event_id
    per_row = ", ".join(f"bool_and({src} IS DISTINCT FROM r.{c} OR {bad}) AS d{i}"
                        for i, (c, src, bad) in enumerate(zip(cols, _read(cols, "p."), _unread(cols, "p."))))
    con.execute(f"""CREATE TEMP TABLE _altrows AS SELECT p.event_id, {per_row}
                    FROM (SELECT *, {mine} AS _h FROM pipeline WHERE event_id IN (SELECT event_id FROM _alt)) p
                    JOIN _alt a ON a.event_id = p.event_id AND a.h = p._h
                    JOIN events r ON r.event_id = p.event_id GROUP BY p.event_id, p._h""")
    order = "[" + ", ".join(quote(d.name) for d in DEFECTS) + "]"  # an event's rows agree on the catalog's first
    out = _count(con, "_altered", f"""SELECT event_id, CASE WHEN bool_and(why IS NOT NULL)
                                             THEN arg_min(why, list_position({order}, why)) END AS why
                                      FROM (SELECT a.event_id, {_repaired(cols)} AS why FROM _altrows a
                                            LEFT JOIN _ev l USING (event_id)) GROUP BY event_id""")
    counts = con.execute(f"SELECT {', '.join(f'count(*) FILTER (WHERE d{i})' for i in range(len(cols)))} "
                         f"FROM _altrows").fetchone()
    out["columns"] = {c: n for c, n in zip(cols, counts) if n}
    return out


def _repaired(cols: dict[str, tuple[tuple[str, ...], str]]) -> str:
    """SQL naming the defect that explains an altered row (``d{i}``: column i changed; ``l.defects``: its labels).

    A row is explained when each column it changed is one that a label of its event allows (REPAIRS: an event both
    skewed and an orphan user may have event_ts and user_id repaired), and is counted under the first such label
    of the catalog that allows a changed column.
    """
    def has(d: str) -> str:
        return f"list_contains(l.defects, {quote(d)})"

    def allows(d: str, c: str) -> bool:
        return REPAIRS[d] is None or c in REPAIRS[d]

    repairs = [d.name for d in DEFECTS if d.name in REPAIRS]
    # coalesce: an event with no label has NULL labels, and a changed column of it is unexplained
    unexplained = [f"coalesce(d{i} AND NOT ({' OR '.join(has(d) for d in repairs if allows(d, c)) or 'false'}), d{i})"
                   for i, c in enumerate(cols)]
    arms = []
    for d in repairs:
        changed = [f"d{i}" for i, c in enumerate(cols) if allows(d, c)]
        arms.append(f"WHEN {has(d)} AND ({' OR '.join(changed) or 'false'}) THEN {quote(d)}")
    # a row whose every value is some run row's (two copies mixed) changed no single column: its first repair label
    arms += [f"WHEN {has(d)} AND NOT ({' OR '.join(f'd{i}' for i in range(len(cols)))}) THEN {quote(d)}"
             for d in repairs]
    return f"CASE WHEN {' OR '.join(unexplained)} THEN NULL ELSE (CASE {' '.join(arms)} END) END"


def reconcile(con, columns: tuple[str, ...], late_days: float | None = None) -> dict:
    """Every category of difference between view ``pipeline`` and the run's views (see the module docstring).

    ``late_days``: the run's late_days[0], the least lateness of a late label; an unlabelled event of the log that
    arrived as late is past the same watermark, and a pipeline may set it aside too.
    """
    timings, t = {}, time.perf_counter()
    _label_sets(con)
    cols, absent = _columns(con, columns)
    # the run's events once, each with whether it arrived late: by its first arrival (a re-sent copy an hour later
    # does not make an on-time event late)
    late = (f"min(epoch_us(ingest_ts) - epoch_us(event_ts)) >= {int(late_days * 86_400e6)}" if late_days is not None
            else "false")
    con.execute(f"CREATE TEMP TABLE _ids AS SELECT event_id, {late} AS late FROM events GROUP BY event_id")
    con.execute("CREATE TEMP TABLE _out AS SELECT event_id, count(*) AS n FROM pipeline GROUP BY event_id")
    timings["index"] = time.perf_counter() - t
    res = {}
    t = time.perf_counter()
    res["missing"] = _split(con, "_missing", "SELECT event_id FROM _ids ANTI JOIN _out USING (event_id)", MAY_DROP,
                            arrived_late=True)
    res["duplicated"] = _split(con, "_duplicated", "SELECT event_id FROM _out WHERE n > 1 AND event_id IS NOT NULL", ())
    res["duplicated"]["labelled_in_run"] = con.execute(  # the dedupe that did not happen: copies the run labelled
        f"SELECT count(*) FROM _out JOIN _ev USING (event_id) WHERE n > 1 AND list_has_any(defects, {_COPIES})"
    ).fetchone()[0]
    res["unexpected"] = _split(con, "_unexpected", "SELECT event_id FROM _out ANTI JOIN _ids USING (event_id) "
                                                   "WHERE event_id IS NOT NULL", ())
    res["unexpected"]["unexpected"] += con.execute("SELECT coalesce(sum(n), 0) FROM _out WHERE event_id IS NULL"
                                                   ).fetchone()[0]
    timings["match"] = time.perf_counter() - t
    t = time.perf_counter()
    res["altered"] = _altered(con, cols)
    timings["compare"] = time.perf_counter() - t
    sizes = con.execute("SELECT (SELECT count(*) FROM _ids), (SELECT sum(n) FROM _out)").fetchone()
    return {"ok": not any(res[c]["unexpected"] for c in CATEGORIES), "run_events": sizes[0],
            "output_rows": int(sizes[1] or 0), "compared_columns": list(cols), "not_compared": absent,
            "categories": {c: res[c] for c in CATEGORIES}, "timings": {k: round(v, 3) for k, v in timings.items()}}


def _line(name: str, c: dict) -> str:
    if not c["expected"] and not c["unexpected"]:
        return f"  {name:<11} none"
    why = ", ".join(f"{k} {n:,}" for k, n in c["by_defect"].items())
    text = f"  {name:<11} {c['unexpected']:,} unexpected, {c['expected']:,} expected" + (f" ({why})" if why else "")
    if c.get("columns"):
        text += "; columns: " + ", ".join(f"{k} {n:,}" for k, n in c["columns"].items())
    if c.get("labelled_in_run"):
        text += f"; {c['labelled_in_run']:,} were labelled copies in the run (not deduplicated)"
    return text + (f"; e.g. event_id {c['examples'][0]}" if c["examples"] else "")


def render(doc: dict) -> str:
    lines = [f"run {doc['run_id']} ({doc['run_events']:,} events) against {doc['against']} "
             f"({doc['output_rows']:,} rows), compared on {len(doc['compared_columns'])} columns"
             + (f" (not in the output: {', '.join(doc['not_compared'])})" if doc["not_compared"] else "")]
    lines += [_line(name, doc["categories"][name]) for name in CATEGORIES]
    bad = sum(c["unexpected"] for c in doc["categories"].values())
    lines.append("ok: every difference is explained by a defect label" if doc["ok"] else
                 f"NOT ok: {bad:,} unexpected differences")
    return "\n".join(lines)


def _late_days(run) -> float | None:
    """The least lateness of the run's late labels, late_days[0]; None where the run injects no late events (it
    sets no watermark then) or its config cannot be read."""
    from ..config import parse

    try:
        defects = parse(run.manifest.get("config") or {}, source="the manifest's config").defects
    except (TemuGenError, AttributeError):
        return None
    return defects.late_days[0] if defects.late > 0 else None


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="temu-gen reconcile", description="Compare a pipeline's output with the run it read, by "
                "event_id. Exit 0 when every difference is explained by a defect label, 1 otherwise.")
    add_run_arguments(p)
    p.add_argument("--against", required=True, metavar="PATH", help="the pipeline's output: a Parquet folder, file or "
                   "glob, or FILE.duckdb:TABLE")
    p.add_argument("--columns", help="columns to compare (default: every event column but event_id and ingest_ts)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    columns = DEFAULT_COLUMNS
    if args.columns:
        columns = tuple(c.strip() for c in args.columns.split(",") if c.strip())
        unknown = [c for c in columns if c not in FIELD_NAMES + tuple(f.name for f in OPTIONAL_FIELDS)]
        if unknown or not columns:
            raise TemuGenError(f"--columns: {', '.join(unknown) or 'none given'} not event columns; use some of "
                               f"{', '.join(DEFAULT_COLUMNS)}")
    duckdb = require_duckdb()
    run = open_run(args.run, args.run_id, args.endpoint_url)
    t = time.perf_counter()
    with connect(run, many_reads=True) as con:
        con.execute("SET preserve_insertion_order = false")
        against = _attach_output(con, args.against)
        try:
            doc = reconcile(con, columns, _late_days(run))
        except duckdb.Error as e:  # the output's files disagree with each other, or a value cannot be read
            why = str(e).splitlines()[0]
            if f"{run.root}/" in why and f"run_id={run.run_id}/" in why:  # the run's own files, not the output's
                raise TemuGenError(f"run {run.run_id}: its files cannot be read ({why}); check it with temu-gen "
                                   f"validate") from None
            raise TemuGenError(f"--against {against}: {why}") from None
    doc = {"run_id": run.run_id, "location": run.where(), "against": against, **doc,
           "seconds": round(time.perf_counter() - t, 3)}
    print(json.dumps(doc, indent=1) if args.format == "json" else render(doc))
    return 0 if doc["ok"] else 1
