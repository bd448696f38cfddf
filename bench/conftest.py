"""Benchmark fixtures: one realistic 500k-row chunk, built once, JIT warm before timing.

Run with ``python -m pytest bench`` (``--benchmark-json bench/results/<name>.json`` to keep the numbers).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from procmon import run_process, temu_gen_cmd  # noqa: F401 - the suite imports them from conftest
from temu_gen import config, generate, pool

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 500_000


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", help="small sizes, one round: checks the suite runs (CI)")


@pytest.fixture(scope="session")
def quick(request):
    return request.config.getoption("--quick")


@pytest.fixture(scope="session")
def rows(quick):
    return 50_000 if quick else CHUNK


@pytest.fixture(scope="session")
def cfg():
    return config.load()


@pytest.fixture(scope="session")
def ctx(cfg):
    c = generate.make_context(cfg, 42)
    pool.warm_up(c)  # JIT load happens here, outside every timed region
    return c


@pytest.fixture(scope="session")
def users(ctx, rows):
    """Users whose lives hold about ``rows`` events (measured on a pilot of 2,048)."""
    pilot = generate.simulate_shard(0, 2048, ctx)
    return max(16, int(rows * 2048 / pilot.wide.shape[1]))


@pytest.fixture(scope="session")
def part(ctx, cfg, users, rows, tmp_path_factory):
    """A spool of four shards and the plan of its first part of ``rows`` rows (the reduce stage's input)."""
    from temu_gen import merge, spool

    folder = tmp_path_factory.mktemp("spool")
    buckets = spool.hist_buckets(cfg.period.days)
    summaries = [spool.write_shard(folder, k, generate.simulate_shard(k * users, (k + 1) * users, ctx),
                                   ctx.params.time.start_us, buckets) for k in range(4)]
    merge.number_orders(folder, summaries)
    return folder, merge.plan_parts(folder, summaries, rows * 2, rows)[1]


@pytest.fixture(scope="session")
def merged(part):
    from temu_gen.merge import merge_part

    return merge_part(*part)
