"""The event data contract: every output column, its meaning, and when it may be null.

Invariant: this is the single declaration of the output schema. The Arrow encoder
builds its schema from :data:`FIELDS`, the data dictionary is rendered from it, and
the tests check every run against each field's ``present_on`` rule: the column is
non-null exactly on those event types; on the ``sometimes`` types it may be either, by
the rule stated in the description (checked by the invariant oracles).
"""
from __future__ import annotations

from dataclasses import dataclass

from .client_context import KEYS as CONTEXT_KEYS
from .kernels.codes import EVENT_TYPES

ALL = frozenset(EVENT_TYPES)
SESSION_EVENTS = frozenset({
    "app_open", "sign_up", "login", "logout", "search", "category_view", "product_view", "add_to_wishlist",
    "add_to_cart", "remove_from_cart", "view_cart", "apply_coupon", "begin_checkout", "order_placed", "order_item",
    "payment_initiated", "payment_failed", "session_end"})
"""Client events that always belong to a session (``payment_succeeded`` may not: pay on delivery)."""
DEVICE_EVENTS = SESSION_EVENTS | {"return_requested"}
"""Client events: written by an app or browser, so they carry its device."""
SERVER_EVENTS = frozenset({"order_cancelled", "order_shipped", "hub_arrival", "out_for_delivery", "delivery_failed",
                           "delivered", "returned_to_sender", "refund_processed"})
SIGNED_IN_EVENTS = SERVER_EVENTS | {"sign_up", "login", "logout", "begin_checkout", "apply_coupon", "order_placed",
                                    "order_item", "payment_initiated", "payment_failed", "payment_succeeded",
                                    "return_requested"}
"""Events that always name the user: the server's, and a device's once it has signed in to check out or act."""
PRODUCT_EVENTS = frozenset({"product_view", "add_to_wishlist", "add_to_cart", "remove_from_cart", "order_item"})
ORDER_EVENTS = frozenset({
    "order_placed", "order_item", "payment_initiated", "payment_failed", "payment_succeeded", "order_cancelled",
    "order_shipped", "hub_arrival", "out_for_delivery", "delivery_failed", "delivered", "returned_to_sender",
    "return_requested", "refund_processed"})
PAYMENT_EVENTS = frozenset({"order_placed", "payment_initiated", "payment_failed", "payment_succeeded",
                            "refund_processed"})
SHIPPING_EVENTS = frozenset({"order_shipped", "hub_arrival", "out_for_delivery", "delivery_failed", "delivered",
                             "returned_to_sender"})
POD_SUCCESS = frozenset({"payment_succeeded"})
"""Where device and session columns are null exactly when the order is paid on delivery (the courier records it)."""


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
    """Name of the :class:`~temu_gen.vocab.Vocabulary` entry for dictionary columns."""

    @property
    def null_rule(self) -> str:
        if self.present_on == ALL:
            return "never null"
        rule = "null except on " + ", ".join(sorted(self.present_on))
        if self.sometimes:
            rule += "; on " + ", ".join(sorted(self.sometimes)) + " it depends (see description)"
        return rule


_DEVICE = dict(present_on=DEVICE_EVENTS | POD_SUCCESS, sometimes=POD_SUCCESS)
_SESSION = dict(present_on=SESSION_EVENTS | POD_SUCCESS, sometimes=POD_SUCCESS)

FIELDS: tuple[Field, ...] = (
    Field("event_id", "string", "Unique id of the event, made by the device or server that wrote it (UUID layout). "
          "It reveals neither the order events were generated in nor which user wrote them.",
          values="36 characters, 8-4-4-4-12 lowercase hex"),
    Field("event_ts", "timestamp[us, tz=UTC]", "When the event happened, on the device (client events) or the server.",
          values="from the config's period start; fulfilment runs past its end"),
    Field("ingest_ts", "timestamp[us, tz=UTC]", "When the platform received the event: the log is in this order, "
          "and each file is a window of it. Never before event_ts. Connected phones send events within about a "
          "second; a session on a weak network may be held on the phone and arrive whole minutes to days later "
          "(lateness.p_offline_session by network), or when it places an order. Server events arrive within ms.",
          values=">= event_ts; non-decreasing through the files"),
    Field("event_type", "dictionary<values=string, indices=int8>", "What happened.", vocab="event_type"),
    Field("user_id", "int64", "The shopper's account. A device's events carry it from its first sign_up or login "
          "on (and not after a logout until the next login); before that the shopper browses anonymously and only "
          "device_id ties the events together. Server events always carry it.",
          present_on=SIGNED_IN_EVENTS | {"app_open", "search", "category_view", "product_view", "add_to_wishlist",
                                         "add_to_cart", "remove_from_cart", "view_cart", "session_end"},
          sometimes=frozenset({"app_open", "search", "category_view", "product_view", "add_to_wishlist",
                               "add_to_cart", "remove_from_cart", "view_cart", "session_end"}),
          values="13 digits: 1,000,000,000,000 + a keyed permutation of the user (no order or rank shows)"),
    Field("device_id", "string", "The app install or browser that wrote a client event; a user has one or two. "
          "Null on server events and on payment_succeeded for pay-on-delivery orders.", values="16 lowercase hex",
          **_DEVICE),
    Field("session_id", "string", "The app or web session. Client events of one session share it; server events "
          "and return_requested have none. payment_succeeded carries it for prepaid orders (paid in the checkout "
          "session) and is null for pay-on-delivery orders (paid at the door).", values="16 lowercase hex", **_SESSION),
    Field("platform", "dictionary<values=string, indices=int8>", "Platform of the device.", vocab="platform", **_DEVICE),
    Field("device_brand", "dictionary<values=string, indices=int8>", "Handset vendor (Apple for iOS; desktop or "
          "mobile browser for web).", vocab="device_brand", **_DEVICE),
    Field("app_version", "dictionary<values=string, indices=int8>", "App version the device runs at that moment: "
          "the newest at install, then each release once the device updates; 'web' for web.", vocab="app_version",
          **_DEVICE),
    Field("carrier", "dictionary<values=string, indices=int8>", "Mobile network operator of the user's SIM.",
          vocab="carrier", **_DEVICE),
    Field("network_type", "dictionary<values=string, indices=int8>", "Connection of the session (usually the "
          "user's usual one).", vocab="network_type", **_DEVICE),
    Field("traffic_source", "dictionary<values=string, indices=int8>", "How the session started: the acquisition "
          "channel on a user's first session, a return source later (push or email when a campaign brings a "
          "lapsed user back).", vocab="traffic_source", **_SESSION),
    Field("state", "dictionary<values=string, indices=int8>", "User's home state (36 states and FCT).", vocab="state"),
    Field("city", "dictionary<values=string, indices=int16>", "User's home city or district, within its state.",
          vocab="city"),
    Field("product_id", "int64", "Product viewed, wished for, added, removed or ordered.", present_on=PRODUCT_EVENTS,
          values="601,000,000,000,000 + a keyed permutation of the product (popularity does not show)"),
    Field("category", "dictionary<values=string, indices=int8>", "Product category; for search and category_view "
          "the category browsed.", present_on=PRODUCT_EVENTS | {"search", "category_view"}, vocab="category"),
    Field("unit_price_ngn", "decimal128(18, 2)", "Unit price in naira at that moment (exact, 2 decimals), after any "
          "price drop running then.", present_on=PRODUCT_EVENTS, values=">= catalog.min_price_ngn"),
    Field("quantity", "int16", "Units added, removed or ordered.",
          present_on=frozenset({"add_to_cart", "remove_from_cart", "order_item"}),
          values="a key of funnel.quantity_weights"),
    Field("search_query", "dictionary<values=string, indices=int16>", "Search text typed: a term, sometimes "
          "misspelt or with a modifier.", present_on=frozenset({"search"}), vocab="search_query"),
    Field("order_id", "string", "The order; present from order_placed on, on every event of its lifecycle. Order "
          "numbers grow with the time orders are placed, like a shop's.", present_on=ORDER_EVENTS,
          values="'PO-234-' + 12-digit running number"),
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
    Field("status_reason", "dictionary<values=string, indices=int8>", "Why an order was cancelled, returned, or "
          "sent back undelivered.", present_on=frozenset({"order_cancelled", "return_requested",
                                                           "returned_to_sender"}), vocab="status_reason"),
    Field("logistics_partner", "dictionary<values=string, indices=int8>", "Carrier moving the parcel.",
          present_on=SHIPPING_EVENTS, vocab="logistics_partner"),
)

CONTEXT_FIELD = Field(
    "context", "string", "Only with run.context (--context): the context object an analytics SDK attaches to "
    "the event, as JSON text of 400-800 bytes, so the rows weigh what production events weigh (jsonl files embed "
    "it as a nested object). "
    "A pure function of the run seed and the row's other columns: a device keeps its model, OS, screen, locale and "
    "experiments, a session its IP and campaign, and the user agent names the row's app version; server events "
    "carry only library, locale, timezone and the user's experiments.",
    values="a JSON object; keys: " + "; ".join(f"{k} ({v})" for k, v in CONTEXT_KEYS.items()))
OPTIONAL_FIELDS: tuple[Field, ...] = (CONTEXT_FIELD,)
"""Columns a run adds only when its config asks (after FIELDS, in this order): never null when present."""

IDENTITY_RULES = (
    "A device (`device_id`) belongs to one user. Its session events carry `user_id` from its first `sign_up` or "
    "`login` on, and not after a `logout` until the next `login`; before that the shopper browses anonymously. "
    "`sign_up` happens once per user, on the first device that signs in; checking out signs a device in.",
    "Server events (fulfilment, refunds, and `payment_succeeded` for pay-on-delivery) always carry `user_id` and "
    "never a device; `return_requested` is filed from the app with the user's account but outside any session.",
    "A session (`session_id`) starts with `app_open`, keeps its device, platform, network and traffic source, and "
    "its `event_ts` never goes back; it ends with `session_end` (then `logout` at most).",
    "A user's `state` and `city` and a device's `platform`, `device_brand` and `carrier` never change; a device's "
    "`app_version` only goes up (it installs the newest release and updates to later ones).",
    "Within each file `ingest_ts` never goes back, and each file starts where the previous one ended.",
)
"""Rules across rows that the null rules alone cannot state; the test oracles check each one."""

FIELD_NAMES = tuple(f.name for f in FIELDS)
USER_ID_BASE = 1_000_000_000_000
PRODUCT_ID_BASE = 601_000_000_000_000
ORDER_ID_PREFIX = "PO-234-"
ORDER_NUMBER_BASE = 100_000_000_000
