"""Products and queries: prices as pure functions of (product seed, product, time), and search strings.

Invariant: a product's category is its index divided by ``per_category``; its base price
and its part in each price drop are pure in (seed, product) and drawn once per process
into a :class:`ProductTable`, so every shard and every worker sees the same price at the
same moment. Prices end like a shop's (₦…99, …00,
…50, …90, …10) and never pile up at the floor: a draw below it is redrawn above it.
"""
import math

import numpy as np

from typing import NamedTuple

from ._jit import jit_alloc, jit_inline
from .sampling import categorical, mix_seed, seed_state, skewed_table, std_normal, uniform


@jit_inline
def _rounded(naira, ending):
    """``naira`` shown with the product's price ending (a code like 99, 0, 50, 90 or 10)."""
    if ending == 99:
        return max(math.floor(naira / 100.0 + 0.5) * 100.0 - 1.0, 99.0)
    if ending == 90:
        return max(math.floor(naira / 100.0 + 0.5) * 100.0 - 10.0, 90.0)
    if ending == 50:
        return max(math.floor(naira / 50.0 + 0.5) * 50.0, 50.0)
    if ending == 10:
        return max(math.floor(naira / 10.0 + 0.5) * 10.0, 10.0)
    return max(math.floor(naira / 100.0 + 0.5) * 100.0, 100.0)


class ProductTable(NamedTuple):
    """Every product's base price and its part in each price drop, computed once per process."""

    base_naira: np.ndarray
    """float32[products]: the lognormal draw before rounding."""
    ending: np.ndarray
    """int8[products]: index into CatalogParams.ending_code."""
    drop_pct: np.ndarray
    """int8[price drops, products]: how many percent the product is marked down during each drop (0 = not)."""


@jit_alloc
def product_table(cp, product_seed, n_products):
    """Draw every product's base price, price ending and markdowns from (seed, product)."""
    base = np.empty(n_products, np.float32)
    ending = np.empty(n_products, np.int8)
    drops = np.zeros((cp.promo_start_us.shape[0], n_products), np.int8)
    es = np.empty(1, np.uint64)
    for product in range(n_products):
        cat = product // cp.per_category
        seed_state(es, product_seed, product)
        naira = math.exp(cp.cat_mu[cat] + cp.cat_sigma[cat] * std_normal(es))
        if naira < cp.min_naira:  # spread above the floor rather than pile up on it
            naira = cp.min_naira * (1.0 + 2.0 * uniform(es))
        base[product] = naira
        ending[product] = categorical(es, cp.ending_cum, 0, cp.ending_cum.shape[0])
        for k in range(drops.shape[0]):
            es[0] = mix_seed(product_seed, product, k + 1)
            if uniform(es) < cp.promo_share[k]:
                depth = cp.promo_depth_min[k] + uniform(es) * (cp.promo_depth_max[k] - cp.promo_depth_min[k])
                drops[k, product] = np.int8(round(depth * 100.0))
    return ProductTable(base, ending, drops)


@jit_inline
def price_kobo(cp, pt, product, t):
    """The unit price of ``product`` at time ``t`` in kobo, after any price drop running then."""
    pct = 0
    for k in range(cp.promo_start_us.shape[0]):
        if cp.promo_start_us[k] <= t < cp.promo_end_us[k] and pt.drop_pct[k, product] > pct:
            pct = pt.drop_pct[k, product]
    ending = cp.ending_code[pt.ending[product]]
    naira = pt.base_naira[product] * (1.0 - pct / 100.0)
    shown = _rounded(naira, ending)
    while shown < cp.min_naira:  # round up past the floor, keeping the product's price ending
        naira += 50.0
        shown = _rounded(naira, ending)
    return np.int64(shown) * 100


@jit_inline
def pick_product(st, cp, pt, category, sensitivity, t):
    """A product of ``category`` by popularity; price-sensitive users lean to the cheaper of two."""
    product = category * cp.per_category + skewed_table(st, cp.per_category, cp.popularity_table)
    if uniform(st) < sensitivity - 0.4:
        other = category * cp.per_category + skewed_table(st, cp.per_category, cp.popularity_table)
        if price_kobo(cp, pt, other, t) < price_kobo(cp, pt, product, t):
            product = other
    return product


@jit_inline
def pick_query(st, cp, category):
    """A search query code: a popular term of the category, sometimes misspelt or with a modifier."""
    lo = cp.term_off[category]
    n = cp.term_off[category + 1] - lo
    term = lo + skewed_table(st, n, cp.term_table)
    u = uniform(st)
    if u < cp.p_typo:
        variant = 1 + int(uniform(st) * cp.n_typos)
    elif u < cp.p_typo + cp.p_modifier:
        variant = 1 + cp.n_typos + int(uniform(st) * (cp.term_variants.shape[1] - 1 - cp.n_typos))
    else:
        variant = 0
    if variant >= cp.term_variants.shape[1]:
        variant = cp.term_variants.shape[1] - 1
    return cp.term_variants[term, variant]


@jit_alloc
def price_grid(cp, pt, times):
    """The price of every product at each of ``times`` (int64[products, times], kobo): the products table's history."""
    n = pt.base_naira.shape[0]
    out = np.empty((n, times.shape[0]), np.int64)
    for product in range(n):
        for j in range(times.shape[0]):
            out[product, j] = price_kobo(cp, pt, product, times[j])
    return out
