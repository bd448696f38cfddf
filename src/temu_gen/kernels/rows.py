"""Row writer shared by every kernel: a wide int64 and a narrow int16 matrix, one row per event.

Invariant: :func:`emit` copies a whole template row before setting the event's own
fields, so a row never carries a value left over from an earlier event; it numbers the
user's events in the order they are written (``event_seq``), which makes event ids
unique per user; and ``ingest_ts`` is never before ``event_ts``.
"""
from ._jit import jit, jit_inline
from .codes import N_CITY, N_EVENT_TYPE, N_SIGNED_IN, N_STATE, NULL, W_EVENT_SEQ, W_EVENT_TS, W_INGEST_TS, W_USER
from .sampling import exponential_fast
from .state import U_CITY, U_EVENT_SEQ, U_INDEX, U_STATE


@jit
def reset(tw, tn):
    """Every column NULL."""
    for j in range(tw.shape[0]):
        tw[j] = NULL
    for j in range(tn.shape[0]):
        tn[j] = NULL


@jit
def server_template(u, tw, tn):
    """Columns every server-side event of the user carries: the user and their home; no device or session."""
    reset(tw, tn)
    tw[W_USER] = u[U_INDEX]
    tn[N_SIGNED_IN] = 1
    tn[N_STATE] = u[U_STATE]
    tn[N_CITY] = u[U_CITY]


@jit_inline
def emit(wide, narrow, r, tw, tn, u, event_type, ts, ingest):
    """Write row ``r`` from the templates with its event type and times; returns ``r + 1``."""
    w = wide[r]
    for j in range(tw.shape[0]):
        w[j] = tw[j]
    n = narrow[r]
    for j in range(tn.shape[0]):
        n[j] = tn[j]
    n[N_EVENT_TYPE] = event_type
    w[W_EVENT_TS] = ts
    w[W_INGEST_TS] = ingest if ingest > ts else ts
    w[W_EVENT_SEQ] = u[U_EVENT_SEQ]
    u[U_EVENT_SEQ] += 1
    return r + 1


@jit_inline
def server_lag(st):
    """Server-side events reach the log within milliseconds."""
    return int(exponential_fast(st, 250_000.0)) + 2_000


@jit_inline
def online_lag(st, mean_us):
    """A connected phone's event reaches the log in about a second."""
    return int(exponential_fast(st, mean_us)) + 40_000

