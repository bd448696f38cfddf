"""The mid-size default run behaves like a launch: users arrive, return, buy again and leave, with correlated traits.

Each test is what an analyst would compute on the log (DuckDB over the run's files),
checked against the sourced figures the config uses, with bounds wide enough for one
seeded 1M-event run and narrow enough to fail if the behaviour were missing.
"""
import pytest

duckdb = pytest.importorskip("duckdb")

WAT = "INTERVAL 1 HOUR"


@pytest.fixture(scope="module")
def db(mid_run):
    _, run_dir, _ = mid_run
    con = duckdb.connect()
    con.execute(f"CREATE VIEW e AS SELECT * FROM read_parquet('{run_dir}/part-*.parquet')")
    con.execute("""CREATE TABLE s AS SELECT session_id, any_value(user_id) user_id, any_value(device_id) device_id,
        any_value(platform) platform, any_value(network_type) network, any_value(traffic_source) source,
        any_value(state) state, min(event_ts) t, max(CASE WHEN event_type = 'order_placed' THEN 1 ELSE 0 END) ordered
        FROM e WHERE session_id IS NOT NULL GROUP BY 1""")
    return con


def one(db, sql):
    return db.execute(sql).fetchone()


def test_users_arrive_with_the_launch(db):
    rows = db.execute(f"""WITH f AS (SELECT device_id, min(event_ts + {WAT}) t FROM e WHERE device_id IS NOT NULL
        GROUP BY 1) SELECT CAST(t AS DATE) d, count(*) n FROM f GROUP BY 1 ORDER BY 1""").fetchall()
    per_day = dict(rows)
    peak = max(per_day, key=per_day.get)
    assert str(peak) >= "2024-11-18" and str(peak) <= "2024-12-03"  # top of the charts on 27 Nov, Black Friday
    early = sum(n for d, n in rows if str(d) < "2024-11-08") / 7
    launch = sum(n for d, n in rows if "2024-11-20" <= str(d) < "2024-11-30") / 10
    late = sum(n for d, n in rows if "2024-12-16" <= str(d) < "2024-12-24") / 8
    assert launch > 2.5 * early and launch > 2 * late > 0  # a ramp, a peak and a waning


def test_retention_decays_like_a_shopping_app(db):
    d1, d7, d30 = one(db, """WITH d AS (SELECT device_id, CAST(event_ts AS DATE) dd FROM e WHERE device_id IS NOT NULL
        GROUP BY 1, 2), f AS (SELECT device_id, min(dd) d0 FROM d GROUP BY 1 HAVING min(dd) < DATE '2024-11-25')
        SELECT avg((EXISTS (SELECT 1 FROM d WHERE d.device_id = f.device_id AND d.dd = f.d0 + 1))::INT),
               avg((EXISTS (SELECT 1 FROM d WHERE d.device_id = f.device_id AND d.dd = f.d0 + 7))::INT),
               avg((EXISTS (SELECT 1 FROM d WHERE d.device_id = f.device_id AND d.dd = f.d0 + 30))::INT) FROM f""")
    # shopping apps: day 1 / 7 / 30 about 19 / 7 / 4 % [customer-lifecycle §1]; a launch's first day runs higher
    assert 0.15 < d1 < 0.45 and 0.03 < d7 < 0.2 and 0.01 < d30 < 0.10 and d1 > d7 > d30


def test_returning_buyers_convert_more(db):
    rows = dict(db.execute("""WITH r AS (SELECT ordered, coalesce(sum(ordered) OVER (PARTITION BY user_id ORDER BY t
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) prior FROM s WHERE user_id IS NOT NULL)
        SELECT least(prior, 2) k, avg(ordered) FROM r GROUP BY 1""").fetchall())
    # ~1% of first-time visits convert, ~5x after one purchase, ~9x after several [customer-lifecycle §4]
    assert 0.005 < rows[0] < 0.04 and rows[1] > 2.5 * rows[0] and rows[2] > rows[1]


def test_some_buyers_buy_again(db):
    buyers, repeat = one(db, """SELECT count(*), count(*) FILTER (n >= 2) FROM (SELECT user_id, count(*) n FROM e
        WHERE event_type = 'order_placed' GROUP BY 1)""")
    assert buyers > 500 and 0.08 < repeat / buyers < 0.6


def test_carts_survive_sessions(db):
    carried, total = one(db, """WITH adds AS (SELECT user_id, product_id, session_id FROM e WHERE event_type = 'add_to_cart'),
        items AS (SELECT i.order_id, i.product_id, i.session_id, i.user_id FROM e i WHERE event_type = 'order_item')
        SELECT count(DISTINCT items.order_id) FILTER (adds.session_id <> items.session_id), count(DISTINCT items.order_id)
        FROM items LEFT JOIN adds ON adds.user_id = items.user_id AND adds.product_id = items.product_id""")
    assert 0.1 < carried / total < 0.95  # many orders check out lines added in an earlier session


def test_conversion_follows_platform_network_and_source(db):
    conv = dict(db.execute("SELECT platform, avg(ordered) FROM s GROUP BY 1").fetchall())
    assert conv["ios"] > conv["android"] > conv["web"]
    net = dict(db.execute("SELECT network, avg(ordered) FROM s GROUP BY 1").fetchall())
    assert net["wifi"] > net["2G"] and net["4G"] > net["2G"]
    src = dict(db.execute("SELECT source, avg(ordered) FROM s GROUP BY 1").fetchall())
    assert src["email"] > src["paid_social"]


def test_traits_follow_geography(db):
    share = dict(db.execute("""SELECT state, avg((platform = 'ios')::INT) FROM (SELECT DISTINCT device_id, state, platform
        FROM e WHERE device_id IS NOT NULL) GROUP BY 1""").fetchall())
    assert share["Lagos"] > 2 * share["Kano"] and share["FCT"] > share["Borno"]
    slow = dict(db.execute("""SELECT region, avg((network IN ('2G', '3G'))::INT) FROM (SELECT network,
        CASE WHEN state IN ('Kano', 'Kaduna', 'Katsina', 'Jigawa', 'Sokoto', 'Zamfara', 'Kebbi', 'Bauchi', 'Borno',
        'Adamawa', 'Gombe', 'Taraba', 'Yobe') THEN 'north' ELSE 'south' END region FROM s) GROUP BY 1""").fetchall())
    assert slow["north"] > 1.4 * slow["south"]


def test_late_data_comes_from_weak_networks_in_whole_sessions(db):
    late = dict(db.execute("""SELECT network_type, avg((ingest_ts - event_ts > INTERVAL 5 MINUTE)::INT) FROM e
        WHERE device_id IS NOT NULL GROUP BY 1""").fetchall())
    assert late["2G"] > 2 * late["4G"] > 0 and late["4G"] > late["wifi"]
    whole, partly, days = one(db, """WITH x AS (SELECT session_id, bool_and(ingest_ts - event_ts > INTERVAL 5 MINUTE) a,
        bool_or(ingest_ts - event_ts > INTERVAL 5 MINUTE) o, max(ingest_ts - event_ts) m FROM e
        WHERE session_id IS NOT NULL GROUP BY 1) SELECT count(*) FILTER (a), count(*) FILTER (o AND NOT a),
        count(*) FILTER (m > INTERVAL 1 DAY) FROM x""")
    assert whole > partly and days > 0  # sessions arrive late together, some days late


def test_couriers_work_working_hours(db):
    off = one(db, f"""SELECT count(*) FILTER (hour(event_ts + {WAT}) < 8 OR hour(event_ts + {WAT}) >= 18
        OR dayofweek(event_ts + {WAT}) = 0 OR CAST(event_ts + {WAT} AS DATE) IN ('2024-12-25', '2024-12-26', '2025-01-01')),
        count(*) FROM e WHERE event_type IN ('order_shipped', 'hub_arrival', 'out_for_delivery', 'delivered',
        'delivery_failed', 'returned_to_sender')""")
    assert off[0] == 0 and off[1] > 1000


def test_baskets_hold_several_cheap_items(db):
    lines, units, aov = one(db, """SELECT avg(n), avg(u), avg(v) FROM (SELECT order_id, count(*) n, sum(quantity) u,
        sum(unit_price_ngn * quantity) v FROM e WHERE event_type = 'order_item' GROUP BY 1)""")
    assert lines >= 2.0 and units >= 3.0 and 15_000 < aov < 80_000  # Temu: many cheap items [customer-lifecycle §4]


def test_details_are_not_formulaic(db):
    queries, top = one(db, """SELECT count(DISTINCT search_query), max(n) * 1.0 / sum(n) FROM (SELECT search_query,
        count(*) n FROM e WHERE event_type = 'search' GROUP BY 1)""")
    assert queries > 500 and top < 0.05  # a long tail of queries, typos included
    floor, ends = one(db, """SELECT avg((unit_price_ngn = 300)::INT), count(DISTINCT CAST(unit_price_ngn AS BIGINT) % 100)
        FROM e WHERE event_type = 'product_view'""")
    assert floor < 0.005 and ends >= 5
    ratio = one(db, """WITH g AS (SELECT epoch(event_ts - lag(event_ts) OVER (PARTITION BY session_id ORDER BY event_ts)) x,
        event_type FROM e WHERE session_id IS NOT NULL) SELECT quantile_cont(x, 0.99) / median(x) FROM g
        WHERE event_type = 'product_view'""")[0]
    assert ratio > 10  # heavier tail than an exponential's ~6.6
    increasing = one(db, """SELECT bool_and(n > p) FROM (SELECT order_id n, lag(order_id) OVER (ORDER BY event_ts, order_id) p
        FROM e WHERE event_type = 'order_placed') WHERE p IS NOT NULL""")[0]
    assert increasing  # order numbers grow with the time orders are placed


def test_payments_confirm_at_each_methods_pace(db):
    med = dict(db.execute("""WITH p AS (SELECT order_id, attempt_number, payment_method, event_type, event_ts FROM e
        WHERE event_type IN ('payment_initiated', 'payment_succeeded') AND session_id IS NOT NULL)
        SELECT a.payment_method, median(epoch(b.event_ts - a.event_ts)) FROM p a JOIN p b ON a.order_id = b.order_id
        AND a.attempt_number = b.attempt_number AND a.event_type = 'payment_initiated'
        AND b.event_type = 'payment_succeeded' GROUP BY 1""").fetchall())
    assert med["bank_transfer"] > med["card"] > med["wallet"]


def test_identity_and_devices_evolve(db):
    anon, two_devices, upgraded = one(db, """SELECT
        (SELECT avg((user_id IS NULL)::INT) FROM e WHERE session_id IS NOT NULL),
        (SELECT count(*) FROM (SELECT user_id FROM e WHERE device_id IS NOT NULL AND user_id IS NOT NULL GROUP BY 1
         HAVING count(DISTINCT device_id) > 1)),
        (SELECT count(*) FROM (SELECT device_id FROM e WHERE platform <> 'web' GROUP BY 1
         HAVING count(DISTINCT app_version) > 1))""")
    assert 0.05 < anon < 0.7 and two_devices > 50 and upgraded > 100


def test_detty_december_lifts_its_own_cities(db):
    lift = dict(db.execute(f"""SELECT state, (count(*) FILTER (CAST(t + {WAT} AS DATE) BETWEEN '2024-12-01' AND '2024-12-24'))
        * 1.0 / count(*) FILTER (CAST(t + {WAT} AS DATE) BETWEEN '2024-11-01' AND '2024-11-24') FROM s
        WHERE state IN ('Lagos', 'FCT', 'Kano', 'Oyo') GROUP BY 1""").fetchall())
    # the diaspora season is a Lagos/Abuja/PH/Calabar/Owerri affair [S40]: their December rises more
    assert min(lift["Lagos"], lift["FCT"]) > 1.2 * max(lift["Kano"], lift["Oyo"])
