"""``temu-gen runs [OUTPUT]``: list the runs under an output root, committed or not, with their key figures.

Invariant: a run is *committed* exactly when its ``_SUCCESS`` exists (as for every other
reader); a run without it is *in progress* while a live writer may hold its lock, and
*failed* otherwise (no lock, or a lock whose holder is provably gone). Figures of a
committed run come from its manifest; those of any other from its plan (``_run.json``)
and the part files present. Reads only small files and listings, never a part's content.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os

from ..cli import _Parser
from ..errors import OutputError, TemuGenError
from ..sinks.base import LOCK, MANIFEST, RUN_PLAN, SUCCESS, TABLES, Holder, run_prefix
from .runref import file_type, filesystem, list_run_ids, no_bucket, read_text


def _listing(fs, folder: str) -> dict[str, object]:
    from pyarrow import fs as pafs

    try:
        return {i.base_name: i for i in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))}
    except OSError as e:
        raise TemuGenError(f"cannot list {folder}: {str(e).splitlines()[0]}") from None


def _json(fs, path: str) -> dict:
    """A small JSON file's object; {} for one that is missing, not a file or not an object. A file that cannot be
    read at all (no credentials, access denied) is a one-line error: every run would look broken otherwise."""
    try:
        doc = json.loads(read_text(fs, path))
        return doc if isinstance(doc, dict) else {}
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, ValueError, RecursionError):
        return {}
    except OSError as e:
        raise _unreadable(path, e) from None


def _unreadable(path: str, e: OSError) -> OutputError:
    return OutputError(f"cannot read {path}: {str(e).splitlines()[0][:200]} (check the credentials, and that they "
                       f"may read objects there)")


def _when(info) -> str | None:
    mtime = getattr(info, "mtime", None)
    return mtime.astimezone(dt.timezone.utc).isoformat(timespec="seconds") if mtime else None


def _status(fs, folder: str, files: dict) -> str:
    from pyarrow import fs as pafs

    marker = files.get(SUCCESS)
    if marker is not None and marker.type == pafs.FileType.File and not _is_link(fs, marker.path):
        return "committed"  # as the run itself reads it: a regular file, not a folder or a planted link
    if LOCK not in files:
        return "failed"
    try:
        holder = Holder.parse(fs.open_input_stream(f"{folder}/{LOCK}").read())
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):  # released since the listing: no holder
        holder = None
    except OSError as e:
        raise _unreadable(f"{folder}/{LOCK}", e) from None
    return "failed" if holder is not None and holder.is_gone() else "in progress"


def _is_link(fs, path: str) -> bool:
    from pyarrow import fs as pafs

    return isinstance(fs, pafs.LocalFileSystem) and os.path.islink(path)


def _defects_on(config: dict) -> bool:
    from ..config import parse
    from ..errors import ConfigError

    try:
        return parse(config, source="plan").defects.enabled
    except ConfigError:
        return False


def _manifest_figures(manifest: dict) -> dict:
    """A committed run's figures from its manifest; {} where it has none to give."""
    try:
        tables = manifest.get("tables", {}).values()
        listed = manifest["files"] + [f for t in tables for f in t.get("files", [])]
        defects = manifest.get("defects") or {}
        counts = [manifest["events"], manifest.get("rows_written") or 0, *(f.get("bytes", 0) for f in listed),
                  *(defects.get("labels") or {}).values()]
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in counts):
            return {}  # a hand-edited count ("many") is an unreadable manifest, not a crash of the listing
        return dict(seed=manifest.get("seed"), events=manifest["events"], rows=manifest.get("rows_written"),
                    format=manifest.get("format") or "parquet", files=len(listed),
                    bytes=sum(f.get("bytes", 0) for f in listed), defects=bool(defects.get("enabled")),
                    labels=sum((defects.get("labels") or {}).values()))
    except (AttributeError, KeyError, TypeError, ValueError):
        return {}


def describe(fs, root: str, run_id: str) -> dict:
    """One run's row: status, seed, events, files, bytes, created, format, defects."""
    folder = f"{root}/{run_prefix(run_id)}"
    files = _listing(fs, folder)
    status = _status(fs, folder, files)
    plan = _json(fs, f"{folder}/{RUN_PLAN}") if RUN_PLAN in files else {}
    created = _when(files.get(RUN_PLAN)) or _when(files.get(SUCCESS))
    row = {"run_id": run_id, "status": status, "seed": plan.get("seed"), "created": created, "events": None,
           "rows": None, "format": None, "files": None, "bytes": None, "defects": None, "labels": None}
    if status == "committed":
        figures = _manifest_figures(_json(fs, f"{folder}/{MANIFEST}") if MANIFEST in files else {})
        # an empty, cut or hand-edited manifest under _SUCCESS is listed, and said to be one
        row.update(figures or {"status": "committed (manifest unreadable: run validate)"})
        return row
    parts = [i for t in TABLES for n, i in (_listing(fs, f"{root}/{run_prefix(run_id, t)}").items()
                                            if t != "events" else files.items()) if n.startswith("part-")]
    config = plan.get("config") if isinstance(plan.get("config"), dict) else {}
    row.update(events=(config.get("run") or {}).get("events"), format=(config.get("run") or {}).get("format"),
               files=len(parts), bytes=sum(i.size or 0 for i in parts),
               defects=_defects_on(config) if config else None)
    return row


def _fmt(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def render(location: str, rows: list[dict]) -> str:
    if not rows:
        return f"no runs in {location}"
    wide = max(12, *(len(r["status"]) + 2 for r in rows))  # "committed (manifest unreadable: ...)" fits too
    head = (f"{'status':<{wide}}{'run_id':<28}{'seed':>20}{'events':>12}{'files':>7}{'MB':>9}  {'created (UTC)':<26}"
            f"{'format':<8}defects")
    lines = [f"{len(rows)} run(s) in {location}", head]
    for r in rows:
        mb = None if r["bytes"] is None else r["bytes"] / 1e6
        defects = "-" if r["defects"] is None else ("on" if r["defects"] else "off")
        if r.get("labels"):
            defects += f" ({r['labels']:,} labels)"
        lines.append(f"{r['status']:<{wide}}{r['run_id']:<28}{_fmt(r['seed']):>20}{_fmt(r['events'], ','):>12}"
                     f"{_fmt(r['files']):>7}{_fmt(mb, ',.1f'):>9}  {_fmt(r['created']):<26}"
                     f"{_fmt(r.get('format') or 'parquet'):<8}{defects}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="temu-gen runs", description="List the runs under an output root.")
    p.add_argument("output", nargs="?", default="./output", help="the output root: a folder or s3://BUCKET/PREFIX "
                   "(default ./output)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS, or $AWS_ENDPOINT_URL)")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    fs, root, s3 = filesystem(args.output, args.endpoint_url)
    if not s3 and file_type(fs, root) != "dir":
        raise TemuGenError(f"no such folder: {args.output}")
    ids = list_run_ids(fs, root)
    if s3 and not ids and no_bucket(fs, root):  # not an empty listing: a typo in the name
        raise TemuGenError(f"no such bucket: {args.output}")
    rows = sorted((describe(fs, root, i) for i in ids), key=lambda r: (r["created"] or "", r["run_id"]))
    location = f"s3://{root}" if s3 else root
    print(json.dumps({"location": location, "runs": rows}, indent=1) if args.format == "json"
          else render(location, rows))
    return 0
