"""Engines side by side: whole runs of the pool, a LocalCluster and a running Dask cluster, interleaved round by round.

    python bench/interleaved.py                              # default run, 7 rounds: pool, dask, scheduler, peer
    python bench/interleaved.py --events 21000000 --rounds 3 --variants pool,dask,scheduler
    python bench/interleaved.py --variants pool,scheduler,scheduler-pinned,peer

On a shared VM the same command drifts by ±20% from one minute to the next, so engines run one after the
other (as ``bench/test_engines.py`` does) can land in different spells; here every round runs each variant
once, in turn, and the medians are compared. Variants:

- ``pool``: ``--workers 2`` (the local process pool);
- ``dask``: ``--engine dask --workers 2`` (a LocalCluster per run);
- ``scheduler``: ``--scheduler`` of a cluster started once (``dask scheduler`` and a ``dask worker`` of 2
  one-thread processes), as a deployment would be;
- ``scheduler-pinned``: another such cluster whose workers start with ``MALLOC_MMAP_THRESHOLD_=131072``, which
  ``monitor.unpin_malloc`` leaves alone: a Dask worker as it was before that fix (glibc's thresholds pinned);
- ``peer``: ``bench/peer_random_columns.py``, the vectorised random-column script issue 12 compares against.

Every variant runs once untimed first (a new cluster loads its kernels then). Invariant: the same seed, run id
and size for every engine, each in a fresh process; the clusters are killed on exit.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from procmon import DASK_QUIET, temu_gen_cmd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
_PINNED = "distributed:\n  nanny:\n    pre-spawn-environ:\n      MALLOC_MMAP_THRESHOLD_: 131072\n"
VARIANTS = ("pool", "dask", "scheduler", "scheduler-pinned", "peer")


def _cluster(stack: ExitStack, env: dict) -> str:
    """The address of a new running cluster of 2 one-thread workers, killed when ``stack`` closes."""
    from procs import dask_cluster

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    address, workers, _ = stack.enter_context(dask_cluster(folder, env=env))
    workers(2)
    return address


def _commands(variants: list[str], events: int, out: Path, stack: ExitStack) -> dict[str, list[str]]:
    """Each variant's command line; the clusters it needs are started here and stopped with ``stack``."""
    common = ("--events", str(events), "--seed", "1", "--run-id", "bench", "--overwrite", "--output", str(out))
    env = {**os.environ, **DASK_QUIET}
    cmds = {}
    for v in variants:
        if v == "pool":
            cmds[v] = temu_gen_cmd("--workers", "2", *common)
        elif v == "dask":
            cmds[v] = temu_gen_cmd("--engine", "dask", "--workers", "2", *common)
        elif v == "scheduler":
            cmds[v] = temu_gen_cmd("--scheduler", _cluster(stack, env), *common)
        elif v == "scheduler-pinned":
            config = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            (config / "pinned.yaml").write_text(_PINNED)
            cmds[v] = temu_gen_cmd("--scheduler", _cluster(stack, {**env, "DASK_CONFIG": str(config)}), *common)
        else:
            cmds[v] = [sys.executable, str(HERE / "peer_random_columns.py"), "--events", str(events),
                       "--workers", "2", "--output", str(out / "peer")]
    return cmds


def _timed(cmd: list[str]) -> float:
    """Wall seconds of one whole process; a failed one ends the benchmark with its error."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **DASK_QUIET})
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def main() -> None:
    """Run every variant once untimed, then ``--rounds`` rounds of each in turn; print and save the medians."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=2_100_000)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--variants", default="pool,dask,scheduler,peer", help=f"comma-separated, of {VARIANTS}")
    p.add_argument("--json", type=Path, help="also save every time here")
    args = p.parse_args()
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {VARIANTS}")
    times: dict[str, list[float]] = {v: [] for v in variants}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as out:
        cmds = _commands(variants, args.events, Path(out), stack)
        for cmd in cmds.values():
            _timed(cmd)
        for i in range(args.rounds):
            for v, cmd in cmds.items():
                times[v].append(_timed(cmd))
            print(f"round {i + 1}: " + ", ".join(f"{v} {t[-1]:.2f} s" for v, t in times.items()), flush=True)
    base = statistics.median(times[variants[0]])
    print(f"{args.events:,} events, {args.rounds} rounds; whole process seconds, against {variants[0]}:")
    for v, t in times.items():
        med = statistics.median(t)
        print(f"  {v:17} min {min(t):6.2f}  median {med:6.2f}  max {max(t):6.2f}  ({med / base - 1:+.0%})")
    if args.json:
        args.json.write_text(json.dumps({"events": args.events, "rounds": args.rounds, "seconds": times}, indent=1))


if __name__ == "__main__":
    main()
