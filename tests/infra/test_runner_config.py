"""The runner's decisions, evaluated by terraform itself: the provider-free runner-config module and the AMI pin.

``modules/runner-config`` holds every decision that does not need AWS (architecture, zone,
artifacts, user data) as a pure module, so these tests run the real HCL with made-up AWS
facts. The AMI pin is the real ``terraform_data.ami`` block of ec2.tf, with its two AWS
inputs turned into variables, applied twice against local state.
"""
from __future__ import annotations

import hashlib
import json
import re

import pytest

from tfhelp import TF, module_call, terraform_apply


def _fake_artifacts(root, arches=("x86_64",), python="3.11"):
    files = {}
    for arch in arches:
        (root / arch).mkdir(parents=True)
        (root / arch / "requirements.txt").write_text(f"temu-gen==0.1.0 --hash=sha256:{'0' * 64}\n")
        (root / arch / "temu_gen-0.1.0-py3-none-any.whl").write_bytes(b"not really a wheel")
        files[arch] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (root / arch).iterdir()}
    manifest = {"format": 1, "version": "0.1.0", "python_version": python,
                "architectures": {a: {"requirements": "requirements.txt", "files": f} for a, f in files.items()}}
    (root / "artifacts.json").write_text(json.dumps(manifest))
    return root


def evaluate(tmp_path, artifacts_dir, **overrides):
    r, out = terraform_apply(tmp_path / "root", module_call(artifacts_dir, **overrides))
    return r, out.get("rc")


@pytest.fixture
def artifacts(tmp_path):
    return _fake_artifacts(tmp_path / "dist")


def test_architecture_and_zone_follow_the_instance_type(tmp_path, artifacts):
    r, rc = evaluate(tmp_path, artifacts)
    assert r.returncode == 0, r.stderr
    assert (rc["architecture"], rc["availability_zone"], rc["python_version"]) == ("x86_64", "eu-west-1a", "3.11")
    assert set(rc["artifacts"]) == {"artifacts/x86_64/requirements.txt", "artifacts/x86_64/temu_gen-0.1.0-py3-none-any.whl"}
    wheel = rc["artifacts"]["artifacts/x86_64/temu_gen-0.1.0-py3-none-any.whl"]
    assert wheel == {"source": f"{artifacts}/x86_64/temu_gen-0.1.0-py3-none-any.whl",
                     "sha256": hashlib.sha256(b"not really a wheel").hexdigest()}


def test_a_graviton_type_gets_arm64_and_its_own_wheelhouse(tmp_path):
    dist = _fake_artifacts(tmp_path / "dist", arches=("x86_64", "arm64"))
    r, rc = evaluate(tmp_path, dist, instance_type="c7g.2xlarge", supported_architectures=["arm64"],
                     requested_zone="eu-west-1b")
    assert r.returncode == 0, r.stderr
    assert (rc["architecture"], rc["availability_zone"]) == ("arm64", "eu-west-1b")
    assert all(k.startswith("artifacts/arm64/") for k in rc["artifacts"])
    assert "ARTIFACTS='s3://temu-gen-events-123456789012-eu-west-1/artifacts/arm64'" in rc["user_data"]


@pytest.mark.parametrize("overrides,message", [
    ({"supported_architectures": ["x86_64_mac"]}, "runs x86_64_mac; temu-gen needs x86_64 or arm64"),
    ({"offered_zones": ["eu-west-1c"]}, "No availability zone of eu-west-1 offers c6i.2xlarge"),
    ({"requested_zone": "eu-west-1c"}, "availability_zone eu-west-1c does not offer c6i.2xlarge; zones that do: "
                                       "eu-west-1a, eu-west-1b."),
    ({"instance_type": "c7g.large", "supported_architectures": ["arm64"]},
     "holds no build for arm64 (c7g.large); run: python scripts/build_artifacts.py --arch arm64"),
])
def test_impossible_choices_fail_the_plan_with_what_to_do(tmp_path, artifacts, overrides, message):
    r, _ = evaluate(tmp_path, artifacts, **overrides)
    assert r.returncode == 1
    assert message in re.sub(r"\s*\n\s*", " ", r.stderr)


def test_missing_or_changed_artifacts_fail_the_plan(tmp_path, artifacts):
    r, _ = evaluate(tmp_path, tmp_path / "nowhere")
    assert r.returncode == 1 and "build them first, from the repository root: python scripts/build_artifacts.py" \
        in re.sub(r"\s*\n\s*", " ", r.stderr)
    (artifacts / "x86_64" / "temu_gen-0.1.0-py3-none-any.whl").write_bytes(b"tampered")
    r, _ = evaluate(tmp_path, artifacts)
    assert r.returncode == 1 and "differ from artifacts.json" in r.stderr


def _unit(user_data: str, name: str) -> str:
    m = re.search(rf'cat > "\$units/{re.escape(name)}" <<\'?UNIT\'?\n(.*?)\nUNIT\n', user_data, re.S)
    return m.group(1) if m else ""


def test_once_mode_user_data_installs_by_hash_and_powers_off(tmp_path, artifacts):
    r, rc = evaluate(tmp_path, artifacts)
    ud = rc["user_data"]
    req = hashlib.sha256((artifacts / "x86_64" / "requirements.txt").read_bytes()).hexdigest()
    assert f"REQUIREMENTS_SHA256='{req}'" in ud and "PYTHON='python3.11'" in ud and "MODE='once'" in ud
    pip = re.search(r'"\$venv/bin/pip" install (.*?)\n\s*-r "\$wheels/requirements.txt"', ud, re.S).group(1)
    assert pip.split() == ["--no-index", "--no-cache-dir", "--find-links", '"$wheels"', "--require-hashes",
                           "--only-binary", ":all:", "\\"]
    assert "pypi" not in ud.lower() and "git+" not in ud
    unit = _unit(ud, "temu-gen.service")
    assert "ExecStart=$bin/temu-gen-run" in unit and "ExecStopPost=+$bin/temu-gen-finish" in unit
    assert "KillSignal=SIGINT" in unit and "User=temu-gen" in unit
    assert _unit(ud, "temu-gen.timer") == ""
    assert ud.endswith("systemctl daemon-reload\nsystemctl start --no-block temu-gen.service\n")
    assert "TEMU_GEN_ARGS=--events 2100000\n" in ud
    assert len(ud.encode()) < 16384


def test_schedule_mode_installs_the_timer_and_never_powers_off(tmp_path, artifacts):
    r, rc = evaluate(tmp_path, artifacts, run_mode="schedule", schedule="Mon..Fri *-*-* 06:00:00",
                     cloudwatch_logs=True)
    ud = rc["user_data"]
    assert "MODE='schedule'" in ud and ud.endswith("systemctl daemon-reload\nsystemctl enable --now temu-gen.timer\n")
    assert "OnCalendar=Mon..Fri *-*-* 06:00:00" in _unit(ud, "temu-gen.timer")
    assert "amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s" in ud
    cw = re.search(r"<<CW\n(.*?)\nCW\n", ud, re.S).group(1).replace("$home", "/h").replace("$log", "/l")
    streams = json.loads(cw)["logs"]["logs_collected"]["files"]["collect_list"]
    assert [(s["file_path"], s["log_group_name"]) for s in streams] == [("/h/run.log", "/temu-gen/generator"),
                                                                       ("/l", "/temu-gen/generator")]
    assert len(ud.encode()) < 16384


def test_spot_starts_the_run_at_every_boot(tmp_path, artifacts):
    r, rc = evaluate(tmp_path, artifacts, spot=True)
    assert re.search(r"daemon-reload\nsystemctl enable temu-gen.service .*\nsystemctl start --no-block temu-gen.service\n$",
                     rc["user_data"])
    assert "WantedBy=multi-user.target" in _unit(rc["user_data"], "temu-gen.service")


def test_the_ami_is_kept_until_asked_to_follow(tmp_path):
    block = re.search(r'resource "terraform_data" "ami" \{.*?\n\}\n', (TF / "ec2.tf").read_text(), re.S).group(0)
    block = block.replace("nonsensitive(data.aws_ssm_parameter.al2023.value)", "var.latest") \
        .replace("module.runner_config.architecture", "var.arch")
    main = ('variable "latest" {}\nvariable "arch" {}\nvariable "follow_latest_ami" {}\n' + block +
            'output "ami" {\n  value = terraform_data.ami.output\n}\n')

    def apply(latest, arch="x86_64", follow="false"):
        r, out = terraform_apply(tmp_path / "ami", main, "-var", f"latest={latest}", "-var", f"arch={arch}",
                                 "-var", f"follow_latest_ami={follow}")
        assert r.returncode == 0, r.stderr
        return out["ami"]

    assert apply("ami-1") == "ami-1"
    assert apply("ami-2") == "ami-1"  # a newer AMI alone: the instance keeps its own
    assert apply("ami-3", arch="arm64") == "ami-3"  # a new architecture needs its own AMI
    assert apply("ami-4", arch="arm64", follow="true") == "ami-4"  # opted in: every new AMI replaces
    assert apply("ami-5", arch="arm64", follow="true") == "ami-5"


CLUSTER = dict(dask_nodes=3, vcpus=8, efs_address="10.42.0.9", scheduler_host="10.42.0.5")


def test_a_cluster_runner_holds_the_scheduler_and_waits_for_every_worker(tmp_path, artifacts):
    r, rc = evaluate(tmp_path, artifacts, **CLUSTER)
    assert r.returncode == 0, r.stderr
    ud = rc["user_data"]
    assert "mount -t nfs4 -o \"$nfs_opts\" '10.42.0.9:/' \"$share\"" in ud and "--uid 7810" in ud
    scheduler = _unit(ud, "temu-gen-dask-scheduler.service")
    assert "ExecStart=$dask scheduler --port 8786 --no-dashboard" in scheduler
    worker = _unit(ud, "temu-gen-dask-worker.service")
    assert "$dask worker tcp://127.0.0.1:8786 --nworkers -1 --nthreads 1 --memory-limit 0" in worker
    assert "Restart=always" in worker and "poweroff" not in worker  # the runner powers off after its run
    for unit in (scheduler, worker, _unit(ud, "temu-gen.service")):  # never on the bare mount point
        assert "RequiresMountsFor=/mnt/temu-gen" in unit
    for unit in (scheduler, worker):  # they come back after a reboot (schedule mode, a maintenance stop)
        assert "WantedBy=multi-user.target" in unit
    # 3 nodes x 8 vCPUs: the run starts once all 24 worker processes have joined, with the spool on EFS
    assert "TEMU_GEN_CLUSTER=--scheduler tcp://127.0.0.1:8786 --wait-workers 24\n" in ud
    assert "TEMU_GEN_SPOOL=$share/spool\n" in ud
    assert "Wants=network-online.target temu-gen-dask-scheduler.service temu-gen-dask-worker.service" in \
        _unit(ud, "temu-gen.service")
    assert ud.endswith("systemctl enable --now temu-gen-dask-scheduler.service temu-gen-dask-worker.service\n"
                       "systemctl start --no-block temu-gen.service\n")
    assert ".shutdown()" in ud  # once: the finished run closes the cluster, so the worker nodes power off
    assert len(ud.encode()) < 16384


def test_a_worker_node_is_bootstrapped_like_the_runner_and_runs_only_dask(tmp_path, artifacts):
    r, rc = evaluate(tmp_path, artifacts, **CLUSTER)
    ud, wd = rc["user_data"], rc["worker_user_data"]
    boot = lambda text: re.search(r"\nbootstrap\(\) \{\n.*?\n\}\n", text, re.S).group(0)  # noqa: E731
    assert boot(wd) == boot(ud)  # the same hash-locked install, the same mount, the same warm kernel cache
    assert _unit(wd, "temu-gen.service") == "" and _unit(wd, "temu-gen-dask-scheduler.service") == ""
    assert "runner.env" not in wd and "temu-gen-run" not in wd
    worker = _unit(wd, "temu-gen-dask-worker.service")
    assert "$dask worker tcp://10.42.0.5:8786 --nworkers -1" in worker  # the runner's private address
    assert "RequiresMountsFor=/mnt/temu-gen" in worker and "WantedBy=multi-user.target" in worker
    assert "Restart" not in worker  # once: a worker node does not outlive the run's scheduler
    assert "ExecStopPost=+systemctl poweroff --no-block" in worker  # once: it ends with the runner's scheduler
    assert "_bootstrap_failed_worker_$instance" in wd  # a worker's failure never hides or clears the runner's
    assert wd.endswith("systemctl enable --now temu-gen-dask-worker.service\n")
    assert len(wd.encode()) < 16384


def test_a_scheduled_cluster_keeps_its_workers_up(tmp_path, artifacts):
    r, rc = evaluate(tmp_path, artifacts, run_mode="schedule", **CLUSTER)
    worker = _unit(rc["worker_user_data"], "temu-gen-dask-worker.service")
    assert "Restart=always" in worker and "poweroff" not in worker


@pytest.mark.parametrize("overrides,expected", [
    ({}, ""),  # no cluster: no worker user data, and the runner's is the plain one
    (dict(dask_nodes=2, vcpus=2, efs_address="", scheduler_host="10.0.0.5"), "needs the IPv4 address of its EFS"),
    (dict(dask_nodes=2, vcpus=2, efs_address="10.0.0.9", scheduler_host=""), "need the runner's private IPv4"),
    (dict(dask_nodes=2, vcpus=768, efs_address="10.0.0.9", scheduler_host="10.0.0.5"), "at most 500"),
])
def test_without_a_cluster_there_is_no_worker_and_a_cluster_needs_its_efs(tmp_path, artifacts, overrides, expected):
    r, rc = evaluate(tmp_path, artifacts, **overrides)
    if expected:
        assert r.returncode != 0 and expected in " ".join(r.stderr.split()), r.stderr
    else:
        assert r.returncode == 0 and rc["worker_user_data"] == ""
        assert "dask" not in rc["user_data"] and "TEMU_GEN_CLUSTER=\n" in rc["user_data"]


def test_the_workers_take_the_runners_address_without_a_cycle(tmp_path, artifacts):
    """The runner's user data is an input of the runner, whose address is an input of the workers' user data, all in
    one module call: Terraform must see no cycle (a terraform_data resource stands in for the runner instance)."""
    call = module_call(artifacts, dask_nodes=2, vcpus=4, efs_address="10.42.0.9")
    call = call.replace('module "rc" {\n', 'module "rc" {\n  scheduler_host = terraform_data.runner.output\n', 1)
    call += ('resource "terraform_data" "runner" {\n'
             '  input = length(module.rc.user_data) > 0 ? "10.42.0.5" : "no user data"\n}\n')
    r, out = terraform_apply(tmp_path / "cycle", call)
    assert r.returncode == 0, r.stderr
    assert "dask worker tcp://10.42.0.5:8786 " in out["rc"]["worker_user_data"]
    assert "10.42.0.5" not in out["rc"]["user_data"]
