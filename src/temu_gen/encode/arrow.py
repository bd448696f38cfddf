"""Arrow encoding: a generated chunk becomes a ``pyarrow.Table`` with the contract's schema.

Invariant: the table's schema is exactly :data:`EVENT_SCHEMA` (built once from
:mod:`temu_gen.model`), nulls are exactly the kernel's ``NULL`` codes, and buffers are
wrapped rather than copied wherever Arrow's layout allows it. Dictionaries are the
run's full vocabularies, so every chunk of a run has identical dictionaries.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..kernels.ids import format_ids
from ..model import ALL, FIELDS, ORDER_ID_PREFIX, PRODUCT_ID_BASE, USER_ID_BASE

_TYPES = {
    "string": pa.string(), "int64": pa.int64(), "int16": pa.int16(), "int8": pa.int8(),
    "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"), "decimal128(18, 2)": pa.decimal128(18, 2),
    "dictionary<values=string, indices=int8>": pa.dictionary(pa.int8(), pa.string()),
    "dictionary<values=string, indices=int16>": pa.dictionary(pa.int16(), pa.string()),
}
EVENT_SCHEMA = pa.schema([pa.field(f.name, _TYPES[f.type], nullable=f.present_on != ALL or bool(f.sometimes))
                          for f in FIELDS])
DICTIONARY_COLUMNS = tuple(f.name for f in FIELDS if f.vocab)
UNSORTED_ID_COLUMNS = ("event_id", "session_id", "order_id")

# Output field -> kernel column it is encoded from.
_SOURCE = {"user_id": "user_idx", "session_id": "session_seq", "network_type": "network",
           "product_id": "product_idx", "unit_price_ngn": "unit_price", "search_query": "search_term",
           "order_id": "order_seq", "order_total_ngn": "order_total", "discount_ngn": "discount",
           "attempt_number": "attempt"}
_OFFSET = {"user_id": USER_ID_BASE, "product_id": PRODUCT_ID_BASE}


def _validity(values: np.ndarray) -> tuple[pa.Buffer | None, int]:
    """Arrow validity bitmap for ``values >= 0`` (None when nothing is null) and the null count."""
    valid = values >= 0
    nulls = int(valid.size - np.count_nonzero(valid))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def _strings(values: np.ndarray, prefix: str, digits: int, base: int, scramble: bool, salt: int) -> pa.Array:
    offsets, data = format_ids(values, np.frombuffer(prefix.encode(), np.uint8), digits, base, scramble, salt)
    validity, nulls = _validity(values)
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(data), validity, nulls)


def _decimal(kobo: np.ndarray) -> pa.Array:
    # decimal128 is two little-endian int64 words: the value, then its sign extension
    words = np.empty((kobo.size, 2), dtype=np.int64)
    words[:, 0] = kobo
    words[:, 1] = kobo >> 63
    validity, nulls = _validity(kobo)
    return pa.Array.from_buffers(pa.decimal128(18, 2), kobo.size, [validity, pa.py_buffer(words)], nulls)


def _primitive(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    validity, nulls = _validity(values)
    return pa.Array.from_buffers(type_, values.size, [validity, pa.py_buffer(np.ascontiguousarray(values))], nulls)


def encode_chunk(cols: dict[str, np.ndarray], row_start: int, vocab, id_salt: int) -> pa.Table:
    """Kernel columns (rows ``row_start ..`` of the run) as a table of :data:`EVENT_SCHEMA`, in their order.

    ``vocab`` names every code column's values (a :class:`~temu_gen.params.Vocabulary`).
    """
    n = len(cols["event_type"])
    salt_hex = f"{id_salt & 0xFFFFFFFF:08x}"
    arrays = []
    for f, field in zip(FIELDS, EVENT_SCHEMA):
        if f.name == "event_id":
            rows = np.arange(row_start, row_start + n, dtype=np.int64)
            arrays.append(_strings(rows, salt_hex, 12, 16, False, 0))
            continue
        src = cols[_SOURCE.get(f.name, f.name)]
        if f.name == "session_id":
            arrays.append(_strings(src, "", 16, 16, True, id_salt))
        elif f.name == "order_id":
            arrays.append(_strings(src, ORDER_ID_PREFIX, 14, 10, False, 0))
        elif f.vocab:
            indices = _primitive(src, field.type.index_type)
            dictionary = pa.array(getattr(vocab, f.vocab), pa.string())
            arrays.append(pa.DictionaryArray.from_arrays(indices, dictionary, safe=False))
        elif f.type.startswith("decimal"):
            arrays.append(_decimal(src))
        elif f.type.startswith("timestamp"):
            arrays.append(pa.Array.from_buffers(field.type, n, [None, pa.py_buffer(src)]))
        elif f.name in _OFFSET:
            shifted = np.where(src >= 0, src + _OFFSET[f.name], -1)
            arrays.append(_primitive(shifted, field.type))
        else:
            arrays.append(_primitive(src, field.type))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
