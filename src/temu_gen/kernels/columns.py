"""Row matrices to typed columns: gather rows in sorted order and split them by width.

Invariant: output column ``j`` of each block equals the kernel matrix's column, taken in
``order`` and cast to the block's dtype, and nothing else; one pass, contiguous writes.
"""
import numpy as np

from ._jit import jit


@jit
def split_columns(wide, narrow, order, picks16, picks8):
    """Gather ``wide[order]`` whole (int64) and ``narrow[order]`` into int16 and int8 column blocks."""
    n = order.shape[0]
    out64 = np.empty((wide.shape[1], n), np.int64)
    out16 = np.empty((picks16.shape[0], n), np.int16)
    out8 = np.empty((picks8.shape[0], n), np.int8)
    for i in range(n):
        k = order[i]
        for j in range(wide.shape[1]):
            out64[j, i] = wide[k, j]
        for j in range(picks16.shape[0]):
            out16[j, i] = narrow[k, picks16[j]]
        for j in range(picks8.shape[0]):
            out8[j, i] = narrow[k, picks8[j]]
    return out64, out16, out8
