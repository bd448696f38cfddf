"""The products table: every product of the catalog with its price history as SCD type 2 rows.

Invariant: a version's ``price_ngn`` is the price the kernels charged for that product at
any moment in ``[valid_from, valid_to)`` (the same :func:`~temu_gen.generate.price_history`
function priced the events), and a product gets a new version exactly when its price or
markdown changes, which happens only at a price drop's start or end. Names are pure in
(seed, product): a popular search term of the product's category and a model code.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np
import pyarrow as pa

from .encode.schema import table_schema
from .seeds import derive_seed

_LETTERS = np.array(list("ABCDEFGHJKLMNPRSTVXZ"))
_STYLE = ("", " Pro", " Max", " Lite", " Plus", " Mini", " 2024", " Classic")


def _drop_pct(cp, pt, times: np.ndarray) -> np.ndarray:
    """int8[products, times]: the markdown running at each time (the deepest when drops overlap)."""
    active = (cp.promo_start_us[:, None] <= times[None, :]) & (times[None, :] < cp.promo_end_us[:, None])
    pct = np.zeros((pt.drop_pct.shape[1], times.size), np.int8)
    for k in range(active.shape[0]):
        pct = np.maximum(pct, np.where(active[k][None, :], pt.drop_pct[k][:, None], 0).astype(np.int8))
    return pct


class _NameParts(NamedTuple):
    """Every product's name, drawn but not yet spelt: the words, and per product a word, two letters, a number and
    a style."""

    words: pa.Array
    term: np.ndarray
    code: np.ndarray
    number: np.ndarray
    style: np.ndarray


def _name_parts(seed: int, categories: np.ndarray, cp, vocab) -> _NameParts:
    """'Wireless earbuds TX-412 Pro': a base search term of the category, a model code and a style (all drawn at once,
    so a product's name does not depend on which slice spells it)."""
    n = categories.size
    rng = np.random.Generator(np.random.PCG64(derive_seed(seed, "products/names")))
    lo, hi = cp.term_off[categories], cp.term_off[categories + 1]
    term = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    words = pa.array([vocab.search_query[c].capitalize() for c in cp.term_variants[:, 0]], pa.string())
    code = rng.integers(0, _LETTERS.size, (n, 2))
    number = rng.integers(10, 1000, n)
    style = rng.integers(0, len(_STYLE), n)
    return _NameParts(words, term, code, number, style)


def _names(parts: _NameParts, lo: int, hi: int) -> pa.Array:
    """The names of products [lo, hi)."""
    import pyarrow.compute as pc

    letters, styles = pa.array(_LETTERS.tolist(), pa.string()), pa.array(_STYLE, pa.string())
    code, number = parts.code[lo:hi], pc.cast(pa.array(parts.number[lo:hi]), pa.string())
    # Arrow's kernels join the parts column-wise: a Python string per product would cost ten times more
    return pc.binary_join_element_wise(parts.words.take(parts.term[lo:hi]), " ", letters.take(code[:, 0]),
                                       letters.take(code[:, 1]), "-", number, styles.take(parts.style[lo:hi]), "")


PRODUCTS_PER_TABLE = 65_536  # a slice of the catalog, encoded and written at once (about 120k rows, 15 MiB)


class ProductTables(NamedTuple):
    """The products table as slices of the catalog: ``rows`` in all, known before the first slice is made."""

    rows: int
    tables: Iterator[pa.Table]


def products_tables(ctx, keys, seed: int, vocab, end_us: int, per_table: int = PRODUCTS_PER_TABLE) -> ProductTables:
    """Every product, one row per price period between the period start and ``end_us``, a slice of products at a
    time in product order (so only one slice's columns are in memory while it is written)."""
    from .generate import price_history

    cp, pt = ctx.params.catalog, ctx.products
    start = ctx.params.time.start_us
    edges = np.concatenate([[start], cp.promo_start_us, cp.promo_end_us])
    times = np.unique(edges[(edges >= start) & (edges < end_us)]).astype(np.int64)
    price = price_history(ctx, times)
    pct = _drop_pct(cp, pt, times)
    change = np.ones(price.shape, bool)
    change[:, 1:] = (price[:, 1:] != price[:, :-1]) | (pct[:, 1:] != pct[:, :-1])
    n = price.shape[0]
    names = _name_parts(seed, np.arange(n) // cp.per_category, cp, vocab)
    periods = _Periods(times, price, pct, change, names)
    slices = map(lambda lo: _table(periods, lo, min(lo + per_table, n), cp, keys, vocab), range(0, n, per_table))
    return ProductTables(int(np.count_nonzero(change)), slices)


class _Periods(NamedTuple):
    times: np.ndarray   # the moments a price can change
    price: np.ndarray   # int64[products, times]: shelf price (kobo)
    pct: np.ndarray     # int8[products, times]: markdown
    change: np.ndarray  # bool[products, times]: a new version starts
    names: _NameParts


def _table(pp: _Periods, lo: int, hi: int, cp, keys, vocab) -> pa.Table:
    """Products [lo, hi): their versions, by product, then time."""
    from .dims import _dictionary, _money, _ts
    from .kernels.ids import permuted
    from .model import PRODUCT_ID_BASE

    change = pp.change[lo:hi]
    local, when = np.nonzero(change)  # row-major: by product, then time
    product = local + lo
    version = (np.cumsum(change, axis=1)[local, when]).astype(np.int16)
    nxt = np.r_[product[1:] == product[:-1], False]  # the next version is the same product's (never past hi)
    valid_from = pp.times[when]
    valid_to = np.where(nxt, np.r_[valid_from[1:], 0], -1)  # a version ends where the product's next one starts
    columns = {
        "product_id": pa.array(permuted(product.astype(np.int64), keys.product, PRODUCT_ID_BASE), pa.int64()),
        "category": _dictionary(product // cp.per_category, vocab.category),
        "name": _names(pp.names, lo, hi).take(pa.array(local)),
        "version": pa.array(version),
        "price_ngn": _money(pp.price[product, when]),
        "price_drop_pct": pa.array(pp.pct[product, when]),
        "valid_from": _ts(valid_from),
        "valid_to": _ts(valid_to, nxt),
        "is_current": pa.array(~nxt),
    }
    return pa.Table.from_pydict(columns, schema=table_schema("products"))
