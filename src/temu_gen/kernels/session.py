"""One session on one device: open, sign in, search and browse, the cart, then checkout and the end.

Invariant: a session's client events are written contiguously, in time order, starting
with ``app_open`` and ending with ``session_end`` (then ``logout`` at most); each row
carries the device's sign-in state at that moment (``user_id`` is hidden before the
device's first sign-in). A session on a weak network may be buffered on the phone: its
events reach the log together, later (or when the order it places needs the network).
"""
import numpy as np

from ._jit import jit, jit_inline
from .catalog import pick_product, pick_query, price_kobo
from .checkout import checkout, purchase_intent
from .events import client, sign_in
from .codes import (ADD_TO_CART, ADD_TO_WISHLIST, APP_OPEN, CATEGORY_VIEW, LOGOUT, MAX_CART, MAX_SEARCHES,
                    MAX_VIEWS, MAX_WISHLIST, N_APP_VERSION, N_BRAND, N_CARRIER, N_CATEGORY, N_CITY, N_DEVICE,
                    N_NETWORK, N_PLATFORM, N_QUANTITY, N_SEARCH_TERM, N_SIGNED_IN, N_SOURCE, N_STATE, PRODUCT_VIEW,
                    REMOVE_FROM_CART, SEARCH, SESSION_END, W_EVENT_TS, W_INGEST_TS, W_PRODUCT, W_SESSION,
                    W_UNIT_PRICE, W_USER)
from .rows import emit, online_lag, reset
from .sampling import bernoulli, categorical, geometric, lognormal, uniform
from .state import (F_ACTIVITY, F_LAG0, F_SENSITIVITY, U_BRAND0, U_CARRIER, U_CITY, U_FAV1, U_FAV2, U_INDEX,
                    U_INSTALL0, U_N_CART, U_N_WISH, U_NETWORK, U_PLATFORM0, U_REGION, U_AREA, U_SESSIONS,
                    U_SIGNED_IN0, U_STATE)
from .users import app_version


@jit
def open_template(sc, up, device, network, source, t):
    """The session's template row: user, device, its app version now, network, source, home."""
    u, f, tw, tn = sc.u, sc.f, sc.tw, sc.tn
    reset(tw, tn)
    tw[W_USER] = u[U_INDEX]
    tw[W_SESSION] = u[U_SESSIONS]
    platform = u[U_PLATFORM0 + device]
    tn[N_DEVICE] = device
    tn[N_SIGNED_IN] = u[U_SIGNED_IN0 + device]
    tn[N_PLATFORM] = platform
    tn[N_BRAND] = u[U_BRAND0 + device]
    tn[N_APP_VERSION] = app_version(up, platform, u[U_INSTALL0 + device], sc.f[F_LAG0 + device], t)
    tn[N_CARRIER] = u[U_CARRIER]
    tn[N_NETWORK] = network
    tn[N_SOURCE] = source
    tn[N_STATE] = u[U_STATE]
    tn[N_CITY] = u[U_CITY]
    return f[F_ACTIVITY]


@jit_inline
def _saved(sc):
    """A product the user saved before: in the cart or on the wishlist."""
    n_cart, n_wish = sc.u[U_N_CART], sc.u[U_N_WISH]
    k = int(uniform(sc.st) * (n_cart + n_wish))
    return sc.cart[k, 0] if k < n_cart else sc.wish[k - n_cart]


@jit_inline
def _remember(sc, product):
    n = sc.u[U_N_WISH]
    for i in range(n):
        if sc.wish[i] == product:
            return False
    if n < MAX_WISHLIST:
        sc.wish[n] = product
        sc.u[U_N_WISH] = n + 1
    return True


@jit_inline
def _product_row(out, r, product, category, price, quantity):
    out.wide[r, W_PRODUCT] = product
    out.narrow[r, N_CATEGORY] = category
    out.wide[r, W_UNIT_PRICE] = price
    out.narrow[r, N_QUANTITY] = quantity


@jit_inline
def _view(sc, fp, cp, out, r, t, focus, pt, add_boost):
    """One product view and what may follow it: wishlist, add to cart, or remove a cart line."""
    st, u = sc.st, sc.u
    saved = u[U_N_CART] + u[U_N_WISH] > 0 and bernoulli(st, fp.p_revisit)
    product = _saved(sc) if saved else pick_product(st, cp, pt, focus, sc.f[F_SENSITIVITY], t)
    category = product // cp.per_category
    r0 = r
    r, t = client(sc, fp, out, r, PRODUCT_VIEW, t)
    price = price_kobo(cp, pt, product, out.wide[r0, W_EVENT_TS])  # the shelf price when the page is shown
    _product_row(out, r0, product, category, price, -1)
    if bernoulli(st, fp.p_wishlist) and _remember(sc, product):
        r0 = r
        r, t = client(sc, fp, out, r, ADD_TO_WISHLIST, t)
        _product_row(out, r0, product, category, price, -1)
    cheap = price < cp.cat_median_naira[category] * 100.0
    p_add = fp.p_add * add_boost * (fp.cheap_boost if cheap else 1.0 - 0.5 * sc.f[F_SENSITIVITY]) * (3.0 if saved else 1.0)
    n = u[U_N_CART]
    if n < MAX_CART and bernoulli(st, p_add):
        qty = fp.qty_values[categorical(st, fp.qty_cum, 0, fp.qty_cum.shape[0])]
        sc.cart[n, 0] = product
        sc.cart[n, 1] = qty
        u[U_N_CART] = n + 1
        r0 = r
        r, t = client(sc, fp, out, r, ADD_TO_CART, t)
        _product_row(out, r0, product, category, price, qty)
    elif n > 0 and bernoulli(st, fp.p_remove):
        k = int(uniform(st) * n)
        gone, qty = sc.cart[k, 0], sc.cart[k, 1]
        r0 = r
        r, t = client(sc, fp, out, r, REMOVE_FROM_CART, t)
        _product_row(out, r0, gone, gone // cp.per_category, price_kobo(cp, pt, gone, out.wide[r0, W_EVENT_TS]), qty)
        sc.cart[k, 0] = sc.cart[n - 1, 0]
        sc.cart[k, 1] = sc.cart[n - 1, 1]
        u[U_N_CART] = n - 1
    return r, t


@jit_inline
def browse(sc, fp, cp, up, out, r, t, pt, intent):
    """Searches, category views and product views in a random interleaving; length by platform and network."""
    st, u = sc.st, sc.u
    length = fp.len_platform[sc.tn[N_PLATFORM]] * fp.len_network[sc.tn[N_NETWORK]] * (fp.intent_views if intent else 1.0)
    add_boost = fp.intent_adds if intent else 1.0
    searches = 0
    if bernoulli(st, fp.p_search):
        searches = min(1 + geometric(st, fp.mean_extra_searches * length), MAX_SEARCHES)
    views = 0
    if bernoulli(st, fp.p_browse):
        views = min(1 + geometric(st, (fp.mean_views - 1.0) * length), MAX_VIEWS)
    ncat = up.cat_cum.shape[0]
    focus = u[U_FAV1] if bernoulli(st, fp.p_favourite) else categorical(st, up.cat_cum, 0, ncat)
    while searches + views > 0:
        if searches > 0 and uniform(st) * (searches + views) < searches:
            searches -= 1
            focus = u[U_FAV1 + int(uniform(st) * 2)] if bernoulli(st, fp.p_favourite) else categorical(
                st, up.cat_cum, 0, ncat)
            r0 = r
            r, t = client(sc, fp, out, r, SEARCH, t)
            out.narrow[r0, N_CATEGORY] = focus
            out.narrow[r0, N_SEARCH_TERM] = pick_query(st, cp, focus)
            continue
        views -= 1
        if not bernoulli(st, fp.p_stay):
            focus = u[U_FAV2] if bernoulli(st, fp.p_favourite) else categorical(st, up.cat_cum, 0, ncat)
            if bernoulli(st, fp.p_category_view):
                r0 = r
                r, t = client(sc, fp, out, r, CATEGORY_VIEW, t)
                out.narrow[r0, N_CATEGORY] = focus
        r, t = _view(sc, fp, cp, out, r, t, focus, pt, add_boost)
    return r, t


@jit
def buffer_until(out, lo, hi, flush):
    """Rows [lo, hi) were held on the phone and reach the log together at ``flush``, in order."""
    for j in range(lo, hi):
        out.wide[j, W_INGEST_TS] = flush + (j - lo) * 1000


@jit_inline
def run_session(sc, P, out, r, t, device, source, pt):
    """One whole session at ``t`` on ``device``; returns (next row, end time, first buffered row or -1, flush time)."""
    up, fp, st, u = P.users, P.funnel, sc.st, sc.u
    first = u[U_SESSIONS] == 0
    network = u[U_NETWORK]
    if not bernoulli(st, up.p_usual_network):
        network = categorical(st, up.network_cum[u[U_REGION], u[U_AREA]], 0, up.network_cum.shape[2])
    open_template(sc, up, device, network, source, t)
    u[U_SESSIONS] += 1
    offline = bernoulli(st, fp.p_offline[network])
    r_start = r
    r = emit(out.wide, out.narrow, r, sc.tw, sc.tn, u, APP_OPEN, t, t + online_lag(st, fp.online_lag_us))
    if sc.tn[N_SIGNED_IN] == 0 and bernoulli(st, up.p_sign_in_first if first else up.p_sign_in_later):
        r, t = sign_in(sc, fp, out, r, t, device)
    intent = bernoulli(st, purchase_intent(sc, P, t))
    r, t = browse(sc, fp, P.catalog, up, out, r, t, pt, intent)
    r, t, placed_row = checkout(sc, P, out, r, t, device, pt, intent)
    if offline and placed_row >= 0:  # placing the order needed the network: what was held goes now
        buffer_until(out, r_start, placed_row, out.wide[placed_row, W_EVENT_TS])
        offline = False
    r, t = client(sc, fp, out, r, SESSION_END, t)
    if sc.tn[N_SIGNED_IN] == 1 and bernoulli(st, up.p_logout):
        r, t = client(sc, fp, out, r, LOGOUT, t)
        u[U_SIGNED_IN0 + device] = 0
    if not offline:
        return r, t, -1, np.int64(0)
    delay = lognormal(st, fp.flush_median_us, fp.flush_sigma)
    flush = t + np.int64(delay if delay < fp.flush_max_us else fp.flush_max_us)
    buffer_until(out, r_start, r, flush)
    return r, t, r_start, flush

