"""S3 access: options, URI and endpoint checks, a client with bounded retries, and one-line errors.

Invariant: every request either succeeds, or fails within about ``deadline_s`` seconds
(a stalled endpoint included) with an error :func:`describe_error` turns into one line;
throttling (503 SlowDown), 5xx and dropped connections are retried with backoff until
``max_attempts`` or the deadline. This module imports boto3 but neither numba nor
pyarrow, so the uploader process that uses it starts light.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import (BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError,
                                 NoCredentialsError, ProfileNotFound, ReadTimeoutError)
from botocore.retries import standard

from ..errors import ConfigError, OutputError
from .base import check_endpoint, default_spool_root

MIN_PART_SIZE = 5 * 2**20  # S3's floor for every part but the last (s3transfer enforces it too)
MAX_PART_SIZE = 5 * 2**30  # S3's ceiling for one part
_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")  # the names botocore accepts
SSE_MODES = ("AES256", "aws:kms")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class S3Options:
    """How to reach S3 and how to upload; it pickles, so the uploader process gets its own copy."""

    endpoint_url: str | None = None
    """Any S3-compatible endpoint; None = AWS (or the AWS_ENDPOINT_URL variable, which boto3 reads)."""
    region: str | None = None
    sse: str | None = None
    """None = the bucket's default encryption; 'AES256' or 'aws:kms'."""
    sse_kms_key_id: str | None = None
    part_size: int = 16 * 2**20
    concurrency: int = 8
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    """Longest wait for a byte of an answer; a stalled endpoint costs this per attempt."""
    max_attempts: int = 10
    deadline_s: float = 60.0
    """No request is retried once this long has passed since its first attempt."""

    def check(self) -> S3Options:
        if self.endpoint_url is not None:
            check_endpoint(self.endpoint_url)
        if self.part_size < MIN_PART_SIZE:
            raise ConfigError(f"--part-size {self.part_size:,} bytes is below S3's minimum of {MIN_PART_SIZE:,} "
                              f"(5MiB); pass --part-size 5MiB or more")
        if self.part_size > MAX_PART_SIZE:
            raise ConfigError(f"--part-size {self.part_size:,} bytes is above S3's maximum of {MAX_PART_SIZE:,} "
                              f"(5GiB); pass --part-size 5GiB or less")
        if self.region is not None and not _REGION.fullmatch(self.region):
            raise ConfigError(f"--region {self.region!r} is not a region name; use e.g. eu-west-1")
        if self.sse not in (None, *SSE_MODES):
            raise ConfigError(f"--sse {self.sse!r} is not supported; use AES256 or aws:kms")
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise ConfigError("--sse-kms-key-id needs --sse aws:kms")
        for name, v in (("--s3-connect-timeout", self.connect_timeout_s), ("--s3-read-timeout", self.read_timeout_s),
                        ("--s3-deadline", self.deadline_s)):
            if not 0 < v <= 3600:
                raise ConfigError(f"{name} {v}: must be between 0 and 3600 seconds")
        return self


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``; a one-line error for anything else."""
    m = re.fullmatch(r"s3://([^/]+)/?(.*)", uri, flags=re.DOTALL)
    # a malformed URI is a bad flag (exit 2), not an output that cannot be written (3)
    if not m:
        raise ConfigError(f"output {uri!r} is not an S3 URI; use s3://BUCKET/PREFIX")
    bucket, prefix = m.group(1), m.group(2).strip("/")
    if not _BUCKET.fullmatch(bucket):
        raise ConfigError(f"output {uri!r}: {bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, "
                          f"dots, hyphens)")
    if "//" in prefix or any(ord(c) < 32 for c in prefix):
        raise ConfigError(f"output {uri!r}: the prefix has an empty path segment or a control character")
    return bucket, prefix


class _Retry:
    """Retry what S3's standard policy retries, until ``max_attempts`` or ``deadline_s`` after the first try.

    botocore's own limit counts attempts only, so an endpoint that accepts connections and
    never answers would cost ``max_attempts`` read timeouts; the deadline bounds that.
    """

    def __init__(self, max_attempts: int, deadline_s: float):
        self.max_attempts = max_attempts
        self.deadline_s = deadline_s
        self._adapter = standard.RetryEventAdapter()
        self._conditions = standard.StandardRetryConditions(max_attempts=max_attempts)
        self._backoff = standard.ExponentialBackoff(max_backoff=8)

    def __call__(self, **kwargs):
        rc = self._adapter.create_retry_context(**kwargs)
        request = kwargs.get("request_dict")
        ctx = request.setdefault("context", {}) if request is not None else {}
        first = ctx.setdefault("temu_gen_first_attempt", time.monotonic())
        if rc.attempt_number >= self.max_attempts or not self._conditions.is_retryable(rc):
            return None
        delay = self._backoff.delay_amount(rc)
        if time.monotonic() + delay - first > self.deadline_s:
            return None
        return delay


def make_client(options: S3Options, quick: bool = False):
    """An S3 client from the standard credential chain (env, profile, instance profile).

    ``quick`` is for clean-up after a failure: one attempt and short timeouts, so an
    abort never waits long on an endpoint that has stopped answering.
    """
    session = boto3.session.Session(region_name=options.region)
    config = Config(retries={"mode": "standard", "max_attempts": 1},
                    connect_timeout=min(3.0, options.connect_timeout_s) if quick else options.connect_timeout_s,
                    read_timeout=min(5.0, options.read_timeout_s) if quick else options.read_timeout_s,
                    max_pool_connections=max(10, options.concurrency + 2),
                    s3={"addressing_style": "path"} if options.endpoint_url else None)
    client = session.client("s3", endpoint_url=options.endpoint_url or None, config=config)
    if not quick:
        client.meta.events.register("before-call.s3", _stamp_first_attempt)
        client.meta.events.register("needs-retry.s3", _Retry(options.max_attempts, options.deadline_s))
    return client


def _stamp_first_attempt(context=None, **_):
    """Once per API call, before its first attempt: the deadline counts from here."""
    if context is not None:
        context["temu_gen_first_attempt"] = time.monotonic()


def describe_error(e: BaseException, where: str) -> str:
    """One line naming the cause of an S3 failure."""
    if isinstance(e, NoCredentialsError):
        return (f"no AWS credentials found for {where}; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or "
                f"run on EC2 with an instance profile")
    if isinstance(e, ProfileNotFound):
        return f"AWS profile {e.kwargs.get('profile')!r} for {where} is not configured; fix AWS_PROFILE or ~/.aws/config"
    if isinstance(e, (ReadTimeoutError, ConnectTimeoutError)):
        return (f"the S3 endpoint for {where} stopped answering ({type(e).__name__}, retried until the deadline); "
                f"check the endpoint and the network, or raise --s3-read-timeout / --s3-deadline")
    if isinstance(e, EndpointConnectionError):
        return f"cannot reach the S3 endpoint for {where} ({e}); check --endpoint-url / AWS_ENDPOINT_URL and the network"
    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code", "")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return f"bucket of {where} does not exist; create it (infra/terraform) or fix the URI"
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"):
            return f"the AWS credentials were rejected for {where} ({code}); check the key pair or refresh the session"
        if code in ("AccessDenied", "403", "Forbidden") or status == 403:
            return (f"access denied to {where} ({e.operation_name}); the credentials' policy must allow it "
                    f"(see infra/terraform/policies/uploader.json.tftpl)")
        return f"S3 error on {where}: {code or status} {e.response.get('Error', {}).get('Message', '')}".strip()
    text = " ".join(str(e).split())
    return f"S3 error on {where}: {type(e).__name__}: {text}"


def call(fn, where: str, **kwargs):
    """``fn(**kwargs)`` with any boto error turned into a one-line OutputError."""
    try:
        return fn(**kwargs)
    except (BotoCoreError, ClientError) as e:
        raise OutputError(describe_error(e, where)) from None


def error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", "")) or str(
        e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


class S3Sink:
    """A bucket prefix that holds runs: ``s3://bucket/prefix/events/run_id=<id>/``."""

    def __init__(self, uri: str, options: S3Options | None = None, spool_dir=None):
        from pathlib import Path

        self.bucket, self.prefix = parse_s3_uri(uri)
        self.options = (options or S3Options()).check()
        self.spool_root = Path(spool_dir) if spool_dir else default_spool_root()
        self.location = f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def open_run(self, run_id: str):
        from .s3_run import S3Run

        return S3Run(self.bucket, self.prefix, run_id, self.options, self.spool_root)


__all__ = ["S3Sink", "S3Options", "parse_s3_uri", "check_endpoint", "make_client", "describe_error", "call",
           "MIN_PART_SIZE"]
