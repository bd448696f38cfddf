"""The mid-size default run follows the config: categorical mixes (chi-square) and funnel rates."""
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats

from temu_gen.config import Weights
from temu_gen.kernels.codes import PLATFORMS

ALPHA = 0.001  # a true mix fails one of these ~0.1% of the time; the data is seeded, so it is stable


@pytest.fixture(scope="module")
def events(mid_run):
    return pa.concat_tables(mid_run[2])


def _of(t, event_type):
    return t.filter(pc.equal(t["event_type"], event_type))


def _chi2(values, names, weights):
    counts = np.array([values.count(n) for n in names], dtype=float)
    w = np.asarray(weights, dtype=float)
    keep = w > 0
    assert counts[~keep].sum() == 0
    return stats.chisquare(counts[keep], w[keep] / w[keep].sum() * counts.sum()).pvalue


def test_user_mix(events, default_cfg):
    opens = _of(events, "app_open")
    users = pc.unique(opens["user_id"])
    first = opens.take(pc.index_in(users, opens["user_id"]).to_numpy()) if False else None  # noqa: F841
    _, idx = np.unique(opens["user_id"].to_numpy(), return_index=True)
    per_user = opens.take(idx)
    assert _chi2(per_user["platform"].to_pylist(), PLATFORMS,
                 [default_cfg.devices["platforms"][p] for p in PLATFORMS]) > ALPHA
    assert _chi2(per_user["state"].to_pylist(), [s.name for s in default_cfg.states],
                 [s.weight for s in default_cfg.states]) > ALPHA
    carriers = Weights.parse(default_cfg.devices["carriers"])
    assert _chi2(per_user["carrier"].to_pylist(), carriers.names, carriers.values) > ALPHA


def test_session_and_order_mix(events, default_cfg):
    nets = Weights.parse(default_cfg.devices["networks"])
    assert _chi2(_of(events, "app_open")["network_type"].to_pylist(), nets.names, nets.values) > ALPHA
    cats = default_cfg.categories
    assert _chi2(_of(events, "search")["category"].to_pylist(), [c.name for c in cats], [c.weight for c in cats]) > ALPHA
    methods = default_cfg.methods
    assert _chi2(_of(events, "order_placed")["payment_method"].to_pylist(), [m.name for m in methods],
                 [m.weight for m in methods]) > ALPHA


def test_hour_of_day_follows_the_curve(events, default_cfg):
    ts = _of(events, "app_open")["event_ts"].to_numpy().astype("datetime64[us]").astype(np.int64)
    hours = ((ts // 3_600_000_000) + int(default_cfg.utc_offset_hours)) % 24
    counts = np.bincount(hours, minlength=24)
    w = np.asarray(default_cfg.hourly_weights)
    assert stats.chisquare(counts, w / w.sum() * counts.sum()).pvalue > ALPHA


def test_funnel_is_calibrated_to_real_shops(events):
    n = {e: _of(events, e).num_rows for e in ("app_open", "product_view", "add_to_cart", "order_placed")}
    cart_sessions = pc.count_distinct(_of(events, "add_to_cart")["session_id"]).as_py()
    view_to_cart = n["add_to_cart"] / n["product_view"]
    abandonment = 1 - n["order_placed"] / cart_sessions
    session_to_order = n["order_placed"] / n["app_open"]
    assert 0.02 <= view_to_cart <= 0.03, view_to_cart
    assert 0.62 <= abandonment <= 0.78, abandonment
    assert 0.015 <= session_to_order <= 0.03, session_to_order


def test_card_failure_rate_and_late_ingest(events, default_cfg):
    first = events.filter(pc.and_(pc.equal(events["event_type"], "payment_initiated"),
                                  pc.and_(pc.equal(events["attempt_number"], 1),
                                          pc.equal(events["payment_method"], "card"))))
    failed = events.filter(pc.and_(pc.equal(events["event_type"], "payment_failed"),
                                   pc.and_(pc.equal(events["attempt_number"], 1),
                                           pc.equal(events["payment_method"], "card"))))
    card = next(m for m in default_cfg.methods if m.name == "card")
    assert stats.binomtest(failed.num_rows, first.num_rows, card.first_attempt_failure).pvalue > ALPHA
    client = events.filter(pc.is_valid(events["session_id"]))
    lag = client["ingest_ts"].to_numpy().astype(np.int64) - client["event_ts"].to_numpy().astype(np.int64)
    late = (lag >= 3_600_000_000).mean()
    assert abs(late - default_cfg.run.late_ingest_share) < 0.004
    assert np.median(lag) < 5_000_000  # most within seconds
