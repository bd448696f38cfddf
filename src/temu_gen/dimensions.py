"""The run's other tables, declared once: users, products, orders and the defect labels.

Invariant: like :data:`temu_gen.model.FIELDS` for events, these declarations are the only
statement of each table's columns: the writer builds its Arrow schemas from them, the
data dictionary renders them, and the tests check every run against them. Each table is
written under ``<output>/<table>/run_id=<id>/`` with the events' Parquet conventions, and
the run's one ``_SUCCESS`` commits them all. Imports nothing heavy.
"""
from __future__ import annotations

from typing import NamedTuple


class Column(NamedTuple):
    name: str
    type: str
    description: str
    nullable: bool = False


TS = "timestamp[us, tz=UTC]"
NGN = "decimal128(18, 2)"
DICT8 = "dictionary<values=string, indices=int8>"
DICT16 = "dictionary<values=string, indices=int16>"

USERS = (
    Column("user_id", "int64", "The account, as in events.user_id."),
    Column("first_seen_ts", TS, "The user's first event in the log, signed in or not (their devices' anonymous "
           "browsing included: the identity stitching answer)."),
    Column("signed_up_ts", TS, "When the account was created (the sign_up event), if that is in the log.", True),
    Column("last_seen_ts", TS, "The user's last event in the log."),
    Column("state", DICT8, "Home state."),
    Column("city", DICT16, "Home city or district."),
    Column("area", DICT8, "urban or rural."),
    Column("city_tier", DICT8, "Delivery tier of the home: lagos_ogun, major_hub, other or rural."),
    Column("platform", DICT8, "Platform of the first device."),
    Column("device_brand", DICT8, "Brand of the first device."),
    Column("first_device_id", "string", "The first device, as in events.device_id."),
    Column("devices", "int8", "Devices the user owns over the launch (1 or 2)."),
    Column("carrier", DICT8, "Mobile network operator."),
    Column("usual_network", DICT8, "The connection the user is usually on."),
    Column("acquisition_channel", DICT8, "How the user first arrived (the traffic_source of their first session)."),
    Column("preferred_payment_method", DICT8, "The payment method the user reaches for first."),
    Column("favourite_categories", "list<item: string>", "The two categories the user browses most (may repeat)."),
    Column("price_segment", DICT8, "deal_seeker, value or premium, from the user's latent price sensitivity."),
    Column("activity_segment", DICT8, "light, regular or heavy, from the user's latent activity level."),
    Column("sessions", "int32", "Sessions the user started in the log."),
    Column("orders", "int32", "Orders the user placed in the log."),
    Column("first_order_ts", TS, "When the user placed their first order, if any.", True),
    Column("lifetime_value_ngn", NGN, "Sum of the totals of the orders the user placed in the log."),
)
PRODUCTS = (
    Column("product_id", "int64", "The product, as in events.product_id."),
    Column("category", DICT8, "Category."),
    Column("name", "string", "A title-like name, as a listing shows it."),
    Column("version", "int16", "1 for the first price of the product, then one more per change (SCD type 2)."),
    Column("price_ngn", NGN, "Shelf price during [valid_from, valid_to): the unit_price_ngn a product_view shows then "
           "(a wishlist or cart add carries the price of the view it follows)."),
    Column("price_drop_pct", "int8", "Markdown of a running price drop (0 = regular price)."),
    Column("valid_from", TS, "Start of this price (the period start for the first version)."),
    Column("valid_to", TS, "End of this price (null for the current one).", True),
    Column("is_current", "bool", "Whether this is the price at the end of the period."),
)
ORDERS = (
    Column("order_id", "string", "The order, as in events.order_id."),
    Column("user_id", "int64", "Who placed it."),
    Column("placed_ts", TS, "When it was placed (order_placed.event_ts)."),
    Column("status", DICT8, "Its state at the end of the log: a state of the order lifecycle."),
    Column("status_ts", TS, "When it reached that state (the event_ts of its last event in the log)."),
    Column("payment_variant", DICT8, "prepaid or pay_on_delivery."),
    Column("payment_method", DICT8, "Payment method of the order."),
    Column("payment_provider", DICT8, "Card scheme, wallet or channel of the order."),
    Column("order_total_ngn", NGN, "Total after discount."),
    Column("discount_ngn", NGN, "Coupon discount."),
    Column("items", "list<item: struct<product_id: int64, quantity: int16, unit_price_ngn: decimal128(18, 2)>>",
           "The order's lines, as its order_item events list them."),
    Column("lines", "int16", "Number of lines."),
    Column("units", "int32", "Units over all lines."),
    Column("payment_attempts", "int8", "payment_initiated events in the log."),
    Column("delivery_attempts", "int8", "out_for_delivery events in the log."),
    Column("logistics_partner", DICT8, "Carrier of the parcel, once shipped.", True),
    Column("delivered_ts", TS, "When it was delivered, if it was.", True),
    Column("refunded_ngn", NGN, "Amount refunded, if any.", True),
    Column("state", DICT8, "Ship-to state (the user's home)."),
    Column("city", DICT16, "Ship-to city."),
)
DEFECT_LABELS = (
    Column("event_id", "string", "The labelled row's event_id (a duplicate shares it with its original)."),
    Column("part", "int32", "The events file the row is in (part-<part>.parquet, or .jsonl.gz)."),
    Column("row", "int64", "The row's 0-based position in that file."),
    Column("defect", DICT8, "The defect type (see the defect types table)."),
    Column("detail", "string", "What exactly is wrong, and where the clean event was due."),
)
TABLE_COLUMNS: dict[str, tuple[Column, ...]] = {"users": USERS, "products": PRODUCTS, "orders": ORDERS,
                                                "defects": DEFECT_LABELS}
TABLE_PURPOSE = {
    "users": "One row per account that appears in the log (by user_id), with the traits it was simulated with. "
             "Events reference it through user_id, except rows labelled orphan_user.",
    "products": "The catalog's price history as slowly changing dimension rows: one row per product and price "
                "period, so a join on (product_id, event_ts within [valid_from, valid_to)) gives the event's price.",
    "orders": "One row per order placed in the log, in its final state at the end of the log, with its lines: "
              "what an orders model built from the events should reach. An orphan order (defect orphan_order) is "
              "here although its order_placed event never reached the log.",
    "defects": "One row per label: which event rows are production mess on purpose, and which kind "
               "(only when defects are on).",
}
