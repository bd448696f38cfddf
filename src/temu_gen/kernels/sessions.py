"""Session funnels: app open, search and browse, cart, checkout, then the order's lifecycle.

Invariant: ``simulate_journeys`` is a pure function of its seeds, the chunk's index
and quantile range, and the parameters. It writes whole journeys in time order until
the chunk's row budget is reached; rows past the budget land in the caller's slack
and are dropped, so the last journey is cut to a valid prefix. Every session starts
with ``app_open`` and its timestamps never go backwards.
"""
import numpy as np

from ._jit import jit
from .calendar import order_multiplier, session_start_us
from .codes import (ADD_TO_CART, ADD_TO_WISHLIST, APP_OPEN, APPLY_COUPON, BEGIN_CHECKOUT,
                    CATEGORY_VIEW, LOGIN, MAX_CART, MAX_SEARCHES, MAX_VIEWS, N_CATEGORY, N_NARROW,
                    N_NETWORK, N_QUANTITY, N_SEARCH_TERM, N_SOURCE, N_WIDE, ORDER_PLACED, PRODUCT_VIEW,
                    W_DISCOUNT, W_ORDER, W_PRODUCT, W_SESSION, W_UNIT_PRICE,
                    REMOVE_FROM_CART, SEARCH, SESSION_END, VIEW_CART)
from .entities import fill_user_attributes, product_price_kobo
from .orders import pay_in_session, pick_provider, set_payment, simulate_fulfilment
from .rows import client_lag_us, emit, reset_template, server_template
from .sampling import (bernoulli, categorical, exponential, geometric, mix64, skewed_index,
                       uniform)

# Chunk k numbers its sessions and orders k * stride + local, so ids never collide.
ID_STRIDE = 1_000_000_000


@jit
def _client(st, p, wide, narrow, r, wt, nt, event_type, t):
    """Advance the session clock by a think time and write a client event."""
    t += int(exponential(st, p.mean_gap_us[event_type])) + 1
    return emit(wide, narrow, r, wt, nt, event_type, t, client_lag_us(st, p.late_share)), t


@jit
def _product(wide, narrow, r, product, category, price, quantity):
    wide[r, W_PRODUCT] = product
    narrow[r, N_CATEGORY] = category
    wide[r, W_UNIT_PRICE] = price
    narrow[r, N_QUANTITY] = quantity


@jit
def _price(product_seed, product, p, es):
    return product_price_kobo(product_seed, product, p.products_per_category, p.cat_mu, p.cat_sigma,
                              p.min_price_naira, es)


@jit
def simulate_session(st, es, wt, nt, swt, snt, cart_p, cart_q, p, wide, narrow, r, session, order,
                     user_seed, product_seed, q0, q1):
    """One journey: a session and, if it places an order, that order's lifecycle.

    Returns ``(r, placed)`` where ``r`` is the next free row.
    """
    t = session_start_us(st, q0, q1, p)
    reset_template(wt, nt)
    fill_user_attributes(user_seed, skewed_index(st, p.n_users, p.user_skew), p, es, wt, nt)
    wt[W_SESSION] = session
    nt[N_NETWORK] = categorical(st, p.network_cum, 0, p.network_cum.shape[0])
    nt[N_SOURCE] = categorical(st, p.source_cum, 0, p.source_cum.shape[0])
    r = emit(wide, narrow, r, wt, nt, APP_OPEN, t, client_lag_us(st, p.late_share))
    if bernoulli(st, p.p_login):
        r, t = _client(st, p, wide, narrow, r, wt, nt, LOGIN, t)

    searches = 0
    if bernoulli(st, p.p_search):
        searches = min(1 + geometric(st, p.mean_extra_searches), MAX_SEARCHES)
    views = 0
    if bernoulli(st, p.p_browse):
        views = min(1 + geometric(st, p.mean_product_views - 1.0), MAX_VIEWS)
    ncat = p.cat_cum.shape[0]
    focus = categorical(st, p.cat_cum, 0, ncat)
    n_cart = 0
    while searches + views > 0:
        if searches > 0 and uniform(st) * (searches + views) < searches:
            searches -= 1
            focus = categorical(st, p.cat_cum, 0, ncat)
            r0 = r
            r, t = _client(st, p, wide, narrow, r, wt, nt, SEARCH, t)
            narrow[r0, N_CATEGORY] = focus
            narrow[r0, N_SEARCH_TERM] = categorical(st, p.term_cum, p.term_off[focus], p.term_off[focus + 1])
            continue
        views -= 1
        if not bernoulli(st, p.p_stay_in_category):
            focus = categorical(st, p.cat_cum, 0, ncat)
            if bernoulli(st, p.p_category_view):
                r0 = r
                r, t = _client(st, p, wide, narrow, r, wt, nt, CATEGORY_VIEW, t)
                narrow[r0, N_CATEGORY] = focus
        product = focus * p.products_per_category + skewed_index(st, p.products_per_category, p.product_skew)
        price = _price(product_seed, product, p, es)
        r0 = r
        r, t = _client(st, p, wide, narrow, r, wt, nt, PRODUCT_VIEW, t)
        _product(wide, narrow, r0, product, focus, price, -1)
        if bernoulli(st, p.p_wishlist):
            r0 = r
            r, t = _client(st, p, wide, narrow, r, wt, nt, ADD_TO_WISHLIST, t)
            _product(wide, narrow, r0, product, focus, price, -1)
        if n_cart < MAX_CART and bernoulli(st, p.p_add_to_cart):
            qty = p.qty_values[categorical(st, p.qty_cum, 0, p.qty_cum.shape[0])]
            cart_p[n_cart] = product
            cart_q[n_cart] = qty
            n_cart += 1
            r0 = r
            r, t = _client(st, p, wide, narrow, r, wt, nt, ADD_TO_CART, t)
            _product(wide, narrow, r0, product, focus, price, qty)
        elif n_cart > 0 and bernoulli(st, p.p_remove_from_cart):
            k = int(uniform(st) * n_cart)
            gone = cart_p[k]
            r0 = r
            r, t = _client(st, p, wide, narrow, r, wt, nt, REMOVE_FROM_CART, t)
            _product(wide, narrow, r0, gone, gone // p.products_per_category, _price(product_seed, gone, p, es), cart_q[k])
            n_cart -= 1
            cart_p[k] = cart_p[n_cart]
            cart_q[k] = cart_q[n_cart]

    if n_cart > 0:
        if bernoulli(st, p.p_view_cart):
            r, t = _client(st, p, wide, narrow, r, wt, nt, VIEW_CART, t)
        if bernoulli(st, min(1.0, p.p_begin_checkout * order_multiplier(t, p))):
            subtotal = np.int64(0)
            for i in range(n_cart):
                subtotal += _price(product_seed, cart_p[i], p, es) * cart_q[i]
            r, t = _client(st, p, wide, narrow, r, wt, nt, BEGIN_CHECKOUT, t)
            discount = np.int64(0)
            if bernoulli(st, p.p_apply_coupon):
                pct = int(p.coupon_pct_min + uniform(st) * (p.coupon_pct_max - p.coupon_pct_min + 1))
                discount = subtotal * pct // 100
                r0 = r
                r, t = _client(st, p, wide, narrow, r, wt, nt, APPLY_COUPON, t)
                wide[r0, W_DISCOUNT] = discount
            if bernoulli(st, p.p_place_order):
                total = subtotal - discount
                method = categorical(st, p.method_cum, 0, p.method_cum.shape[0])
                provider = pick_provider(st, p, method)
                r0 = r
                r, t = _client(st, p, wide, narrow, r, wt, nt, ORDER_PLACED, t)
                set_payment(wide, narrow, r0, order, total, method, provider)
                wide[r0, W_DISCOUNT] = discount
                paid = False
                if method != p.pod_method:
                    r, t, paid, method, provider = pay_in_session(st, p, wide, narrow, r, t, wt, nt, order, total,
                                                                  method, provider)
                r, t = _client(st, p, wide, narrow, r, wt, nt, SESSION_END, t)
                server_template(wt, nt, swt, snt)
                swt[W_ORDER] = order
                r = simulate_fulfilment(st, p, wide, narrow, r, t, swt, snt, total, method, provider, paid)
                return r, 1
    r, t = _client(st, p, wide, narrow, r, wt, nt, SESSION_END, t)
    return r, 0


@jit
def simulate_journeys(session_seed, user_seed, product_seed, chunk_index, q0, q1, n_rows, p, wide, narrow):
    """Fill rows ``[0, n_rows)`` of the ``wide`` and ``narrow`` matrices (plus slack) with whole journeys.

    Returns ``(rows_written, sessions, orders)``; ``rows_written >= n_rows`` and the
    rows past ``n_rows`` belong to the journey the chunk boundary cut.
    """
    st = np.empty(1, np.uint64)
    st[0] = mix64(np.uint64(session_seed))
    es = np.empty(1, np.uint64)
    wt = np.empty(N_WIDE, np.int64)
    nt = np.empty(N_NARROW, np.int16)
    swt = np.empty(N_WIDE, np.int64)
    snt = np.empty(N_NARROW, np.int16)
    cart_p = np.empty(MAX_CART, np.int64)
    cart_q = np.empty(MAX_CART, np.int64)
    base = np.int64(chunk_index) * ID_STRIDE
    r = 0
    sessions = 0
    orders = 0
    while r < n_rows:
        r, placed = simulate_session(st, es, wt, nt, swt, snt, cart_p, cart_q, p, wide, narrow, r, base + sessions,
                                     base + orders, user_seed, product_seed, q0, q1)
        sessions += 1
        orders += placed
    return r, sessions, orders
