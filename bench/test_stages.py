"""Each stage alone: the kernels, a map task (simulate + spool), a reduce task (merge + encode + write), and the floor."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from temu_gen import generate, spool
from temu_gen.encode.arrow import IdKeys, encode_part
from temu_gen.encode.parquet import write_parquet
from temu_gen.encode.schema import EVENT_SCHEMA
from temu_gen.merge import merge_part
from temu_gen.pool import parquet_options


def _rate(benchmark, rows):
    benchmark.extra_info["rows"] = rows
    benchmark.extra_info["events_per_s"] = rows / benchmark.stats.stats.min


def test_kernels_only(benchmark, ctx, users):
    """The simulation alone: every event of a shard of users, buffers already faulted in."""
    shard = benchmark(generate.simulate_shard, 0, users, ctx, 2_000_000)
    _rate(benchmark, shard.wide.shape[1])


def test_map_task(benchmark, ctx, users, tmp_path):
    """What one map task does: simulate a shard and spool it in arrival order."""
    start, buckets = ctx.params.time.start_us, spool.hist_buckets(92)

    def task():
        return spool.write_shard(tmp_path, 0, generate.simulate_shard(0, users, ctx), start, buckets)

    _rate(benchmark, benchmark(task).rows)


def test_reduce_task(benchmark, ctx, cfg, part, tmp_path):
    """What one reduce task does: merge a part from the spool, encode it, write it as Parquet."""
    folder, spec = part
    opts = parquet_options(cfg)

    def task():
        wide, narrow = merge_part(folder, spec)
        path, size, _, _ = write_parquet([encode_part(wide, narrow, ctx.vocab, IdKeys.for_run(1))], EVENT_SCHEMA,
                                         tmp_path, "p.parquet", opts, {})
        path.unlink()
        return size

    benchmark.extra_info["mb"] = benchmark(task) / 1e6
    _rate(benchmark, spec.n_rows)


def test_merge_only(benchmark, part):
    folder, spec = part
    benchmark(merge_part, folder, spec)
    _rate(benchmark, spec.n_rows)


def test_arrow_encoding(benchmark, ctx, merged):
    benchmark(encode_part, *merged, ctx.vocab, IdKeys.for_run(1))
    _rate(benchmark, merged[0].shape[1])


@pytest.mark.parametrize("codec,level,row_group", [("zstd", 1, 500_000), ("zstd", 3, 500_000), ("snappy", None, 500_000),
                                                   ("lz4", None, 500_000), ("none", None, 500_000),
                                                   ("zstd", 1, 100_000), ("zstd", 1, 250_000)])
def test_parquet_writing(benchmark, ctx, cfg, merged, codec, level, row_group):
    table = encode_part(*merged, ctx.vocab, IdKeys.for_run(1))
    opts = parquet_options(cfg.with_run(compression=codec, row_group_size=row_group))
    opts = type(opts)(**{**opts.__dict__, "compression_level": level})

    def write():
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **opts.kwargs())
        return sink.getvalue().size

    size = benchmark(write)
    _rate(benchmark, table.num_rows)
    benchmark.extra_info["mb"] = size / 1e6


def test_floor_pyarrow_rewrite(benchmark, ctx, merged, tmp_path):
    """pyarrow alone rewriting the same part read back from Parquet, default settings: the I/O floor."""
    path = tmp_path / "c.parquet"
    pq.write_table(encode_part(*merged, ctx.vocab, IdKeys.for_run(1)), path)
    table = pq.read_table(path)

    def rewrite():
        pq.write_table(table, tmp_path / "floor.parquet", compression="zstd")

    benchmark(rewrite)
    _rate(benchmark, table.num_rows)
