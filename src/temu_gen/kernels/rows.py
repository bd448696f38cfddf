"""Row writer shared by the session and order kernels (a wide int64 and a narrow int16 matrix).

Invariant: :func:`emit` copies a whole template row before setting the event's own
fields, so a row never carries a value left over from an earlier journey, and
``ingest_ts`` is never before ``event_ts``. Templates hold the journey's user and
session columns; every other column starts as ``NULL``.
"""
from ._jit import jit
from .codes import N_EVENT_TYPE, N_NETWORK, N_SOURCE, NULL, W_EVENT_TS, W_INGEST_TS, W_SESSION
from .sampling import exponential, uniform, uniform_range

_US_PER_HOUR = 3_600_000_000.0


@jit
def client_lag_us(st, late_share):
    """Device-to-platform delay: seconds usually, hours for a phone that went offline."""
    if uniform(st) < late_share:
        return int(uniform_range(st, 1.0, 12.0) * _US_PER_HOUR)
    return int(exponential(st, 1_200_000.0)) + 40_000


@jit
def server_lag_us(st):
    """Server-side events reach the log within milliseconds."""
    return int(exponential(st, 250_000.0)) + 2_000


@jit
def reset_template(wt, nt):
    """Every column NULL; the journey then fills in its user and session columns."""
    for j in range(wt.shape[0]):
        wt[j] = NULL
    for j in range(nt.shape[0]):
        nt[j] = NULL


@jit
def server_template(wt, nt, swt, snt):
    """The server-side twin of a client template: same user, no session, network or source."""
    swt[:] = wt
    snt[:] = nt
    swt[W_SESSION] = NULL
    snt[N_NETWORK] = NULL
    snt[N_SOURCE] = NULL


@jit
def emit(wide, narrow, r, wt, nt, event_type, ts, lag):
    """Write row ``r`` from the templates with its event type and times; returns ``r + 1``."""
    w = wide[r]
    for j in range(wt.shape[0]):
        w[j] = wt[j]
    n = narrow[r]
    for j in range(nt.shape[0]):
        n[j] = nt[j]
    n[N_EVENT_TYPE] = event_type
    w[W_EVENT_TS] = ts
    w[W_INGEST_TS] = ts + lag
    return r + 1
