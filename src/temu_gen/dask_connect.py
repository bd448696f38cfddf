"""Connecting to a running Dask scheduler (``--scheduler``), with deadlines of its own.

Invariant: :func:`connect` returns a client of a scheduler that answered as one and has
workers, or raises a one-line error within about :data:`CONNECT_TIMEOUT_S` (plus
``--wait-workers``' wait): ConfigError for an address whose protocol a run cannot use,
OutputError for a scheduler that cannot be reached, does not answer as a Dask scheduler
(another service on that port: the dashboard's, say) or has no workers. Dask's own
connect timeout is not relied on alone: a port that accepts connections and never
speaks Dask's protocol holds ``distributed.Client`` past it for ever.
"""
from __future__ import annotations

import threading

import distributed

from .errors import ConfigError, OutputError

CONNECT_TIMEOUT_S = 10.0
"""A scheduler that does not answer within this many seconds is reported as unreachable."""
WAIT_WORKERS_S = 1800.0
"""How long ``--wait-workers`` waits for a booting cluster's workers to join before the run fails."""
_GRACE_S = 2.0
"""Beyond Dask's own timeout, before the client being made is given up."""
PROTOCOLS = ("tcp", "tls")
"""What a run's scheduler address may use (``tls://`` with Dask's TLS settings in its config)."""


def why(e: BaseException) -> str:
    """An exception in a few words: its message's first line, or its type."""
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _check_protocol(address: str) -> None:
    protocol = address.split("://", 1)[0].lower() if "://" in address else "tcp"
    if protocol not in PROTOCOLS:
        raise ConfigError(f"--scheduler {address}: a run reaches its scheduler over {' or '.join(PROTOCOLS)} "
                          f"(e.g. tcp://10.0.1.5:8786), not {protocol}://")


def _client(address: str):
    """``distributed.Client(address)``, made in a thread of its own so that it can be given up at a deadline."""
    made: dict = {}

    def make() -> None:
        try:
            made["client"] = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, which reports it
            made["error"] = e

    thread = threading.Thread(target=make, name="temu-gen-dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S + _GRACE_S)
    if thread.is_alive():  # connected, but no Dask answer: the thread is left to the process's exit (a daemon)
        raise OutputError(f"the service at {address} did not answer as a Dask scheduler within "
                          f"{CONNECT_TIMEOUT_S + _GRACE_S:g} s: is it another port (the dashboard's, say)? "
                          f"'dask scheduler' listens on 8786 unless told otherwise")
    if "error" in made:
        e = made["error"]
        if not isinstance(e, Exception):
            raise e
        raise OutputError(f"cannot reach the Dask scheduler at {address} ({why(e)}); check the address and that "
                          f"'dask scheduler' runs there with its port open") from None
    return made["client"]


def connect(address: str, wait_workers: int = 0):
    """A client of the scheduler at ``address``, or a one-line error (see the module's invariant).

    With ``wait_workers``, a cluster that is still starting gets up to :data:`WAIT_WORKERS_S` to reach that many
    worker processes (a run sizes its tasks in flight from the workers it finds).
    """
    _check_protocol(address)
    client = _client(address)
    if wait_workers:
        try:
            client.wait_for_workers(wait_workers, timeout=WAIT_WORKERS_S)
        except TimeoutError as e:
            client.close()
            joined = getattr(e, "available_workers", "fewer")
            raise OutputError(f"only {joined} of the {wait_workers} Dask workers that --wait-workers asks for joined "
                              f"the scheduler at {address} within {WAIT_WORKERS_S:g} s; start more with 'dask worker "
                              f"{address}', or lower --wait-workers") from None
        except OSError as e:
            client.close()
            raise OutputError(f"lost the Dask scheduler at {address} while waiting for {wait_workers} workers "
                              f"({why(e)})") from None
    if not client.nthreads():
        client.close()
        raise OutputError(f"the Dask scheduler at {address} has no workers; start some with 'dask worker "
                          f"{address}' (see docs/dask.md)")
    return client
