"""Parquet writing: one table, one file, written beside its final name and renamed in.

Invariant: a file at its final path is always complete. The bytes depend only on the
table, the options and the pyarrow version, so equal chunks give byte-identical files.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


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


@dataclass(frozen=True)
class WrittenFile:
    """What the manifest records about a file."""

    path: Path
    rows: int
    bytes: int
    sha256: str


def write_parquet(table: pa.Table, path: Path, options: ParquetOptions, metadata: dict[str, str]) -> WrittenFile:
    """Write ``table`` to ``path`` atomically (temp file + rename) and return its size and digest."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    tmp = path.with_name(f".{path.name}.tmp")
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **options.kwargs())
    buf = sink.getvalue()
    digest = hashlib.sha256(buf).hexdigest()
    with open(tmp, "wb") as f:
        f.write(buf)
    os.replace(tmp, path)
    return WrittenFile(path, table.num_rows, buf.size, digest)
