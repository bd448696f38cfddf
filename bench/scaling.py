"""The scaling table in one script: whole runs at 1, 2, 4, ... workers, then one large run on every core.

    python bench/scaling.py                         # 21M events at 1..cores workers, 105M at all cores
    python bench/scaling.py --events 2100000 --big 0 --workers 1,2   # a small table on a small machine
    python bench/scaling.py --cold                  # also time first runs into an empty numba cache

Each point is one fresh process, as a user starts it (``python -m temu_gen``), sampled by
:mod:`procmon`: wall seconds, the stages the manifest records (simulate, plan, write), peak RSS
of the tree, of the coordinator and of the largest worker, and PSS of the tree (shared pages
counted once; 0 where the kernel cannot report it). Efficiency is events/s against
``workers x`` the 1-worker rate at ``--events``. Output folders are removed after each point.

Invariant: nothing is extrapolated. A point that was not run is not in the table; the JSON
records the machine, the commit and every raw number.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from procmon import run_process, temu_gen_cmd

HERE = Path(__file__).resolve().parent


def _ladder(cores: int) -> list[int]:
    out, w = [], 1
    while w < cores:
        out.append(w)
        w *= 2
    return out + [cores]


def _point(events: int, workers: int, out: Path, env: dict | None = None) -> dict:
    info = run_process(temu_gen_cmd("--events", str(events), "--workers", str(workers), "--seed", "1",
                                    "--run-id", "scale", "--overwrite", "--output", str(out)), env=env,
                       interval=0.1)  # a sampler that reads 17 processes' memory every 20 ms takes a core itself
    manifest = json.loads((out / "events" / "run_id=scale" / "_manifest.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    stages = manifest.get("stage_seconds", {})
    return {"events": events, "workers": workers, "seconds": round(info["seconds"], 3),
            "events_per_s": round(events / info["seconds"]), "simulate_s": stages.get("simulate"),
            "plan_s": stages.get("plan"), "write_s": stages.get("write"),
            "peak_tree_rss_mib": round(info["peak_rss_mib"]), "peak_tree_pss_mib": round(info["peak_pss_mib"]),
            "peak_coordinator_rss_mib": round(info["peak_main_rss_mib"]),
            "peak_worker_rss_mib": round(info["peak_child_rss_mib"]),
            "pss_per_worker_mib": round(info["peak_pss_mib"] / workers) if info["peak_pss_mib"] else None}


def _machine() -> dict:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
    except OSError:  # no git where it runs
        commit = subprocess.CompletedProcess([], 1, "", "")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem), "python": platform.python_version(),
            "commit": commit.stdout.strip() or "unknown", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def table(doc: dict) -> str:
    """The scaling table as Markdown, efficiency against the 1-worker rate at the ladder's size."""
    base = next((p for p in doc["points"] if p["workers"] == 1 and p["events"] == doc["events"]), None)
    rows = ["| events | workers | wall s | events/s | efficiency | simulate / plan / write s | peak RSS tree / "
            "worker MiB | PSS per worker MiB |", "|---|---|---|---|---|---|---|---|"]
    for p in doc["points"]:
        eff = f"{p['events_per_s'] / (p['workers'] * base['events_per_s']):.0%}" if base else ""
        pss = p["pss_per_worker_mib"] if p["pss_per_worker_mib"] is not None else "n/a"
        rows.append(f"| {p['events']:,} | {p['workers']} | {p['seconds']:.2f} | {p['events_per_s'] / 1e6:.2f}M | "
                    f"{eff} | {p['simulate_s']} / {p['plan_s']} / {p['write_s']} | {p['peak_tree_rss_mib']} / "
                    f"{p['peak_worker_rss_mib']} | {pss} |")
    m = doc["machine"]
    cold = "".join(f"; first run into an empty numba cache, {what}: {doc[key]:.1f} s"
                   for key, what in (("cold_start_s", "shipped cache"), ("compile_start_s", "compiling"))
                   if doc.get(key))
    return (f"{m['cpus']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, commit {m['commit']}, "
            f"{m['at']}{cold}\n\n" + "\n".join(rows))


def main(argv: list[str] | None = None) -> int:
    cores = os.cpu_count() or 1
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=21_000_000, help="events per ladder point (default 21M)")
    p.add_argument("--workers", default=",".join(map(str, _ladder(cores))), help="ladder, e.g. 1,2,4,8,16")
    p.add_argument("--big", type=int, default=105_000_000, help="events of the last run on every core (0: skip)")
    p.add_argument("--cold", action="store_true", help="first time small runs into an empty numba cache: as a fresh "
                   "install (the shipped cache unpacked), and with no shipped cache (every kernel compiles)")
    p.add_argument("--json", type=Path, help="where to save the raw numbers (default bench/results/scaling-Ncpu.json)")
    p.add_argument("--dir", type=Path, help="scratch folder for the runs' output (default: a temporary folder)")
    args = p.parse_args(argv)
    ladder = [int(w) for w in args.workers.split(",") if w]
    doc = {"machine": _machine(), "events": args.events, "points": []}
    scratch = Path(tempfile.mkdtemp(prefix="temu-scale-", dir=args.dir))
    try:
        if args.cold:
            for key, off in (("cold_start_s", ""), ("compile_start_s", "off")):
                env = {"NUMBA_CACHE_DIR": str(scratch / f"numba-{key}"), "TEMU_GEN_PREBUILT": off}
                doc[key] = round(_point(100_000, cores, scratch / "out", env)["seconds"], 2)
                print(f"{key} (100k events, {cores} workers, empty cache): {doc[key]} s", flush=True)
        _point(100_000, 1, scratch / "out")  # warm the JIT cache and the page cache
        points = [(args.events, w) for w in ladder] + ([(args.big, max(ladder))] if args.big else [])
        for events, workers in points:
            doc["points"].append(_point(events, workers, scratch / "out"))
            print(json.dumps(doc["points"][-1]), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    target = args.json or HERE / "results" / f"scaling-{cores}cpu.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, indent=1))
    print(table(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
