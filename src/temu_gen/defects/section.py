"""The config's ``defects`` section, parsed: rates per defect type and the per-file defects.

Invariant: like every section (:mod:`temu_gen.sections`), a frozen dataclass parsed once
from a schema-valid document; all rates zero and both parts null is a clean run, and
:data:`ROW_DEFECTS` fixes the order a part draws its row defects in. Imports nothing heavy.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..sections import scalars

ROW_DEFECTS = ("duplicate", "id_collision", "late", "clock_skew", "contract_violation")
"""Defects drawn per row of the clean log, in the order a part draws them (the order fixes the streams)."""


@dataclass(frozen=True, slots=True)
class Defects:
    """Production mess injected into the events and labelled in ``defects/``; all zero and null = a clean run."""

    duplicate: float
    duplicate_later_file: float
    id_collision: float
    late: float
    late_days: tuple[float, float]
    clock_skew: float
    contract_violation: float
    orphan_order: float
    orphan_user: float
    schema_drift_from_part: int | None
    poison_part: int | None

    @classmethod
    def parse(cls, doc: dict) -> Defects:
        return scalars(cls, doc, late_days=(float(doc["late_days"][0]), float(doc["late_days"][1])))

    def rate(self, name: str) -> float:
        return getattr(self, name)

    @property
    def row_rate(self) -> float:
        """Share of the log's rows drawn for one of :data:`ROW_DEFECTS`."""
        return sum(getattr(self, n) for n in ROW_DEFECTS)

    @property
    def changes_rows(self) -> bool:
        """Whether any defect adds, drops or alters event rows (drift and poison are per file)."""
        return self.row_rate > 0 or self.orphan_order > 0 or self.orphan_user > 0

    @property
    def enabled(self) -> bool:
        return self.changes_rows or self.schema_drift_from_part is not None or self.poison_part is not None
