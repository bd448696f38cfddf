"""Fixtures for the S3 tiers: a moto server for the session, a fresh bucket per test, CLI runs."""
from __future__ import annotations

import uuid

import pytest

from s3_servers import MotoServer


@pytest.fixture(scope="session")
def moto_server():
    srv = MotoServer()
    yield srv
    srv.stop()


@pytest.fixture
def bucket(moto_server):
    name = f"b-{uuid.uuid4().hex[:12]}"
    moto_server.client().create_bucket(Bucket=name)
    return name


