"""LocalDirSink: runs written to ``<root>/<table>/run_id=<id>/`` on the local disk.

Invariant: workers write parts as unique temp files in the run's events folder; only the
coordinator renames one to its final name (in its table's folder), and a part counts as delivered once its
record is appended to ``_journal`` and fsynced. ``--resume`` keeps a part only if its
bytes hash to the journalled SHA-256 and its Parquet footer (a jsonl part: its gzip
header) names this run, seed, chunk and config. Every write goes through :mod:`temu_gen.files`, so nothing is ever
written through a planted link.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Sequence

from ..errors import OutputError, RunLocked
from ..files import create_whole, fsync_dir, remove, remove_stale_temps, write_atomic, write_new
from .base import (LOCK, MANIFEST, RUN_PLAN, SUCCESS, TABLES, Holder, PartExpectation, PartRecord, changed_message,
                   default_spool_root, file_key, is_jsonl, locked_message, lost_lock_message, metadata_mismatch,
                   parse_plan, provenance, run_prefix)

JOURNAL = "_journal"
"""One JSON line per delivered part, appended and fsynced before the part counts."""
_OURS = ("part-", "_", ".")


class LocalDirSink:
    """A local folder that holds runs."""

    def __init__(self, root: str | Path, spool_dir: str | Path | None = None):
        if not str(root).strip():
            raise OutputError("--output is empty; pass a folder or s3://BUCKET/PREFIX")
        self.root = Path(root)
        self.location = str(self.root)
        self.spool_root = Path(spool_dir) if spool_dir else default_spool_root()

    def open_run(self, run_id: str) -> LocalRun:
        return LocalRun(self.root, run_id, self.spool_root)


class LocalRun:
    """One run's folder."""

    def __init__(self, root: Path, run_id: str, spool_root: Path):
        self.root = root
        self.run_id = run_id
        self.dir = root / run_prefix(run_id)
        self.staging_dir = self.dir
        # scratch off the output disk, one folder per (output, run id): two outputs never share it
        where = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]
        self.spool_dir = spool_root / f"{run_id}.local-{where}"
        self.location = str(self.dir)
        self._holder: Holder | None = None

    def read_plan(self) -> dict | None:
        path = self.dir / RUN_PLAN
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise OutputError(f"the recorded plan {path} cannot be read ({type(e).__name__}: {e}); this run cannot "
                              f"be resumed: start a new run") from None
        return parse_plan(data, str(path))

    # --- the lock ----------------------------------------------------------------------------------------------
    def _make_dir(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise OutputError(f"output {self.root} is a file, not a folder; pass a folder to --output")
        _make_folder(self.dir, self.root)
        if self.dir.is_symlink() or not self.dir.is_dir():
            raise OutputError(f"run folder {self.dir} is a link or not a folder; remove it or choose another --run-id")

    def _check_spool(self) -> None:
        """Make the spool root (``--spool-dir``) if needed, or refuse it in one line: a file, or not writable."""
        root = self.spool_dir.parent
        if root.exists() and not root.is_dir():
            raise OutputError(f"spool folder {root} is a file, not a folder; pass a folder to --spool-dir")
        try:
            root.mkdir(parents=True, exist_ok=True)
            writable, why = os.access(root, os.W_OK | os.X_OK), "permission denied"
        except OSError as e:
            writable, why = False, e.strerror or str(e)
        if not writable:
            raise OutputError(f"spool folder {root} is not writable ({why}); pass --spool-dir")

    def table_dir(self, table: str, create: bool = False) -> Path | None:
        """The run's folder for ``table`` (None if it does not exist and ``create`` is off); never a link."""
        path = self.dir if table == "events" else self.root / run_prefix(self.run_id, table)
        if create:
            _make_folder(path, self.root)
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise OutputError(f"run folder {path} is a link or not a folder; remove it or choose another --run-id")
        return path if path.is_dir() else None

    def _table_dirs(self) -> list[tuple[str, Path]]:
        return [(t, d) for t in TABLES if (d := self.table_dir(t)) is not None]

    def lock(self, holder: Holder, force: bool = False) -> None:
        self._check_spool()  # before anything is made: a bad --spool-dir leaves no failed run behind
        self._make_dir()
        path = self.dir / LOCK
        for _ in range(2):
            self._holder = holder  # a signal mid-write: unlock below removes the lock only if it is ours
            try:
                create_whole(path, holder.to_bytes())  # a racing writer reads a whole holder, never an empty file
                return
            except FileExistsError:
                self._holder = None
                other = _read_holder(path)
                if other == holder:  # our own link, retried by NFS after its answer was lost
                    self._holder = holder
                    return
                if not force or (other is not None and other.is_gone() is False):  # never take a live writer's
                    raise RunLocked(locked_message(self.run_id, str(self.dir), other)) from None
                remove(path)
                force = False  # clear once, deliberately; a second collision is a live writer
            except OSError as e:
                self._holder = None
                raise OutputError(f"output {self.dir} is not writable ({e.strerror or e}); choose another --output") \
                    from None
            except BaseException:
                self.unlock()
                raise
        raise RunLocked(locked_message(self.run_id, str(self.dir), _read_holder(path), forced=True))

    def _check_held(self) -> None:
        """Just before the commit: the lock must still be this process's (not cleared by --force-unlock)."""
        now = _read_holder(self.dir / LOCK)
        if self._holder is None or now != self._holder:
            raise RunLocked(lost_lock_message(self.run_id, str(self.dir), now))

    def unlock(self) -> None:
        if self._holder is not None and _read_holder(self.dir / LOCK) == self._holder:
            remove(self.dir / LOCK)
        self._holder = None

    # --- state -------------------------------------------------------------------------------------------------
    def is_committed(self) -> bool:
        """``_SUCCESS`` is a regular file (a planted link, dangling or not, commits nothing and is removed)."""
        try:
            return stat.S_ISREG(os.lstat(self.dir / SUCCESS).st_mode)
        except FileNotFoundError:
            return False

    def reset(self) -> None:
        for name in (SUCCESS, MANIFEST):  # un-commit first: readers never see a mix of old and new
            self._unmark(name)
        fsync_dir(self.dir)
        for _, folder in self._table_dirs():
            for e in os.scandir(folder):
                if e.name != LOCK and e.name.startswith(_OURS) and not e.is_dir(follow_symlinks=False):
                    remove(Path(e.path))
        shutil.rmtree(self.spool_dir, ignore_errors=True)  # an earlier attempt's scratch: regenerable

    def _unmark(self, name: str) -> None:
        path = self.dir / name
        if path.is_dir() and not path.is_symlink():
            raise OutputError(f"{path} is a folder, which temu-gen never writes; remove it (it is not this run's) "
                              f"and rerun")
        remove(path)

    def write_plan(self, plan: bytes) -> None:
        write_atomic(self.dir / RUN_PLAN, plan)

    def verify(self, expected: Sequence[PartExpectation]) -> dict[str, PartRecord]:
        self._unmark(SUCCESS)
        remove_stale_temps(self.dir)
        journal = _read_journal(self.dir / JOURNAL)
        kept: dict[str, PartRecord] = {}
        wanted = {e.key: e for e in expected}
        for table, folder in self._table_dirs():
            for e in os.scandir(folder):
                if not e.name.startswith("part-"):
                    continue
                key = file_key(table, e.name)
                exp, rec = wanted.get(key), journal.get(key)
                if exp is not None and rec is not None and _proves(Path(e.path), rec, exp):
                    kept[key] = rec
                else:
                    remove(Path(e.path))
        # the journal from here on lists exactly the verified parts
        write_atomic(self.dir / JOURNAL, b"".join(_journal_line(kept[k]) for k in sorted(kept)))
        return kept

    # --- delivery and commit -----------------------------------------------------------------------------------
    def delivery(self, max_in_flight: int):
        from ..delivery import InlineDelivery

        return InlineDelivery(self.place)

    def place(self, record: PartRecord, path: Path) -> PartRecord:
        """Give a written temp file its final name (in its table's folder), then journal it: now it counts."""
        folder = self.table_dir(record.table, create=True)
        os.replace(path, folder / record.name)
        fsync_dir(folder)
        fd = os.open(self.dir / JOURNAL, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            os.write(fd, _journal_line(record))
            os.fsync(fd)
        finally:
            os.close(fd)
        return record

    def check_delivered(self, records: Sequence[PartRecord]) -> None:
        changed, folders = [], dict(self._table_dirs())
        for rec in records:
            folder = folders.get(rec.table)
            try:
                st = os.lstat(folder / rec.name) if folder is not None else None
            except FileNotFoundError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != rec.bytes:
                changed.append(f"{rec.table}/{rec.name}")
        if changed:
            raise OutputError(changed_message(self.run_id, str(self.dir), changed))

    def commit(self, manifest: bytes, gate) -> None:
        self._check_held()
        write_atomic(self.dir / MANIFEST, manifest)
        gate.check()
        remove(self.dir / SUCCESS)
        write_new(self.dir / SUCCESS, b"")
        fsync_dir(self.dir)
        remove(self.dir / JOURNAL)  # the manifest now records every part
        shutil.rmtree(self.spool_dir, ignore_errors=True)
        self.unlock()

    def abort(self) -> int:
        if self._holder is not None and _read_holder(self.dir / LOCK) == self._holder:
            remove_stale_temps(self.dir)  # not once another process holds the run: its temp files are its own
            shutil.rmtree(self.spool_dir, ignore_errors=True)
        self.unlock()
        return 0


def _read_holder(path: Path) -> Holder | None:
    try:
        return Holder.parse(path.read_bytes())
    except OSError:
        return None


def _journal_line(record: PartRecord) -> bytes:
    return (json.dumps(record.to_json(), sort_keys=True) + "\n").encode()


def _read_journal(path: Path) -> dict[str, PartRecord]:
    """Records by part name; a torn last line (a crash mid-append) is ignored."""
    out: dict[str, PartRecord] = {}
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            rec = PartRecord.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue
        out[rec.key] = rec
    return out


def _proves(path: Path, rec: PartRecord, exp: PartExpectation) -> bool:
    """The file is a regular file with the journalled size and digest, and its footer (or gzip header) names this
    run and chunk."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != rec.bytes or not exp.admits(rec, rec.rows):
            return False
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
        if h.hexdigest() != rec.sha256:
            return False
        if not exp.footer:
            return True  # the poison file: no footer, its digest is all there is
        if is_jsonl(rec.name):
            from ..encode.gzip_member import HEADER_PROBE

            with open(path, "rb") as f:
                rows, kv = provenance(rec.name, f.read(HEADER_PROBE))
        else:
            import pyarrow.parquet as pq

            meta = pq.read_metadata(path)
            rows, kv = meta.num_rows, meta.metadata
        return kv is not None and exp.admits(rec, rows) and metadata_mismatch(kv, exp.metadata) is None
    except Exception:  # noqa: BLE001 - anything unreadable is regenerated, never kept
        return False


def _make_folder(path: Path, root: Path) -> None:
    """``mkdir -p path`` under the output ``root``; a file in the way is named (not "File exists")."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        blocking = next((p for p in (*reversed(path.parents), path) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise OutputError(f"{blocking} is a file where the run needs a folder; remove it, or choose another "
                              f"--output or --run-id") from None
        raise OutputError(f"output {root} is not writable ({e.strerror or e}); choose another --output") from None
