"""LocalDirSink: a run written to ``<root>/events/run_id=<id>/`` on the local disk.

Invariant: workers write parts straight into the run folder through a temp file and a
rename, so no partial part ever carries its final name; the manifest goes in the same
way, and ``_SUCCESS`` is created last.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from ..errors import OutputError
from .base import MANIFEST, RUN_PLAN, SUCCESS, PartInfo, run_prefix


class LocalDirSink:
    """Writes a run into a local folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.staging_dir = self.root
        self.location = str(self.root)

    def prepare(self, run_id: str, overwrite: bool, resume: bool = False) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise OutputError(f"output {self.root} is a file, not a folder; pass a folder to --output")
        run_dir = self.root / run_prefix(run_id)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            probe = run_dir / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise OutputError(f"output {self.root} is not writable ({e.strerror or e}); choose another --output") from None
        if (run_dir / SUCCESS).exists():
            if not overwrite:
                raise OutputError(f"run {run_id} is already committed in {run_dir}; pass --overwrite to replace it "
                                  f"or choose another --run-id")
            shutil.rmtree(run_dir)
            run_dir.mkdir(parents=True)
        elif not resume:
            for stale in run_dir.glob("*"):  # parts of an earlier, uncommitted attempt
                if stale.is_file():
                    stale.unlink()
        self.staging_dir = run_dir
        self.location = str(run_dir)

    def put(self, name: str, local_path: Path) -> None:
        if local_path != self.staging_dir / name:
            os.replace(local_path, self.staging_dir / name)

    def write_plan(self, plan: bytes) -> None:
        tmp = self.staging_dir / f".{RUN_PLAN}.tmp"
        tmp.write_bytes(plan)
        os.replace(tmp, self.staging_dir / RUN_PLAN)

    def read_plan(self) -> dict | None:
        path = self.staging_dir / RUN_PLAN
        return json.loads(path.read_text()) if path.exists() else None

    def existing_parts(self) -> dict[str, PartInfo]:
        """Parts on disk whose Parquet footer reads back (writes are atomic, so a named part is whole)."""
        import pyarrow.parquet as pq

        found = {}
        for path in sorted(self.staging_dir.glob("part-*.parquet")):
            try:
                rows = pq.ParquetFile(path).metadata.num_rows
            except Exception:  # noqa: BLE001 - unreadable means regenerate it
                continue
            data = path.read_bytes()
            found[path.name] = PartInfo(rows, len(data), hashlib.sha256(data).hexdigest())
        return found

    def commit(self, manifest: bytes) -> None:
        tmp = self.staging_dir / f".{MANIFEST}.tmp"
        tmp.write_bytes(manifest)
        os.replace(tmp, self.staging_dir / MANIFEST)
        (self.staging_dir / SUCCESS).write_bytes(b"")

    def abort(self) -> int:
        for tmp in self.staging_dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        return 0
