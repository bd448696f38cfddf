"""Integer codes shared by the kernels and the data contract: event types and the row layout.

Invariant: the codes are dense, start at 0 and never change meaning within a release;
:mod:`temu_gen.model` maps them to names. ``NULL`` (-1) marks an absent value in every
kernel output column. Plain constants only: importing this module needs no numba.
"""

NULL = -1

EVENT_TYPES = (
    "app_open", "sign_up", "login", "logout", "search", "category_view", "product_view", "add_to_wishlist",
    "add_to_cart", "remove_from_cart", "view_cart", "apply_coupon", "begin_checkout", "order_placed", "order_item",
    "payment_initiated", "payment_failed", "payment_succeeded", "session_end",
    "order_cancelled", "order_shipped", "hub_arrival", "out_for_delivery", "delivery_failed", "delivered",
    "returned_to_sender", "return_requested", "refund_processed",
)
(APP_OPEN, SIGN_UP, LOGIN, LOGOUT, SEARCH, CATEGORY_VIEW, PRODUCT_VIEW, ADD_TO_WISHLIST, ADD_TO_CART,
 REMOVE_FROM_CART, VIEW_CART, APPLY_COUPON, BEGIN_CHECKOUT, ORDER_PLACED, ORDER_ITEM, PAYMENT_INITIATED,
 PAYMENT_FAILED, PAYMENT_SUCCEEDED, SESSION_END, ORDER_CANCELLED, ORDER_SHIPPED, HUB_ARRIVAL, OUT_FOR_DELIVERY,
 DELIVERY_FAILED, DELIVERED, RETURNED_TO_SENDER, RETURN_REQUESTED, REFUND_PROCESSED) = range(len(EVENT_TYPES))
FIRST_SERVER_EVENT = ORDER_CANCELLED
"""Event types from here on are written by the platform's servers (no device, no session)."""

PLATFORMS = ("android", "ios", "web")
ANDROID, IOS, WEB = range(3)
URBAN, RURAL = 0, 1

# Cancellation reason that the kernel, not the config, decides (code 0 of status_reason).
PAYMENT_NOT_COMPLETED = 0

# Kernel output: two row-major matrices, one int64 ("wide") for times, ids and money, one int16
# ("narrow") for codes; NULL = -1 in both.
WIDE_COLUMNS = ("event_ts", "ingest_ts", "user", "event_seq", "session_seq", "product", "unit_price", "order",
                "order_total", "discount")
NARROW_COLUMNS = ("event_type", "device", "signed_in", "platform", "device_brand", "app_version", "carrier",
                  "network", "traffic_source", "state", "city", "category", "quantity", "search_term",
                  "payment_method", "payment_provider", "attempt", "failure_reason", "status_reason",
                  "logistics_partner")
N_WIDE = len(WIDE_COLUMNS)
N_NARROW = len(NARROW_COLUMNS)
(W_EVENT_TS, W_INGEST_TS, W_USER, W_EVENT_SEQ, W_SESSION, W_PRODUCT, W_UNIT_PRICE, W_ORDER, W_ORDER_TOTAL,
 W_DISCOUNT) = range(N_WIDE)
(N_EVENT_TYPE, N_DEVICE, N_SIGNED_IN, N_PLATFORM, N_BRAND, N_APP_VERSION, N_CARRIER, N_NETWORK, N_SOURCE, N_STATE,
 N_CITY, N_CATEGORY, N_QUANTITY, N_SEARCH_TERM, N_PAYMENT_METHOD, N_PAYMENT_PROVIDER, N_ATTEMPT, N_FAILURE_REASON,
 N_STATUS_REASON, N_LOGISTICS_PARTNER) = range(N_NARROW)

# Bounds that size the kernels' scratch state; a user never needs more.
MAX_VIEWS = 120
MAX_SEARCHES = 12
MAX_CART = 24
MAX_WISHLIST = 16
MAX_PENDING_ORDERS = 4
MAX_USER_ROWS = 1 << 16
"""Rows one user may write; the driver keeps this much free room before each user."""
