"""Infrastructure checks that run offline: fmt, checkov, security properties, variable validations.

The AWS provider cannot be downloaded here, so nothing applies; the properties are read
from the HCL (python-hcl2) and the variable validations are evaluated by Terraform itself
in a provider-free copy of the variable files.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tfhelp import ENV, TF, load_hcl, one, tool
from uploader_policy import render_bootstrap_policy, render_uploader_policy


@pytest.fixture(scope="module")
def hcl():
    return load_hcl()


def test_terraform_fmt():
    tf = tool("terraform", "TERRAFORM")
    r = subprocess.run([tf, "fmt", "-check", "-recursive", str(TF)], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, f"unformatted: {r.stdout}{r.stderr}"


def test_checkov_has_no_failures_and_every_skip_is_justified():
    ck = tool("checkov", "CHECKOV")
    r = subprocess.run([ck, "-d", str(TF), "--skip-download", "-o", "json"], capture_output=True,
                       text=True, env=ENV, timeout=300)
    report = json.loads(r.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 100
    skipped = {(c["check_id"], c["resource"]) for c in report["results"]["skipped_checks"]}
    assert ("CKV2_AWS_62", "aws_s3_bucket.events") not in skipped  # the events bucket notifies EventBridge now
    for c in report["results"]["skipped_checks"]:
        assert len((c.get("check_result", {}).get("suppress_comment") or "").strip()) > 40, c["check_id"]


def test_bucket_is_private_versioned_encrypted_and_access_logged(hcl):
    r = hcl["resource"]
    pab = r["aws_s3_bucket_public_access_block.events"]
    assert all(pab[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                        "restrict_public_buckets"))
    assert one(r["aws_s3_bucket_versioning.events"]["versioning_configuration"])["status"] == "Enabled"
    rule = one(r["aws_s3_bucket_server_side_encryption_configuration.events"]["rule"])
    assert one(rule["apply_server_side_encryption_by_default"])["sse_algorithm"] == "aws:kms"
    assert rule["bucket_key_enabled"] is True
    assert r["aws_kms_key.events"]["enable_key_rotation"] is True
    assert one(r["aws_s3_bucket_ownership_controls.events"]["rule"])["object_ownership"] == "BucketOwnerEnforced"
    logging = r["aws_s3_bucket_logging.events"]
    assert "count" not in logging  # always on: a created log bucket unless access_log_bucket names one
    assert "aws_s3_bucket.access_logs[0].id" in logging["target_bucket"]
    assert r["aws_s3_bucket.access_logs"]["count"] == '${var.access_log_bucket == "" ? 1 : 0}'
    log_policy = json.dumps(r["aws_s3_bucket_policy.access_logs"]["policy"])
    assert "logging.s3." in log_policy and "aws:SourceArn" in log_policy and "aws:SourceAccount" in log_policy


def test_bucket_policies_deny_plain_http(hcl):
    for name in ("events", "access_logs"):
        text = json.dumps(hcl["resource"][f"aws_s3_bucket_policy.{name}"]["policy"])
        assert "aws:SecureTransport" in text and "Deny" in text and "false" in text
        assert f".{name}" in text and "arn}/*" in text  # objects as well as the bucket


def test_lifecycle_aborts_uploads_expires_old_versions_and_athena_results(hcl):
    rules = hcl["resource"]["aws_s3_bucket_lifecycle_configuration.events"]["rule"]
    by_id = {r["id"]: r for r in rules}
    assert "abort_incomplete_multipart_days" in str(by_id["abort-incomplete-multipart-uploads"])
    assert "noncurrent_version_expiration" in by_id["expire-noncurrent-versions"]
    athena = by_id["expire-athena-results"]
    assert one(athena["filter"])["prefix"] == "${local.athena_prefix}/"
    assert all(r["status"] == "Enabled" for r in rules)


def test_instance_requires_imdsv2_encrypts_its_disk_and_keeps_its_ami(hcl):
    r = hcl["resource"]
    inst = r["aws_instance.runner"]
    md = one(inst["metadata_options"])
    assert md["http_tokens"] == "required" and md["http_put_response_hop_limit"] == 1
    root = one(inst["root_block_device"])
    assert root["encrypted"] is True and root["volume_type"] == "gp3"
    assert inst["ami"] == "${terraform_data.ami.output}"
    assert inst["instance_initiated_shutdown_behavior"] == "${var.shutdown_behavior}"
    assert inst["user_data"] == "${module.runner_config.user_data}" and inst["user_data_replace_on_change"] is True
    ami = r["terraform_data.ami"]
    assert one(ami["lifecycle"])["ignore_changes"] == ["input"]  # a newer AMI alone changes nothing
    assert "var.follow_latest_ami" in str(ami["triggers_replace"])
    assert "module.runner_config.architecture" in hcl["data"]["aws_ssm_parameter.al2023"]["name"]
    assert "aws_s3_object.artifacts" in str(inst["depends_on"])


def test_spot_is_persistent_stops_on_interruption_and_its_request_is_cancelled_on_destroy(hcl):
    r = hcl["resource"]
    market = one(r["aws_instance.runner"]["dynamic"])["instance_market_options"]
    spot = one(one(market["content"])["spot_options"])
    assert spot == {"spot_instance_type": "persistent", "instance_interruption_behavior": "stop"}
    cancel = r["terraform_data.cancel_spot_request"]
    prov = one(cancel["provisioner"])["local-exec"]
    assert prov["when"] == "destroy" and "cancel-spot-instance-requests" in prov["command"]


CLUSTER_SG = "${aws_security_group.cluster[0].id}"


def test_ssh_only_with_a_key_and_from_the_given_cidr(hcl):
    r = hcl["resource"]
    ingress = {k: v for k, v in r.items() if k.startswith("aws_vpc_security_group_ingress_rule.")}
    assert sorted(ingress) == ["aws_vpc_security_group_ingress_rule.cluster", "aws_vpc_security_group_ingress_rule.ssh"]
    ssh = ingress["aws_vpc_security_group_ingress_rule.ssh"]
    assert ssh["cidr_ipv4"] == "${var.ssh_cidr}" and ssh["from_port"] == ssh["to_port"] == 22
    assert ssh["count"] == '${var.ssh_public_key == "" ? 0 : 1}'
    # the only other way in: the cluster's own ports, from members of the cluster's group, never from a network
    cluster = ingress["aws_vpc_security_group_ingress_rule.cluster"]
    assert "cidr_ipv4" not in cluster and "cidr_ipv6" not in cluster
    assert cluster["referenced_security_group_id"] == cluster["security_group_id"] == CLUSTER_SG
    egress = {k: v for k, v in r.items() if k.startswith("aws_vpc_security_group_egress_rule.")}
    assert sorted(egress) == ["aws_vpc_security_group_egress_rule.cluster", "aws_vpc_security_group_egress_rule.https"]
    assert egress["aws_vpc_security_group_egress_rule.https"]["from_port"] == 443
    assert egress["aws_vpc_security_group_egress_rule.https"]["to_port"] == 443
    assert egress["aws_vpc_security_group_egress_rule.cluster"]["referenced_security_group_id"] == CLUSTER_SG
    assert "cidr_ipv4" not in egress["aws_vpc_security_group_egress_rule.cluster"]


def test_the_dask_cluster_exists_only_when_asked_and_is_closed_and_encrypted(hcl):
    r = hcl["resource"]
    ports = hcl["locals"]["cluster_ports"]
    assert "local.cluster ?" in ports and ports.rstrip().endswith(": {}}")  # no cluster: no rule at all
    for name in ("aws_security_group.cluster", "aws_efs_file_system.spool", "aws_efs_backup_policy.spool",
                 "aws_efs_mount_target.spool"):
        assert r[name]["count"] == "${local.cluster ? 1 : 0}", name
    efs = r["aws_efs_file_system.spool"]
    assert efs["encrypted"] is True and efs["kms_key_id"] == "${aws_kms_key.events.arn}"
    assert r["aws_efs_mount_target.spool"]["security_groups"] == [CLUSTER_SG]
    workers = r["aws_instance.worker"]
    runner = r["aws_instance.runner"]
    assert workers["count"] == "${var.dask_nodes - 1}"
    assert workers["user_data"] == "${module.runner_config.worker_user_data}"
    for key in ("ami", "instance_type", "subnet_id", "iam_instance_profile", "metadata_options", "root_block_device",
                "instance_initiated_shutdown_behavior"):
        assert workers[key] == runner[key], key  # a worker node is the runner's twin, minus the run
    assert "instance_market_options" not in workers  # Spot is refused with a cluster (variable validation)
    # a new runner (new generator_args, a new build) brings new worker nodes, which boot with it and know its address
    assert one(workers["lifecycle"])["replace_triggered_by"] == ["${aws_instance.runner.id}"]
    assert hcl["module"]["runner_config"]["scheduler_host"] == '${local.cluster ? aws_instance.runner.private_ip : ""}'
    assert runner["vpc_security_group_ids"] == \
        "${concat([aws_security_group.runner.id], aws_security_group.cluster[*].id)}"
    assert workers["vpc_security_group_ids"] == ["${aws_security_group.runner.id}", CLUSTER_SG]


def test_key_pair_takes_only_a_public_key(hcl):
    kp = hcl["resource"]["aws_key_pair.operator"]
    assert kp["public_key"] == "${var.ssh_public_key}"
    assert not any(k.startswith("tls_private_key.") for k in hcl["resource"])


def test_iam_names_carry_the_region_and_ssm_is_opt_in(hcl):
    r = hcl["resource"]
    for key in ("aws_iam_role.runner", "aws_iam_instance_profile.runner", "aws_iam_role.flow_logs"):
        assert r[key]["name"].startswith("${local.iam_suffix}-"), key
    assert re.search(r'iam_suffix\s*=\s*"\$\{var\.name\}-\$\{var\.region\}"', (TF / "main.tf").read_text())
    assert r["aws_iam_role_policy_attachment.ssm"]["count"] == "${var.enable_ssm ? 1 : 0}"
    assert hcl["variable"]["enable_ssm"]["default"] is False
    assert "far more than" in hcl["variable"]["enable_ssm"]["description"]


def test_flow_log_role_trusts_only_this_accounts_flow_logs(hcl):
    stmt = one(hcl["data"]["aws_iam_policy_document.flow_logs_assume"]["statement"])
    conditions = {c["variable"]: c for c in stmt["condition"]}
    assert conditions["aws:SourceAccount"]["values"] == ["${local.account}"]
    assert conditions["aws:SourceArn"]["test"] == "ArnLike"
    assert conditions["aws:SourceArn"]["values"] == [
        "arn:${local.partition}:ec2:${var.region}:${local.account}:vpc-flow-log/*"]


def test_arns_are_partition_aware_everywhere():
    offenders = [f"{p.relative_to(TF)}:{n}" for p in TF.rglob("*") if p.suffix in (".tf", ".tftpl")
                 for n, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"arn:aws[:-]", line)]
    assert offenders == []


def test_kms_use_is_limited_to_s3_and_this_bucket():
    doc = render_uploader_policy("my-bucket", "load/ng", "arn:aws:kms:eu-west-1:1:key/k")
    kms = next(s for s in doc["Statement"] if s["Sid"] == "UseTheBucketKey")
    assert kms["Resource"] == "arn:aws:kms:eu-west-1:1:key/k"
    assert kms["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": ["arn:aws:s3:::my-bucket", "arn:aws:s3:::my-bucket/load/ng/*"]}}
    key_policy = (TF / "main.tf").read_text()
    assert '"kms:EncryptionContext:aws:sns:topicArn" = local.topic_arn' in key_policy
    assert '"kms:EncryptionContext:aws:logs:arn"' in key_policy
    assert '"kms:ViaService" = "ec2.${var.region}.${local.dns}"' in key_policy


def test_uploader_policy_is_least_privilege(hcl):
    assert hcl["resource"]["aws_iam_role_policy.uploader"]["policy"] == "${local.uploader_policy}"
    doc = render_uploader_policy("my-bucket", "load/ng", "arn:aws:kms:af-south-1:1:key/k")
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert actions == {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                       "s3:ListMultipartUploadParts", "s3:ListBucket", "s3:ListBucketMultipartUploads",
                       "kms:GenerateDataKey", "kms:Decrypt"}
    for s in doc["Statement"]:
        assert s["Effect"] == "Allow" and "*" not in "".join(s["Action"])
        res = s["Resource"]
        if s["Action"][0].startswith("kms:"):
            assert res == "arn:aws:kms:af-south-1:1:key/k"
        elif res.endswith("/*"):
            assert res == "arn:aws:s3:::my-bucket/load/ng/*"
        else:
            assert res == "arn:aws:s3:::my-bucket"
    listing = next(s for s in doc["Statement"] if s["Action"] == ["s3:ListBucket"])
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["load/ng/*"]
    assert render_uploader_policy("b", "p", partition="aws-cn")["Statement"][0]["Resource"] == "arn:aws-cn:s3:::b/p/*"


def test_bootstrap_policy_reads_only_the_artifacts_prefix(hcl):
    assert hcl["resource"]["aws_iam_role_policy.bootstrap"]["policy"] == "${local.bootstrap_policy}"
    doc = render_bootstrap_policy("my-bucket")
    assert [(s["Action"], s["Resource"]) for s in doc["Statement"]] == [
        (["s3:GetObject"], "arn:aws:s3:::my-bucket/artifacts/*"), (["s3:ListBucket"], "arn:aws:s3:::my-bucket")]
    assert doc["Statement"][1]["Condition"] == {"StringLike": {"s3:prefix": ["artifacts/*"]}}


def test_artifacts_are_uploaded_by_content_hash(hcl):
    obj = hcl["resource"]["aws_s3_object.artifacts"]
    assert obj["for_each"] == "${module.runner_config.artifacts}"
    assert obj["source_hash"] == "${each.value.sha256}" and obj["checksum_algorithm"] == "SHA256"
    assert obj["kms_key_id"] == "${aws_kms_key.events.arn}"


def test_committed_runs_reach_sns_through_eventbridge(hcl):
    r = hcl["resource"]
    assert r["aws_s3_bucket_notification.events"]["eventbridge"] is True
    assert "aws_kms_key.events.arn" in r["aws_sns_topic.runs"]["kms_master_key_id"]
    rule = r["aws_cloudwatch_event_rule.run_committed"]["event_pattern"]
    assert "object = {key = [{wildcard = local.events_glob}]}" in rule and "bucket = {name = [local.bucket_name]}" in rule
    assert re.search(r'events_glob\s*=\s*"\$\{var\.events_prefix\}/events/run_id=\*/_SUCCESS"',
                     (TF / "main.tf").read_text())
    topic_policy = str(r["aws_sns_topic_policy.runs"]["policy"])
    assert "aws:SourceArn" in topic_policy and "aws_cloudwatch_event_rule.run_committed.arn" in topic_policy
    assert r["aws_sns_topic_subscription.email"]["count"] == '${var.notification_email == "" ? 0 : 1}'


def test_catalog_table_projects_run_id_and_athena_caps_and_encrypts(hcl):
    r = hcl["resource"]
    table = r["aws_glue_catalog_table.tables"]
    assert table["for_each"] == "${local.tables}" and table["name"] == "${each.key}"
    params = table["parameters"]
    assert params["projection.enabled"] == "true" and params["projection.run_id.type"] == "injected"
    assert params["storage.location.template"].endswith("/${each.key}/run_id=$${run_id}/")
    assert one(table["storage_descriptor"])["location"].endswith("/${each.key}/")
    assert one(table["partition_keys"])["name"] == "run_id"
    assert one(table["storage_descriptor"])["dynamic"][0]["columns"]["for_each"] == "${each.value.columns}"
    # the single events table of earlier stacks moves into the map instead of being destroyed and recreated
    moved = (TF / "catalog.tf").read_text()
    assert re.search(r"moved\s*\{\s*from\s*=\s*aws_glue_catalog_table\.events\s*to\s*=\s*"
                     r"aws_glue_catalog_table\.tables\[\"events\"\]", moved)
    cfg = one(r["aws_athena_workgroup.events"]["configuration"])
    assert cfg["enforce_workgroup_configuration"] is True
    assert cfg["bytes_scanned_cutoff_per_query"] == "${var.athena_bytes_scanned_limit}"
    enc = one(one(cfg["result_configuration"])["encryption_configuration"])
    assert enc["encryption_option"] == "SSE_KMS"


def test_providers_and_examples_are_in_their_own_files(hcl):
    assert "provider" in (TF / "providers.tf").read_text() and "provider \"aws\"" not in (TF / "versions.tf").read_text()
    backend = (TF / "backend.tf.example").read_text()
    assert 'backend "s3"' in backend and "use_lockfile = true" in backend
    example = (TF / "terraform.tfvars.example").read_text()
    named = set(re.findall(r"^#?\s*([a-z_]+)\s*=", example, re.M))
    assert named and named <= set(hcl["variable"]), named - set(hcl["variable"])


@pytest.fixture(scope="module")
def variables_only(tmp_path_factory):
    """The variable files alone: no provider needed, so terraform evaluates the validations offline."""
    tf = tool("terraform", "TERRAFORM")
    d = tmp_path_factory.mktemp("variables")
    for f in TF.glob("variables*.tf"):
        shutil.copy(f, d / f.name)
    subprocess.run([tf, "init", "-backend=false", "-input=false"], cwd=d, env=ENV, check=True, capture_output=True)
    return tf, d


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl you@laptop"
BAD = [  # (variables, the variable whose validation must refuse them)
    ({"ssh_cidr": "0.0.0.0/0", "ssh_public_key": KEY}, "ssh_cidr"),
    ({"ssh_cidr": "0.0.0.0/1", "ssh_public_key": KEY}, "ssh_cidr"),
    ({"ssh_cidr": "10.0.0.0/8", "ssh_public_key": KEY}, "ssh_cidr"),
    ({"ssh_cidr": "::/0"}, "ssh_cidr"),
    ({"ssh_cidr": "2001:db8::/64"}, "ssh_cidr"),
    ({"ssh_cidr": "not-a-cidr"}, "ssh_cidr"),
    ({"ssh_cidr": "198.51.100.7/24"}, "ssh_cidr"),
    ({"ssh_public_key": KEY}, "ssh_cidr"),  # a key without a network to allow
    ({"ssh_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "ssh_public_key"),
    ({"ssh_public_key": KEY + "\nssh-rsa AAAA other"}, "ssh_public_key"),
    ({"generator_args": "--events 10; rm -rf /"}, "generator_args"),
    ({"generator_args": "--events 10\nExecStartPre=/bin/sh -c id"}, "generator_args"),
    ({"generator_args": "--events 10 %n"}, "generator_args"),
    ({"generator_args": "--output s3://elsewhere/x"}, "generator_args"),
    ({"generator_args": "--events 10 --run-id=fixed"}, "generator_args"),
    ({"log_retention_days": "10"}, "log_retention_days"),
    ({"name": "a-name-long-enough-to-overflow"}, "name"),
    ({"name": "Temu"}, "name"),
    ({"name": "1temu"}, "name"),
    ({"events_prefix": "/leading"}, "events_prefix"),
    ({"events_prefix": "artifacts/x"}, "events_prefix"),
    ({"events_prefix": "athena-results"}, "events_prefix"),
    ({"run_mode": "forever"}, "run_mode"),
    ({"schedule": "daily\nExecStart=/bin/sh"}, "schedule"),
    ({"shutdown_behavior": "hibernate"}, "shutdown_behavior"),
    ({"spot": "true", "run_mode": "schedule"}, "spot"),
    ({"spot": "true", "shutdown_behavior": "terminate"}, "spot"),
    ({"availability_zone": "eu-west-1"}, "availability_zone"),
    ({"vpc_cidr": "10.0.0.0/8"}, "vpc_cidr"),
    ({"region": "mars"}, "region"),
    ({"notification_email": "not-an-address"}, "notification_email"),
    ({"athena_bytes_scanned_limit": "1000"}, "athena_bytes_scanned_limit"),
    ({"instance_type": "c6i"}, "instance_type"),
    ({"dask_nodes": "0"}, "dask_nodes"),
    ({"dask_nodes": "2.5"}, "dask_nodes"),
    ({"dask_nodes": "33"}, "dask_nodes"),
    ({"dask_nodes": "2", "spot": "true"}, "dask_nodes"),
    ({"dask_nodes": "3", "generator_args": "--events 21000000 --workers 8"}, "generator_args"),
    ({"dask_nodes": "3", "generator_args": "--engine pool"}, "generator_args"),
    ({"generator_args": "--scheduler tcp://10.0.0.1:8786"}, "generator_args"),
    ({"generator_args": "--events 10 --wait-workers=4"}, "generator_args"),
]
GOOD = [
    {}, {"ssh_cidr": "203.0.113.7/32", "ssh_public_key": KEY}, {"ssh_cidr": "198.51.100.0/24", "ssh_public_key": KEY},
    {"generator_args": "--events 21000000 --workers 8 --max-memory 6GiB"}, {"log_retention_days": "30"},
    {"name": "temu-gen-eu", "region": "af-south-1"}, {"events_prefix": "load-tests/ng"},
    {"run_mode": "schedule", "schedule": "Mon..Fri *-*-* 06:00:00"}, {"spot": "true"},
    {"shutdown_behavior": "terminate"}, {"availability_zone": "eu-west-1b"}, {"notification_email": "data@example.com"},
    {"dask_nodes": "4", "generator_args": "--events 105000000"}, {"dask_nodes": "32", "run_mode": "schedule"},
]


def _plan(variables_only, values: dict) -> subprocess.CompletedProcess:
    tf, d = variables_only
    args = [a for k, v in values.items() for a in ("-var", f"{k}={v}")]
    return subprocess.run([tf, "plan", "-input=false", "-no-color", *args], cwd=d, env=ENV, capture_output=True,
                          text=True)


@pytest.mark.parametrize("values,culprit", BAD, ids=[f"{c}-{i}" for i, (_, c) in enumerate(BAD)])
def test_terraform_refuses_bad_variables(variables_only, values, culprit):
    r = _plan(variables_only, values)
    assert r.returncode == 1
    errors = re.findall(r'Invalid value for variable.*?variable "([a-z_]+)"', r.stderr + r.stdout, re.S)
    assert errors and set(errors) == {culprit}, r.stderr


@pytest.mark.parametrize("values", GOOD, ids=[",".join(v) or "defaults" for v in GOOD])
def test_terraform_accepts_good_variables(variables_only, values):
    r = _plan(variables_only, values)
    assert r.returncode == 0, r.stderr
