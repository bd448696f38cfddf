"""Products: prices are pure in (seed, product, time), end like a shop's, never pile at the floor, drop on sales."""
import numpy as np
from scipy import stats

from temu_gen.kernels.catalog import pick_query, price_kobo, product_table
from temu_gen.params import build_params


def _prices(cp, pt, products, t):
    return np.array([price_kobo(cp, pt, int(p), t) for p in products])


def test_prices_are_pure_lognormal_and_shop_like(default_cfg):
    p, _ = build_params(default_cfg)
    cp = p.catalog
    n = cp.per_category * len(cp.cat_mu)
    pt = product_table(cp, 42, n)
    again = product_table(cp, 42, n)
    assert (pt.base_naira == again.base_naira).all() and not (product_table(cp, 43, n).base_naira == pt.base_naira).all()
    t = p.time.start_us + 86_400_000_000 * 60  # no price drop running
    sample = np.arange(0, cp.per_category, 7)  # category 0
    naira = _prices(cp, pt, sample, t) / 100
    assert naira.min() >= default_cfg.catalog.min_price_ngn and (naira == default_cfg.catalog.min_price_ngn).mean() < 0.001
    endings = np.round(naira % 100).astype(int)
    assert 0.35 < (endings == 99).mean() < 0.55 and len(set(endings)) >= 5  # not every price ends in 99
    median = default_cfg.catalog.categories[0].median_price_ngn
    assert abs(np.median(naira) / median - 1) < 0.1
    assert stats.kstest(np.log(pt.base_naira[sample]), "norm", (cp.cat_mu[0], cp.cat_sigma[0])).pvalue > 0.001


def test_black_friday_marks_some_products_down(default_cfg):
    p, _ = build_params(default_cfg)
    cp = p.catalog
    pt = product_table(cp, 42, cp.per_category * len(cp.cat_mu))
    sample = np.arange(0, 40_000, 3)
    before = _prices(cp, pt, sample, int(cp.promo_start_us[1]) - 1)
    during = _prices(cp, pt, sample, int(cp.promo_start_us[1]) + 3_600_000_000)
    dropped = during < before
    assert 0.25 < dropped.mean() < 0.5 and (during <= before).all()
    assert 0.05 < np.median(1 - during[dropped] / before[dropped]) < 0.45


def test_queries_have_a_long_tail_with_typos(default_cfg):
    p, vocab = build_params(default_cfg)
    st = np.array([99], np.uint64)
    codes = np.array([pick_query(st, p.catalog, 2) for _ in range(20_000)])
    counts = np.bincount(codes)
    assert (counts > 0).sum() > 150  # typos and modifiers: far more than the category's 16 terms
    top = vocab.search_query[int(np.argmax(counts))]
    assert top in default_cfg.catalog.categories[2].search_terms
