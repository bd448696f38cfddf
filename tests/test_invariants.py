"""The contract's invariants as properties over whole runs (smoke: every branch; mid: the defaults)."""
import pyarrow as pa
import pytest

from oracles import _order_path_violation, all_violations


@pytest.mark.parametrize("fixture", ["smoke_run", "mid_run"])
def test_whole_run_meets_every_invariant(fixture, request):
    _, _, tables = request.getfixturevalue(fixture)
    assert all_violations(tables) == []


def test_smoke_run_exercises_every_event_type(smoke_run):
    from temu_gen.kernels.codes import EVENT_TYPES
    _, _, tables = smoke_run
    seen = set(pa.concat_tables(tables)["event_type"].to_pylist())
    assert seen == set(EVENT_TYPES)


def test_smoke_run_has_pay_on_delivery_and_retries(smoke_run):
    import pyarrow.compute as pc
    t = pa.concat_tables(smoke_run[2])
    paid = t.filter(pc.equal(t["event_type"], "payment_succeeded"))
    assert pc.sum(pc.is_null(paid["session_id"])).as_py() > 0  # paid at the door
    retries = t.filter(pc.greater(t["attempt_number"], 1))
    assert retries.num_rows > 0


@pytest.mark.parametrize("events,problem", [
    (["order_placed", "order_shipped"], "prepaid order shipped before payment_succeeded"),
    (["order_placed", "payment_initiated", "payment_succeeded", "order_shipped", "order_cancelled"], "cancel after"),
    (["order_placed", "order_cancelled", "order_shipped"], "after order_cancelled"),
    (["order_placed", "payment_initiated", "payment_succeeded", "order_shipped", "delivered"], "before out_for"),
    (["order_placed", "payment_initiated", "payment_succeeded", "return_requested"], "return before"),
    (["payment_initiated", "order_placed"], "starts with"),
    (["order_placed", "order_placed"], "second order_placed"),
])
def test_oracle_rejects_impossible_lifecycles(events, problem):
    # an oracle that accepts everything would make the property tests above meaningless
    assert problem in (_order_path_violation(events, pod=False) or "")


def test_oracle_accepts_a_full_prepaid_return():
    path = ["order_placed", "payment_initiated", "payment_failed", "payment_initiated", "payment_succeeded",
            "order_shipped", "hub_arrival", "out_for_delivery", "delivery_failed", "out_for_delivery", "delivered",
            "return_requested", "refund_processed"]
    assert _order_path_violation(path, pod=False) is None
    assert _order_path_violation(["order_placed", "order_shipped", "hub_arrival", "out_for_delivery", "delivered",
                                  "payment_succeeded"], pod=True) is None
