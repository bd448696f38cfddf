"""The line-level rules of a jsonl run for ``validate``: every line's keys, and every value's JSON type.

A jsonl run is read for the SQL checks with ``read_json`` and its recorded column types, and that
reader forgives: a missing key reads as null, an extra one is dropped, the string ``"12"`` casts to
an integer column, the number ``12`` to a string column, ``1899.129`` rounds into a decimal(18, 2).
So the typed views alone cannot show a line that breaks the writer's conventions
(:mod:`temu_gen.encode.jsonl`); this module checks them on the raw JSON objects, in one scan per
table and schema version: the type of every value, down into list items and struct fields, integer
widths, decimal scales, the timestamp format, and the keys of every struct.

Invariant: what a column may hold is derived from its recorded type alone (plus the ``context``
column, JSON text embedded as an object), so a run is judged by the schema it committed.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass

from ..encode.schema import split_top
from ..model import CONTEXT_FIELD
from ..sinks.base import TABLES
from .contract import Problem
from .runref import Run, RunFile, quote, require_duckdb
from .views import reading

TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"
"""The writer's timestamps: ISO 8601 UTC with microseconds, 2024-11-01T09:30:00.000000Z."""
_INTS = {"int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT", "uint8": "UTINYINT",
         "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT"}


@dataclass(frozen=True)
class Check:
    """One rule for the values at ``path`` (a JSON path from the line; ``[*]`` reaches into every list item)."""

    column: str
    """The line's key the value belongs to (what the report names)."""
    path: str
    kinds: tuple[str, ...]
    """DuckDB ``json_type`` names the value may have."""
    text: str | None
    """SQL over ``v``, the value as text, that must hold as well (integer width, decimal scale, timestamp format)."""
    what: str = ""
    """What the value must be, in words, for the report (without 'or null')."""
    keys: tuple[str, ...] | None = None
    """A struct's field names, in order."""


def _key(name: str) -> str:
    if '"' in name or "\\" in name:  # a quoted JSON path cannot escape them: the check would miss the key
        raise ValueError(f"column name {name!r} cannot be checked in a JSON path")
    return f'"{name}"'


def checks(column: str, type_text: str, nullable: bool, path: str | None = None) -> list[Check]:
    """The rules for one recorded column (or, recursively, a list item or struct field at ``path``); the first is
    the value's own."""
    top = path is None
    path = path or "$." + _key(column)
    null = ("NULL",) if nullable else ()
    t = type_text
    if top and column == CONTEXT_FIELD.name:
        return [Check(column, path, ("OBJECT",) + null, None, "a JSON object")]
    if t.startswith("list<item: "):
        item, item_nullable = _nested(t[len("list<item: "):-1])
        items = checks(column, item, item_nullable, path + "[*]")
        what = f"an array of {'strings' if items[0].keys is None else 'objects with its fields'}, each of its type"
        return [Check(column, path, ("ARRAY",) + null, None, what)] + items
    if t.startswith("struct<"):
        fields = [(n, *_nested(ft)) for n, ft in (part.split(": ", 1) for part in split_top(t[len("struct<"):-1]))]
        out = [Check(column, path, ("OBJECT",) + null, None, "an object with its fields",
                     tuple(n for n, _, _ in fields))]
        return out + [c for n, ft, fn in fields for c in checks(column, ft, fn, f"{path}.{_key(n)}")]
    if t in _INTS:  # a float is not an integer; the cast refuses what does not fit the width
        return [Check(column, path, ("BIGINT", "UBIGINT") + null, f"TRY_CAST(v AS {_INTS[t]}) IS NOT NULL",
                      f"an integer that fits {t}")]
    if m := re.fullmatch(r"decimal128\((\d+), (\d+)\)", t):  # written exactly: no digit beyond the scale
        dec = f"DECIMAL({m.group(1)}, {m.group(2)})"
        return [Check(column, path, ("BIGINT", "UBIGINT", "DOUBLE") + null,
                      f"TRY_CAST(v AS {dec})::DOUBLE = TRY_CAST(v AS DOUBLE)",
                      f"a number with at most {m.group(2)} decimals")]
    if t.startswith("timestamp"):
        return [Check(column, path, ("VARCHAR",) + null, f"regexp_full_match(v, {quote(TIMESTAMP)})",
                      "an ISO 8601 UTC timestamp string with microseconds")]
    if t == "bool":
        return [Check(column, path, ("BOOLEAN",) + null, None, "true or false")]
    return [Check(column, path, ("VARCHAR",) + null, None, "a string")]  # strings and dictionary values


def _nested(text: str) -> tuple[str, bool]:
    """A list item's or struct field's type as Arrow prints it ('int64 not null'): (type, nullable)."""
    return (text[:-len(" not null")], False) if text.endswith(" not null") else (text, True)


def _in(kinds: tuple[str, ...]) -> str:
    return f"IN ({', '.join(map(quote, kinds))})"


def _column_rule(cs: list[Check], index: dict[str, int], texts: dict[str, int]) -> str:
    """SQL true when a line's value of one column follows all its checks. The top-level value is judged from the
    line's ``types`` and ``texts`` lists (one JSON parse each for the whole line); a missing key is a keys finding
    (``keys_bad``), counted there; list items and struct fields take a call of their own."""
    top, rest = cs[0], cs[1:]
    i = index[top.path]
    ok = f"types[{i}] {_in(top.kinds)}"
    if top.text:
        v = f"texts[{texts[top.path]}]"
        ok += f" AND (types[{i}] = 'NULL' OR coalesce({_sub(top.text, v)}, false))"
    parts = [f"coalesce({ok}, keys_bad)"]
    for c in rest:  # inside a list: every item; a list that is null or empty has nothing to check
        parts.append(f"coalesce(list_bool_and(list_transform(json_type(json, {quote(c.path)}), "
                     f"lambda k: k {_in(c.kinds)})), true)")
        if c.text:
            parts.append(f"coalesce(list_bool_and(list_transform(json_extract_string(json, {quote(c.path)}), "
                         f"lambda v: coalesce({c.text}, false))), true)")
        if c.keys is not None:
            parts.append(f"coalesce(list_bool_and(list_transform(json_extract(json, {quote(c.path)}), "
                         f"lambda x: json_keys(x) = {_list(c.keys)})), true)")
    return " AND ".join(parts)


def _sub(text: str, v: str) -> str:
    return re.sub(r"\bv\b", v, text)


def _list(items) -> str:
    return "[" + ", ".join(map(quote, items)) + "]"


def column_rules(columns: list[dict]) -> tuple[list[str], list[str], list[str], list[str]]:
    """(paths whose types are read at once, paths whose text is read at once, one SQL rule per column, what each
    column must hold in words)."""
    per_column = [checks(c["name"], c["type"], c["nullable"]) for c in columns]
    tops = [cs[0] for cs in per_column]
    texts = [c for c in tops if c.text]
    index = {c.path: k + 1 for k, c in enumerate(tops)}
    text_index = {c.path: k + 1 for k, c in enumerate(texts)}
    return ([c.path for c in tops], [c.path for c in texts],
            [_column_rule(cs, index, text_index) for cs in per_column],
            [c.what + (" or null" if col["nullable"] else "") for c, col in zip(tops, columns)])


def check_lines(run: Run, usable: dict[str, list[RunFile]]) -> list[Problem]:
    """Keys (exactly the file's recorded columns, in order) and values of every line of every usable file, read as
    untyped JSON objects in a connection of their own (spilling to a private folder, as the SQL checks do)."""
    if run.format != "jsonl":
        return []
    with tempfile.TemporaryDirectory(prefix="temu-gen-duckdb-") as tmp:
        con = require_duckdb().connect(config={"temp_directory": tmp})
        try:
            keys, values, count = _scan(con, run, usable)
        except ValueError as e:  # a recorded column this check cannot address: say so, never pass it quietly
            return [Problem("schema", 1, "recorded columns cannot be checked line by line", str(e))]
        finally:
            con.close()
    found = []
    if keys:
        found.append(Problem("json_keys", len(keys), "JSON lines whose keys are not their file's recorded columns, "
                                                     "in order", keys[0]))
    if values:
        found.append(Problem("json_types", count, "JSON values that are not what their column holds (type, integer "
                                                  "width, decimal scale, timestamp format, list items, struct fields)",
                             values[0]))
    return found


def _lines(n: int) -> str:
    return f"{n:,} line{'' if n == 1 else 's'}"


def _scan(con, run: Run, usable: dict[str, list[RunFile]]) -> tuple[list[str], list[str], int]:
    """One scan per table and schema version: per file, the lines with other keys and, per column, bad values."""
    keys, values, count = [], [], 0
    for table in TABLES:
        for version in sorted({f.schema_version for f in usable[table]}):
            files = [f for f in usable[table] if f.schema_version == version]
            columns = run.schema_doc(table, version) or []
            type_paths, text_paths, rules, whats = column_rules(columns)
            counts = "".join(f", count_if(NOT ({r}))" for r in rules)
            with reading(run, table):
                rows = con.execute(
                    f"SELECT filename, count_if(keys_bad){counts} FROM ("
                    f"SELECT filename, json, json_keys(json) IS DISTINCT FROM ? AS keys_bad, "
                    f"json_type(json, {_list(type_paths)}) AS types, json_extract_string(json, {_list(text_paths)}) "
                    f"AS texts FROM read_ndjson_objects([{', '.join(quote(f.path) for f in files)}], compression = "
                    f"'gzip', filename = true)) GROUP BY filename ORDER BY filename",
                    [[c["name"] for c in columns]]).fetchall()
            for name, wrong_keys, *wrong in rows:
                label = f"{table}/{name.rsplit('/', 1)[-1]}"
                keys += [f"{label}: {_lines(wrong_keys)}"] if wrong_keys else []
                values += [f"{label}: {_lines(n)} where {c['name']} is not {what}"
                           for c, what, n in zip(columns, whats, wrong) if n]
                count += sum(wrong)
    return keys, values, count
