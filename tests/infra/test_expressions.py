"""The stack's policies, event pattern and names, evaluated by terraform from the very text of the .tf files.

Each expression is cut out of its file, its references to AWS-derived values are replaced by
literals, and terraform evaluates it in a provider-free root module: the JSON Terraform would
send to AWS, checked statement by statement (and type errors that only a plan would find).
"""
from __future__ import annotations

import json
import re

import pytest

from tfhelp import TF, terraform_apply

ACCOUNT, REGION = "123456789012", "eu-west-1"
COMMON = {
    "local.partition": '"aws"', "local.account": f'"{ACCOUNT}"', "local.dns": '"amazonaws.com"',
    "var.region": f'"{REGION}"', "var.name": '"temu-gen"', "var.events_prefix": '"temu-gen"',
    "local.bucket_name": f'"temu-gen-events-{ACCOUNT}-{REGION}"',
    "local.topic_arn": f'"arn:aws:sns:{REGION}:{ACCOUNT}:temu-gen-runs"',
    "local.spot_role": f'"arn:aws:iam::{ACCOUNT}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"',
    "local.events_glob": '"temu-gen/events/run_id=*/_SUCCESS"', "local.bucket_arn": '"arn:aws:s3:::b"',
    "aws_s3_bucket.events.arn": '"arn:aws:s3:::b"', "aws_s3_bucket.access_logs[0].arn": '"arn:aws:s3:::logs"',
    "aws_sns_topic.runs.arn": f'"arn:aws:sns:{REGION}:{ACCOUNT}:temu-gen-runs"',
    "aws_cloudwatch_event_rule.run_committed.arn": f'"arn:aws:events:{REGION}:{ACCOUNT}:rule/temu-gen-run-committed"',
}


def expression(file: str, anchor: str, after: str = "") -> str:
    """The bracketed expression that follows ``anchor`` (the first one after ``after``) in ``file``."""
    text = (TF / file).read_text()
    i = start = text.index(anchor, text.index(after)) + len(anchor)
    closing = {"(": ")", "{": "}", "[": "]"}
    stack: list[str] = []
    while True:
        ch = text[i]
        if ch == '"':  # strings and comments may hold brackets; these strings hold no nested quotes
            i = text.index('"', i + 1)
        elif ch == "#":
            i = text.index("\n", i)
        elif ch in closing:
            stack.append(closing[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
            if not stack:
                return text[start:i + 1]
        i += 1


def evaluate(tmp_path, expr: str, **extra: str):
    subs = {**COMMON, **extra}
    for ref in sorted(subs, key=len, reverse=True):
        expr = re.sub(rf"(?<![\w.]){re.escape(ref)}(?![\w])", subs[ref], expr)
    r, out = terraform_apply(tmp_path, f'output "v" {{\n  value = {expr}\n}}\n')
    assert r.returncode == 0, r.stderr
    return out["v"]


@pytest.mark.parametrize("spot", [False, True])
def test_kms_key_policy(tmp_path, spot):
    assert 'policy                  = jsonencode({ Version = "2012-10-17", Statement = local.kms_statements })' in \
        (TF / "main.tf").read_text()
    statements = evaluate(tmp_path, expression("main.tf", "kms_statements = "), **{"var.spot": str(spot).lower()})
    by_sid = {s["Sid"]: s for s in statements}
    expected = ["AccountAdministers", "CloudWatchLogsEncrypts", "EventBridgePublishesToTheTopic"] + \
        (["SpotRestartsTheEncryptedDisk", "SpotAttachesTheEncryptedDisk"] if spot else [])
    assert list(by_sid) == expected
    assert by_sid["AccountAdministers"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert by_sid["CloudWatchLogsEncrypts"]["Condition"] == {"ArnLike": {
        "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/temu-gen/*"}}
    events = by_sid["EventBridgePublishesToTheTopic"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert events["Condition"] == {"StringEquals": {
        "kms:EncryptionContext:aws:sns:topicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:temu-gen-runs"}}
    if spot:
        assert by_sid["SpotRestartsTheEncryptedDisk"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com"}}
        assert by_sid["SpotAttachesTheEncryptedDisk"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def _eventbridge_matches(pattern: dict, event: dict) -> bool:
    """EventBridge matching for the operators the rule uses: exact values and ``wildcard`` (``*`` = any run)."""
    for key, want in pattern.items():
        have = event.get(key)
        if isinstance(want, dict):
            if not isinstance(have, dict) or not _eventbridge_matches(want, have):
                return False
        elif not any(have == w if not isinstance(w, dict) else
                     re.fullmatch(".*".join(map(re.escape, w["wildcard"].split("*"))), str(have)) for w in want):
            return False
    return True


def test_the_rule_announces_exactly_the_committed_runs(tmp_path):
    pattern = json.loads(evaluate(tmp_path, expression("notify.tf", "event_pattern = ")))
    bucket = f"temu-gen-events-{ACCOUNT}-{REGION}"

    def created(key, bucket=bucket):
        return {"source": "aws.s3", "detail-type": "Object Created",
                "detail": {"bucket": {"name": bucket}, "object": {"key": key}}}
    run = "temu-gen/events/run_id=20261127T164912Z-3fa9c1"
    assert _eventbridge_matches(pattern, created(f"{run}/_SUCCESS"))
    for key in (f"{run}/_manifest.json", f"{run}/part-00000.parquet", f"{run}/_run.json", "temu-gen/_bootstrap_failed",
                "artifacts/x86_64/_SUCCESS", "other/events/run_id=x/_SUCCESS"):
        assert not _eventbridge_matches(pattern, created(key)), key
    assert not _eventbridge_matches(pattern, created(f"{run}/_SUCCESS", bucket="someone-elses"))
    assert not _eventbridge_matches(pattern, {**created(f"{run}/_SUCCESS"), "detail-type": "Object Deleted"})


def test_the_topic_takes_messages_only_from_the_rule(tmp_path):
    doc = json.loads(evaluate(tmp_path, expression("notify.tf", "policy = ")))
    (stmt,) = doc["Statement"]
    assert (stmt["Principal"], stmt["Action"]) == ({"Service": "events.amazonaws.com"}, "sns:Publish")
    assert stmt["Condition"] == {"ArnEquals": {
        "aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/temu-gen-run-committed"}}


def test_access_logs_come_only_from_the_events_bucket(tmp_path):
    expr = expression("s3.tf", "policy = ", after='resource "aws_s3_bucket_policy" "access_logs"')
    doc = json.loads(evaluate(tmp_path, expr))
    write, deny = doc["Statement"]
    assert write["Principal"] == {"Service": "logging.s3.amazonaws.com"} and write["Action"] == "s3:PutObject"
    assert write["Resource"] == "arn:aws:s3:::logs/s3-access/*"
    assert write["Condition"] == {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::b"},
                                  "StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-4", "us-gov-west-1"])
def test_derived_names_fit_their_limits_for_the_longest_name(tmp_path, region):
    name = "a" * 23 + "b"  # the longest name the validation allows
    main = (TF / "main.tf").read_text()
    bucket = re.search(r"bucket_name\s*=\s*var\.bucket_name != \"\" \? var\.bucket_name : (\"[^\n]*\")", main).group(1)
    iam = re.search(r"iam_suffix\s*=\s*(\"[^\n]*\")", main).group(1)
    subs = {"var.name": f'"{name}"', "var.region": f'"{region}"', "local.account": f'"{ACCOUNT}"'}
    names = evaluate(tmp_path, f"[{bucket}, {iam}]", **subs)
    assert len(names[0]) <= 63 and len(names[1] + "-flow-logs") <= 64
    log_bucket = re.search(r'bucket\s*=\s*("\$\{var\.name\}-logs-[^\n]*")', (TF / "s3.tf").read_text()).group(1)
    assert len(evaluate(tmp_path / "logs", log_bucket, **subs)) <= 63
