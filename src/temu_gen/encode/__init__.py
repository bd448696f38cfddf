"""Encoding stage: kernel columns to Arrow tables to Parquet bytes."""
from .arrow import EVENT_SCHEMA, encode_chunk
from .parquet import ParquetOptions, write_parquet

__all__ = ["EVENT_SCHEMA", "encode_chunk", "ParquetOptions", "write_parquet"]
