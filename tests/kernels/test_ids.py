"""Ids: keyed bijections, fixed layouts, nulls where the source is absent."""
import re

import numpy as np

from temu_gen.kernels.ids import hex_ids, numbered_ids, permute40, permuted, uuid_ids


def _strings(offsets, data):
    return [bytes(data[offsets[i]:offsets[i + 1]]).decode() for i in range(len(offsets) - 1)]


def test_permutation_is_a_bijection_that_hides_order():
    x = np.arange(200_000, dtype=np.int64)
    y = permuted(x, 12345, 0)
    assert len(np.unique(y)) == len(y) and (y < 2**40).all()
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.01  # ids reveal nothing of the generation order
    with np.errstate(over="ignore"):
        assert permute40.py_func(7, 99) == permute40(7, 99)
    assert permuted(x[:5], 12346, 0).tolist() != y[:5].tolist()
    assert permuted(np.array([-1, 3]), 1, 100)[0] == -1


def test_uuid_layout_and_uniqueness():
    users = np.repeat(np.arange(500, dtype=np.int64), 200)
    seqs = np.tile(np.arange(200, dtype=np.int64), 500)
    s = _strings(*uuid_ids(users, seqs, 777))
    assert len(set(s)) == len(s)
    pattern = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    assert all(pattern.fullmatch(x) for x in s[:1000])


def test_hex_and_numbered_ids():
    a = np.array([1, 1, 2, 2], np.int64)
    b = np.array([0, 1, 0, -1], np.int64)
    s = _strings(*hex_ids(a, b, 5))
    assert len(set(s[:3])) == 3 and all(len(x) == 16 for x in s[:3]) and s[3] == ""
    s = _strings(*numbered_ids(np.array([5, -1, 100_000_000_123]), np.frombuffer(b"PO-", np.uint8), 12))
    assert s == ["PO-000000000005", "", "PO-100000000123"]
