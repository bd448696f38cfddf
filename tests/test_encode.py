"""Encoding: the written schema is the contract's, and other engines read the right types."""
import decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from temu_gen.encode.schema import EVENT_SCHEMA
from temu_gen.model import FIELDS


def test_written_schema_is_the_contract(smoke_run):
    _, run_dir, tables = smoke_run
    for t in tables:
        assert t.schema.remove_metadata() == EVENT_SCHEMA
    assert len(FIELDS) >= 25
    meta = pq.read_schema(next(run_dir.glob("part-*.parquet"))).metadata
    assert meta[b"temu_gen.run_id"] == b"smoke"


def test_parquet_physical_layout(smoke_run):
    _, run_dir, _ = smoke_run
    md = pq.ParquetFile(next(run_dir.glob("part-*.parquet"))).metadata
    schema = md.schema.to_arrow_schema()
    assert schema.field("unit_price_ngn").type == pa.decimal128(18, 2)
    col = {md.row_group(0).column(i).path_in_schema: md.row_group(0).column(i) for i in range(md.num_columns)}
    assert col["unit_price_ngn"].physical_type == "INT64"  # exact money, stored as scaled integers
    assert "RLE_DICTIONARY" in col["event_type"].encodings or "PLAIN_DICTIONARY" in col["event_type"].encodings
    assert col["event_ts"].compression == "ZSTD"
    assert "DELTA_BINARY_PACKED" in col["event_ts"].encodings
    ts = col["event_ts"].statistics  # files are sorted by time: readers prune row groups with these
    assert ts is not None and ts.has_min_max and ts.min <= ts.max


def test_money_is_exact(smoke_run):
    t = pa.concat_tables(smoke_run[2])
    prices = [p for p in t["unit_price_ngn"].to_pylist() if p is not None]
    assert all(isinstance(p, decimal.Decimal) and p == p.quantize(decimal.Decimal("0.01")) for p in prices)


def test_duckdb_reads_the_right_types(smoke_run):
    duckdb = pytest.importorskip("duckdb")
    _, run_dir, tables = smoke_run
    con = duckdb.connect()
    glob = str(run_dir / "part-*.parquet")
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{glob}')").fetchall()}
    assert types["event_ts"] == "TIMESTAMP WITH TIME ZONE"
    assert types["unit_price_ngn"] == "DECIMAL(18,2)"
    assert types["event_type"] == "VARCHAR" and types["user_id"] == "BIGINT"
    n, orders = con.execute(f"SELECT count(*), count(DISTINCT order_id) FROM read_parquet('{glob}')").fetchone()
    assert n == sum(t.num_rows for t in tables) and orders > 0


def test_int_dtype_maps_arrow_integers_without_pandas():
    import numpy as np
    import pyarrow as pa
    import pytest

    from temu_gen.encode.arrow import int_dtype

    for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()):
        assert int_dtype(t) == np.dtype(t.to_pandas_dtype())
    with pytest.raises(TypeError, match="not an Arrow integer type"):
        int_dtype(pa.string())
