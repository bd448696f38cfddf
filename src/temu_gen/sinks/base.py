"""The Sink protocol: how a run's files reach their destination, and how a run commits.

Invariant: a destination only ever shows a run as finished once ``_SUCCESS`` exists,
and a sink writes ``_SUCCESS`` strictly after every part and ``_manifest.json``.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Protocol

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
RUN_PLAN = "_run.json"
"""Written first: seed, config and sizes, so ``--resume`` can regenerate missing chunks exactly."""


class PartInfo(NamedTuple):
    """What the manifest records about one part file."""

    rows: int
    bytes: int
    sha256: str


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

    def prepare(self, run_id: str, overwrite: bool, resume: bool = False) -> None:
        """Check the destination is usable and the run is not already committed.

        Without ``resume``, parts left by an earlier uncommitted attempt under the same id are removed.
        """

    def write_plan(self, plan: bytes) -> None:
        """Record the run's plan (``_run.json``) before any part."""

    def read_plan(self) -> dict | None:
        """The recorded plan of the prepared run id, or None."""

    def existing_parts(self) -> dict[str, PartInfo]:
        """Complete, verified parts already at the destination (for ``--resume``)."""

    def commit(self, manifest: bytes) -> None:
        """Write the manifest, then ``_SUCCESS``."""

    def abort(self) -> int:
        """Clean up after a failed run; never leaves ``_SUCCESS`` behind. Returns uploads aborted."""
