"""Schema drift: events files from ``defects.schema_drift_from_part`` on carry schema version 2.

Invariant: version 2 is version 1 changed exactly as :data:`~.catalog.SCHEMA_V2` declares
(``network_type`` renamed ``connection_type``, ``quantity`` widened to int32, ``app_build``
added after ``app_version``); the values are the same events', so a reader that maps the
changes back gets version 1 exactly. Imports pyarrow only.
"""
from __future__ import annotations

import pyarrow as pa

from .catalog import SCHEMA_V2

RENAMED = {"network_type": "connection_type"}
"""Version 1 column -> its version 2 name."""


def _build(version: str) -> str | None:
    """'1.42.0' -> '1.42.0 (14200)': the store's build number; None for web."""
    try:
        x, y, z = (int(p) for p in version.split("."))
    except ValueError:
        return None
    return f"{version} ({x * 10000 + y * 100 + z})"


def schema_v2(v1: pa.Schema) -> pa.Schema:
    fields = []
    for f in v1:
        if f.name in RENAMED:
            fields.append(f.with_name(RENAMED[f.name]))
        elif f.name == "quantity":
            fields.append(f.with_type(pa.int32()))
        else:
            fields.append(f)
        if f.name == "app_version":
            fields.append(pa.field("app_build", pa.dictionary(pa.int8(), pa.string()), nullable=True))
    assert [c[1] for c in SCHEMA_V2] == ["network_type", "quantity", "app_build"]
    return pa.schema(fields, metadata=v1.metadata)


def to_v2(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A version 1 slice of events as version 2 (``schema`` from :func:`schema_v2`)."""
    import pyarrow.compute as pc  # here, not at the top: the coordinator reads this module and never needs it (60 ms)

    arrays = []
    was = {v: k for k, v in RENAMED.items()}
    for name in schema.names:
        if name in was:
            arrays.append(table.column(was[name]))
        elif name == "quantity":
            arrays.append(pc.cast(table.column("quantity"), pa.int32()))
        elif name == "app_build":
            versions = table.column("app_version").combine_chunks()
            builds = [_build(v) for v in versions.dictionary.to_pylist()]
            web = pa.array([b is None for b in builds]).take(versions.indices)  # web has no build: null
            indices = pc.if_else(pc.fill_null(web, True), pa.scalar(None, versions.indices.type), versions.indices)
            arrays.append(pa.DictionaryArray.from_arrays(indices, pa.array([b or "" for b in builds], pa.string())))
        else:
            arrays.append(table.column(name))
    return pa.Table.from_arrays(arrays, schema=schema)
