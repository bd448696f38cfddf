"""Calibrate the sizing model on this machine: whole runs at 1, 2, ... all workers, repeated and interleaved.

Invariant: every number of the :class:`~temu_gen.sizing.Calibration` comes from runs measured
here (a fresh ``python -m temu_gen`` process each, as a user starts it), except the spool's
bytes per event, which is the spool's own layout. Repeats are interleaved (one pass over every
point, then the next pass), so a slow spell of a shared machine spreads over all points instead
of biasing one. Each point keeps every pass's time: the model is fitted to their medians
(:mod:`temu_gen.fit`), and predictions carry the interval of fits to resampled passes. The gap
between a point's median and its best is the calibration's ``spread`` (how much one run varies).
"""
from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from .fit import REPEATS, TINY, Point, fit
from .kernels.codes import N_NARROW, N_WIDE
from .sizing import Calibration, load_catalog, this_machine, usable_cores

SPOOL_BYTES_PER_EVENT = 8 * N_WIDE + 2 * N_NARROW  # int64 wide and int16 narrow columns (generate.py)


def ladder(cores: int) -> list[int]:
    """Workers to measure: 1, 2, half the cores (from 8 up) and all of them."""
    return sorted({1, min(2, cores), cores // 2 if cores >= 8 else 1, cores})


def _timed_run(events: int, workers: int, chunk: int, out: str, engine: str = "pool") -> dict:
    """Wall seconds, peak RSS of the coordinator and the largest worker (MiB), bytes written, plan seconds."""
    cmd = [sys.executable, "-m", "temu_gen", "--no-progress", "--events", str(events), "--chunk-size", str(chunk),
           "--workers", str(workers), "--seed", "1", "--run-id", "cal", "--overwrite", "--output", out,
           "--engine", engine]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps, main, worker = psutil.Process(proc.pid), 0, 0
    while proc.poll() is None:
        try:
            main = max(main, ps.memory_info().rss)
            worker = max([worker, *(c.memory_info().rss for c in ps.children(recursive=True))])
        except psutil.Error:
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    _, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"calibration run failed: {err.strip()}")
    run = Path(out) / "events" / "run_id=cal"
    plan = json.loads((run / "_manifest.json").read_text()).get("stage_seconds", {}).get("plan", 0.0)
    size = sum(p.stat().st_size for p in run.glob("part-*.parquet"))
    return {"seconds": seconds, "main_mib": main / 2**20, "worker_mib": worker / 2**20, "bytes": size, "plan": plan}


def calibrate(repeats: int = REPEATS, events_per_worker: int = 1_000_000, chunk: int = 500_000,
              dask: bool | None = None, say=None) -> Calibration:
    """Measure this machine; ``dask`` (default: when installed) also measures the Dask engine's start-up."""
    cores = os.cpu_count() or 1
    workers = ladder(cores)
    dask = importlib.util.find_spec("distributed") is not None if dask is None else dask
    runs: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="temu-gen-cal-") as tmp:
        _timed_run(TINY, 1, TINY, tmp)  # warm the JIT cache and the page cache first
        for r in range(repeats):
            keys = [("pool", 1, TINY)] + [("pool", w, events_per_worker * w) for w in workers]
            keys += [("dask", min(2, cores), events_per_worker * min(2, cores))] if dask else []
            for key in keys:
                runs.setdefault(key, []).append(_timed_run(key[2], key[1], min(chunk, key[2]), tmp, key[0]))
            if say:
                say(f"pass {r + 1}/{repeats} done")
    return _derive(runs, workers, repeats, dask, cores)


def _derive(runs: dict[tuple, list[dict]], workers: list[int], repeats: int, dask: bool, cores: int) -> Calibration:
    local = this_machine()
    _, smt, _ = load_catalog("us-east-1")
    points = [Point(e, w, n, usable_cores(local, w, smt), tuple(x["seconds"] for x in v))
              for (e, w, n), v in runs.items()]
    plan_per_event = statistics.median(x["plan"] / k[2] for k, v in runs.items() for x in v if k[2] > TINY)
    f = fit(points, plan_per_event)
    one = next(k for k in runs if k[:2] == ("pool", 1) and k[2] > TINY)
    all_runs = [x for v in runs.values() for x in v]
    worker = max(x["worker_mib"] for x in all_runs) or 50.0
    return Calibration(
        events_per_s_per_core=f.rate, startup_s=f.startup, base_rss_mib=max(x["main_mib"] for x in all_runs),
        worker_rss_mib=max(worker, 50.0), bytes_per_event=runs[one][0]["bytes"] / one[2],
        parallel_efficiency=min(1.0, f.speedup_2 / 2), machine=f"{cores} CPUs, {local.memory_gib:.0f} GiB",
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), usl_sigma=f.sigma, usl_kappa=f.kappa,
        plan_s_per_mevent=plan_per_event * 1e6,
        spread=max(statistics.median(p.seconds) / min(p.seconds) - 1 for p in points if p.events > TINY),
        repeats=repeats,
        dask_overhead_s=f.dask_overhead, spool_bytes_per_event=float(SPOOL_BYTES_PER_EVENT),
        points=tuple({"engine": p.engine, "workers": p.workers, "events": p.events, "cores": p.cores,
                      "best_s": round(min(p.seconds), 3), "median_s": round(statistics.median(p.seconds), 3),
                      "seconds": [round(x, 3) for x in p.seconds]} for p in points))
