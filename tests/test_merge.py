"""The ordered reduce: parts are exact windows of the merged log, whatever the runs look like."""
import numpy as np
import pytest

from temu_gen import generate, merge, spool
from temu_gen.kernels.codes import ORDER_PLACED, WIDE_COLUMNS

INGEST = WIDE_COLUMNS.index("ingest_ts")


@pytest.fixture(scope="module")
def spooled(smoke_cfg, tmp_path_factory):
    """Three shards of the smoke config, spooled in small runs (several per shard), numbered."""
    ctx = generate.make_context(smoke_cfg, 5)
    folder = tmp_path_factory.mktemp("spool")
    buckets = spool.hist_buckets(smoke_cfg.period.days)
    summaries = []
    for shard, (u0, u1) in enumerate(((0, 70), (70, 95), (95, 180))):
        for k, arrays in enumerate(generate.simulate_runs(u0, u1, ctx, capacity=3_000)):
            summaries.append(spool.write_shard(folder, shard * spool.RUNS_PER_SHARD + k, arrays,
                                               ctx.params.time.start_us, buckets))
    merge.number_orders(folder, summaries)
    return folder, summaries


def _whole_log(folder, summaries):
    """The oracle: every run concatenated in key order, then one stable sort by arrival."""
    wide = np.concatenate([np.load(spool.shard_path(folder, s.key, "wide")) for s in summaries], axis=1)
    return wide[:, np.argsort(wide[INGEST], kind="stable")]


@pytest.mark.parametrize("events,size", [(10_000, 3_000), (9_999, 10_000), (1, 1), (7_777, 1_000)])
def test_parts_are_exact_windows_of_the_merged_log(spooled, events, size):
    folder, summaries = spooled
    assert len(summaries) > 3 and sum(s.rows for s in summaries) > 10_000
    log = _whole_log(folder, summaries)
    parts = merge.plan_parts(folder, summaries, events, size)
    assert [p.n_rows for p in parts] == [min(size, events - k * size) for k in range(len(parts))]
    got = np.concatenate([merge.merge_part(folder, p)[0] for p in parts], axis=1)
    order = WIDE_COLUMNS.index("order")
    keep = [j for j in range(log.shape[0]) if j != order]  # order columns are renumbered globally
    assert (got[keep] == log[keep, :events]).all()


@pytest.mark.parametrize("rows", [1, 7, 1_000, 2_999, 3_000, 50_000])
def test_a_part_read_in_slices_is_the_whole_part(spooled, rows):
    """Slices are contiguous ranges of each run; whatever their size, they join into the whole merge."""
    folder, summaries = spooled
    part = merge.plan_parts(folder, summaries, 10_000, 3_000)[1]
    assert len(part.slices) > 3
    whole_w, whole_n = merge.merge_part(folder, part)
    with merge.read_part(folder, part) as p:
        blocks = list(p.slices(rows))
    assert [b[0].shape[1] for b in blocks] == [min(rows, part.n_rows - at) for at in range(0, part.n_rows, rows)]
    assert (np.concatenate([b[0] for b in blocks], axis=1) == whole_w).all()
    assert (np.concatenate([b[1] for b in blocks], axis=1) == whole_n).all()


def test_orders_are_numbered_by_placement_time(spooled):
    folder, summaries = spooled
    parts = merge.plan_parts(folder, summaries, 10_000, 10_000)
    wide, narrow = merge.merge_part(folder, parts[0])
    order, ts = wide[WIDE_COLUMNS.index("order")], wide[WIDE_COLUMNS.index("event_ts")]
    placed = narrow[0] == ORDER_PLACED
    numbers = order[placed][np.argsort(ts[placed], kind="stable")]
    assert len(numbers) > 20 and (np.diff(numbers) > 0).all()
