"""Arrow encoding: a part's merged kernel columns become a ``pyarrow.Table`` with the contract's schema.

Invariant: the table's schema is exactly :data:`EVENT_SCHEMA` (built once from
:mod:`temu_gen.model`), nulls are exactly the kernel's ``NULL`` codes (and, for
``user_id``, the rows of a device that has not signed in), ids are keyed bijections of
the run's entities, and buffers are wrapped rather than copied wherever Arrow's layout
allows it. Dictionaries are the run's full vocabularies, so every part of a run has
identical dictionaries.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa

from ..kernels.codes import NARROW_COLUMNS, WIDE_COLUMNS
from ..model import FIELDS, ORDER_ID_PREFIX, ORDER_NUMBER_BASE, PRODUCT_ID_BASE, USER_ID_BASE
from ..seeds import derive_seed
from .schema import DICTIONARY_COLUMNS, EVENT_SCHEMA, UNSORTED_ID_COLUMNS  # noqa: F401 - re-exported

# Output field -> kernel column it is encoded from.
_SOURCE = {"network_type": "network", "unit_price_ngn": "unit_price", "search_query": "search_term",
           "order_total_ngn": "order_total", "discount_ngn": "discount", "attempt_number": "attempt",
           "product_id": "product", "device_brand": "device_brand"}
_W = {n: i for i, n in enumerate(WIDE_COLUMNS)}
_N = {n: i for i, n in enumerate(NARROW_COLUMNS)}


class IdKeys(NamedTuple):
    """The run's keys for its ids: from (seed, 'ids', name), so two runs share no ids."""

    event: int
    device: int
    session: int
    user: int
    product: int

    @classmethod
    def for_run(cls, seed: int) -> IdKeys:
        return cls(*(derive_seed(seed, f"ids/{name}") for name in cls._fields))


def int_dtype(type_: pa.DataType) -> np.dtype:
    """The numpy dtype of an Arrow integer type (``DataType.to_pandas_dtype`` imports pandas on some pyarrow versions)."""
    if not pa.types.is_integer(type_):
        raise TypeError(f"not an Arrow integer type: {type_}")
    return np.dtype(f"{'u' if pa.types.is_unsigned_integer(type_) else 'i'}{type_.bit_width // 8}")


def _validity(valid: np.ndarray) -> tuple[pa.Buffer | None, int]:
    nulls = int(valid.size - np.count_nonzero(valid))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def _strings(n: int, built, valid: np.ndarray) -> pa.Array:
    offsets, data = built
    validity, nulls = _validity(valid)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), validity, nulls)


def _decimal(kobo: np.ndarray) -> pa.Array:
    # decimal128 is two little-endian int64 words: the value, then its sign extension
    words = np.empty((kobo.size, 2), dtype=np.int64)
    words[:, 0] = kobo
    words[:, 1] = kobo >> 63
    validity, nulls = _validity(kobo >= 0)
    return pa.Array.from_buffers(pa.decimal128(18, 2), kobo.size, [validity, pa.py_buffer(words)], nulls)


def _primitive(values: np.ndarray, type_: pa.DataType, valid: np.ndarray | None = None) -> pa.Array:
    validity, nulls = _validity(values >= 0 if valid is None else valid)
    return pa.Array.from_buffers(type_, values.size, [validity, pa.py_buffer(np.ascontiguousarray(values))], nulls)


def _column(name: str, wide: np.ndarray, narrow: np.ndarray) -> np.ndarray:
    src = _SOURCE.get(name, name)
    return wide[_W[src]] if src in _W else narrow[_N[src]]


def _ids(name: str, wide: np.ndarray, narrow: np.ndarray, keys: IdKeys) -> pa.Array:
    from ..kernels.ids import hex_ids, numbered_ids, uuid_ids  # numba: only where a table is encoded

    n = wide.shape[1]
    user = wide[_W["user"]]
    if name == "event_id":
        return _strings(n, uuid_ids(user, wide[_W["event_seq"]], keys.event), np.ones(n, bool))
    if name == "device_id":
        device = narrow[_N["device"]].astype(np.int64)
        return _strings(n, hex_ids(user, device, keys.device), device >= 0)
    if name == "session_id":
        session = wide[_W["session_seq"]]
        return _strings(n, hex_ids(user, session, keys.session), session >= 0)
    order = wide[_W["order"]]
    return _strings(n, numbered_ids(np.where(order >= 0, order + ORDER_NUMBER_BASE, -1),
                                    np.frombuffer(ORDER_ID_PREFIX.encode(), np.uint8), 12), order >= 0)


def encode_part(wide: np.ndarray, narrow: np.ndarray, vocab, keys: IdKeys, schema: pa.Schema = EVENT_SCHEMA) -> pa.Table:
    """Merged columns (``wide`` int64 and ``narrow`` int16 blocks, one row per event) as a table of ``schema``.

    ``schema`` is :data:`EVENT_SCHEMA` or the same columns all nullable (runs with contract violations).
    """
    from ..kernels.ids import permuted

    n = wide.shape[1]
    arrays = []
    for f, field in zip(FIELDS, schema):
        if f.name in ("event_id", "device_id", "session_id", "order_id"):
            arrays.append(_ids(f.name, wide, narrow, keys))
        elif f.name == "user_id":
            signed_in = narrow[_N["signed_in"]] == 1
            arrays.append(_primitive(permuted(wide[_W["user"]], keys.user, USER_ID_BASE), field.type, signed_in))
        elif f.name == "product_id":
            arrays.append(_primitive(permuted(wide[_W["product"]], keys.product, PRODUCT_ID_BASE), field.type))
        elif f.vocab:
            codes = _column(f.name, wide, narrow).astype(int_dtype(field.type.index_type))
            indices = _primitive(codes, field.type.index_type)
            dictionary = pa.array(getattr(vocab, f.vocab), pa.string())
            arrays.append(pa.DictionaryArray.from_arrays(indices, dictionary, safe=False))
        elif f.type.startswith("decimal"):
            arrays.append(_decimal(_column(f.name, wide, narrow)))
        elif f.type.startswith("timestamp"):
            arrays.append(pa.Array.from_buffers(field.type, n, [None, pa.py_buffer(_column(f.name, wide, narrow))]))
        else:
            values = _column(f.name, wide, narrow)
            # null is the kernels' -1 only: a labelled defect may write a negative quantity
            arrays.append(_primitive(values.astype(int_dtype(field.type)), field.type, values != -1))
    return pa.Table.from_arrays(arrays, schema=schema)
