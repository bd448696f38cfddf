"""Sizing: the model's rules, and its honesty against real runs on this machine."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from paths import ROOT
from temu_gen import sizing
from temu_gen.calibrate import calibrate, ladder
from temu_gen.fit import fit_usl

CAL = sizing.Calibration(events_per_s_per_core=500_000, startup_s=1.0, base_rss_mib=250, worker_rss_mib=300,
                         bytes_per_event=20.0, parallel_efficiency=0.95, machine="test", measured_at="now")


def _inst(name="x", vcpus=8, mem=16, gbps=10.0, arch="x86_64", price=0.36):
    return sizing.Instance(name, vcpus, mem, gbps, arch, price)


def test_a_vcpu_is_a_hyperthread_not_a_core():
    x86, arm = _inst(vcpus=8), _inst(vcpus=8, arch="arm64")
    assert sizing.usable_cores(x86, 4, 0.25) == 4
    assert sizing.usable_cores(x86, 8, 0.25) == 4 + 0.25 * 4
    assert sizing.usable_cores(arm, 8, 0.25) == 8
    assert sizing.predict(10**8, CAL, arm, 0.25).events_per_s > sizing.predict(10**8, CAL, x86, 0.25).events_per_s


def test_network_caps_the_upload():
    slow = sizing.predict(10**8, CAL, _inst(gbps=0.1), 0.25)
    assert slow.bottleneck == "network"
    assert slow.events_per_s <= 0.1e9 / 8 * 0.8 / CAL.bytes_per_event * 1.0001
    assert sizing.predict(10**8, CAL, _inst(gbps=100), 0.25).bottleneck == "cpu"


def test_memory_caps_the_workers():
    p = sizing.predict(10**7, CAL, _inst(vcpus=16, mem=2), 0.25)
    assert p.workers == int((2 * 1024 * 0.85 - 250) // 300) and p.bottleneck == "memory"
    assert p.peak_memory_mib <= 2 * 1024
    assert sizing.predict(10**7, CAL, _inst(mem=0.2), 0.25).workers == 0


def test_cost_bills_at_least_a_minute_and_ranking_respects_constraints():
    p = sizing.predict(1000, CAL, _inst(price=3.6), 0.25)
    assert p.cost_usd == pytest.approx(3.6 / 60)
    instances, smt, catalog = sizing.load_catalog("af-south-1")
    assert catalog["as_of"] and len(instances) >= 10
    ranked = sizing.rank(21_000_000, CAL, instances, smt, deadline_s=30)
    ok = [p for p in ranked if p.meets_constraints]
    assert ok and all(p.seconds <= 30 for p in ok) and ranked[: len(ok)] == ok
    assert [p.cost_usd for p in ok] == sorted(p.cost_usd for p in ok)
    with pytest.raises(Exception, match="no prices"):
        sizing.load_catalog("mars-east-1")


def test_usl_fit_recovers_the_curve_it_was_made_from():
    for sigma, kappa in ((0.05, 0.0), (0.02, 0.001), (0.0, 0.004)):
        cal = dataclasses.replace(CAL, usl_sigma=sigma, usl_kappa=kappa)
        points = [(c, cal.speedup(c)) for c in (2, 4, 8, 16)]
        got = fit_usl(points)
        assert got == pytest.approx((sigma, kappa), abs=1e-9)
    # one point (a 2-core machine) fixes sigma alone; a slowdown is no speedup at all, not a negative one
    assert fit_usl([(2, 1.6)]) == pytest.approx((0.25, 0.0))
    assert fit_usl([(2, 0.7)]) == (1.0, 0.0)
    assert fit_usl([]) == (0.0, 0.0)
    assert ladder(1) == [1] and ladder(2) == [1, 2] and ladder(4) == [1, 2, 4] and ladder(16) == [1, 2, 8, 16]


def test_speedup_bends_with_crosstalk_and_old_calibrations_still_load(tmp_path):
    flat = dataclasses.replace(CAL, usl_sigma=0.0, usl_kappa=0.0)
    assert flat.speedup(16) == 16 and flat.speedup(1) == 1
    bent = dataclasses.replace(CAL, usl_sigma=0.03, usl_kappa=0.002)
    assert bent.speedup(16) < bent.speedup(8) * 2 and bent.speedup(64) < bent.speedup(32)  # past the peak
    old = {k: v for k, v in dataclasses.asdict(CAL).items() if k in ("events_per_s_per_core", "startup_s",
           "base_rss_mib", "worker_rss_mib", "bytes_per_event", "parallel_efficiency", "machine", "measured_at")}
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = sizing.load_calibration(tmp_path / "old.json")
    assert loaded.speedup(2) == pytest.approx(2 * 0.95) and loaded.dask_overhead_s is None


def test_a_prediction_carries_the_spread_and_a_deadline_holds_against_it():
    cal = dataclasses.replace(CAL, spread=0.2)
    p = sizing.predict(10**8, cal, _inst(), 0.25)
    assert p.seconds_high == pytest.approx(p.seconds * 1.2)
    instances, smt, _ = sizing.load_catalog("us-east-1")
    for q in sizing.rank(21_000_000, cal, instances, smt, deadline_s=20):
        assert q.meets_constraints == (q.seconds_high <= 20)


def test_clusters_need_a_dask_calibration_and_pay_for_the_shared_spool():
    instances, smt, _ = sizing.load_catalog("us-east-1")
    with pytest.raises(Exception, match="no Dask measurement"):
        sizing.rank(10**8, CAL, instances, smt, nodes=(1, 2))
    cal = dataclasses.replace(CAL, usl_sigma=0.02, dask_overhead_s=0.6, spool_bytes_per_event=120.0)
    inst = _inst(vcpus=16, mem=32, gbps=12.5)
    one, four = (sizing.predict(10**9, cal, inst, smt, nodes=n) for n in (1, 4))
    assert four.nodes == 4 and four.seconds < one.seconds / 3 and four.cost_usd > one.cost_usd * 0.9
    thin = sizing.predict(10**9, cal, _inst(vcpus=16, mem=32, gbps=0.5), smt, nodes=4)
    assert thin.bottleneck == "network"  # each node moves its share of the spool as well as its uploads
    assert thin.events_per_s <= 4 * 0.5e9 / 8 * 0.8 / (CAL.bytes_per_event + 240) * 1.0001
    ranked = sizing.rank(10**9, cal, instances, smt, deadline_s=120, nodes=(1, 2, 4))
    assert {p.nodes for p in ranked} == {1, 2, 4} and len(ranked) == 3 * len(instances)


def test_burstable_types_are_left_out_unless_asked_for():
    names = {i.name for i in sizing.load_catalog("eu-west-1")[0]}
    with_t = {i.name for i in sizing.load_catalog("eu-west-1", include_burstable=True)[0]}
    assert with_t - names == {"t3.large", "t3.xlarge"}
    assert not any(sizing.is_burstable(n) for n in names) and "c7g.2xlarge" in names
    assert [sizing.is_burstable(n) for n in ("t3.large", "t4g.micro", "t3a.nano", "c6i.large", "m6i.2xlarge")] == \
        [True, True, True, False, False]


def _size_json(tmp_path, *args):
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(dataclasses.asdict(CAL)))
    r = subprocess.run([sys.executable, "-m", "temu_gen", "size", "--from", str(cal), "--format", "json", *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_size_json_gives_terraform_the_type_and_its_architecture(tmp_path):
    catalog = json.loads((ROOT / "config" / "instances.json").read_text())["instances"]
    doc = _size_json(tmp_path, "--events", "21000000")
    assert doc["region"] == "eu-west-1" and doc["include_burstable"] is False
    assert doc["architecture"] == catalog[doc["instance_type"]]["arch"]
    assert not any(p["instance"].startswith("t3") for p in doc["predictions"])
    # Graviton is cheapest per event here (full cores): the recommendation must say arm64, so Terraform's AMI matches
    arm = _size_json(tmp_path, "--events", "210000000", "--deadline", "20m")
    assert arm["instance_type"].startswith("c7g") and arm["architecture"] == "arm64"
    burst = _size_json(tmp_path, "--events", "21000000", "--include-burstable")
    assert {p["instance"] for p in burst["predictions"]} >= {"t3.large", "t3.xlarge"}


def test_size_command_json_feeds_terraform(tmp_path):
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(dataclasses.asdict(CAL)))
    r = subprocess.run([sys.executable, "-m", "temu_gen", "size", "--events", "21000000", "--from", str(cal),
                        "--format", "json", "--deadline", "2m"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["instance_type"] == doc["recommended"]["instance"] and doc["recommended"]["seconds"] <= 120
    table = subprocess.run([sys.executable, "-m", "temu_gen", "size", "--from", str(cal)], capture_output=True,
                           text=True)
    assert table.returncode == 0 and "instance_type=" in table.stdout and "c6i.2xlarge" in table.stdout


def test_a_real_calibration_keeps_every_pass_and_saves_and_loads(tmp_path):
    """The measuring path end to end on small runs (its figures are checked against real runs in the benchmark
    suite, bench/test_runs.py, not here: no timing assertions in tests)."""
    cal = calibrate(repeats=3, events_per_worker=60_000, chunk=60_000, dask=False)
    pool = [p for p in cal.points if p["engine"] == "pool"]
    assert {(p["workers"], p["events"]) for p in pool} >= {(1, 50_000), (1, 60_000)}
    assert all(len(p["seconds"]) == 3 and p["best_s"] <= p["median_s"] and p["cores"] > 0 for p in pool)
    assert cal.events_per_s_per_core > 0 and cal.repeats == 3 and cal.dask_overhead_s is None and len(cal.fits) == 400
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(dataclasses.asdict(cal)))
    loaded = sizing.load_calibration(path)
    p = sizing.predict(10**7, loaded, _inst(), 0.25)
    assert p.seconds_low <= p.seconds <= p.seconds_high and loaded.fits == cal.fits


def test_size_ranks_clusters_on_the_command_line(tmp_path):
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(dataclasses.asdict(dataclasses.replace(CAL, dask_overhead_s=0.6,
                                                                      spool_bytes_per_event=120.0))))
    base = [sys.executable, "-m", "temu_gen", "size", "--from", str(cal), "--events", "2000000000"]
    r = subprocess.run([*base, "--nodes", "1,4", "--deadline", "5m"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "nodes" in r.stdout and "wall s (best-typical)" in r.stdout and " 4 " in r.stdout
    doc = json.loads(subprocess.run([*base, "--nodes", "1,4", "--deadline", "5m", "--format", "json"],
                                    capture_output=True, text=True).stdout)
    assert doc["nodes"] == doc["recommended"]["nodes"] and {p["nodes"] for p in doc["predictions"]} == {1, 4}
    assert doc["nodes"] == 4  # 2e9 events in 5 minutes: only a cluster makes it, and the text says how to build it
    assert f"-var instance_type={doc['instance_type']}" in r.stdout
    assert "infra/terraform builds it with -var dask_nodes=4" in r.stdout
    bad = subprocess.run([*base, "--nodes", "0,2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "a cluster has 1 to 1,000 nodes" in bad.stderr and "Traceback" not in bad.stderr
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(dataclasses.asdict(CAL)))
    r = subprocess.run([sys.executable, "-m", "temu_gen", "size", "--from", str(plain), "--nodes", "2"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "no Dask measurement" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("text,needle", [("1,,2", "not a list"), ("+2", "not a list"), ("\uff12", "not a list"),
                                         ("1_0", "not a list"), ("2.0", "not a list"), ("", "not a list"),
                                         ("1000000", "1 to 1,000 nodes"), ("0", "1 to 1,000 nodes")])
def test_node_counts_are_plain_numbers_in_range(text, needle):
    import argparse

    from temu_gen.size_cmd import _node_list

    with pytest.raises(argparse.ArgumentTypeError, match=needle):
        _node_list(text)
    assert _node_list("1, 2,4") == (1, 2, 4) and _node_list("4,1,4") == (1, 4)


@pytest.mark.parametrize("text", ["0", "0s", "0m"])
def test_a_deadline_of_nothing_is_refused(text):
    import argparse

    from temu_gen.size_cmd import _duration

    with pytest.raises(argparse.ArgumentTypeError, match="must be positive"):
        _duration(text)
    assert _duration("1.5m") == 90


def test_predictions_past_the_measured_workers_are_marked_extrapolated(tmp_path):
    points = ({"engine": "pool", "workers": 1, "events": 10**6, "best_s": 3.0, "median_s": 3.1},
              {"engine": "pool", "workers": 2, "events": 2 * 10**6, "best_s": 3.3, "median_s": 3.5},
              {"engine": "dask", "workers": 2, "events": 2 * 10**6, "best_s": 3.9, "median_s": 4.0})
    cal = dataclasses.replace(CAL, points=points)
    assert cal.measured_workers == 2 and CAL.measured_workers == 2  # an old file: the 2-worker efficiency only
    assert not sizing.predict(10**7, cal, _inst(vcpus=8), 0.25, workers=2).extrapolated
    assert sizing.predict(10**7, cal, _inst(vcpus=8), 0.25).extrapolated  # 8 workers, 2 measured
    wide = dataclasses.replace(cal, points=points + ({"engine": "pool", "workers": 16, "events": 1.6e7,
                                                      "best_s": 5.0, "median_s": 5.2},))
    assert not sizing.predict(10**7, wide, _inst(vcpus=8), 0.25).extrapolated
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(dataclasses.asdict(cal)))
    r = subprocess.run([sys.executable, "-m", "temu_gen", "size", "--from", str(path), "--events", "21000000"],
                       capture_output=True, text=True)
    marked = [line for line in r.stdout.splitlines() if line.rstrip().endswith("cpu") and "s~" in line]
    assert marked and all(int(line.split()[-6]) > 2 for line in marked)  # the workers column
    assert "~ more workers than the 2 the calibration measured" in r.stdout


# --- the fit to measured passes, and the interval it gives every prediction --------------------------------------
def _passes(seed: int, n: int, noise: float = 0.08, sigma: float = 0.3, rate: float = 700_000.0,
            startup: float = 1.5) -> list:
    """A 2-core calibration's points from a known machine: each pass runs a little faster or slower (the host), each
    run on its own too, and one pass in five lands in a slow spell."""
    import random

    from temu_gen.fit import TINY, Point

    rng = random.Random(seed)
    cores = {1: 1.0, 2: 2.0}
    true = {("pool", 1, TINY): startup + TINY / rate}
    for w in (1, 2):
        true[("pool", w, 10**6 * w)] = startup + 10**6 * w / (rate * cores[w] / (1 + sigma * (cores[w] - 1)))
    seconds = {k: [] for k in true}
    for _ in range(n):
        host = rng.lognormvariate(0, noise) * (1.3 if rng.random() < 0.2 else 1.0)
        for k, t in true.items():
            seconds[k].append(t * host * rng.lognormvariate(0, noise))
    return [Point(e, w, ev, cores[w], tuple(v)) for (e, w, ev), v in seconds.items()]


def _cal_from(points) -> sizing.Calibration:
    from temu_gen.fit import fit

    f = fit(points, 0.0)
    return dataclasses.replace(CAL, events_per_s_per_core=f.rate, startup_s=f.startup, usl_sigma=f.sigma,
                               usl_kappa=f.kappa, repeats=len(points[0].seconds),
                               points=tuple({**p._asdict(), "seconds": list(p.seconds)} for p in points))


def test_the_fit_recovers_the_machine_it_was_measured_on():
    from temu_gen.fit import fit

    exact = fit(_passes(0, 5, noise=0.0), 0.0)
    assert (exact.rate, exact.startup, exact.sigma, exact.kappa) == pytest.approx((700_000, 1.5, 0.3, 0.0),
                                                                                  rel=1e-5, abs=1e-9)


def test_two_calibrations_agree_where_measured_and_each_range_covers_the_other():
    """Two calibrations of the same noisy machine (issue 12 asks for agreement within 10%): within the measured
    workers their typical predictions agree; past them (a 2-core calibration predicting 32 vCPUs) they need not, and
    then each one's 80% range holds the other's prediction about as often as two such estimates can (~63% for
    normal errors), i.e. the range is the honest size of the fit's error."""
    cases = {"measured": (_inst(vcpus=2, mem=8), 2, 2_100_000), "extrapolated": (_inst(vcpus=32, mem=64), None,
                                                                               105_000_000)}
    agree = {k: 0 for k in cases}
    covered = {k: 0 for k in cases}
    for trial in range(40):
        a, b = _cal_from(_passes(2 * trial, 10, noise=0.05)), _cal_from(_passes(2 * trial + 1, 10, noise=0.05))
        for k, (inst, workers, events) in cases.items():
            pa, pb = (sizing.predict(events, c, inst, 0.25, workers=workers) for c in (a, b))
            agree[k] += abs(pa.seconds / pb.seconds - 1) <= 0.10
            covered[k] += pa.seconds_low <= pb.seconds <= pa.seconds_high
    # and not so wide that it always covers: about 63% is what two estimates with normal errors give
    assert agree["measured"] >= 36 and all(24 <= c <= 37 for c in covered.values()), (agree, covered)


def test_every_prediction_carries_the_interval_of_resampled_fits(tmp_path):
    cal = _cal_from(_passes(3, 10))
    assert len(cal.fits) == 400 and cal.fits == _cal_from(_passes(3, 10)).fits  # resampling is seeded
    here = sizing.predict(2_100_000, cal, _inst(vcpus=2, mem=8), 0.25, workers=2)
    far = sizing.predict(105_000_000, cal, _inst(vcpus=32, mem=64), 0.25)
    for p in (here, far):
        assert p.seconds_low <= p.seconds <= p.seconds_high and p.seconds_low < p.seconds_high
    # the stretch past the measured workers widens the range (the fit's error there is in it)
    assert far.extrapolated and not here.extrapolated
    assert far.seconds_high / far.seconds_low > here.seconds_high / here.seconds_low
    # a noisier machine gives a wider range
    noisy = sizing.predict(2_100_000, _cal_from(_passes(3, 10, noise=0.2)), _inst(vcpus=2, mem=8), 0.25, workers=2)
    assert noisy.seconds_high / noisy.seconds_low > here.seconds_high / here.seconds_low
    # the passes travel with the saved calibration: the same ranges after a round trip
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(dataclasses.asdict(cal)))
    again = sizing.predict(105_000_000, sizing.load_calibration(path), _inst(vcpus=32, mem=64), 0.25)
    assert (again.seconds_low, again.seconds, again.seconds_high) == (far.seconds_low, far.seconds, far.seconds_high)
    # under 3 passes there is nothing to resample: the older best-typical range
    two = _cal_from(_passes(3, 2))
    assert two.fits == [] and sizing.predict(10**7, two, _inst(), 0.25).seconds_low == \
        sizing.predict(10**7, two, _inst(), 0.25).seconds
    r = subprocess.run([sys.executable, "-m", "temu_gen", "size", "--from", str(path), "--events", "21000000"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "wall s (80% range)" in r.stdout and "resampled calibration passes" in r.stdout
    row = next(line for line in r.stdout.splitlines() if line.split()[:1] == ["*"])
    low, high = map(float, row.split("(")[1].split(")")[0].split("-"))
    assert low < float(row.split("(")[0].split()[-1]) < high


def test_a_calibration_whose_passes_cannot_be_resampled_has_no_range_and_a_bad_one_is_refused(tmp_path):
    good = dataclasses.asdict(_cal_from(_passes(5, 6)))
    path = tmp_path / "cal.json"

    def load(doc):
        path.write_text(json.dumps(doc))
        return sizing.load_calibration(path)

    assert len(load(good).fits) == 400
    # a point without the start-up probe, or without a bigger 1-worker run, or with uneven passes: no range, no crash
    for broken in ([p for p in good["points"] if p["events"] != 50_000],
                   [p for p in good["points"] if p["workers"] != 1 or p["events"] == 50_000],
                   [{**p, "seconds": p["seconds"][:4]} if p["workers"] == 2 else p for p in good["points"]],
                   [{k: v for k, v in p.items() if k != "seconds"} for p in good["points"]]):
        cal = load({**good, "points": broken})
        p = sizing.predict(10**7, cal, _inst(), 0.25)
        assert cal.fits == [] and p.seconds_low == p.seconds <= p.seconds_high
    # a time that is not a finite positive number, or a count that is not a whole number: refused in one line
    for bad in ({"seconds": [1.0, float("nan"), 2.0]}, {"seconds": [1.0, -2.0, 3.0]}, {"seconds": "123"},
                {"workers": "x"}, {"seconds": [True, 1.0, 2.0]}):
        points = [{**good["points"][0], **bad}] + list(good["points"][1:])
        path.write_text(json.dumps({**good, "points": points}))
        with pytest.raises(Exception, match="is not a calibration"):
            sizing.load_calibration(path)
    r = subprocess.run([sys.executable, "-m", "temu_gen", "size", "--calibrate", "--repeats", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "too few" in r.stderr and "Traceback" not in r.stderr


def test_the_resampled_fits_carry_the_serial_step_and_the_dask_start_up():
    from temu_gen.fit import Point

    points = _passes(7, 10)
    two = next(p for p in points if p.workers == 2)
    points.append(Point("dask", 2, two.events, two.cores, tuple(x + 0.5 for x in two.seconds)))
    cal = dataclasses.replace(_cal_from(points), plan_s_per_mevent=2.0, dask_overhead_s=0.5,
                              spool_bytes_per_event=120.0)
    assert len(cal.fits) == 400
    assert all(f.plan_per_event == 2e-6 and f.dask_overhead == pytest.approx(0.5) for f in cal.fits)
    one, two_nodes = (sizing.predict(10**8, cal, _inst(vcpus=2, mem=8, gbps=100), 0.25, workers=2, nodes=n)
                      for n in (1, 2))
    for p in (one, two_nodes):
        assert p.seconds_low <= p.seconds <= p.seconds_high
    assert two_nodes.seconds < one.seconds
