"""Encoding stage: kernel columns to Arrow tables to Parquet bytes."""
from .arrow import EVENT_SCHEMA, encode_chunk
from .parquet import ParquetOptions, event_parquet_options, write_parquet

__all__ = ["EVENT_SCHEMA", "encode_chunk", "ParquetOptions", "event_parquet_options", "write_parquet"]
