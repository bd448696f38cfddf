"""Processes of a run, for the lock, signal and chaos tests: the CLI started like a terminal job, and its tree.

A run is started in its own session (like a shell job), so a signal to its process group
reaches the coordinator, its workers and its uploader the way Ctrl-C or systemd's stop do.
Workers and the uploader name themselves (``temu-gen-worker``, ``temu-gen-upload``).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from s3_servers import CREDS

WORKER, UPLOADER = "temu-gen-worker", "temu-gen-upload"


def cli(*args: str, endpoint: str | None = None, env: dict | None = None, timeout: float = 300):
    """Run ``python -m temu_gen ARGS`` to the end; S3 credentials for loopback servers in its environment."""
    full_env = {**os.environ, **CREDS, **(env or {})}
    full_env.pop("AWS_ENDPOINT_URL", None)
    extra = ["--endpoint-url", endpoint] if endpoint else []
    return subprocess.run([sys.executable, "-m", "temu_gen", "--no-progress", *extra, *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout)


def start(*args: str, endpoint: str | None = None) -> subprocess.Popen:
    """``python -m temu_gen ARGS`` in its own session; S3 credentials for loopback servers in its environment."""
    env = {**os.environ, **CREDS}
    env.pop("AWS_ENDPOINT_URL", None)
    extra = ["--endpoint-url", endpoint] if endpoint else []
    return subprocess.Popen([sys.executable, "-m", "temu_gen", "--no-progress", *extra, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def start_run(folder: Path, events: int, chunk: int, *extra: str) -> tuple[subprocess.Popen, Path, list]:
    """A 2-worker run (run id ``s``, seed 5) in its own process, once its first part has landed.

    Returns the process, the run's events folder and its children (two of them workers).
    """
    proc = start("--events", str(events), "--chunk-size", str(chunk), "--seed", "5", "--run-id", "s", "--workers",
                 "2", "--output", str(folder), *extra)
    run_dir = Path(folder) / "events" / "run_id=s"
    wait_until((run_dir / "part-00000.parquet").exists, proc, what="the first part landed")
    children = tree(proc.pid)
    assert len(named(children, WORKER)) == 2, [(c.pid, c.name()) for c in children]
    return proc, run_dir, children


def tree(pid: int) -> list[psutil.Process]:
    """Every live descendant of ``pid`` (workers, the uploader, multiprocessing's helpers)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def named(procs: list[psutil.Process], name: str) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.name() == name:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def wait_until(predicate, proc: subprocess.Popen | None = None, timeout: float = 60.0, what: str = "it") -> None:
    """Poll ``predicate`` every 10 ms; fail if ``proc`` ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}: {proc.communicate()[1]}")
        time.sleep(0.01)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def survivors(procs: list[psutil.Process], timeout: float = 3.0) -> list[str]:
    """Those of ``procs`` still alive after ``timeout`` seconds (zombies count as gone), described."""
    deadline = time.monotonic() + timeout
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        time.sleep(0.02)
    return [f"{p.pid} {_name(p)}" for p in alive if _alive(p)]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _name(p: psutil.Process) -> str:
    try:
        return p.name()
    except psutil.Error:
        return "?"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """name -> (size, mtime_ns) of everything below ``folder`` (empty if it does not exist)."""
    out = {}
    if folder.exists():
        for p in sorted(folder.rglob("*")):
            st = p.lstat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


def one_line(stderr: str) -> str:
    """The single line a failure prints (asserting there is exactly one, and no traceback)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@contextlib.contextmanager
def dask_cluster(folder: Path, env: dict | None = None):
    """A `dask scheduler` on 127.0.0.1 (no workers yet), each process in a session of its own; yields (address,
    start N one-thread workers and wait for them, kill the scheduler), and kills every process it started on exit."""
    procs: list[subprocess.Popen] = []
    full_env = {**os.environ, **(env or {})}

    def launch(*args: str) -> None:
        procs.append(subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True, env=full_env))

    def workers(n: int) -> None:
        launch("distributed.cli.dask_worker", address, "--nworkers", str(n), "--nthreads", "1", "--no-dashboard",
               "--memory-limit", "0")
        from distributed import Client

        with Client(address, timeout=30) as c:
            c.wait_for_workers(n, timeout=120)

    def kill_scheduler() -> None:
        os.killpg(procs[0].pid, signal.SIGKILL)

    try:
        info = folder / "scheduler.json"
        launch("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
               "--scheduler-file", str(info))
        wait_until(lambda: info.exists() and info.stat().st_size > 0, timeout=60, what="the scheduler started")
        address = json.loads(info.read_text())["address"]
        yield address, workers, kill_scheduler
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
