"""The event schema as Arrow types, built once from the contract; imports pyarrow but no numba.

Invariant: :data:`EVENT_SCHEMA` is exactly :data:`temu_gen.model.FIELDS` in Arrow terms, so
the writer, the data dictionary and the catalog tables read one declaration.
"""
from __future__ import annotations

import pyarrow as pa

from ..model import ALL, CONTEXT_FIELD, FIELDS

_TYPES = {
    "string": pa.string(), "int64": pa.int64(), "int16": pa.int16(), "int8": pa.int8(),
    "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"), "decimal128(18, 2)": pa.decimal128(18, 2),
    "dictionary<values=string, indices=int8>": pa.dictionary(pa.int8(), pa.string()),
    "dictionary<values=string, indices=int16>": pa.dictionary(pa.int16(), pa.string()),
}
EVENT_SCHEMA = pa.schema([pa.field(f.name, _TYPES[f.type], nullable=f.present_on != ALL or bool(f.sometimes))
                          for f in FIELDS])
JSON_TEXT = {b"temu_gen.content": b"json"}
"""Field metadata of a string column whose values are JSON text: JSON lines embed them as they are (an object, not a
string holding one)."""
CONTEXT = pa.field(CONTEXT_FIELD.name, _TYPES[CONTEXT_FIELD.type], nullable=False, metadata=JSON_TEXT)
"""The optional context column (run.context), after the contract's columns."""
DICTIONARY_COLUMNS = tuple(f.name for f in FIELDS if f.vocab)
UNSORTED_ID_COLUMNS = ("event_id", "session_id", "device_id", "user_id", "product_id")


def arrow_type(text: str) -> pa.DataType:
    """An Arrow type as the declarations spell it (the events' types, plus lists, structs and bool)."""
    if text in _TYPES:
        return _TYPES[text]
    simple = {"int32": pa.int32(), "bool": pa.bool_(), "list<item: string>": pa.list_(pa.string())}
    if text in simple:
        return simple[text]
    if text.startswith("list<item: struct<"):
        inner = text[len("list<item: struct<"):-2]
        fields = [part.split(": ", 1) for part in split_top(inner)]
        return pa.list_(pa.struct([pa.field(n, arrow_type(t), nullable=False) for n, t in fields]))
    raise ValueError(f"no Arrow type for {text!r}")


def split_top(text: str) -> list[str]:
    """``a: x, b: decimal128(18, 2)`` split at the commas outside brackets."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += c in "(<"
        depth -= c in ")>"
        if c == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    return out + [text[start:].strip()]


def table_schema(table: str) -> pa.Schema:
    """The Arrow schema of a dimension table or the defect labels (:mod:`temu_gen.dimensions`)."""
    from ..dimensions import TABLE_COLUMNS

    return pa.schema([pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in TABLE_COLUMNS[table]])
