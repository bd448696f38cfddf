"""Sinks: where finished part files and the run's commit markers go."""
from .base import LOCK, MANIFEST, RUN_PLAN, SUCCESS, PartRecord, RunTarget, Sink, part_name
from .local import LocalDirSink
from .null import NullSink

__all__ = ["Sink", "RunTarget", "LocalDirSink", "NullSink", "MANIFEST", "SUCCESS", "RUN_PLAN", "LOCK", "PartRecord",
           "part_name"]
