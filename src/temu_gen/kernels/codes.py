"""Integer codes shared by the kernels and the data contract.

Invariant: the codes are dense, start at 0 and never change meaning within a
release; :mod:`temu_gen.model` maps them to names. ``NULL`` (-1) marks an absent
value in every kernel output column.
"""

NULL = -1

EVENT_TYPES = (
    "app_open", "login", "search", "category_view", "product_view", "add_to_wishlist",
    "add_to_cart", "remove_from_cart", "view_cart", "apply_coupon", "begin_checkout",
    "order_placed", "payment_initiated", "payment_failed", "payment_succeeded", "session_end",
    "order_cancelled", "order_shipped", "hub_arrival", "out_for_delivery", "delivery_failed",
    "delivered", "return_requested", "refund_processed",
)

APP_OPEN = 0
LOGIN = 1
SEARCH = 2
CATEGORY_VIEW = 3
PRODUCT_VIEW = 4
ADD_TO_WISHLIST = 5
ADD_TO_CART = 6
REMOVE_FROM_CART = 7
VIEW_CART = 8
APPLY_COUPON = 9
BEGIN_CHECKOUT = 10
ORDER_PLACED = 11
PAYMENT_INITIATED = 12
PAYMENT_FAILED = 13
PAYMENT_SUCCEEDED = 14
SESSION_END = 15
ORDER_CANCELLED = 16
ORDER_SHIPPED = 17
HUB_ARRIVAL = 18
OUT_FOR_DELIVERY = 19
DELIVERY_FAILED = 20
DELIVERED = 21
RETURN_REQUESTED = 22
REFUND_PROCESSED = 23

PLATFORMS = ("android", "ios", "web")
WEB = 2

# Cancellation or return reason that the kernel, not the config, decides.
PAYMENT_NOT_COMPLETED = 0

# Kernel output: two row-major matrices, one int64 ("wide") for times, ids and money, one int16
# ("narrow") for codes, so a row costs 108 bytes instead of 216; NULL = -1 in both.
WIDE_COLUMNS = ("event_ts", "ingest_ts", "session_seq", "user_idx", "product_idx", "unit_price", "order_seq",
                "order_total", "discount")
NARROW_COLUMNS = ("event_type", "platform", "device_brand", "app_version", "carrier", "network", "traffic_source",
                  "state", "city", "category", "quantity", "search_term", "payment_method", "payment_provider",
                  "attempt", "failure_reason", "status_reason", "logistics_partner")
# The canonical order of the kernel's columns (the driver's output and the golden hashes use it).
COLUMNS = (
    "event_type", "event_ts", "ingest_ts", "session_seq", "user_idx", "platform", "device_brand",
    "app_version", "carrier", "network", "traffic_source", "state", "city", "product_idx", "category",
    "unit_price", "quantity", "search_term", "order_seq", "order_total", "discount", "payment_method",
    "payment_provider", "attempt", "failure_reason", "status_reason", "logistics_partner",
)
N_WIDE = len(WIDE_COLUMNS)
N_NARROW = len(NARROW_COLUMNS)
(W_EVENT_TS, W_INGEST_TS, W_SESSION, W_USER, W_PRODUCT, W_UNIT_PRICE, W_ORDER, W_ORDER_TOTAL,
 W_DISCOUNT) = range(N_WIDE)
(N_EVENT_TYPE, N_PLATFORM, N_BRAND, N_APP_VERSION, N_CARRIER, N_NETWORK, N_SOURCE, N_STATE, N_CITY, N_CATEGORY,
 N_QUANTITY, N_SEARCH_TERM, N_PAYMENT_METHOD, N_PAYMENT_PROVIDER, N_ATTEMPT, N_FAILURE_REASON, N_STATUS_REASON,
 N_LOGISTICS_PARTNER) = range(N_NARROW)

# Upper bound on the rows one journey (a session plus its order's lifecycle) can
# emit; the driver allocates this much slack past the chunk's end so a journey that
# the chunk boundary cuts can be written whole and then dropped as a prefix.
MAX_VIEWS = 120
MAX_SEARCHES = 12
MAX_CART = 32
JOURNEY_SLACK = 1024
