"""The line-level rules of a jsonl run for ``validate``: every line's keys, and every value's JSON type.

A jsonl run is read for the SQL checks with ``read_json`` and its recorded column types, and that
reader forgives: a missing key reads as null, an extra one is dropped, the string ``"12"`` casts to
an integer column and the number ``12`` to a string column. So the typed views alone cannot show a
line that breaks the writer's conventions (:mod:`temu_gen.encode.jsonl`); this module checks them
on the raw JSON objects, in one scan per table and schema version.

Invariant: the expected JSON type of a column is derived from its recorded type alone (plus the
``context`` column, JSON text embedded as an object), so a run is judged by the schema it committed.
"""
from __future__ import annotations

import json

from ..model import CONTEXT_FIELD
from ..sinks.base import TABLES
from .contract import Problem
from .runref import Run, RunFile, quote, reading, require_duckdb

TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"
"""The writer's timestamps: ISO 8601 UTC with microseconds, 2024-11-01T09:30:00.000000Z."""


def json_types(column: dict) -> tuple[str, ...]:
    """DuckDB ``json_type`` names a value of ``column`` (a recorded schema entry) may have in a line."""
    t = column["type"]
    if column["name"] == CONTEXT_FIELD.name:
        kinds: tuple[str, ...] = ("OBJECT",)
    elif t.startswith(("int", "uint")):
        kinds = ("BIGINT", "UBIGINT")
    elif t.startswith("decimal"):
        kinds = ("BIGINT", "UBIGINT", "DOUBLE")  # written exactly as JSON numbers: 1899.00
    elif t == "bool":
        kinds = ("BOOLEAN",)
    elif t.startswith("list<"):
        kinds = ("ARRAY",)
    elif t.startswith("struct<"):
        kinds = ("OBJECT",)
    else:  # strings, dictionary values, timestamps
        kinds = ("VARCHAR",)
    return kinds + (("NULL",) if column["nullable"] else ())


def rule(column: dict, i: int, stamp: int | None) -> str:
    """SQL over a line's ``types`` (its values' JSON types, in column order) and ``stamps`` (its timestamp values
    as text): true when column ``i`` (timestamp ``stamp``) follows the conventions; null when the key is missing
    (a keys finding, counted once, there)."""
    ok = f"types[{i + 1}] IN ({', '.join(map(quote, json_types(column)))})"
    if stamp is not None:
        ok = f"({ok} AND (types[{i + 1}] = 'NULL' OR regexp_full_match(stamps[{stamp + 1}], {quote(TIMESTAMP)})))"
    return ok


def _paths(columns: list[dict]) -> str:
    return "[" + ", ".join(quote("$." + json.dumps(c["name"])) for c in columns) + "]"


def _describe(column: dict) -> str:
    kinds = [k.lower() for k in json_types(column) if k != "NULL"]
    what = {"bigint": "an integer", "double": "a number", "varchar": "a string", "boolean": "true or false",
            "array": "an array", "object": "an object"}
    text = " or ".join(dict.fromkeys(what.get(k, "an integer") for k in kinds))
    if column["type"].startswith("decimal"):
        text = "a number"
    if column["type"].startswith("timestamp"):
        text = "an ISO 8601 UTC timestamp string"
    return text + (" or null" if column["nullable"] else "")


def check_lines(run: Run, usable: dict[str, list[RunFile]]) -> list[Problem]:
    """Keys (exactly the file's recorded columns, in order) and value types of every line of every usable file,
    read as untyped JSON objects in a connection of their own."""
    if run.format != "jsonl":
        return []
    con = require_duckdb().connect()
    try:
        keys, types = _scan(con, run, usable)
    finally:
        con.close()
    found = []
    if keys:
        found.append(Problem("json_keys", len(keys), "JSON lines whose keys are not their file's recorded columns, "
                                                     "in order", keys[0]))
    if types:
        found.append(Problem("json_types", len(types), "JSON values of another type than their column's (numbers, "
                                                       "strings, ISO timestamps, arrays, objects)", types[0]))
    return found


def _scan(con, run: Run, usable: dict[str, list[RunFile]]) -> tuple[list[str], list[str]]:
    """One scan per table and schema version: per file, the lines with other keys and, per column, other types."""
    keys, types = [], []
    for table in TABLES:
        for version in sorted({f.schema_version for f in usable[table]}):
            files = [f for f in usable[table] if f.schema_version == version]
            columns = run.schema_doc(table, version) or []
            stamped = [c for c in columns if c["type"].startswith("timestamp")]
            at = {c["name"]: k for k, c in enumerate(stamped)}
            counts = "".join(f", count_if(NOT coalesce({rule(c, i, at.get(c['name']))}, true))"
                             for i, c in enumerate(columns))
            # each JSON function parses its document: one call per line for all the types, one for the timestamps
            with reading(run, table):
                rows = con.execute(
                    f"SELECT filename, count_if(json_keys(json) IS DISTINCT FROM ?){counts} FROM ("
                    f"SELECT filename, json, json_type(json, {_paths(columns)}) AS types, "
                    f"json_extract_string(json, {_paths(stamped)}) AS stamps "
                    f"FROM read_ndjson_objects([{', '.join(quote(f.path) for f in files)}], compression = "
                    f"'gzip', filename = true)) GROUP BY filename ORDER BY filename",
                    [[c["name"] for c in columns]]).fetchall()
            for name, wrong_keys, *wrong in rows:
                label = f"{table}/{name.rsplit('/', 1)[-1]}"
                keys += [f"{label}: {wrong_keys:,} lines"] if wrong_keys else []
                types += [f"{label}: {n:,} lines where {c['name']} is not {_describe(c)}"
                          for c, n in zip(columns, wrong) if n]
    return keys, types
