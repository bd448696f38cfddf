"""DuckDB views over exactly one committed run's files: ``events``, ``users``, ``products``, ``orders``, ``defects``.

Invariant: each view covers exactly the files the run's manifest lists for its table (never
a glob, which would also take in other runs, stray files or a retry's leftovers, and never
the poison file), and a file that is not what the manifest says is an
:class:`~temu_gen.tools.runref.UnreadableFiles` in one line, not a view of null rows.
``events`` always has the version 1 columns: files written in a later schema version are
mapped back (a renamed column under its old name, ``quantity`` as INTEGER in every version,
added columns left out), so one query reads the whole run. Parquet and jsonl runs read
alike: a jsonl file through ``read_json`` with the column types its recorded schema gives
(JSON has none of its own), each row's position from ``WITH ORDINALITY``; a jsonl run in S3
is staged first (pyarrow's JSON reader cannot read the nested ``context`` object as the
string column it is).
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from typing import Iterator

from ..errors import TemuGenError
from ..sinks.base import TABLES
from .runref import Run, RunFile, UnreadableFiles, quote, require_duckdb, stage

_DUCK_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER", "int16": "SMALLINT", "int8": "TINYINT",
               "bool": "BOOLEAN", "timestamp[us, tz=UTC]": "TIMESTAMPTZ", "decimal128(18, 2)": "DECIMAL(18, 2)",
               "list<item: string>": "VARCHAR[]"}


def duck_type(text: str) -> str:
    """The DuckDB type of an Arrow type as a manifest records it (dictionaries read as their values)."""
    from ..encode.schema import split_top

    if text.startswith("dictionary<values=string"):
        return "VARCHAR"
    m = re.fullmatch(r"(?:list|large_list)<(?:item|element): (.*)>", text)
    if m:
        return duck_type(m.group(1)) + "[]"
    if text.startswith("struct<"):
        fields = [f.split(": ", 1) for f in split_top(text[len("struct<"):-1])]
        return "STRUCT(" + ", ".join('"' + n.replace('"', '""') + '" ' + duck_type(t.removesuffix(" not null"))
                                     for n, t in fields) + ")"
    return _DUCK_TYPES.get(text, "VARCHAR")


def event_columns(run: Run) -> tuple[str, ...]:
    """The events view's columns: the contract's, then the optional ones (context) the run wrote."""
    from ..model import FIELD_NAMES, OPTIONAL_FIELDS

    recorded = {c.get("name") for c in (run.schema_doc("events") or []) if isinstance(c, dict)}
    return FIELD_NAMES + tuple(f.name for f in OPTIONAL_FIELDS if f.name in recorded)


def _events_columns(run: Run, version: int) -> list[str]:
    """SELECT items mapping one schema version's columns back to version 1 (see the module docstring)."""
    from ..defects.catalog import SCHEMA_V2
    from ..model import FIELD_NAMES

    recorded = {c["name"] for c in (run.schema_doc("events", version) or [])} or set(FIELD_NAMES)
    renamed = {old: new for op, old, new in SCHEMA_V2 if op == "rename"}
    widened = {col: _DUCK_TYPES[typ] for op, col, typ in SCHEMA_V2 if op == "widen"}
    out = []
    for name in event_columns(run):
        source = name if name in recorded else renamed.get(name, name)
        if source not in recorded:
            out.append(f"NULL AS {name}")
        elif name in widened:
            out.append(f"CAST({source} AS {widened[name]}) AS {name}")
        else:
            out.append(source if source == name else f"{source} AS {name}")
    return out


def _scan(con, run: Run, files: list[RunFile], name: str, schema: list[dict] | None = None) -> str:
    """A FROM item reading exactly ``files``: read_parquet over local paths, or a registered pyarrow dataset (S3);
    jsonl files with read_json and the column types of ``schema`` (their recorded schema)."""
    if files and files[0].jsonl:
        columns = ", ".join(f"{quote(c['name'])}: {quote(duck_type(c['type']))}" for c in schema or [])
        return (f"read_json([{', '.join(quote(f.path) for f in files)}], format = 'newline_delimited', "
                f"compression = 'gzip', columns = {{{columns}}}, hive_partitioning = false)")
    if run.s3:
        con.register(name, _s3_dataset(run, files, schema))
        return name
    return f"read_parquet([{', '.join(quote(f.path) for f in files)}], hive_partitioning = false)"


def _s3_dataset(run: Run, files: list[RunFile], schema: list[dict] | None):
    """An Arrow dataset over ``files`` in S3 whose every file has the recorded columns; else UnreadableFiles (Arrow
    would read a file of another table's columns as rows of nulls)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    table = files[0].table if files else "events"
    try:
        dataset = ds.dataset([f.path for f in files], filesystem=run.fs, format="parquet")
        want = [c["name"] for c in schema or []] or dataset.schema.names
        for f, fragment in zip(files, dataset.get_fragments()):
            have = fragment.physical_schema.names
            if have != want:
                raise UnreadableFiles(f"run {run.run_id}: its {table} file {f.name} has the columns "
                                      f"{', '.join(have)[:200]}, not the recorded ones; check it with temu-gen "
                                      f"validate")
    except (OSError, pa.ArrowInvalid) as e:  # missing, cut short, not Parquet
        raise UnreadableFiles(f"run {run.run_id}: its {table} files cannot be read ({str(e).splitlines()[0][:200]}); "
                              f"check it with temu-gen validate") from None
    return dataset


def _empty(table: str, run: Run | None = None) -> str:
    """A SELECT with the declared columns and no rows (a clean run has no defect labels, for one)."""
    from ..dimensions import TABLE_COLUMNS
    from ..model import FIELDS, OPTIONAL_FIELDS

    extra = tuple(f for f in OPTIONAL_FIELDS if run is not None and f.name in event_columns(run))
    declared = FIELDS + extra if table == "events" else TABLE_COLUMNS[table]
    cols = [(c.name, c.type) for c in declared]
    items = ", ".join(f"CAST(NULL AS {_DUCK_TYPES.get(t, 'VARCHAR')}) AS {n}" for n, t in cols)
    return f"SELECT {items} WHERE false"


def _events_view(con, run: Run, files: list[RunFile], located: bool) -> str:
    selects = []
    for version in sorted({f.schema_version for f in files}):
        group = [f for f in files if f.schema_version == version]
        cols = _events_columns(run, version)
        if located and run.s3:
            raise TemuGenError("internal: located events need a local copy of an S3 run (runref.stage)")
        schema = run.schema_doc("events", version)
        if located and group[0].jsonl:  # no file_row_number in read_json: one scan per file, rows counted in order
            selects += [f"SELECT {', '.join(cols)}, {f.part} AS _part, ordinality - 1 AS _row FROM "
                        f"{_scan(con, run, [f], '', schema)} WITH ORDINALITY" for f in group]
            continue
        if located:
            cols += [f"[{', '.join(str(f.part) for f in group)}][file_index::BIGINT + 1] AS _part",
                     "file_row_number AS _row"]
        selects.append(f"SELECT {', '.join(cols)} FROM {_scan(con, run, group, f'_events_v{version}', schema)}")
    if not selects:
        return _empty("events", run) if not located else (
            f"SELECT *, CAST(NULL AS INTEGER) AS _part, CAST(NULL AS BIGINT) AS _row FROM ({_empty('events', run)})")
    return " UNION ALL ".join(selects)


@contextlib.contextmanager
def reading(run: Run, table: str) -> Iterator[None]:
    """DuckDB's parse and conversion errors while reading ``table`` become :class:`UnreadableFiles`; running out
    of memory or disk, or an interrupt, is not the run's fault and passes through."""
    duckdb = require_duckdb()
    try:
        yield
    except (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.BinderException) as e:  # Binder: a
        # file without a recorded column (another table's file under this one's name)
        raise UnreadableFiles(f"run {run.run_id}: its {table} files cannot be read: "
                              f"{str(e).splitlines()[0][:200]}") from None
    except duckdb.IOException as e:
        if "No files found" not in str(e):  # a full disk, a lost mount: not the run's doing
            raise
        raise UnreadableFiles(f"run {run.run_id}: a file its manifest lists is missing ("
                              f"{str(e).splitlines()[0][:200]}); check it with temu-gen validate") from None


@contextlib.contextmanager
def connect(run: Run, files: dict[str, list[RunFile]] | None = None, located: bool = False,
            threads: int | None = None, many_reads: bool = False) -> Iterator[object]:
    """A DuckDB connection with one view per table over the run's committed files (``files`` narrows them).

    ``located`` adds ``_part`` and ``_row`` to ``events``: the file and 0-based row each row comes from, the
    coordinates the defect labels use (local runs only: :func:`stage` an S3 run first). Big sorts and joins spill
    to a private temporary folder, removed on exit, so a run larger than memory still goes through.
    ``many_reads``: the caller reads each table several times, so a jsonl run's tables are parsed once into
    temporary tables (JSON is read whole for every scan; Parquet, column by column).
    """
    duckdb = require_duckdb()
    with tempfile.TemporaryDirectory(prefix="temu-gen-duckdb-") as tmp:
        if run.s3 and run.format == "jsonl":
            run = stage(run, os.path.join(tmp, "run"))
            files = {t: [f._replace(path=f"{run.folder(t)}/{f.name}") for f in fs] for t, fs in files.items()} \
                if files is not None else None
        con = duckdb.connect(config={"temp_directory": tmp, "threads": threads or max(os.cpu_count() or 1, 1)})
        try:
            con.execute("SET TimeZone = 'UTC'")  # timestamps print and compare in UTC, as the contract states them
            for table in TABLES:
                chosen = (files or {}).get(table, run.data_files(table))
                if table == "events":
                    body = _events_view(con, run, chosen, located)
                else:
                    body = (f"SELECT * FROM {_scan(con, run, chosen, f'_{table}', run.schema_doc(table))}" if chosen
                            else _empty(table))
                kind = "TEMP TABLE" if many_reads and run.format == "jsonl" else "VIEW"
                with reading(run, table):  # a JSON line that does not parse or convert is read only here
                    con.execute(f"CREATE {kind} {table} AS {body}")
            yield con
        finally:
            con.close()
