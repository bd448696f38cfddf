"""Chaos trials: kill a random process of a run's tree at a random moment, then finish the run and check it exactly.

One trial, seeded: start a run (local folder or S3 through moto), wait a random time
within its expected duration, SIGKILL the coordinator, a worker or the uploader (whichever
exist then), and check the invariants:

* every process of the run's tree is gone within a few seconds;
* ``_SUCCESS`` exists only over data identical to the clean run's (exit 0 implies it);
* a run that failed cleanly (exit 4) left one line, no lock and no open upload;
* ``--resume --force-unlock`` (or a fresh run, when nothing was planned yet) then commits a
  run byte-identical to the clean one, with no lock, no open upload and an empty spool.

Used by ``tests/test_chaos.py`` (a few trials in CI) and ``bench/test_chaos.py`` (many).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from outcomes import committed_local, committed_s3, local_files, s3_objects
from procs import UPLOADER, WORKER, cli, named, one_line, start, survivors, tree

RUN_ID = "chaos"
LEFT_BY_A_KILLED_COMMIT = ("_journal", "_lock", "_parts/")
"""What a coordinator killed between ``_SUCCESS`` and its last clean-up leaves beside a correct, committed run."""


@dataclass(frozen=True)
class Shape:
    """A run's size: small enough for many trials, with enough parts that a kill lands mid-run."""

    events: int
    chunk: int
    workers: int = 2

    def args(self, seed: int) -> list[str]:
        return ["--events", str(self.events), "--chunk-size", str(self.chunk), "--seed", str(seed), "--run-id", RUN_ID,
                "--workers", str(self.workers), "--max-in-flight", "2"]


@dataclass
class Target:
    """Where the trials' runs go: a local folder, or a bucket prefix on a loopback S3 server."""

    root: Path
    s3: object = None
    """A boto3 client of the S3 server, or None for a local folder."""
    bucket: str = ""
    endpoint: str = ""

    @property
    def output(self) -> str:
        return f"s3://{self.bucket}/p" if self.s3 else str(self.root / "out")

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    def flags(self) -> list[str]:
        return ["--output", self.output, *(["--spool-dir", str(self.spool), "--part-size", "5MiB"] if self.s3 else [])]

    def names(self) -> list[str]:
        if self.s3:
            return sorted(s3_objects(self.s3, self.bucket, f"p/events/run_id={RUN_ID}/"))
        run_dir = self.root / "out" / "events" / f"run_id={RUN_ID}"
        return sorted(os.listdir(run_dir)) if run_dir.exists() else []

    def committed(self, reference: dict[str, str]) -> None:
        if self.s3:
            committed_s3(self.s3, self.bucket, f"p/events/run_id={RUN_ID}/", reference)
            assert not (self.spool / RUN_ID).exists()
        else:
            committed_local(self.root / "out" / "events" / f"run_id={RUN_ID}", reference)

    def open_uploads(self) -> list:
        return self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []) if self.s3 else []


@dataclass
class Outcome:
    victim: str
    delay: float
    rc: int
    recovery: str
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"killed {self.victim} at {self.delay:.2f} s: rc {self.rc}, then {self.recovery}"


class _Watch:
    """Every process that ever belonged to the run's tree, sampled until the coordinator is gone."""

    def __init__(self, pid: int):
        self.pid, self.seen = pid, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for p in tree(self.pid):
                self.seen.setdefault(p.pid, p)
            self._stop.wait(0.01)

    def stop(self) -> list[psutil.Process]:
        self._stop.set()
        self._thread.join()
        return list(self.seen.values())


def reference_run(target_root: Path, shape: Shape, seed: int) -> tuple[dict[str, str], float]:
    """The clean local run of ``seed``: its part digests, and how long the whole command took."""
    started = time.monotonic()
    r = cli(*shape.args(seed), "--output", str(target_root))
    assert r.returncode == 0, r.stderr
    return local_files(target_root / "events" / f"run_id={RUN_ID}"), time.monotonic() - started


def _candidates(proc) -> dict[str, list[int]]:
    procs = tree(proc.pid)
    return {"coordinator": [proc.pid], "worker": [p.pid for p in named(procs, WORKER)],
            "uploader": [p.pid for p in named(procs, UPLOADER)]}


def trial(rng: random.Random, target: Target, shape: Shape, seed: int, reference: dict[str, str], duration: float,
          kind: str | None = None) -> Outcome:
    """One kill at a random moment within ``duration`` seconds of the start, then recovery; asserts every invariant.

    ``kind`` (coordinator, worker, uploader) picks the victim, killed at the random moment or
    as soon as one exists after it; None picks among those alive at that moment.
    """
    proc = start(*shape.args(seed), *target.flags(), endpoint=target.endpoint or None)
    watch = _Watch(proc.pid)
    delay = rng.uniform(0.0, duration)
    deadline = time.monotonic() + delay
    while proc.poll() is None and (time.monotonic() < deadline or (kind and not _candidates(proc)[kind])):
        time.sleep(0.005)
    victim = "nothing (the run had finished)"
    if proc.poll() is None:
        kinds = _candidates(proc)
        victim = kind or rng.choice(sorted(k for k, pids in kinds.items() if pids))
        try:
            os.kill(rng.choice(kinds[victim]), signal.SIGKILL)
        except ProcessLookupError:
            victim += " (already gone)"
    _, err = proc.communicate(timeout=120)
    outcome = Outcome(victim, delay, proc.returncode, "nothing")
    assert survivors(watch.stop(), timeout=5.0) == [], f"{outcome}: processes of the run outlived it"

    names = target.names()
    if proc.returncode == 0:
        assert "_SUCCESS" in names, f"{outcome}: exit 0 without _SUCCESS"
    elif proc.returncode == 4:
        assert "not committed (no _SUCCESS)" in one_line(err), f"{outcome}: {err}"
        assert "_lock" not in names and not target.open_uploads(), f"{outcome}: a clean failure left {names}"
    else:
        assert proc.returncode == -signal.SIGKILL and victim == "coordinator", f"{outcome}: {err}"
    if "_SUCCESS" in names:  # never over inconsistent data, however the run ended
        leftovers = [n for n in names if n.startswith(LEFT_BY_A_KILLED_COMMIT)]
        if not leftovers:
            target.committed(reference)
            return outcome
        assert outcome.victim == "coordinator", f"{outcome}: committed with {leftovers}"
        outcome.notes.append(f"committed, leaving {leftovers}")
        _check_committed_data(target, reference, outcome)
        return outcome

    plan = "_run.json" in names
    outcome.recovery = "--resume" if plan else "a fresh run"
    args = ["--resume", RUN_ID, "--workers", str(shape.workers)] if plan else shape.args(seed)
    r = cli(*args, *target.flags(), "--force-unlock", endpoint=target.endpoint or None)
    assert r.returncode == 0, f"{outcome}: {r.stderr}"
    target.committed(reference)
    return outcome


def _check_committed_data(target: Target, reference: dict[str, str], outcome: Outcome) -> None:
    """Committed parts and manifest equal the clean run's (leftover lock/journal/records aside)."""
    if target.s3:
        objects = s3_objects(target.s3, target.bucket, f"p/events/run_id={RUN_ID}/")
        parts = {n: b for n, b in objects.items() if n.startswith("part-")}
        manifest = json.loads(objects["_manifest.json"])
    else:
        run_dir = target.root / "out" / "events" / f"run_id={RUN_ID}"
        parts = {p.name: p.read_bytes() for p in run_dir.glob("part-*")}
        manifest = json.loads((run_dir / "_manifest.json").read_bytes())
    digests = {n: hashlib.sha256(b).hexdigest() for n, b in parts.items()}
    assert digests == reference, f"{outcome}: committed parts differ from the clean run"
    assert {f["name"]: f["sha256"] for f in manifest["files"]} == reference, f"{outcome}: manifest differs"
