"""``temu-gen show RUN``: print a few rows of one of a run's tables as a fixed-width table in the terminal.

Invariant: the table it prints is the committed files of that one run (the views of
:func:`~temu_gen.tools.views.connect`), through one read-only SELECT: ``--where`` is
spliced into that statement as a boolean expression and anything that is not exactly
one statement (a second statement, a syntax error, an unknown column) is a one-line
error, never a traceback and never a second statement run. ``--where`` is the user's own
SQL on their own machine, not a sandbox: a subquery in it can read what DuckDB can.
"""
from __future__ import annotations

import argparse
import shutil

from ..cli import _Parser, _positive
from ..errors import TemuGenError
from ..sinks.base import TABLES
from .runref import add_run_arguments, open_run, require_duckdb
from .views import connect


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="temu-gen show", description="Print a sample of a committed run's table.")
    add_run_arguments(p)
    p.add_argument("--table", choices=TABLES, default="events", help="which table (default events)")
    p.add_argument("--limit", type=_positive, default=20, help="rows to print (default 20)")
    p.add_argument("--where", metavar="SQL", help="a SQL condition on the table's columns, e.g. \"event_type = "
                   "'order_placed' AND state = 'Lagos'\"")
    p.add_argument("--columns", help="comma-separated columns to print (default: all that fit)")
    p.add_argument("--width", type=_positive, help="characters per line (default: the terminal's)")
    return p


def _select(con, table: str, columns: str | None) -> str:
    have = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()]
    if not columns:
        return "*"
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in have]
    if unknown or not wanted:
        raise TemuGenError(f"--columns: {', '.join(unknown) or 'none given'} not in {table}; it has "
                           f"{', '.join(have)}")
    return ", ".join(f'"{c}"' for c in wanted)


def query(con, table: str, columns: str | None, where: str | None, limit: int):
    """The relation to print; bad ``--where`` SQL is a TemuGenError naming it."""
    duckdb = require_duckdb()
    sql = f"SELECT {_select(con, table, columns)} FROM {table}"
    if where is not None:
        try:
            statements = duckdb.extract_statements(f"SELECT 1 FROM {table} WHERE ({where})")
        except duckdb.Error as e:
            raise TemuGenError(f"--where {where!r}: {str(e).splitlines()[0]}") from None
        if len(statements) != 1:
            raise TemuGenError(f"--where {where!r}: give one condition, not several statements")
        sql += f" WHERE ({where})"
    try:
        return con.sql(f"{sql} LIMIT {limit}")
    except duckdb.Error as e:
        raise TemuGenError(f"--where {where!r}: {str(e).splitlines()[0]}" if where else str(e).splitlines()[0]) \
            from None


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    require_duckdb()
    run = open_run(args.run, args.run_id, args.endpoint_url)
    width = args.width or shutil.get_terminal_size((160, 24)).columns
    duckdb = require_duckdb()
    with connect(run) as con:
        rel = query(con, args.table, args.columns, args.where, args.limit)
        try:  # run it before printing anything: some errors only show on the data (a cast in --where that fails)
            rows = rel.fetch_arrow_table()
        except duckdb.Error as e:
            where = f"--where {args.where!r}: " if args.where else f"run {run.run_id}: "
            raise TemuGenError(f"{where}{str(e).splitlines()[0]}") from None
        print(f"{args.table} of run {run.run_id} ({run.where(args.table)})")
        con.from_arrow(rows).show(max_width=width, max_rows=args.limit)
    return 0
