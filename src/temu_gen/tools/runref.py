"""Find one committed run from what a user typed: where it is, its manifest, and exactly its files.

A run is named by its folder (``OUTPUT/events/run_id=ID``, or any of its tables' folders),
by ``OUTPUT`` plus ``--run-id ID``, or the same under ``s3://bucket/prefix`` (read with
pyarrow's S3 filesystem: DuckDB's httpfs extension would have to be downloaded). A jsonl
run, or any run a check reads whole, in S3 is first copied to a temporary folder
(:func:`stage`); :mod:`temu_gen.tools.views` opens the files in DuckDB.

Invariant: nothing is read from a run that has no ``_SUCCESS``, and a run's files are
exactly those its manifest lists, each a plain part name in its table's folder (no listed
name can point outside it), the poison file marked as such.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import TemuGenError
from ..sinks.base import MANIFEST, SUCCESS, TABLES, check_endpoint, is_jsonl, run_prefix

RUN_DIR = re.compile(r"(?P<root>.*?)/*(?:" + "|".join(TABLES) + r")/run_id=(?P<id>[^/]*)/*")
_FILE_NAME = re.compile(r"part-\d{5}(?:-partial)?\.(?:parquet|jsonl\.gz)")
"""Names a manifest may list: a plain part name, so no listed name can point outside the run's folder."""

class ManifestError(TemuGenError):
    """The run is committed but its manifest cannot be used: the run itself is broken (``validate`` reports it)."""


class UnreadableFiles(TemuGenError):
    """A committed run's files cannot be read as its manifest describes them (a torn or edited JSON line, say).

    ``validate`` reports it as a finding; to the other tools it is bad input."""


MIN_DUCKDB = (1, 3)
"""The first DuckDB with the file_index and file_row_number virtual columns the located events view reads."""


def require_duckdb():
    """The duckdb module, or the one-line error saying how to install it (it is the optional ``check`` extra)."""
    try:
        import duckdb
    except ImportError:
        raise TemuGenError("this command needs DuckDB: pip install 'temu-gen[check]'") from None
    found = tuple(int(p) for p in re.findall(r"\d+", duckdb.__version__)[:2])
    if found < MIN_DUCKDB:
        raise TemuGenError(f"this command needs DuckDB {'.'.join(map(str, MIN_DUCKDB))} or later (found "
                           f"{duckdb.__version__}): pip install -U 'temu-gen[check]'")
    return duckdb


class RunFile(NamedTuple):
    """One file the manifest lists."""

    table: str
    name: str
    path: str
    """Where it is on the run's filesystem."""
    rows: int
    bytes: int
    sha256: str
    part: int
    """The chunk it holds: the ``part`` of the defect labels that name its rows (events)."""
    schema_version: int = 1
    poison: bool = False

    @property
    def jsonl(self) -> bool:
        return is_jsonl(self.name)


@dataclass
class Run:
    """A committed run: where it is, its manifest, and its files per table."""

    fs: object
    """A pyarrow.fs.FileSystem."""
    root: str
    """The output root on ``fs`` (a local path, or bucket/prefix)."""
    run_id: str
    location: str
    """The output root as a user reads it (``s3://`` kept)."""
    manifest: dict
    s3: bool = False
    unstaged: tuple[str, ...] = ()
    """Objects of an S3 run's folders that no local file can hold (``a//b``, a name that is also a folder), as
    ``table/key``: :func:`stage` leaves them out, and validate names them as unlisted."""

    @property
    def format(self) -> str:
        return self.manifest.get("format") or "parquet"

    def folder(self, table: str = "events") -> str:
        return f"{self.root}/{run_prefix(self.run_id, table)}"

    def where(self, table: str = "events") -> str:
        return f"{self.location.rstrip('/')}/{run_prefix(self.run_id, table)}"

    def files(self, table: str) -> list[RunFile]:
        """The files the manifest lists for ``table``, in part order (the poison file included, flagged)."""
        docs = self.manifest["files"] if table == "events" else self.manifest.get("tables", {}).get(table, {}).get(
            "files", [])
        return [_run_file(self, table, d) for d in docs]

    def data_files(self, table: str) -> list[RunFile]:
        return [f for f in self.files(table) if not f.poison]

    def schema_doc(self, table: str, version: int = 1) -> list[dict] | None:
        """The recorded columns (name, type, nullable) of ``table``'s files of schema ``version``; None if the
        manifest has none in that shape."""
        if table == "events":
            doc = self.manifest.get("schema_versions", {"1": self.manifest.get("schema")})
            doc = doc.get(str(version)) if isinstance(doc, dict) else None
        else:
            doc = self.manifest.get("tables", {}).get(table, {})
            doc = doc.get("schema") if isinstance(doc, dict) else None
        ok = isinstance(doc, list) and all(isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(
            c.get("type"), str) and isinstance(c.get("nullable"), bool) for c in doc)
        return doc if ok else None


def _run_file(run: Run, table: str, d: object) -> RunFile:
    ok = isinstance(d, dict) and isinstance(d.get("name"), str) and _FILE_NAME.fullmatch(d["name"]) and all(
        isinstance(d.get(k), int) and not isinstance(d.get(k), bool) for k in ("rows", "bytes", "chunk")) and \
        isinstance(d.get("sha256"), str) and type(d.get("schema_version", 1)) is int and d.get("schema_version", 1) > 0
    if not ok:
        raise ManifestError(f"run {run.run_id}: the manifest lists a {table} file it does not describe (needs name "
                            f"part-NNNNN.parquet or .jsonl.gz, rows, bytes, chunk and sha256, and a schema_version "
                            f"from 1 if any): {json.dumps(d)[:120]}")
    if is_jsonl(d["name"]) != (run.format == "jsonl"):
        raise ManifestError(f"run {run.run_id}: the manifest says format {json.dumps(run.format)} and lists the "
                            f"{table} file {d['name']}")
    return RunFile(table, d["name"], f"{run.folder(table)}/{d['name']}", d["rows"], d["bytes"], d["sha256"],
                   d["chunk"], d.get("schema_version", 1), bool(d.get("poison")))


def hidden_name(name: str) -> bool:
    """Spark's and Hive's rule for names in a dataset folder that are not data: ``_SUCCESS``, ``_temporary``,
    ``_delta_log``, ``.crc``, ``.staging`` (a partition folder ``_day=3`` is data; Arrow skips that one too)."""
    return name.startswith(".") or name.startswith("_") and "=" not in name


def add_run_arguments(p) -> None:
    """The ways every tool names a run: RUN, --run-id, --endpoint-url."""
    p.add_argument("run", metavar="RUN", help="OUTPUT/events/run_id=ID, OUTPUT with --run-id, or the same under "
                   "s3://BUCKET/PREFIX")
    p.add_argument("--run-id", help="the run, when RUN is the output root")
    p.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS, or $AWS_ENDPOINT_URL)")


def s3_filesystem(endpoint_url: str | None = None):
    """pyarrow's S3 filesystem; credentials from the standard AWS environment, ``endpoint_url`` for S3-compatibles."""
    from pyarrow import fs as pafs

    kw = dict(connect_timeout=5, request_timeout=10)  # the generator's read timeout: a silent endpoint fails sooner
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        check_endpoint(endpoint)  # as the generator does: ftp://, 'http://' or a port of 99999 is a bad flag
        scheme, _, host = endpoint.partition("://")
        kw.update(endpoint_override=host.rstrip("/"), scheme=scheme)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ("us-east-1" if endpoint else None)
    if region:
        kw["region"] = region
    return pafs.S3FileSystem(**kw)


def filesystem(target: str, endpoint_url: str | None = None) -> tuple[object, str, bool]:
    """(filesystem, path on it, is S3) for a local path or an ``s3://bucket/prefix`` URI."""
    if target.startswith("s3:"):
        m = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?", target)
        if not m or "//" in (m.group(2) or "/").strip("/"):
            raise TemuGenError(f"{target!r} is not an S3 location; use s3://BUCKET/PREFIX")
        return s3_filesystem(endpoint_url), (m.group(1) + "/" + (m.group(2) or "").strip("/")).rstrip("/"), True
    from pyarrow import fs as pafs

    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(target)).rstrip("/") or "/", False


def _display(path: str, s3: bool) -> str:
    return f"s3://{path}" if s3 else path


def file_type(fs, path: str) -> str:
    """'file', 'dir' or 'none' (an unreachable S3 endpoint is a one-line error, not a traceback)."""
    from pyarrow import fs as pafs

    try:
        t = fs.get_file_info(path).type
    except OSError as e:
        raise TemuGenError(f"cannot read {path}: {str(e).splitlines()[0]}") from None
    return {pafs.FileType.File: "file", pafs.FileType.Directory: "dir"}.get(t, "none")


def list_run_ids(fs, root: str) -> list[str]:
    """Run ids that have an events folder under ``root``, sorted."""
    from pyarrow import fs as pafs

    try:
        infos = fs.get_file_info(pafs.FileSelector(f"{root}/events", allow_not_found=True))
    except OSError as e:
        raise TemuGenError(f"cannot list {root}/events: {str(e).splitlines()[0]}") from None
    return sorted(i.base_name[len("run_id="):] for i in infos
                  if i.type == pafs.FileType.Directory and i.base_name.startswith("run_id="))


def no_bucket(fs, root: str) -> bool:
    """Whether the bucket of ``root`` provably does not exist (a role that may only list its prefix cannot ask)."""
    try:
        return file_type(fs, root.split("/", 1)[0]) == "none"
    except TemuGenError:
        return False


def _hint(fs, root: str) -> str:
    ids = list_run_ids(fs, root) if file_type(fs, root) == "dir" else []
    if not ids:
        return ""
    return f" (runs there: {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})"


def read_text(fs, path: str) -> str:
    with fs.open_input_stream(path) as f:
        return f.read().decode("utf-8", errors="replace")


def open_run(target: str, run_id: str | None = None, endpoint_url: str | None = None) -> Run:
    """The committed run ``target`` names (see the module docstring), or a one-line TemuGenError saying why not."""
    fs, path, s3 = filesystem(target, endpoint_url)
    m = RUN_DIR.fullmatch(path)
    if m and run_id not in (None, m.group("id")):
        raise TemuGenError(f"{target} is the folder of run {m.group('id')}, but --run-id says {run_id}; give one")
    if m:
        root, run_id = m.group("root") or "/", m.group("id")
    elif run_id is None:
        if file_type(fs, path) == "none":
            raise TemuGenError(f"nothing at {target}" if s3 else f"no such folder: {target}")
        raise TemuGenError(f"{target} is not a run folder; give OUTPUT/events/run_id=ID, or OUTPUT --run-id ID"
                           f"{_hint(fs, path)}")
    else:
        root = path
    if file_type(fs, root) == "none" and not s3:
        raise TemuGenError(f"no such folder: {root}")
    run = Run(fs, root, run_id, _display(root, s3), {}, s3)
    if file_type(fs, run.folder()) != "dir":
        if s3 and no_bucket(fs, root):  # a typo in the bucket's name, as `runs` says it
            raise TemuGenError(f"no such bucket: s3://{root.split('/', 1)[0]}")
        raise TemuGenError(f"no run {run_id!r} in {run.location}{_hint(fs, root) or ' (no runs there)'}")
    if file_type(fs, f"{run.folder()}/{SUCCESS}") != "file":
        raise TemuGenError(f"run {run_id} in {run.location} is not committed (no {SUCCESS}): it failed or is still "
                           f"being written; `temu-gen runs {run.location}` shows its state")
    run.manifest = read_manifest(run)
    return run


def read_manifest(run: Run) -> dict:
    """The run's manifest, checked enough that the tools can walk it."""
    path = f"{run.folder()}/{MANIFEST}"
    if file_type(run.fs, path) != "file":
        raise ManifestError(f"run {run.run_id} is committed but has no {MANIFEST}")
    try:
        doc = json.loads(read_text(run.fs, path))
    except (ValueError, RecursionError) as e:
        why = e if isinstance(e, ValueError) else "nested too deeply"
        raise ManifestError(f"run {run.run_id}: {MANIFEST} is not valid JSON ({why})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise ManifestError(f"run {run.run_id}: {MANIFEST} has no list of files")
    tables = doc.get("tables", {})
    if not isinstance(tables, dict) or not all(isinstance(t, dict) and isinstance(t.get("files", []), list)
                                               for t in tables.values()):
        raise ManifestError(f"run {run.run_id}: {MANIFEST} has a 'tables' entry that is not a table of files")
    if doc.get("run_id") != run.run_id:
        raise ManifestError(f"run {run.run_id}: {MANIFEST} names run {doc.get('run_id')!r} (copied from another run?)")
    return doc


def stage(run: Run, dest: str) -> Run:
    """A local copy of the run's folders under ``dest`` (every file, listed or not), for checks that read it all;
    objects no local file can hold are left out and named in :attr:`Run.unstaged`."""
    from pyarrow import fs as pafs

    local, unstaged, staged = pafs.LocalFileSystem(), [], set()
    for table in TABLES:
        if file_type(run.fs, run.folder(table)) != "dir":
            continue
        target = os.path.join(dest, run_prefix(run.run_id, table))
        try:
            infos = run.fs.get_file_info(pafs.FileSelector(run.folder(table), recursive=True))
        except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid on a key with an empty segment ('a//b')
            infos = None
            unstaged.append(f"{table}/ (its listing fails: {str(e).splitlines()[0][:120]})")
        for info in sorted(infos or [], key=lambda i: i.path):  # a file before the keys under its name
            key = info.path[len(run.folder(table)) + 1:]  # 'a//b' keeps its empty segment
            if info.type != pafs.FileType.File:
                continue
            parts = key.split("/")
            # 'a//b' or '../x', or 'x/y' where 'x' is itself an object: keys S3 allows and no file can be
            if any(p in ("", ".", "..") for p in parts) or any("/".join(parts[:i]) in staged for i in
                                                                range(1, len(parts))):
                unstaged.append(f"{table}/{key}")
                continue
            path = os.path.join(target, key)
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                pafs.copy_files(info.path, path, source_filesystem=run.fs, destination_filesystem=local)
                staged.add(key)
            except ValueError:  # pyarrow's ArrowInvalid for a key it cannot address
                unstaged.append(f"{table}/{key}")
            except OSError as e:  # a full temporary disk, most often
                raise TemuGenError(f"cannot copy run {run.run_id} from {run.where(table)} to the temporary folder "
                                   f"{dest} ({str(e).splitlines()[0][:160]}); point TMPDIR at a disk with room for "
                                   f"the run") from None
    return Run(local, dest, run.run_id, run.location, run.manifest, s3=False, unstaged=tuple(unstaged))


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
