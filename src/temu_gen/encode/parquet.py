"""Parquet writing: one table, one file, written as a fresh temp file the caller then delivers.

Invariant: the bytes depend only on the table, the options and the pyarrow version, so
equal chunks give byte-identical files; the file is fully written and fsynced before
its size and SHA-256 are returned, and it is created with O_EXCL|O_NOFOLLOW under a
unique temp name, so nothing is written through a planted link.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from ..files import HashingWriter, new_file, temp_path
from .schema import DICTIONARY_COLUMNS, EVENT_SCHEMA, UNSORTED_ID_COLUMNS


@dataclass(frozen=True)
class ParquetOptions:
    """How chunks are written; the defaults were chosen by measurement (bench/RESULTS.md)."""

    compression: str = "zstd"
    compression_level: int | None = 1
    row_group_size: int = 500_000
    dictionary_columns: tuple[str, ...] = ()
    delta_columns: tuple[str, ...] = ()
    """Sorted or near-sorted integers: DELTA_BINARY_PACKED is smaller and faster than PLAIN + codec."""
    delta_length_columns: tuple[str, ...] = ()
    """Fixed-width random strings: DELTA_LENGTH_BYTE_ARRAY drops the per-value lengths and lets zstd see only
    hex digits (event_id: 60 ms instead of 173 ms per 500k rows, 7% smaller, measured)."""
    statistics_columns: tuple[str, ...] | None = None
    """Columns with min/max statistics (None = all); random id strings gain nothing from them."""

    def kwargs(self) -> dict:
        codec = None if self.compression == "none" else self.compression
        level = self.compression_level if codec in ("zstd", "gzip") else None
        return dict(compression=codec or "none", compression_level=level, row_group_size=self.row_group_size,
                    use_dictionary=list(self.dictionary_columns) or False, store_decimal_as_integer=True,
                    column_encoding={**{c: "DELTA_BINARY_PACKED" for c in self.delta_columns},
                                     **{c: "DELTA_LENGTH_BYTE_ARRAY" for c in self.delta_length_columns}} or None,
                    write_statistics=True if self.statistics_columns is None else list(self.statistics_columns))


def event_parquet_options(compression: str, compression_level: int | None, row_group_size: int) -> ParquetOptions:
    """The measured defaults for event parts (bench/RESULTS.md) with the run's codec and row group size."""
    return ParquetOptions(compression, compression_level, row_group_size, DICTIONARY_COLUMNS,
                          delta_columns=("event_ts", "ingest_ts"), delta_length_columns=("event_id",),
                          # min/max only where a reader can prune with them: not on random ids, and not on
                          # dictionary columns, whose few values all occur in every row group (-22% write time)
                          statistics_columns=tuple(n for n in EVENT_SCHEMA.names
                                                   if n not in UNSORTED_ID_COLUMNS and n not in DICTIONARY_COLUMNS))


def write_parquet(tables: Iterable[pa.Table], schema: pa.Schema, folder: Path, name: str, options: ParquetOptions,
                  metadata: dict[str, str]) -> tuple[Path, int, str, int]:
    """Write ``tables`` (slices of one part, in order) as a new temp file for ``name`` in ``folder``.

    Returns (temp path, bytes, sha256, rows). The file streams to disk as pyarrow encodes it (no second copy
    of the part in memory; slices bound what is encoded at once), through a file descriptor opened
    O_EXCL|O_NOFOLLOW, and is fsynced before its digest is returned.
    """
    schema = schema.with_metadata({**(schema.metadata or {}), **metadata})
    kwargs = options.kwargs()
    row_group_size = kwargs.pop("row_group_size")
    path = temp_path(folder, name)
    rows = 0
    with new_file(path) as fd:
        sink = HashingWriter(fd)
        with pa.PythonFile(io.BufferedWriter(sink, buffer_size=1 << 20), mode="w") as out, \
                pq.ParquetWriter(out, schema, **kwargs) as writer:
            for table in tables:
                writer.write_table(table, row_group_size=row_group_size)
                rows += table.num_rows
                del table  # before the next slice is made: one slice in memory, not two
    return path, sink.size, sink.sha.hexdigest(), rows
