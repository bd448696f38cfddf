"""NullSink: discards every file; for benchmarks that measure generation and encoding alone.

Invariant: it never writes outside its own temporary staging folder, which it empties.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from ..files import remove
from .base import Holder, PartExpectation, PartRecord


class NullSink:
    """Accepts parts and drops them."""

    location = "null"

    def open_run(self, run_id: str) -> NullRun:
        return NullRun(run_id)


class NullRun:
    location = "null"

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._tmp = tempfile.TemporaryDirectory(prefix="temu-gen-null-")
        self.staging_dir = Path(self._tmp.name)
        self.spool_dir = self.staging_dir

    def read_plan(self) -> dict | None:
        return None

    def lock(self, holder: Holder, force: bool = False) -> None:
        pass

    def unlock(self) -> None:
        pass

    def is_committed(self) -> bool:
        return False

    def reset(self) -> None:
        pass

    def write_plan(self, plan: bytes) -> None:
        pass

    def verify(self, expected: Sequence[PartExpectation]) -> dict[int, PartRecord]:
        return {}

    def delivery(self, max_in_flight: int):
        from ..delivery import InlineDelivery

        return InlineDelivery(self._drop)

    def _drop(self, record: PartRecord, path: Path) -> PartRecord:
        remove(path)
        return record

    def check_delivered(self, records) -> None:
        pass  # nothing is kept

    def commit(self, manifest: bytes, gate) -> None:
        gate.check()
        self._tmp.cleanup()

    def abort(self) -> int:
        self._tmp.cleanup()
        return 0
