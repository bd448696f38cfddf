"""The event schema as Arrow types, built once from the contract; imports pyarrow but no numba.

Invariant: :data:`EVENT_SCHEMA` is exactly :data:`temu_gen.model.FIELDS` in Arrow terms, so
the writer, the data dictionary and the catalog tables read one declaration.
"""
from __future__ import annotations

import pyarrow as pa

from ..model import ALL, FIELDS

_TYPES = {
    "string": pa.string(), "int64": pa.int64(), "int16": pa.int16(), "int8": pa.int8(),
    "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"), "decimal128(18, 2)": pa.decimal128(18, 2),
    "dictionary<values=string, indices=int8>": pa.dictionary(pa.int8(), pa.string()),
    "dictionary<values=string, indices=int16>": pa.dictionary(pa.int16(), pa.string()),
}
EVENT_SCHEMA = pa.schema([pa.field(f.name, _TYPES[f.type], nullable=f.present_on != ALL or bool(f.sometimes))
                          for f in FIELDS])
DICTIONARY_COLUMNS = tuple(f.name for f in FIELDS if f.vocab)
UNSORTED_ID_COLUMNS = ("event_id", "session_id", "device_id", "user_id", "product_id")
