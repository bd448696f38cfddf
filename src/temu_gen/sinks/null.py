"""NullSink: discards every file; for benchmarks that measure generation and encoding alone.

Invariant: it never writes outside its own temporary staging folder, which it empties.
"""
from __future__ import annotations

import tempfile
from pathlib import Path


class NullSink:
    """Accepts parts and drops them."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="temu-gen-null-")
        self.staging_dir = Path(self._tmp.name)
        self.location = "null"

    def prepare(self, run_id: str, overwrite: bool, resume: bool = False) -> None:
        pass

    def write_plan(self, plan: bytes) -> None:
        pass

    def read_plan(self) -> dict | None:
        return None

    def existing_parts(self) -> dict:
        return {}

    def put(self, name: str, local_path: Path) -> None:
        local_path.unlink(missing_ok=True)

    def commit(self, manifest: bytes) -> None:
        pass

    def abort(self) -> int:
        return 0
