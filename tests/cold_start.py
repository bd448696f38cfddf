"""The run that compiles every kernel from scratch, started in the background when the session begins.

Compiling takes about 2.5 minutes of one core; most tests wait on sockets, sleeps and
child processes, so the compile runs beside them at the lowest priority instead of
alone at its turn. Invariant: it is the same command the test would run itself (a user's
first run with no shipped cache, its own empty numba cache), at most one is started per
session, and it is killed and its folder removed when the session ends.
"""
from __future__ import annotations

import os
import shutil
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


def begin() -> None:
    """Start the cold run (once)."""
    global _STARTED
    if _STARTED is not None:
        return
    folder = Path(tempfile.mkdtemp(prefix="temu-gen-cold-"))
    cmd = [sys.executable, "-m", "temu_gen", "--output", str(folder / "out"), "--seed", "3", *ARGS]
    with open(folder / "stdout", "w") as out, open(folder / "stderr", "w") as err:
        proc = subprocess.Popen(cmd, env=env_for(folder / "numba"), stdout=out, stderr=err, text=True,
                                preexec_fn=lambda: os.nice(19))
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
    """Kill the cold run if it still runs, and remove its folder."""
    global _STARTED
    if _STARTED is None:
        return
    proc, folder = _STARTED
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    shutil.rmtree(folder, ignore_errors=True)
    _STARTED = None
