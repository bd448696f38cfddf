"""Runs for the tools' tests, generated once per session through the CLI: a clean one and a hostile one.

Each holds 300k events in three parts (chunk size 100k); the hostile one has every defect
type, schema drift from part 1 and a poison file. Tests that tamper copy a run first
(:func:`tool_helpers.copy_run`), so the session's runs stay as generated.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tool_helpers import RunDir, generate


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tools-runs")


@pytest.fixture(scope="session")
def clean_run(runs_root) -> RunDir:
    return generate(runs_root, "clean")


@pytest.fixture(scope="session")
def hostile_run(runs_root) -> RunDir:
    return generate(runs_root, "hostile", "--defects", "hostile")
