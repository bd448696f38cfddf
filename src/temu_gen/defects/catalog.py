"""The defect types, declared once as data.

Invariant: every label in a run's ``defects/`` table names one of :data:`DEFECTS`, and
the effect declared here is what the injector does: ``extra`` rows are added next to the
clean log's rows, ``altered`` rows replace their clean row, ``moved`` rows left their
place in the log and arrive later, ``orphan`` rows are intact but refer to something
absent. A clean row (no label) satisfies the whole contract; checks across rows (sessions,
order lifecycles) hold for every order and session that no label touches.
"""
from __future__ import annotations

from typing import NamedTuple


class DefectType(NamedTuple):
    name: str
    effect: str
    """extra | altered | moved | orphan."""
    description: str
    pipeline: str
    """What a careful pipeline does with it (reconcile calls the difference it explains 'expected')."""


DEFECTS: tuple[DefectType, ...] = (
    DefectType("duplicate", "extra", "The same event re-sent (at-least-once delivery): same event_id and every "
               "field but ingest_ts, in the same file or the next one.", "drop it: keep one row per event_id"),
    DefectType("id_collision", "extra", "A client retry that changed the event: same event_id, event_ts moved by "
               "seconds.", "keep one version per event_id (the first received)"),
    DefectType("late", "moved", "The event arrives days after event_ts, beyond any watermark; it is missing from "
               "where it was due and shows up in a later file.", "accept it late, or route it to a late-data path"),
    DefectType("clock_skew", "altered", "The device clock was wrong: event_ts is in the future or at the Unix "
               "epoch (an unset clock).", "quarantine it, or trust ingest_ts instead"),
    DefectType("contract_violation", "altered", "A broken record: a null in a required column, an unknown enum "
               "value, a negative quantity, or a zero or absurd price.", "reject it to a dead-letter table"),
    DefectType("orphan_order", "orphan", "An event of an order whose order_placed never arrived.",
               "hold it until the order appears, or flag it"),
    DefectType("orphan_user", "orphan", "An event whose user_id is not in the users table (a late-arriving "
               "dimension).", "keep it with an unknown-member key, or hold it"),
)
NAMES = tuple(d.name for d in DEFECTS)

CONTRACT_KINDS = ("null_required", "unknown_enum", "negative_quantity", "zero_price", "absurd_price")
"""The ways a contract_violation breaks its row (the label's detail says which column and value)."""

UNKNOWN_VALUES = {"event_type": "add_to_basket", "platform": "harmonyos", "payment_method": "crypto_wallet"}
"""Enum values outside the contract that a broken client sends; runs with contract violations append them to
those columns' dictionaries, so every file of the run still shares one dictionary."""

SCHEMA_V2 = (
    ("rename", "network_type", "connection_type"),
    ("widen", "quantity", "int32"),
    ("add", "app_build", "string"),
)
"""Schema version 2 (defects.schema_drift_from_part): what changed from version 1, in order."""


def describe_markdown() -> str:
    """The defect types as a markdown table (the data dictionary's section)."""
    lines = ["| defect | effect | what it is | what a pipeline should do |", "|---|---|---|---|"]
    lines += [f"| `{d.name}` | {d.effect} | {d.description} | {d.pipeline} |" for d in DEFECTS]
    return "\n".join(lines) + "\n"
