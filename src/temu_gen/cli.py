"""Command line: ``temu-gen [run] [flags]`` generates a run; ``temu-gen schema`` prints the data dictionary.

Invariant: bad input never produces a traceback: every user error becomes one line on
stderr and a non-zero exit (2 bad input, 3 unusable output, 4 failed run, 130 interrupted).
"""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .config import COMPRESSIONS, load
from .errors import RunFailed, TemuGenError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and 2**63-1")
    return value


def _run_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="temu-gen", description="Generate a synthetic Temu Nigeria event log as Parquet.")
    p.add_argument("--version", action="version", version=f"temu-gen {__version__}")
    p.add_argument("--events", type=_positive, help="events in the run (default from config: 2,100,000)")
    p.add_argument("--chunk-size", type=_positive, help="rows per Parquet file (default 500,000)")
    p.add_argument("--workers", type=_positive, default=os.cpu_count() or 1,
                   help="worker processes (default: all cores; 1 runs in-process)")
    p.add_argument("--seed", type=_seed, help="run seed (default: random, recorded in the manifest)")
    p.add_argument("--run-id", help="run id (default: UTC start time + random suffix)")
    p.add_argument("--output", default="./output", help="destination folder (default ./output)")
    p.add_argument("--config", help="JSON config, full or partial, merged over the defaults")
    p.add_argument("--compression", choices=COMPRESSIONS, help="Parquet codec (default zstd level 1)")
    p.add_argument("--overwrite", action="store_true", help="replace a committed run with the same id")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _schema_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="temu-gen schema", description="Print the event log's data dictionary.")
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")
    p.add_argument("--config", help="config whose vocabularies to list (default: built-in)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["schema"]:
            return _schema(_schema_parser().parse_args(argv[1:]))
        if argv[:1] == ["run"]:
            argv = argv[1:]
        return _run(_run_parser().parse_args(argv))
    except TemuGenError as e:
        print(f"temu-gen: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("temu-gen: interrupted", file=sys.stderr)
        return 130


def _schema(args: argparse.Namespace) -> int:
    from .dictionary import render_json, render_markdown
    from .params import build_params

    _, vocab = build_params(load(args.config))
    sys.stdout.write(render_json(vocab) if args.format == "json" else render_markdown(vocab))
    return 0


def _run(args: argparse.Namespace) -> int:
    from .run import run
    from .sinks import LocalDirSink

    cfg = load(args.config).with_run(events=args.events, chunk_size=args.chunk_size, compression=args.compression)
    sink = LocalDirSink(args.output)
    try:
        summary = run(cfg, sink, seed=args.seed, run_id=args.run_id, workers=args.workers, overwrite=args.overwrite,
                      progress=False if args.no_progress else None)
    except RunFailed as e:
        if isinstance(e.__cause__, KeyboardInterrupt):
            print(f"temu-gen: error: {e}", file=sys.stderr)
            return 130
        raise
    print(summary.line())
    return 0
