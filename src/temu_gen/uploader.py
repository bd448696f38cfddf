"""Delivery of finished chunk files: inline for local folders, one uploader process for S3.

Invariant: a spool file is deleted only after S3 confirmed its upload, and every
delivered part is reported back exactly once. The uploader process is started with
``spawn`` so it holds only boto3, not the generator's numba and Arrow memory; it
ignores Ctrl-C and stops when the coordinator tells it to (or is killed), after which
the coordinator aborts any multipart upload it left open.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
from pathlib import Path
from typing import NamedTuple

from .errors import RunFailed
from .sinks.base import PartInfo


class Delivered(NamedTuple):
    """One part that reached its destination."""

    index: int
    name: str
    part: PartInfo
    parts: int
    seconds: float


class InlineDelivery:
    """Local sinks: the worker already wrote the file in place, so delivery is a rename at most."""

    def __init__(self, sink):
        self.sink = sink
        self._done: list[Delivered] = []

    def submit(self, index: int, name: str, path: Path, part: PartInfo) -> None:
        self.sink.put(name, path)
        self._done.append(Delivered(index, name, part, 1, 0.0))

    def poll(self, timeout: float) -> list[Delivered]:
        done, self._done = self._done, []
        return done

    def close(self, ok: bool) -> None:
        pass


def w_upload_loop(sink, inbox, outbox) -> None:
    """Uploader process: upload each announced file, delete it once S3 confirms, report back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides when to stop
    parent = os.getppid()
    while True:
        try:
            msg = inbox.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # orphaned: the coordinator crashed; --resume will clean up
                return
            continue
        if msg is None:
            return
        index, name, path, part = msg
        started = time.perf_counter()
        try:
            info = sink.upload(name, Path(path), part)
        except Exception as e:  # noqa: BLE001 - reported to the coordinator, which fails the run
            from .sinks.s3 import describe_error

            outbox.put(("error", index, describe_error(e, f"{sink.location}/{name}")))
            return
        os.unlink(path)
        outbox.put(("ok", index, Delivered(index, name, part, info["parts"], time.perf_counter() - started)))


class UploaderDelivery:
    """S3 sinks: one uploader process fed through a bounded queue."""

    def __init__(self, sink, max_in_flight: int):
        ctx = multiprocessing.get_context("spawn")
        self._inbox = ctx.Queue(maxsize=max_in_flight)
        self._outbox = ctx.Queue()
        self.process = ctx.Process(target=w_upload_loop, args=(sink, self._inbox, self._outbox),
                                   name="temu-gen-uploader", daemon=True)
        self.process.start()
        (sink.staging_dir / "uploader.pid").write_text(str(self.process.pid))

    def submit(self, index: int, name: str, path: Path, part: PartInfo) -> None:
        self._inbox.put((index, name, str(path), part))

    def poll(self, timeout: float) -> list[Delivered]:
        done = []
        try:
            msg = self._outbox.get(timeout=timeout)
            while True:
                kind, index, payload = msg
                if kind == "error":
                    raise RunFailed(f"upload of chunk {index} failed: {payload}")
                done.append(payload)
                msg = self._outbox.get_nowait()
        except queue.Empty:
            pass
        if not done and not self.process.is_alive():
            raise RunFailed(f"the uploader process died (exit code {self.process.exitcode})")
        return done

    def close(self, ok: bool) -> None:
        if ok and self.process.is_alive():
            self._inbox.put(None)
            self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=10)
        self._inbox.cancel_join_thread()
