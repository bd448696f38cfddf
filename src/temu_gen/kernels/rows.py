"""Row writer shared by the session and order kernels.

Invariant: :func:`emit` copies a whole template row before setting the event's own
fields, so a row never carries a value left over from an earlier journey, and
``ingest_ts`` is never before ``event_ts``. Templates hold the journey's user and
session columns; every other column starts as ``NULL``.
"""
from ._jit import jit
from .codes import C_EVENT_TS, C_EVENT_TYPE, C_INGEST_TS, C_NETWORK, C_SESSION, C_SOURCE, NULL
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
def reset_template(tmpl):
    """Every column NULL; the journey then fills in its user and session columns."""
    for j in range(tmpl.shape[0]):
        tmpl[j] = NULL


@jit
def server_template(client, server):
    """The server-side twin of a client template: same user, no session, network or source."""
    server[:] = client
    server[C_SESSION] = NULL
    server[C_NETWORK] = NULL
    server[C_SOURCE] = NULL


@jit
def emit(rows, r, tmpl, event_type, ts, lag):
    """Write row ``r`` from ``tmpl`` with its event type and times; returns ``r + 1``."""
    row = rows[r]
    for j in range(tmpl.shape[0]):
        row[j] = tmpl[j]
    row[C_EVENT_TYPE] = event_type
    row[C_EVENT_TS] = ts
    row[C_INGEST_TS] = ts + lag
    return r + 1
