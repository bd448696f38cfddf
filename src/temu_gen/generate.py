"""Chunk driver: allocate the columns, run the kernels, cut to size, sort by time.

Invariant: ``generate_chunk(spec, ctx)`` is a pure function of the chunk spec and the
run's :class:`GenContext`; it returns exactly ``spec.n_rows`` rows ordered by
``event_ts`` (ties keep journey order, since the sort is stable).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .config import RunConfig
from .kernels.columns import split_columns
from .kernels.sessions import simulate_journeys
from .kernels.codes import COLUMNS, JOURNEY_SLACK, N_NARROW, N_WIDE, NARROW_COLUMNS, WIDE_COLUMNS
from .params import KernelParams, Vocabulary, build_params
from .plan import ChunkSpec
from .seeds import derive_seed


# Narrow integer types keep a 500k-row chunk's columns near 60 MB once split out.
COLUMN_DTYPES = {
    "event_type": np.int8, "event_ts": np.int64, "ingest_ts": np.int64, "session_seq": np.int64,
    "user_idx": np.int64, "platform": np.int8, "device_brand": np.int8, "app_version": np.int8,
    "carrier": np.int8, "network": np.int8, "traffic_source": np.int8, "state": np.int8, "city": np.int16,
    "product_idx": np.int64, "category": np.int8, "unit_price": np.int64, "quantity": np.int16,
    "search_term": np.int16, "order_seq": np.int64, "order_total": np.int64, "discount": np.int64,
    "payment_method": np.int8, "payment_provider": np.int8, "attempt": np.int8, "failure_reason": np.int8,
    "status_reason": np.int8, "logistics_partner": np.int8,
}
assert tuple(COLUMN_DTYPES) == COLUMNS
assert set(COLUMNS) == set(WIDE_COLUMNS) | set(NARROW_COLUMNS)
assert all(COLUMN_DTYPES[c] == np.int64 for c in WIDE_COLUMNS)
_PICKS16 = np.array([j for j, c in enumerate(NARROW_COLUMNS) if COLUMN_DTYPES[c] == np.int16], dtype=np.int64)
_PICKS8 = np.array([j for j, c in enumerate(NARROW_COLUMNS) if COLUMN_DTYPES[c] == np.int8], dtype=np.int64)
_EVENT_TS = WIDE_COLUMNS.index("event_ts")


class GenContext(NamedTuple):
    """Per-run inputs shared by every chunk; built once per process."""

    params: KernelParams
    vocab: Vocabulary
    user_seed: int
    product_seed: int
    id_salt: int


class ChunkArrays(NamedTuple):
    """One generated chunk, sorted by ``event_ts``."""

    spec: ChunkSpec
    columns: dict[str, np.ndarray]
    """Kernel column name -> array of ``spec.n_rows`` values (codes, NULL = -1)."""
    sessions: int
    orders: int


def make_context(cfg: RunConfig, seed: int) -> GenContext:
    """Derive the run's entity seeds and flatten its config for the kernels."""
    params, vocab = build_params(cfg)
    return GenContext(params, vocab, derive_seed(seed, "users"), derive_seed(seed, "products"),
                      derive_seed(seed, "ids"))


def allocate(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's row-major outputs (int64 and int16) for ``n_rows`` plus the slack one cut journey may need."""
    size = n_rows + JOURNEY_SLACK
    return np.empty((size, N_WIDE), dtype=np.int64), np.empty((size, N_NARROW), dtype=np.int16)


def generate_chunk(spec: ChunkSpec, ctx: GenContext) -> ChunkArrays:
    """Simulate chunk ``spec`` and return exactly ``spec.n_rows`` rows in time order."""
    wide, narrow = allocate(spec.n_rows)
    q0, q1 = spec.quantiles
    _, sessions, orders = simulate_journeys(spec.session_seed, ctx.user_seed, ctx.product_seed, spec.index,
                                            q0, q1, spec.n_rows, ctx.params, wide, narrow)
    order = np.argsort(wide[: spec.n_rows, _EVENT_TS], kind="stable")
    out64, out16, out8 = split_columns(wide, narrow, order, _PICKS16, _PICKS8)
    del wide, narrow  # the row matrices are the chunk's largest allocation
    columns = dict(zip(WIDE_COLUMNS, out64))
    columns.update(zip((NARROW_COLUMNS[j] for j in _PICKS16), out16))
    columns.update(zip((NARROW_COLUMNS[j] for j in _PICKS8), out8))
    return ChunkArrays(spec, columns, sessions, orders)
