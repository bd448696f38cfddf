"""Users and products are pure functions of (seed, id), with the configured mix."""
import numpy as np
from scipy import stats

from temu_gen.kernels.entities import product_prices, user_table
from temu_gen.kernels.codes import PLATFORMS
from temu_gen.params import build_params


def test_user_attributes_are_pure_and_match_python(default_cfg):
    p, _ = build_params(default_cfg)
    users = np.arange(0, 300, dtype=np.int64)
    a = user_table(99, users, p)
    with np.errstate(over="ignore"):
        b = user_table.py_func(99, users, p)
    assert (a == b).all()
    shuffled = users[::-1].copy()
    assert (user_table(99, shuffled, p) == a[::-1]).all()  # order of lookup does not matter
    assert not (user_table(100, users, p) == a).all()


def test_user_mix_matches_config(default_cfg):
    p, vocab = build_params(default_cfg)
    t = user_table(5, np.arange(60_000, dtype=np.int64), p)
    platform = np.bincount(t[:, 1], minlength=3)
    expected = np.array([default_cfg.devices["platforms"][k] for k in PLATFORMS])
    assert stats.chisquare(platform, expected / expected.sum() * len(t)).pvalue > 0.001
    states = np.bincount(t[:, 5], minlength=len(vocab.state))
    w = np.array([s.weight for s in default_cfg.states])
    assert stats.chisquare(states, w / w.sum() * len(t)).pvalue > 0.001
    assert vocab.state[np.argmax(states)] == "Lagos"


def test_prices_are_lognormal_per_category(default_cfg):
    p, vocab = build_params(default_cfg)
    cat = vocab.category.index("home_kitchen")
    ids = cat * p.products_per_category + np.arange(20_000, dtype=np.int64)
    kobo = product_prices(3, ids, p)
    with np.errstate(over="ignore"):
        assert (product_prices.py_func(3, ids[:200], p) == kobo[:200]).all()
    naira = kobo / 100
    c = default_cfg.categories[cat]
    assert abs(np.median(naira) / c.median_price_ngn - 1) < 0.05
    assert abs(np.quantile(naira, 0.9) / c.p90_price_ngn - 1) < 0.08
    assert (kobo % 100 == 0).all() and naira.min() >= default_cfg.min_price_ngn
