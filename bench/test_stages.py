"""Each stage alone on one chunk: kernels, driver (sort + split), Arrow encoding, Parquet writing, and the floor."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from temu_gen import generate
from temu_gen.encode import encode_chunk
from temu_gen.kernels.sessions import simulate_journeys
from temu_gen.pool import parquet_options


def _rate(benchmark, rows):
    benchmark.extra_info["rows"] = rows
    benchmark.extra_info["events_per_s"] = rows / benchmark.stats.stats.min


def test_kernels_only(benchmark, spec, ctx):
    wide, narrow = generate.allocate(spec.n_rows)
    wide.fill(0)  # fault the pages in once, so the timing is the simulation itself
    narrow.fill(0)
    q0, q1 = spec.quantiles

    def kernel():
        simulate_journeys(spec.session_seed, ctx.user_seed, ctx.product_seed, spec.index, q0, q1, spec.n_rows,
                          ctx.params, wide, narrow)

    benchmark(kernel)
    _rate(benchmark, spec.n_rows)


def test_generate_chunk(benchmark, spec, ctx):
    benchmark(generate.generate_chunk, spec, ctx)
    _rate(benchmark, spec.n_rows)


def test_arrow_encoding(benchmark, chunk, ctx):
    benchmark(encode_chunk, chunk.columns, chunk.spec.row_start, ctx.vocab, ctx.id_salt)
    _rate(benchmark, chunk.spec.n_rows)


@pytest.mark.parametrize("codec,level,row_group", [("zstd", 1, 500_000), ("zstd", 3, 500_000), ("snappy", None, 500_000),
                                                   ("lz4", None, 500_000), ("none", None, 500_000),
                                                   ("zstd", 1, 100_000), ("zstd", 1, 250_000)])
def test_parquet_writing(benchmark, chunk, ctx, cfg, codec, level, row_group):
    table = encode_chunk(chunk.columns, chunk.spec.row_start, ctx.vocab, ctx.id_salt)
    opts = parquet_options(cfg.with_run(compression=codec, row_group_size=row_group))
    opts = type(opts)(**{**opts.__dict__, "compression_level": level})

    def write():
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **opts.kwargs())
        return sink.getvalue().size

    size = benchmark(write)
    _rate(benchmark, table.num_rows)
    benchmark.extra_info["mb"] = size / 1e6


def test_floor_pyarrow_rewrite(benchmark, chunk, ctx, tmp_path):
    """pyarrow alone rewriting the same chunk read back from Parquet, default settings: the I/O floor."""
    path = tmp_path / "c.parquet"
    pq.write_table(encode_chunk(chunk.columns, chunk.spec.row_start, ctx.vocab, ctx.id_salt), path)
    table = pq.read_table(path)

    def rewrite():
        pq.write_table(table, tmp_path / "floor.parquet", compression="zstd")

    benchmark(rewrite)
    _rate(benchmark, table.num_rows)


def test_chunk_end_to_end(benchmark, spec, ctx, cfg, tmp_path):
    """What one worker does per chunk: generate, encode, write."""
    from temu_gen.encode import write_parquet
    opts = parquet_options(cfg)

    def one():
        c = generate.generate_chunk(spec, ctx)
        path, _, _ = write_parquet(encode_chunk(c.columns, spec.row_start, ctx.vocab, ctx.id_salt), tmp_path,
                                   "p.parquet", opts, {})
        path.unlink()

    benchmark(one)
    _rate(benchmark, spec.n_rows)
