"""A property over whole runs: whatever the defect settings, the run the generator commits is valid, and a pipeline
that keeps each event's first arrival reconciles with it.

The settings are drawn from a seeded generator (the test id names the draw), within the schema's ranges: rates
that pile defects onto the same orders and users, part-numbered drift and poison, both formats, the context
column. A sweep of 45 such draws (runs of up to 200,000 events) passed after the fixes of 2026-12-03; with the
orphan-order label check as it was before them, draw 3 here fails: validate rejected the generator's own run.
"""
from __future__ import annotations

import json
import os
import random

import pytest

from temu_gen.cli import main
from temu_gen.tools.runref import open_run
from temu_gen.tools.views import connect

from tool_helpers import temu_gen


def _draw(seed: int) -> tuple[dict, list[str]]:
    """(a defects section, the run's flags) of draw ``seed``."""
    rng = random.Random(seed)
    events, chunk = rng.choice([50_000, 80_000]), rng.choice([20_000, 30_000])
    parts = -(-events // chunk)
    defects = {"duplicate": rng.choice([0, 0.001, 0.04]), "duplicate_later_file": round(rng.random(), 3),
               "id_collision": rng.choice([0, 0.02]), "late": rng.choice([0, 0.03]),
               "late_days": sorted([rng.choice([0.01, 1, 2]), rng.choice([3, 60])]),
               "clock_skew": rng.choice([0, 0.03]), "contract_violation": rng.choice([0, 0.04]),
               "orphan_order": rng.choice([0, 0.3, 0.5]), "orphan_user": rng.choice([0, 0.5]),
               "schema_drift_from_part": rng.choice([None, 0, parts - 1]),
               "poison_part": rng.choice([None, 0, parts - 1])}
    flags = ["--events", str(events), "--chunk-size", str(chunk), "--seed", str(rng.randrange(10**6)),
             "--format", rng.choice(["parquet", "jsonl"]), *(["--context"] if rng.random() < 0.3 else [])]
    return defects, flags


FIRST_ARRIVALS = ("SELECT * EXCLUDE (_part, _row) FROM events "
                  "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _part, _row) = 1")


@pytest.mark.slow
@pytest.mark.parametrize("draw", [1, 2, 3])
def test_any_defect_settings_give_a_valid_run_that_a_first_arrival_pipeline_reconciles(capsys, tmp_path, draw):
    defects, flags = _draw(draw)
    config = tmp_path / "defects.json"
    config.write_text(json.dumps({"defects": defects}))
    done = temu_gen(*flags, "--run-id", "r", "--output", tmp_path, "--workers", 2, "--no-progress", "--config", config)
    assert done.returncode == 0, (defects, flags, done.stderr)
    folder = os.fspath(tmp_path / "events" / "run_id=r")
    assert main(["validate", folder]) == 0, (defects, flags, capsys.readouterr().out)
    out = tmp_path / "first.parquet"
    with connect(open_run(folder), located=True) as con:
        con.execute(f"COPY ({FIRST_ARRIVALS}) TO '{out}' (FORMAT parquet)")
    capsys.readouterr()
    assert main(["reconcile", folder, "--against", os.fspath(out)]) == 0, (defects, flags, capsys.readouterr().out)
