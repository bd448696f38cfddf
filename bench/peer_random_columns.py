"""The peer baseline: a vectorised numpy + pyarrow script that writes random columns of temu_gen's shape.

No users, sessions, funnels or lifecycles: every column is drawn independently, so this is about the
fastest a Python generator of this schema and size can be. Same 29 columns, same types, same Parquet
settings (zstd 1, one row group per 500k-row file), same number of worker processes.

    python bench/peer_random_columns.py --events 2100000 --workers 2 --output /tmp/peer
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from temu_gen.encode.schema import EVENT_SCHEMA

START_US = 1_730_415_600_000_000  # 2024-11-01 WAT
SPAN_US = 92 * 86_400_000_000


def _hex(rng, n, width):
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)
    data = digits[rng.integers(0, 16, n * width, dtype=np.uint8)]
    return pa.StringArray.from_buffers(n, pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32)),
                                       pa.py_buffer(data))


def _column(field, rng, n):
    t = field.type
    if pa.types.is_dictionary(t):
        values = pa.array([f"value{i}" for i in range(40)])
        return pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 40, n).astype(t.index_type.to_pandas_dtype())),
                                              values)
    if pa.types.is_timestamp(t):
        return pa.array(np.sort(START_US + rng.integers(0, SPAN_US, n)), t)
    if pa.types.is_decimal(t):  # kobo as the low word, zero high word: decimal128's layout
        words = np.stack([rng.integers(30_000, 500_000_000, n), np.zeros(n, np.int64)], axis=1)
        return pa.Array.from_buffers(t, n, [None, pa.py_buffer(words)])
    if pa.types.is_string(t):
        return _hex(rng, n, 36 if field.name == "event_id" else 16)
    return pa.array(rng.integers(0, 100, n).astype(t.to_pandas_dtype()), t)


def write_part(args):
    k, rows, out = args
    rng = np.random.default_rng(k)
    table = pa.table([_column(f, rng, rows) for f in EVENT_SCHEMA], schema=EVENT_SCHEMA)
    pq.write_table(table, Path(out) / f"part-{k:05d}.parquet", compression="zstd", compression_level=1,
                   row_group_size=rows)
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=2_100_000)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--output", default="/tmp/peer")
    a = p.parse_args()
    os.makedirs(a.output, exist_ok=True)
    jobs = [(k, min(500_000, a.events - k * 500_000), a.output) for k in range(-(-a.events // 500_000))]
    with multiprocessing.get_context("fork").Pool(a.workers) as pool:
        print(sum(pool.map(write_part, jobs)), "rows")


if __name__ == "__main__":
    main()
