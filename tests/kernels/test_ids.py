"""Id formatting: fixed width, unique, null-aware, same as Python."""
import numpy as np

from temu_gen.kernels.ids import format_ids


def _strings(offsets, data):
    return [bytes(data[offsets[i]:offsets[i + 1]]).decode() for i in range(len(offsets) - 1)]


def test_decimal_and_hex_formats():
    vals = np.array([0, 5, -1, 123456789012], dtype=np.int64)
    off, data = format_ids(vals, np.frombuffer(b"PO-", np.uint8), 14, 10, False, 0)
    assert _strings(off, data) == ["PO-00000000000000", "PO-00000000000005", "", "PO-00123456789012"]
    off, data = format_ids(vals, np.frombuffer(b"ab", np.uint8), 12, 16, False, 0)
    assert _strings(off, data)[3] == "ab" + format(123456789012, "012x")


def test_scrambled_ids_are_unique_and_match_python():
    vals = np.arange(50_000, dtype=np.int64)
    off, data = format_ids(vals, np.zeros(0, np.uint8), 16, 16, True, 12345)
    s = _strings(off, data)
    assert len(set(s)) == len(s) and all(len(x) == 16 for x in s)
    with np.errstate(over="ignore"):
        off2, data2 = format_ids.py_func(vals[:100], np.zeros(0, np.uint8), 16, 16, True, 12345)
    assert _strings(off2, data2) == s[:100]
