"""Row matrices to columns, and columns merged back into one arrival order.

Invariant: output column ``j`` equals the kernel matrix's column ``j`` taken in ``order``,
and nothing else; one pass, contiguous writes.
"""
import numpy as np

from ._jit import jit_alloc


@jit_alloc
def gather_columns(wide, narrow, order):
    """``wide[order].T`` and ``narrow[order].T`` as contiguous column-major blocks."""
    n = order.shape[0]
    out64 = np.empty((wide.shape[1], n), np.int64)
    out16 = np.empty((narrow.shape[1], n), np.int16)
    for i in range(n):
        k = order[i]
        for j in range(wide.shape[1]):
            out64[j, i] = wide[k, j]
        for j in range(narrow.shape[1]):
            out16[j, i] = narrow[k, j]
    return out64, out16

