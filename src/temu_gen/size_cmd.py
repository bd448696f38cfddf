"""``temu-gen size``: rank EC2 instance types (and Dask clusters) for a run, from a calibration of this machine.

Invariant: the command only reads or makes a calibration and prints :mod:`temu_gen.sizing`'s
predictions (a table, or JSON for Terraform); it generates no run. Bad flags and unreadable
calibration files are one line and exit 2, as everywhere in the CLI.
"""
from __future__ import annotations

import argparse
import re
import sys

from .cli import _Parser, _positive
from .fit import REPEATS


def main(argv: list[str]) -> int:
    return _size(parser().parse_args(argv))


def _duration(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; use e.g. 90s, 10m or 2h")
    value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _money(text: str) -> float:
    try:
        value = float(text.lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in USD") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _print_ranking(args, cal, catalog: dict, instances: list, ranked: list, best) -> None:
    usl = f"USL sigma {cal.sigma:.3f}" + (" (from the 2-worker efficiency: no fit saved)" if cal.usl_sigma is None
                                          else "") + f", kappa {cal.usl_kappa:.4f}"
    print(f"{args.events:,} events to S3 in {args.region}; calibration ({cal.machine}, {cal.repeats} passes): "
          f"{cal.events_per_s_per_core:,.0f} events/s per core, {usl}, start-up {cal.startup_s:.1f} s, "
          f"{cal.worker_rss_mib:.0f} MiB per worker, runs vary {cal.spread:.0%}; prices {catalog['as_of']} "
          f"({catalog['source']})")
    ranged = "(80% range)" if cal.fits else "(best-typical)"
    print(f"{'':2}{'instance':14}{'nodes':>6}{'vCPU':>5}{'workers':>8}{'wall s ' + ranged:>28}{'events/s':>12}"
          f"{'peak mem':>10}{'$/run':>9}  bottleneck")
    for p in ranked:
        mark = "*" if p is best else " " if p.meets_constraints else "x"
        inst = next(i for i in instances if i.name == p.instance)
        if cal.fits:
            wall = f"{p.seconds:.1f} ({p.seconds_low:.1f}-{p.seconds_high:.1f})"
        else:
            wall = f"{p.seconds:.1f}-{p.seconds_high:.1f}s"
        wall += "~" if p.extrapolated else ""
        print(f"{mark:2}{p.instance:14}{p.nodes:>6}{inst.vcpus:>5}{p.workers:>8}{wall:>28}{p.events_per_s:>12,.0f}"
              f"{p.peak_memory_mib / 1024:>8.1f}GiB{p.cost_usd:>9.4f}  {p.bottleneck}")
    if cal.fits:
        print("wall: the typical run, then the range 80% of the fits to resampled calibration passes predict; a "
              "deadline is held against its high end")
    if any(p.extrapolated for p in ranked):
        print(f"~ more workers than the {cal.measured_workers} the calibration measured: the speedup there is the "
              f"fit's extrapolation{'' if cal.fits else ', and the range above does not cover its error'}; "
              f"calibrate on a machine with that many cores")


def _passes(text: str) -> int:
    n = _positive(text)
    if n < 3:
        raise argparse.ArgumentTypeError(f"{text!r} passes are too few to give a prediction a range; use 3 or more")
    return n


def _node_list(text: str) -> tuple[int, ...]:
    words = [w.strip() for w in text.split(",")]
    if not all(w.isascii() and w.isdigit() for w in words):  # int() would take '+2', ' 2', '２' and '1_0'
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of node counts; use e.g. 1,2,4")
    nodes = tuple(sorted({int(w) for w in words}))  # each cluster shape ranked once
    if any(n < 1 or n > 1000 for n in nodes):
        raise argparse.ArgumentTypeError(f"{text!r}: a cluster has 1 to 1,000 nodes; use e.g. 1,2,4")
    return nodes


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="temu-gen size", description="Rank EC2 instance types for a run, from measured throughput.")
    p.add_argument("--events", type=_positive, default=2_100_000, help="events in the run (default 2,100,000)")
    p.add_argument("--deadline", type=_duration, help="longest acceptable wall time (e.g. 10m)")
    p.add_argument("--budget", type=_money, help="most a run may cost, in USD")
    p.add_argument("--region", default="eu-west-1", help="pricing region (default eu-west-1, Terraform's default)")
    p.add_argument("--include-burstable", action="store_true", help="also rank burstable T types (left out by "
                   "default: a CPU-bound run soon exhausts their CPU credits)")
    p.add_argument("--calibrate", action="store_true", help="measure this machine now (about 2 minutes on 2 cores: "
                   "runs at 1, 2, ... all workers, --repeats times)")
    p.add_argument("--repeats", type=_passes, default=REPEATS, help=f"passes over the calibration runs (default "
                   f"{REPEATS}, at least 3: the range of every prediction resamples them)")
    p.add_argument("--nodes", type=_node_list, default=(1,), help="also rank Dask clusters of these many instances, "
                   "e.g. 1,2,4 (default 1: single instances; needs a calibration made with Dask installed)")
    p.add_argument("--from", dest="source", help="calibration JSON (from --save, or bench/results/*.json)")
    p.add_argument("--save", help="where to save the calibration (default ~/.cache/temu-gen/calibration.json)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    return p


def _size(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    from pathlib import Path

    from . import sizing

    default = Path.home() / ".cache" / "temu-gen" / "calibration.json"
    if args.source:
        cal = sizing.load_calibration(Path(args.source))
    elif not args.calibrate and default.exists():
        cal = sizing.load_calibration(default)
    else:
        from .calibrate import calibrate

        why = "" if args.calibrate else f"no calibration saved at {default} yet: "
        print(f"{why}calibrating on this machine ({args.repeats} passes over runs at 1, 2, ... all workers; 10 take "
              f"about 2 minutes on 2 cores)...", file=sys.stderr, flush=True)
        cal = calibrate(repeats=args.repeats, say=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
        target = Path(args.save) if args.save else default
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(dataclasses.asdict(cal), indent=1))
    instances, smt, catalog = sizing.load_catalog(args.region, include_burstable=args.include_burstable)
    ranked = sizing.rank(args.events, cal, instances, smt, args.deadline, args.budget, args.nodes)
    best = next((p for p in ranked if p.meets_constraints), None)
    arch = next((i.arch for i in instances if best and i.name == best.instance), None)
    if args.format == "json":
        # Terraform takes instance_type and derives the same architecture from it (AMI and wheelhouse)
        doc = {"events": args.events, "region": args.region, "deadline_s": args.deadline, "budget_usd": args.budget,
               "calibration": dataclasses.asdict(cal), "catalog": catalog,
               "instance_type": best.instance if best else None, "architecture": arch,
               "include_burstable": args.include_burstable, "nodes": best.nodes if best else None,
               "recommended": dataclasses.asdict(best) if best else None,
               "predictions": [dataclasses.asdict(p) for p in ranked]}
        print(json.dumps(doc, indent=1, default=lambda x: None))
        return 0 if best else 1
    _print_ranking(args, cal, catalog, instances, ranked, best)
    print("* recommended (cheapest that meets the deadline and budget); x does not meet them. "
          "Terraform: -var instance_type=" + (f"{best.instance}  ({arch}; Terraform picks the AMI to match)" if best
                                               else "<none fits>"))
    if best and best.nodes > 1:
        print(f"a cluster of {best.nodes}: one scheduler and coordinator, every node running 'dask worker --nthreads 1 "
              f"--nworkers {best.workers}', the spool on shared storage; infra/terraform builds it with "
              f"-var dask_nodes={best.nodes} (docs/dask.md)")
    if not args.include_burstable:
        print("burstable T types left out (CPU credits run out on a CPU-bound run); --include-burstable ranks them")
    return 0 if best else 1
