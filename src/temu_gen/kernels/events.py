"""Client events of a session: think times, the online lag, and signing in.

Invariant: every client event advances the session clock by a think time (lognormal,
capped) before it is written, so a session's events never go back in time, and a
device's sign-in state is set before the event that signs it in is written.
"""
from ._jit import jit_inline
from .codes import LOGIN, N_SIGNED_IN, SIGN_UP
from .rows import emit, online_lag
from .sampling import lognormal_fast
from .state import U_SIGNED_IN0, U_SIGNED_UP


@jit_inline
def think(st, fp, event_type):
    """Reading time before an event: lognormal, capped so one pause cannot swallow a day."""
    median = fp.think_us[event_type]
    gap = lognormal_fast(st, median, fp.think_sigma)
    cap = 40.0 * median + 1e6
    return int(gap if gap < cap else cap) + 1


@jit_inline
def client_after(sc, fp, out, r, event_type, t, gap_us):
    """Write a client event ``gap_us`` after ``t`` (with the online lag; buffered sessions patch it later)."""
    t += gap_us
    return emit(out.wide, out.narrow, r, sc.tw, sc.tn, sc.u, event_type, t, t + online_lag(sc.st, fp.online_lag_us)), t


@jit_inline
def client(sc, fp, out, r, event_type, t):
    """Advance the session clock by a think time and write a client event."""
    return client_after(sc, fp, out, r, event_type, t, think(sc.st, fp, event_type))


@jit_inline
def sign_in(sc, fp, out, r, t, device):
    """The device signs in: ``sign_up`` the first time the user ever does, ``login`` afterwards."""
    sc.u[U_SIGNED_IN0 + device] = 1
    sc.tn[N_SIGNED_IN] = 1
    event = LOGIN if sc.u[U_SIGNED_UP] == 1 else SIGN_UP
    sc.u[U_SIGNED_UP] = 1
    return client(sc, fp, out, r, event, t)
