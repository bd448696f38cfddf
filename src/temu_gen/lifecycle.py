"""The order lifecycle, declared once as data: states, allowed transitions, and terminal states.

Invariant: this table is the single statement of the lifecycle. The test oracle, the
data dictionary (and ``validate``) read it; the kernels write it with hand-written
branches for speed, and a test checks they emit only paths it allows. Any prefix of an
allowed path is allowed too, because a log ends mid-flight. Two variants: prepaid
orders are paid in the checkout session, pay-on-delivery orders at the door.
"""
from __future__ import annotations

PREPAID, POD = "prepaid", "pay_on_delivery"

_COMMON = {
    ("new", "order_placed"): "placed",
    ("placed", "order_item"): "placed",
}
_DELIVERY = {
    ("shipped", "hub_arrival"): "at_hub",
    ("at_hub", "out_for_delivery"): "out_for_delivery",
    ("out_for_delivery", "delivered"): "delivered",
    ("out_for_delivery", "delivery_failed"): "attempt_failed",
    ("attempt_failed", "out_for_delivery"): "out_for_delivery",
    ("attempt_failed", "returned_to_sender"): "returned_to_sender",
}
TRANSITIONS: dict[str, dict[tuple[str, str], str]] = {
    PREPAID: {
        **_COMMON,
        ("placed", "payment_initiated"): "paying",
        ("paying", "payment_failed"): "payment_failed",
        ("payment_failed", "payment_initiated"): "paying",
        ("paying", "payment_succeeded"): "paid",
        ("placed", "order_cancelled"): "cancelled",
        ("payment_failed", "order_cancelled"): "cancelled",
        ("paid", "order_cancelled"): "cancelled_paid",
        ("cancelled_paid", "refund_processed"): "refunded",
        ("paid", "order_shipped"): "shipped",
        **_DELIVERY,
        ("returned_to_sender", "refund_processed"): "refunded",
        ("delivered", "return_requested"): "return_requested",
        ("return_requested", "refund_processed"): "refunded",
    },
    POD: {
        **_COMMON,
        ("placed", "order_cancelled"): "cancelled",
        ("placed", "order_shipped"): "shipped",
        **_DELIVERY,
        ("delivered", "payment_succeeded"): "paid_at_door",
        ("paid_at_door", "return_requested"): "return_requested",
        ("return_requested", "refund_processed"): "refunded",
    },
}
TERMINAL: dict[str, frozenset[str]] = {
    PREPAID: frozenset({"cancelled", "refunded", "delivered", "return_requested"}),
    POD: frozenset({"cancelled", "paid_at_door", "returned_to_sender", "refunded", "return_requested"}),
}
"""Where an order may end. ``delivered`` and ``return_requested`` end it when nothing follows (no return was
filed; a return was declined); a prepaid parcel sent back to the sender always goes on to its refund."""


def order_path_violation(events: list[str], pod: bool) -> str | None:
    """Walk one order's events (in time order) through its variant; return what breaks, if anything."""
    table = TRANSITIONS[POD if pod else PREPAID]
    state = "new"
    for e in events:
        nxt = table.get((state, e))
        if nxt is None:
            return f"{e} is not allowed after {state}" if state != "new" else f"starts with {e}"
        state = nxt
    return None


def final_state(events: list[str], pod: bool) -> str | None:
    """The state an order's events lead to (None if they are not a path)."""
    table = TRANSITIONS[POD if pod else PREPAID]
    state = "new"
    for e in events:
        state = table.get((state, e))
        if state is None:
            return None
    return state


def transition_rows() -> list[tuple[str, str, str, str]]:
    """(variant, from, event, to) for the data dictionary, in declaration order."""
    return [(variant, a, e, b) for variant, table in TRANSITIONS.items() for (a, e), b in table.items()]
