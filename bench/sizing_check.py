"""Check the sizing model on this machine: calibrate twice, compare the two, and predict measured runs.

    python bench/sizing_check.py --scaling bench/results/scaling-16cpu.json   # after bench/scaling.py

1. Repeatability: two calibrations, one after the other (``--repeats`` passes each); for every
   point of the scaling table and a few catalog instances, the typical wall time each predicts
   with its 80% range, their difference (issue 12 asks for agreement within 10%), and whether
   the prediction is past the workers the calibration measured (``~``: the fit's extrapolation).
2. Honesty: the first calibration's prediction of every run in the scaling JSON (made by
   ``bench/scaling.py`` on this machine) against its measured wall time.

Invariant: the predictions are made with the same code as ``temu-gen size`` (:mod:`temu_gen.sizing`),
for this machine as :func:`~temu_gen.sizing.this_machine` describes it; nothing is fitted to
the runs it is checked against.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from temu_gen import sizing
from temu_gen.calibrate import calibrate
from temu_gen.fit import REPEATS

HERE = Path(__file__).resolve().parent
INSTANCES = ("c6i.2xlarge", "c6i.4xlarge", "c7g.4xlarge", "c6i.8xlarge")


def _predictions(cal: sizing.Calibration, runs: list[tuple[int, int]]) -> dict[str, sizing.Prediction]:
    local = sizing.this_machine()
    catalog, smt, _ = sizing.load_catalog("us-east-1")
    out = {f"this machine, {w} workers, {n:,} events": sizing.predict(n, cal, local, smt, workers=w,
                                                                       to_network=False) for n, w in runs}
    for inst in (i for i in catalog if i.name in INSTANCES):
        out[f"{inst.name}, 105,000,000 events"] = sizing.predict(105_000_000, cal, inst, smt)
    return out


def _cell(p: sizing.Prediction) -> str:
    return f"{p.seconds:.1f} ({p.seconds_low:.1f}-{p.seconds_high:.1f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scaling", type=Path, help="bench/scaling.py's JSON from this machine")
    p.add_argument("--repeats", type=int, default=REPEATS)
    p.add_argument("--json", type=Path, default=HERE / "results" / "sizing-check.json")
    args = p.parse_args(argv)
    scaling = json.loads(args.scaling.read_text()) if args.scaling else {"points": []}
    runs = [(x["events"], x["workers"]) for x in scaling["points"]] or [(2_100_000, 1), (2_100_000, 2)]
    cals = []
    for i in range(2):
        t = time.perf_counter()
        cals.append(calibrate(repeats=args.repeats))
        print(f"calibration {i + 1}: {time.perf_counter() - t:.0f} s, {json.dumps(dataclasses.asdict(cals[-1]))}",
              flush=True)
    first, second = (_predictions(c, runs) for c in cals)
    rows = ["| prediction | calibration 1 s (80% range) | calibration 2 s (80% range) | difference |",
            "|---|---|---|---|"]
    for key, a in first.items():
        b = second[key]
        rows.append(f"| {key}{' ~' if a.extrapolated else ''} | {_cell(a)} | {_cell(b)} | "
                    f"{b.seconds / a.seconds - 1:+.1%} |")
    rows += ["", "~ more workers than the calibration measured: the fit's extrapolation, whose error the range shows",
             "", "| measured run | predicted s (calibration 1, 80% range) | measured s | error |", "|---|---|---|---|"]
    for x in scaling["points"]:
        pred = sizing.predict(x["events"], cals[0], sizing.this_machine(), sizing.load_catalog("us-east-1")[1],
                              workers=x["workers"], to_network=False)
        rows.append(f"| {x['events']:,} events, {x['workers']} workers | {_cell(pred)} | "
                    f"{x['seconds']:.1f} | {pred.seconds / x['seconds'] - 1:+.1%} |")
    doc = {"calibrations": [dataclasses.asdict(c) for c in cals],
           "predictions": [{k: dataclasses.asdict(p) for k, p in d.items()} for d in (first, second)],
           "scaling": scaling, "table": "\n".join(rows)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=1))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
