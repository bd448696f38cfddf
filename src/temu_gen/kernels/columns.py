"""Row matrix to typed columns: gather rows in sorted order and split them by width.

Invariant: output column ``j`` of each group equals ``rows[order, picks[j]]`` cast to
the group's dtype, and nothing else; one pass over the rows, contiguous writes.
"""
import numpy as np

from ._jit import jit


@jit
def split_columns(rows, order, picks64, picks16, picks8):
    """Gather ``rows[order]`` into three column-major blocks (int64, int16, int8)."""
    n = order.shape[0]
    out64 = np.empty((picks64.shape[0], n), np.int64)
    out16 = np.empty((picks16.shape[0], n), np.int16)
    out8 = np.empty((picks8.shape[0], n), np.int8)
    for i in range(n):
        src = rows[order[i]]
        for j in range(picks64.shape[0]):
            out64[j, i] = src[picks64[j]]
        for j in range(picks16.shape[0]):
            out16[j, i] = src[picks16[j]]
        for j in range(picks8.shape[0]):
            out8[j, i] = src[picks8[j]]
    return out64, out16, out8
