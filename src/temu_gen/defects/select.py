"""Which rows get a defect: pure functions of (run seed, part, config), so any task can recompute any part's draw.

Invariant: part *k*'s row defects are drawn from the stream (seed, "defects", k) over
positions in the part's *source order* (its spool slices concatenated in key order), never
over its merged order, so a later part that receives part *k*'s duplicates or late rows
recomputes exactly the same draw without merging part *k*. Orphans are decided by a keyed
hash of the order number or user, so every part, and the dimension tables, agree on them
wherever the rows fall.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .section import ROW_DEFECTS, Defects
from ..seeds import derive_seed
from .catalog import CONTRACT_KINDS

DUPLICATE, ID_COLLISION, LATE, CLOCK_SKEW, CONTRACT = range(len(ROW_DEFECTS))
US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
RESEND_MAX_US = 3600 * US_PER_S
"""A re-sent copy (duplicate, id collision) arrives within an hour of the original."""


class Draw(NamedTuple):
    """Part k's row defects, one entry per chosen row, in draw order."""

    pos: np.ndarray
    """int64: the row's position in the part's source order."""
    kind: np.ndarray
    """int8: index into ROW_DEFECTS."""
    later: np.ndarray
    """bool: a duplicate that arrives in the next file."""
    delay_us: np.ndarray
    """int64: how long after the original a copy arrives, or how late a late row is."""
    variant: np.ndarray
    """int64: which way a row breaks (skew: future or epoch; contract: kind and column; collision: the shift)."""


def draw_part(seed: int, index: int, rows: int, d: Defects) -> Draw:
    """The row defects of part ``index`` (``rows`` rows in the clean log)."""
    rng = np.random.Generator(np.random.PCG64(derive_seed(seed, "defects", index)))
    rates = np.array([d.rate(n) for n in ROW_DEFECTS])
    total = float(rates.sum())
    m = int(rng.binomial(rows, total)) if total > 0 and rows > 0 else 0
    pos = np.sort(rng.choice(rows, m, replace=False)).astype(np.int64) if m else np.zeros(0, np.int64)
    kind = rng.choice(len(ROW_DEFECTS), m, p=rates / total).astype(np.int8) if m else np.zeros(0, np.int8)
    later = (kind == DUPLICATE) & (rng.random(m) < d.duplicate_later_file)
    resend = rng.integers(US_PER_S, RESEND_MAX_US, m, dtype=np.int64)
    lo, hi = d.late_days
    late = (rng.uniform(lo, hi, m) * US_PER_DAY).astype(np.int64)
    variant = rng.integers(0, 1 << 40, m, dtype=np.int64)
    return Draw(pos, kind, later, np.where(kind == LATE, late, resend), variant)


def _unit(values: np.ndarray, key: int) -> np.ndarray:
    """A keyed hash of each value as a float in [0, 1) (splitmix64's finaliser)."""
    with np.errstate(over="ignore"):
        x = values.astype(np.uint64) ^ np.uint64(key)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def orphan_orders(seed: int, order_numbers: np.ndarray, rate: float) -> np.ndarray:
    """Which orders (global numbers) never get their order_placed into the log."""
    if rate <= 0:
        return np.zeros(order_numbers.shape, bool)
    return (order_numbers >= 0) & (_unit(order_numbers, derive_seed(seed, "defects/orphan_order")) < rate)


def orphan_users(seed: int, users: np.ndarray, rate: float) -> np.ndarray:
    """Which users (simulation indexes) are missing from the users table."""
    if rate <= 0:
        return np.zeros(users.shape, bool)
    return (users >= 0) & (_unit(users, derive_seed(seed, "defects/orphan_user")) < rate)


def contract_kind(variant: int, applicable: dict[str, bool]) -> str:
    """How a contract violation breaks its row: the drawn kind, or a null in a required column if it cannot apply."""
    kind = CONTRACT_KINDS[variant % len(CONTRACT_KINDS)]
    need = {"negative_quantity": "quantity", "zero_price": "unit_price", "absurd_price": "unit_price"}.get(kind)
    return kind if need is None or applicable.get(need, False) else "null_required"


def late_destinations(ingest_us: np.ndarray, delay_us: np.ndarray, bounds: np.ndarray, sender: int) -> np.ndarray:
    """The part each late row arrives in: the one whose window holds its new arrival time (never before its own)."""
    dest = np.searchsorted(bounds, ingest_us + delay_us, side="right") - 1
    return np.clip(dest, sender, bounds.shape[0] - 1)


def senders_of(part: int, bounds: np.ndarray, max_delay_us: int) -> range:
    """The parts whose late rows may arrive in ``part``: those that end less than the longest delay before it."""
    first = int(np.searchsorted(bounds, bounds[part] - max_delay_us, side="right")) - 1
    return range(max(first, 0), part + 1)
