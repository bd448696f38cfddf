"""S3Run: one run at ``s3://bucket/prefix/<table>/run_id=<id>/``, written by one process at a time.

Invariant: the run's ``_lock`` object is created with ``If-None-Match: *`` before anything
else is written and removed at commit or abort; a part counts as delivered once its
record (size, SHA-256, ETag and the server's checksum) is stored under ``_parts/``; on
``--resume`` a part is kept only if the object's ETag, size and checksum equal its
record and its Parquet footer (a jsonl part: its gzip header) names this run, seed,
chunk and config. ``_SUCCESS`` is
written only by :meth:`S3Run.commit`, after the manifest, which comes after every part.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Sequence

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import (BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError,
                                 ReadTimeoutError)

from ..errors import OutputError, RunLocked
from .base import (LOCK, MANIFEST, RUN_PLAN, SUCCESS, TABLES, Holder, PartExpectation, PartRecord, file_key, is_jsonl,
                   changed_message, locked_message, lost_lock_message, metadata_mismatch, parse_plan, provenance,
                   run_prefix)
from .s3 import S3Options, call, describe_error, error_code, make_client

RECORDS = "_parts/"
_log = logging.getLogger("temu_gen")
_NOT_FOUND = ("NoSuchKey", "404", "NotFound")
_PRECONDITION = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


class S3Run:
    """The run's objects; it pickles (without its client), so the uploader process gets its own copy."""

    def __init__(self, bucket: str, prefix: str, run_id: str, options: S3Options, spool_root: Path):
        self.bucket, self.run_id, self.options = bucket, run_id, options
        self.root = f"{prefix}/" if prefix else ""
        self.base = f"{self.root}{run_prefix(run_id)}/"
        self.location = f"s3://{bucket}/{self.base}".rstrip("/")
        # one folder per (endpoint, bucket, prefix, run id): two destinations never share (and remove) it
        where = hashlib.sha256(f"{options.endpoint_url or ''} {self.location}".encode()).hexdigest()[:10]
        self.staging_dir = spool_root / f"{run_id}.s3-{where}"
        self.spool_dir = self.staging_dir
        self._client = None
        self._holder: Holder | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_client": None}

    @property
    def client(self):
        if self._client is None:
            try:
                self._client = make_client(self.options)
            except BotoCoreError as e:
                raise OutputError(describe_error(e, self.location)) from None
        return self._client

    def key(self, name: str) -> str:
        """An object of the run's events folder (parts, plan, lock, records, manifest)."""
        return self.base + name

    def file_object(self, table: str, name: str) -> str:
        """The object key of file ``name`` of ``table``."""
        return self.key(name) if table == "events" else f"{self.root}{run_prefix(self.run_id, table)}/{name}"

    def _bases(self) -> list[tuple[str, str]]:
        return [(t, self.base if t == "events" else f"{self.root}{run_prefix(self.run_id, t)}/") for t in TABLES]

    def _get(self, name: str) -> bytes | None:
        return self._ask(lambda: self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"].read())

    def _ask(self, request):
        """``request()``'s answer, or None where the object is not there; other failures are one line."""
        try:
            return request()
        except ClientError as e:
            if error_code(e) in _NOT_FOUND:
                return None
            raise OutputError(describe_error(e, self.location)) from None
        except BotoCoreError as e:
            raise OutputError(describe_error(e, self.location)) from None

    def _put(self, name: str, body: bytes, **extra) -> dict:
        return call(self.client.put_object, self.location, Bucket=self.bucket, Key=self.key(name), Body=body,
                    **self._sse_args(), **extra)

    def _list(self, sub: str = "", base: str | None = None) -> dict[str, dict]:
        """Objects under ``base`` (the events folder by default) + ``sub``, by their name below ``base``."""
        base = self.base if base is None else base
        out: dict[str, dict] = {}
        kw = {"Bucket": self.bucket, "Prefix": base + sub}
        while True:
            page = call(self.client.list_objects_v2, self.location, **kw)
            out.update((o["Key"][len(base):], o) for o in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return out
            kw["ContinuationToken"] = page["NextContinuationToken"]

    def _delete(self, names, base: str | None = None) -> None:
        # one DeleteObject per key: the batch call (DeleteObjects) is authorised on the bucket by some servers,
        # which a policy scoped to the run's prefix rightly refuses
        base = self.base if base is None else base
        for n in names:
            call(self.client.delete_object, self.location, Bucket=self.bucket, Key=base + n)

    # --- plan and lock -----------------------------------------------------------------------------------------
    def read_plan(self) -> dict | None:
        body = self._get(RUN_PLAN)
        return None if body is None else parse_plan(body, f"{self.location}/{RUN_PLAN}")

    def lock(self, holder: Holder, force: bool = False) -> None:
        if force:
            body = self._get(LOCK)
            other = Holder.parse(body) if body is not None else None
            if other is not None and other.is_gone() is False:  # never take a live writer's lock
                raise RunLocked(locked_message(self.run_id, self.location, other))
            if body is not None:
                self._delete([LOCK])
        self._holder = holder  # from here on, every way out of this call but success removes the lock if it is ours
        try:
            self._create_lock(holder, force)
            self._check_exclusive(holder)
            shutil.rmtree(self.staging_dir, ignore_errors=True)  # an earlier attempt's spool: regenerable
            try:
                self.staging_dir.mkdir(parents=True)
            except OSError as e:
                raise OutputError(f"spool folder {self.staging_dir} is not writable ({e.strerror}); pass "
                                  f"--spool-dir") from None
        except BaseException:  # a refusal, a signal, a failed request: unlock compares the lock's holder first
            # one short attempt: after a slow request, the full client could wait out a second deadline
            quick = self._quick_client() if self._holder is not None else None
            if quick is not None:
                self.unlock(quick)
            self._holder = None
            raise

    def _create_lock(self, holder: Holder, force: bool) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(LOCK), Body=holder.to_bytes(), IfNoneMatch="*",
                                   **self._sse_args())
        except ClientError as e:
            if error_code(e) in _PRECONDITION:
                body = self._get(LOCK)
                if Holder.parse(body or b"") == holder:
                    return  # our own create, retried by botocore after its answer was lost
                raise RunLocked(locked_message(self.run_id, self.location, Holder.parse(body or b""), forced=force)) \
                    from None
            raise OutputError(describe_error(e, self.location)) from None
        except BotoCoreError as e:
            if isinstance(e, (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError)):
                self._holder = None  # silent until the deadline: asking whether the lock landed would wait again
            raise OutputError(describe_error(e, self.location)) from None

    def _check_exclusive(self, holder: Holder) -> None:
        """A second conditional create must fail; servers that ignore If-None-Match make the lock advisory."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(LOCK), Body=holder.to_bytes(), IfNoneMatch="*",
                                   **self._sse_args())
        except ClientError as e:
            if error_code(e) in _PRECONDITION:
                return
            raise OutputError(describe_error(e, self.location)) from None
        _log.warning("the S3 endpoint ignores conditional writes (If-None-Match), so the lock on run %s is "
                     "advisory: make sure no other process writes it", self.run_id)
        if Holder.parse(self._get(LOCK) or b"") != holder:
            raise RunLocked(locked_message(self.run_id, self.location, Holder.parse(self._get(LOCK) or b"")))

    def unlock(self, client=None) -> None:
        if self._holder is None:
            return
        client = client or self.client
        try:
            body = client.get_object(Bucket=self.bucket, Key=self.key(LOCK))["Body"].read()
            if Holder.parse(body) == self._holder:
                client.delete_object(Bucket=self.bucket, Key=self.key(LOCK))
        except (BotoCoreError, ClientError):
            pass  # best effort: a lock left behind is reported as stale, never silently taken
        self._holder = None

    # --- state -------------------------------------------------------------------------------------------------
    def is_committed(self) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(SUCCESS))
            return True
        except ClientError as e:
            if error_code(e) in _NOT_FOUND:
                return False
            raise OutputError(describe_error(e, self.location)) from None
        except BotoCoreError as e:
            raise OutputError(describe_error(e, self.location)) from None

    def reset(self) -> None:
        self._delete([SUCCESS, MANIFEST])  # un-commit first: readers never see a mix of old and new
        self._abort_uploads(self.client)  # an earlier attempt that crashed can never complete its uploads
        self._delete(n for n in self._list() if n != LOCK)
        for table, base in self._bases()[1:]:
            self._delete(self._list(base=base), base=base)

    def write_plan(self, plan: bytes) -> None:
        self._put(RUN_PLAN, plan, ContentType="application/json")

    def verify(self, expected: Sequence[PartExpectation]) -> dict[str, PartRecord]:
        self._abort_uploads(self.client)  # a crashed run's uploads can never complete now
        records = {}
        for name, _ in self._list(RECORDS).items():
            try:
                rec = PartRecord.from_json(json.loads(self._get(name) or b""))
            except (ValueError, KeyError, TypeError):
                continue
            if name == f"{RECORDS}{rec.key}.json":  # a record stands only for the file it is named after
                records[rec.key] = (name, rec)
        kept: dict[str, PartRecord] = {}
        wanted = {e.key: e for e in expected}
        for table, base in self._bases():
            doomed = []
            for name, obj in self._list("part-", base=base).items():
                key = file_key(table, name)
                exp, (_, rec) = wanted.get(key), records.get(key, (None, None))
                if exp is not None and rec is not None and self._proves(obj["Size"], rec, exp):
                    kept[key] = rec
                else:
                    doomed.append(name)
            self._delete(doomed, base=base)
        self._delete([rn for k, (rn, _) in records.items() if k not in kept])
        return kept

    def _proves(self, size: int, rec: PartRecord, exp: PartExpectation) -> bool:
        if size != rec.bytes or not exp.admits(rec, rec.rows) or not rec.etag:
            return False
        head = call(self.client.head_object, self.location, Bucket=self.bucket,
                    Key=self.file_object(rec.table, rec.name), ChecksumMode="ENABLED")
        if head.get("ETag") != rec.etag or head.get("ContentLength") != rec.bytes:
            return False
        checksum = head.get("ChecksumSHA256", "")
        if rec.checksum_sha256 and _base64(checksum) != _base64(rec.checksum_sha256):
            return False
        single_put = "-" not in rec.etag  # a multipart object's ETag (and checksum) end in -<parts>
        if checksum and single_put and checksum != _hex_to_base64(rec.sha256):
            return False  # one PUT: the server's checksum is the SHA-256 of the very bytes, so it must be ours
        if not exp.footer:
            return True  # the poison file: no footer, its recorded ETag and checksum are all there is
        key = self.file_object(rec.table, rec.name)
        rows, kv = self._header(key, rec) if is_jsonl(rec.name) else self._footer(key, rec.bytes)
        return kv is not None and exp.admits(rec, rows) and metadata_mismatch(kv, exp.metadata) is None

    def _header(self, key: str, rec: PartRecord):
        """A jsonl part's row count and key-value metadata, from its gzip header (one ranged GET)."""
        from ..encode.gzip_member import HEADER_PROBE

        head = call(self.client.get_object, self.location, Bucket=self.bucket, Key=key,
                    Range=f"bytes=0-{min(HEADER_PROBE, rec.bytes) - 1}")["Body"].read()
        return provenance(rec.name, head)

    def _footer(self, key: str, size: int):
        """The part's row count and key-value metadata, read from its footer with two ranged GETs."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        def tail(n: int) -> bytes:
            return call(self.client.get_object, self.location, Bucket=self.bucket, Key=key,
                        Range=f"bytes={size - n}-{size - 1}")["Body"].read()

        end = tail(min(size, 8))
        if len(end) < 8 or end[-4:] != b"PAR1":
            return -1, None
        n = int.from_bytes(end[:4], "little") + 8
        if n > size - 4:
            return -1, None
        try:
            meta = pq.read_metadata(pa.BufferReader(b"PAR1" + tail(n)))
        except (pa.ArrowException, OSError):
            return -1, None
        return meta.num_rows, meta.metadata

    # --- delivery and commit -----------------------------------------------------------------------------------
    def delivery(self, max_in_flight: int):
        from ..delivery import UploaderDelivery

        return UploaderDelivery(self)

    def url(self, record: PartRecord) -> str:
        """Where a file of the run lives, for messages."""
        return f"s3://{self.bucket}/{self.file_object(record.table, record.name)}"

    def upload(self, record: PartRecord, path: Path) -> PartRecord:
        """Stream one file to S3 (multipart above the part size, SHA-256 per part), then record it.

        Runs in the uploader process (or a Dask worker). The record object is what makes the part count. Both
        writes are fenced by the lock: a task of an attempt whose lock was cleared (its coordinator killed and the
        run resumed, maybe committed since) writes nothing more under the run.
        """
        self._check_fence()
        o = self.options
        extra = {"ChecksumAlgorithm": "SHA256", **self._sse_args(),
                 "Metadata": {"sha256": record.sha256, "rows": str(record.rows), "chunk": str(record.chunk)}}
        config = TransferConfig(multipart_threshold=o.part_size, multipart_chunksize=o.part_size,
                                max_concurrency=o.concurrency, use_threads=o.concurrency > 1)
        key = self.file_object(record.table, record.name)
        self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=config)
        head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        done = record._replace(etag=head["ETag"], checksum_sha256=head.get("ChecksumSHA256", ""),
                               upload_parts=-(-record.bytes // o.part_size) if record.bytes >= o.part_size else 1)
        self._check_fence()
        self.client.put_object(Bucket=self.bucket, Key=self.key(f"{RECORDS}{record.key}.json"),
                               Body=json.dumps(done.to_json()).encode(), **self._sse_args())
        return done

    def _check_fence(self) -> None:
        """:meth:`_require_lock` for a copy made by a locked run (a test's or a tool's copy has nothing to fence by)."""
        if self._holder is not None:
            self._require_lock()

    def _require_lock(self) -> None:
        """Raise RunLocked unless the run's lock still names this copy's holder (not cleared by --force-unlock,
        taken by another attempt, or removed by a commit)."""
        now = Holder.parse(self._get(LOCK) or b"")
        if self._holder is None or now != self._holder:
            raise RunLocked(lost_lock_message(self.run_id, self.location, now))

    def check_delivered(self, records: Sequence[PartRecord]) -> None:
        """One listing per table: every delivered object is there with the size and ETag it was delivered with."""
        found = {}
        for table, base in self._bases():
            if any(r.table == table for r in records):
                found.update((file_key(table, n), o) for n, o in self._list(base=base).items())
        changed = [f"{r.table}/{r.name}" for r in records if (o := found.get(r.key)) is None
                   or o.get("Size") != r.bytes or not self._same_etag(r, o.get("ETag", ""))]
        if changed:
            raise OutputError(changed_message(self.run_id, self.location, changed))

    def _same_etag(self, rec: PartRecord, listed: str) -> bool:
        """The object's ETag is the recorded one: a listing's says so, or (some servers list another) a HEAD's."""
        if not rec.etag or listed.strip('"') == rec.etag.strip('"'):
            return True
        head = self._ask(lambda: self.client.head_object(Bucket=self.bucket, Key=self.file_object(rec.table, rec.name)))
        return head is not None and head.get("ETag", "").strip('"') == rec.etag.strip('"')

    def commit(self, manifest: bytes, gate) -> None:
        self._require_lock()
        self._put(MANIFEST, manifest, ContentType="application/json", ChecksumAlgorithm="SHA256")
        gate.check()
        self._put(SUCCESS, b"")
        try:
            self._delete(self._list(RECORDS))  # the manifest now records every part
        except OutputError as e:
            _log.warning("run committed, but its part records were not removed (%s)", e)
        self.unlock()
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def abort(self) -> int:
        """Abort this run's open multipart uploads, drop its spool and release the lock (best effort, quickly).

        Touches nothing once another process provably holds the run's lock (it was cleared with
        --force-unlock): its uploads and spool are not this run's to remove.
        """
        holder, self._holder = self._holder, None
        quick = self._quick_client()
        lock, answering = None, quick is not None
        if quick is not None:
            try:
                lock = quick.get_object(Bucket=self.bucket, Key=self.key(LOCK))["Body"].read()
            except ClientError:
                pass  # gone: clean up what is this run's
            except (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError):
                answering = False  # each further request would wait out its own timeout too
            except BotoCoreError:
                pass  # a dropped connection, say: the next request may well be answered
        if lock is not None and Holder.parse(lock) != holder:
            return 0
        shutil.rmtree(self.staging_dir, ignore_errors=True)
        if not answering:  # its open uploads are aborted by --resume, or the next run, or the bucket's lifecycle rule
            return 0
        aborted = self._abort_uploads(quick)
        if lock is not None:
            try:
                quick.delete_object(Bucket=self.bucket, Key=self.key(LOCK))
            except (BotoCoreError, ClientError):
                pass  # best effort: a lock left behind is reported as stale, never silently taken
        return aborted

    def _quick_client(self):
        """A client for clean-up (one attempt, short timeouts), or None if none can be made."""
        try:
            return make_client(self.options, quick=True)
        except BotoCoreError:
            return None

    def abort_open_uploads(self) -> int:
        """Abort every open multipart upload of the run (once all its parts are recorded, only orphans are open:
        uploads of workers that were lost mid-file while a retry delivered the file)."""
        return self._abort_uploads(self.client)

    def _abort_uploads(self, client) -> int:
        aborted = 0
        try:
            uploads = []
            for _, base in self._bases():
                uploads += client.list_multipart_uploads(Bucket=self.bucket, Prefix=base).get("Uploads", [])
            for u in uploads:
                client.abort_multipart_upload(Bucket=self.bucket, Key=u["Key"], UploadId=u["UploadId"])
                aborted += 1
        except (BotoCoreError, ClientError):
            pass  # the bucket's lifecycle rule aborts what is left after a few days; --resume aborts it too
        return aborted

    def _sse_args(self) -> dict:
        args = {}
        if self.options.sse:
            args["ServerSideEncryption"] = self.options.sse
        if self.options.sse_kms_key_id:
            args["SSEKMSKeyId"] = self.options.sse_kms_key_id
        return args


def _hex_to_base64(digest: str) -> str:
    """A hex SHA-256 as S3 writes it (base64); '' if it is not hex."""
    import base64

    try:
        return base64.b64encode(bytes.fromhex(digest)).decode()
    except ValueError:
        return ""


def _base64(checksum: str) -> str:
    """A checksum without the ``-N`` part count that S3 appends for multipart objects."""
    return checksum.split("-", 1)[0]
