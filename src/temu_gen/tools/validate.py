"""``temu-gen validate RUN``: check that a committed run is exactly what its manifest says, and honours the contract.

Checks, in order: the files (every file the manifest lists exists with its bytes and
SHA-256, no unlisted part files sit in the run's folders, footers hold the listed rows
and name this run, seed and config, totals add up), the schema of every file against its recorded version (a jsonl file:
it decompresses whole, its lines are the listed rows, every line's keys are the
recorded columns in order and every value has its column's JSON type: :mod:`.jsonl_lines`), then the content
in DuckDB SQL (:mod:`.contract`): per-row rules on unlabelled rows, enum domains,
duplicate event_ids, arrival order, references to users and orders, the order
lifecycle, sessions, identity, and that every defect label shows what it says.

Invariant: the run is read out of core (file digests stream; content is SQL over
Parquet), it is never modified, and the answer is exit 0 only when every check passed;
otherwise a short report (one line per problem kind, with a count and an example) and
exit 1. An S3 run is first copied to a temporary folder: the digests need every byte
anyway, and DuckDB's own S3 support would have to be downloaded.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..cli import _Parser
from ..sinks.base import TABLES, metadata_mismatch, provenance
from .contract import Checker, Problem
from .jsonl_lines import check_lines
from .runref import (RUN_DIR, ManifestError, Run, RunFile, UnreadableFiles, add_run_arguments, file_type, hidden_name,
                     open_run, require_duckdb, stage)
from .views import connect

MAX_LINES = 16
"""Problem kinds shown in the text report; the rest are counted on one line (the JSON has them all)."""


@dataclass
class Report:
    run_id: str
    location: str
    problems: list[Problem] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    summary: str = ""
    seconds: float | None = None
    """The whole check's wall time, loading the files included (None: the sum of the checks')."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def timed(self, name: str, fn, *args) -> None:
        t = time.perf_counter()
        found = fn(*args) or []
        self.checks.append({"name": name, "ok": not found, "problems": sum(p.count for p in found),
                            "seconds": round(time.perf_counter() - t, 3)})
        self.problems += found

    def text(self) -> str:
        secs = self.seconds if self.seconds is not None else sum(c["seconds"] for c in self.checks)
        if self.ok:
            return f"run {self.run_id} is valid: {self.summary}; {len(self.checks)} checks passed in {secs:.1f} s"
        kinds = sorted({p.kind for p in self.problems})
        n, k = len(self.problems), len(kinds)
        lines = [f"run {self.run_id} is NOT valid: {n} problem{'s' * (n != 1)} of {k} kind{'s' * (k != 1)} "
                 f"({self.location})"]
        for p in self.problems[:MAX_LINES]:
            lines.append(f"  {p.kind} ({p.count:,}): {p.message}" + (f"; e.g. {p.example}" if p.example else ""))
        if len(self.problems) > MAX_LINES:
            lines.append(f"  ... and {len(self.problems) - MAX_LINES} more (--format json lists them all)")
        failed = [c["name"] for c in self.checks if not c["ok"]]
        skipped = [f"{c['name']} ({c['skipped']})" for c in self.checks if c.get("skipped")]
        if not self.checks:
            lines.append("no checks ran: without a readable manifest there is nothing to check the files against")
        else:
            lines.append(f"failed checks: {', '.join(failed)}; {len(self.checks)} checks in {secs:.1f} s"
                         + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
        return "\n".join(lines)

    def json(self) -> str:
        return json.dumps({"ok": self.ok, "run_id": self.run_id, "location": self.location, "summary": self.summary,
                           "problems": [p.doc() for p in self.problems], "checks": self.checks, "seconds": self.seconds,
                           "timings": {c["name"]: c["seconds"] for c in self.checks}}, indent=1)


class _Tally:
    """Problems found file by file, gathered per kind (a count and the first example)."""

    MESSAGES = {
        "missing_file": "files the manifest lists are missing",
        "size_mismatch": "files differ in size from the manifest",
        "digest_mismatch": "files' SHA-256 differs from the manifest (changed since the run committed)",
        "unlisted_file": "files in the run's folders are not in the manifest (a reader of the folder reads them too)",
        "unreadable": "listed files are not readable Parquet or gzip JSON lines (their content is not checked)",
        "row_count": "files hold another number of rows than the manifest lists",
        "provenance": "files' footers (gzip headers) name another run, seed or config than the manifest",
        "schema": "files' schema differs from the recorded schema version (their content is not checked)",
        "manifest": "manifest totals disagree with its own file list",
    }

    def __init__(self):
        self.hits: dict[str, list[str]] = {}

    def add(self, kind: str, example: str) -> None:
        self.hits.setdefault(kind, []).append(example)

    def problems(self) -> list[Problem]:
        return [Problem(k, len(v), self.MESSAGES[k], v[0]) for k, v in self.hits.items()]


def _sha256(run: Run, f: RunFile) -> str:
    h = hashlib.sha256()
    with run.fs.open_input_stream(f.path, compression=None) as src:
        while block := src.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def _read_jsonl(run: Run, f: RunFile) -> tuple[str, int, list[str], str | None]:
    """One pass over a jsonl file: (sha256, lines, the first line's keys, why it cannot be read or None)."""
    h, rows, head, last, error = hashlib.sha256(), 0, b"", b"", None
    z, open_member, members = zlib.decompressobj(31), False, 0
    with run.fs.open_input_stream(f.path, compression=None) as src:
        while block := src.read(8 << 20):
            h.update(block)
            while block and error is None:
                try:
                    out = z.decompress(block)
                except zlib.error as e:
                    error = f"not gzip ({e})"
                    break
                open_member, rows, last = True, rows + out.count(b"\n"), out[-1:] or last
                if b"\n" not in head and len(head) < 1 << 24:
                    head += out[:1 << 20]
                block = b""
                if z.eof:  # concatenated members are one stream, as every gzip reader sees them
                    block, z, open_member, members = z.unused_data, zlib.decompressobj(31), False, members + 1
    if error is None and (open_member or not members):
        error = "the gzip stream is cut off (no trailer)" if members or open_member else "the file is empty"
    if error is None and rows and last != b"\n":
        error = "the last line is not complete"
    try:
        keys = list(json.loads(head.split(b"\n", 1)[0])) if rows and error is None else []
    except (ValueError, TypeError, RecursionError) as e:
        keys, error = [], f"the first line is not a JSON object ({str(e)[:60]})"
    return h.hexdigest(), rows, keys, error


def _type_text(t) -> str:
    return re.sub(r"list<element: ", "list<item: ", str(t))  # Parquet names list items 'element'; Arrow, 'item'


def _schema_difference(run: Run, f: RunFile, schema) -> str | None:
    want = run.schema_doc(f.table, f.schema_version)
    if want is None:
        return f"no recorded schema version {f.schema_version} (a list of columns with name, type and nullable)"
    have = [{"name": x.name, "type": _type_text(x.type), "nullable": x.nullable} for x in schema]
    want = [{**c, "type": _type_text(c["type"])} for c in want]
    if have == want:
        return None
    names_h, names_w = [c["name"] for c in have], [c["name"] for c in want]
    if names_h != names_w:
        extra, gone = sorted(set(names_h) - set(names_w)), sorted(set(names_w) - set(names_h))
        return f"columns {'+' + ','.join(extra) if extra else ''}{' -' + ','.join(gone) if gone else ''}".strip()
    c = next(h for h, w in zip(have, want) if h != w)
    return f"column {c['name']} is {c['type']}{'' if c['nullable'] else ' not null'}"


def _check_file(run: Run, f: RunFile) -> tuple[bool, list[tuple[str, str]]]:
    """Bytes, digest, footer and schema of one listed file: whether the SQL checks may read it, and its problems."""
    label, found = f"{f.table}/{f.name}", []
    info = run.fs.get_file_info(f.path)
    if info.size is None:
        return False, [("missing_file", label)]
    if info.size != f.bytes:
        found.append(("size_mismatch", f"{label}: {info.size:,} bytes, manifest says {f.bytes:,}"))
    jsonl = _read_jsonl(run, f) if f.jsonl and not f.poison else None
    if (jsonl[0] if jsonl else _sha256(run, f)) != f.sha256:
        found.append(("digest_mismatch", label))
    if f.poison:  # deliberately not Parquet (or gzip JSON lines): only its digest is promised
        return False, found
    if jsonl is not None:
        return _check_jsonl(run, f, label, jsonl, found)
    import pyarrow.parquet as pq

    try:
        with run.fs.open_input_file(f.path) as src:
            meta = pq.ParquetFile(src).metadata
            schema = meta.schema.to_arrow_schema()
    except Exception as e:  # noqa: BLE001 - any failure to parse the footer means the same thing here
        return False, found + [("unreadable", f"{label}: {str(e).splitlines()[0][:80]}")]
    if meta.num_rows != f.rows:
        found.append(("row_count", f"{label}: {meta.num_rows:,} rows, manifest says {f.rows:,}"))
    found += _provenance(run, label, meta.metadata)
    why = _schema_difference(run, f, schema)
    if why:
        found.append(("schema", f"{label} (version {f.schema_version}): {why}"))
    return not why, found


def _provenance(run: Run, label: str, metadata: dict[bytes, bytes] | None) -> list[tuple[str, str]]:
    """A file another run wrote (a copy, a restore from the wrong backup) can match every digest a forger edits."""
    m = run.manifest
    why = metadata_mismatch(metadata, {"temu_gen.run_id": run.run_id, "temu_gen.seed": str(m.get("seed")),
                                       "temu_gen.config_sha256": str(m.get("config_sha256"))})
    return [("provenance", f"{label}: {why}")] if why else []


def _check_jsonl(run: Run, f: RunFile, label: str, facts, found: list) -> tuple[bool, list[tuple[str, str]]]:
    _, rows, keys, error = facts
    if error:
        return False, found + [("unreadable", f"{label}: {error}")]
    with run.fs.open_input_stream(f.path, compression=None) as src:
        header = provenance(f.name, src.read(1 << 16))[1]
    if header is not None:  # a file gzipped anew has none; its other checks still hold it to the manifest
        found += _provenance(run, label, header)
    if rows != f.rows:
        found.append(("row_count", f"{label}: {rows:,} rows, manifest says {f.rows:,}"))
    want = [c.get("name") for c in run.schema_doc(f.table, f.schema_version) or []]
    if rows and keys != want:
        extra, gone = sorted(set(keys) - set(want)), sorted(set(want) - set(keys))
        why = f"keys {'+' + ','.join(extra) if extra else ''}{' -' + ','.join(gone) if gone else ''}".strip()
        why = why if extra or gone else "keys out of order"
        found.append(("schema", f"{label} (version {f.schema_version}): {why}"))
        return False, found
    return True, found


def _unlisted(run: Run, table: str, listed: set[str]) -> list[str]:
    """Files under ``table``'s run folder, at any depth, that a dataset reader (Spark, Hive, Arrow) would read with
    the run's but the manifest does not list: every name but hidden ones (:func:`hidden_name`: ``_SUCCESS``,
    ``.x.tmp``)."""
    folder = run.folder(table)
    found = [u.split("/", 1)[1] for u in run.unstaged if u.startswith(f"{table}/")]  # S3 keys no file can hold
    if file_type(run.fs, folder) != "dir":
        return sorted(found)
    from pyarrow import fs as pafs

    for info in run.fs.get_file_info(pafs.FileSelector(folder, recursive=True)):
        rel = info.path[len(folder):].lstrip("/")
        if info.type == pafs.FileType.File and rel not in listed and not any(map(hidden_name, rel.split("/"))):
            found.append(rel)
    return sorted(found)


def check_files(run: Run) -> tuple[list[Problem], dict[str, list[RunFile]]]:
    """The manifest's promises about files; returns the problems and, per table, the files the SQL checks may read."""
    tally, usable = _Tally(), {}
    listed = {t: run.files(t) for t in TABLES}
    with ThreadPoolExecutor(2) as pool:  # hashing releases the GIL: two files at a time
        checked = {t: list(pool.map(lambda f: _check_file(run, f), fs)) for t, fs in listed.items()}
    for table, files in listed.items():
        for _, found in checked[table]:  # in manifest order, so the first example is the first file at fault
            for kind, example in found:
                tally.add(kind, example)
        usable[table] = [f for f, (good, _) in zip(files, checked[table]) if good]
        for name in _unlisted(run, table, {f.name for f in files}):
            tally.add("unlisted_file", f"{table}/{name}")
    m = run.manifest
    clean = [f for f in listed["events"] if not f.poison]
    rows = sum(f.rows for f in clean)
    log_rows = sum(d.get("log_rows", d.get("rows", 0)) for d in m["files"] if not d.get("poison"))
    if rows != m.get("rows_written", m.get("events")) or log_rows != m.get("events"):
        tally.add("manifest", f"events: files list {rows:,} rows ({log_rows:,} of the clean log), manifest says "
                              f"{m.get('rows_written', m.get('events'))!r} ({m.get('events')!r})")
    for table, doc in m.get("tables", {}).items():
        if isinstance(doc, dict) and doc.get("rows") != sum(f.rows for f in listed.get(table, [])):
            tally.add("manifest", f"{table}: files list {sum(f.rows for f in listed.get(table, [])):,} rows, manifest "
                                  f"says {doc.get('rows')!r}")
    return tally.problems(), usable


def _config(run: Run, report: Report):
    """The run's own config and vocabularies (enum domains, ranges), or None with a problem saying why."""
    from ..config import parse
    from ..errors import TemuGenError
    from ..params import build_params

    try:
        cfg = parse(run.manifest.get("config") or {}, source="the manifest's config")
        return cfg, build_params(cfg)[1]
    except TemuGenError as e:
        report.problems.append(Problem("manifest", 1, f"its config cannot be read, so enums and ranges are not "
                                                      f"checked: {e}"))
        return None, None


def _recorded_labels(run: Run, report: Report) -> dict[str, int] | None:
    """The manifest's label count per defect type (None when it has none), or None with a problem saying why."""
    defects = run.manifest.get("defects") or {}
    labels = defects.get("labels") if isinstance(defects, dict) else defects
    if labels is None or isinstance(labels, dict) and all(
            isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool) for k, n in labels.items()):
        return labels
    report.problems.append(Problem("manifest", 1, "its defect label counts are not {defect: count}, so they are not "
                                                  f"checked: {json.dumps(labels)[:80]}"))
    return None


def _read_counts(con, usable: dict[str, list[RunFile]]) -> list[Problem]:
    """Rows the SQL checks read against the manifest, per events file and per table: a JSON lines reader skips
    blank lines that a count of line ends does not, and every later check would read shifted rows."""
    bad = []
    got = dict(con.execute("SELECT _part, count(*) FROM events GROUP BY _part").fetchall())
    bad += [f"events/{f.name}: {got.get(f.part, 0):,} rows read, manifest says {f.rows:,}"
            for f in usable["events"] if got.get(f.part, 0) != f.rows]
    for table in TABLES:
        if table != "events":
            n, want = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0], sum(f.rows for f in usable[table])
            bad += [f"{table}: {n:,} rows read from its files, manifest says {want:,}"] if n != want else []
    why = "files yield another number of rows to a JSON or Parquet reader than the manifest lists"
    return [Problem("rows_read", len(bad), why, bad[0])] if bad else []


def _content(run: Run, report: Report, usable: dict[str, list[RunFile]]) -> None:
    cfg, vocab = _config(run, report)
    recorded = _recorded_labels(run, report)
    late = cfg.defects.late_days[0] if cfg else None
    windows = {d["chunk"]: (d.get("first_ingest_ts"), d.get("last_ingest_ts")) for d in run.manifest["files"]
               if not d.get("poison")}
    # before the typed views exist: a value that does not cast would make them unreadable, and the report should
    # still say which value it was
    report.timed("json lines", check_lines, run, usable)
    with connect(run, files=usable, located=True, many_reads=True) as con:
        con.execute("SET preserve_insertion_order = false")  # no check depends on the order results come back in
        ck = Checker(con, cfg, vocab, late)
        report.timed("read counts", _read_counts, con, usable)
        report.timed("scan", ck.prepare)
        report.timed("rows", ck.rows)
        report.timed("enums", ck.enums)
        report.timed("duplicates", ck.duplicates)
        report.timed("arrival", ck.arrival, windows)
        if len(usable["events"]) < len(run.data_files("events")) or any(
                len(usable[t]) < len(run.files(t)) for t in ("users", "orders", "defects")):
            # rules across rows would mostly report the rows that went with the missing file: leave them out
            report.checks.append({"name": "across files", "ok": True, "problems": 0, "seconds": 0.0,
                                  "skipped": "a listed file could not be read"})
        else:
            report.timed("references", ck.references)
            report.timed("lifecycle", ck.orders)
            report.timed("sessions", ck.sessions)
            report.timed("identity", ck.identity)
            report.timed("labels", ck.labels, sorted(f.part for f in usable["events"]), recorded)
        n = con.execute("SELECT count(*) FROM events").fetchone()[0]
        labels = con.execute("SELECT count(*) FROM _labels").fetchone()[0]
    report.summary = (f"{n:,} rows in {len(run.data_files('events'))} events files"
                      + (f" ({labels:,} defect labels)" if labels else "")
                      + f", and {sum(len(run.files(t)) for t in TABLES if t != 'events')} files of its other tables")


def validate(run: Run) -> Report:
    """Every check over a local (or staged) committed run."""
    start = time.perf_counter()
    report = Report(run.run_id, run.where())
    found: dict = {}
    report.timed("files", lambda: found.setdefault("v", check_files(run))[0])
    try:
        _content(run, report, found["v"][1])
    except UnreadableFiles as e:  # the content checks could not start: that is the finding, not a crash
        report.problems.append(Problem("unreadable", 1, "files cannot be read as the manifest describes them (their "
                                                        "content is not checked)", str(e)))
    report.seconds = round(time.perf_counter() - start, 3)
    return report


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="temu-gen validate", description="Check a committed run against its manifest and the data "
                "contract. Exit 0 when everything holds, 1 with a short report otherwise.")
    add_run_arguments(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    require_duckdb()
    try:
        run = open_run(args.run, args.run_id, args.endpoint_url)
        with tempfile.TemporaryDirectory(prefix="temu-gen-validate-") as tmp:
            report = validate(stage(run, tmp) if run.s3 else run)
            report.location = run.where()
    except ManifestError as e:  # the run is committed but says nothing usable about itself: that is the finding
        named = RUN_DIR.fullmatch(args.run.rstrip("/"))
        report = Report(args.run_id or (named["id"] if named else "?"), args.run, [Problem("manifest", 1, str(e))],
                        seconds=0.0)  # nothing was checked
    print(report.json() if args.format == "json" else report.text(), flush=True)  # a no-op on a closed stdout
    return 0 if report.ok else 1
