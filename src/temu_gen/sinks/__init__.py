"""Sinks: where finished chunk files and the run's commit markers go."""
from .base import MANIFEST, RUN_PLAN, SUCCESS, PartInfo, Sink, part_name
from .local import LocalDirSink
from .null import NullSink

__all__ = ["Sink", "LocalDirSink", "NullSink", "MANIFEST", "SUCCESS", "RUN_PLAN", "PartInfo", "part_name"]
