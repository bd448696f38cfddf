"""EC2 sizing: predict a run's wall time, memory and cost per instance type from measured throughput.

Invariant: a prediction is a pure function of a :class:`Calibration` (measured on a real
machine, never assumed) and the instance catalog in ``config/instances.json``. The model:

* a vCPU is a hyperthread: x86 instances have vcpus/2 physical cores and the second
  thread of a core adds ``smt_core_fraction`` of a core; arm64 (Graviton) vCPUs are cores;
* compute rate = per-core events/s x usable cores x the measured parallel efficiency,
  compounded per doubling of workers;
* the upload rate is capped at 80% of the instance's baseline network bandwidth;
* workers are capped by memory: coordinator + uploader + workers x per-worker RSS must
  fit in 85% of the instance's memory;
* wall time = measured start-up + events / min(compute, network); cost = price per hour x
  wall time, billed per second with EC2's 60 s minimum;
* burstable types (the T family) are left out unless asked for: the generator keeps every
  core busy, so a T instance soon runs on CPU credits (or, unlimited, pays for surplus
  credits), and the model's sustained per-core rate would not hold.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import psutil

from .errors import ConfigError

_MEMORY_SHARE = 0.85
_NETWORK_SHARE = 0.8
_BURSTABLE = re.compile(r"^t[0-9]")  # EC2's burstable families: t2, t3, t3a, t4g


@dataclass(frozen=True)
class Calibration:
    """Throughput and memory measured on one machine."""

    events_per_s_per_core: float
    startup_s: float
    base_rss_mib: float
    worker_rss_mib: float
    bytes_per_event: float
    parallel_efficiency: float
    """speedup(2 workers) / 2 on the calibration machine, capped at 1."""
    machine: str
    measured_at: str


@dataclass(frozen=True)
class Instance:
    name: str
    vcpus: int
    memory_gib: float
    network_gbps: float
    arch: str
    usd_per_hour: float
    physical_cores: float | None = None
    """Known physical cores (the local machine); None = derive from vcpus and arch."""


@dataclass(frozen=True)
class Prediction:
    instance: str
    workers: int
    seconds: float
    events_per_s: float
    peak_memory_mib: float
    cost_usd: float
    bottleneck: str
    meets_constraints: bool = True


def is_burstable(instance_type: str) -> bool:
    return bool(_BURSTABLE.match(instance_type))


def load_catalog(region: str, include_burstable: bool = False) -> tuple[list[Instance], float, dict]:
    """The catalog's instances priced for ``region``; burstable types only with ``include_burstable``."""
    doc = json.loads(resources.files("temu_gen").joinpath("config_data/instances.json").read_text("utf-8"))
    factors = doc["region_price_factor"]
    if region not in factors:
        raise ConfigError(f"region {region!r} has no prices in config/instances.json; use one of {', '.join(factors)}")
    instances = [Instance(name, v["vcpus"], v["memory_gib"], v["network_gbps"], v["arch"],
                          round(v["usd_per_hour"] * factors[region], 4)) for name, v in doc["instances"].items()
                 if include_burstable or not is_burstable(name)]
    return instances, doc["smt_core_fraction"], {"as_of": doc["as_of"], "source": doc["source"]}


def usable_cores(inst: Instance, workers: int, smt_fraction: float) -> float:
    """Cores' worth of compute that ``workers`` busy processes get on ``inst``."""
    physical = inst.physical_cores or (inst.vcpus if inst.arch == "arm64" else inst.vcpus / 2)
    busy = min(workers, inst.vcpus)
    if busy <= physical:
        return busy
    return physical + smt_fraction * (busy - physical)


def predict(events: int, cal: Calibration, inst: Instance, smt_fraction: float, workers: int | None = None,
            to_network: bool = True) -> Prediction:
    """The predicted run of ``events`` on ``inst`` with ``workers`` (default: as many as fit)."""
    fit = math.floor((inst.memory_gib * 1024 * _MEMORY_SHARE - cal.base_rss_mib) / cal.worker_rss_mib)
    w = workers or max(0, min(inst.vcpus, fit))
    if w < 1:
        return Prediction(inst.name, 0, math.inf, 0.0, cal.base_rss_mib, math.inf, "memory", False)
    cores = usable_cores(inst, w, smt_fraction)
    efficiency = cal.parallel_efficiency ** math.log2(cores) if cores > 1 else 1.0
    compute = cal.events_per_s_per_core * cores * efficiency
    network = inst.network_gbps * 1e9 / 8 * _NETWORK_SHARE / cal.bytes_per_event if to_network else math.inf
    rate = min(compute, network)
    if network < compute:
        bottleneck = "network"
    elif workers is None and fit < inst.vcpus:
        bottleneck = "memory"
    else:
        bottleneck = "cpu"
    seconds = cal.startup_s + events / rate
    return Prediction(inst.name, w, seconds, events / seconds, cal.base_rss_mib + w * cal.worker_rss_mib,
                      inst.usd_per_hour * max(seconds, 60.0) / 3600, bottleneck)


def rank(events: int, cal: Calibration, instances: list[Instance], smt_fraction: float,
         deadline_s: float | None = None, budget_usd: float | None = None) -> list[Prediction]:
    """Every instance's prediction: those meeting the deadline and budget first, cheapest then fastest."""
    out = []
    for inst in instances:
        p = predict(events, cal, inst, smt_fraction)
        ok = p.workers > 0 and (deadline_s is None or p.seconds <= deadline_s) and \
            (budget_usd is None or p.cost_usd <= budget_usd)
        out.append(Prediction(**{**asdict(p), "meets_constraints": ok}))
    return sorted(out, key=lambda p: (not p.meets_constraints, p.cost_usd, p.seconds))


def this_machine() -> Instance:
    """The machine we run on, as an instance (local disk: no network cap, no price)."""
    mem = psutil.virtual_memory().total / 2**30
    return Instance("this machine", os.cpu_count() or 1, mem, math.inf, "local", 0.0,
                    physical_cores=float(psutil.cpu_count(logical=False) or os.cpu_count() or 1))


def _timed_run(events: int, workers: int, chunk: int, out: str) -> tuple[float, float, float]:
    """Wall seconds, peak tree RSS (MiB) and bytes written for one generator process."""
    cmd = [sys.executable, "-m", "temu_gen", "--no-progress", "--events", str(events), "--chunk-size", str(chunk),
           "--workers", str(workers), "--seed", "1", "--run-id", "cal", "--overwrite", "--output", out]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]))
        except psutil.Error:
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    _, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"calibration run failed: {err.strip()}")
    size = sum(p.stat().st_size for p in Path(out).rglob("part-*.parquet"))
    return seconds, peak / 2**20, size


def calibrate(small: int = 500_000, large: int = 1_500_000, chunk: int = 500_000, repeats: int = 3) -> Calibration:
    """Measure this machine: two sizes at 1 worker (rate and start-up), one at 2 (scaling, per-worker RSS).

    Each point is the best of ``repeats`` runs: shared and virtual machines add noise, never speed.
    """
    def best(events: int, workers: int, out: str) -> tuple[float, float, float]:
        runs = [_timed_run(events, workers, chunk, out) for _ in range(repeats)]
        return min(r[0] for r in runs), max(r[1] for r in runs), runs[0][2]

    with tempfile.TemporaryDirectory(prefix="temu-gen-cal-") as tmp:
        _timed_run(small, 1, chunk, tmp)  # warm the JIT cache and the page cache first
        t_small, rss1, _ = best(small, 1, tmp)
        t_large, _, size = best(large, 1, tmp)
        t_two, rss2, _ = best(large, 2, tmp) if (os.cpu_count() or 1) > 1 else (t_large, rss1, 0)
    per_core = (large - small) / max(t_large - t_small, 1e-6)
    startup = max(0.0, t_small - small / per_core)
    speedup = (large / max(t_two - startup, 1e-6)) / per_core
    worker = max(rss2 - rss1, 50.0)
    return Calibration(per_core, startup, max(rss1 - worker, 50.0), worker, size / large, min(1.0, speedup / 2),
                       machine=f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB",
                       measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def calibration_from_bench(doc: dict) -> Calibration:
    """Derive a calibration from ``bench/results/*.json`` (full runs at 1 and 2 workers, warm JIT start)."""
    b = {x["name"]: x for x in doc["benchmarks"]}
    try:
        one, two, warm = b["test_full_run[1]"], b["test_full_run[2]"], b["test_jit_start[warm]"]
    except KeyError as e:
        raise ConfigError(f"benchmark JSON lacks {e.args[0]}; run the full suite (python bench/run.py)") from None
    startup = warm["stats"]["min"]
    events = one["extra_info"]["events"]
    per_core = events / (one["stats"]["min"] - startup)
    speedup = (events / (two["stats"]["min"] - startup)) / per_core
    rss1, rss2 = one["extra_info"]["peak_rss_mib"], two["extra_info"]["peak_rss_mib"]
    worker = max(rss2 - rss1, 50.0)
    mb = float(one["extra_info"]["summary"].split(" MB,")[0].rsplit(" ", 1)[1])
    return Calibration(per_core, startup, max(rss1 - worker, 50.0), worker, mb * 1e6 / events, min(1.0, speedup / 2),
                       machine=doc.get("machine_info", {}).get("cpu", {}).get("brand_raw", "benchmark machine"),
                       measured_at=doc.get("datetime", ""))


def load_calibration(path: Path) -> Calibration:
    """A calibration saved by ``size --calibrate --save`` or a benchmark JSON, or a one-line ConfigError."""
    try:
        doc = json.loads(Path(path).read_text(), parse_constant=lambda c: float("nan"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ConfigError(f"calibration file {path} cannot be read ({type(e).__name__}: {e}); run with "
                          f"--calibrate") from None
    try:
        cal = calibration_from_bench(doc) if "benchmarks" in doc else Calibration(**doc)
        numbers = [v for v in asdict(cal).values() if isinstance(v, (int, float))]
        ok = all(math.isfinite(v) and v >= 0 for v in numbers) and cal.events_per_s_per_core > 0
    except (TypeError, KeyError, ValueError, IndexError, ZeroDivisionError, AttributeError):
        ok = False
    if not ok:
        fields = ", ".join(f.name for f in dataclasses.fields(Calibration))
        raise ConfigError(f"calibration file {path} is not a calibration (needs {fields}, finite and positive) "
                          f"nor a benchmark JSON; run with --calibrate")
    return cal
