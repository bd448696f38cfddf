"""The runner's S3 policies that Terraform deploys, rendered for tests from the very same files.

``infra/terraform/policies/*.json.tftpl`` are the single source: Terraform renders them with
``templatefile`` for the EC2 role, and the S3 delivery tests and the bootstrap rehearsal
render them here to run the generator (and the bootstrap) under exactly those permissions.
"""
from __future__ import annotations

import json
import string

from paths import ROOT

POLICIES = ROOT / "infra" / "terraform" / "policies"
POLICY_TEMPLATE = POLICIES / "uploader.json.tftpl"


def _render(name: str, **values: str) -> dict:
    return json.loads(string.Template((POLICIES / name).read_text()).substitute(**values))


def render_uploader_policy(bucket: str, prefix: str, kms_key_arn: str = "arn:aws:kms:eu-west-1:123456789012:key/test",
                           partition: str = "aws", region: str = "eu-west-1") -> dict:
    return _render("uploader.json.tftpl", bucket=bucket, prefix=prefix, kms_key_arn=kms_key_arn, partition=partition,
                   region=region, dns_suffix="amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com")


def render_bootstrap_policy(bucket: str, prefix: str = "artifacts", partition: str = "aws") -> dict:
    return _render("bootstrap.json.tftpl", bucket=bucket, prefix=prefix, partition=partition)
