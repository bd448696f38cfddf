"""The Sink protocol: how a run's files reach their destination, and how a run commits.

Invariant: a destination only ever shows a run as finished once ``_SUCCESS`` exists; a
target writes ``_SUCCESS`` strictly after every part and ``_manifest.json``, and only
while it holds the run's lock. A part counts as delivered only once its
:class:`PartRecord` (size and SHA-256) is recorded durably at the destination, and
``--resume`` keeps a part only if its bytes and its provenance (a Parquet part's footer
metadata, a jsonl part's gzip header) prove it is the part this run would write.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple, Protocol, Sequence
from urllib.parse import urlparse

from ..errors import ConfigError

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
RUN_PLAN = "_run.json"
"""Written first: seed, config and sizes, so ``--resume`` can regenerate missing chunks exactly."""
LOCK = "_lock"
"""Held while a process writes the run: created exclusively, removed at commit or abort."""
MAX_PARTS = 99_999
"""Part names carry five digits so they sort in chunk order."""


TABLES = ("events", "defects", "users", "products", "orders")
"""Every table a run may write, each under ``<root>/<table>/run_id=<id>/``. The run's lock, plan, journal,
manifest and ``_SUCCESS`` live in the events folder, and that one ``_SUCCESS`` commits every table at once."""


def file_key(table: str, name: str) -> str:
    """A file's address within its run: the name for events, ``<table>/<name>`` for the other tables."""
    return name if table == "events" else f"{table}/{name}"


class PartRecord(NamedTuple):
    """One part file, from the worker that wrote it to the manifest that lists it."""

    chunk: int
    name: str
    rows: int
    bytes: int
    sha256: str
    etag: str = ""
    """S3 only: the object's ETag once its upload completed."""
    checksum_sha256: str = ""
    """S3 only: the server's SHA-256 checksum of the object (composite for multipart uploads)."""
    upload_parts: int = 0
    upload_seconds: float = 0.0
    first_ingest_us: int = 0
    """The part's arrival window: the first and last ``ingest_ts`` it holds (µs since the epoch)."""
    last_ingest_us: int = 0
    sessions: int = 0
    """Sessions that start in this part (``app_open`` rows)."""
    orders: int = 0
    """Orders placed in this part (``order_placed`` rows)."""
    table: str = "events"
    """The table the file belongs to (:data:`TABLES`); a task writes at most one file per table."""
    log_rows: int = 0
    """Events files with defects: rows of the clean log the part covers (``rows`` counts what the file holds)."""
    schema_version: int = 0
    """Events files: 2 from ``defects.schema_drift_from_part`` on (0 = version 1)."""
    poison: bool = False
    """A file that is deliberately not valid Parquet (``defects.poison_part``)."""
    counts: str = ""
    """Defect labels files: ``type=n,...``, the labels per defect type."""

    @property
    def key(self) -> str:
        return file_key(self.table, self.name)

    def to_json(self) -> dict:
        return {k: v for k, v in self._asdict().items()
                if v not in ("", 0, 0.0, "events") or k in ("chunk", "rows")}

    @classmethod
    def from_json(cls, doc: dict) -> PartRecord:
        kinds = {"chunk": int, "name": str, "rows": int, "bytes": int, "sha256": str, "etag": str,
                 "checksum_sha256": str, "upload_parts": int, "upload_seconds": float, "first_ingest_us": int,
                 "last_ingest_us": int, "sessions": int, "orders": int, "table": str, "log_rows": int,
                 "schema_version": int, "poison": bool, "counts": str}
        missing = {"chunk", "name", "rows", "bytes", "sha256"} - doc.keys()
        if missing:
            raise KeyError(sorted(missing)[0])
        return cls(**{k: cast(doc[k]) for k, cast in kinds.items() if k in doc})


class PartExpectation(NamedTuple):
    """What a kept part must prove on ``--resume``: its name, rows and provenance (key-value metadata)."""

    chunk: int
    name: str
    rows: int | None
    """None: any row count (files whose rows the defects or the population decide)."""
    metadata: dict[str, str]
    table: str = "events"

    @property
    def key(self) -> str:
        return file_key(self.table, self.name)

    @property
    def footer(self) -> bool:
        """Whether the file has provenance to check (a poison file has none: its digest must match)."""
        return bool(self.metadata)

    def admits(self, rec: PartRecord, rows: int) -> bool:
        """Whether a recorded file (holding ``rows`` rows) is the one expected here."""
        return (rec.chunk == self.chunk and rec.key == self.key and rec.poison == (not self.footer)
                and (self.rows is None or rows == self.rows))


def default_spool_root() -> Path:
    """Where runs keep their scratch files unless ``--spool-dir`` says otherwise."""
    return Path.home() / ".cache" / "temu-gen" / "spool"


SUFFIXES = {"parquet": ".parquet", "jsonl": ".jsonl.gz"}
"""The file name ending of each output format (``run.format``)."""


def part_name(index: int, fmt: str = "parquet") -> str:
    """File name of chunk ``index`` in format ``fmt``; zero-padded so names sort in chunk order."""
    return f"part-{index:05d}{SUFFIXES[fmt]}"


def is_jsonl(name: str) -> bool:
    return name.endswith(SUFFIXES["jsonl"])


def provenance(name: str, head: bytes) -> tuple[int, dict[bytes, bytes] | None]:
    """(rows, key-value metadata) that a jsonl part's first bytes (its gzip header) carry; (-1, None) if none."""
    from ..encode.gzip_member import read_provenance

    found = read_provenance(head) if is_jsonl(name) else None
    return found if found is not None else (-1, None)


def run_prefix(run_id: str, table: str = "events") -> str:
    """The run's folder or key prefix for ``table`` below the destination root."""
    return f"{table}/run_id={run_id}"


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number in strict JSON")


def parse_plan(data: bytes, where: str) -> object:
    """A recorded ``_run.json`` as strict JSON (no NaN or Infinity), or a one-line OutputError.

    Deep nesting (a RecursionError in the parser) is refused like any other bad file.
    """
    from ..errors import OutputError

    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        why = "it is nested too deeply" if isinstance(e, RecursionError) else f"{type(e).__name__}: {e}"
        raise OutputError(f"the recorded plan {where} is not valid JSON ({why}); this run cannot be resumed: "
                          f"start a new run") from None


def metadata_mismatch(found: dict[bytes, bytes] | None, expected: dict[str, str]) -> str | None:
    """Which expected key-value pair a part's Parquet footer lacks (None = all match)."""
    found = found or {}
    for key, value in expected.items():
        got = found.get(key.encode())
        if got is None or got.decode(errors="replace") != value:
            return f"{key} is {got.decode(errors='replace') if got else 'missing'}, expected {value}"
    return None


@dataclass(frozen=True)
class Holder:
    """Who holds a run's lock: enough to find the process, or to tell it is gone."""

    host: str
    pid: int
    started: str
    nonce: str
    pid_create_time: float = 0.0
    pid_namespace: str = ""
    """Linux: the holder's PID namespace; a container with the same host name counts pids on its own."""

    @classmethod
    def me(cls) -> Holder:
        import psutil

        return cls(socket.gethostname(), os.getpid(), dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   secrets.token_hex(8), psutil.Process().create_time(), _pid_namespace())

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def parse(cls, data: bytes) -> Holder | None:
        try:
            doc = json.loads(data)
            return cls(str(doc["host"]), int(doc["pid"]), str(doc["started"]), str(doc["nonce"]),
                       float(doc.get("pid_create_time", 0.0)), str(doc.get("pid_namespace", "")))
        except (ValueError, KeyError, TypeError, RecursionError):
            return None

    def is_gone(self) -> bool | None:
        """True if the holder is provably not running (same host, pid dead or reused); None = cannot tell."""
        if self.host != socket.gethostname() or (self.pid_namespace and self.pid_namespace != _pid_namespace()):
            return None
        import psutil

        try:
            return abs(psutil.Process(self.pid).create_time() - self.pid_create_time) > 1.0
        except psutil.NoSuchProcess:
            return True
        except (psutil.Error, ValueError, OverflowError):  # a pid that cannot be a process: cannot tell
            return None

    def describe(self) -> str:
        return f"pid {self.pid} on host {_printable(self.host)} since {_printable(self.started)}"


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _printable(text: str) -> str:
    """``text`` as it is, or quoted if it holds anything that could break a one-line message."""
    return text if text.isprintable() else repr(text)


def changed_message(run_id: str, location: str, changed: list[str]) -> str:
    """The delivered files found gone or altered just before the commit."""
    more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
    return (f"delivered file {changed[0]}{more} of run {run_id} at {location} vanished or changed before the "
            f"commit: another process writes there")


def locked_message(run_id: str, where: str, holder: Holder | None, forced: bool = False) -> str:
    """The one-line refusal for a run that another writer holds, with how to proceed.

    ``forced``: ``--force-unlock`` was given, so the message never asks for it again.
    """
    if forced and (holder is None or holder.is_gone() is not False):
        who = holder.describe() if holder is not None else "another process"
        return (f"run {run_id} at {where} was locked again by {who} while --force-unlock cleared the old lock; "
                f"another process is writing this run: wait for it to finish, or choose another --run-id")
    if holder is None:
        return (f"run {run_id} at {where} has an unreadable lock ({LOCK}); if no process is writing this run, "
                f"rerun with --force-unlock")
    gone = holder.is_gone()
    if gone:
        return (f"run {run_id} at {where} is locked by {holder.describe()}, which is no longer running (a stale "
                f"lock); if no other process writes this run, rerun with --force-unlock")
    if gone is None:
        return (f"run {run_id} at {where} is locked by {holder.describe()}; wait for it to finish, or if that "
                f"process is gone, rerun with --force-unlock")
    return (f"run {run_id} at {where} is being written by {holder.describe()}; wait for it to finish or stop it, "
            f"or choose another --run-id")


def lost_lock_message(run_id: str, where: str, holder: Holder | None) -> str:
    """Why a run that was about to commit did not: its lock was cleared (and maybe taken) by another process."""
    now = f"now held by {holder.describe()}" if holder is not None else "no longer there"
    return (f"run {run_id} at {where} lost its lock ({LOCK} {now}; was it cleared with --force-unlock while this "
            f"run was writing?), so it was not committed; another process may be writing this run")


class Delivery(Protocol):
    """Moves written parts to the destination and reports each exactly once."""

    def submit(self, record: PartRecord, path: Path) -> None:
        """Hand over a finished part file at ``path`` (a temp file the delivery now owns)."""

    def poll(self, timeout: float) -> list[PartRecord]:
        """Parts delivered since the last poll (waits up to ``timeout`` for the first)."""

    def close(self, ok: bool) -> None:
        """Stop delivering; with ``ok`` after every part was delivered, else at once."""


class RunTarget(Protocol):
    """One run at a destination: everything ``run`` does to it goes through these calls."""

    run_id: str
    location: str
    """Human-readable address of the run (a folder or an ``s3://`` URI)."""
    staging_dir: Path
    """Local folder where workers write finished part files before delivery."""
    spool_dir: Path
    """Local scratch folder private to this run attempt (the map stage's shards); regenerable, removed at the end."""

    def read_plan(self) -> dict | None:
        """The recorded ``_run.json`` (None if there is none); creates nothing."""

    def lock(self, holder: Holder, force: bool = False) -> None:
        """Become the run's only writer, or raise RunLocked naming the holder."""

    def unlock(self) -> None:
        """Release the lock if this process holds it."""

    def is_committed(self) -> bool:
        """Whether ``_SUCCESS`` exists."""

    def reset(self) -> None:
        """Un-commit (``_SUCCESS`` first) and remove everything of an earlier attempt but the lock."""

    def write_plan(self, plan: bytes) -> None:
        """Record the run's plan before any part."""

    def verify(self, expected: Sequence[PartExpectation]) -> dict[str, PartRecord]:
        """Files already there that are provably the expected ones, by :attr:`PartRecord.key`; removes every other."""

    def delivery(self, max_in_flight: int) -> Delivery:
        """Start delivering parts written into :attr:`staging_dir`."""

    def check_delivered(self, records: Sequence[PartRecord]) -> None:
        """Raise OutputError if a delivered file has gone or changed size (or ETag) since it was delivered."""

    def commit(self, manifest: bytes, gate) -> None:
        """Write the manifest, call ``gate.check()``, then ``_SUCCESS``; release the lock."""

    def abort(self) -> int:
        """Clean up after a failed run (never leaves ``_SUCCESS``); returns uploads aborted."""


class Sink(Protocol):
    """A destination (a folder, a bucket prefix) that holds runs."""

    location: str

    def open_run(self, run_id: str) -> RunTarget:
        """The target for run ``run_id``; touches nothing until a call on it does."""


def check_endpoint(url: str) -> str:
    """An http(s) URL with a host, or a one-line ConfigError."""
    try:
        u = urlparse(url)
        ok = (u.scheme in ("http", "https") and bool(u.hostname) and u.port != 0 and not u.query and not u.fragment
              and not any(c.isspace() or ord(c) < 32 for c in url))
    except ValueError:  # a port that is not a number
        ok = False
    if not ok:
        raise ConfigError(f"--endpoint-url {url!r} is not an http(s) URL; use e.g. https://s3.eu-west-1.amazonaws.com "
                          f"or http://127.0.0.1:7480")
    return url


__all__ = ["TABLES", "file_key", "MANIFEST", "SUCCESS", "RUN_PLAN", "LOCK", "MAX_PARTS", "PartRecord",
           "PartExpectation", "Holder", "Delivery", "RunTarget", "Sink", "part_name", "default_spool_root",
           "run_prefix", "metadata_mismatch", "locked_message", "lost_lock_message", "changed_message", "parse_plan",
           "SUFFIXES", "is_jsonl", "provenance", "check_endpoint"]

