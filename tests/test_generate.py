"""Chunk driver: exact rows, time order, purity, and golden hashes for the smoke config."""
import hashlib

import numpy as np
import pytest

from temu_gen import generate
from temu_gen.kernels.codes import COLUMNS
from temu_gen.plan import plan_chunks

# sha256 over the kernel columns of the smoke config's chunks 0 and 3, seed 1234.
# A change here means the generated data changed: bump it only on purpose, and say so.
GOLDEN = {
    0: "d0ea99faae0022569cb5d70596d54b9852c4d9448048c9c0f73e8877fa48969f",
    3: "695cf7585a23312228b3526d5207f44df792c3fb52404804d5c4288c349860b2",
}


def _digest(chunk):
    h = hashlib.sha256()
    for name in COLUMNS:
        h.update(name.encode())
        h.update(np.ascontiguousarray(chunk.columns[name]).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("events,size", [(20_000, 5_000), (12_345, 4_000), (100, 1_000)])
def test_exact_rows_sorted(smoke_cfg, events, size):
    ctx = generate.make_context(smoke_cfg, 3)
    for spec in plan_chunks(events, size, 3):
        c = generate.generate_chunk(spec, ctx)
        assert all(len(v) == spec.n_rows for v in c.columns.values())
        assert (np.diff(c.columns["event_ts"]) >= 0).all()


def test_chunk_is_a_pure_function(smoke_cfg):
    specs = plan_chunks(20_000, 5_000, 1234)
    a = generate.generate_chunk(specs[2], generate.make_context(smoke_cfg, 1234))
    b = generate.generate_chunk(specs[2], generate.make_context(smoke_cfg, 1234))
    other = generate.generate_chunk(plan_chunks(20_000, 5_000, 1235)[2], generate.make_context(smoke_cfg, 1235))
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(other)


def test_golden_hashes(smoke_cfg):
    ctx = generate.make_context(smoke_cfg, 1234)
    specs = plan_chunks(20_000, 5_000, 1234)
    got = {k: _digest(generate.generate_chunk(specs[k], ctx)) for k in (0, 3)}
    assert got == GOLDEN
