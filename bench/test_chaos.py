"""Chaos at scale: many seeded trials, each killing a random process of a run at a random moment, then resuming.

Every trial asserts what ``tests/chaos.py`` promises (nothing survives its coordinator, no
``_SUCCESS`` over inconsistent data, no open upload, an exact committed run after
``--resume``); the benchmark times the whole series and records what was killed and how
each run recovered. ``--quick`` runs two local trials; the full suite 20 local and 10 S3
(moto over HTTP).
"""
from __future__ import annotations

import collections
import random
import sys
import uuid

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from chaos import Shape, Target, reference_run, trial  # noqa: E402
from s3_servers import MotoServer  # noqa: E402

LOCAL = Shape(events=400_000, chunk=50_000)
S3 = Shape(events=900_000, chunk=300_000)


@pytest.fixture(scope="module")
def moto():
    srv = MotoServer()
    yield srv
    srv.stop()


@pytest.mark.parametrize("where", ["local", "s3"])
def test_chaos(benchmark, tmp_path, quick, where, request):
    if quick and where == "s3":
        pytest.skip("quick mode: two local trials")
    shape = LOCAL if where == "local" else S3
    trials = (2 if quick else 20) if where == "local" else 10
    reference, duration = reference_run(tmp_path / "ref", shape, 17)
    srv = request.getfixturevalue("moto") if where == "s3" else None
    outcomes = []

    def series():
        for i in range(trials):
            root = tmp_path / f"t{i}"
            target = Target(root)
            if srv is not None:
                bucket = f"chaos-{uuid.uuid4().hex[:10]}"
                srv.client().create_bucket(Bucket=bucket)
                target = Target(root, srv.client(), bucket, srv.endpoint)
            rng = random.Random(f"bench-{where}-{i}")
            kind = rng.choice(["coordinator", "worker"] + (["uploader"] if srv is not None else []))
            outcomes.append(trial(rng, target, shape, 17, reference, duration, kind))

    benchmark.pedantic(series, rounds=1)
    benchmark.extra_info.update(
        events=shape.events, workers=shape.workers, trials=trials,
        victims=dict(collections.Counter(o.victim.split(" (")[0] for o in outcomes)),
        recoveries=dict(collections.Counter(o.recovery for o in outcomes)),
        exit_codes=dict(collections.Counter(str(o.rc) for o in outcomes)),
        notes=[f"{o}: {'; '.join(o.notes)}" for o in outcomes if o.notes])
