"""JSON lines writing (``--format jsonl``): Arrow tables to gzip JSON lines, one object per row, built with Arrow
compute rather than a Python loop per row.

pyarrow (26) reads JSON but does not write it, and DuckDB is only an optional extra, so
each column becomes one string array of ``"name":value`` fragments (dictionary values
and keys JSON-escaped once per dictionary entry, then ``take``; numbers cast; timestamps
formatted from their integers in numpy) and one ``binary_join_element_wise`` joins a
row's fragments into its line. Lines go to a :class:`~.gzip_member.GzipMember` whose
header carries the part's provenance.

Conventions, the same in every table: keys in schema order, every key on every line;
null is JSON ``null``; dictionary columns are their string values; timestamps are
ISO 8601 UTC strings with microseconds (``2024-11-01T09:30:00.000000Z``); decimals are
JSON numbers written exactly (``1899.00``); lists are arrays and structs objects; a
string column marked :data:`~.schema.JSON_TEXT` (``context``) is embedded as the JSON
value it holds, not as a string.

Invariant: a line is a pure function of its row, so the bytes of a part depend only on
its rows, the gzip level and the zlib version (byte-identical under any worker count),
and a file is fsynced before its size and SHA-256 are returned, like Parquet parts.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..files import HashingWriter, new_file, temp_path
from .gzip_member import ROWS_KEY, GzipMember
from .schema import JSON_TEXT

SUFFIX = ".jsonl.gz"
SLICE_ROWS = 65_536
"""Rows turned into text at once: Arrow's string offsets are 32-bit, and a slice's text stays well below 2 GiB."""
_US_PER_DAY = 86_400_000_000
_MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z: four-digit years only


def key_prefix(name: str) -> str:
    return json.dumps(name, ensure_ascii=False) + ":"


def json_lines(batch: pa.RecordBatch) -> pa.StringArray:
    """One JSON object per row, each ending in a newline (the array's data buffer is the text)."""
    frags = []
    for i, (field, col) in enumerate(zip(batch.schema, batch.columns)):
        prefix = ("{" if i == 0 else "") + key_prefix(field.name)
        raw = field.metadata is not None and all(field.metadata.get(k) == v for k, v in JSON_TEXT.items())
        frags.append(_join(prefix, col, null=prefix + "null") if raw else _fragment(col, prefix))
    frags[-1] = pc.binary_join_element_wise(frags[-1], "}\n", "")
    return pc.binary_join_element_wise(*frags, ",")


def text(lines: pa.StringArray) -> memoryview:
    """The bytes of ``lines`` back to back (its data buffer between its first and last offset)."""
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    return memoryview(lines.buffers()[2])[int(offsets[0]):int(offsets[-1])]


def _fragment(arr: pa.Array, prefix: str) -> pa.StringArray:
    """``prefix`` + each value as JSON, never null (a null is ``prefix`` + ``null``)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        words = _fragment(arr.dictionary, prefix)  # each value escaped once, then taken per row
        words = pa.concat_arrays([words, pa.array([prefix + "null"], pa.string())])
        return words.take(pc.fill_null(arr.indices, len(words) - 1))
    if pa.types.is_timestamp(t):
        return _timestamps(arr, prefix)
    if pa.types.is_string(t):
        return _join(prefix + '"', _escaped(arr), '"', null=prefix + "null")
    if pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t):
        return _join(prefix, pc.cast(arr, pa.string()), null=prefix + "null")
    if pa.types.is_list(t):
        return _join(prefix, _list(arr), null=prefix + "null")
    if pa.types.is_struct(t):
        return _join(prefix, _struct(arr), null=prefix + "null")
    raise TypeError(f"no JSON encoding for Arrow type {t}")


def _join(*parts, null: str) -> pa.StringArray:
    """Parts joined per row (arrays and constant strings); rows where an array part is null become ``null``."""
    n = next(len(p) for p in parts if isinstance(p, pa.Array))
    if n == 0:
        return pa.array([], pa.string())
    args = [p if isinstance(p, pa.Array) else pa.scalar(p) for p in parts]
    return pc.fill_null(pc.binary_join_element_wise(*args, ""), null)


def _escaped(arr: pa.StringArray) -> pa.StringArray:
    """JSON string escaping, paid only by arrays that hold a quote, a backslash or a control character."""
    data = arr.buffers()[2]
    raw = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    if raw.min(initial=255) >= 32 and not (raw == 34).any() and not (raw == 92).any():
        return arr
    out = pc.replace_substring(arr, "\\", "\\\\")
    out = pc.replace_substring(out, '"', '\\"')
    for c in np.unique(raw[raw < 32]).tolist():
        out = pc.replace_substring(out, chr(c), json.dumps(chr(c))[1:-1])
    return out


def _timestamps(arr: pa.Array, prefix: str) -> pa.StringArray:
    """``prefix"YYYY-MM-DDTHH:MM:SS.ffffffZ"`` from the µs integers: fixed width, so built as one byte matrix."""
    if arr.type.unit != "us":
        arr = pc.cast(arr, pa.timestamp("us", tz=arr.type.tz))
    us = np.asarray(pc.fill_null(arr.cast(pa.int64()), 0))
    if us.size and (us.min() < 0 or us.max() > _MAX_US):  # outside years 1970..9999: Arrow's own formatter
        iso = pc.strftime(pc.cast(arr, pa.timestamp("us", tz="UTC")), format="%Y-%m-%dT%H:%M:%S")
        return _join(prefix + '"', iso, 'Z"', null=prefix + "null")
    head = np.frombuffer((prefix + '"').encode(), np.uint8)
    w = head.size
    cols = np.empty((w + 28, us.size), np.uint8)  # one row per character: contiguous writes, one transpose
    cols[:w] = head[:, None]
    days, tod = np.divmod(us, _US_PER_DAY)
    year, month, day = _civil(days)
    secs, micros = np.divmod(tod, 1_000_000)
    fields = ((year, 4, 0), (month, 2, 5), (day, 2, 8), (secs // 3600, 2, 11), (secs // 60 % 60, 2, 14),
              (secs % 60, 2, 17), (micros, 6, 20))
    for value, width, at in fields:
        value = value.astype(np.int32)
        for k in range(width - 1, -1, -1):
            value, digit = np.divmod(value, 10)
            cols[w + at + k] = digit + 48
    for at, c in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."), (26, "Z"), (27, '"')):
        cols[w + at] = ord(c)
    out = np.ascontiguousarray(cols.T)
    offsets = np.arange(0, out.size + 1, w + 28, dtype=np.int32)
    strings = pa.StringArray.from_buffers(us.size, pa.py_buffer(offsets), pa.py_buffer(out))
    if arr.null_count:
        strings = pc.if_else(arr.is_valid(), strings, prefix + "null")
    return strings


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (H. Hinnant's civil_from_days)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def _list(arr: pa.ListArray) -> pa.StringArray:
    """``[v,...]`` per row (null rows stay null for the caller)."""
    # offsets rebuilt from the lengths: flatten() drops the values under null slots, which may span a range
    lengths = np.asarray(pc.fill_null(pc.list_value_length(arr), 0), dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    items = _fragment(arr.flatten(), "")
    lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), items, mask=arr.is_null())
    return pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")


def _struct(arr: pa.StructArray) -> pa.StringArray:
    """``{"field":v,...}`` per row (null rows stay null for the caller)."""
    fields = [_fragment(child, key_prefix(arr.type.field(i).name)) for i, child in enumerate(arr.flatten())]
    body = pc.binary_join_element_wise(*fields, ",")
    return pc.if_else(arr.is_valid(), pc.binary_join_element_wise("{", body, "}", ""), pa.scalar(None, pa.string()))


def write_jsonl(tables: Iterable[pa.Table], folder: Path, name: str, level: int, metadata: dict[str, str],
                rows: int) -> tuple[Path, int, str, int]:
    """Write ``tables`` (slices of one part, in order, ``rows`` rows in all) as a new temp file for ``name``.

    Returns (temp path, bytes, sha256, rows), like :func:`~.parquet.write_parquet`: the file streams to disk
    through a file descriptor opened O_EXCL|O_NOFOLLOW and is fsynced before its digest is returned. The gzip
    header carries ``metadata`` and ``rows`` (:mod:`.gzip_member`), so the count must be known up front.
    """
    path = temp_path(folder, name)
    written = 0
    with new_file(path) as fd:
        sink = HashingWriter(fd)
        # closed in the with: a write that fails must not leave buffered bytes to flush later into
        # whatever file reuses the descriptor number
        with io.BufferedWriter(sink, buffer_size=1 << 20) as out:
            member = GzipMember(out, level, name.removesuffix(".gz"), {**metadata, ROWS_KEY: str(rows)})
            for table in tables:
                for batch in table.to_batches(max_chunksize=SLICE_ROWS):
                    member.write(text(json_lines(batch)))
                    written += batch.num_rows
                table = batch = None  # before the next slice is made: one slice in memory, not two
            member.close()
            out.flush()
        if written != rows:
            raise ValueError(f"{name}: wrote {written:,} rows, its header says {rows:,}")
    return path, sink.size, sink.sha.hexdigest(), written
