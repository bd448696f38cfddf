"""Hostile input through the real CLI: every bad value is one line on stderr, its exit code, and nothing on disk.

Each case is a row of issue 8's table (or its "what to build" list); ``out`` is the
``--output`` folder, which a refused run must not create.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from temu_gen.manifest import dumps
from temu_gen.sinks.base import Holder


def cli(*args, cwd):
    quiet = [] if args[0] == "size" else ["--no-progress"]
    return subprocess.run([sys.executable, "-m", "temu_gen", *args, *quiet], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def _refused(r, code: int, needle: str) -> str:
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


def _config(tmp_path, text: str):
    p = tmp_path / "c.json"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("text,needle", [
    ('{"funnel": {"p_add_to_cart": NaN}}', "holds NaN"),
    ('{"funnel": {"mean_product_views": NaN}}', "holds NaN"),
    ('{"payments": {"methods": {"card": {"weight": Infinity}}}}', "holds Infinity"),
    ('{"geography": {"states": {"Lagos": {"weight": -Infinity}}}}', "holds -Infinity"),
    ('[' * 100_000 + ']' * 100_000, "nested too deeply"),
    ('{"a":' * 100_000 + '1' + '}' * 100_000, "nested too deeply"),
    ('{"population": {"products_per_category": 1e29}}',
     "$.population.products_per_category = 1e+29: 1e+29 is greater than the maximum of "),
    ('{"population": {"products_per_category": 100000000000000000000000000000}}',
     "$.population.products_per_category = 100000000000000000000000000000"),
    ('{"run": {"events": 100000000000000000000}}', "$.run.events"),
    # allowed by the schema once, then failed mid-run (an overflow, or gigabytes per worker)
    ('{"period": {"start": "0001-01-01"}}', '$.period.start = "0001-01-01": must be 1970-01-01 or later'),
    ('{"period": {"start": "9999-09-01"}}', '$.period = "9999-09-01 + 92 days": must end by 2200-01-01'),
    ('{"population": {"products_per_category": 1000000000}}', "is greater than the maximum of 1000000"),
    ('{"payments": {"methods": {"pay_on_delivery": {"wieght": 0.3}}}}',
     "unknown key 'wieght' in payments.methods.pay_on_delivery (value 0.3); did you mean 'weight'?"),
])
def test_bad_config_is_refused_before_anything_is_written(tmp_path, text, needle):
    r = cli("--config", _config(tmp_path, text), "--events", "100", "--output", "out", cwd=tmp_path)
    _refused(r, 2, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("endless", [False, True])
def test_a_huge_config_is_refused_after_the_limit_is_read(tmp_path, endless):
    """An endless file (/dev/zero, a pipe) has no size to check first: it once filled the memory."""
    if endless and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    path = "/dev/zero" if endless else str(tmp_path / "c.json")
    if not endless:
        with open(path, "wb") as f:
            f.truncate(17 * 2**20)
    r = cli("--config", path, "--output", "out", cwd=tmp_path)
    _refused(r, 2, "a config is at most 16 MiB")


def test_a_count_beyond_the_id_scheme_is_refused_at_once(tmp_path):
    started = time.monotonic()
    r = cli("--events", "100000000000000000000", "--output", "out", cwd=tmp_path)
    _refused(r, 2, "events = 100000000000000000000: must be between 1 and 100,000,000,000")
    assert time.monotonic() - started < 20  # checked before anything is planned or allocated
    r = cli("--events", "100000000000", "--chunk-size", "1000", "--output", "out", cwd=tmp_path)
    _refused(r, 2, "makes 100,000,000 files; at most 99,999")
    r = cli("--workers", "100000", "--output", "out", cwd=tmp_path)
    _refused(r, 2, "100000 is more than 1,024 worker processes")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args,code,needle", [
    (["--run-id", "ab\n"], 2, "run id 'ab\\n' is not allowed"),
    (["--run-id", ""], 2, "run id '' is not allowed"),
    (["--run-id", "a" * 129], 2, "is not allowed; use 1-128 letters"),
    (["--output", ""], 2, "argument --output: must not be empty"),
    (["--output", "  "], 2, "argument --output: must not be empty"),
    (["--resume", "X", "--overwrite"], 2, "--resume keeps the failed run's verified parts and --overwrite starts a "
                                          "run afresh; give one of them"),
    (["--resume", "X", "--run-id", "Y"], 2, "--resume X and --run-id Y name different runs; give --resume alone"),
    (["--resume", "X", "--seed", "3", "--events", "9"], 2, "--resume replays the recorded run, so --events, --seed "
                                                           "cannot be given with it"),
    (["--endpoint-url", "not a url", "--output", "s3://bucket-x/p"], 2, "--endpoint-url 'not a url' is not an "
                                                                         "http(s) URL"),
    (["--endpoint-url", "http://127.0.0.1:notaport", "--output", "s3://bucket-x/p"], 2, "is not an http(s) URL"),
    (["--s3-deadline", "nan", "--output", "s3://bucket-x/p"], 2, "must be between 0 and 3600 seconds"),
])
def test_bad_flags_are_one_line(tmp_path, args, code, needle):
    full = [*args, *([] if "--output" in args else ["--output", "out"]),
            *([] if "--events" in args or "--resume" in args else ["--events", "100"])]
    line = _refused(cli(*full, cwd=tmp_path), code, needle)
    if "--overwrite" in args:  # never asks for a flag that was given
        assert "pass --overwrite" not in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "output").exists()


def test_resume_of_an_unknown_run_creates_nothing(tmp_path):
    line = _refused(cli("--resume", "NOPE", "--output", "out", cwd=tmp_path), 3, "no run NOPE to resume at ")
    assert "out/events/run_id=NOPE" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("plan,needle", [
    (b"{nope", "is not valid JSON (JSONDecodeError"),
    (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON (it is nested too deeply)"),
    (b'{"run_id": "r", "seed": NaN, "config": {}}', "is not valid JSON (ValueError: NaN is not a number"),
    (b"\xff\xfe\x00", "is not valid JSON ("),
    (b"[]", "is incomplete (needs run_id, seed and config)"),
    (b'{"run_id": "other", "seed": 1, "config": {}}', "names run 'other'; it was copied or edited"),
    (b'{"run_id": "r", "seed": 1e300, "config": {}}', "has seed 1e+300, not a whole number"),
    (b'{"run_id": "r", "seed": 1, "config": {"funnel": {"p_login": 7}}}', "config: $ = {\"funnel\": {\"p_login\": 7}}: "
                                                                        "'run' is a required property"),
])
def test_resume_with_a_bad_plan_is_one_line_and_touches_nothing(tmp_path, plan, needle):
    run_dir = tmp_path / "out" / "events" / "run_id=r"
    run_dir.mkdir(parents=True)
    (run_dir / "_run.json").write_bytes(plan)
    (run_dir / "part-00000.parquet").write_bytes(b"kept as it is")
    line = _refused(cli("--resume", "r", "--output", "out", cwd=tmp_path), 3, needle)
    assert "start a new run" in line
    assert sorted(p.name for p in run_dir.iterdir()) == ["_run.json", "part-00000.parquet"]  # no lock, nothing removed


def test_a_planted_lock_cannot_break_the_one_line_message(tmp_path):
    run_dir = tmp_path / "out" / "events" / "run_id=r"
    run_dir.mkdir(parents=True)
    holder = Holder("evil\nhost", -5, "then\x1b[2J", "n")
    (run_dir / "_lock").write_bytes(holder.to_bytes())
    line = _refused(cli("--events", "100", "--run-id", "r", "--output", "out", cwd=tmp_path), 3,
                    "is locked by pid -5 on host 'evil\\nhost' since 'then\\x1b[2J'")
    assert line.endswith("rerun with --force-unlock")
    (run_dir / "_lock").write_bytes(b"[" * 100_000)
    _refused(cli("--events", "100", "--run-id", "r", "--output", "out", cwd=tmp_path), 3, "has an unreadable lock")


@pytest.mark.parametrize("text,needle", [
    ("{}", "is not a calibration (needs events_per_s_per_core"),
    ("[1]", "is not a calibration"),
    ('{"benchmarks": []}', "benchmark JSON lacks test_full_run[1]"),
    ("NaN", "is not a calibration"),
    ("[" * 100_000, "cannot be read (RecursionError"),
])
def test_size_from_a_bad_calibration_is_one_line(tmp_path, text, needle):
    _refused(cli("size", "--from", _config(tmp_path, text), cwd=tmp_path), 2, needle)


def test_the_manifest_is_strict_json():
    assert json.loads(dumps({"x": 1.5}), parse_constant=lambda c: pytest.fail(c)) == {"x": 1.5}
    with pytest.raises(ValueError):
        dumps({"x": float("nan")})
