"""Delivery of finished part files: in place for local folders, one uploader process for S3, or by the workers.

Invariant: every delivered part is reported back exactly once, with the record the
destination stored. The uploader is a ``spawn``ed process that holds only boto3 (not
the generator's numba and Arrow memory), dies with the coordinator (``die_with_parent``),
deletes a spool file only after its upload and record are confirmed, and talks to the
coordinator over one pipe, so it leaves no queue threads or semaphores behind. Workers
that upload their own files (the Dask engine) use the same :func:`upload_file`, and the
coordinator only takes their records (:class:`WorkerDelivery`).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import socket
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
        try:
            done = upload_file(target, record, Path(path))
        except Exception as e:  # noqa: BLE001 - reported to the coordinator, which fails the run
            from .sinks.s3 import describe_error

            conn.send(("error", record.key, describe_error(e, target.url(record))))
            return
        conn.send(("ok", record.key, done))


def upload_file(target, record: PartRecord, path: Path) -> PartRecord:
    """Upload one spooled file and record it (``target.upload``), then delete it; returns the stored record."""
    started = time.perf_counter()
    done = target.upload(record, path)
    remove(path)
    return done._replace(upload_seconds=time.perf_counter() - started)


def upload_task_files(target, out):
    """A worker uploads every file of its task's :class:`~temu_gen.reduce.TaskOutput`; returns it with the records.

    A failed upload raises RunFailed naming the object (the coordinator fails the run; ``--resume`` keeps the
    task's files only if all of them were recorded).
    """
    files = []
    for f in out.files:
        try:
            files.append(f._replace(record=upload_file(target, f.record, f.path)))
        except Exception as e:  # noqa: BLE001 - one line that names the object, as the uploader process reports it
            from .sinks.s3 import describe_error

            # the worker's host: on a cluster, its credentials and network are not the coordinator's
            raise RunFailed(f"upload of {f.record.key} by the Dask worker on {socket.gethostname()} failed: "
                            f"{describe_error(e, target.url(f.record))}") from None
    return out._replace(files=tuple(files))


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


class WorkerDelivery:
    """Files written by workers that may be lost and replaced (the Dask engine).

    Each file is placed by ``place`` in this process (local folders: rename and journal, as
    :class:`InlineDelivery`), or is at the destination already (``place=None``: the worker uploaded it). ``tidy``
    runs once every part is delivered: what a lost worker left behind (a temp file, an open multipart upload) is an
    orphan by then, since the rerun of its task delivered the file.
    """

    def __init__(self, place: Callable[[PartRecord, Path], PartRecord] | None, tidy: Callable[[], object]):
        self._place, self._tidy = place, tidy
        self._done: list[PartRecord] = []

    def submit(self, record: PartRecord, path: Path) -> None:
        self._done.append(record if self._place is None else self._place(record, path))

    def poll(self, timeout: float) -> list[PartRecord]:
        done, self._done = self._done, []
        return done

    def close(self, ok: bool) -> None:
        if ok:
            self._tidy()
