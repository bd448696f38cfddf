"""Population sizing: users are a fixed sequence, shards tile them, and the pilot sizes the run."""
import numpy as np

from temu_gen import generate
from temu_gen.kernels.codes import WIDE_COLUMNS
from temu_gen.population import more_users, shards, size_population


def test_sizing_scales_with_the_run():
    small = size_population(2_100_000, pilot_rows=100_000, pilot_users=1000, margin=0.05, target_shard_events=250_000)
    big = size_population(21_000_000, pilot_rows=100_000, pilot_users=1000, margin=0.05, target_shard_events=250_000)
    assert small.events_per_user == 100.0 and small.users == 22_050 and big.users == 220_500
    assert small.users_per_shard == big.users_per_shard == 2_500  # a map task's memory does not grow with the run
    assert size_population(100, 100_000, 1000, 0.05, 250_000).users == 1000  # never fewer than the pilot


def test_shards_tile_the_users():
    s = shards(1000, 23_500, 2_500, 1, 100.0)
    assert s[0].u0 == 1000 and s[-1].u1 == 23_500 and [x.index for x in s] == list(range(1, len(s) + 1))
    assert all(a.u1 == b.u0 for a, b in zip(s, s[1:]))
    assert more_users(1000, 900, 10, 90.0, 0.05) >= 16


def test_a_user_is_the_same_person_in_any_shard(smoke_cfg):
    """Users are simulated from their own stream: shard boundaries never change a user's rows."""
    ctx = generate.make_context(smoke_cfg, 21)
    whole = generate.simulate_shard(0, 40, ctx)
    halves = [generate.simulate_shard(0, 17, ctx), generate.simulate_shard(17, 40, ctx)]
    cols = [np.concatenate([h.wide for h in halves], axis=1), np.concatenate([h.narrow for h in halves], axis=1)]
    a, b = whole.wide[:, np.lexsort((whole.wide[3], whole.wide[2]))], cols[0][:, np.lexsort((cols[0][3], cols[0][2]))]
    order = WIDE_COLUMNS.index("order")  # numbered within each shard until the reduce numbers them globally
    assert (np.delete(a, order, axis=0) == np.delete(b, order, axis=0)).all() and ((a[order] >= 0) == (b[order] >= 0)).all()
    na = whole.narrow[:, np.lexsort((whole.wide[3], whole.wide[2]))]
    assert (na == cols[1][:, np.lexsort((cols[0][3], cols[0][2]))]).all()
    assert whole.sessions == sum(h.sessions for h in halves) and whole.users == 40
