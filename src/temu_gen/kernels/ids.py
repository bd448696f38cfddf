"""Identifier strings written straight into Arrow string buffers.

Invariant: ids are bijective in their integer source, so distinct sources give
distinct strings: ``event_id`` and ``order_id`` are fixed-width numbers, and a
``session_id`` is the splitmix64 scramble (a bijection) of its session number.
"""
import numpy as np

from ._jit import jit
from .sampling import mix64

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@jit
def format_ids(values, prefix, digits, base, scramble, salt):
    """Format ``values`` as ``prefix`` + ``digits`` digits in ``base`` (10 or 16).

    Negative values are nulls: zero-length strings whose validity the caller masks.
    With ``scramble`` the value is first mixed with ``salt`` through splitmix64.
    Returns ``(offsets int32[n+1], data uint8[...])`` laid out as an Arrow string array.
    """
    n = values.shape[0]
    width = prefix.shape[0] + digits
    offsets = np.empty(n + 1, np.int32)
    valid = 0
    for i in range(n):
        if values[i] >= 0:
            valid += 1
    data = np.empty(valid * width, np.uint8)
    pos = 0
    offsets[0] = 0
    for i in range(n):
        v = values[i]
        if v >= 0:
            for j in range(prefix.shape[0]):
                data[pos + j] = prefix[j]
            if scramble:
                x = mix64(np.uint64(v) ^ np.uint64(salt))
                for j in range(digits - 1, -1, -1):
                    data[pos + prefix.shape[0] + j] = _HEX[x & np.uint64(15)]
                    x = x >> np.uint64(4)
            else:
                x = np.int64(v)
                for j in range(digits - 1, -1, -1):
                    data[pos + prefix.shape[0] + j] = _HEX[x % base]
                    x = x // base
            pos += width
        offsets[i + 1] = pos
    return offsets, data
