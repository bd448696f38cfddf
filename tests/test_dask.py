"""The Dask engine: the pool's files byte for byte, a lost worker rerun and one commit, clean stops, one-line errors.

In-process runs use the engine's LocalCluster (processes=True, 2 workers, 1 thread each) forked from
the test process, so a test's monkeypatch reaches the workers: that is how a task kills its own
worker once (a marker file says it already did). CLI runs are started like a terminal job
(:mod:`procs`), so their whole process tree can be checked for survivors.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the Dask engine needs dask[distributed]: pip install 'temu-gen[dask]'")

from temu_gen import pool  # noqa: E402
from temu_gen.dask_engine import DaskEngine, setup_key, w_task  # noqa: E402
from temu_gen.errors import OutputError, RunFailed  # noqa: E402
from temu_gen.run import resume, run  # noqa: E402
from temu_gen.sinks import LocalDirSink  # noqa: E402
from temu_gen.sinks.local import LocalRun  # noqa: E402

from paths import SMOKE  # noqa: E402
from faults import reduce_fails_at  # noqa: E402
from procs import (WORKER, cli, dask_cluster, named, one_line, snapshot, start, start_run, survivors,  # noqa: E402
                   tree, wait_until)


def tables(root: Path, run_id: str) -> dict[str, str]:
    """table/name -> sha256 of every file of every table of a run (events, defects, users, orders, products)."""
    return {f"{p.parent.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob(f"*/run_id={run_id}/part-*"))}


def leftovers(root: Path, run_id: str) -> list[str]:
    """Hidden (temp or marker) files left in any table folder of the run."""
    return [str(p) for p in root.glob(f"*/run_id={run_id}/.*")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The smoke config's files written by the local pool (2 workers), seed 11, run id "d"."""
    from temu_gen import config

    root = tmp_path_factory.mktemp("pool")
    run(config.load(SMOKE), LocalDirSink(root), seed=11, run_id="d", workers=2, progress=False)
    return tables(root, "d")


def _kill_once_at(part_index: int, marker: Path, monkeypatch) -> None:
    """The worker that starts reduce task ``part_index`` first kills itself (SIGKILL), once."""
    real = pool.read_part

    def merge(folder, part):
        if part.index == part_index:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(folder, part)

    monkeypatch.setattr(pool, "read_part", merge)


def test_the_cli_writes_the_pools_files_byte_for_byte_with_defects(tmp_path):
    common = ("--config", str(SMOKE), "--defects", "hostile", "--seed", "7", "--run-id", "h", "--workers", "2")
    a = cli(*common, "--output", str(tmp_path / "pool"))
    b = cli(*common, "--engine", "dask", "--output", str(tmp_path / "dask"))
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ref, got = tables(tmp_path / "pool", "h"), tables(tmp_path / "dask", "h")
    assert {k.split("/")[0] for k in ref} == {"events", "defects", "users", "orders", "products"}
    assert any(k.endswith("-partial.parquet") for k in ref)  # the poison file too
    assert got == ref
    manifests = [json.loads((tmp_path / o / "events/run_id=h/_manifest.json").read_text()) for o in ("pool", "dask")]
    assert [m["engine"] for m in manifests] == ["pool", "dask"]
    assert manifests[0]["files"] == manifests[1]["files"] and manifests[0]["tables"] == manifests[1]["tables"]
    assert not leftovers(tmp_path / "dask", "h") and b.stderr == ""


def test_a_worker_killed_mid_run_is_rerun_and_the_run_commits_once(smoke_cfg, reference, tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    _kill_once_at(2, marker, monkeypatch)
    commits = []
    real_commit = LocalRun.commit
    monkeypatch.setattr(LocalRun, "commit", lambda self, *a: (commits.append(1), real_commit(self, *a))[1])
    with DaskEngine() as engine:
        summary = run(smoke_cfg, LocalDirSink(tmp_path / "out"), seed=11, run_id="d", workers=2, progress=False,
                      engine=engine)
    assert marker.exists()  # a worker really died holding task 2
    assert commits == [1] and summary.events == 20_000
    assert tables(tmp_path / "out", "d") == reference
    assert not leftovers(tmp_path / "out", "d")  # the killed worker's temp file was tidied before the commit
    assert (tmp_path / "out/events/run_id=d/_SUCCESS").exists()


def test_a_failed_dask_run_resumes_byte_identical(smoke_cfg, reference, tmp_path, monkeypatch):
    # the cluster's forked workers inherit the fault
    failed = pytest.raises(RunFailed, match="MemoryError: simulated.*--resume d")
    with reduce_fails_at(2), DaskEngine() as engine, failed:
        run(smoke_cfg, LocalDirSink(tmp_path), seed=11, run_id="d", workers=2, progress=False, engine=engine)
    assert not (tmp_path / "events/run_id=d/_SUCCESS").exists()
    with DaskEngine() as engine:
        summary = resume(LocalDirSink(tmp_path), "d", workers=2, progress=False, engine=engine)
    assert summary.resumed_files > 0 and summary.events == 20_000
    assert tables(tmp_path, "d") == reference and not leftovers(tmp_path, "d")


def test_a_task_failing_with_a_deep_traceback_fails_the_run(smoke_cfg, tmp_path, monkeypatch):
    # Dask pickles a failed task's traceback recursively: a RecursionError's thousand frames failed to pickle on
    # the worker, its report was lost and the run waited for ever
    def deep(folder, part, depth=0):
        return deep(folder, part, depth + 1)

    def too_long(*_):
        raise TimeoutError("the run did not end")

    monkeypatch.setattr(pool, "read_part", deep)
    before = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(120)
    try:
        with DaskEngine() as engine, pytest.raises(RunFailed, match="RecursionError: maximum recursion depth"):
            run(smoke_cfg, LocalDirSink(tmp_path), seed=11, run_id="d", workers=2, progress=False, engine=engine)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    assert not (tmp_path / "events/run_id=d/_SUCCESS").exists()


@pytest.mark.network
def test_s3_workers_upload_their_own_files_and_a_lost_one_is_rerun(smoke_cfg, reference, moto_server, bucket,
                                                                   tmp_path, monkeypatch):
    from s3_servers import CREDS
    from temu_gen.sinks.s3 import S3Options, S3Sink
    from temu_gen.sinks.s3_run import S3Run

    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    uploaders = tmp_path / "uploaders"
    real_upload = S3Run.upload

    def upload(self, record, path):
        with open(uploaders, "a") as f:
            f.write(f"{os.getpid()}\n")
        return real_upload(self, record, path)

    monkeypatch.setattr(S3Run, "upload", upload)
    marker = tmp_path / "killed"
    _kill_once_at(1, marker, monkeypatch)
    sink = S3Sink(f"s3://{bucket}/p", S3Options(endpoint_url=moto_server.endpoint, region="us-east-1"),
                  spool_dir=tmp_path / "spool")
    with DaskEngine() as engine:
        summary = run(smoke_cfg, sink, seed=11, run_id="d", workers=2, progress=False, engine=engine)
    assert marker.exists() and summary.location.startswith("s3://")
    pids = set(uploaders.read_text().split())
    assert pids and str(os.getpid()) not in pids  # uploaded by the workers, not the coordinator
    s3 = moto_server.client()
    objects = {}
    for table in ("events", "users", "orders", "products"):
        prefix = f"p/{table}/run_id=d/"
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            objects[f"{table}/{o['Key'][len(prefix):]}"] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    parts = {k: hashlib.sha256(v).hexdigest() for k, v in objects.items() if k.split("/")[1].startswith("part-")}
    assert parts == reference
    others = sorted(k for k in objects if k not in parts)
    assert others == ["events/_SUCCESS", "events/_manifest.json", "events/_run.json"]  # no lock, no records
    assert json.loads(objects["events/_manifest.json"])["engine"] == "dask"
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not list((tmp_path / "spool").glob("d.*"))


def _start_dask(tmp_path, events: int, chunk: int, *extra: str) -> tuple[subprocess.Popen, Path, list]:
    return start_run(tmp_path, events, chunk, "--engine", "dask", *extra)


@pytest.mark.parametrize("sig,group,code,cause", [
    (signal.SIGTERM, False, 143, "terminated by SIGTERM"),
    (signal.SIGINT, True, 130, "interrupted"),  # a terminal's Ctrl-C reaches the workers too
], ids=["SIGTERM", "Ctrl-C-group"])
def test_a_signal_stops_a_dask_run_cleanly(tmp_path, sig, group, code, cause):
    proc, run_dir, children = _start_dask(tmp_path, 1_200_000, 50_000)
    os.killpg(proc.pid, sig) if group else os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    line = one_line(err)
    assert line.startswith(f"temu-gen: error: run s failed ({cause}); chunks delivered: "), line
    assert line.endswith("; not committed (no _SUCCESS); resume with --resume s"), line
    assert survivors(children) == []
    assert not (run_dir / "_SUCCESS").exists() and not (run_dir / "_lock").exists()
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]
    before = snapshot(run_dir)
    time.sleep(1.0)
    assert snapshot(run_dir) == before


_WITHOUT_DASKS_WATCH = ("import distributed.process as dp; "
                        "dp.AsyncProcess._immediate_exit_when_closed = classmethod(lambda cls, pipe: None); "
                        "from temu_gen.cli import entry; entry()")
"""The CLI with Dask's own watch of the parent (a thread reading a pipe) switched off in its workers."""


@pytest.mark.parametrize("dask_watch", [True, False], ids=["as-shipped", "without-dasks-watch"])
def test_kill_9_of_the_coordinator_takes_the_local_cluster_with_it(tmp_path, dask_watch):
    """The workers die with the coordinator by the kernel's hand (PR_SET_PDEATHSIG), not only by Dask's pipe watch,
    which needs the worker's GIL and every copy of the pipe closed (it once left workers alive for over 30 s)."""
    args = ("--no-progress", "--events", "1200000", "--chunk-size", "50000", "--seed", "5", "--run-id", "s",
            "--workers", "2", "--output", str(tmp_path), "--engine", "dask")
    launcher = ["-m", "temu_gen"] if dask_watch else ["-c", _WITHOUT_DASKS_WATCH]
    proc = subprocess.Popen([sys.executable, *launcher, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    run_dir = tmp_path / "events" / "run_id=s"
    wait_until((run_dir / "part-00000.parquet").exists, proc, what="the first part landed")
    children = tree(proc.pid)
    try:
        assert len(named(children, WORKER)) == 2, [(c.pid, c.name()) for c in children]
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert survivors(children, timeout=5.0) == []
        before = snapshot(run_dir)
        time.sleep(1.0)
        assert snapshot(run_dir) == before
    finally:  # a failure here must not leave workers (and the ports they inherited) to the tests that follow
        for c in tree(proc.pid) + children:
            try:
                c.kill()
            except Exception:  # noqa: BLE001 - gone already
                pass


def test_a_worker_killed_from_outside_is_replaced_and_the_run_commits(tmp_path):
    events, chunk = 600_000, 25_000
    ref = cli("--events", str(events), "--chunk-size", str(chunk), "--seed", "5", "--run-id", "s", "--workers", "2",
              "--output", str(tmp_path / "pool"))
    assert ref.returncode == 0, ref.stderr
    proc, run_dir, children = _start_dask(tmp_path / "dask", events, chunk)
    os.kill(named(children, WORKER)[0].pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and err == "", err
    assert tables(tmp_path / "dask", "s") == tables(tmp_path / "pool", "s")
    assert not leftovers(tmp_path / "dask", "s")
    assert survivors(tree(proc.pid)) == []


def test_a_local_cluster_takes_no_fixed_port(tmp_path):
    """Another cluster's dashboard on 8787 (Jupyter, a second run) costs a run nothing, not even a warning line."""
    import socket

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:
        pass  # something else holds it already: the same situation
    try:
        r = cli("--events", "20000", "--chunk-size", "10000", "--seed", "5", "--run-id", "s", "--workers", "2",
                "--output", str(tmp_path), "--engine", "dask")
    finally:
        holder.close()
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.fixture
def scheduler(tmp_path):
    """A `dask scheduler` on 127.0.0.1 (no workers yet); yields (address, start N workers, kill the scheduler)."""
    with dask_cluster(tmp_path) as cluster:
        yield cluster


def test_a_running_scheduler_gets_the_same_files(scheduler, tmp_path, reference):
    address, workers, _ = scheduler
    r = cli("--config", str(SMOKE), "--seed", "11", "--run-id", "d", "--scheduler", address, "--output",
            str(tmp_path / "x"))
    assert r.returncode == 3 and "has no workers" in one_line(r.stderr)
    assert not (tmp_path / "x").exists()  # refused before the run was touched
    workers(2)
    # the coordinator of a cluster's run never imports the simulation (numba): its workers run every task
    argv = ["--config", str(SMOKE), "--seed", "11", "--run-id", "d", "--scheduler", address, "--output",
            str(tmp_path / "out"), "--no-progress"]
    code = ("import sys\nfrom temu_gen.cli import main\n"
            f"assert main({argv!r}) == 0\n"
            "print(sorted(m for m in sys.modules if m == 'numba' or m.startswith('temu_gen.kernels.')))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines()[-1] == "['temu_gen.kernels.codes']", r.stdout
    assert tables(tmp_path / "out", "d") == reference and not leftovers(tmp_path / "out", "d")
    manifest = json.loads((tmp_path / "out/events/run_id=d/_manifest.json").read_text())
    assert manifest["engine"] == "dask" and manifest["workers"] == 2
    from distributed import Client

    with Client(address, timeout=30) as c:  # the long-lived workers dropped the finished run's state
        held = lambda: len(__import__("temu_gen.dask_engine").dask_engine._STATES)  # noqa: E731 - sent by value
        wait_until(lambda: set(c.run(held).values()) == {0}, timeout=30, what="the workers forgot the run")


def test_a_run_waits_for_a_booting_clusters_workers(scheduler, tmp_path, reference):
    """--wait-workers: started before any worker exists (as on EC2, where the machines boot together), the run
    waits for them and writes the pool's files."""
    address, workers, _ = scheduler
    proc = start("--config", str(SMOKE), "--seed", "11", "--run-id", "d", "--scheduler", address, "--wait-workers",
                 "2", "--output", str(tmp_path / "out"))
    from distributed import Client

    with Client(address, timeout=30) as c:  # the run has connected, found no worker, and is still there
        others = lambda: c.run_on_scheduler(  # noqa: E731 - clients other than this one and Dask's own
            lambda dask_scheduler: len(set(dask_scheduler.clients) - {"fire-and-forget"}) - 1)
        wait_until(lambda: others() == 1, proc, timeout=60, what="the run connected to the scheduler")
        time.sleep(1)
        assert proc.poll() is None and not c.nthreads()  # waiting, not refused for having no workers
    workers(2)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert tables(tmp_path / "out", "d") == reference
    manifest = json.loads((tmp_path / "out/events/run_id=d/_manifest.json").read_text())
    assert manifest["workers"] == 2


def test_too_few_workers_in_time_is_one_line(scheduler, tmp_path):
    address, workers, _ = scheduler
    workers(1)
    argv = ["--events", "1000", "--scheduler", address, "--wait-workers", "3", "--output", str(tmp_path / "out")]
    code = ("import sys\nfrom temu_gen import dask_connect\nfrom temu_gen.cli import main\n"
            f"dask_connect.WAIT_WORKERS_S = 2.0\nsys.exit(main({argv!r}))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert "only 1 of the 3 Dask workers that --wait-workers asks for joined" in one_line(r.stderr), r.stderr
    assert not (tmp_path / "out").exists()


def test_a_lost_scheduler_fails_the_run_in_one_line(scheduler, tmp_path):
    address, workers, kill_scheduler = scheduler
    workers(2)
    proc = start("--events", "1200000", "--chunk-size", "50000", "--seed", "5", "--run-id", "s", "--scheduler",
                 address, "--output", str(tmp_path))
    run_dir = tmp_path / "events" / "run_id=s"
    wait_until((run_dir / "part-00000.parquet").exists, proc, what="the first part landed")
    kill_scheduler()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err
    line = one_line(err)  # none of Dask's reconnect tracebacks
    assert "the Dask scheduler was lost" in line and line.endswith("resume with --resume s"), line
    assert not (run_dir / "_SUCCESS").exists() and not (run_dir / "_lock").exists()


@pytest.mark.parametrize("args,needle,code", [
    (["--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler at tcp://127.0.0.1:9", 3),
    (["--scheduler", "tcp://127.0.0.1:9", "--engine", "pool"], "cannot be given with --engine pool", 2),
    (["--scheduler", "tcp://127.0.0.1:9", "--workers", "2"], "drop --workers", 2),
    (["--wait-workers", "2"], "give --scheduler ADDRESS with it", 2),
    (["--scheduler", "tcp://127.0.0.1:9", "--wait-workers", "0"], "--wait-workers", 2),
    (["--engine", "ray"], "invalid choice", 2),
])
def test_bad_engine_flags_are_one_line(tmp_path, args, needle, code):
    started = time.monotonic()
    r = cli("--events", "100", "--output", str(tmp_path / "out"), *args)
    assert r.returncode == code and needle in one_line(r.stderr), r.stderr
    assert not (tmp_path / "out").exists() and time.monotonic() - started < 60


@pytest.fixture
def not_a_scheduler():
    """Ports that accept connections but never speak Dask: one silent, one an HTTP server (as the dashboard is)."""
    import http.server
    import socket
    import threading

    silent = socket.create_server(("127.0.0.1", 0))
    held = []
    threading.Thread(target=lambda: held.extend(iter(silent.accept, None)), daemon=True).start()
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    yield {"silent": silent.getsockname()[1], "http": web.server_address[1]}
    web.shutdown()
    silent.close()


@pytest.mark.parametrize("service", ["silent", "http"])
def test_a_port_that_is_not_a_scheduler_is_one_line_not_a_hang(tmp_path, not_a_scheduler, service):
    """distributed.Client waits past its own timeout for ever on such a port (the dashboard's, given by mistake)."""
    r = cli("--events", "100", "--output", str(tmp_path / "out"), "--scheduler",
            f"tcp://127.0.0.1:{not_a_scheduler[service]}", timeout=90)
    assert r.returncode == 3, r.stderr
    line = one_line(r.stderr)
    assert "did not answer as a Dask scheduler" in line or "cannot reach the Dask scheduler" in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("address", ["ucx://127.0.0.1:8786", "inproc://x", "ws://127.0.0.1:8786"])
def test_a_scheduler_protocol_a_run_cannot_use_is_refused_up_front(tmp_path, address):
    r = cli("--events", "100", "--output", str(tmp_path / "out"), "--scheduler", address)
    assert r.returncode == 2 and "a run reaches its scheduler over tcp or tls" in one_line(r.stderr), r.stderr


def test_without_dask_the_engine_says_how_to_install_it(tmp_path):
    fake = tmp_path / "site" / "distributed"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named distributed', name='distributed')\n")
    r = cli("--events", "100", "--engine", "dask", "--output", str(tmp_path / "out"),
            env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), *sys.path])})
    assert r.returncode == 2 and "pip install 'temu-gen[dask]'" in one_line(r.stderr), r.stderr
    assert not (tmp_path / "out").exists()


def test_a_worker_that_does_not_share_the_folders_refuses_in_one_line(smoke_cfg, tmp_path):
    spool = tmp_path / "spool" / "map"
    spool.mkdir(parents=True)
    setup = pool.WorkerSetup(smoke_cfg, 1, tmp_path, spool, {"temu_gen.version": __import__("temu_gen").__version__})
    key = setup_key(setup)
    with pytest.raises(OutputError, match=r"does not see the run's folder .*spool.*--spool-dir"):
        w_task(key, __import__("pickle").dumps((setup, None)), pool.w_simulate_shard, None)
    with pytest.raises(OutputError, match="runs temu-gen .* and the coordinator 0.0.0"):
        w_task(key, __import__("pickle").dumps((setup._replace(metadata={"temu_gen.version": "0.0.0"}), None)),
               pool.w_simulate_shard, None)


def test_a_local_cluster_whose_worker_is_lost_at_birth_fails_in_one_line_that_says_so(tmp_path):
    """Dask reports a LocalCluster worker killed (or out of memory) while it starts as 'Nanny failed to start.'."""
    argv = ["--events", "1000", "--engine", "dask", "--workers", "2", "--run-id", "b", "--no-progress",
            "--output", str(tmp_path / "out")]
    code = ("import sys, distributed\nfrom temu_gen.cli import main\n"
            "def lost(*a, **k):\n    raise RuntimeError('Nanny failed to start.')\n"
            f"distributed.LocalCluster = lost\nsys.exit(main({argv!r}))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 4, r.stderr
    line = one_line(r.stderr)
    assert "the local Dask cluster could not start its 2 workers (RuntimeError: Nanny failed to start.)" in line, line
    assert line.endswith("resume with --resume b"), line
    run_dir = tmp_path / "out/events/run_id=b"
    assert (run_dir / "_run.json").exists() and not (run_dir / "_SUCCESS").exists()
