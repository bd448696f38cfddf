"""Command line: ``temu-gen [run] [flags]`` generates a run; ``temu-gen schema`` prints the data dictionary.

Invariant: bad input never produces a traceback: every user error becomes one line on
stderr and a non-zero exit (2 bad input, 3 unusable output or a locked run, 4 failed
run, 70 internal error, 130 interrupted by Ctrl-C, 143 terminated by SIGTERM).
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys

from . import __version__
from .config import COMPRESSIONS, DEFECT_PRESETS as DEFECT_PRESET_NAMES, FORMATS, load
from .errors import ConfigError, TemuGenError, Terminated


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


MAX_WORKERS = 1024
"""More worker processes than any machine has cores only add memory; a typo such as 100000 would fork that many."""


def _workers(text: str) -> int:
    value = _positive(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{value} is more than {MAX_WORKERS:,} worker processes; use at most the "
                                         f"machine's cores ({os.cpu_count() or 1} here)")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and 2**63-1")
    return value


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30}


def _size(text: str) -> int:
    """'800MB', '6GiB', '16mib' or plain bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; use e.g. 800MB, 6GiB or 16MiB")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _run_id(text: str) -> str:
    from .run import check_run_id

    try:
        return check_run_id(text)
    except TemuGenError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 3600 seconds")
    return value


def _run_parser() -> argparse.ArgumentParser:
    # no abbreviations: '--work 8' must not pass for --workers, nor '--wait 4' slip past a deployment's checks
    p = _Parser(prog="temu-gen", description="Generate a synthetic Temu Nigeria event log as Parquet.",
                allow_abbrev=False, epilog=_COMMANDS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"temu-gen {__version__}")
    p.add_argument("--events", type=_positive, help="events in the run (default from config: 2,100,000)")
    p.add_argument("--chunk-size", type=_positive, help="rows per Parquet file (default 500,000)")
    p.add_argument("--workers", type=_workers, help="worker processes (default: all cores; 1 runs in-process; with "
                   "--engine dask, the local cluster's)")
    p.add_argument("--seed", type=_seed, help="run seed (default: random, recorded in the manifest)")
    p.add_argument("--run-id", type=_run_id, help="run id (default: UTC start time + random suffix)")
    p.add_argument("--output", type=_nonempty, default="./output",
                   help="destination folder or s3://BUCKET/PREFIX (default ./output)")
    p.add_argument("--config", help="JSON config, full or partial, merged over the defaults")
    p.add_argument("--compression", choices=COMPRESSIONS, help="Parquet codec (default zstd level 1)")
    p.add_argument("--format", choices=FORMATS, help="parquet (default), or jsonl: gzip JSON lines "
                   "(part-NNNNN.jsonl.gz, the raw landing format of Firehose and Segment), same layout and manifest")
    p.add_argument("--context", action="store_true", help="add a 'context' column: the JSON context object an "
                   "analytics SDK sends (user agent, screen, locale, UTM parameters, experiments; 400-800 bytes)")
    p.add_argument("--defects", choices=DEFECT_PRESET_NAMES, help="inject labelled defects (duplicates, late and "
                   "skewed events, contract violations, orphans, schema drift, a poison file): a preset over the "
                   "config's defects section; default: the config's (off)")
    p.add_argument("--overwrite", action="store_true", help="replace a committed run with the same id")
    p.add_argument("--resume", metavar="RUN_ID", type=_run_id, help="finish a failed run: keep its verified parts, "
                   "regenerate the rest from its recorded seed and config, then commit")
    p.add_argument("--force-unlock", action="store_true", help="clear the run's lock left by a writer that is gone "
                   "(only when no other process writes this run)")
    p.add_argument("--max-in-flight", type=_positive, help="chunks generated but not yet delivered (default workers+2)")
    p.add_argument("--max-memory", type=_size, help="RSS budget of the process tree (e.g. 6GiB); near it, no new "
                   "chunks start until uploads free memory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--spool-dir", type=_nonempty, help="local scratch folder: simulated shards before they are merged "
                   "into parts, and parts waiting for upload (default ~/.cache/temu-gen/spool)")
    p.add_argument("--engine", choices=("pool", "dask"), help="where the tasks run: pool (local processes, the "
                   "default) or dask (a local Dask cluster of --workers processes, or --scheduler's); see docs/dask.md")
    p.add_argument("--scheduler", metavar="ADDRESS", type=_nonempty, help="run the tasks on the Dask cluster of this "
                   "scheduler (e.g. tcp://10.0.1.5:8786); implies --engine dask")
    p.add_argument("--wait-workers", metavar="N", type=_positive, help="with --scheduler: wait (up to 30 minutes) "
                   "until the cluster has N worker processes before the run starts, e.g. while its machines boot")
    s3 = p.add_argument_group("S3 output (--output s3://BUCKET/PREFIX; credentials from the standard AWS chain)")
    s3.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL") or None,
                    help="S3-compatible endpoint (default: AWS, or $AWS_ENDPOINT_URL)")
    s3.add_argument("--region", help="AWS region (default: AWS_REGION / profile)")
    # no defaults here (S3Options holds them): a flag given with a local --output is refused, not ignored
    s3.add_argument("--sse", choices=("AES256", "aws:kms"), help="server-side encryption (default: the bucket's)")
    s3.add_argument("--sse-kms-key-id", help="KMS key for --sse aws:kms (default: the AWS managed key)")
    s3.add_argument("--part-size", type=_size, help="multipart part size (default 16MiB, min 5MiB)")
    s3.add_argument("--upload-concurrency", type=_positive, help="parts uploaded in parallel (default 8)")
    s3.add_argument("--s3-connect-timeout", type=_seconds, help="seconds to connect (default 5)")
    s3.add_argument("--s3-read-timeout", type=_seconds, help="seconds to wait for any byte of an answer (default 10)")
    s3.add_argument("--s3-deadline", type=_seconds, help="no request is retried after this many seconds since its "
                    "first attempt, so a stalled endpoint fails in about a minute (default 60)")
    return p


def _schema_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="temu-gen schema", description="Print the event log's data dictionary.")
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")
    p.add_argument("--config", help="config whose vocabularies to list (default: built-in)")
    return p


TOOLS = {"validate": "temu_gen.tools.validate", "reconcile": "temu_gen.tools.reconcile",
         "show": "temu_gen.tools.show", "runs": "temu_gen.tools.runs"}
"""Commands that read committed runs: each module's ``main(argv) -> int`` (errors as TemuGenError)."""
COMMANDS = ("run", "validate", "reconcile", "show", "runs", "size", "schema")
_COMMANDS_HELP = """commands (temu-gen COMMAND --help for each one's options):
  run        generate a run: the default, with the options above
  validate   check a committed run against its manifest and the data contract
  reconcile  compare a pipeline's output with the run it read, event by event
  show       print rows of a run's tables
  runs       list the runs under an output root
  size       rank EC2 instance types for a run, from a calibration of this machine
  schema     print the data dictionary"""
assert set(COMMANDS) == {"run", "schema", "size", *TOOLS}


def _unknown_command(word: str) -> str:
    """The one-line error for ``temu-gen WORD`` where WORD is no command (the run takes no positional argument)."""
    import difflib

    close = difflib.get_close_matches(word, COMMANDS, n=1)
    return f"unknown command {word!r}; " + (f"did you mean {close[0]}?" if close else
                                              f"the commands are {', '.join(COMMANDS)} (temu-gen --help)")


def entry() -> None:
    """Console-script entry: run, flush, and skip interpreter teardown.

    Tearing down numba's and LLVM's state takes ~0.35 s after all files are already written,
    closed and committed (pools joined, the uploader stopped), so the CLI leaves with ``os._exit``.
    """
    try:
        code = main()
    except SystemExit as e:  # argparse's --help, --version and usage errors: their output is still buffered
        if e.code is not None and not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:  # what main wrote sat in the buffer until now, and the reader has gone
        code = _reader_gone()
    except (OSError, ValueError):  # full or closed: main has reported what it could
        pass
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _stdout_is_broken() -> bool:
    """Whether this process's stdout is a pipe whose reader has gone (so a BrokenPipeError came from it)."""
    import select

    try:
        sys.stdout.flush()
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))  # a pipe with no reader polls as an error
    except BrokenPipeError:
        return True
    except (OSError, ValueError, AttributeError):  # not a real file (captured, closed): not ours to judge
        return False


def _reader_gone() -> int:
    """The reader of stdout went away (``| head``): nothing more to say, and the exit's own flush must not fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    return 141


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv``; every failure a user can cause is one line on stderr and an exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _log_warnings_as_lines()
    try:
        if argv[:1] == ["schema"]:
            return _schema(_schema_parser().parse_args(argv[1:]))
        if argv[:1] == ["size"]:
            from .size_cmd import main as size_main

            return size_main(argv[1:])
        if argv[:1] and argv[0] in TOOLS:
            import importlib

            return importlib.import_module(TOOLS[argv[0]]).main(argv[1:])
        if argv[:1] == ["run"]:
            argv = argv[1:]
        elif argv[:1] and not argv[0].startswith("-"):
            raise ConfigError(_unknown_command(argv[0]))
        return _run(_run_parser().parse_args(argv))
    except TemuGenError as e:
        print(f"temu-gen: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("temu-gen: interrupted", file=sys.stderr)
        return 130
    except Terminated as e:
        print(f"temu-gen: terminated by {signal.Signals(e.signum).name}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        if isinstance(e, BrokenPipeError) and _stdout_is_broken():  # our reader went away (| head): not an error
            return _reader_gone()
        print(f"temu-gen: error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", file=sys.stderr)
        return 3
    except Exception as e:  # noqa: BLE001 - a bug: still one line, with how to see the traceback
        if os.environ.get("TEMU_GEN_DEBUG"):
            raise
        print(f"temu-gen: internal error: {type(e).__name__}: {e} (rerun with TEMU_GEN_DEBUG=1 for the traceback, "
              f"and please report it)", file=sys.stderr)
        return 70


def _log_warnings_as_lines() -> None:
    log = logging.getLogger("temu_gen")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("temu-gen: warning: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.WARNING)
        log.propagate = False


def _schema(args: argparse.Namespace) -> int:
    from .dictionary import render_json, render_markdown
    from .params import build_params

    _, vocab = build_params(load(args.config))
    print(render_json(vocab) if args.format == "json" else render_markdown(vocab), end="")  # stdout may be closed
    return 0


def _sink(args: argparse.Namespace):
    from .sinks import LocalDirSink

    given = {k: v for k, v in vars(args).items() if k in _S3_ONLY and v is not None}
    if args.output.startswith("s3:"):
        from .sinks.s3 import S3Options, S3Sink

        opts = S3Options(endpoint_url=args.endpoint_url, region=args.region,
                         **{_S3_ONLY[k]: v for k, v in given.items()})
        return S3Sink(args.output, opts, spool_dir=args.spool_dir)
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{flags} {'applies' if len(given) == 1 else 'apply'} to S3 output only, and --output "
                          f"{args.output} is a local folder: drop {'it' if len(given) == 1 else 'them'}, or give "
                          f"--output s3://BUCKET/PREFIX")
    return LocalDirSink(args.output, spool_dir=args.spool_dir)


_S3_ONLY = {"sse": "sse", "sse_kms_key_id": "sse_kms_key_id", "part_size": "part_size",
            "upload_concurrency": "concurrency", "s3_connect_timeout": "connect_timeout_s",
            "s3_read_timeout": "read_timeout_s", "s3_deadline": "deadline_s"}
"""The flags that only an S3 output reads (by argparse dest) and their S3Options fields. --endpoint-url and
--region are not among them: they also come from the environment (AWS_ENDPOINT_URL, AWS_REGION), which a local run
may well have."""


def _check_resume_flags(args: argparse.Namespace) -> None:
    """--resume replays a recorded run: flags that would change it, or start it afresh, conflict with it."""
    given = [f for f, v in (("--events", args.events), ("--chunk-size", args.chunk_size), ("--seed", args.seed),
                            ("--config", args.config), ("--compression", args.compression),
                            ("--defects", args.defects), ("--format", args.format),
                            ("--context", args.context or None)) if v is not None]
    if given:
        raise ConfigError(f"--resume replays the recorded run, so {', '.join(given)} cannot be given with it")
    if args.overwrite:
        raise ConfigError("--resume keeps the failed run's verified parts and --overwrite starts a run afresh; "
                          "give one of them")
    if args.run_id is not None and args.run_id != args.resume:
        raise ConfigError(f"--resume {args.resume} and --run-id {args.run_id} name different runs; give --resume alone")


def _skip_numba_blas_probe() -> None:
    """Numba's first compile or cache load imports scipy.linalg (0.3 s) just to see whether BLAS exists.

    Our kernels use no BLAS, and this process is ours (the CLI), so when scipy is installed but
    not yet imported we make that probe fail fast. Library users importing temu_gen are unaffected.
    """
    if "scipy.linalg.cython_blas" not in sys.modules and "numba.np.arraymath" not in sys.modules:
        sys.modules["scipy.linalg.cython_blas"] = None  # type: ignore[assignment]  # import -> ImportError


class _NoPandas:
    """A meta path finder that makes ``import pandas`` fail (briefly installed by :func:`_spare_arrow_pandas`)."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("pandas is hidden from pyarrow in a temu-gen run", name=name)
        return None


def _spare_arrow_pandas() -> None:
    """pyarrow imports pandas (0.7 s) at its first conversion of Python or numpy values, when pandas is installed.

    It only looks for pandas objects, and the generator hands it none; in every worker process
    that import cost a default run about 0.3 s on 2 cores (interleaved runs, 2026-12-02). So this
    process, which is ours (the CLI), lets pyarrow's one attempt fail and pyarrow remembers it;
    forked workers inherit that. Library users importing temu_gen are unaffected.
    """
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    from .lifeline import deferred_signals

    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        with deferred_signals() as gate:  # the shim is Cython that drops exceptions: a SIGTERM raised in it was lost
            pa.scalar(0)  # pyarrow's pandas shim tries its import here, once per process
        gate.check()
    finally:
        sys.meta_path.remove(finder)


_SMALLEST_RUN = 250 * 2**20
"""About the least a run's process tree holds (one worker: 277 MiB peak on a default run, measured)."""


def _check_memory_budget(budget: int | None) -> None:
    """A --max-memory below what any run holds cannot be kept: the run goes on, one task at a time; say so."""
    if budget is not None and budget < _SMALLEST_RUN:
        shown = f"{budget:,} bytes" if budget < 2**20 else f"{budget / 2**20:,.0f} MiB"
        logging.getLogger("temu_gen").warning(
            "--max-memory %s is below what a run holds at its smallest (about %d MiB): it goes one task at a time "
            "and still exceeds the budget", shown, _SMALLEST_RUN // 2**20)


def _run(args: argparse.Namespace) -> int:
    from .lifeline import install_termination_handlers

    install_termination_handlers()  # from here on, SIGTERM ends in one line and exit 143
    if args.resume:
        _check_resume_flags(args)
    _check_memory_budget(args.max_memory)
    sink = _sink(args)
    cfg = None
    if not args.resume:
        if args.format == "jsonl" and args.compression not in (None, "gzip"):
            raise ConfigError(f"--compression {args.compression} is a Parquet codec; jsonl parts are always gzip: drop "
                              f"--compression, or use --format parquet")
        cfg = load(args.config).with_run(events=args.events, chunk_size=args.chunk_size, compression=args.compression,
                                         format=args.format, context=args.context or None)
        if args.defects:
            cfg = cfg.with_defects(args.defects)
    _skip_numba_blas_probe()
    _spare_arrow_pandas()
    from .engines import open_engine
    from .run import resume, run

    engine = open_engine(args.engine, args.scheduler, args.workers, args.wait_workers)
    try:
        workers = getattr(engine, "workers", None) or args.workers or min(os.cpu_count() or 1, MAX_WORKERS)
        common = dict(workers=workers, max_in_flight=args.max_in_flight, max_memory=args.max_memory,
                      progress=False if args.no_progress else None, force_unlock=args.force_unlock, engine=engine)
        if args.resume:
            summary = resume(sink, args.resume, **common)
        else:
            summary = run(cfg, sink, seed=args.seed, run_id=args.run_id, overwrite=args.overwrite, **common)
    finally:
        engine.close()
    return _report_committed(summary.line())


def _report_committed(line: str) -> int:
    """Print a committed run's summary; the run stays a success (exit 0) when stdout cannot take it.

    A pipeline judges the run by its exit code, and the run is committed whatever happens to this line:
    stdout closed (``>&-``) or full (``>/dev/full``) costs the line and a warning, not a failed run. A reader
    that went away (``| head``) keeps its usual ending (:func:`_reader_gone`).
    """
    try:
        if sys.stdout is None:  # started with stdout closed: Python gives no stream at all
            raise ValueError("stdout is closed")
        print(line, flush=True)
        return 0
    except BrokenPipeError:
        raise  # main's own ending for a reader that went away
    except (OSError, ValueError) as e:  # full, or closed under us
        # the CLI's warning line (logging drops it quietly where stderr is closed or full as well)
        logging.getLogger("temu_gen").warning("the run committed, but its summary could not be written to stdout "
                                              "(%s): %s", e, line)
        return 0
