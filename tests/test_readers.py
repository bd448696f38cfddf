"""Other engines read the files with the right types: pandas and Spark (pyarrow and DuckDB: test_encode.py)."""
from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI") == "true"


def test_pandas_reads_the_right_types(smoke_run):
    pd = pytest.importorskip("pandas")
    _, run_dir, tables = smoke_run
    df = pd.read_parquet(run_dir)
    assert len(df) == sum(t.num_rows for t in tables)
    assert str(df["event_ts"].dtype) == "datetime64[us, UTC]" and str(df["ingest_ts"].dtype) == "datetime64[us, UTC]"
    assert isinstance(df["event_type"].dtype, pd.CategoricalDtype)  # dictionary columns come back as categoricals
    ids = pd.read_parquet(run_dir, columns=["user_id"], dtype_backend="numpy_nullable")["user_id"]
    assert str(ids.dtype) == "Int64" and 0 < ids.isna().sum() < len(ids)  # anonymous browsing before sign-in
    price = df["unit_price_ngn"].dropna().iloc[0]
    assert type(price).__name__ == "Decimal" and price.as_tuple().exponent == -2


@pytest.fixture(scope="module")
def spark():
    if not shutil.which("java"):
        pytest.skip("no Java runtime for Spark")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        if IN_CI:
            pytest.fail("pyspark is required in CI; .ci/run installs it")
        pytest.skip("pyspark not installed (pip install pyspark)")
    session = (SparkSession.builder.master("local[1]").appName("temu-gen-test")
               .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.session.timeZone", "UTC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_reads_the_right_types(spark, smoke_run):
    _, run_dir, tables = smoke_run
    df = spark.read.parquet(str(run_dir))
    types = dict(df.dtypes)
    assert types["event_ts"] == "timestamp" and types["ingest_ts"] == "timestamp"
    assert types["unit_price_ngn"] == "decimal(18,2)" and types["order_total_ngn"] == "decimal(18,2)"
    assert types["event_type"] == "string" and types["state"] == "string" and types["event_id"] == "string"
    assert types["user_id"] == "bigint" and types["quantity"] == "smallint" and types["attempt_number"] == "tinyint"
    assert df.count() == sum(t.num_rows for t in tables)
    orders = df.where("event_type = 'order_placed'").selectExpr("sum(order_total_ngn) AS s").first()["s"]
    assert orders is not None and orders > 0
