"""Users and products: attributes as pure functions of (entity seed, entity index).

Invariant: no state is shared between chunks or workers; any chunk that meets user
``u`` or product ``i`` recomputes exactly the same home state, city, platform,
device, carrier, category and price from the seed and the index alone.
"""
import math

import numpy as np

from ._jit import jit
from .codes import (N_APP_VERSION, N_BRAND, N_CARRIER, N_CITY, N_NARROW, N_PLATFORM, N_STATE, N_WIDE, W_USER,
                    WEB)
from .sampling import categorical, seed_state, std_normal

# columns of user_table: the user, then its attributes (narrow template slots)
USER_ATTRIBUTES = (N_PLATFORM, N_BRAND, N_APP_VERSION, N_CARRIER, N_STATE, N_CITY)


@jit
def fill_user_attributes(user_seed, user, p, es, wt, nt):
    """Write user ``user``'s columns into the row templates (``es`` is scratch RNG state)."""
    seed_state(es, user_seed, user)
    s = categorical(es, p.state_cum, 0, p.state_cum.shape[0])
    c = categorical(es, p.city_cum, p.city_off[s], p.city_off[s + 1])
    pl = categorical(es, p.platform_cum, 0, p.platform_cum.shape[0])
    b = categorical(es, p.brand_cum, p.brand_off[pl], p.brand_off[pl + 1])
    if pl == WEB:
        av = p.web_app_version
    else:
        av = categorical(es, p.app_version_cum, 0, p.app_version_cum.shape[0])
    wt[W_USER] = user
    nt[N_PLATFORM] = pl
    nt[N_BRAND] = b
    nt[N_APP_VERSION] = av
    nt[N_CARRIER] = categorical(es, p.carrier_cum, 0, p.carrier_cum.shape[0])
    nt[N_STATE] = s
    nt[N_CITY] = c


@jit
def user_table(user_seed, users, p):
    """Attributes of many users, one row each: user, platform, brand, app version, carrier, state, city."""
    out = np.empty((users.shape[0], 1 + len(USER_ATTRIBUTES)), np.int64)
    es = np.empty(1, np.uint64)
    wt = np.empty(N_WIDE, np.int64)
    nt = np.empty(N_NARROW, np.int16)
    for i in range(users.shape[0]):
        fill_user_attributes(user_seed, users[i], p, es, wt, nt)
        out[i, 0] = wt[W_USER]
        for j in range(len(USER_ATTRIBUTES)):
            out[i, 1 + j] = nt[USER_ATTRIBUTES[j]]
    return out


@jit
def product_price_kobo(product_seed, product, per_category, cat_mu, cat_sigma, min_naira, es):
    """Unit price in kobo: lognormal per category, shown as ₦…99 like a shop would.

    A product's category is encoded in its index (categories own contiguous ranges
    of ``per_category`` products), so the price needs nothing but the index.
    """
    cat = product // per_category
    seed_state(es, product_seed, product)
    naira = math.exp(cat_mu[cat] + cat_sigma[cat] * std_normal(es))
    naira = math.floor(naira / 100.0 + 0.5) * 100.0 - 1.0
    if naira < min_naira:
        naira = min_naira
    return np.int64(naira) * 100


@jit
def product_prices(product_seed, products, p):
    """Prices of many products at once (for tests and analysis)."""
    out = np.empty(products.shape[0], np.int64)
    es = np.empty(1, np.uint64)
    for i in range(products.shape[0]):
        out[i] = product_price_kobo(product_seed, products[i], p.products_per_category, p.cat_mu,
                                    p.cat_sigma, p.min_price_naira, es)
    return out
