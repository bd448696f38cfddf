"""Sampling kernels: jitted code equals its Python source, and draws follow their laws."""
import numpy as np
import pytest
from scipy import stats

from temu_gen.kernels import sampling as s


def _state(seed=1):
    st = np.empty(1, np.uint64)
    s.seed_state(st, seed, 0)
    return st


@pytest.mark.parametrize("name,args", [("uniform", ()), ("exponential", (3.0,)), ("std_normal", ()),
                                       ("geometric", (2.5,)), ("skewed_index", (1000, 1.7))])
def test_jit_matches_py_func(name, args):
    fn = getattr(s, name)
    a, b = _state(7), _state(7)
    with np.errstate(over="ignore"):
        jitted = [fn(a, *args) for _ in range(200)]
        python = [fn.py_func(b, *args) for _ in range(200)]
    assert jitted == python
    assert a[0] == b[0]


def test_mix64_is_a_bijection_on_a_sample():
    xs = np.arange(200_000, dtype=np.uint64)
    out = {int(s.mix64(x)) for x in xs[:20_000]}
    assert len(out) == 20_000


def test_uniform_is_uniform():
    st = _state(3)
    u = np.array([s.uniform(st) for _ in range(20_000)])
    assert stats.kstest(u, "uniform").pvalue > 0.001


def test_exponential_and_normal_laws():
    st = _state(4)
    e = np.array([s.exponential(st, 2.0) for _ in range(20_000)])
    z = np.array([s.std_normal(st) for _ in range(20_000)])
    assert stats.kstest(e, "expon", args=(0, 2.0)).pvalue > 0.001
    assert stats.kstest(z, "norm").pvalue > 0.001


def test_geometric_mean():
    st = _state(5)
    g = np.array([s.geometric(st, 3.0) for _ in range(40_000)])
    assert abs(g.mean() - 3.0) < 0.1
    assert s.geometric(st, 0.0) == 0


def test_categorical_follows_segment_weights():
    w = np.array([0.1, 0.6, 0.3])
    cum = np.concatenate([[0.5, 1.0], np.cumsum(w)])  # a 2-wide segment, then ours at [2, 5)
    cum[-1] = 1.0
    st = _state(6)
    draws = np.array([s.categorical(st, cum, 2, 5) for _ in range(30_000)]) - 2
    counts = np.bincount(draws, minlength=3)
    assert draws.min() >= 0 and draws.max() <= 2
    assert stats.chisquare(counts, w * len(draws)).pvalue > 0.001
