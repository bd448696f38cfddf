"""The run that compiles every kernel from scratch, started in the background when the session begins.

Compiling takes about 2.5 minutes of one core; most tests wait on sockets, sleeps and
child processes, so the compile runs beside them at the lowest priority instead of
alone at its turn. Invariant: it is the same command the test would run itself (a user's
first run with no shipped cache, its own empty numba cache), at most one is started per
session, nothing of it outlives the session (killed with its process group when the
session ends, and by the kernel if pytest itself is killed), and its output, numba cache
and spool stay in one temporary folder removed at the end. While it runs it is a child
of pytest, so the peak RSS of runs made inside the pytest process counts it (no test
checks such a peak).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

TEST = ("test_jitcache.py", "test_without_a_shipped_cache_the_first_run_says_it_compiles_first")
ARGS = ("--events", "50000", "--workers", "2")


class Started(NamedTuple):
    proc: subprocess.Popen
    folder: Path


_STARTED: Started | None = None


def env_for(cache: Path) -> dict[str, str]:
    """A user's environment with no shipped cache and an empty numba cache of its own."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "TEMU_GEN_PREBUILT": "off"}
    env.pop("NUMBA_CPU_NAME", None)
    return env


def selected(items) -> bool:
    return any((item.path.name, item.name) == TEST for item in items)


# The run dies with this process however it ends (PR_SET_PDEATHSIG survives the exec), at the lowest priority.
_LAUNCH = """import ctypes, os, signal, sys
if sys.platform == "linux":
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
if os.getppid() != int(sys.argv[1]):
    os._exit(1)
os.nice(19)
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def begin() -> None:
    """Start the cold run (once), in a process group of its own that :func:`end` kills whole."""
    global _STARTED
    if _STARTED is not None:
        return
    folder = Path(tempfile.mkdtemp(prefix="temu-gen-cold-"))
    cmd = [sys.executable, "-c", _LAUNCH, str(os.getpid()), "-m", "temu_gen", "--output", str(folder / "out"),
           "--spool-dir", str(folder / "spool"), "--seed", "3", *ARGS]
    with open(folder / "stdout", "w") as out, open(folder / "stderr", "w") as err:
        proc = subprocess.Popen(cmd, env=env_for(folder / "numba"), stdout=out, stderr=err, text=True,
                                start_new_session=True)
    _STARTED = Started(proc, folder)


def result(timeout: float = 900) -> tuple[subprocess.CompletedProcess, Path]:
    """The cold run's outcome (starting it now if the session did not) and the numba cache it filled."""
    begin()
    assert _STARTED is not None
    proc, folder = _STARTED
    proc.wait(timeout=timeout)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, (folder / "stdout").read_text(),
                                       (folder / "stderr").read_text())
    return done, folder / "numba"


def end() -> None:
    """Kill the cold run and its workers if they still run, and remove its folder."""
    global _STARTED
    if _STARTED is None:
        return
    proc, folder = _STARTED
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own group: the coordinator and its workers at once
    except ProcessLookupError:
        pass
    proc.wait()
    shutil.rmtree(folder, ignore_errors=True)
    _STARTED = None
