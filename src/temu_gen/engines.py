"""Engines: where a run's tasks execute: local worker processes (``pool``, the default) or a Dask cluster (``dask``).

Invariant: every engine runs the same tasks (:func:`temu_gen.pool.w_simulate_shard`,
:func:`temu_gen.pool.w_reduce_part`) on the same specs and hands the scheduler an executor
with the same three calls (``submit``, ``wait``, ``close``) and a delivery with the same
three (``submit``, ``poll``, ``close``), so the files of a run are byte-identical whatever
the engine. Choosing the Dask engine without dask installed, or with conflicting flags,
is refused before the run is touched.
"""
from __future__ import annotations

from .errors import ConfigError
from .pool import WorkerSetup, make_executor

ENGINES = ("pool", "dask")
INSTALL_DASK = "pip install 'temu-gen[dask]'"


class PoolEngine:
    """The local process pool (``--workers 1`` runs inline); the target's own delivery (rename or uploader)."""

    name = "pool"
    forks_workers = True
    """The workers are forked from this process (and inherit what it imported and compiled)."""

    def executor(self, workers: int, setup: WorkerSetup, target):
        return make_executor(workers, setup)

    def delivery(self, target, max_in_flight: int):
        return target.delivery(max_in_flight)

    def close(self) -> None:
        pass


POOL = PoolEngine()


def require_dask() -> None:
    """Raise a one-line ConfigError unless dask and distributed can be imported."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"--engine dask needs dask and distributed ({e.name or e} is not installed): "
                          f"{INSTALL_DASK}") from None


def open_engine(engine: str | None, scheduler: str | None, workers: int | None, wait_workers: int | None = None):
    """The engine the flags ask for: the pool, a local Dask cluster, or a running Dask scheduler (connected now).

    ``workers``: ``--workers`` if it was given (None: not given); ``wait_workers``: ``--wait-workers``'s.
    """
    if wait_workers is not None and scheduler is None:
        raise ConfigError("--wait-workers waits for the workers of a running Dask cluster; give --scheduler ADDRESS "
                          "with it, or drop it")
    if scheduler is not None and engine == "pool":
        raise ConfigError("--scheduler runs the tasks on a Dask cluster, so it cannot be given with --engine pool; "
                          "drop --engine pool")
    if engine != "dask" and scheduler is None:
        return POOL
    if scheduler is not None and workers is not None:
        raise ConfigError("--workers sizes a local cluster; with --scheduler the cluster's own workers run the tasks "
                          "(start more with 'dask worker ADDRESS'); drop --workers")
    require_dask()
    from .dask_engine import DaskEngine

    return DaskEngine(scheduler, wait_workers or 0)
