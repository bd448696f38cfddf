"""The map stage's spool: each shard's columns on local disk, in arrival order, read back by the reduce stage.

Invariant: a shard's files appear under their final names only once complete (written
as temp files and renamed), the reduce reads them a column slice at a time (never the
whole shard at once), and the spool folder is private to one run attempt: the coordinator
creates it empty and removes it when the run commits or fails. Everything in it can be
regenerated from (seed, shard, config). A coordinator killed outright (SIGKILL, the OOM
killer, a power cut) cannot remove it: it is marked with its holder, and the next run on the
same spool root removes the folders of holders that are provably gone.
"""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .files import new_file, temp_path, write_all, write_atomic
from .kernels.codes import WIDE_COLUMNS
from .timeline import TAIL_DAYS, US_PER_HOUR

if TYPE_CHECKING:  # the simulation (numba) is imported only where tasks run
    from .generate import ShardArrays

_INGEST = WIDE_COLUMNS.index("ingest_ts")
HIST_DAYS_PAST = TAIL_DAYS + 60
"""Arrival histograms run this many days past the period; later arrivals share the last bucket."""


class ShardSummary(NamedTuple):
    """What the coordinator learns about one spooled run (a map task writes one or more)."""

    key: int
    """The run's name in the spool: shard * RUNS_PER_SHARD + run, so keys sort in (shard, run) order."""
    rows: int
    sessions: int
    users: int
    orders: int
    hist: np.ndarray
    """int32[buckets]: rows per hour of arrival (ingest_ts), since the period start."""


def hist_buckets(period_days: int) -> int:
    return (period_days + HIST_DAYS_PAST) * 24 + 1


def arrival_bucket(ingest: np.ndarray, start_us: int, buckets: int) -> np.ndarray:
    """The hourly bucket of each arrival time (clipped into [0, buckets))."""
    return np.clip((ingest - start_us) // US_PER_HOUR, 0, buckets - 1)


RUNS_PER_SHARD = 1000


def _name(folder: Path, key: int, part: str) -> Path:
    return folder / f"run-{key:012d}.{part}.npy"


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


def write_shard(folder: Path, key: int, shard: ShardArrays, start_us: int, buckets: int) -> ShardSummary:
    """Spool one sorted run's columns and order times; returns its arrival histogram and counts."""
    _save(_name(folder, key, "wide"), shard.wide)
    _save(_name(folder, key, "narrow"), shard.narrow)
    _save(_name(folder, key, "orders"), shard.order_ts)
    ingest = shard.wide[_INGEST]
    hist = np.bincount(arrival_bucket(ingest, start_us, buckets), minlength=buckets).astype(np.int32)
    return ShardSummary(key, ingest.shape[0], shard.sessions, shard.users, shard.order_ts.shape[0], hist)


def read_orders(folder: Path, key: int) -> np.ndarray:
    return np.load(_name(folder, key, "orders"), allow_pickle=False)


def write_ranks(folder: Path, key: int, ranks: np.ndarray) -> None:
    _save(_name(folder, key, "ranks"), ranks)


class Columns:
    """One spooled column block (``width`` x ``rows``, column-major), read a slice of a column at a time.

    Reads go through ``os.preadv`` into the caller's buffer: no memory map, so what a reduce task reads
    never counts as its resident memory twice, and nothing but the requested bytes is touched.
    """

    def __init__(self, path: Path):
        with open(path, "rb") as f:
            if np.lib.format.read_magic(f) != (1, 0):  # _save writes version 1.0 headers only
                raise OSError(f"{path} is not a spool file of this version")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            self.offset = f.tell()
        if fortran or len(shape) != 2:
            raise OSError(f"{path} is not a column block")
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self.width, self.rows = shape
        self.dtype = np.dtype(dtype)

    def read(self, j: int, lo: int, hi: int, out: np.ndarray) -> None:
        """Rows [lo, hi) of column ``j`` into ``out`` (a contiguous view of hi - lo values)."""
        size = self.dtype.itemsize
        view = memoryview(out).cast("B")
        start = self.offset + (j * self.rows + lo) * size
        while view:
            got = os.preadv(self.fd, [view], start)
            if got <= 0:
                raise OSError(f"spool file ended early (column {j}, rows {lo}-{hi})")
            view, start = view[got:], start + got

    def close(self) -> None:
        os.close(self.fd)


class ShardFiles(NamedTuple):
    """A shard's spooled arrays: column blocks read on demand, and its order numbers."""

    wide: Columns
    narrow: Columns
    ranks: np.ndarray

    def close(self) -> None:
        self.wide.close()
        self.narrow.close()


def open_shard(folder: Path, key: int) -> ShardFiles:
    wide = Columns(_name(folder, key, "wide"))
    try:
        return ShardFiles(wide, Columns(_name(folder, key, "narrow")),
                          np.load(_name(folder, key, "ranks"), allow_pickle=False))
    except BaseException:
        wide.close()
        raise


def shard_path(folder: Path, key: int, part: str) -> Path:
    return _name(folder, key, part)


def fresh(folder: Path) -> Path:
    """An empty spool folder (whatever an earlier attempt left is regenerable, so it goes)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files directly in ``folder`` (a map spool is flat); 0 for what vanished meanwhile."""
    total = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                pass
    return total


HOLDER = ".holder"
"""In a run's scratch folder (the map spool's parent): who uses it (:class:`~temu_gen.sinks.base.Holder`)."""


def claim(folder: Path) -> None:
    """Mark ``folder`` as this process's scratch, so a later run can tell once this process is gone."""
    from .sinks.base import Holder

    write_atomic(folder / HOLDER, Holder.me().to_bytes(), fsync=False)


def sweep(root: Path, keep: Path) -> list[Path]:
    """Remove the scratch folders under ``root`` (but ``keep``) whose holder is provably gone; return them.

    Only folders this package marked are touched, only this user's, and only those of a process that is provably
    no longer running (this host and PID namespace): a folder of a live run, of another host or container (a shared
    --spool-dir), of an older version (no PID namespace recorded) or unmarked stays.
    """
    from .sinks.base import Holder

    removed = []
    try:
        entries = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False) and Path(e.path) != keep]
    except OSError:
        return removed
    for entry in entries:
        try:
            with open(os.path.join(entry.path, HOLDER), "rb") as f:
                holder = Holder.parse(f.read(4096))
        except OSError:
            continue
        if holder is not None and holder.pid_namespace and holder.is_gone() is True and _mine(entry):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _mine(entry: os.DirEntry) -> bool:
    try:
        return entry.stat(follow_symlinks=False).st_uid == os.getuid()
    except OSError:
        return False
