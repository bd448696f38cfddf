"""Checkout: the cart becomes an order, its lines are written, and a prepaid order is paid in the session.

Invariant: an order is placed only by a signed-in device and only from a non-empty
cart; ``order_placed`` is followed by one ``order_item`` per cart line and then, for
prepaid methods, payment attempts (each ``payment_initiated`` answered by exactly one
``payment_failed`` or ``payment_succeeded``) whose confirmation time depends on the
method. Conversion depends on platform, network, traffic source, the calendar, price
sensitivity and how many orders the user placed before.
"""
import numpy as np

from ._jit import jit, jit_inline
from .catalog import price_kobo
from .clock import order_multiplier
from .codes import (APPLY_COUPON, BEGIN_CHECKOUT, N_ATTEMPT, N_CATEGORY, N_FAILURE_REASON, N_NETWORK,
                    N_PAYMENT_METHOD, N_PAYMENT_PROVIDER, N_PLATFORM, N_QUANTITY, N_SIGNED_IN, N_SOURCE, ORDER_ITEM,
                    ORDER_PLACED, PAYMENT_FAILED, PAYMENT_INITIATED, PAYMENT_SUCCEEDED, VIEW_CART, W_DISCOUNT,
                    W_INGEST_TS, W_ORDER, W_ORDER_TOTAL, W_PRODUCT, W_UNIT_PRICE, MAX_PENDING_ORDERS)
from .events import client, client_after, sign_in, think
from .sampling import bernoulli, categorical, uniform, uniform_range
from .scratch import C_ORDERS
from .state import (F_SENSITIVITY, P_DEVICE, P_METHOD, P_ORDER, P_PAID, P_PROVIDER, P_TIME, P_TOTAL, U_AREA,
                    U_METHOD, U_N_CART, U_N_PENDING, U_ORDERS, U_PLATFORM0)


@jit_inline
def set_payment(out, r, order, total, method, provider):
    """The payment columns of an order-level row."""
    out.wide[r, W_ORDER] = order
    out.wide[r, W_ORDER_TOTAL] = total
    out.narrow[r, N_PAYMENT_METHOD] = method
    out.narrow[r, N_PAYMENT_PROVIDER] = provider


@jit_inline
def pick_provider(st, pp, method):
    return pp.provider_code[categorical(st, pp.provider_cum, pp.provider_off[method], pp.provider_off[method + 1])]


@jit_inline
def purchase_intent(sc, P, t):
    """Chance this session sets out to buy: by platform, network, source, calendar, budget and earlier orders."""
    fp, tn, u = P.funnel, sc.tn, sc.u
    k = u[U_ORDERS] if u[U_ORDERS] < fp.conv_orders.shape[0] else fp.conv_orders.shape[0] - 1
    p = (fp.p_intent * fp.conv_platform[tn[N_PLATFORM]] * fp.conv_network[tn[N_NETWORK]]
         * fp.conv_source[tn[N_SOURCE]] * fp.conv_orders[k] * order_multiplier(P.time, t)
         * (1.0 - fp.sensitivity_effect * sc.f[F_SENSITIVITY] * 0.5))
    return p if p < 1.0 else 1.0


@jit
def pay(sc, P, out, r, t, order, total, method, provider):
    """Payment attempts in the session: failures, retries and method switches; returns (r, t, paid, method, provider)."""
    pp, fp, st = P.pay, P.funnel, sc.st
    attempt = 1
    while True:
        r0 = r
        r, t = client_after(sc, fp, out, r, PAYMENT_INITIATED, t, think(st, fp, PAYMENT_INITIATED))
        set_payment(out, r0, order, total, method, provider)
        out.narrow[r0, N_ATTEMPT] = attempt
        wait = np.int64(uniform_range(st, pp.confirm_min_us[method], pp.confirm_max_us[method])) + 1
        r0 = r
        if uniform(st) >= pp.method_fail[method]:
            r, t = client_after(sc, fp, out, r, PAYMENT_SUCCEEDED, t, wait)
            set_payment(out, r0, order, total, method, provider)
            out.narrow[r0, N_ATTEMPT] = attempt
            return r, t, True, method, provider
        r, t = client_after(sc, fp, out, r, PAYMENT_FAILED, t, wait // 2 + 1)
        set_payment(out, r0, order, total, method, provider)
        out.narrow[r0, N_ATTEMPT] = attempt
        out.narrow[r0, N_FAILURE_REASON] = pp.reason_code[categorical(st, pp.reason_cum, pp.reason_off[method],
                                                                      pp.reason_off[method + 1])]
        if attempt >= pp.max_attempts or uniform(st) >= pp.p_retry:
            return r, t, False, method, provider
        attempt += 1
        if uniform(st) < pp.p_switch:
            method = categorical(st, pp.prepaid_cum, 0, pp.prepaid_cum.shape[0])
            provider = pick_provider(st, pp, method)


@jit
def _lines(sc, P, out, r, t, order, pt):
    """``order_item`` rows, one per cart line; returns (r, t, subtotal in kobo)."""
    cp, fp = P.catalog, P.funnel
    subtotal = np.int64(0)
    for i in range(sc.u[U_N_CART]):
        product, qty = sc.cart[i, 0], sc.cart[i, 1]
        price = price_kobo(cp, pt, product, t)
        subtotal += price * qty
        r0 = r
        r, t = client_after(sc, fp, out, r, ORDER_ITEM, t, 1000)
        out.wide[r0, W_ORDER] = order
        out.wide[r0, W_PRODUCT] = product
        out.narrow[r0, N_CATEGORY] = product // cp.per_category
        out.wide[r0, W_UNIT_PRICE] = price
        out.narrow[r0, N_QUANTITY] = qty
    return r, t, subtotal


@jit
def _after_placed(out, placed, end):
    """The order's own rows (lines, payments) reach the log no earlier than ``order_placed``.

    The app queues an order's lines and payments behind the order itself, so a cut of the log by
    arrival never keeps an order's rows without the order (independent online lags would).
    """
    first = out.wide[placed, W_INGEST_TS]
    for j in range(placed + 1, end):
        if out.wide[j, W_INGEST_TS] < first:
            out.wide[j, W_INGEST_TS] = first


@jit_inline
def checkout(sc, P, out, r, t, device, pt, intent):
    """Maybe check the cart out (usually with purchase intent); returns (r, t, row of order_placed or -1)."""
    st, u, fp, pp = sc.st, sc.u, P.funnel, P.pay
    if u[U_N_CART] == 0 or u[U_N_PENDING] >= MAX_PENDING_ORDERS:
        return r, t, -1
    if bernoulli(st, fp.p_view_cart):
        r, t = client(sc, fp, out, r, VIEW_CART, t)
    if not bernoulli(st, fp.p_checkout_intent if intent else fp.p_checkout_browsing):
        return r, t, -1
    if sc.tn[N_SIGNED_IN] == 0:  # checkout asks the shopper to sign in
        r, t = sign_in(sc, fp, out, r, t, device)
    r, t = client(sc, fp, out, r, BEGIN_CHECKOUT, t)
    subtotal = np.int64(0)
    for i in range(u[U_N_CART]):
        subtotal += price_kobo(P.catalog, pt, sc.cart[i, 0], t) * sc.cart[i, 1]
    discount = np.int64(0)
    if bernoulli(st, fp.p_coupon):
        pct = int(fp.coupon_min + uniform(st) * (fp.coupon_max - fp.coupon_min + 1))
        discount = subtotal * pct // 100
        r0 = r
        r, t = client(sc, fp, out, r, APPLY_COUPON, t)
        out.wide[r0, W_DISCOUNT] = discount
    if not bernoulli(st, fp.p_place):
        return r, t, -1
    method = u[U_METHOD]
    if not bernoulli(st, pp.p_preferred):
        area, ios = u[U_AREA], 1 if u[U_PLATFORM0] == 1 else 0
        method = categorical(st, P.users.method_cum[ios, area], 0, P.users.method_cum.shape[2])
    provider = pick_provider(st, pp, method)
    order = out.counts[C_ORDERS]
    out.counts[C_ORDERS] = order + 1
    placed = r
    r, t = client(sc, fp, out, r, ORDER_PLACED, t)
    out.order_ts[order] = t
    r, t, subtotal = _lines(sc, P, out, r, t, order, pt)
    total = subtotal - discount
    set_payment(out, placed, order, total, method, provider)
    out.wide[placed, W_DISCOUNT] = discount
    paid = False
    if method != pp.pod_method:
        r, t, paid, method, provider = pay(sc, P, out, r, t, order, total, method, provider)
    _after_placed(out, placed, r)
    k = u[U_N_PENDING]
    po = sc.po
    po[k, P_ORDER], po[k, P_TIME], po[k, P_TOTAL], po[k, P_METHOD] = order, t, total, method
    po[k, P_PROVIDER], po[k, P_PAID], po[k, P_DEVICE] = provider, 1 if paid else 0, device
    u[U_N_PENDING] = k + 1
    u[U_N_CART] = 0
    u[U_ORDERS] += 1
    return r, t, placed
