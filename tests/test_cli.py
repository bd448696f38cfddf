"""The command line as a user meets it: a real run read back, the data dictionary, bad input."""
import json
import subprocess
import sys

import pyarrow.dataset as ds
import pytest

from paths import ROOT


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "temu_gen", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_end_to_end_run_reads_back(tmp_path):
    r = cli("--events", "30000", "--chunk-size", "12000", "--workers", "2", "--seed", "3", "--output",
            str(tmp_path / "out"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "30,000 events, 3 files" in r.stdout and "events/s" in r.stdout and "peak RSS" in r.stdout
    (run_dir,) = (tmp_path / "out" / "events").iterdir()
    assert run_dir.name.startswith("run_id=") and (run_dir / "_SUCCESS").exists()
    dataset = ds.dataset(tmp_path / "out" / "events", format="parquet", partitioning="hive")
    t = dataset.to_table()
    assert t.num_rows == 30_000 and t["run_id"][0].as_py() == run_dir.name.split("=", 1)[1]
    manifest = json.loads((run_dir / "_manifest.json").read_text())
    assert manifest["seed"] == 3 and len(manifest["files"]) == 3


def test_console_script_and_module_agree():
    from pathlib import Path
    exe = Path(sys.executable).with_name("temu-gen")  # installed beside this interpreter
    assert exe.exists(), "the temu-gen console script is not installed"
    a = subprocess.run([str(exe), "schema", "--format", "json"], capture_output=True, text=True)
    assert a.stdout == cli("schema", "--format", "json").stdout


@pytest.mark.parametrize("args,needle,code", [
    (["--events", "0"], "must be at least 1", 2),
    (["--events", "-5"], "must be at least 1", 2),
    (["--chunk-size", "abc"], "not a whole number", 2),
    (["--workers", "0"], "must be at least 1", 2),
    (["--compression", "brotli"], "invalid choice", 2),
    (["--config", "/nonexistent/x.json"], "does not exist", 2),
    (["--output", "/proc/forbidden"], "not writable", 3),
    (["--run-id", "../escape"], "not allowed", 2),
    (["--seed", "-1"], "between 0", 2),
    (["--work", "2"], "unrecognized arguments: --work", 2),  # no abbreviations: flags are spelled out
    (["--output", "s3://b/p"], "'b' is not a valid bucket name", 2),  # a bad flag, not an unusable output
    (["--sse", "aws:kms"], "--sse applies to S3 output only, and --output ./output is a local folder", 2),
    # a preset's part numbers are the preset's, so the error speaks of the flags the user gave
    (["--defects", "hostile"], "--defects hostile drifts the schema from part 1 and needs 2 parts; 100 events at "
                               "--chunk-size 500,000 make 1: use a --chunk-size of 50 or less", 2),
])
def test_bad_input_is_one_line(tmp_path, args, needle, code):
    r = cli("--events", "100", *args, cwd=tmp_path) if args[0] != "--events" else cli(*args, cwd=tmp_path)
    assert r.returncode == code, r.stderr
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_a_memory_budget_no_run_can_keep_is_named(tmp_path):
    r = cli("--events", "1000", "--max-memory", "1KiB", "--output", str(tmp_path), "--no-progress")
    assert r.returncode == 0 and r.stderr == ("temu-gen: warning: --max-memory 1,024 bytes is below what a run holds "
                                              "at its smallest (about 250 MiB): it goes one task at a time and still "
                                              "exceeds the budget\n"), r.stderr


def test_the_commands_are_listed_and_a_misspelt_one_is_named():
    listed = cli("--help").stdout
    assert all(f"\n  {c} " in listed for c in ("run", "validate", "reconcile", "show", "runs", "size", "schema"))
    r = cli("valdate", "output")
    assert (r.returncode, r.stderr) == (2, "temu-gen: error: unknown command 'valdate'; did you mean validate?\n")


def test_invalid_config_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"funnel": {"p_browse": 2}}))
    r = cli("--config", str(bad), "--events", "10", "--output", str(tmp_path))
    assert r.returncode == 2 and "$.funnel.p_browse = 2" in r.stderr and len(r.stderr.splitlines()) == 1


def test_output_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = cli("--events", "10", "--output", str(f))
    assert r.returncode == 3 and "is a file" in r.stderr


def test_data_dictionary_is_current():
    r = cli("schema")
    assert r.returncode == 0
    assert (ROOT / "docs" / "data_dictionary.md").read_text() == r.stdout, \
        "regenerate with: python -m temu_gen schema > docs/data_dictionary.md"
    cols = json.loads(cli("schema", "--format", "json").stdout)["columns"]
    assert len(cols) >= 25 and all(c["description"] and c["null_when"] for c in cols)
    et = next(c for c in cols if c["name"] == "event_type")
    assert len(et["values"]) >= 22


def test_a_run_spares_pyarrow_the_pandas_import(tmp_path):
    """pyarrow would import pandas (0.7 s) in every worker; the run does without, and pandas stays importable after."""
    pytest.importorskip("pandas")
    code = ("import sys; from temu_gen.cli import main\n"
            f"rc = main(['--events', '20000', '--workers', '1', '--no-progress', '--output', {str(tmp_path)!r}])\n"
            "print(rc, 'pandas' in sys.modules)\n"
            "import pandas, pyarrow as pa; print(pa.table({'a': [1]}).to_pandas().shape)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[-3:-1] == ["0 False", "(1, 1)"], out


@pytest.mark.parametrize("args", [["schema"], ["--version"], ["size", "--help"]])
def test_a_reader_that_stops_early_is_not_an_error(args):
    """``temu-gen schema | head -1``: the closed pipe ends the command quietly, with no error line, whether the output
    left before the exit (27 kB) or only in the exit's own flush (a short table, --version)."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte: every write fails with EPIPE
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # output stays buffered until the exit
    try:
        r = subprocess.run([sys.executable, "-m", "temu_gen", *args], stdout=write, stderr=subprocess.PIPE,
                           text=True, timeout=60, env=env)
    finally:
        os.close(write)
    assert r.returncode == 141 and r.stderr == "", r.stderr


def test_a_broken_pipe_that_is_not_stdout_is_an_error(monkeypatch, capsys):
    """Only a reader of our own output going away is quiet: a broken pipe elsewhere is a one-line error."""
    from temu_gen import cli as cli_module

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli_module, "_schema", broken)
    assert cli_module.main(["schema"]) == 3
    assert capsys.readouterr().err.strip() == "temu-gen: error: Broken pipe"


def _closed(fd: int):
    import os

    return lambda: os.close(fd)


@pytest.mark.parametrize("where", ["stdout closed", "stdout full", "stderr closed", "both closed"])
def test_a_committed_run_exits_0_whatever_became_of_stdout_and_stderr(tmp_path, where):
    """A pipeline judges a run by its exit code: the summary line it could not print does not make a committed
    run a failure (it was exit 1 with a traceback, or exit 3), and a closed stderr does not stop the run."""
    import os

    if where == "stdout full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    closing = {"stdout closed": _closed(1), "stderr closed": _closed(2),
               "both closed": lambda: (os.close(1), os.close(2))}.get(where)
    with open("/dev/full" if where == "stdout full" else os.devnull, "w") as out:
        done = subprocess.run([sys.executable, "-m", "temu_gen", "--events", "20000", "--workers", "2",
                               "--output", str(tmp_path)], stdout=out, stderr=subprocess.PIPE if "stderr" not in where
                              and where != "both closed" else None, preexec_fn=closing, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.glob("events/run_id=*/_SUCCESS"))
    if where in ("stdout full", "stdout closed"):
        assert "the run committed, but its summary could not be written" in done.stderr


def test_schema_with_stdout_closed_is_no_internal_error():
    done = subprocess.run([sys.executable, "-m", "temu_gen", "schema"], stdout=subprocess.DEVNULL, text=True,
                          stderr=subprocess.PIPE, preexec_fn=_closed(1), timeout=120)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("blocking", ["events", "events/run_id=x"])
def test_a_file_where_the_run_needs_a_folder_is_named(tmp_path, blocking):
    """It was 'output ... is not writable (File exists)', which names neither the file nor what to do."""
    (tmp_path / "out" / blocking).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "out" / blocking).write_text("")
    r = cli("--events", "100", "--run-id", "x", "--output", "out", cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert r.stderr == (f"temu-gen: error: out/{blocking} is a file where the run needs a folder; "
                        f"remove it, or choose another --output or --run-id\n")
