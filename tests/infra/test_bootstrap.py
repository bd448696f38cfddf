"""Bootstrap rehearsal: the user data Terraform renders, run offline against loopback S3.

``scripts/build_artifacts.py`` builds the real artifacts (for this machine's CPU and Python);
the runner-config module renders the user data with ``templatefile``, exactly as for EC2;
the artifacts go to a moto server that enforces IAM, and the runner's credentials carry
only the two policies Terraform gives the role (uploader + bootstrap, rendered from the same
files). Then bash executes those user-data bytes in a sandbox folder (``TEMU_GEN_ROOT``) with
the stand-ins of ``standins.py`` first on PATH.

Proved here: the package is installed from the artifact only (no index, every hash
checked), the kernels are compiled before the run, the unit is written and started, the run
commits with ``_SUCCESS`` under the role's permissions, a restart of a committed run does
nothing, an interrupted run resumes byte-identically, power-off is requested in ``once``
mode, and a broken artifact leaves ``_bootstrap_failed`` and starts nothing.
Not proved: Amazon Linux itself (dnf, its python3.11, systemd, cloud-init, real IMDS
credentials), KMS, and the real S3 endpoint; ``infra/smoke.sh`` covers those on AWS.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest

import standins
from paths import ROOT
from procs import wait_until
from s3_servers import MotoServer
from tfhelp import module_call, terraform_apply
from temu_gen.sinks.base import PartRecord
from uploader_policy import render_bootstrap_policy, render_uploader_policy

pytestmark = [pytest.mark.slow, pytest.mark.network]

ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}.get(platform.machine())
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PREFIX = "temu-gen"
ARGS = "--events 20000 --chunk-size 10000"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The real build step, for this machine's CPU and Python (the wheels must install here)."""
    if sys.platform != "linux" or ARCH is None:
        pytest.skip(f"the rehearsal installs manylinux wheels: needs Linux on x86_64 or aarch64, not "
                    f"{sys.platform}/{platform.machine()}")
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_artifacts.py"), "--out", str(out), "--arch", ARCH,
                        "--python-version", PYTHON], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def moto():
    srv = MotoServer(no_auth_actions=3)  # the admin user, its policy and key; every later request is checked
    iam = srv.client("iam")
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    yield srv, {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    srv.stop()


class Rehearsal(NamedTuple):
    returncode: int
    output: str
    root: Path
    env: dict
    bucket: str
    admin: object  # boto3 S3 client with every permission
    runner: object  # boto3 S3 client with the role's two policies

    def calls(self, tool: str | None = None) -> list[dict]:
        lines = Path(self.env["STANDIN_LOG"]).read_text().splitlines()
        return [c for c in map(json.loads, lines) if tool is None or c["tool"] == tool]

    def journal(self) -> str:
        return Path(self.env["STANDIN_JOURNAL"]).read_text()

    def keys(self, prefix: str = PREFIX) -> list[str]:
        return sorted(o["Key"] for o in self.admin.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.admin.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def start_service(self) -> subprocess.CompletedProcess:
        """What systemd does at the next boot of a Spot instance: start the enabled unit."""
        return subprocess.run([self.env["PATH"].split(":")[0] + "/systemctl", "start", "temu-gen.service"],
                              env=self.env, capture_output=True, text=True, timeout=600)


class Stack(NamedTuple):
    """What ``terraform apply`` leaves for the instances: the module's outputs, the artifacts in the bucket, the role."""

    rc: dict
    bucket: str
    admin: object
    runner: object
    creds: dict
    endpoint: str


def deploy(tmp: Path, moto, dist: Path, bucket: str, tamper: str | None = None, **overrides) -> Stack:
    srv, admin_creds = moto
    admin = srv.client(**admin_creds)
    admin.create_bucket(Bucket=bucket)
    r, out = terraform_apply(tmp / "render", module_call(
        dist, instance_type="rehearsal.large", supported_architectures=[ARCH], bucket=bucket, region="us-east-1",
        events_prefix=PREFIX, generator_args=ARGS, **overrides))
    assert r.returncode == 0, r.stderr
    rc = out["rc"]
    for key, f in rc["artifacts"].items():
        body = Path(f["source"]).read_bytes()
        admin.put_object(Bucket=bucket, Key=key, Body=b"tampered" + body if tamper and tamper in key else body)
    iam = srv.client("iam", **admin_creds)
    user = f"runner-{bucket}"
    iam.create_user(UserName=user)
    for name, doc in (("uploader", render_uploader_policy(bucket, PREFIX, region="us-east-1")),
                      ("bootstrap", render_bootstrap_policy(bucket))):
        iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=json.dumps(doc))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    creds = {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    return Stack(rc, bucket, admin, srv.client(**creds), creds, srv.endpoint)


def boot(tmp: Path, stack: Stack, user_data: str, instance: str = "i-0rehearsal", **env) -> tuple[list, Path, dict]:
    """The command, sandbox root and environment that run ``user_data`` as the first boot of ``instance``."""
    root = tmp / "root"
    (root / "var/lib/cloud/data").mkdir(parents=True)
    (root / "var/lib/cloud/data/instance-id").write_text(f"{instance}\n")
    standins.install(tmp / "bin", stack.rc["python_version"])
    (tmp / "user-data.sh").write_text(user_data)
    full = {"PATH": f"{tmp / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp / "home"), "LANG": "C.UTF-8",
            "TEMU_GEN_ROOT": str(root), "STANDIN_LOG": str(tmp / "calls.jsonl"),
            "STANDIN_JOURNAL": str(tmp / "journal.log"), "AWS_ENDPOINT_URL": stack.endpoint,
            "AWS_ACCESS_KEY_ID": stack.creds["key"], "AWS_SECRET_ACCESS_KEY": stack.creds["secret"], **env}
    (tmp / "journal.log").touch()
    return ["bash", str(tmp / "user-data.sh")], root, full


def rehearse(tmp: Path, moto, dist: Path, bucket: str, tamper: str | None = None) -> Rehearsal:
    stack = deploy(tmp, moto, dist, bucket, tamper)
    cmd, root, env = boot(tmp, stack, stack.rc["user_data"])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    return Rehearsal(done.returncode, done.stdout + done.stderr, root, env, bucket, stack.admin, stack.runner)


@pytest.fixture(scope="module")
def once(tmp_path_factory, moto, dist):
    started = time.time()
    r = rehearse(tmp_path_factory.mktemp("once"), moto, dist, "rehearsal-once")
    assert r.returncode == 0, r.output + (r.root / "var/log/temu-gen-bootstrap.log").read_text()[-5000:]
    return r, started


def _run_dir(r: Rehearsal) -> str:
    run_id = (r.root / "var/lib/temu-gen/run_id").read_text().strip()
    return f"{PREFIX}/events/run_id={run_id}"


def test_the_package_comes_only_from_the_artifact(once, dist):
    r, _ = once
    downloads = [c["args"] for c in r.calls("aws") if c["args"][:2] == ["s3", "cp"] and "--recursive" in c["args"]]
    assert downloads == [["s3", "cp", "--only-show-errors", "--recursive", f"s3://{r.bucket}/artifacts/{ARCH}/",
                          f"{r.root}/opt/temu-gen-artifacts/"]]
    site = next((r.root / "opt/temu-gen/lib").glob("python*/site-packages"))
    with zipfile.ZipFile(next(dist.glob("temu_gen-*.whl"))) as z:
        record = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))).decode()
    package_files = {line for line in record.splitlines() if line.startswith("temu_gen/")}
    installed = (next(site.glob("temu_gen-*.dist-info")) / "RECORD").read_text().splitlines()
    assert len(package_files) > 20 and package_files <= set(installed)  # same files, same SHA-256s as the wheel
    log = (r.root / "var/log/temu-gen-bootstrap.log").read_text()
    assert "requirements.txt: OK" in log and "Looking in indexes" not in log
    assert [c["args"] for c in r.calls("dnf")] == [["install", "-y", f"python{PYTHON}", f"python{PYTHON}-pip"]]


def test_kernels_are_compiled_before_the_timed_run(once):
    r, _ = once
    warm = r.calls("runuser")
    assert len(warm) == 1 and warm[0]["args"][:3] == ["-u", "temu-gen", "--"]
    assert "--run-id" in warm[0]["args"] and "warm-up" in warm[0]["args"]
    run_started = next(c["t"] for c in r.calls("systemd") if c["args"] == ["run", "temu-gen.service"])
    cache = list((r.root / "var/lib/temu-gen/numba-cache").rglob("*.nb[ic]"))
    assert len(cache) > 10
    assert max(p.stat().st_mtime for p in cache) < run_started  # the run loaded the cache, compiled nothing


def test_the_unit_is_started_once_and_the_run_commits(once):
    r, _ = once
    assert [c["args"] for c in r.calls("systemctl")][:2] == [["daemon-reload"], ["start", "--no-block", "temu-gen.service"]]
    assert [c for c in r.calls("systemd") if c["args"][0] == "run"] == \
        [next(c for c in r.calls("systemd") if c["args"][0] == "run")]
    run = _run_dir(r)
    assert r.keys(f"{run}/") == [f"{run}/{n}" for n in ("_SUCCESS", "_manifest.json", "_run.json",
                                                        "part-00000.parquet", "part-00001.parquet")]
    manifest = json.loads(r.read(f"{run}/_manifest.json"))
    assert manifest["events"] == 20000 and [f["rows"] for f in manifest["files"]] == [10000, 10000]
    assert not any(k.endswith(("_bootstrap_failed", "_run_failed")) for k in r.keys())
    assert "bootstrap complete on i-0rehearsal; starting temu-gen.service (once)" in r.journal()
    assert f"run {run.rsplit('=', 1)[1]}: 20,000 events, 2 files" in r.journal()


def test_once_mode_powers_off_after_the_run(once):
    r, _ = once
    calls = [c["args"] for c in r.calls("systemctl")]
    assert calls[-2:] == [["is-system-running"], ["poweroff", "--no-block"]]
    exited = next(c["t"] for c in r.calls("systemd") if c["args"][0] == "exited")
    poweroff = next(c["t"] for c in r.calls("systemctl") if c["args"][0] == "poweroff")
    assert poweroff > exited


def test_a_restart_after_the_commit_runs_nothing_again(once):
    r, _ = once
    before = r.keys()
    done = r.start_service()
    assert done.returncode == 0, done.stderr
    assert r.keys() == before
    assert f"run {_run_dir(r).rsplit('=', 1)[1]} is already committed" in r.journal()
    assert [c["args"] for c in r.calls("systemctl")][-1] == ["poweroff", "--no-block"]


def _us(iso: str | None) -> int:
    """A manifest's ISO 8601 arrival time as the record's µs since the epoch."""
    import datetime as dt

    if iso is None:
        return 0
    return (dt.datetime.fromisoformat(iso) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(
        microseconds=1)


def test_an_interrupted_run_resumes_byte_identically(once):
    r, _ = once
    run = _run_dir(r)
    committed = json.loads(r.read(f"{run}/_manifest.json"))
    for name in ("_SUCCESS", "_manifest.json", "part-00001.parquet"):  # as a Spot stop mid-run leaves it
        r.admin.delete_object(Bucket=r.bucket, Key=f"{run}/{name}")
    # ... with the records the uploader keeps for the files of a task it finished (a commit removes them): part 0
    # and its share of the other tables
    task0 = [("events", committed["files"][0])] + [(t, f) for t, doc in committed["tables"].items()
                                                   for f in doc["files"] if f["chunk"] == 0]
    for table, f in task0:
        key = f"{run}/{f['name']}" if table == "events" else f"{run.replace('/events/', f'/{table}/')}/{f['name']}"
        head = r.admin.head_object(Bucket=r.bucket, Key=key, ChecksumMode="ENABLED")
        record = PartRecord(f["chunk"], f["name"], f["rows"], f["bytes"], f["sha256"], head["ETag"],
                            head.get("ChecksumSHA256", ""), f.get("upload_parts", 1), table=table,
                            log_rows=f.get("log_rows", 0), first_ingest_us=_us(f.get("first_ingest_ts")),
                            last_ingest_us=_us(f.get("last_ingest_ts")), sessions=f.get("sessions", 0),
                            orders=f.get("orders", 0))
        r.admin.put_object(Bucket=r.bucket, Key=f"{run}/_parts/{record.key}.json", Body=json.dumps(record.to_json()))
    done = r.start_service()
    assert done.returncode == 0, done.stderr
    resumed = json.loads(r.read(f"{run}/_manifest.json"))
    assert resumed["resumed_files"] == 1 and f"{run}/_SUCCESS" in r.keys(f"{run}/")
    assert [f["sha256"] for f in resumed["files"]] == [f["sha256"] for f in committed["files"]]
    assert f"run {run.rsplit('=', 1)[1]}: 20,000 events, 2 files, 1 kept from the failed run" in r.journal()


def test_a_broken_artifact_leaves_a_marker_and_starts_nothing(tmp_path, moto, dist):
    r = rehearse(tmp_path, moto, dist, "rehearsal-broken", tamper="numba-")
    assert r.returncode != 0
    marker = r.read(f"{PREFIX}/_bootstrap_failed").decode()
    assert marker.startswith("instance i-0rehearsal: bootstrap failed (exit 1); last lines of")
    assert "DO NOT MATCH THE HASHES" in marker and "numba" in marker
    assert "bootstrap failed (exit 1); temu-gen.service not installed" in r.journal()
    assert not (r.root / "etc/systemd/system").exists() and not (r.root / "usr/local/bin/temu-gen-run").exists()
    assert [c["args"] for c in r.calls("systemctl")] == [["poweroff", "--no-block"]]
    assert r.calls("runuser") == [] and r.keys(f"{PREFIX}/events/") == []
    assert not list((r.root / "opt/temu-gen/lib").glob("python*/site-packages/temu_gen"))


# --- a Dask cluster of two nodes (dask_nodes = 2) ---------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _groups(r: Rehearsal) -> list[int]:
    """Process groups of the background services the node's systemctl stand-in started."""
    path = Path(r.env["STANDIN_LOG"] + ".pgids")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, moto, dist):
    """The runner and one worker node booted at the same time from the user data Terraform renders for
    dask_nodes = 2, each in a sandbox of its own, sharing one folder as their EFS. This machine's vCPUs are each
    node's, so the run waits for 2 x vCPUs Dask worker processes."""
    tmp = tmp_path_factory.mktemp("cluster")
    from dask.system import CPU_COUNT  # what `dask worker --nworkers -1` starts: affinity and cgroups included

    vcpus = CPU_COUNT
    stack = deploy(tmp, moto, dist, "rehearsal-cluster", dask_nodes=2, vcpus=vcpus, efs_address="127.0.0.1",
                   scheduler_host="127.0.0.1", scheduler_port=_free_port())
    (tmp / "efs").mkdir()
    nodes, procs = {}, {}
    try:
        for name, user_data in (("worker", stack.rc["worker_user_data"]), ("runner", stack.rc["user_data"])):
            (tmp / name).mkdir()
            cmd, root, env = boot(tmp / name, stack, user_data, f"i-0{name}", STANDIN_SHARE=str(tmp / "efs"))
            out = open(tmp / name / "user-data.out", "w")
            procs[name] = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
            nodes[name] = Rehearsal(0, "", root, env, stack.bucket, stack.admin, stack.runner)
        for name, proc in procs.items():
            proc.wait(timeout=900)
            nodes[name] = nodes[name]._replace(returncode=proc.returncode,
                                               output=(tmp / name / "user-data.out").read_text())
        yield nodes, vcpus
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        for node in nodes.values():
            for pgid in _groups(node):
                if _alive(pgid):
                    os.killpg(pgid, signal.SIGKILL)


def _bootstrap_log(node: Rehearsal) -> str:
    return node.output + (node.root / "var/log/temu-gen-bootstrap.log").read_text()[-5000:]


def test_a_cluster_boots_waits_for_its_workers_and_commits_once(cluster):
    nodes, vcpus = cluster
    runner, worker = nodes["runner"], nodes["worker"]
    assert worker.returncode == 0, _bootstrap_log(worker)
    assert runner.returncode == 0, _bootstrap_log(runner) + runner.journal()[-3000:]
    assert [c["args"] for c in runner.calls("systemctl")][:3] == [
        ["daemon-reload"], ["enable", "--now", "temu-gen-dask-scheduler.service", "temu-gen-dask-worker.service"],
        ["start", "--no-block", "temu-gen.service"]]
    assert sorted(c["args"][1] for c in runner.calls("systemd") if c["args"][0] == "run") == \
        ["temu-gen-dask-scheduler.service", "temu-gen-dask-worker.service", "temu-gen.service"]
    assert [c["args"][1] for c in worker.calls("systemd") if c["args"][0] == "run"] == \
        ["temu-gen-dask-worker.service"]
    assert "bootstrap complete on i-0worker; starting temu-gen-dask-worker.service (once)" in worker.journal()
    run = _run_dir(runner)
    assert runner.keys(f"{run}/") == [f"{run}/{n}" for n in ("_SUCCESS", "_manifest.json", "_run.json",
                                                             "part-00000.parquet", "part-00001.parquet")]
    manifest = json.loads(runner.read(f"{run}/_manifest.json"))
    # the run started only once both nodes' worker processes had joined (--wait-workers 2 x vCPUs)
    assert manifest["engine"] == "dask" and manifest["workers"] == 2 * vcpus and manifest["events"] == 20000
    assert not any("_bootstrap_failed" in k or k.endswith("_run_failed") for k in runner.keys())
    assert f"run {run.rsplit('=', 1)[1]}: 20,000 events, 2 files" in runner.journal()
    spool = runner.root / "mnt/temu-gen/spool"
    assert spool.resolve().parent.name == "efs" and not any(spool.iterdir())  # on the share; the run cleaned it


def test_the_cluster_writes_the_pools_bytes(cluster, tmp_path):
    nodes, _ = cluster
    runner = nodes["runner"]
    run = _run_dir(runner)
    manifest = json.loads(runner.read(f"{run}/_manifest.json"))
    run_id = run.rsplit("=", 1)[1]
    r = subprocess.run([sys.executable, "-m", "temu_gen", "--no-progress", *ARGS.split(), "--seed",
                        str(manifest["seed"]), "--run-id", run_id, "--workers", "2", "--output", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    local = tmp_path / "events" / f"run_id={run_id}"
    assert [f["sha256"] for f in manifest["files"]] == \
        [hashlib.sha256((local / f["name"]).read_bytes()).hexdigest() for f in manifest["files"]]


def test_after_the_run_the_cluster_shuts_down_and_the_worker_node_powers_off(cluster):
    nodes, _ = cluster
    runner, worker = nodes["runner"], nodes["worker"]
    # the runner's finish step closes the scheduler: every Dask process of both nodes ends on its own
    wait_until(lambda: not any(_alive(g) for n in (runner, worker) for g in _groups(n)), timeout=120,
               what="every Dask process ended")
    assert len(_groups(runner)) == 2 and len(_groups(worker)) == 1
    run_exited = next(c["t"] for c in runner.calls("systemd") if c["args"][:2] == ["exited", "temu-gen.service"])
    off = [c["t"] for c in worker.calls("systemctl") if c["args"][0] == "poweroff"]
    assert len(off) == 1 and off[0] > run_exited
    assert [c["args"] for c in runner.calls("systemctl")][-1] == ["poweroff", "--no-block"]
