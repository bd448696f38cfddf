"""JSON lines encoding and gzip members: every Arrow type a run writes, escaping, timestamps, provenance headers.

The oracle is Python's own json module over ``to_pylist()``: a line must parse to exactly
the row, with timestamps as ISO 8601 UTC strings with microseconds and decimals exact.
"""
from __future__ import annotations

import datetime as dt
import decimal
import gzip
import hashlib
import json
import os
import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from temu_gen.encode.gzip_member import SUBFIELD, header, read_provenance
from temu_gen.encode.jsonl import json_lines, text, write_jsonl
from temu_gen.encode.schema import JSON_TEXT

UTC = dt.timezone.utc


def _expected(value):
    """A value as the JSON lines must hold it, from Python's view of the Arrow value."""
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def _parsed(table: pa.Table) -> list[dict]:
    lines = bytes(text(json_lines(table.combine_chunks().to_batches()[0]))).decode()
    assert lines.endswith("\n") and lines.count("\n") == table.num_rows
    return [json.loads(line, parse_float=decimal.Decimal) for line in lines.splitlines()]


def _every_type() -> pa.Table:
    ts = pa.timestamp("us", tz="UTC")
    strings = ['plain', 'say "hi"', "back\\slash", "line\nbreak\ttab\x01", "naira ₦ and émoji 🛍", None]
    items = pa.list_(pa.struct([pa.field("product_id", pa.int64(), nullable=False),
                                pa.field("unit_price_ngn", pa.decimal128(18, 2), nullable=False)]))
    return pa.table({
        "s": pa.array(strings, pa.string()),
        "i64": pa.array([1, -2, 2**53 - 1, 0, None, 7], pa.int64()),
        "i8": pa.array([1, None, -128, 127, 0, 3], pa.int8()),
        "b": pa.array([True, False, None, True, False, True]),
        "ts": pa.array([0, 1_732_000_000_123_456, None, 1_000_000, 4_102_444_799_999_999, 86_400_000_000 * 59], ts),
        "money": pa.array([decimal.Decimal("1899.00"), decimal.Decimal("-0.05"), None, decimal.Decimal("0.00"),
                           decimal.Decimal("100000000000.00"), decimal.Decimal("12.30")], pa.decimal128(18, 2)),
        "d": pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 2, 0, 1], pa.int8()),
                                            pa.array(["app_open", 'we"ird', "ẹ̀kọ́"])),
        "tags": pa.array([["a", "b"], [], None, ['q"uote'], [None, "x"], ["y"]], pa.list_(pa.string())),
        "items": pa.array([[{"product_id": 1, "unit_price_ngn": decimal.Decimal("9.99")}], [], None,
                           [{"product_id": 2, "unit_price_ngn": decimal.Decimal("1.00")},
                            {"product_id": 3, "unit_price_ngn": decimal.Decimal("2.50")}], [], []], items),
    })


def test_lines_are_the_rows():
    t = _every_type()
    assert _parsed(t) == [_expected(r) for r in t.to_pylist()]
    first = bytes(text(json_lines(t.to_batches()[0]))).split(b"\n")[0]
    assert first.startswith(b'{"s":"plain","i64":1,"i8":1,"b":true,"ts":"1970-01-01T00:00:00.000000Z"')
    assert b'"money":1899.00' in first  # decimals are exact JSON numbers, never floats


def test_timestamps_match_arrows_formatter():
    rng = np.random.default_rng(1)
    edges = [0, 951_782_400_000_000, 4_107_542_399_999_999]  # epoch, 2000-02-29, 2100-02-28 end
    us = np.concatenate([rng.integers(0, 4_102_444_800_000_000, 20_000), edges])
    arr = pa.array(us, pa.timestamp("us", tz="UTC"))
    got = [json.loads(line)["t"] for line in bytes(text(json_lines(pa.record_batch({"t": arr})))).splitlines()]
    want = pc.strftime(arr, format="%Y-%m-%dT%H:%M:%S").to_pylist()  # Arrow writes µs as a fraction of %S
    assert got == [w + "Z" for w in want]


def test_json_text_columns_are_embedded_as_objects():
    field = pa.field("context", pa.string(), nullable=False, metadata=JSON_TEXT)
    batch = pa.record_batch([pa.array(['{"a":{"b":[1,2]}}', '{"c":"d"}'])], schema=pa.schema([field]))
    lines = bytes(text(json_lines(batch))).decode().splitlines()
    assert [json.loads(x) for x in lines] == [{"context": {"a": {"b": [1, 2]}}}, {"context": {"c": "d"}}]


def test_gzip_file_carries_its_provenance_and_is_deterministic(tmp_path):
    t = _every_type()
    meta = {"temu_gen.run_id": "r", "temu_gen.chunk_index": "3"}
    written = []
    for k in range(2):
        folder = tmp_path / str(k)
        folder.mkdir()
        path, size, sha, rows = write_jsonl([t.slice(0, 2), t.slice(2)], folder, "part-00003.jsonl.gz", 6, meta, 6)
        data = path.read_bytes()
        assert (size, sha, rows) == (len(data), hashlib.sha256(data).hexdigest(), 6)
        written.append(data)
    data = written[0]
    assert written[0] == written[1]
    assert data[4:8] == b"\0\0\0\0" and data[9] == 255  # no time stamp, OS unknown: bytes depend on the rows only
    assert gzip.decompress(data) == bytes(text(json_lines(t.combine_chunks().to_batches()[0])))
    assert read_provenance(data[:8192]) == (6, {k.encode(): v.encode() for k, v in meta.items()})
    assert b"part-00003.jsonl\0" in data[:8192]  # FNAME: what gunzip -N restores
    duckdb = pytest.importorskip("duckdb")
    n = duckdb.sql(f"SELECT count(*) FROM read_json('{path}', format = 'newline_delimited', compression = 'gzip', "
                   f"columns = {{'s': 'VARCHAR', 'ts': 'TIMESTAMPTZ'}})").fetchall()[0][0]
    assert n == 6  # DuckDB accepts the header (it refuses gzip comments, so none is written)


@pytest.mark.parametrize("cut", [[], [0], [0, 0, 6], [3, 3]])
def test_empty_slices_anywhere_write_the_same_file(tmp_path, cut):
    """A table with no rows (a part whose group of runs has no orders, or no runs at all) is a valid slice: the
    file is the one the rows in one slice give, and a table of no rows at all is an empty member."""
    t = _every_type()
    bounds = [0, *cut, 6] if cut else [0, 6]
    slices = [t.slice(a, b - a) for a, b in zip(bounds, bounds[1:])]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = write_jsonl([t], tmp_path / "a", "part-00000.jsonl.gz", 6, {}, 6)[0].read_bytes()
    assert write_jsonl(slices, tmp_path / "b", "part-00000.jsonl.gz", 6, {}, 6)[0].read_bytes() == one
    empty = write_jsonl([t.slice(0, 0)], tmp_path, "part-00001.jsonl.gz", 6, {}, 0)[0].read_bytes()
    assert gzip.decompress(empty) == b""


def test_wrong_row_count_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="wrote 6 rows, its header says 7"):
        write_jsonl([_every_type()], tmp_path, "part-00000.jsonl.gz", 1, {}, 7)
    assert os.listdir(tmp_path) == []


def test_foreign_headers_have_no_provenance():
    body = gzip.compress(b'{"a":1}\n', mtime=0)
    assert read_provenance(body) is None
    assert read_provenance(b"PAR1" + bytes(20)) is None
    ours = header("x.jsonl", {"temu_gen.rows": "3", "k": "v"})
    assert read_provenance(ours) == (3, {b"k": b"v"})
    for bad in (b"not json", b'{"k": "v"}', b'{"temu_gen.rows": "3", "k": 1}', b"[1]"):
        extra = SUBFIELD + struct.pack("<H", len(bad)) + bad
        forged = ours[:10] + struct.pack("<H", len(extra)) + extra + b"x.jsonl\0"
        assert read_provenance(forged) is None, bad
    assert read_provenance(ours[:20]) is None  # a header cut short


def test_a_failed_write_flushes_nothing_into_a_later_file(tmp_path):
    # the buffer of a failed part must not reach whatever file reuses its descriptor number afterwards
    def slices():
        yield _every_type()
        raise RuntimeError("encoder failed")
    with pytest.raises(RuntimeError) as failed:
        write_jsonl(slices(), tmp_path, "part-00000.jsonl.gz", 1, {}, 12)
    other = tmp_path / "other"
    fd = os.open(other, os.O_CREAT | os.O_WRONLY, 0o644)
    del failed
    import gc
    gc.collect()
    os.close(fd)
    assert other.stat().st_size == 0 and sorted(tmp_path.iterdir()) == [other]  # no temp file left either


def test_lists_with_null_slots_over_values():
    # a null list slot may still span values (offsets 2..4 here): they are not the row's
    values = pa.array(["a", "b", "c", "d", "e"])
    lists = pa.ListArray.from_arrays(pa.array([0, 2, 4, 5], pa.int32()), values, mask=pa.array([False, True, False]))
    rows = _parsed(pa.table({"l": lists}))
    assert rows == [{"l": ["a", "b"]}, {"l": None}, {"l": ["e"]}]
