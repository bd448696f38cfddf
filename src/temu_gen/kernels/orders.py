"""An order's life after its session: cancellation, dispatch, delivery on working days, returns and refunds.

Invariant: the events of one order are written in time order and form a path of the
declared lifecycle (``temu_gen.lifecycle``): an unpaid prepaid order is cancelled; a
cancelled prepaid order is refunded; shipping, hub arrival and delivery attempts happen
on working days in working hours; a parcel that cannot be delivered goes back to the
sender (``returned_to_sender``) and, if it was paid, is refunded; pay-on-delivery is
collected at the door; returns follow delivery. Every order therefore ends in a
terminal state, or is still in flight where the log ends.
"""
import numpy as np

from ._jit import jit, jit_inline
from .clock import US_PER_DAY, US_PER_HOUR, working_day_end, working_time
from .codes import (DELIVERED, DELIVERY_FAILED, HUB_ARRIVAL, N_ATTEMPT, N_FAILURE_REASON, N_LOGISTICS_PARTNER,
                    N_STATUS_REASON, ORDER_CANCELLED, ORDER_SHIPPED, OUT_FOR_DELIVERY, PAYMENT_NOT_COMPLETED,
                    PAYMENT_SUCCEEDED, REFUND_PROCESSED, RETURN_REQUESTED, RETURNED_TO_SENDER, W_ORDER,
                    W_SESSION, N_APP_VERSION, N_NETWORK, N_SIGNED_IN, N_SOURCE)
from .checkout import set_payment
from .rows import emit, online_lag, server_lag
from .sampling import bernoulli, categorical, uniform, uniform_range
from .state import (F_LAG0, P_DEVICE, P_METHOD, P_ORDER, P_PAID, P_PROVIDER, P_TIME, P_TOTAL, U_INSTALL0, U_NETWORK,
                    U_PLATFORM0, U_TIER)
from .users import app_version

UNDELIVERABLE = 1
"""status_reason code of ``returned_to_sender`` (the parameter builder interns it second)."""


@jit
def _server(sc, out, r, event_type, t):
    return emit(out.wide, out.narrow, r, sc.sw, sc.sn, sc.u, event_type, t, t + server_lag(sc.st))


@jit
def _refund(sc, P, out, r, t, order, total, method, provider):
    t += np.int64(uniform_range(sc.st, P.ship.refund_d_min, P.ship.refund_d_max) * US_PER_DAY)
    r0 = r
    r = _server(sc, out, r, REFUND_PROCESSED, t)
    set_payment(out, r0, order, total, method, provider)
    return r, t


@jit
def _cancel(sc, P, out, r, t, reason):
    r0 = r
    r = _server(sc, out, r, ORDER_CANCELLED, t)
    out.narrow[r0, N_STATUS_REASON] = reason
    return r


@jit
def _deliver(sc, P, out, r, t):
    """Ship, reach the hub, then delivery attempts; returns (r, t, delivered)."""
    tp, sp, st = P.time, P.ship, sc.st
    tier = sc.u[U_TIER]
    dispatch = uniform_range(st, sp.dispatch_d_min, sp.dispatch_d_max)
    door = uniform_range(st, sp.tier_transit_min[tier], sp.tier_transit_max[tier])
    transit = door - dispatch if door - dispatch > 0.5 else 0.5
    sc.sn[N_LOGISTICS_PARTNER] = categorical(st, sp.partner_cum, 0, sp.partner_cum.shape[0])
    t = working_time(tp, t + np.int64(dispatch * US_PER_DAY), st)
    r = _server(sc, out, r, ORDER_SHIPPED, t)
    t = working_time(tp, t + np.int64(0.8 * transit * US_PER_DAY), st)
    r = _server(sc, out, r, HUB_ARRIVAL, t)
    t = working_time(tp, t + np.int64(0.2 * transit * US_PER_DAY), st)
    attempt = 1
    delivered = False
    while True:
        if working_day_end(tp, t) - t < US_PER_HOUR:  # too late to set out today
            t = working_time(tp, working_day_end(tp, t) + 1, st)
        r0 = r
        r = _server(sc, out, r, OUT_FOR_DELIVERY, t)
        out.narrow[r0, N_ATTEMPT] = attempt
        # the courier reaches the door some time in the rest of the working day
        room = working_day_end(tp, t) - t
        t += np.int64(uniform_range(st, 0.05, 0.99) * (8.0 * US_PER_HOUR if room > 8.0 * US_PER_HOUR else room))
        r0 = r
        if uniform(st) >= sp.tier_fail[tier]:
            r = _server(sc, out, r, DELIVERED, t)
            out.narrow[r0, N_ATTEMPT] = attempt
            delivered = True
            break
        r = _server(sc, out, r, DELIVERY_FAILED, t)
        out.narrow[r0, N_ATTEMPT] = attempt
        out.narrow[r0, N_FAILURE_REASON] = sp.dfail_code[categorical(st, sp.dfail_cum, 0, sp.dfail_cum.shape[0])]
        if attempt >= sp.max_attempts or uniform(st) >= sp.p_retry:
            break
        attempt += 1
        t = working_time(tp, t + np.int64(12 * US_PER_HOUR), st)
    if not delivered:
        t = working_time(tp, t + np.int64(uniform_range(st, sp.rts_d_min, sp.rts_d_max) * US_PER_DAY), st)
        r0 = r
        r = _server(sc, out, r, RETURNED_TO_SENDER, t)
        out.narrow[r0, N_STATUS_REASON] = UNDELIVERABLE
    sc.sn[N_LOGISTICS_PARTNER] = -1
    return r, t, delivered


@jit
def _return(sc, P, out, r, t, device):
    """The shopper files a return in the app (a client event outside any tracked session)."""
    t += np.int64(uniform_range(sc.st, 0.1, P.ship.return_window_d) * US_PER_DAY)
    from_session_template(sc, P.users, device, t)
    r0 = r
    r = emit(out.wide, out.narrow, r, sc.tw, sc.tn, sc.u, RETURN_REQUESTED, t,
             t + online_lag(sc.st, P.funnel.online_lag_us))
    out.narrow[r0, N_STATUS_REASON] = P.ship.return_code[categorical(sc.st, P.ship.return_cum, 0,
                                                                       P.ship.return_cum.shape[0])]
    return r, t


@jit
def from_session_template(sc, up, device, t):
    """The device's columns at ``t`` (app version then), from the last session's template, without a session."""
    sc.tn[N_APP_VERSION] = app_version(up, sc.u[U_PLATFORM0 + device], sc.u[U_INSTALL0 + device],
                                       sc.f[F_LAG0 + device], t)
    sc.tw[W_SESSION] = -1
    sc.tn[N_SOURCE] = -1
    sc.tn[N_NETWORK] = sc.u[U_NETWORK]
    sc.tn[N_SIGNED_IN] = 1  # filing a return needs the account


@jit_inline
def fulfil(sc, P, out, r, k):
    """Everything that happens to pending order ``k`` after the session that placed it."""
    po, st = sc.po[k], sc.st
    order, t, total, method = po[P_ORDER], po[P_TIME], po[P_TOTAL], po[P_METHOD]
    provider, paid = po[P_PROVIDER], po[P_PAID] == 1
    prepaid = method != P.pay.pod_method
    sc.sw[W_ORDER] = order
    if prepaid and not paid:
        t += np.int64(uniform_range(st, P.pay.unpaid_cancel_h_min, P.pay.unpaid_cancel_h_max) * US_PER_HOUR)
        return _cancel(sc, P, out, r, t, PAYMENT_NOT_COMPLETED)
    if bernoulli(st, P.ship.p_cancel):
        t += np.int64(uniform_range(st, 0.1, 24.0) * US_PER_HOUR)
        r = _cancel(sc, P, out, r, t, P.ship.cancel_code[categorical(st, P.ship.cancel_cum, 0,
                                                                      P.ship.cancel_cum.shape[0])])
        if prepaid:
            r, t = _refund(sc, P, out, r, t, order, total, method, provider)
        return r
    r, t, delivered = _deliver(sc, P, out, r, t)
    if not delivered:
        if prepaid:
            r, t = _refund(sc, P, out, r, t, order, total, method, provider)
        return r
    if not prepaid:  # pay on delivery: the courier records the payment at the door
        t += np.int64(uniform_range(st, 30.0, 300.0) * 1_000_000)
        r0 = r
        r = _server(sc, out, r, PAYMENT_SUCCEEDED, t)
        set_payment(out, r0, order, total, method, provider)
        out.narrow[r0, N_ATTEMPT] = 1
    if bernoulli(st, P.ship.p_return):
        sc.tw[W_ORDER] = order
        r, t = _return(sc, P, out, r, t, po[P_DEVICE])
        sc.tw[W_ORDER] = -1
        if bernoulli(st, P.ship.p_refund_after_return):
            r, t = _refund(sc, P, out, r, t, order, total, method, provider)
    return r
