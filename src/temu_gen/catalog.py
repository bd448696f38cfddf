"""Glue Data Catalog tables for every table a run writes, rendered from the data contract.

Invariant: each table's columns are exactly its Arrow schema's (:data:`~temu_gen.encode.EVENT_SCHEMA`
for events, :func:`~temu_gen.encode.schema.table_schema` for users, products, orders and the
defect labels), in order, with the Hive type Athena reads each Parquet column as, and the
contract's description as the comment. ``infra/terraform/generated/tables.json`` is this
module's output; a test fails when the two differ, so a schema change needs only a re-render::

    python -m temu_gen.catalog > infra/terraform/generated/tables.json
"""
from __future__ import annotations

import json

import pyarrow as pa

from .dimensions import TABLE_COLUMNS, TABLE_PURPOSE
from .encode.schema import EVENT_SCHEMA, table_schema
from .model import FIELDS

EVENTS_PURPOSE = ("One row per event; columns and meanings in docs/data_dictionary.md. Query committed runs only "
                  "(with _SUCCESS).")

_COMMENT_MAX = 255  # Glue's limit on a column comment
_SIMPLE = {pa.string(): "string", pa.int64(): "bigint", pa.int32(): "int", pa.int16(): "smallint",
           pa.int8(): "tinyint", pa.bool_(): "boolean", pa.float64(): "double", pa.float32(): "float",
           pa.date32(): "date"}


def hive_type(t: pa.DataType) -> str:
    """The Hive/Athena type of an Arrow column as written to Parquet."""
    if pa.types.is_dictionary(t):
        return hive_type(t.value_type)  # dictionary encoding is a Parquet detail; readers see the values
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t):
        return f"array<{hive_type(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{hive_type(f.type)}" for f in t) + ">"
    if t in _SIMPLE:
        return _SIMPLE[t]
    raise ValueError(f"no Hive type for Arrow type {t}; add it to temu_gen.catalog")


def _comment(text: str) -> str:
    return text if len(text) <= _COMMENT_MAX else text[: _COMMENT_MAX - 3].rstrip() + "..."


def glue_columns(table: str = "events") -> list[dict[str, str]]:
    """One table's Glue columns: name, Hive type and comment, in the files' order."""
    if table == "events":
        schema, descriptions = EVENT_SCHEMA, {f.name: f.description for f in FIELDS}
    else:
        schema, descriptions = table_schema(table), {c.name: c.description for c in TABLE_COLUMNS[table]}
    return [{"name": f.name, "type": hive_type(f.type), "comment": _comment(descriptions.get(f.name, ""))}
            for f in schema]


def tables() -> dict[str, dict]:
    """Every table a run writes, under the folder of the same name: its description and columns."""
    purpose = {"events": EVENTS_PURPOSE, **TABLE_PURPOSE}
    return {name: {"description": _comment(purpose[name]), "columns": glue_columns(name)}
            for name in ("events", *TABLE_COLUMNS)}


def render() -> str:
    return json.dumps({"_generated_by": "python -m temu_gen.catalog", "tables": tables()}, indent=1,
                      ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
