"""What the optional ``context`` column says (``run.context``, ``--context``), declared once as data.

The column is the context object an analytics SDK attaches to every event (Segment's
``context``): the device and its screen, the OS, the app build or the web page, the
user agent, locale and timezone, the network and IP, the campaign (UTM parameters) and
the A/B experiments the device or user is in. :mod:`temu_gen.encode.context` builds it
from these tables and the row's own columns; the data dictionary lists :data:`KEYS`.

Invariant: every value here is a constant, so the column is a pure function of (run
seed, the row's columns, this module). Devices of a brand get that brand's models; a
brand the config invents gets a generic model of its platform. Imports nothing heavy.
"""
from __future__ import annotations

from typing import NamedTuple


class Model(NamedTuple):
    """A handset (or a browser set-up for web) a device of the brand may be."""

    model: str
    width: int
    height: int
    density: float
    os_versions: tuple[str, ...]


_A = ("11", "12", "13")
_A2 = ("12", "13", "14")
BRAND_MODELS: dict[str, tuple[str, tuple[Model, ...]]] = {
    # brand -> (manufacturer as the OS reports it, models); Nigeria's best sellers of 2023-24 [E]
    "Tecno": ("TECNO", (Model("TECNO KI7", 1080, 2460, 2.75, _A2), Model("TECNO CK7n", 1080, 2400, 2.75, _A2),
                        Model("TECNO BG6", 720, 1612, 1.75, _A), Model("TECNO LH7n", 1080, 2460, 2.75, _A2))),
    "Infinix": ("INFINIX", (Model("Infinix X6833B", 1080, 2460, 2.75, _A2),
                            Model("Infinix X6525", 720, 1612, 1.75, _A2),
                            Model("Infinix X6831", 1080, 2460, 2.75, _A), Model("Infinix X669C", 720, 1612, 1.75, _A))),
    "Samsung": ("samsung", (Model("SM-A145F", 1080, 2408, 2.625, _A2), Model("SM-A055F", 720, 1600, 1.75, _A2),
                            Model("SM-A346E", 1080, 2340, 2.625, _A2), Model("SM-S911B", 1080, 2340, 3.0, ("14",)))),
    "Xiaomi": ("Xiaomi", (Model("23021RAAEG", 1080, 2400, 2.75, _A2), Model("23100RN82L", 720, 1600, 1.75, _A2),
                          Model("23028RN4DG", 720, 1600, 1.75, ("12", "13")))),
    "itel": ("itel", (Model("itel A665L", 720, 1612, 1.75, ("13",)), Model("itel S665L", 720, 1612, 1.75, ("12", "13")),
                      Model("itel A571L", 720, 1612, 1.75, ("11", "12")))),
    "Huawei": ("HUAWEI", (Model("JKM-LX1", 1080, 2340, 2.625, ("10",)), Model("MAR-LX1M", 1080, 2312, 2.5, ("10",)))),
    "Oppo": ("OPPO", (Model("CPH2477", 720, 1612, 1.75, ("12", "13")), Model("CPH2591", 1080, 2400, 2.625, _A2))),
    "Vivo": ("vivo", (Model("V2207", 720, 1600, 1.75, ("12", "13")), Model("V2247", 1080, 2388, 2.75, _A2))),
    "Other Android": ("Nokia", (Model("Nokia G21", 720, 1600, 1.75, _A), Model("Nokia C32", 720, 1600, 1.75, _A2))),
    "Apple": ("Apple", (Model("iPhone11,8", 414, 896, 2.0, ("16.7.10", "17.6.1")),
                        Model("iPhone12,1", 414, 896, 2.0, ("17.6.1", "18.1.1")),
                        Model("iPhone13,2", 390, 844, 3.0, ("17.6.1", "18.1.1", "18.2")),
                        Model("iPhone14,7", 390, 844, 3.0, ("18.1.1", "18.2")),
                        Model("iPhone15,4", 393, 852, 3.0, ("18.1.1", "18.2")))),
    "Mobile browser": ("", (Model("Android", 393, 873, 2.75, _A2), Model("iPhone", 390, 844, 3.0, ("17.6.1", "18.2")))),
    "Desktop browser": ("", (Model("Windows", 1366, 768, 1.0, ("10.0",)), Model("Windows", 1920, 1080, 1.0, ("10.0",)),
                             Model("Macintosh", 1440, 900, 2.0, ("10_15_7",)))),
}
GENERIC_MODEL = Model("Android", 720, 1600, 1.75, _A2)
"""A brand the table does not know (a config may add one): an Android phone named after the brand."""

ANDROID_BUILDS = {"10": "QP1A.190711.020", "11": "RP1A.200720.011", "12": "SP1A.210812.016",
                  "13": "TP1A.220624.014", "14": "UP1A.231005.007"}
CHROME = ("130.0.6723.107", "131.0.6778.135", "131.0.6778.200")
LIBRARIES = {"android": ("analytics-android", "4.11.3"), "ios": ("analytics-ios", "4.1.8"),
             "web": ("analytics.js", "next-1.74.0"), "server": ("temu-order-service", "5.12.0")}
APP = ("Temu",)
"""The app's name."""

LANGUAGES = {"north_west": "ha", "north_east": "ha", "north_central": "ha", "south_west": "yo",
             "south_east": "ig", "south_south": "pcm"}
"""The region's common language besides English (the six geopolitical zones, as the config names them)."""
LOCALE_SHARES = (("en", 0.80), ("local", 0.13), ("pcm", 0.07))
"""A device's locale: English, the region's language, or Nigerian Pidgin ('local' in the south-south is pcm)."""
TIMEZONE = "Africa/Lagos"

CARRIER_IPS = {"MTN": "102.89", "Airtel": "105.112", "Glo": "197.211", "9mobile": "41.190"}
"""A /16 of each operator's mobile range (wifi sessions keep the SIM's operator range: home routers are theirs too)."""
OTHER_IP = "129.205"

UTM: dict[str, tuple[tuple[str, ...], str]] = {
    # traffic_source -> (utm_source options, utm_medium); sources not listed keep their name, medium 'other'
    "paid_social": (("facebook", "instagram", "tiktok"), "paid_social"),
    "search_ads": (("google",), "cpc"),
    "influencer": (("instagram", "tiktok", "youtube"), "influencer"),
    "referral": (("temu_app",), "referral"),
    "app_store_search": (("google_play", "app_store"), "app_store"),
    "push_notification": (("braze",), "push"),
    "email": (("braze",), "email"),
}
NO_CAMPAIGN = frozenset({"organic", "organic_web"})
"""Sources that carry no campaign: the app was opened directly, or came from an unpaid search result."""
CAMPAIGNS = ("ng_launch_nov24", "ng_black_friday_24", "ng_cyber_week_24", "ng_xmas_deals_24",
             "ng_new_year_25", "ng_free_shipping")

SITE = "https://www.temu.com"
PAGE_PATHS = {"search": "/ng/search_result.html", "category_view": "/ng/channel/category.html",
              "product_view": "/ng/goods.html", "add_to_wishlist": "/ng/goods.html", "add_to_cart": "/ng/goods.html",
              "remove_from_cart": "/ng/cart.html", "view_cart": "/ng/cart.html", "apply_coupon": "/ng/checkout.html",
              "begin_checkout": "/ng/checkout.html", "order_placed": "/ng/checkout.html",
              "order_item": "/ng/checkout.html", "payment_initiated": "/ng/pay.html", "payment_failed": "/ng/pay.html",
              "payment_succeeded": "/ng/pay.html", "sign_up": "/ng/login.html", "login": "/ng/login.html",
              "logout": "/ng/bgp_user_profile.html", "return_requested": "/ng/bgt_orders.html"}
"""The web page an event is sent from; other event types are sent from the home page ``/ng/``."""
REFERRERS = {"organic_web": "https://www.google.com/", "search_ads": "https://www.google.com/",
             "paid_social": "https://l.facebook.com/", "influencer": "https://www.instagram.com/"}
"""The referrer of a web session by its traffic_source (none for the others)."""


class Experiment(NamedTuple):
    name: str
    variants: tuple[str, ...]


EXPERIMENTS = (
    Experiment("checkout_flow", ("control", "one_page")),
    Experiment("free_shipping_banner", ("control", "countdown", "progress_bar")),
    Experiment("search_ranker", ("bm25", "ltr_v3")),
    Experiment("price_anchor", ("control", "strikethrough")),
)
"""A/B tests, each assigned by a keyed hash of the device (client events) or the user (server events)."""

KEYS = {
    "device": "id (= device_id), manufacturer, model, type (android, ios, browser), adTrackingEnabled",
    "app": "name, version (= app_version), build (app events only)",
    "page": "path, url, referrer (web events only; the path follows event_type)",
    "os": "name, version",
    "screen": "width, height, density",
    "userAgent": "the app's or the browser's user agent, naming the same app version, OS and model",
    "library": "the SDK (analytics-android, analytics-ios, analytics.js) or, on server events, the service",
    "locale": "en-NG, or ha-NG, yo-NG, ig-NG, pcm-NG after the home state's region",
    "timezone": "always Africa/Lagos",
    "network": "carrier, cellular, wifi (= carrier, network_type)",
    "ip": "an address in the carrier's range, fixed per session",
    "campaign": "name, source, medium: UTM parameters from traffic_source, fixed per session "
                "(absent for organic sources and server events)",
    "experiments": "checkout_flow, free_shipping_banner, search_ranker, price_anchor",
}
"""The context object's keys and what each holds (the data dictionary lists them)."""
SERVER_KEYS = ("library", "locale", "timezone", "experiments")
"""The keys of a server event's context (no device: fulfilment, refunds, payment at the door)."""
