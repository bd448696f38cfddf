"""EC2 sizing: predict a run's wall time, memory and cost per instance type (or Dask cluster) from measured throughput.

Invariant: a prediction is a pure function of a :class:`Calibration` (measured on a real
machine by :mod:`temu_gen.calibrate`, never assumed) and the instance catalog in
``config/instances.json``. The model:

* a vCPU is a hyperthread: x86 instances have vcpus/2 physical cores and the second
  thread of a core adds ``smt_core_fraction`` of a core; arm64 (Graviton) vCPUs are cores;
* compute rate = per-core events/s x the speedup of the usable cores, a Universal Scalability
  Law curve ``c / (1 + sigma (c - 1) + kappa c (c - 1))`` fitted to runs at 1, 2, ... all
  workers of the calibration machine;
* the coordinator's serial step between map and reduce (numbering orders, cutting parts) adds
  its measured seconds per event, whatever the cores;
* the upload rate is capped at 80% of the instance's baseline network bandwidth;
* workers are capped by memory: coordinator + workers x per-worker RSS must fit in 85% of
  the instance's memory;
* wall time = measured start-up + serial step + events / min(compute, network); cost = price
  per hour x nodes x wall time, billed per second with EC2's 60 s minimum;
* a Dask cluster of N nodes has N times one node's compute, pays the measured extra start-up
  of the Dask engine, and each node's network also carries its share of the spool (written
  by the map tasks to shared storage, read back by the reduce tasks);
* the central prediction is the fit to the median of each measured point's passes; each
  prediction carries an interval, the 10th to 90th percentile of the same prediction from
  fits to resampled passes (:mod:`temu_gen.fit`), so it widens where the fit is stretched
  (more workers than measured) and where the machine was noisy; a deadline is held against
  its high end; a prediction for more workers per node than the calibration ran is marked
  ``extrapolated`` (the fit's speedup, not a measurement). The range is the uncertainty of the
  fit within the calibration's window: it does not cover one run's own variation, nor the
  machine drifting between windows. A calibration without 3 or more passes (older files, or
  library calls with fewer) gives seconds .. seconds x (1 + ``spread``) instead;
* burstable types (the T family) are left out unless asked for: the generator keeps every
  core busy, so a T instance soon runs on CPU credits (or, unlimited, pays for surplus
  credits), and the model's sustained per-core rate would not hold.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import psutil

from .errors import ConfigError
from .fit import TINY, Fit, Point, bootstrap, quantiles

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
    usl_sigma: float | None = None
    """Contention of the USL fit; None (a calibration from before the fit): derived from ``parallel_efficiency``."""
    usl_kappa: float = 0.0
    """Crosstalk of the USL fit: what makes the speedup fall again past a peak."""
    plan_s_per_mevent: float = 0.0
    """The coordinator's serial step between map and reduce, seconds per million events."""
    spread: float = 0.0
    """How much longer a typical (median) run took than the best one, the largest over the measured points."""
    repeats: int = 1
    dask_overhead_s: float | None = None
    """Extra start-up of ``--engine dask`` over the pool; None where Dask was not installed."""
    spool_bytes_per_event: float = 0.0
    """The map stage's spool per event (uncompressed columns): what a cluster moves through shared storage."""
    points: tuple = ()
    """The measured runs: engine, workers, events, usable cores, best and median seconds, every pass's seconds."""

    @functools.cached_property
    def fits(self) -> list[Fit]:
        """Fits to resampled passes; empty (no range) unless every point has the same 3 or more passes' seconds
        and the start-up probe and a bigger 1-worker run are among them (older files have no passes)."""
        points = _passes(self.points)
        return bootstrap(points, self.plan_s_per_mevent / 1e6) if points else []

    @property
    def sigma(self) -> float:
        if self.usl_sigma is not None:
            return self.usl_sigma
        return max(0.0, 1.0 / max(self.parallel_efficiency, 1e-6) - 1.0)  # S(2) = 2e = 2 / (1 + sigma)

    @property
    def measured_workers(self) -> int:
        """The most workers of a measured pool run (2 for a calibration from before the ladder)."""
        return max((int(p.get("workers", 0)) for p in self.points if isinstance(p, dict)
                    and p.get("engine", "pool") == "pool"), default=2)

    def speedup(self, cores: float) -> float:
        """The USL speedup of ``cores`` usable cores over one."""
        return _usl(cores, self.sigma, self.usl_kappa)


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
    """Workers per node."""
    seconds: float
    events_per_s: float
    peak_memory_mib: float
    """Of the busiest node (the one that also runs the coordinator)."""
    cost_usd: float
    bottleneck: str
    meets_constraints: bool = True
    nodes: int = 1
    """Instances: 1 is the local pool; more is a Dask cluster of that many."""
    seconds_high: float = 0.0
    """The interval's high end: the 90th percentile over resampled fits (older calibrations: ``seconds`` x
    (1 + spread))."""
    seconds_low: float = 0.0
    """The interval's low end: the 10th percentile over resampled fits (older calibrations: ``seconds``)."""
    extrapolated: bool = False
    """More workers per node than the calibration measured: the speedup is the USL fit's, not a measurement."""


def _passes(points) -> list[Point]:
    """The calibration's points with every pass's seconds, or [] where they cannot be resampled as measured: a
    point without passes (older files) or not a valid one, no start-up probe or bigger 1-worker run, uneven or
    fewer than 3 passes."""
    if not all(map(_point_ok, points)):
        return []
    try:
        out = [Point(p["engine"], p["workers"], p["events"], float(p["cores"]), tuple(map(float, p["seconds"])))
               for p in points]
    except KeyError:
        return []
    complete = any(p[:3] == ("pool", 1, TINY) for p in out) and \
        any(p.engine == "pool" and p.workers == 1 and p.events > TINY for p in out)
    lengths = {len(p.seconds) for p in out}
    return out if complete and len(lengths) == 1 and min(lengths) >= 3 else []


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
            to_network: bool = True, nodes: int = 1) -> Prediction:
    """The predicted run of ``events`` on ``nodes`` x ``inst``, ``workers`` per node (default: as many as fit)."""
    fit = math.floor((inst.memory_gib * 1024 * _MEMORY_SHARE - cal.base_rss_mib) / cal.worker_rss_mib)
    w = workers or max(0, min(inst.vcpus, fit))
    if w < 1:
        return Prediction(inst.name, 0, math.inf, 0.0, cal.base_rss_mib, math.inf, "memory", False, nodes, math.inf,
                          seconds_low=math.inf)
    cores = usable_cores(inst, w, smt_fraction)
    per_event = cal.bytes_per_event + (2 * cal.spool_bytes_per_event if nodes > 1 else 0.0)
    network = nodes * inst.network_gbps * 1e9 / 8 * _NETWORK_SHARE / per_event if to_network else math.inf
    central = Fit(cal.events_per_s_per_core, cal.startup_s, cal.plan_s_per_mevent / 1e6, cal.sigma, cal.usl_kappa,
                  0.0, cal.dask_overhead_s)
    seconds, compute = _wall(events, central, cores, nodes, network)
    if network < compute:
        bottleneck = "network"
    elif workers is None and fit < inst.vcpus:
        bottleneck = "memory"
    else:
        bottleneck = "cpu"
    if cal.fits:
        low, high = quantiles([_wall(events, f, cores, nodes, network)[0] for f in cal.fits])
        low, high = min(low, seconds), max(high, seconds)
    else:
        low, high = seconds, seconds * (1 + cal.spread)
    return Prediction(inst.name, w, seconds, events / seconds, cal.base_rss_mib + w * cal.worker_rss_mib,
                      nodes * inst.usd_per_hour * max(seconds, 60.0) / 3600, bottleneck, True, nodes,
                      seconds_high=high, seconds_low=low, extrapolated=w > cal.measured_workers)


def _wall(events: int, f: Fit, cores: float, nodes: int, network: float) -> tuple[float, float]:
    """(wall seconds, compute events/s) of a run under fit ``f``: start-up, the serial step, then the slower of
    compute and network."""
    compute = nodes * f.rate * _usl(cores, f.sigma, f.kappa)
    startup = f.startup + ((f.dask_overhead or 0.0) if nodes > 1 else 0.0)
    return startup + f.plan_per_event * events + events / min(compute, network), compute


def _usl(cores: float, sigma: float, kappa: float) -> float:
    if cores <= 1:
        return max(cores, 0.0)
    return cores / (1.0 + sigma * (cores - 1.0) + kappa * cores * (cores - 1.0))


def rank(events: int, cal: Calibration, instances: list[Instance], smt_fraction: float,
         deadline_s: float | None = None, budget_usd: float | None = None,
         nodes: tuple[int, ...] = (1,)) -> list[Prediction]:
    """Every (instance, nodes) prediction: those meeting the deadline and budget first, cheapest then fastest.

    The deadline is held against the high end of the prediction's interval (``seconds_high``).
    """
    if any(n > 1 for n in nodes) and (cal.dask_overhead_s is None or not cal.spool_bytes_per_event):
        raise ConfigError("this calibration has no Dask measurement, so clusters cannot be ranked; install "
                          "'temu-gen[dask]' and run 'temu-gen size --calibrate' again, or leave out --nodes")
    out = []
    for inst in instances:
        for n in sorted(set(nodes)):
            p = predict(events, cal, inst, smt_fraction, nodes=n)
            ok = p.workers > 0 and (deadline_s is None or p.seconds_high <= deadline_s) and \
                (budget_usd is None or p.cost_usd <= budget_usd)
            out.append(dataclasses.replace(p, meets_constraints=ok))
    return sorted(out, key=lambda p: (not p.meets_constraints, p.cost_usd, p.seconds))


def this_machine() -> Instance:
    """The machine we run on, as an instance (local disk: no network cap, no price)."""
    mem = psutil.virtual_memory().total / 2**30
    return Instance("this machine", os.cpu_count() or 1, mem, math.inf, "local", 0.0,
                    physical_cores=float(psutil.cpu_count(logical=False) or os.cpu_count() or 1))


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
    spread = max((x["stats"]["median"] - x["stats"]["min"]) / x["stats"]["min"] for x in (one, two))
    return Calibration(per_core, startup, max(rss1 - worker, 50.0), worker, mb * 1e6 / events, min(1.0, speedup / 2),
                       machine=doc.get("machine_info", {}).get("cpu", {}).get("brand_raw", "benchmark machine"),
                       measured_at=doc.get("datetime", ""), spread=spread, repeats=one["stats"]["rounds"])


def _point_ok(p) -> bool:
    """A saved point: a dict whose counts are whole numbers and whose times are finite positive numbers."""
    def number(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0

    if not isinstance(p, dict) or not all(isinstance(p.get(k, 1), int) and not isinstance(p.get(k, 1), bool)
                                          for k in ("workers", "events")):
        return False
    times = [p[k] for k in ("best_s", "median_s", "cores") if k in p] + list(p.get("seconds", []))
    return isinstance(p.get("seconds", []), list) and all(map(number, times))


def load_calibration(path: Path) -> Calibration:
    """A calibration saved by ``size --calibrate --save`` or a benchmark JSON, or a one-line ConfigError."""
    try:
        doc = json.loads(Path(path).read_text(), parse_constant=lambda c: float("nan"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ConfigError(f"calibration file {path} cannot be read ({type(e).__name__}: {e}); run with "
                          f"--calibrate") from None
    try:
        cal = calibration_from_bench(doc) if "benchmarks" in doc else Calibration(**doc)
        numbers = [v for v in asdict(cal).values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        ok = all(math.isfinite(v) and v >= 0 for v in numbers) and cal.events_per_s_per_core > 0 \
            and isinstance(cal.points, (list, tuple)) and all(map(_point_ok, cal.points))
    except (TypeError, KeyError, ValueError, IndexError, ZeroDivisionError, AttributeError):
        ok = False
    if not ok:
        fields = ", ".join(f.name for f in dataclasses.fields(Calibration))
        raise ConfigError(f"calibration file {path} is not a calibration (needs {fields}, finite and positive) "
                          f"nor a benchmark JSON; run with --calibrate")
    return dataclasses.replace(cal, points=tuple(cal.points))
