"""The map stage's spool: each shard's columns on local disk, in arrival order, read back by the reduce stage.

Invariant: a shard's files appear under their final names only once complete (written
as temp files and renamed), they are read only through memory maps (slices, never the
whole shard), and the spool folder is private to one run attempt: the coordinator
creates it empty and removes it when the run commits or fails. Everything in it can be
regenerated from (seed, shard, config).
"""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .files import new_file, temp_path, write_all
from .generate import ShardArrays
from .kernels.codes import WIDE_COLUMNS
from .timeline import TAIL_DAYS, US_PER_HOUR

_INGEST = WIDE_COLUMNS.index("ingest_ts")
HIST_DAYS_PAST = TAIL_DAYS + 60
"""Arrival histograms run this many days past the period; later arrivals share the last bucket."""


class ShardSummary(NamedTuple):
    """What the coordinator learns from one map task."""

    index: int
    rows: int
    sessions: int
    users: int
    orders: int
    hist: np.ndarray
    """int64[buckets]: rows per hour of arrival (ingest_ts), since the period start."""


def hist_buckets(period_days: int) -> int:
    return (period_days + HIST_DAYS_PAST) * 24 + 1


def arrival_bucket(ingest: np.ndarray, start_us: int, buckets: int) -> np.ndarray:
    """The hourly bucket of each arrival time (clipped into [0, buckets))."""
    return np.clip((ingest - start_us) // US_PER_HOUR, 0, buckets - 1)


def _name(folder: Path, index: int, part: str) -> Path:
    return folder / f"shard-{index:06d}.{part}.npy"


def _save(path: Path, array: np.ndarray) -> None:
    """np.save, written with os.write so a full disk raises ENOSPC, not numpy's 'N requested and M written'."""
    tmp = temp_path(path.parent, path.name)
    array = np.ascontiguousarray(array)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    with new_file(tmp, fsync=False) as fd:  # scratch: regenerable, so never worth an fsync
        write_all(fd, header.getvalue())
        write_all(fd, array.reshape(-1).view(np.uint8))
    os.replace(tmp, path)


def write_shard(folder: Path, index: int, shard: ShardArrays, start_us: int, buckets: int) -> ShardSummary:
    """Spool one shard's columns and order times; returns its arrival histogram and counts."""
    _save(_name(folder, index, "wide"), shard.wide)
    _save(_name(folder, index, "narrow"), shard.narrow)
    _save(_name(folder, index, "orders"), shard.order_ts)
    ingest = shard.wide[_INGEST]
    hist = np.bincount(arrival_bucket(ingest, start_us, buckets), minlength=buckets).astype(np.int64)
    return ShardSummary(index, ingest.shape[0], shard.sessions, shard.users, shard.order_ts.shape[0], hist)


def read_orders(folder: Path, index: int) -> np.ndarray:
    return np.load(_name(folder, index, "orders"), allow_pickle=False)


def write_ranks(folder: Path, index: int, ranks: np.ndarray) -> None:
    _save(_name(folder, index, "ranks"), ranks)


class ShardFiles(NamedTuple):
    """A shard's spooled arrays, memory-mapped."""

    wide: np.ndarray
    narrow: np.ndarray
    ranks: np.ndarray


def open_shard(folder: Path, index: int) -> ShardFiles:
    return ShardFiles(*(np.load(_name(folder, index, p), mmap_mode="r", allow_pickle=False)
                        for p in ("wide", "narrow", "ranks")))


def ingest_column(folder: Path, index: int) -> np.ndarray:
    return np.load(_name(folder, index, "wide"), mmap_mode="r", allow_pickle=False)[_INGEST]


def fresh(folder: Path) -> Path:
    """An empty spool folder (whatever an earlier attempt left is regenerable, so it goes)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
