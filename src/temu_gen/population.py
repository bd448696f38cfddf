"""Sizing the population for a run of N events, and cutting it into shards of users.

Invariant: the population is the first U users of an endless, deterministic sequence
(user *i* is the same person whatever U is), and U is sized from a pilot of the first
``pilot_users`` users, so it depends only on (seed, config, N): the run simulates enough
users for N events plus a margin, then keeps the first N arrivals. If the simulated
users still fall short, more users are added after the last shard (the earlier shards
are unchanged), until the log holds N events.
"""
from __future__ import annotations

import math
from typing import NamedTuple


class ShardSpec(NamedTuple):
    """Users [u0, u1) simulated together by one map task."""

    index: int
    u0: int
    u1: int
    rows_hint: int


class Sizing(NamedTuple):
    """What the pilot says about the population a run needs."""

    events_per_user: float
    users_per_shard: int
    users: int


def size_population(events: int, pilot_rows: int, pilot_users: int, margin: float, target_shard_events: int) -> Sizing:
    """Users needed for ``events`` (plus ``margin``), and how many each shard simulates."""
    per_user = max(pilot_rows / pilot_users, 1.0)
    users = max(math.ceil(events * (1.0 + margin) / per_user), pilot_users)
    per_shard = max(min(math.ceil(target_shard_events / per_user), users), 1)
    return Sizing(per_user, per_shard, users)


def shards(first_user: int, users_end: int, per_shard: int, first_index: int, per_user: float) -> list[ShardSpec]:
    """Shards covering users [first_user, users_end), numbered from ``first_index``."""
    out = []
    for k, u0 in enumerate(range(first_user, users_end, per_shard)):
        u1 = min(u0 + per_shard, users_end)
        out.append(ShardSpec(first_index + k, u0, u1, int((u1 - u0) * per_user)))
    return out


def more_users(events: int, have_rows: int, users: int, per_user_measured: float, margin: float) -> int:
    """How many users to add when ``users`` users gave only ``have_rows`` of ``events`` rows."""
    missing = events - have_rows
    return max(math.ceil(missing * (1.0 + margin) / max(per_user_measured, 1.0)), max(users // 100, 16))
