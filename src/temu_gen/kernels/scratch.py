"""The kernels' working memory: one user's scratch arrays and the shard's output buffers.

Invariant: ``Scratch`` and ``Out`` are allocated once per kernel call and passed down
whole, so helpers take a handful of arguments instead of dozens; nothing in them
outlives the call.
"""
from typing import NamedTuple

import numpy as np

from ._jit import jit_alloc
from .codes import MAX_CART, MAX_PENDING_ORDERS, MAX_WISHLIST, N_NARROW, N_WIDE
from .state import N_F, N_P, N_U

# counters of Out.counts
C_ORDERS, C_SESSIONS, C_USERS = 0, 1, 2


class Scratch(NamedTuple):
    st: np.ndarray
    """uint64[1]: the user's random stream."""
    es: np.ndarray
    """uint64[1]: scratch stream for entity lookups (prices)."""
    u: np.ndarray
    f: np.ndarray
    tw: np.ndarray
    """int64[N_WIDE]: the current session's template row (wide part)."""
    tn: np.ndarray
    sw: np.ndarray
    """int64[N_WIDE]: the user's server-side template row."""
    sn: np.ndarray
    cart: np.ndarray
    """int64[MAX_CART, 2]: product, quantity."""
    wish: np.ndarray
    po: np.ndarray
    """int64[MAX_PENDING_ORDERS, N_P]: orders placed this session, fulfilled when it ends."""


class Out(NamedTuple):
    wide: np.ndarray
    narrow: np.ndarray
    order_ts: np.ndarray
    """int64[...]: placement time of each order, by its index in this shard."""
    counts: np.ndarray
    """int64[3]: orders, sessions and users written so far."""


@jit_alloc
def new_scratch():
    return Scratch(np.empty(1, np.uint64), np.empty(1, np.uint64), np.zeros(N_U, np.int64), np.zeros(N_F, np.float64),
                   np.empty(N_WIDE, np.int64), np.empty(N_NARROW, np.int16), np.empty(N_WIDE, np.int64),
                   np.empty(N_NARROW, np.int16), np.zeros((MAX_CART, 2), np.int64), np.zeros(MAX_WISHLIST, np.int64),
                   np.zeros((MAX_PENDING_ORDERS, N_P), np.int64))
