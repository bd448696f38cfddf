"""Helpers of the tools' tests: running the CLI, generating a run, copying one to tamper with.

A module of its own (not conftest) so test files can import it by a name no other test folder uses.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

EVENTS, CHUNK = 300_000, 100_000


class RunDir(NamedTuple):
    root: Path
    run_id: str

    @property
    def folder(self) -> Path:
        return self.root / "events" / f"run_id={self.run_id}"

    def table(self, name: str) -> Path:
        return self.root / name / f"run_id={self.run_id}"


def temu_gen(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m temu_gen ARGS`` in a child process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "temu_gen", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def generate(root: Path, run_id: str, *extra: str) -> RunDir:
    done = temu_gen("--events", EVENTS, "--chunk-size", CHUNK, "--seed", 3, "--run-id", run_id, "--output", root,
                    "--workers", 2, "--no-progress", *extra)
    assert done.returncode == 0, done.stderr
    return RunDir(root, run_id)


def copy_run(run: RunDir, dest: Path) -> RunDir:
    """A private copy of ``run`` (all its tables) to tamper with."""
    for table in ("events", "defects", "users", "products", "orders"):
        if run.table(table).exists():
            shutil.copytree(run.table(table), dest / table / f"run_id={run.run_id}")
    return RunDir(dest, run.run_id)
