"""Layout: parts tile the run exactly, lazily, whatever its size."""
import pytest

from temu_gen.plan import plan_chunks


@pytest.mark.parametrize("events,size", [(2_100_000, 500_000), (10, 3), (7, 7), (5, 100), (1, 1), (999_999, 1000)])
def test_parts_tile_the_run(events, size):
    specs = plan_chunks(events, size)
    assert sum(s.n_rows for s in specs) == events
    assert [s.index for s in specs] == list(range(len(specs)))
    assert all(s.n_rows == min(size, events) for s in specs[:-1])
    assert 0 < specs[-1].n_rows <= min(size, events)
    assert [s.row_start for s in specs] == [sum(x.n_rows for x in specs[:i]) for i in range(len(specs))]


def test_a_huge_layout_costs_nothing_to_plan():
    plan = plan_chunks(10**11, 10**6)
    assert len(plan) == 100_000 and plan[-1].row_start == 10**11 - 10**6 and plan[-1].n_rows == 10**6
    assert plan[12_345] == plan_chunks(10**11 - 7, 10**6)[12_345]  # part k depends only on (k, size)
