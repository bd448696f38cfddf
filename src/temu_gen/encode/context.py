"""The optional ``context`` column: one JSON object per event, built from the row's columns with Arrow compute.

Every piece of the object that depends only on a few small codes is written once per
combination, in Python, into a small string table (:class:`Tables`, cached per set of
dictionaries): the device's model, OS, screen, user agent and SDK for each (platform,
brand, model, OS version, ad tracking, app version); the web page for each (event type,
traffic source); the locale; the network and IP range; the campaign; the experiments.
Per row, numpy computes an index into each table from the codes and from keyed hashes
of the device, session and user ids, ``take`` picks the pieces, and one
``binary_join_element_wise`` joins them. No Python runs per row.

Invariant: the column is a pure function of (run seed, the row's columns,
:mod:`temu_gen.client_context`): a device keeps its model, OS, screen, locale and
experiments wherever its rows fall; a session keeps its IP and campaign; the user agent
names the row's own app version. So files are byte-identical under any worker count.
"""
from __future__ import annotations

import functools
import json
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import client_context as cc
from ..seeds import derive_seed

COLUMNS = ("event_type", "device_id", "session_id", "user_id", "platform", "device_brand", "app_version", "carrier",
           "network_type", "traffic_source", "state")
"""The columns the context is computed from."""
_DICTS = ("event_type", "platform", "device_brand", "app_version", "carrier", "network_type", "traffic_source", "state")
_LOCALES = ("en-NG", "ha-NG", "yo-NG", "ig-NG", "pcm-NG")


class Profile(NamedTuple):
    kind: str
    """android, ios or web."""
    manufacturer: str
    model: cc.Model
    os_version: str
    browser: str


class Tables(NamedTuple):
    """String tables for one set of dictionaries; ``*_start``/``*_count`` give each code's range of rows."""

    kind: np.ndarray
    """Per platform code (+ null): 0 android, 1 ios, 2 web."""
    profile_start: np.ndarray
    """Per (platform, brand) pair, both with a null slot: the first of its profiles."""
    profile_count: np.ndarray
    device: pa.StringArray
    """Per ((profile * 2 + ad tracking) * versions + app version)."""
    versions: int
    page: pa.StringArray
    """Per (event type * sources + traffic source), plus a last empty entry for app events."""
    sources: int
    language: np.ndarray
    """Per state code (+ null): index into _LOCALES of the region's language."""
    locale: pa.StringArray
    network: pa.StringArray
    """Per (carrier * networks + network type); the last carrier slot (null) is empty."""
    networks: int
    octet: pa.StringArray
    octet_end: pa.StringArray
    campaign: pa.StringArray
    campaign_start: np.ndarray
    campaign_count: np.ndarray
    experiments: pa.StringArray


def _j(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _kind(platform: str | None) -> str:
    return platform if platform in ("android", "ios", "web") else "android"


def _brand_kind(brand: str) -> str:
    return "ios" if brand == "Apple" else "web" if brand.endswith("browser") else "android"


def _profiles(kind: str, brand: str | None) -> list[Profile]:
    """Every (model, OS version, browser) a device of this platform and brand may be."""
    if brand is not None and brand in cc.BRAND_MODELS and _brand_kind(brand) == kind:
        maker, models = cc.BRAND_MODELS[brand]
    elif kind == "android":
        maker, models = brand or "Android", (cc.GENERIC_MODEL,)
    else:
        maker, models = cc.BRAND_MODELS["Apple" if kind == "ios" else "Mobile browser"]
    browsers = cc.CHROME if kind == "web" else ("",)
    return [Profile(kind, maker, m, v, b) for m in models for v in m.os_versions for b in browsers]


def _user_agent(p: Profile, version: str) -> str:
    m, v = p.model, p.os_version
    if p.kind == "android":
        return f"Temu/{version} (Linux; U; Android {v}; {m.model} Build/{cc.ANDROID_BUILDS.get(v, 'UP1A.231005.007')})"
    if p.kind == "ios":
        return f"Temu/{version} ({m.model}; iOS {v}; Scale/{m.density:.2f})"
    webkit = "AppleWebKit/537.36 (KHTML, like Gecko)"
    if m.model == "iPhone":
        u = v.replace(".", "_")
        return f"Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " \
               f"Version/{v} Mobile/15E148 Safari/604.1"
    if m.model == "Android":
        return f"Mozilla/5.0 (Linux; Android {v}; K) {webkit} Chrome/{p.browser} Mobile Safari/537.36"
    system = "Windows NT 10.0; Win64; x64" if m.model == "Windows" else f"Macintosh; Intel Mac OS X {v}"
    return f"Mozilla/5.0 ({system}) {webkit} Chrome/{p.browser.split('.')[0]}.0.0.0 Safari/537.36"


def _device_piece(p: Profile, tracking: bool, version: str | None) -> str:
    """Everything after the device id: the rest of ``device``, then ``app``, ``os``, ``screen``, ``userAgent`` and
    ``library``."""
    m = p.model
    if p.kind == "web":
        device = '"type":"browser"'
        os_name = {"Android": "Android", "iPhone": "iOS", "Windows": "Windows"}.get(m.model, "Mac OS X")
        app = ""
    else:
        device = f'"manufacturer":{_j(p.manufacturer)},"model":{_j(m.model)},"type":"{p.kind}",' \
                 f'"adTrackingEnabled":{"true" if tracking else "false"}'
        os_name = "Android" if p.kind == "android" else "iOS"
        app = "" if version is None else (f'"app":{{"name":"{cc.APP[0]}","version":{_j(version)},'
                                          f'"build":{_j(_build(version))}}},')
    library = cc.LIBRARIES[p.kind]
    return (f'",{device}}},{app}"os":{{"name":"{os_name}","version":{_j(p.os_version)}}},'
            f'"screen":{{"width":{m.width},"height":{m.height},"density":{m.density}}},'
            f'"userAgent":{_j(_user_agent(p, version or ""))},'
            f'"library":{{"name":"{library[0]}","version":"{library[1]}"}},')


def _build(version: str) -> str:
    """'2.34.2' -> '23402', the store's build number."""
    try:
        x, y, z = (int(part) for part in version.split("."))
    except ValueError:
        return version
    return str(x * 10000 + y * 100 + z)


def _ranges(groups: list[list]) -> tuple[list, np.ndarray, np.ndarray]:
    """The groups back to back, and where each starts and how many it holds."""
    count = np.array([len(g) for g in groups], np.int64)
    return [x for g in groups for x in g], np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64), count


def _campaigns(source: str | None) -> list[str]:
    if source is None or source in cc.NO_CAMPAIGN:
        return [""]
    utm_sources, medium = cc.UTM.get(source, ((source,), "other"))
    return [f'"campaign":{{"name":"{c}","source":{_j(s)},"medium":{_j(medium)}}},'
            for c in cc.CAMPAIGNS for s in utm_sources]


def _experiments() -> list[str]:
    combos = [""]
    for e in cc.EXPERIMENTS:  # mixed radix, the first experiment the most significant digit
        combos = [f'{c},"{e.name}":"{v}"' if c else f'"{e.name}":"{v}"' for c in combos for v in e.variants]
    return [f'"experiments":{{{c}}}}}' for c in combos]


@functools.lru_cache(maxsize=4)
def tables(dictionaries: tuple[tuple[str, ...], ...], regions: tuple[tuple[str, str], ...]) -> Tables:
    """The string tables for these dictionaries (in :data:`_DICTS` order) and (state, region) pairs."""
    d = dict(zip(_DICTS, dictionaries))
    platforms, brands = list(d["platform"]) + [None], list(d["device_brand"]) + [None]
    profiles, profile_start, profile_count = _ranges([_profiles(_kind(p), b) for p in platforms for b in brands])
    versions = list(d["app_version"]) + [None]
    device = [_device_piece(p, t, v) for p in profiles for t in (False, True) for v in versions]
    sources = list(d["traffic_source"]) + [None]
    page = []
    for et in list(d["event_type"]) + [None]:
        path = cc.PAGE_PATHS.get(et, "/ng/")
        page += [f'"page":{{"path":"{path}","url":"{cc.SITE}{path}","referrer":{_j(cc.REFERRERS.get(s, ""))}}},'
                 for s in sources]
    region = dict(regions)
    language = [_LOCALES.index(f"{cc.LANGUAGES.get(region.get(s, ''), 'pcm')}-NG") for s in d["state"]] + [0]
    networks = list(d["network_type"]) + [None]
    network = []
    for carrier in list(d["carrier"]) + [None]:
        ip = cc.CARRIER_IPS.get(carrier, cc.OTHER_IP)
        for n in networks:
            link = "" if n is None else f',"cellular":{"false" if n == "wifi" else "true"},' \
                                        f'"wifi":{"true" if n == "wifi" else "false"}'
            network.append("" if carrier is None else f'"network":{{"carrier":{_j(carrier)}{link}}},"ip":"{ip}.')
    campaign, campaign_start, campaign_count = _ranges([_campaigns(s) for s in sources])
    return Tables(np.array([("android", "ios", "web").index(_kind(p)) for p in platforms], np.int64),
                  profile_start, profile_count, pa.array(device + [""], pa.string()), len(versions),
                  pa.array(page + [""], pa.string()), len(sources), np.array(language, np.int64),
                  pa.array([f'"locale":"{loc}","timezone":"{cc.TIMEZONE}",' for loc in _LOCALES], pa.string()),
                  pa.array(network, pa.string()), len(networks),
                  pa.array([f"{i}." for i in range(256)] + [""], pa.string()),
                  pa.array([f'{i}",' for i in range(256)] + [""], pa.string()),
                  pa.array(campaign, pa.string()), campaign_start, campaign_count,
                  pa.array(_experiments(), pa.string()))


class Keys(NamedTuple):
    """The run's hash keys for the ids the context derives from: from (seed, 'context/...')."""

    device: int
    session: int
    user: int
    locale: int
    experiments: int

    @classmethod
    def for_run(cls, seed: int) -> Keys:
        return cls(*(np.uint64(derive_seed(seed, f"context/{name}")) for name in cls._fields))


def _mix(x: np.ndarray, key) -> np.ndarray:
    """splitmix64's finaliser of ``x ^ key``: a keyed 64-bit hash of each value."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64) ^ np.uint64(key)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def hash_strings(arr: pa.StringArray, key) -> np.ndarray:
    """A keyed 64-bit hash of each string (0-padded to whole words, length mixed in); nulls hash as ''."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], np.int32, n + 1, arr.offset * 4).astype(np.int64)
    lengths = np.where(np.asarray(arr.is_valid()), np.diff(offsets), 0)
    width = -(-int(lengths.max(initial=0)) // 8) * 8
    h = _mix(lengths, key)
    if width:
        data = np.frombuffer(arr.buffers()[2], np.uint8)
        at = np.arange(width)
        grid = np.where(at < lengths[:, None], data[np.minimum(offsets[:-1, None] + at, data.size - 1)], 0)
        for word in np.ascontiguousarray(grid, np.uint8).view("<u8").T:
            h = _mix(h ^ word, key)
    return h


def _codes(arr: pa.Array, size: int) -> np.ndarray:
    """A dictionary column's codes, null as ``size`` (the tables' null slot)."""
    return np.asarray(pc.fill_null(arr.indices, size)).astype(np.int64)


def context_column(batch: pa.RecordBatch | pa.Table, keys: Keys, regions: tuple[tuple[str, str], ...]) -> pa.Array:
    """The ``context`` strings of ``batch``'s rows (events, schema version 1: the :data:`COLUMNS` it needs)."""
    col = {c: (batch.column(c).combine_chunks() if isinstance(batch, pa.Table) else batch.column(c)) for c in COLUMNS}
    t = tables(tuple(tuple(col[c].dictionary.to_pylist()) for c in _DICTS), regions)
    code = {c: _codes(col[c], len(col[c].dictionary)) for c in _DICTS}
    dev_ok, ses_ok = np.asarray(col["device_id"].is_valid()), np.asarray(col["session_id"].is_valid())
    hd, hs = hash_strings(col["device_id"], keys.device), hash_strings(col["session_id"], keys.session)
    hu = _mix(np.asarray(pc.fill_null(col["user_id"], 0)).view(np.uint64), keys.user)
    hs = np.where(ses_ok, hs, hd)  # outside a session (return_requested) the device's own address and no campaign
    owner = np.where(dev_ok, hd, hu)  # client events: the device's locale and experiments; server events: the user's
    n_brand = len(col["device_brand"].dictionary) + 1
    pair = code["platform"] * n_brand + code["device_brand"]
    profile = t.profile_start[pair] + (hd % t.profile_count[pair].astype(np.uint64)).astype(np.int64)
    tracking = (hd >> np.uint64(40)) % np.uint64(100) < np.uint64(85)
    device = np.where(dev_ok, (profile * 2 + tracking) * t.versions + code["app_version"], len(t.device) - 1)
    web = dev_ok & (t.kind[code["platform"]] == 2)
    page = np.where(web, code["event_type"] * t.sources + code["traffic_source"], len(t.page) - 1)
    u = (_mix(owner, keys.locale) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    share = np.cumsum([s for _, s in cc.LOCALE_SHARES])
    locale = np.where(u < share[0], 0, np.where(u < share[1], t.language[code["state"]], len(_LOCALES) - 1))
    carrier_ok = code["carrier"] < len(col["carrier"].dictionary)
    octet = np.where(carrier_ok, (hs >> np.uint64(8)) % np.uint64(256), 256).astype(np.int64)
    octet_end = np.where(carrier_ok, (hs >> np.uint64(16)) % np.uint64(256), 256).astype(np.int64)
    source = code["traffic_source"]
    campaign = t.campaign_start[source] + (hs % t.campaign_count[source].astype(np.uint64)).astype(np.int64)
    head = pc.binary_join_element_wise('{"device":{"id":"', col["device_id"], t.device.take(device), "")
    head = pc.fill_null(head, '{"library":{"name":"%s","version":"%s"},' % cc.LIBRARIES["server"])
    network = code["carrier"] * t.networks + code["network_type"]
    return pc.binary_join_element_wise(
        head, t.page.take(page), t.locale.take(locale), t.network.take(network), t.octet.take(octet),
        t.octet_end.take(octet_end), t.campaign.take(campaign),
        t.experiments.take(_experiment_index(owner, keys.experiments)), "")


def _experiment_index(owner: np.ndarray, key) -> np.ndarray:
    h = _mix(owner, key)
    index = np.zeros(owner.shape, np.int64)
    for e in cc.EXPERIMENTS:
        h, digit = np.divmod(h, np.uint64(len(e.variants)))
        index = index * len(e.variants) + digit.astype(np.int64)
    return index
