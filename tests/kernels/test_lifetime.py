"""Whole lives: jitted output equals pure Python, and every simulated order ends in a declared terminal state."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from temu_gen import generate
from temu_gen.kernels.codes import EVENT_TYPES, NARROW_COLUMNS, WIDE_COLUMNS
from temu_gen.lifecycle import TERMINAL, final_state, order_path_violation

_PURE_PYTHON = """
import hashlib, json, sys
import numpy as np
from temu_gen import config, generate
ctx = generate.make_context(config.load(sys.argv[1]), 4)
with np.errstate(all="ignore"):
    s = generate.simulate_shard(0, 12, ctx)
print(json.dumps({"wide": hashlib.sha256(s.wide.tobytes()).hexdigest(),
                  "narrow": hashlib.sha256(s.narrow.tobytes()).hexdigest(), "orders": s.order_ts.tolist()}))
"""


def test_kernels_equal_pure_python(smoke_cfg):
    from paths import SMOKE
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    res = subprocess.run([sys.executable, "-c", _PURE_PYTHON, str(SMOKE)], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    pure = json.loads(res.stdout)
    s = generate.simulate_shard(0, 12, generate.make_context(smoke_cfg, 4))
    assert hashlib.sha256(s.wide.tobytes()).hexdigest() == pure["wide"]
    assert hashlib.sha256(s.narrow.tobytes()).hexdigest() == pure["narrow"] and s.order_ts.tolist() == pure["orders"]


@pytest.fixture(scope="module")
def lives(smoke_cfg):
    """400 whole lives of the smoke config, nothing cut: every order runs to its end."""
    return generate.simulate_shard(0, 400, generate.make_context(smoke_cfg, 9))


def _orders(shard):
    w, n = shard.wide, shard.narrow
    order, ts = w[WIDE_COLUMNS.index("order")], w[WIDE_COLUMNS.index("event_ts")]
    rows = np.nonzero(order >= 0)[0]
    rows = rows[np.lexsort((rows, ts[rows], order[rows]))]
    types = n[NARROW_COLUMNS.index("event_type")]
    methods = n[NARROW_COLUMNS.index("payment_method")]
    out: dict[int, list] = {}
    for r in rows:
        out.setdefault(int(order[r]), []).append((EVENT_TYPES[types[r]], int(methods[r])))
    return out


def test_every_order_ends_in_a_terminal_state(lives, smoke_cfg):
    pod = [m.name for m in smoke_cfg.payments.methods].index("pay_on_delivery")
    orders = _orders(lives)
    assert len(orders) > 100
    ends = {}
    for events in orders.values():
        is_pod = next(m for _, m in events if m >= 0) == pod
        names = [e for e, _ in events]
        assert order_path_violation(names, is_pod) is None, names
        state = final_state(names, is_pod)
        assert state in TERMINAL["pay_on_delivery" if is_pod else "prepaid"], names
        ends[state] = ends.get(state, 0) + 1
    # the smoke config reaches every kind of end
    assert {"delivered", "refunded", "cancelled", "paid_at_door"} <= set(ends) and ends.get("returned_to_sender", 0) > 0


def test_lives_start_at_arrival_and_stay_in_the_period(lives, smoke_cfg):
    from temu_gen.params import build_params
    p, _ = build_params(smoke_cfg)
    ts = lives.wide[WIDE_COLUMNS.index("event_ts")]
    types = lives.narrow[NARROW_COLUMNS.index("event_type")]
    end = p.time.start_us + p.time.period_hours * 3_600_000_000
    opens = ts[types == EVENT_TYPES.index("app_open")]
    assert opens.min() >= p.time.start_us and opens.max() < end  # sessions happen inside the launch period
    assert (types == EVENT_TYPES.index("sign_up")).sum() <= lives.users
