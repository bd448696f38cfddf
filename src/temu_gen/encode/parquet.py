"""Parquet writing: one table, one file, written as a fresh temp file the caller then delivers.

Invariant: the bytes depend only on the table, the options and the pyarrow version, so
equal chunks give byte-identical files; the file is fully written and fsynced before
its size and SHA-256 are returned, and it is created with O_EXCL|O_NOFOLLOW under a
unique temp name, so nothing is written through a planted link.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..files import temp_path, write_new
from .arrow import DICTIONARY_COLUMNS, EVENT_SCHEMA, UNSORTED_ID_COLUMNS


@dataclass(frozen=True)
class ParquetOptions:
    """How chunks are written; the defaults were chosen by measurement (bench/RESULTS.md)."""

    compression: str = "zstd"
    compression_level: int | None = 1
    row_group_size: int = 500_000
    dictionary_columns: tuple[str, ...] = ()
    delta_columns: tuple[str, ...] = ()
    """Sorted or near-sorted integers: DELTA_BINARY_PACKED is smaller and faster than PLAIN + codec."""
    statistics_columns: tuple[str, ...] | None = None
    """Columns with min/max statistics (None = all); random id strings gain nothing from them."""

    def kwargs(self) -> dict:
        codec = None if self.compression == "none" else self.compression
        level = self.compression_level if codec in ("zstd", "gzip") else None
        return dict(compression=codec or "none", compression_level=level, row_group_size=self.row_group_size,
                    use_dictionary=list(self.dictionary_columns) or False, store_decimal_as_integer=True,
                    column_encoding={c: "DELTA_BINARY_PACKED" for c in self.delta_columns} or None,
                    write_statistics=True if self.statistics_columns is None else list(self.statistics_columns))


def event_parquet_options(compression: str, compression_level: int | None, row_group_size: int) -> ParquetOptions:
    """The measured defaults for event parts (bench/RESULTS.md) with the run's codec and row group size."""
    return ParquetOptions(compression, compression_level, row_group_size, DICTIONARY_COLUMNS,
                          delta_columns=("event_ts", "ingest_ts"),
                          # min/max only where a reader can prune with them: not on random ids, and not on
                          # dictionary columns, whose few values all occur in every row group (-22% write time)
                          statistics_columns=tuple(n for n in EVENT_SCHEMA.names
                                                   if n not in UNSORTED_ID_COLUMNS and n not in DICTIONARY_COLUMNS))


def write_parquet(table: pa.Table, folder: Path, name: str, options: ParquetOptions,
                  metadata: dict[str, str]) -> tuple[Path, int, str]:
    """Write ``table`` as a new temp file for ``name`` in ``folder``; returns (temp path, bytes, sha256)."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **options.kwargs())
    buf = sink.getvalue()
    path = temp_path(folder, name)
    write_new(path, buf)
    return path, buf.size, hashlib.sha256(buf).hexdigest()
