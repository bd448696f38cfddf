"""S3Sink: a run delivered to ``s3://bucket/prefix/events/run_id=<id>/`` with boto3's managed transfer.

Invariant: ``_SUCCESS`` is written only by :meth:`S3Sink.commit`, after the manifest,
which comes after every part; a part object exists only once S3 completed its upload
(multipart uploads are completed or aborted, never left half done by this code).
This module imports boto3 but neither numba nor pyarrow, so the uploader process that
uses it starts light.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError,
                                 ProfileNotFound)

from ..errors import OutputError
from .base import MANIFEST, RUN_PLAN, SUCCESS, PartInfo, part_name, run_prefix

MIN_PART_SIZE = 5 * 2**20  # S3's floor for every part but the last (s3transfer enforces it too)
SSE_MODES = ("AES256", "aws:kms")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


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
    max_attempts: int = 10
    """Per request, with exponential backoff: throttling (503 SlowDown), 5xx and dropped connections."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``; a one-line error for anything else."""
    m = re.match(r"^s3://([^/]+)/?(.*)$", uri)
    if not m:
        raise OutputError(f"output {uri!r} is not an S3 URI; use s3://BUCKET/PREFIX")
    bucket, prefix = m.group(1), m.group(2).strip("/")
    if not _BUCKET.match(bucket):
        raise OutputError(f"output {uri!r}: {bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, "
                          f"dots, hyphens)")
    if "//" in prefix:
        raise OutputError(f"output {uri!r}: the prefix has an empty path segment ('//')")
    return bucket, prefix


def make_client(options: S3Options):
    """An S3 client from the standard credential chain (env, profile, instance profile)."""
    session = boto3.session.Session(region_name=options.region)
    config = Config(retries={"mode": "standard", "max_attempts": options.max_attempts},
                    connect_timeout=5, read_timeout=60, max_pool_connections=max(10, options.concurrency + 2),
                    s3={"addressing_style": "path"} if options.endpoint_url else None)
    return session.client("s3", endpoint_url=options.endpoint_url or None, config=config)


def describe_error(e: Exception, where: str) -> str:
    """One line naming the cause of an S3 failure."""
    if isinstance(e, NoCredentialsError):
        return f"no AWS credentials found for {where}; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or run on EC2 with an instance profile"
    if isinstance(e, ProfileNotFound):
        return f"AWS profile {e.kwargs.get('profile')!r} for {where} is not configured; fix AWS_PROFILE or ~/.aws/config"
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
            return f"access denied to {where} ({e.operation_name}); the credentials' policy must allow it (see infra/terraform/policies/uploader.json.tftpl)"
        return f"S3 error on {where}: {code or status} {e.response.get('Error', {}).get('Message', '')}".strip()
    return f"S3 error on {where}: {type(e).__name__}: {e}"


class S3Sink:
    """Writes a run to S3; parts are uploaded by :meth:`upload` (in the uploader process)."""

    def __init__(self, uri: str, options: S3Options | None = None, spool_dir: str | Path | None = None):
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.options = options or S3Options()
        if self.options.part_size < MIN_PART_SIZE:
            raise OutputError(f"part size {self.options.part_size:,} bytes is below S3's minimum of {MIN_PART_SIZE:,}")
        if self.options.sse not in (None, *SSE_MODES):
            raise OutputError(f"--sse {self.options.sse!r} is not supported; use AES256 or aws:kms")
        if self.options.sse_kms_key_id and self.options.sse != "aws:kms":
            raise OutputError("--sse-kms-key-id needs --sse aws:kms")
        self.spool_root = Path(spool_dir) if spool_dir else Path.home() / ".cache" / "temu-gen" / "spool"
        self.staging_dir = self.spool_root
        self.run_id: str | None = None
        self.location = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self._client = None

    def __getstate__(self) -> dict:  # the uploader process builds its own client
        return {**self.__dict__, "_client": None}

    # --- addressing ----------------------------------------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            try:
                self._client = make_client(self.options)
            except BotoCoreError as e:
                raise OutputError(describe_error(e, self.location)) from None
        return self._client

    def key(self, name: str) -> str:
        base = f"{self.prefix}/{run_prefix(self.run_id)}" if self.prefix else run_prefix(self.run_id)
        return f"{base}/{name}"

    def for_run(self, run_id: str) -> S3Sink:
        self.run_id = run_id
        self.location = f"s3://{self.bucket}/{self.key('')}".rstrip("/")
        self.staging_dir = self.spool_root / run_id
        return self

    def _call(self, fn, **kwargs):
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except (BotoCoreError, ClientError) as e:
            raise OutputError(describe_error(e, self.location)) from None

    def _list(self) -> dict[str, int]:
        out: dict[str, int] = {}
        token = None
        while True:
            kw = {"Prefix": self.key(""), **({"ContinuationToken": token} if token else {})}
            page = self._call(self.client.list_objects_v2, **kw)
            out.update((o["Key"].rsplit("/", 1)[1], o["Size"]) for o in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]

    # --- the Sink protocol ---------------------------------------------------------------------------------------
    def prepare(self, run_id: str, overwrite: bool, resume: bool = False) -> None:
        self.for_run(run_id)
        existing = self._list()  # also proves the bucket, credentials and list permission
        if SUCCESS in existing:
            if not overwrite:
                raise OutputError(f"run {run_id} is already committed at {self.location}; pass --overwrite to replace "
                                  f"it or choose another --run-id")
            # un-commit first, so readers never see a mix of old and new
            for name in (SUCCESS, MANIFEST):
                self._call(self.client.delete_object, Key=self.key(name))
        if not resume:
            for name in existing:  # parts of an earlier, uncommitted attempt under this id
                if name.startswith("part-") or name == RUN_PLAN:
                    self._call(self.client.delete_object, Key=self.key(name))
        self._spool_ready()

    def _spool_ready(self) -> None:
        try:
            self.staging_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"spool folder {self.staging_dir} is not writable ({e.strerror}); pass --spool-dir") from None

    def upload(self, name: str, local_path: Path, part: PartInfo) -> dict:
        """Stream one file to S3 (multipart above the part size), with per-part SHA-256 checksums."""
        extra = {"ChecksumAlgorithm": "SHA256", **self._sse_args(),
                 "Metadata": {"sha256": part.sha256, "rows": str(part.rows), "bytes": str(part.bytes)}}
        config = TransferConfig(multipart_threshold=self.options.part_size, multipart_chunksize=self.options.part_size,
                                max_concurrency=self.options.concurrency, use_threads=self.options.concurrency > 1)
        self.client.upload_file(str(local_path), self.bucket, self.key(name), ExtraArgs=extra, Config=config)
        return {"parts": -(-part.bytes // self.options.part_size)}

    def put(self, name: str, local_path: Path) -> None:  # pragma: no cover - the uploader calls upload()
        raise NotImplementedError("S3 parts go through the uploader process")

    def write_plan(self, plan: bytes) -> None:
        self._call(self.client.put_object, Key=self.key(RUN_PLAN), Body=plan, **self._sse_args())

    def read_plan(self) -> dict | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(RUN_PLAN))["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise OutputError(describe_error(e, self.location)) from None
        except BotoCoreError as e:
            raise OutputError(describe_error(e, self.location)) from None
        return json.loads(body)

    def is_committed(self) -> bool:
        return SUCCESS in self._list()

    def existing_parts(self) -> dict[str, PartInfo]:
        """Parts already in S3 whose size matches their recorded size and that carry their sha256."""
        found = {}
        for name, size in self._list().items():
            if not name.startswith("part-"):
                continue
            head = self._call(self.client.head_object, Key=self.key(name), ChecksumMode="ENABLED")
            meta = head.get("Metadata", {})
            if meta.get("sha256") and meta.get("bytes") == str(size) and head.get("ChecksumSHA256"):
                found[name] = PartInfo(int(meta["rows"]), size, meta["sha256"])
        return found

    def commit(self, manifest: bytes) -> None:
        self._call(self.client.put_object, Key=self.key(MANIFEST), Body=manifest, ContentType="application/json",
                   ChecksumAlgorithm="SHA256", **self._sse_args())
        self._call(self.client.put_object, Key=self.key(SUCCESS), Body=b"", **self._sse_args())

    def abort(self) -> int:
        """Abort every open multipart upload of this run (a killed uploader leaves its own behind)."""
        if self.run_id is None:
            return 0
        aborted = 0
        try:
            uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.key("")).get("Uploads", [])
            for u in uploads:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=u["Key"], UploadId=u["UploadId"])
                aborted += 1
        except (BotoCoreError, ClientError):
            pass  # best effort: the bucket's lifecycle rule aborts what is left after a few days
        return aborted

    def _sse_args(self) -> dict:
        args = {}
        if self.options.sse:
            args["ServerSideEncryption"] = self.options.sse
        if self.options.sse_kms_key_id:
            args["SSEKMSKeyId"] = self.options.sse_kms_key_id
        return args


__all__ = ["S3Sink", "S3Options", "parse_s3_uri", "part_name", "MIN_PART_SIZE"]
