"""Order lifecycle after checkout: payment, cancellation, shipping, delivery, returns, refunds.

Invariant: the events of one order are emitted in time order and always form a
valid path of the lifecycle: ``order_placed`` first; payment only for that order;
prepaid orders ship only once paid; ``out_for_delivery`` after ``order_shipped``;
``delivered`` after ``out_for_delivery`` and at most once; nothing but a refund after
a cancellation; no cancellation after shipping; returns only after delivery. Any
prefix of that path is therefore valid too, which is what a chunk boundary leaves.
"""
from ._jit import jit
from .codes import (N_ATTEMPT, N_CITY, N_FAILURE_REASON, N_LOGISTICS_PARTNER, N_PAYMENT_METHOD,
                    N_PAYMENT_PROVIDER, N_STATUS_REASON, W_ORDER, W_ORDER_TOTAL,
                    DELIVERED, DELIVERY_FAILED, HUB_ARRIVAL, ORDER_CANCELLED, ORDER_SHIPPED,
                    OUT_FOR_DELIVERY, PAYMENT_FAILED, PAYMENT_INITIATED, PAYMENT_NOT_COMPLETED,
                    PAYMENT_SUCCEEDED, REFUND_PROCESSED, RETURN_REQUESTED)
from .rows import client_lag_us, emit, server_lag_us
from .sampling import categorical, exponential, uniform, uniform_range

_US_PER_SECOND = 1_000_000.0
_US_PER_HOUR = 3_600_000_000.0
_US_PER_DAY = 86_400_000_000.0


@jit
def set_payment(wide, narrow, r, order, total, method, provider):
    """The payment columns of an order-level row."""
    wide[r, W_ORDER] = order
    wide[r, W_ORDER_TOTAL] = total
    narrow[r, N_PAYMENT_METHOD] = method
    narrow[r, N_PAYMENT_PROVIDER] = provider


@jit
def pick_provider(st, p, method):
    return p.provider_code[categorical(st, p.provider_cum, p.provider_off[method], p.provider_off[method + 1])]


@jit
def pay_in_session(st, p, wide, narrow, r, t, wt, nt, order, total, method, provider):
    """Payment attempts inside the checkout session: failures, retries and method switches.

    Returns ``(r, t, paid, method, provider)``; the order keeps the method that
    finally succeeded (or the last one tried).
    """
    gap = p.mean_gap_us
    attempt = 1
    while True:
        t += int(exponential(st, gap[PAYMENT_INITIATED])) + 1
        r0 = r
        r = emit(wide, narrow, r, wt, nt, PAYMENT_INITIATED, t, client_lag_us(st, p.late_share))
        set_payment(wide, narrow, r0, order, total, method, provider)
        narrow[r0, N_ATTEMPT] = attempt
        if uniform(st) >= p.method_fail[method]:
            t += int(exponential(st, gap[PAYMENT_SUCCEEDED])) + 1
            r0 = r
            r = emit(wide, narrow, r, wt, nt, PAYMENT_SUCCEEDED, t, client_lag_us(st, p.late_share))
            set_payment(wide, narrow, r0, order, total, method, provider)
            narrow[r0, N_ATTEMPT] = attempt
            return r, t, True, method, provider
        t += int(exponential(st, gap[PAYMENT_FAILED])) + 1
        r0 = r
        r = emit(wide, narrow, r, wt, nt, PAYMENT_FAILED, t, client_lag_us(st, p.late_share))
        set_payment(wide, narrow, r0, order, total, method, provider)
        narrow[r0, N_ATTEMPT] = attempt
        k = categorical(st, p.reason_cum, p.reason_off[method], p.reason_off[method + 1])
        narrow[r0, N_FAILURE_REASON] = p.reason_code[k]
        if attempt >= p.max_attempts or uniform(st) >= p.p_retry:
            return r, t, False, method, provider
        attempt += 1
        if uniform(st) < p.p_switch_method:
            method = categorical(st, p.prepaid_method_cum, 0, p.prepaid_method_cum.shape[0])
            provider = pick_provider(st, p, method)


@jit
def _server(st, wide, narrow, r, wt, nt, event_type, t):
    return emit(wide, narrow, r, wt, nt, event_type, t, server_lag_us(st))


@jit
def simulate_fulfilment(st, p, wide, narrow, r, t, wt, nt, total, method, provider, paid):
    """Everything after the checkout session. ``wt, nt`` is the order's server-side template
    (user columns and ``order_id`` set, no session)."""
    prepaid = method != p.pod_method
    if prepaid and not paid:
        t += int(uniform_range(st, p.unpaid_cancel_h_min, p.unpaid_cancel_h_max) * _US_PER_HOUR)
        r0 = r
        r = _server(st, wide, narrow, r, wt, nt, ORDER_CANCELLED, t)
        narrow[r0, N_STATUS_REASON] = PAYMENT_NOT_COMPLETED
        return r
    order = wt[W_ORDER]
    if uniform(st) < p.p_cancel_before_ship:
        t += int(uniform_range(st, 0.1, 24.0) * _US_PER_HOUR)
        r0 = r
        r = _server(st, wide, narrow, r, wt, nt, ORDER_CANCELLED, t)
        narrow[r0, N_STATUS_REASON] = p.cancel_code[categorical(st, p.cancel_cum, 0, p.cancel_cum.shape[0])]
        if prepaid:
            t += int(uniform_range(st, p.refund_d_min, p.refund_d_max) * _US_PER_DAY)
            r0 = r
            r = _server(st, wide, narrow, r, wt, nt, REFUND_PROCESSED, t)
            set_payment(wide, narrow, r0, order, total, method, provider)
        return r
    tier = p.city_tier[nt[N_CITY]]
    dispatch = uniform_range(st, p.dispatch_d_min, p.dispatch_d_max)
    door = uniform_range(st, p.tier_transit_min[tier], p.tier_transit_max[tier])
    transit = door - dispatch if door - dispatch > 0.5 else 0.5
    nt[N_LOGISTICS_PARTNER] = categorical(st, p.partner_cum, 0, p.partner_cum.shape[0])
    t += int(dispatch * _US_PER_DAY)
    r = _server(st, wide, narrow, r, wt, nt, ORDER_SHIPPED, t)
    t += int(0.8 * transit * _US_PER_DAY)
    r = _server(st, wide, narrow, r, wt, nt, HUB_ARRIVAL, t)
    t += int(0.2 * transit * _US_PER_DAY)
    delivered = False
    attempt = 1
    while True:
        r0 = r
        r = _server(st, wide, narrow, r, wt, nt, OUT_FOR_DELIVERY, t)
        narrow[r0, N_ATTEMPT] = attempt
        t += int(uniform_range(st, 1.0, 9.0) * _US_PER_HOUR)
        if uniform(st) >= p.tier_fail[tier]:
            r0 = r
            r = _server(st, wide, narrow, r, wt, nt, DELIVERED, t)
            narrow[r0, N_ATTEMPT] = attempt
            delivered = True
            break
        r0 = r
        r = _server(st, wide, narrow, r, wt, nt, DELIVERY_FAILED, t)
        narrow[r0, N_ATTEMPT] = attempt
        narrow[r0, N_FAILURE_REASON] = p.dfail_code[categorical(st, p.dfail_cum, 0, p.dfail_cum.shape[0])]
        if attempt >= p.max_delivery_attempts or uniform(st) >= p.p_retry_delivery:
            break  # undelivered: returned to sender outside this log
        attempt += 1
        t += int(uniform_range(st, 18.0, 30.0) * _US_PER_HOUR)
    nt[N_LOGISTICS_PARTNER] = -1
    if not delivered:
        return r
    if not prepaid:  # pay on delivery: the courier records the payment at the door
        t += int(uniform_range(st, 30.0, 300.0) * _US_PER_SECOND)
        r0 = r
        r = _server(st, wide, narrow, r, wt, nt, PAYMENT_SUCCEEDED, t)
        set_payment(wide, narrow, r0, order, total, method, provider)
        narrow[r0, N_ATTEMPT] = 1
    if uniform(st) < p.p_return:
        t += int(uniform_range(st, 0.1, p.return_window_d) * _US_PER_DAY)
        r0 = r
        # the shopper files the return in the app, outside any tracked session
        r = emit(wide, narrow, r, wt, nt, RETURN_REQUESTED, t, client_lag_us(st, p.late_share))
        narrow[r0, N_STATUS_REASON] = p.return_code[categorical(st, p.return_cum, 0, p.return_cum.shape[0])]
        if uniform(st) < p.p_refund_after_return:
            t += int(uniform_range(st, p.refund_d_min, p.refund_d_max) * _US_PER_DAY)
            r0 = r
            r = _server(st, wide, narrow, r, wt, nt, REFUND_PROCESSED, t)
            set_payment(wide, narrow, r0, order, total, method, provider)
    return r
