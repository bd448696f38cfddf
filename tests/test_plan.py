"""Planning: chunks tile the run exactly."""
import pytest

from temu_gen.plan import plan_chunks


@pytest.mark.parametrize("events,size", [(2_100_000, 500_000), (10, 3), (7, 7), (5, 100), (1, 1), (999_999, 1000)])
def test_chunks_tile_the_run(events, size):
    specs = plan_chunks(events, size, 1)
    assert sum(s.n_rows for s in specs) == events
    assert [s.index for s in specs] == list(range(len(specs)))
    assert all(s.n_rows == min(size, events) for s in specs[:-1])
    assert 0 < specs[-1].n_rows <= min(size, events)
    assert [s.row_start for s in specs] == [sum(x.n_rows for x in specs[:i]) for i in range(len(specs))]
    assert specs[0].quantiles[0] == 0.0 and specs[-1].quantiles[1] == 1.0


def test_chunk_k_does_not_depend_on_the_rest_of_the_plan():
    assert plan_chunks(2_000_000, 500_000, 9)[2] == plan_chunks(2_100_000, 500_000, 9)[2]._replace(total_rows=2_000_000)
    assert plan_chunks(100, 10, 1)[3].session_seed != plan_chunks(100, 10, 2)[3].session_seed
