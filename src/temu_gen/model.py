"""The event data contract: every output column, its meaning, and when it may be null.

Invariant: this is the single declaration of the output schema. The Arrow encoder
builds its schema from :data:`FIELDS`, the data dictionary is rendered from it, and
the tests check every run against each field's ``present_on`` rule: the column is
non-null exactly on those event types (``sometimes`` lists event types where it may
be either, with the rule in the description).
"""
from __future__ import annotations

from dataclasses import dataclass

from .kernels.codes import EVENT_TYPES

ALL = frozenset(EVENT_TYPES)
SESSION_EVENTS = frozenset({
    "app_open", "login", "search", "category_view", "product_view", "add_to_wishlist", "add_to_cart",
    "remove_from_cart", "view_cart", "apply_coupon", "begin_checkout", "order_placed", "payment_initiated",
    "payment_failed", "session_end"})
"""Client events that always belong to a session (``payment_succeeded`` may not: pay on delivery)."""
PRODUCT_EVENTS = frozenset({"product_view", "add_to_wishlist", "add_to_cart", "remove_from_cart"})
ORDER_EVENTS = frozenset({
    "order_placed", "payment_initiated", "payment_failed", "payment_succeeded", "order_cancelled",
    "order_shipped", "hub_arrival", "out_for_delivery", "delivery_failed", "delivered", "return_requested",
    "refund_processed"})
PAYMENT_EVENTS = frozenset({"order_placed", "payment_initiated", "payment_failed", "payment_succeeded",
                            "refund_processed"})
SHIPPING_EVENTS = frozenset({"order_shipped", "hub_arrival", "out_for_delivery", "delivery_failed", "delivered"})


@dataclass(frozen=True)
class Field:
    """One output column."""

    name: str
    type: str
    """Arrow type, as pyarrow spells it."""
    description: str
    present_on: frozenset[str] = ALL
    sometimes: frozenset[str] = frozenset()
    values: str = ""
    """Allowed values or range, in words; dictionary columns list theirs from the config."""
    vocab: str | None = None
    """Name of the :class:`~temu_gen.params.Vocabulary` entry for dictionary columns."""

    @property
    def null_rule(self) -> str:
        if self.present_on == ALL:
            return "never null"
        rule = "null except on " + ", ".join(sorted(self.present_on))
        if self.sometimes:
            rule += "; on " + ", ".join(sorted(self.sometimes)) + " it depends (see description)"
        return rule


FIELDS: tuple[Field, ...] = (
    Field("event_id", "string", "Unique id of the event within the run: 8 hex digits of the run's id salt, then the "
          "row's position in the run as 12 hex digits, so ids sort in file order.", values="20 lowercase hex characters"),
    Field("event_ts", "timestamp[us, tz=UTC]", "When the event happened, on the device (client events) or the server.",
          values="from the config's period start; fulfilment events may run weeks past its end"),
    Field("ingest_ts", "timestamp[us, tz=UTC]", "When the platform received the event. Never before event_ts; "
          "client events usually arrive within seconds, a configurable share (run.late_ingest_share) 1-12 hours late "
          "from phones that were offline; server events within milliseconds.", values=">= event_ts"),
    Field("event_type", "dictionary<values=string, indices=int8>", "What happened.", vocab="event_type"),
    Field("user_id", "int64", "The shopper. A user's home state, city, platform, device, carrier and app version "
          "are pure functions of (seed, user_id) and the same in every event and chunk.",
          values="1,000,000,000 + user index, below 1,000,000,000 + population.users"),
    Field("session_id", "string", "The app or web session. Client events of one session share it; fulfilment "
          "events have none. payment_succeeded carries it for prepaid orders (paid in the checkout session) and "
          "is null for pay-on-delivery orders (paid at the door). return_requested is filed outside a tracked session.",
          present_on=SESSION_EVENTS | {"payment_succeeded"}, sometimes=frozenset({"payment_succeeded"}),
          values="16 lowercase hex characters"),
    Field("platform", "dictionary<values=string, indices=int8>", "App or web platform of the user.", vocab="platform"),
    Field("device_brand", "dictionary<values=string, indices=int8>", "Handset vendor (Apple for iOS; desktop or "
          "mobile browser for web).", vocab="device_brand"),
    Field("app_version", "dictionary<values=string, indices=int8>", "App version; 'web' for web users.",
          vocab="app_version"),
    Field("carrier", "dictionary<values=string, indices=int8>", "Mobile network operator of the user's SIM.",
          vocab="carrier"),
    Field("network_type", "dictionary<values=string, indices=int8>", "Connection used for the session.",
          present_on=SESSION_EVENTS | {"payment_succeeded"}, sometimes=frozenset({"payment_succeeded"}),
          vocab="network_type"),
    Field("traffic_source", "dictionary<values=string, indices=int8>", "How the session started.",
          present_on=SESSION_EVENTS | {"payment_succeeded"}, sometimes=frozenset({"payment_succeeded"}),
          vocab="traffic_source"),
    Field("state", "dictionary<values=string, indices=int8>", "User's home state (36 states and FCT).", vocab="state"),
    Field("city", "dictionary<values=string, indices=int16>", "User's home city or district, within its state.",
          vocab="city"),
    Field("product_id", "int64", "Product viewed, wished for, added or removed.", present_on=PRODUCT_EVENTS,
          values="601,000,000,000,000 + product index; the category owns a contiguous block"),
    Field("category", "dictionary<values=string, indices=int8>", "Product category; for search and category_view "
          "the category browsed.", present_on=PRODUCT_EVENTS | {"search", "category_view"}, vocab="category"),
    Field("unit_price_ngn", "decimal128(18, 2)", "Unit price in naira (exact, 2 decimals); a pure function of "
          "(seed, product_id).", present_on=PRODUCT_EVENTS, values=">= catalog.min_price_ngn"),
    Field("quantity", "int16", "Units added to or removed from the cart.",
          present_on=frozenset({"add_to_cart", "remove_from_cart"}), values="a key of funnel.quantity_weights"),
    Field("search_query", "dictionary<values=string, indices=int16>", "Search text typed.",
          present_on=frozenset({"search"}), vocab="search_query"),
    Field("order_id", "string", "The order; present from order_placed on, on every event of its lifecycle.",
          present_on=ORDER_EVENTS, values="'PO-234-' + 5-digit chunk + 9-digit sequence"),
    Field("order_total_ngn", "decimal128(18, 2)", "Order total after discount, in naira (exact); on "
          "refund_processed the amount refunded.", present_on=PAYMENT_EVENTS, values="> 0"),
    Field("discount_ngn", "decimal128(18, 2)", "Coupon discount in naira (0 on orders without one).",
          present_on=frozenset({"apply_coupon", "order_placed"}), values=">= 0"),
    Field("payment_method", "dictionary<values=string, indices=int8>", "Payment method of the attempt, of the "
          "order (order_placed) or of the refund.", present_on=PAYMENT_EVENTS, vocab="payment_method"),
    Field("payment_provider", "dictionary<values=string, indices=int8>", "Card scheme, wallet or channel.",
          present_on=PAYMENT_EVENTS, vocab="payment_provider"),
    Field("attempt_number", "int8", "Payment attempt (1 = first) or delivery attempt.",
          present_on=frozenset({"payment_initiated", "payment_failed", "payment_succeeded", "out_for_delivery",
                                "delivery_failed", "delivered"}),
          values="1 .. payments.max_attempts or fulfilment.max_delivery_attempts"),
    Field("failure_reason", "dictionary<values=string, indices=int8>", "Why a payment or delivery attempt failed.",
          present_on=frozenset({"payment_failed", "delivery_failed"}), vocab="failure_reason"),
    Field("status_reason", "dictionary<values=string, indices=int8>", "Why an order was cancelled or returned.",
          present_on=frozenset({"order_cancelled", "return_requested"}), vocab="status_reason"),
    Field("logistics_partner", "dictionary<values=string, indices=int8>", "Carrier moving the parcel.",
          present_on=SHIPPING_EVENTS, vocab="logistics_partner"),
)

FIELD_NAMES = tuple(f.name for f in FIELDS)
USER_ID_BASE = 1_000_000_000
PRODUCT_ID_BASE = 601_000_000_000_000
ORDER_ID_PREFIX = "PO-234-"
