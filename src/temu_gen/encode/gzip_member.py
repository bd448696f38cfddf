"""Deterministic gzip members that carry their provenance in the header (``--format jsonl``).

A jsonl part has no footer to hold the key-value metadata a Parquet part carries, so
``--resume`` would have only the journal's size and SHA-256 to prove a file is this run's.
The gzip header (RFC 1952) has room for it: an FEXTRA subfield ``TG`` holds the same
key-value pairs as JSON (run id, seed, config hash, version, chunk, first row) plus the
row count, and FNAME holds the part's name without ``.gz`` (what ``gunzip -N`` restores).
FEXTRA and FNAME are what every gzip reader skips: zlib, Python's gzip, Java's
GZIPInputStream (Spark, Athena), DuckDB. The comment field (FCOMMENT) would be the
obvious place, but DuckDB refuses archives that have one, so it is not used.

Invariant: the bytes are a pure function of (data, level, name, provenance) and the zlib
version: MTIME is 0, OS is 255 (unknown), XFL is 0, and the provenance is canonical JSON
(sorted keys, ASCII). A header is read back from at most :data:`HEADER_PROBE` bytes.
Imports only the standard library, so the sinks use it without numba or pyarrow.
"""
from __future__ import annotations

import json
import struct
import zlib

MAGIC = b"\x1f\x8b"
_DEFLATE, _FEXTRA, _FNAME, _FHCRC, _FCOMMENT = 8, 0x04, 0x08, 0x02, 0x10
SUBFIELD = b"TG"
"""The FEXTRA subfield id (SI1 SI2) holding temu_gen's provenance."""
HEADER_PROBE = 8192
"""Bytes that always hold a header this module wrote (the provenance is a few hundred bytes)."""
ROWS_KEY = "temu_gen.rows"


def header(name: str, provenance: dict[str, str]) -> bytes:
    """The member header: magic, deflate, FEXTRA (``TG`` + provenance JSON), FNAME ``name``, MTIME 0, OS unknown."""
    data = json.dumps(provenance, sort_keys=True, separators=(",", ":")).encode("ascii")
    extra = SUBFIELD + struct.pack("<H", len(data)) + data
    if len(extra) > 0xFFFF:
        raise ValueError(f"gzip provenance of {len(data):,} bytes does not fit the header's 64 KiB extra field")
    fname = name.encode("latin-1")
    if b"\0" in fname:
        raise ValueError(f"gzip member name {name!r} holds a NUL byte")
    return (MAGIC + bytes([_DEFLATE, _FEXTRA | _FNAME]) + struct.pack("<I", 0) + b"\x00\xff"
            + struct.pack("<H", len(extra)) + extra + fname + b"\0")


class GzipMember:
    """One gzip member streamed to ``out`` (anything with ``write``): header now, deflate as data comes, trailer
    at :meth:`close`. Python's gzip module would stamp the time and cannot write an extra field."""

    def __init__(self, out, level: int, name: str, provenance: dict[str, str]):
        self.out, self.crc, self.size = out, 0, 0
        self._z = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        out.write(header(name, provenance))

    def write(self, data) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        chunk = self._z.compress(data)
        if chunk:
            self.out.write(chunk)

    def close(self) -> None:
        self.out.write(self._z.flush())
        self.out.write(struct.pack("<II", self.crc, self.size & 0xFFFFFFFF))


def read_provenance(head: bytes) -> tuple[int, dict[bytes, bytes]] | None:
    """(rows, key-value metadata as bytes, like a Parquet footer's) from a member's first bytes; None if absent.

    None for anything that is not a gzip header with a ``TG`` subfield holding a JSON object of strings.
    """
    if len(head) < 12 or head[:2] != MAGIC or head[2] != _DEFLATE or not head[3] & _FEXTRA:
        return None
    xlen = struct.unpack_from("<H", head, 10)[0]
    extra, at = head[12:12 + xlen], 0
    if len(extra) < xlen:
        return None
    while at + 4 <= len(extra):
        sub, n = extra[at:at + 2], struct.unpack_from("<H", extra, at + 2)[0]
        if sub == SUBFIELD:
            return _parse(extra[at + 4:at + 4 + n])
        at += 4 + n
    return None


def _parse(data: bytes) -> tuple[int, dict[bytes, bytes]] | None:
    try:
        doc = json.loads(data)
        rows = int(doc.pop(ROWS_KEY))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
        return None
    return rows, {k.encode(): v.encode() for k, v in doc.items()}
