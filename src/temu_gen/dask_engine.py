"""The Dask engine: a run's map and reduce tasks on a Dask cluster (a LocalCluster, or a running scheduler).

Invariant: the tasks are the local pool's, run on a worker by :func:`w_task`, which builds the
worker process's state once per setup key (run id, seed, config hash, folders and a nonce of
the attempt), so a worker that serves several runs never mixes them and every file is
byte-identical to the pool's. A task whose worker is lost is rerun elsewhere by Dask (the rerun
writes the same bytes under a new temp name); only the coordinator places local files, takes
records and commits, once. With S3 output each worker uploads its own files
(:func:`temu_gen.delivery.upload_task_files`, the uploader process's ``S3Run.upload``). A
LocalCluster belongs to one executor, and closing the executor shuts it down on every exit path.
"""
from __future__ import annotations

import gc
import hashlib
import logging
import os
import pickle
import secrets
import socket
import sys
import threading
from concurrent.futures import Future
from typing import Any, Callable, Iterable

import dask
import distributed
from distributed.comm import CommClosedError

from . import __version__, pool, tracebacks
from .dask_connect import connect
from .delivery import WorkerDelivery, upload_task_files
from .errors import OutputError, RunFailed, TemuGenError
from .files import remove_stale_temps, write_new
from .lifeline import children_die_with_me
from .monitor import release_free_memory, unpin_malloc
from .reduce import TaskOutput

_CLOSE_TIMEOUT_S = 10.0
_LOCAL_CONFIG = {
    # forked workers inherit the imported generator (numpy, numba, Arrow, this package): one starts in about 0.1 s
    # instead of 2 s of imports, and a worker Dask restarts after a loss is forked the same way
    "distributed.worker.multiprocessing-method": "fork",
    # on 2 cores every wake-up of the cluster's event loops is taken from the workers: no profiler (every 10 ms),
    # slow health ticks (every 20 ms in each server) and system monitors, no memory manager (tasks share no data)
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.scheduler.active-memory-manager.start": False,
}
_CANCELLED = "a Dask task was cancelled: the Dask scheduler was lost, closed or restarted"
_KEEP_STATES = 2
"""Per-process states a worker keeps (one per run it serves): two concurrent runs do not rebuild at each switch."""


# --- worker side ------------------------------------------------------------------------------------------------
_STATES: dict[str, tuple] = {}
_LOCK = threading.Lock()


def w_task(key: str, blob: bytes, fn: Callable, *args: Any):
    """Run one of the pool's tasks for run ``key`` in this worker process, its state built on first use.

    ``blob``: the pickled ``(WorkerSetup, upload)``, where ``upload`` is the S3 target the worker uploads the
    task's files to itself (None: local output, which the coordinator places). Pickled once by the coordinator
    and read once per worker: the scheduler only passes bytes along.
    """
    try:
        with _LOCK:  # the pool's per-process state is one run's at a time: threads of one worker take turns
            state = _STATES.get(key)
            if state is None:
                unpin_malloc()  # a `dask worker` nanny starts its workers with glibc's thresholds pinned low
                setup, upload = pickle.loads(blob)
                _check_worker(key, setup)
                while len(_STATES) >= _KEEP_STATES:
                    _STATES.pop(next(iter(_STATES)))
                state = _STATES[key] = (pool.w_init(setup), upload)
            pool.w_switch(state[0])
            out = fn(*args)
        if state[1] is not None and isinstance(out, TaskOutput):
            out = upload_task_files(state[1], out)
    except BaseException as e:
        tracebacks.clip(e)  # else a deep one fails to pickle, Dask loses the failure and the run waits for ever
        raise
    release_free_memory()  # a worker's memory must not creep up over many tasks
    return out


def _forget(key: str) -> None:
    """Drop run ``key``'s state from this worker (its run is over); a task still running keeps its own reference."""
    _STATES.pop(key, None)
    if _LOCK.acquire(blocking=False):  # no task between switching to a state and taking it
        try:
            pool.w_switch(None)
        finally:
            _LOCK.release()


def _marker(key: str) -> str:
    return f".dask-{key}.tmp"  # a hidden temp name: the run's usual clean-ups remove it


def _check_worker(key: str, setup: pool.WorkerSetup) -> None:
    """Refuse, in one line, a worker that would write bytes other than the pool's or into folders no one reads."""
    host = socket.gethostname()
    theirs = setup.metadata.get("temu_gen.version")
    if theirs != __version__:
        raise OutputError(f"the Dask worker on {host} runs temu-gen {__version__} and the coordinator {theirs}; "
                          f"install the same version on every worker")
    for folder in (setup.map_dir, setup.staging_dir):
        if not (folder / _marker(key)).is_file():
            raise OutputError(f"the Dask worker on {host} does not see the run's folder {folder} as the coordinator "
                              f"does: on a cluster of several machines, --spool-dir (and a local --output) must be "
                              f"on storage every worker shares (EFS, NFS), or use S3 output; see docs/dask.md")


# --- coordinator side -------------------------------------------------------------------------------------------
def _mark(setup: pool.WorkerSetup, key: str) -> None:
    """Leave the mark a worker must see in the run's folders to take part (:func:`_check_worker`)."""
    for folder in {setup.map_dir, setup.staging_dir}:
        write_new(folder / _marker(key), b"", fsync=False)


def setup_key(setup: pool.WorkerSetup) -> str:
    """The run attempt's key: its id, seed, config and folders, and a nonce (a resumed attempt is a new state)."""
    m = setup.metadata
    parts = (m.get("temu_gen.run_id"), str(setup.seed), setup.cfg.config_hash, str(setup.staging_dir),
             str(setup.map_dir), secrets.token_hex(8))
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]


class DaskExecutor:
    """Dask futures behind the pool's three calls; a task's answer is fetched once and its Dask future released."""

    def __init__(self, client, key: str, blob: bytes, cluster=None, config=None):
        self._client, self._cluster, self._config = client, cluster, config
        self._key, self._blob = key, blob
        self._pending: dict[Future, Any] = {}
        self._ready = threading.Event()  # set by Dask (on its callback thread) whenever a task finishes
        self._closed = False

    def submit(self, fn: Callable, *args: Any) -> Future:
        future: Future = Future()
        df = self._client.submit(w_task, self._key, self._blob, fn, *args, pure=False)
        df.add_done_callback(lambda _: self._ready.set())
        self._pending[future] = df
        return future

    def wait(self, futures: Iterable[Future], timeout: float) -> set[Future]:
        futures = set(futures)
        theirs = {self._pending[f]: f for f in futures if f in self._pending}
        if theirs and not any(f.done() for f in futures):
            self._ready.wait(timeout)
        self._ready.clear()  # before looking: a task that finishes from here on sets it again
        for df, future in theirs.items():
            if df.done():
                del self._pending[future]
                _settle(df, future)
        return {f for f in futures if f.done()}

    def close(self, kill: bool = False) -> None:
        """Cancel what is outstanding; a LocalCluster is shut down (its workers killed at once with ``kill``).

        A close that is interrupted (a signal) counts as not done: the failure path's close runs it again.
        """
        if self._closed:
            return
        outstanding, self._pending = list(self._pending.values()), {}
        try:
            if outstanding:
                self._client.cancel(outstanding, force=True)
            if self._cluster is None and not kill:  # a long-lived cluster's workers drop the finished run's state
                self._client.run(_forget, self._key)
        except Exception:  # noqa: BLE001 - a lost connection has cancelled them already
            pass
        finally:
            if self._cluster is not None:
                _shut_down(self._cluster, self._client, kill)
                children_die_with_me(False)
            if self._config is not None:
                self._config.__exit__(None, None, None)
                self._config = None
            self._closed = True


def _settle(df, future: Future) -> None:
    """Hand a finished Dask future's answer or error to ``future``, then release it on the cluster."""
    try:
        if df.status == "finished":
            future.set_result(df.result())
        elif df.status == "cancelled":
            future.set_exception(pool.WorkerDied(_CANCELLED))
        else:
            future.set_exception(_plain(df.exception()))
    except Exception as e:  # noqa: BLE001 - fetching the answer failed: the task failed
        future.set_exception(_plain(e))
    finally:
        df.release()


def _plain(e: BaseException) -> BaseException:
    """Dask's ways of losing a task as the pool's WorkerDied, whose message the CLI prints in one line."""
    if isinstance(e, distributed.KilledWorker):  # the workers that ran it kept dying
        tries = dask.config.get("distributed.scheduler.allowed-failures") + 1
        return pool.WorkerDied(f"a Dask worker process died running the same task {tries} times (out of memory?)")
    if isinstance(e, CommClosedError):
        return pool.WorkerDied(f"the Dask scheduler was lost while a task's answer was fetched ({type(e).__name__})")
    return e


def _shut_down(cluster, client, kill: bool) -> None:
    """Stop a LocalCluster and make sure none of its worker processes outlives this call."""
    pids = [p for n in list(cluster.workers.values()) if (p := getattr(n, "pid", None))]
    if kill:
        _kill(pids)
    try:
        if client is not None:
            client.close(timeout=_CLOSE_TIMEOUT_S)
        cluster.close(timeout=_CLOSE_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - the processes are killed below whatever the cluster says
        pass
    finally:
        _kill(pids)


def _kill(pids: list[int]) -> None:
    """SIGKILL those of ``pids`` that are still this process's children (a reaped pid may belong to another)."""
    import psutil

    for pid in pids:
        try:
            child = psutil.Process(pid)
            if child.ppid() == os.getpid():
                child.kill()
        except psutil.Error:
            pass


def _local_executor(workers: int, setup: pool.WorkerSetup, upload, key: str, blob: bytes) -> DaskExecutor:
    """A LocalCluster of ``workers`` forked processes that inherit the run's worker state, built here once."""
    config = dask.config.set(_LOCAL_CONFIG)  # held until the cluster closes: a restarted worker is forked too
    cluster = client = None
    try:
        # one build of the state (and one load of the kernels) for every worker instead of one each: forked,
        # the workers start ready and share its pages (on 2 cores, about the same wall time and half the CPU)
        _STATES[key] = (pool.ready_state(setup), upload)
        _quiet_resource_tracker()
        gc.freeze()  # objects from before the fork stay out of the workers' collections: pages stay shared
        children_die_with_me(True)  # each worker dies with this process and takes the workers' signal handling
        try:
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               memory_limit=0, silence_logs=False,
                                               # no dashboard, and its HTTP server on a free loopback port: with
                                               # None it takes 8787 and warns on stderr when another cluster has it
                                               dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False})
        except TemuGenError:
            raise
        except Exception as e:  # Dask's "RuntimeError: Nanny failed to start.": a worker killed (or short of memory)
            raise RunFailed(f"the local Dask cluster could not start its {workers} workers ({type(e).__name__}: "
                            f"{str(e).strip() or 'no reason given'}); was one killed, or is memory short?") from None
        client = distributed.Client(cluster, set_as_default=False)
        return DaskExecutor(client, key, blob, cluster, config)
    except BaseException:
        if cluster is not None:
            _shut_down(cluster, client, kill=True)
        children_die_with_me(False)
        config.__exit__(None, None, None)
        raise
    finally:  # the workers have their copies; a worker forked later (after a loss) builds its own
        _STATES.pop(key, None)
        pool.w_switch(None)


class DaskEngine:
    """Tasks on a Dask cluster: a new LocalCluster of ``workers`` processes per run, or the scheduler at ``address``.

    Connects to ``address`` at once, so an unreachable scheduler is refused before the run is touched. Use it as a
    context manager (or call :meth:`close`): it closes the connection and restores the logging it quietened.
    """

    name = "dask"

    def __init__(self, address: str | None = None, wait_workers: int = 0):
        self.address = address
        self._restore_logs = _quiet_logs()
        self._client = None
        if address is not None:
            try:
                self._client = connect(address, wait_workers)
            except BaseException:
                self.close()
                raise

    @property
    def forks_workers(self) -> bool:
        """A LocalCluster's workers are forked from this process; a scheduler's are their own processes."""
        return self._client is None

    @property
    def workers(self) -> int | None:
        """Tasks the scheduler's cluster runs at once (its workers' threads); None for a LocalCluster."""
        return None if self._client is None else sum(self._client.nthreads().values())

    def executor(self, workers: int, setup: pool.WorkerSetup, target) -> DaskExecutor:
        upload = target if hasattr(target, "upload") else None  # S3: the workers upload their own files
        key = setup_key(setup)
        _mark(setup, key)
        blob = pickle.dumps((setup, upload))
        if self._client is not None:
            return DaskExecutor(self._client, key, blob)
        return _local_executor(workers, setup, upload, key, blob)

    def delivery(self, target, max_in_flight: int) -> WorkerDelivery:
        if hasattr(target, "upload"):
            return WorkerDelivery(None, target.abort_open_uploads)
        return WorkerDelivery(target.place, lambda: remove_stale_temps(target.staging_dir))

    def close(self) -> None:
        if self._client is not None:
            self._client.close(timeout=_CLOSE_TIMEOUT_S)
            self._client = None
        self._restore_logs()
        self._restore_logs = lambda: None

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_TRACKER_QUIET = "ignore::UserWarning:multiprocessing.resource_tracker"


def _quiet_resource_tracker() -> None:
    """The resource tracker that a LocalCluster's processes start warns of "leaked semaphore objects" when a
    signal to the process group ends workers before they unregister theirs (already unlinked: nothing leaks),
    after the run's one-line error. It is a fresh interpreter started with this process's -W options."""
    if _TRACKER_QUIET not in sys.warnoptions and not os.environ.get("TEMU_GEN_DEBUG"):
        sys.warnoptions.append(_TRACKER_QUIET)


def _quiet_logs() -> Callable[[], None]:
    """Silence Dask's logs (every lost worker, reconnect and closed comm is a traceback on stderr), since a run's
    failure is one line; returns what restores them. TEMU_GEN_DEBUG keeps them.

    The handlers are what must be raised: a record of ``distributed.client`` passes its own logger's level and
    then every handler up the hierarchy, whatever the parents' levels.
    """
    if os.environ.get("TEMU_GEN_DEBUG"):
        return lambda: None
    saved = []
    for name in ("distributed", "tornado", "asyncio"):
        log = logging.getLogger(name)
        for item in (log, *log.handlers):
            saved.append((item, item.level))
            item.setLevel(logging.CRITICAL + 1)

    def restore() -> None:
        for item, level in saved:
            item.setLevel(level)

    return restore
