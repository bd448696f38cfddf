"""A user's life through the launch: arrival, a first burst of sessions, decay, churn and comebacks.

Invariant: ``simulate_users`` is a pure function of its seeds and the user range: user
*i* arrives at the *i*-th point of a (rotated) van der Corput sequence on the
acquisition curve and is simulated from its own random stream, so any shard layout
gives the same rows for the same user, and a population grows by adding users without
moving earlier ones. Sessions follow a thinned Poisson process in population-traffic time (so they
keep the hour-of-day, weekday and campaign shape), with intensity decaying since the
last burst, boosted after a first order, and scoped campaigns per home state; a churned
user only comes back when a campaign reactivates them. State (devices, sign-in, cart,
wishlist, orders) carries across sessions.
"""
import math

import numpy as np

from ._jit import jit, jit_alloc, jit_inline
from .clock import US_PER_DAY, arrival_us, day_index, habit_time, period_end_us, traffic_clock, traffic_time
from .codes import MAX_USER_ROWS
from .orders import fulfil
from .rows import server_template
from .sampling import bernoulli, categorical, exponential, exponential_fast, radical_inverse, uniform
from .scratch import C_ORDERS, C_SESSIONS, C_USERS, Out, new_scratch
from .session import buffer_until, run_session
from .state import (F_ACTIVITY, F_HABIT, F_HABIT_MINUTE, U_CHANNEL, U_DEVICES, U_FIRST_ROW, U_INSTALL0, U_INSTALL1,
                    U_N_PENDING, U_ORDERS, U_STATE)
from .users import draw_traits

_NEVER = np.int64(1) << 62
_INV_2_53 = 1.0 / 9007199254740992.0


@jit
def _decay(up, since_us):
    return math.pow(1.0 + since_us / up.decay_us, -up.decay_exponent)


@jit_inline
def next_session(P, sc, t, alive, burst):
    """The next session start after ``t`` (or the period end); returns (start, alive, burst, reactivated)."""
    tp, up, st, u = P.time, P.users, sc.st, sc.u
    end = period_end_us(tp)
    s = u[U_STATE]
    activity = sc.f[F_ACTIVITY] * (up.buyer_boost if u[U_ORDERS] > 0 else 1.0)
    c = traffic_clock(tp, t)
    while t < end:
        if alive:
            g = _decay(up, t - burst)
            bound = activity * up.rate0_per_hour * g * tp.state_mult_max[s]
            if bound <= 0.0:
                break
            c += exponential_fast(st, 1.0) / bound
            t = traffic_time(tp, c)
            if t >= end:
                break
            if uniform(st) * g * tp.state_mult_max[s] < _decay(up, t - burst) * tp.state_day_mult[day_index(tp, t), s]:
                return t, True, burst, False
        else:
            if tp.react_max[s] * up.react_per_hour <= 0.0:
                break
            c += exponential_fast(st, 1.0) / (activity * up.react_per_hour * tp.react_max[s])
            t = traffic_time(tp, c)
            if t >= end:
                break
            if uniform(st) * tp.react_max[s] < tp.react_day[day_index(tp, t), s]:
                return t, True, t, True
    return end, alive, burst, False


@jit
def _device(sc, t):
    u = sc.u
    if u[U_DEVICES] == 2 and t >= u[U_INSTALL1] and uniform(sc.st) < 0.35:
        return 1
    return 0


@jit
def simulate_user(P, user_seed, pt, index, sc, out, r):
    """Every row of user ``index``'s life; returns the next free row."""
    tp, up, u, st = P.time, P.users, sc.u, sc.st
    draw_traits(tp, up, user_seed, index, u, sc.f, st)
    server_template(u, sc.sw, sc.sn)
    # a Cranley-Patterson rotation of the van der Corput point: spread evenly, different per run
    q = radical_inverse(index) + float(np.uint64(user_seed) >> np.uint64(11)) * _INV_2_53
    t = arrival_us(tp, q - math.floor(q))
    end = period_end_us(tp)
    u[U_INSTALL0] = t
    u[U_INSTALL1] = t + np.int64(exponential(st, 10.0 * US_PER_DAY)) if u[U_DEVICES] == 2 else _NEVER
    u[U_FIRST_ROW] = r
    alive, burst, source = True, t, u[U_CHANNEL]
    held_lo, held_hi, held_until = -1, -1, np.int64(0)
    sessions = 0
    while True:
        if held_lo >= 0 and held_until > t:  # the phone is back online: what it held goes now
            buffer_until(out, held_lo, held_hi, t + 1000)
        r, t, held_lo, held_until = run_session(sc, P, out, r, t, _device(sc, t), source, pt)
        held_hi = r
        for k in range(u[U_N_PENDING]):
            r = fulfil(sc, P, out, r, k)
        u[U_N_PENDING] = 0
        sessions += 1
        out.counts[C_SESSIONS] += 1
        if sessions >= up.max_sessions or r - u[U_FIRST_ROW] > MAX_USER_ROWS - 8192:
            break
        if alive and bernoulli(st, up.p_churn_buyer if u[U_ORDERS] > 0 else up.p_churn):
            alive = False
        gap_start = t + np.int64(up.min_gap_us)
        t_next, alive, burst, back = next_session(P, sc, gap_start, alive, burst)
        if t_next >= end:
            break
        if back:
            source = up.push_code
        else:
            source = up.return_code[categorical(st, up.return_cum, 0, up.return_cum.shape[0])]
            if uniform(st) < sc.f[F_HABIT]:
                habitual = habit_time(tp, t_next, sc.f[F_HABIT_MINUTE], up.habit_sd_us, st)
                if gap_start <= habitual < end:
                    t_next = habitual
        t = t_next
    out.counts[C_USERS] += 1
    return r


@jit_alloc
def simulate_users(P, user_seed, pt, u0, u1, wide, narrow, order_ts, counts, r):
    """Simulate users [u0, u1) into the buffers from row ``r``.

    Stops early when fewer than ``MAX_USER_ROWS`` rows (or too few order slots) remain;
    returns (next free row, next user), and the driver grows the buffers and calls again.
    """
    sc = new_scratch()
    out = Out(wide, narrow, order_ts, counts)
    i = u0
    while i < u1:
        if wide.shape[0] - r < MAX_USER_ROWS or order_ts.shape[0] - counts[C_ORDERS] < 1024:
            break
        r = simulate_user(P, user_seed, pt, i, sc, out, r)
        i += 1
    return r, i
