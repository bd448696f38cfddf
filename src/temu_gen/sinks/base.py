"""The Sink protocol: how a run's files reach their destination, and how a run commits.

Invariant: a destination only ever shows a run as finished once ``_SUCCESS`` exists,
and a sink writes ``_SUCCESS`` strictly after every part and ``_manifest.json``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"


def part_name(index: int) -> str:
    """File name of chunk ``index``; zero-padded so names sort in chunk order."""
    return f"part-{index:05d}.parquet"


def run_prefix(run_id: str) -> str:
    """The run's folder or key prefix below the destination root."""
    return f"events/run_id={run_id}"


class Sink(Protocol):
    """A destination for one run."""

    location: str
    """Human-readable address of the run (a folder or an ``s3://`` URI)."""
    staging_dir: Path
    """Local folder where workers write finished part files before :meth:`put`."""

    def prepare(self, run_id: str, overwrite: bool) -> None:
        """Check the destination is usable and the run is not already committed."""

    def put(self, name: str, local_path: Path) -> None:
        """Deliver one finished part file (``local_path`` is in ``staging_dir``)."""

    def commit(self, manifest: bytes) -> None:
        """Write the manifest, then ``_SUCCESS``."""

    def abort(self) -> None:
        """Clean up after a failed run; never leaves ``_SUCCESS`` behind."""
