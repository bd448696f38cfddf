"""The journey kernel: jitted output equals pure-Python output; cut journeys are prefixes."""
import json
import os
import subprocess
import sys

import numpy as np

from temu_gen import generate
from temu_gen.kernels.sessions import simulate_journeys
from temu_gen.kernels.codes import JOURNEY_SLACK, N_EVENT_TYPE
from temu_gen.plan import plan_chunks

_PURE_PYTHON = """
import json, sys, hashlib
import numpy as np
from temu_gen import config, generate
from temu_gen.plan import plan_chunks
cfg = config.load(sys.argv[1])
ctx = generate.make_context(cfg, 4)
spec = plan_chunks(600, 300, 4)[1]
wide, narrow = generate.allocate(spec.n_rows)
q0, q1 = spec.quantiles
with np.errstate(all="ignore"):
    out = generate.simulate_journeys(spec.session_seed, ctx.user_seed, ctx.product_seed, spec.index, q0, q1,
                                     spec.n_rows, ctx.params, wide, narrow)
n = out[0]
print(json.dumps({"out": [int(x) for x in out], "wide": wide[:n].tolist(), "narrow": narrow[:n].tolist()}))
"""


def test_kernel_equals_pure_python(smoke_cfg):
    from paths import SMOKE
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    res = subprocess.run([sys.executable, "-c", _PURE_PYTHON, str(SMOKE)], env=env, capture_output=True,
                         text=True, check=True, timeout=300)
    pure = json.loads(res.stdout)
    ctx = generate.make_context(smoke_cfg, 4)
    spec = plan_chunks(600, 300, 4)[1]
    wide, narrow = generate.allocate(spec.n_rows)
    q0, q1 = spec.quantiles
    out = simulate_journeys(spec.session_seed, ctx.user_seed, ctx.product_seed, spec.index, q0, q1, spec.n_rows,
                            ctx.params, wide, narrow)
    assert [int(x) for x in out] == pure["out"]
    assert wide[: out[0]].tolist() == pure["wide"] and narrow[: out[0]].tolist() == pure["narrow"]


def test_a_longer_budget_extends_the_same_journeys(smoke_cfg):
    """Rows [0, n) of a chunk are a prefix of the rows a bigger budget writes: cutting is truncation."""
    ctx = generate.make_context(smoke_cfg, 8)
    results = []
    for n in (2_000, 3_000):
        wide, narrow = generate.allocate(n)
        written, _, _ = simulate_journeys(77, ctx.user_seed, ctx.product_seed, 0, 0.0, 0.5, n, ctx.params, wide,
                                          narrow)
        assert n <= written < n + JOURNEY_SLACK
        results.append((wide[:n], narrow[:n]))
    assert (results[1][0][:2_000] == results[0][0]).all() and (results[1][1][:2_000] == results[0][1]).all()
    assert (results[0][1][:, N_EVENT_TYPE] >= 0).all()
