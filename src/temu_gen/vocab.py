"""Vocabularies: the names behind every code column, and the long tail of search queries.

Invariant: a pure function of the config, built in the same order in every process, so
code *k* of a column names the same value in every part of a run. Search queries are
each category's terms, their typos (a dropped, doubled or swapped letter, generated
deterministically from the term) and the terms with modifiers; the kernels pick a
query as (term, variant) and write its code.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .kernels.codes import EVENT_TYPES, PLATFORMS

TYPOS_PER_TERM = 3


class Vocabulary(NamedTuple):
    """The names behind each categorical code column, index = code."""

    event_type: tuple[str, ...]
    platform: tuple[str, ...]
    device_brand: tuple[str, ...]
    app_version: tuple[str, ...]
    carrier: tuple[str, ...]
    network_type: tuple[str, ...]
    traffic_source: tuple[str, ...]
    state: tuple[str, ...]
    city: tuple[str, ...]
    category: tuple[str, ...]
    search_query: tuple[str, ...]
    payment_method: tuple[str, ...]
    payment_provider: tuple[str, ...]
    failure_reason: tuple[str, ...]
    status_reason: tuple[str, ...]
    logistics_partner: tuple[str, ...]


def typos(term: str, n: int = TYPOS_PER_TERM) -> list[str]:
    """``n`` distinct misspellings of ``term``: a dropped, a doubled and a swapped letter, where it has letters."""
    letters = [i for i, c in enumerate(term) if c.isalpha()]
    out: list[str] = []
    candidates = []
    for k in range(len(letters)):
        i = letters[(k * 7 + len(term)) % len(letters)]  # spread the edits over the word, deterministically
        candidates += [term[:i] + term[i + 1:], term[:i] + term[i] + term[i:],
                       term[:i] + term[i + 1:i + 2] + term[i] + term[i + 2:]]
    for c in candidates:
        if c != term and c not in out and c.strip():
            out.append(c)
        if len(out) == n:
            break
    while len(out) < n:
        out.append(term + "s" * (len(out) + 1))
    return out


def search_vocabulary(categories, modifiers) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """All query strings; ``term_off[c]`` = first term of category c; ``term_code[t]`` = code of term t's plain form.

    Each term t owns codes ``term_code[t] .. term_code[t] + 1 + TYPOS_PER_TERM + 2 * len(modifiers)``:
    the plain term, its typos, then ``modifier + term`` and ``term + modifier`` per modifier.
    """
    strings: list[str] = []
    index: dict[str, int] = {}
    term_off = [0]
    term_code: list[int] = []

    def code(s: str) -> int:
        # distinct (term, variant) pairs may spell the same string; the dictionary keeps one entry
        if s not in index:
            index[s] = len(strings)
            strings.append(s)
        return index[s]

    variant_codes: list[list[int]] = []
    for c in categories:
        for term in c.search_terms:
            forms = [term, *typos(term)] + [f"{m} {term}" for m in modifiers] + [f"{term} {m}" for m in modifiers]
            variant_codes.append([code(f) for f in forms])
            term_code.append(len(variant_codes) - 1)
        term_off.append(len(variant_codes))
    table = np.array(variant_codes, dtype=np.int64)
    return tuple(strings), np.array(term_off, dtype=np.int64), table


def base_vocabulary(cfg, sources: tuple[str, ...], providers, failures, statuses) -> dict:
    """Every vocabulary but the search queries (built alongside the kernel parameters)."""
    d = cfg.devices
    return dict(
        event_type=EVENT_TYPES, platform=PLATFORMS,
        device_brand=tuple(n for pl in PLATFORMS for n in d.brands[pl].names),
        app_version=tuple(v for v, _ in d.app_releases) + ("web",),
        carrier=d.carriers.names, network_type=d.networks["urban"].names, traffic_source=sources,
        state=tuple(s.name for s in cfg.geography.states),
        city=tuple(c for s in cfg.geography.states for c in s.cities.names),
        category=tuple(c.name for c in cfg.catalog.categories),
        payment_method=tuple(m.name for m in cfg.payments.methods), payment_provider=tuple(providers),
        failure_reason=tuple(failures), status_reason=tuple(statuses),
        logistics_partner=cfg.fulfilment.logistics_partners.names)
