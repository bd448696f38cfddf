"""Dimension tables against the events of the same run: referential integrity and the answers they claim to be.

Oracles over the mid-size clean run (1M events): users are exactly the accounts the log
names, with the home and first device the events show; every order of the log has one
row whose state is where the lifecycle table takes its events; the products' SCD type 2
rows give every event's price.
"""
from __future__ import annotations

from collections import defaultdict

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from temu_gen.dimensions import TABLE_COLUMNS
from temu_gen.encode.schema import table_schema
from temu_gen.lifecycle import final_state


@pytest.fixture(scope="module")
def db(mid_run):
    _, run_dir, _ = mid_run
    root = run_dir.parent.parent
    con = duckdb.connect()
    for table in ("events", "users", "orders", "products"):
        con.sql(f"create view {table} as select * from read_parquet('{root}/{table}/run_id=mid/part-*.parquet')")
    return con, root


def one(con, sql: str):
    return con.execute(sql).fetchone()[0]


@pytest.mark.parametrize("table", ["users", "orders", "products"])
def test_files_carry_the_declared_schema(db, table):
    _, root = db
    for f in sorted((root / table / "run_id=mid").glob("part-*.parquet")):
        assert pq.read_schema(f).remove_metadata() == table_schema(table), f
    assert [c.name for c in TABLE_COLUMNS[table]] == table_schema(table).names


def test_users_are_exactly_the_accounts_the_log_names(db):
    con, _ = db
    assert one(con, "select count(*) - count(distinct user_id) from users") == 0
    assert one(con, "select count(*) from (select distinct user_id from events where user_id is not null) e "
                    "full join users u using (user_id) where e.user_id is null or u.user_id is null") == 0


def test_users_traits_are_what_their_events_show(db):
    con, _ = db
    # home and first device: every signed-in event of the user carries the home state and city
    assert one(con, "select count(*) from events e join users u using (user_id) "
                    "where e.state <> u.state or e.city <> u.city") == 0
    assert one(con, "select count(*) from users u join (select user_id, min(event_ts) t, count(distinct session_id) "
                    "filter (where event_type = 'app_open') s from events where user_id is not null group by 1) e "
                    "using (user_id) where u.last_seen_ts < e.t") == 0
    assert one(con, "select count(*) from users u join (select user_id, count(*) n from events "
                    "where event_type = 'order_placed' group by 1) o using (user_id) where u.orders <> o.n") == 0
    assert one(con, "select count(*) from users where signed_up_ts < first_seen_ts "
                    "or last_seen_ts < first_seen_ts") == 0
    assert one(con, "select count(*) from users u join (select user_id, sum(order_total_ngn) v from orders group by 1) "
                    "o using (user_id) where u.lifetime_value_ngn <> o.v") == 0


def test_one_order_row_per_order_in_the_log(db):
    con, _ = db
    assert one(con, "select count(*) - count(distinct order_id) from orders") == 0
    assert one(con, "select count(*) from (select distinct order_id from events where event_type = 'order_placed') "
                    "e full join orders o using (order_id) where e.order_id is null or o.order_id is null") == 0
    assert one(con, "select count(*) from orders o join events e on e.order_id = o.order_id and e.event_type = "
                    "'order_placed' where e.event_ts <> o.placed_ts or e.user_id <> o.user_id "
                    "or e.order_total_ngn <> o.order_total_ngn") == 0


def test_order_state_is_where_the_lifecycle_takes_its_events(db):
    con, _ = db
    rows = con.execute("select order_id, event_type, event_ts, ingest_ts from events where order_id is not null "
                       "order by order_id, event_ts, ingest_ts").fetchall()
    events = defaultdict(list)
    for oid, kind, _, _ in rows:
        events[oid].append(kind)
    snapshot = {oid: (status, variant) for oid, status, variant in
                con.execute("select order_id, status, payment_variant from orders").fetchall()}
    assert snapshot and set(snapshot) == set(events)
    wrong = [(oid, status, events[oid]) for oid, (status, variant) in snapshot.items()
             if final_state(events[oid], variant == "pay_on_delivery") != status]
    assert wrong == []


def test_order_lines_are_its_order_item_events(db):
    con, _ = db
    lines = con.execute("select order_id, list(struct_pack(product_id := product_id, quantity := quantity) "
                    "order by product_id, quantity) from events where event_type = 'order_item' group by 1").fetchall()
    items = dict(con.execute("select order_id, list_transform(items, lambda x: struct_pack(product_id := "
                             "x.product_id, quantity := x.quantity)) from orders").fetchall())
    assert lines and all(sorted(items[oid], key=lambda x: (x["product_id"], x["quantity"]))
                         == [dict(x) for x in want] for oid, want in lines)


def test_product_history_gives_each_price_shown(db):
    """The SCD2 row valid at a product view's event_ts holds the unit price the view shows."""
    con, _ = db
    assert one(con, "select count(*) from (select product_id, count(*) filter (where is_current) c from products "
                    "group by 1) where c <> 1") == 0
    assert one(con, "select count(*) from products a join products b on a.product_id = b.product_id and "
                    "a.version + 1 = b.version where a.valid_to <> b.valid_from") == 0
    checked, wrong = con.execute("""
        select count(*), count(*) filter (where e.unit_price_ngn <> p.price_ngn)
        from events e join products p on p.product_id = e.product_id
          and e.event_ts >= p.valid_from and (p.valid_to is null or e.event_ts < p.valid_to)
        where e.event_type in ('product_view', 'remove_from_cart')""").fetchone()
    assert checked > 50_000 and wrong == 0
    assert one(con, "select count(*) from (select distinct product_id from events where product_id is not null) "
                    "anti join products using (product_id)") == 0


def test_black_friday_price_drops_are_versions(db):
    con, _ = db
    drops = one(con, "select count(*) from products where price_drop_pct > 0 and valid_from >= "
                     "timestamp '2024-11-25' and valid_from < timestamp '2024-12-03'")
    assert drops > 0
    assert np.isfinite(one(con, "select avg(price_drop_pct) from products where price_drop_pct > 0"))


@pytest.mark.parametrize("per_table", [7, 499, 10**9])
def test_products_in_slices_are_the_whole_table(smoke_cfg, per_table):
    """A run writes the products table a slice of the catalog at a time: any slice size gives the same rows, and
    the row count is known before the first slice (the JSON Lines header needs it)."""
    from temu_gen.encode.arrow import IdKeys
    from temu_gen.generate import make_context
    from temu_gen.products import products_tables

    ctx = make_context(smoke_cfg, 5)
    end = ctx.params.time.start_us + smoke_cfg.period.days * 86_400_000_000
    whole = products_tables(ctx, IdKeys.for_run(5), 5, ctx.vocab, end, per_table=10**9)
    sliced = products_tables(ctx, IdKeys.for_run(5), 5, ctx.vocab, end, per_table=per_table)
    tables = list(sliced.tables)
    assert sliced.rows == whole.rows == sum(t.num_rows for t in tables)
    assert pa.concat_tables(tables).equals(pa.concat_tables(whole.tables))
    assert len(tables) == -(-ctx.products.drop_pct.shape[1] // per_table)
