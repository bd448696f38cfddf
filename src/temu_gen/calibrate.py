"""Calibrate the sizing model on this machine: whole runs at 1, 2, ... all workers, repeated and interleaved.

Invariant: every number of the :class:`~temu_gen.sizing.Calibration` comes from runs measured
here (a fresh ``python -m temu_gen`` process each, as a user starts it), except the spool's
bytes per event, which is the spool's own layout. Repeats are interleaved (one pass over every
point, then the next pass), so a slow spell of a shared machine spreads over all points instead
of biasing one; each point keeps its best time (noise only ever adds time) and its median (what
a typical run takes), and the gap between them is the calibration's ``spread``.
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

from .kernels.codes import N_NARROW, N_WIDE
from .sizing import Calibration, load_catalog, this_machine, usable_cores

_TINY = 50_000
"""Events of the start-up probe: one small part, so the run is nearly all start-up."""
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


def fit_usl(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (sigma, kappa) >= 0 of ``c / S - 1 = sigma (c - 1) + kappa c (c - 1)`` over (cores, speedup)."""
    rows = [(c - 1.0, c * (c - 1.0), c / s - 1.0) for c, s in points if c > 1 and s > 0]
    if not rows:
        return 0.0, 0.0
    aa = sum(a * a for a, _, _ in rows)
    ab = sum(a * b for a, b, _ in rows)
    bb = sum(b * b for _, b, _ in rows)
    ay = sum(a * y for a, _, y in rows)
    by = sum(b * y for _, b, y in rows)
    det = aa * bb - ab * ab
    if len(rows) > 1 and det > 1e-12:
        sigma, kappa = (ay * bb - by * ab) / det, (aa * by - ab * ay) / det
        if sigma >= 0 and kappa >= 0:
            return min(sigma, 1.0), kappa
        if sigma < 0:  # the best fit with sigma held at 0
            return 0.0, max(0.0, by / bb)
    return min(1.0, max(0.0, ay / aa)), 0.0  # sigma 1: no speedup at all (a machine busy with something else)


def calibrate(repeats: int = 3, events_per_worker: int = 1_000_000, chunk: int = 500_000,
              dask: bool | None = None, say=None) -> Calibration:
    """Measure this machine; ``dask`` (default: when installed) also measures the Dask engine's start-up."""
    cores = os.cpu_count() or 1
    workers = ladder(cores)
    dask = importlib.util.find_spec("distributed") is not None if dask is None else dask
    runs: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="temu-gen-cal-") as tmp:
        _timed_run(_TINY, 1, _TINY, tmp)  # warm the JIT cache and the page cache first
        for r in range(repeats):
            keys = [("pool", 1, _TINY)] + [("pool", w, events_per_worker * w) for w in workers]
            keys += [("dask", min(2, cores), events_per_worker * min(2, cores))] if dask else []
            for key in keys:
                runs.setdefault(key, []).append(_timed_run(key[2], key[1], min(chunk, key[2]), tmp, key[0]))
            if say:
                say(f"pass {r + 1}/{repeats} done")
    return _derive(runs, workers, repeats, dask, cores)


def _derive(runs: dict[tuple, list[dict]], workers: list[int], repeats: int, dask: bool, cores: int) -> Calibration:
    best = {k: min(x["seconds"] for x in v) for k, v in runs.items()}
    median = {k: statistics.median(x["seconds"] for x in v) for k, v in runs.items()}
    plan_per_event = statistics.median(x["plan"] / k[2] for k, v in runs.items() for x in v if k[2] > _TINY)
    one = next(k for k in runs if k[:2] == ("pool", 1) and k[2] > _TINY)
    startup, rate = best[("pool", 1, _TINY)], 1.0
    for _ in range(5):  # the probe's own events are not start-up: solve the pair of equations by iteration
        rate = one[2] / max(best[one] - startup - plan_per_event * one[2], 1e-6)
        startup = max(0.0, best[("pool", 1, _TINY)] - _TINY / rate)
    local = this_machine()
    _, smt, _ = load_catalog("us-east-1")
    speedups = []
    for w in workers[1:]:
        key = next(k for k in runs if k[:2] == ("pool", w))
        r_w = key[2] / max(best[key] - startup - plan_per_event * key[2], 1e-6)
        speedups.append((usable_cores(local, w, smt), r_w / rate))
    sigma, kappa = fit_usl(speedups)
    two = next((s for c, s in speedups if c == usable_cores(local, 2, smt)), 2.0 if cores > 1 else 1.0)
    dask_key = next((k for k in runs if k[0] == "dask"), None)
    pool_key = ("pool", dask_key[1], dask_key[2]) if dask_key else None
    all_runs = [x for v in runs.values() for x in v]
    worker = max(x["worker_mib"] for x in all_runs) or 50.0
    return Calibration(
        events_per_s_per_core=rate, startup_s=startup, base_rss_mib=max(x["main_mib"] for x in all_runs),
        worker_rss_mib=max(worker, 50.0), bytes_per_event=runs[one][0]["bytes"] / one[2],
        parallel_efficiency=min(1.0, two / 2), machine=f"{cores} CPUs, {local.memory_gib:.0f} GiB",
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), usl_sigma=sigma, usl_kappa=kappa,
        plan_s_per_mevent=plan_per_event * 1e6,
        spread=max((median[k] - best[k]) / best[k] for k in runs if k[2] > _TINY), repeats=repeats,
        dask_overhead_s=max(0.0, best[dask_key] - best[pool_key]) if dask_key and pool_key in best else None,
        spool_bytes_per_event=float(SPOOL_BYTES_PER_EVENT),
        points=tuple({"engine": k[0], "workers": k[1], "events": k[2], "best_s": round(best[k], 3),
                      "median_s": round(median[k], 3)} for k in runs))
