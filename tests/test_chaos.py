"""Chaos in CI: seeded trials, local and S3, each killing a process of the run (each kind once) at a random moment.

After every trial the committed run is byte-identical to a clean run, there is never a
``_SUCCESS`` over inconsistent data, no multipart upload is left open and no process of
the run is alive (``tests/chaos.py`` asserts each). ``bench/test_chaos.py`` runs many more.
"""
from __future__ import annotations

import random

import pytest

from chaos import Shape, Target, reference_run, trial

LOCAL = Shape(events=400_000, chunk=50_000)  # 8 parts
S3 = Shape(events=900_000, chunk=300_000)  # 3 parts of ~6 MB: each a 2-part multipart upload


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    return reference_run(tmp_path_factory.mktemp("chaos-ref"), LOCAL, 17)


@pytest.fixture(scope="module")
def s3_reference(tmp_path_factory):
    return reference_run(tmp_path_factory.mktemp("chaos-ref"), S3, 17)


@pytest.mark.parametrize("kind", ["coordinator", "worker"])
def test_local_chaos(local_reference, tmp_path, kind):
    reference, duration = local_reference
    print(trial(random.Random(f"local-{kind}"), Target(tmp_path), LOCAL, 17, reference, duration, kind))


@pytest.mark.parametrize("kind", ["coordinator", "worker", "uploader"])
def test_s3_chaos(s3_reference, moto_server, bucket, tmp_path, kind):
    reference, duration = s3_reference
    target = Target(tmp_path, moto_server.client(), bucket, moto_server.endpoint)
    print(trial(random.Random(f"s3-{kind}"), target, S3, 17, reference, duration, kind))
