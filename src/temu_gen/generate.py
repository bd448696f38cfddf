"""The map stage's driver: simulate a shard of users into columns sorted by arrival (``ingest_ts``).

Invariant: ``simulate_shard(shard, ctx)`` is a pure function of the shard's user range
and the run's :class:`GenContext`: the kernels write every row of every user of the
shard (growing their buffers as needed), and the rows come back as typed columns in
(``ingest_ts``, write order) order, the order the reduce stage merges them in.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .kernels.catalog import ProductTable, product_table
from .kernels.codes import MAX_USER_ROWS, N_NARROW, N_WIDE, WIDE_COLUMNS
from .kernels.columns import gather_columns
from .kernels.lifetime import simulate_users
from .params import Params, Vocabulary, build_params
from .seeds import derive_seed

_INGEST = WIDE_COLUMNS.index("ingest_ts")


class GenContext(NamedTuple):
    """Per-run inputs shared by every shard; built once per process."""

    params: Params
    vocab: Vocabulary
    products: ProductTable
    user_seed: int
    id_salt: int


class ShardArrays(NamedTuple):
    """One simulated shard: columns in arrival order, and the placement time of each of its orders."""

    wide: np.ndarray
    """int64[N_WIDE, rows], column-major."""
    narrow: np.ndarray
    """int16[N_NARROW, rows], column-major."""
    order_ts: np.ndarray
    """int64[orders]: order k of this shard was placed at order_ts[k]."""
    sessions: int
    users: int


def make_context(cfg, seed: int) -> GenContext:
    """Derive the run's entity seeds, flatten its config, and draw the product table."""
    params, vocab = build_params(cfg)
    cp = params.catalog
    products = product_table(cp, derive_seed(seed, "products"), cp.per_category * len(cp.cat_mu))
    return GenContext(params, vocab, products, derive_seed(seed, "users"), derive_seed(seed, "ids"))


def simulate_shard(u0: int, u1: int, ctx: GenContext, rows_hint: int = 0) -> ShardArrays:
    """Simulate users [u0, u1) and return their rows sorted by arrival."""
    cap = max(rows_hint + rows_hint // 2, 2 * MAX_USER_ROWS)  # users vary: room for 1.5x the hint
    wide = np.empty((cap, N_WIDE), np.int64)
    narrow = np.empty((cap, N_NARROW), np.int16)
    order_ts = np.empty(cap // 4, np.int64)
    counts = np.zeros(3, np.int64)
    r, i = 0, u0
    while True:
        r, i = simulate_users(ctx.params, ctx.user_seed, ctx.products, i, u1, wide, narrow, order_ts, counts, r)
        if i >= u1:
            break
        wide, narrow = _grow(wide, r), _grow(narrow, r)
        order_ts = _grow(order_ts, counts[0])
    order = np.argsort(wide[:r, _INGEST], kind="stable")
    w, n = gather_columns(wide, narrow, order)
    del wide, narrow
    return ShardArrays(w, n, order_ts[: counts[0]].copy(), int(counts[1]), int(counts[2]))


def simulate_runs(u0: int, u1: int, ctx: GenContext, capacity: int):
    """Users [u0, u1) as sorted runs of at most ``capacity`` rows each (plus one user's worth).

    A map task's memory is this fixed buffer, whatever the users do: when it fills, the rows so far become
    one run (sorted, returned) and the next users start a new one. Yields :class:`ShardArrays`.
    """
    cap = max(capacity, 0) + MAX_USER_ROWS
    wide = np.empty((cap, N_WIDE), np.int64)
    narrow = np.empty((cap, N_NARROW), np.int16)
    order_ts = np.empty(cap // 2, np.int64)
    i = u0
    while i < u1:
        counts = np.zeros(3, np.int64)
        first = i
        r, i = simulate_users(ctx.params, ctx.user_seed, ctx.products, i, u1, wide, narrow, order_ts, counts, 0)
        assert i > first, "a buffer smaller than one user's rows"
        order = np.argsort(wide[:r, _INGEST], kind="stable")
        w, n = gather_columns(wide, narrow, order)
        yield ShardArrays(w, n, order_ts[: counts[0]].copy(), int(counts[1]), int(counts[2]))


def _grow(a: np.ndarray, used: int) -> np.ndarray:
    out = np.empty((a.shape[0] * 3 // 2,) + a.shape[1:], a.dtype)
    out[:used] = a[:used]
    return out


def user_traits(ctx: GenContext, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each user's drawn traits (``kernels.state`` U_* and F_* slots), the same draw their simulation used."""
    from .kernels.users import user_traits as kernel

    p = ctx.params
    return kernel(p.time, p.users, ctx.user_seed, np.ascontiguousarray(users, np.int64))


def price_history(ctx: GenContext, times: np.ndarray) -> np.ndarray:
    """int64[products, times]: every product's shelf price (kobo) at each time, as the simulation priced it."""
    from .kernels.catalog import price_grid

    return price_grid(ctx.params.catalog, ctx.products, np.ascontiguousarray(times, np.int64))
