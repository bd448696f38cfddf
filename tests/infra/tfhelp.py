"""Helpers for the offline infrastructure tests: tools, the parsed HCL, and provider-free terraform runs.

The AWS provider cannot be downloaded here, so nothing is planned against AWS. What terraform
itself can evaluate without a provider (variable validations, the runner-config module, the
built-in terraform_data resource) is evaluated by terraform; the rest is read with python-hcl2.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from paths import ROOT

TF = ROOT / "infra" / "terraform"
RUNNER_CONFIG = TF / "modules" / "runner-config"
IN_CI = os.environ.get("CI") == "true"
ENV = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1"}
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


def tool(name: str, env_var: str) -> str:
    """Path of a required tool: a failure in CI (which installs them), a skip elsewhere."""
    path = os.environ.get(env_var) or shutil.which(name)
    if not path:
        if IN_CI:
            pytest.fail(f"{name} is required in CI ({env_var} or PATH); .ci/run installs it")
        pytest.skip(f"{name} not installed (set {env_var} or put it on PATH)")
    return path


def load_hcl(folder: Path = TF) -> dict:
    """Resources, data sources, variables, locals and outputs of a module's *.tf files, merged."""
    hcl2 = pytest.importorskip("hcl2")
    opts = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    merged: dict[str, dict] = {}
    for f in sorted(folder.glob("*.tf")):
        with open(f) as fh:
            doc = hcl2.load(fh, serialization_options=opts)
        for kind, blocks in doc.items():
            for block in blocks:
                if kind in ("resource", "data"):
                    for rtype, named in block.items():
                        for name, body in named.items():
                            merged.setdefault(kind, {})[f"{rtype}.{name}"] = body
                elif kind in ("variable", "output", "module", "locals", "check"):
                    merged.setdefault(kind, {}).update(block)
                else:
                    merged.setdefault(kind, []).append(block)
    return merged


def one(block):
    return block[0] if isinstance(block, list) else block


def terraform_apply(workdir: Path, main_tf: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Init and apply a provider-free root module in ``workdir``; the result and its outputs (empty on failure)."""
    tf = tool("terraform", "TERRAFORM")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "main.tf").write_text(main_tf)
    subprocess.run([tf, "init", "-backend=false", "-input=false", "-no-color"], cwd=workdir, env=ENV, check=True,
                   capture_output=True)
    r = subprocess.run([tf, "apply", "-auto-approve", "-input=false", "-no-color", *args], cwd=workdir, env=ENV,
                       capture_output=True, text=True)
    if r.returncode:
        return r, {}
    out = subprocess.run([tf, "output", "-json"], cwd=workdir, env=ENV, check=True, capture_output=True, text=True)
    return r, {k: v["value"] for k, v in json.loads(out.stdout).items()}


def module_call(artifacts_dir, **overrides) -> str:
    """A root module calling modules/runner-config with made-up AWS facts, its outputs as output "rc"."""
    args = {"instance_type": "c6i.2xlarge", "supported_architectures": ["i386", "x86_64"], "offered_zones": ZONES,
            "usable_zones": ZONES[:2], "requested_zone": None, "artifacts_dir": str(artifacts_dir),
            "artifacts_prefix": "artifacts", "bucket": "temu-gen-events-123456789012-eu-west-1",
            "events_prefix": "temu-gen", "region": "eu-west-1", "run_mode": "once", "schedule": "daily",
            "spot": False, "generator_args": "--events 2100000", "cloudwatch_logs": False,
            "log_group": "/temu-gen/generator"} | overrides
    body = "\n".join(f"  {k} = {json.dumps(v) if v is not None else 'null'}" for k, v in args.items())
    return f'module "rc" {{\n  source = "{RUNNER_CONFIG}"\n{body}\n}}\noutput "rc" {{\n  value = module.rc\n}}\n'
