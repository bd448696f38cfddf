"""Delivery of finished part files: in place for local folders, one uploader process for S3.

Invariant: every delivered part is reported back exactly once, with the record the
destination stored. The uploader is a ``spawn``ed process that holds only boto3 (not
the generator's numba and Arrow memory), dies with the coordinator (``die_with_parent``),
deletes a spool file only after its upload and record are confirmed, and talks to the
coordinator over one pipe, so it leaves no queue threads or semaphores behind.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Callable

from .errors import RunFailed
from .files import remove
from .lifeline import child_signal_defaults, die_with_parent
from .sinks.base import PartRecord


class InlineDelivery:
    """Local destinations: ``place`` gives the temp file its final name and records it, in this process."""

    def __init__(self, place: Callable[[PartRecord, Path], PartRecord]):
        self._place = place
        self._done: list[PartRecord] = []

    def submit(self, record: PartRecord, path: Path) -> None:
        self._done.append(self._place(record, path))

    def poll(self, timeout: float) -> list[PartRecord]:
        done, self._done = self._done, []
        return done

    def close(self, ok: bool) -> None:
        pass


def w_upload_loop(target, conn, parent_pid: int) -> None:
    """Uploader process: upload each announced file, delete it once S3 confirms, report back."""
    die_with_parent(parent_pid, "temu-gen-upload")
    child_signal_defaults()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        record, path = msg
        started = time.perf_counter()
        try:
            done = target.upload(record, Path(path))
        except Exception as e:  # noqa: BLE001 - reported to the coordinator, which fails the run
            from .sinks.s3 import describe_error

            conn.send(("error", record.key, describe_error(e, target.url(record))))
            return
        remove(Path(path))
        conn.send(("ok", record.key, done._replace(upload_seconds=time.perf_counter() - started)))


class UploaderDelivery:
    """S3 destinations: one uploader process fed over a pipe (the scheduler bounds what is in flight)."""

    def __init__(self, target):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=w_upload_loop, args=(target, child, os.getpid()), name="temu-gen-upload",
                                   daemon=True)
        self.process.start()
        child.close()

    def submit(self, record: PartRecord, path: Path) -> None:
        try:
            self._conn.send((record, str(path)))
        except OSError:
            raise RunFailed(self._died()) from None

    def poll(self, timeout: float) -> list[PartRecord]:
        done = []
        try:
            ready = self._conn.poll(timeout)
            while ready:
                kind, key, payload = self._conn.recv()
                if kind == "error":
                    raise RunFailed(f"upload of {key} failed: {payload}")
                done.append(payload)
                ready = self._conn.poll(0)
        except (EOFError, OSError):
            raise RunFailed(self._died()) from None
        if not done and not self.process.is_alive():
            raise RunFailed(self._died())
        return done

    def _died(self) -> str:
        self.process.join(timeout=1)
        code = self.process.exitcode
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        return f"the uploader process died ({how})"

    def close(self, ok: bool) -> None:
        if ok and self.process.is_alive():
            try:
                self._conn.send(None)
            except OSError:
                pass
            self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=10)
        self._conn.close()
