"""Identifiers: opaque, unique ids written straight into Arrow string buffers, and keyed permutations.

Invariant: every id is a bijection of its integer source under the run's key, so
distinct sources give distinct ids and no id reveals the order in which its entity
was generated, or how popular it is: ``permute40`` is a 4-round Feistel network on
40 bits; hex ids scramble (entity, sub-index) pairs through splitmix64, itself a
bijection; ``order_id`` is the one deliberately ordered id, a running number.
"""
import numpy as np

from ._jit import jit, jit_alloc
from .sampling import mix64

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_MASK20 = np.uint64((1 << 20) - 1)
_S20 = np.uint64(20)


@jit
def permute40(x, key):
    """A keyed bijection of [0, 2**40): a 4-round Feistel network with splitmix64 rounds."""
    left = (np.uint64(x) >> _S20) & _MASK20
    right = np.uint64(x) & _MASK20
    for k in range(4):
        f = mix64(right ^ (np.uint64(key) + np.uint64(k) * np.uint64(0x9E3779B97F4A7C15))) & _MASK20
        left, right = right, left ^ f
    return np.int64((left << _S20) | right)


@jit
def pair_key(a, b, salt):
    """64 well-mixed bits of (a, b): a bijection of ``b`` for fixed ``a`` and ``salt``."""
    return mix64(mix64(np.uint64(a) ^ np.uint64(salt)) + np.uint64(b) * np.uint64(0x9E3779B97F4A7C15))


@jit
def _hex_into(data, pos, x, digits):
    for j in range(digits - 1, -1, -1):
        data[pos + j] = _HEX[x & np.uint64(15)]
        x = x >> np.uint64(4)


@jit_alloc
def hex_ids(a, b, salt):
    """Strings of 16 hex digits from ``pair_key(a[i], b[i], salt)``; rows with ``b < 0`` are nulls.

    Returns ``(offsets int32[n+1], data uint8[...])`` laid out as an Arrow string array.
    """
    n = a.shape[0]
    offsets = np.empty(n + 1, np.int32)
    valid = 0
    for i in range(n):
        if b[i] >= 0:
            valid += 1
    data = np.empty(valid * 16, np.uint8)
    pos = 0
    offsets[0] = 0
    for i in range(n):
        if b[i] >= 0:
            _hex_into(data, pos, pair_key(a[i], b[i], salt), 16)
            pos += 16
        offsets[i + 1] = pos
    return offsets, data


@jit_alloc
def uuid_ids(a, b, salt):
    """UUID-shaped strings (version 4 layout) from (a[i], b[i]): 8-4-4-4-12 hex digits.

    The first 64 bits are ``pair_key(a, b, salt)`` (a bijection of b for fixed a, so ids of
    one user never collide); the version nibble is fixed and the last 64 bits are a
    second mix, so ids look like any client-made UUID.
    """
    n = a.shape[0]
    offsets = np.empty(n + 1, np.int32)
    data = np.empty(n * 36, np.uint8)
    dash = np.uint8(45)
    for i in range(n):
        hi = pair_key(a[i], b[i], salt)
        lo = mix64(hi ^ np.uint64(salt))
        p = i * 36
        _hex_into(data, p, hi >> np.uint64(32), 8)
        data[p + 8] = dash
        _hex_into(data, p + 9, (hi >> np.uint64(16)) & np.uint64(0xFFFF), 4)
        data[p + 13] = dash
        _hex_into(data, p + 14, (hi & np.uint64(0x0FFF)) | np.uint64(0x4000), 4)
        data[p + 18] = dash
        _hex_into(data, p + 19, ((lo >> np.uint64(48)) & np.uint64(0x3FFF)) | np.uint64(0x8000), 4)
        data[p + 23] = dash
        _hex_into(data, p + 24, lo & np.uint64(0xFFFFFFFFFFFF), 12)
        offsets[i] = p
    offsets[n] = n * 36
    return offsets, data


@jit_alloc
def numbered_ids(values, prefix, digits):
    """``prefix`` + ``values[i]`` as zero-padded decimal; negative values are nulls (zero-length)."""
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
            x = np.int64(v)
            for j in range(digits - 1, -1, -1):
                data[pos + prefix.shape[0] + j] = _HEX[x % 10]
                x = x // 10
            pos += width
        offsets[i + 1] = pos
    return offsets, data


@jit_alloc
def permuted(values, key, base):
    """``base + permute40(values[i], key)``, or -1 where ``values[i] < 0`` (null)."""
    out = np.empty(values.shape[0], np.int64)
    for i in range(values.shape[0]):
        out[i] = base + permute40(values[i], key) if values[i] >= 0 else -1
    return out
