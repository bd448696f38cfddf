"""The uploader policy that Terraform deploys, rendered for tests from the very same file.

``infra/terraform/policies/uploader.json.tftpl`` is the single source: Terraform renders
it with ``templatefile`` for the EC2 role, and the S3 delivery tests render it here to
run the generator under exactly those permissions.
"""
from __future__ import annotations

import json
import string

from paths import ROOT

POLICY_TEMPLATE = ROOT / "infra" / "terraform" / "policies" / "uploader.json.tftpl"


def render_uploader_policy(bucket: str, prefix: str, kms_key_arn: str = "arn:aws:kms:af-south-1:123456789012:key/test") -> dict:
    text = string.Template(POLICY_TEMPLATE.read_text()).substitute(bucket=bucket, prefix=prefix, kms_key_arn=kms_key_arn)
    return json.loads(text)
