"""The Glue tables' columns are the data contract's: rendered by temu_gen.catalog, checked against written files."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from temu_gen import catalog
from temu_gen.encode.schema import EVENT_SCHEMA
from tfhelp import TF

GENERATED = TF / "generated" / "tables.json"
TABLES = ("events", "users", "products", "orders", "defects")


def test_terraform_columns_are_the_rendered_contract():
    # On failure: python -m temu_gen.catalog > infra/terraform/generated/tables.json
    assert GENERATED.read_text() == catalog.render()
    assert "generated/tables.json" in (TF / "catalog.tf").read_text()
    assert tuple(json.loads(GENERATED.read_text())["tables"]) == TABLES


def test_hive_types_are_what_athena_reads_the_parquet_as():
    cols = {c["name"]: c["type"] for c in catalog.glue_columns()}
    assert list(cols) == EVENT_SCHEMA.names
    assert (cols["event_id"], cols["event_ts"], cols["event_type"], cols["user_id"], cols["city"]) == \
        ("string", "timestamp", "string", "bigint", "string")
    assert (cols["unit_price_ngn"], cols["quantity"], cols["attempt_number"]) == ("decimal(18,2)", "smallint", "tinyint")
    assert catalog.hive_type(pa.dictionary(pa.int16(), pa.string())) == "string"
    nested = pa.list_(pa.struct([("product_id", pa.int64()), ("unit_price_ngn", pa.decimal128(18, 2))]))
    assert catalog.hive_type(nested) == "array<struct<product_id:bigint,unit_price_ngn:decimal(18,2)>>"
    with pytest.raises(ValueError, match="no Hive type for Arrow type"):
        catalog.hive_type(pa.time32("s"))


def test_comments_fit_glue_and_come_from_the_contract():
    cols = catalog.glue_columns()
    assert all(0 < len(c["comment"]) <= 255 for c in cols)
    long = next(c for c in cols if c["name"] == "ingest_ts")  # its description is longer than Glue allows
    assert long["comment"].endswith("...") and long["comment"].startswith("When the platform received the event")


def test_columns_match_the_files_a_run_writes(smoke_run):
    _, run_dir, _ = smoke_run
    rendered = json.loads(GENERATED.read_text())["tables"]
    for table in ("events", "users", "products", "orders"):
        folder = run_dir.parent.parent / table / run_dir.name
        schema = pq.read_schema(next(folder.glob("part-*.parquet")))
        written = [{"name": f.name, "type": catalog.hive_type(f.type)} for f in schema]
        assert written == [{"name": c["name"], "type": c["type"]} for c in rendered[table]["columns"]], table
