"""Glue Data Catalog columns for the event log, rendered from the data contract.

Invariant: the columns are exactly :data:`~temu_gen.encode.EVENT_SCHEMA`'s, in order, with
the Hive type Athena reads each Parquet column as, and the contract's description as the
comment. ``infra/terraform/generated/events_columns.json`` is this module's output; a test
fails when the two differ, so a schema change needs only a re-render::

    python -m temu_gen.catalog > infra/terraform/generated/events_columns.json
"""
from __future__ import annotations

import json

import pyarrow as pa

from .encode.schema import EVENT_SCHEMA
from .model import FIELDS

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
    if t in _SIMPLE:
        return _SIMPLE[t]
    raise ValueError(f"no Hive type for Arrow type {t}; add it to temu_gen.catalog")


def _comment(text: str) -> str:
    return text if len(text) <= _COMMENT_MAX else text[: _COMMENT_MAX - 3].rstrip() + "..."


def glue_columns(schema: pa.Schema = EVENT_SCHEMA) -> list[dict[str, str]]:
    descriptions = {f.name: f.description for f in FIELDS}
    return [{"name": f.name, "type": hive_type(f.type), "comment": _comment(descriptions.get(f.name, ""))}
            for f in schema]


def render() -> str:
    return json.dumps({"_generated_by": "python -m temu_gen.catalog", "columns": glue_columns()}, indent=1,
                      ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
