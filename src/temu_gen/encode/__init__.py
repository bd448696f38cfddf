"""Encoding stage: merged kernel columns to Arrow tables (``arrow``) to Parquet bytes (``parquet``).

The package imports nothing itself, so ``encode.schema`` (pyarrow only) loads without numba.
"""
