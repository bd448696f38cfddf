"""What a run left behind, checked exactly: part digests, a manifest that matches its files, and no leftovers.

A committed run is correct when its parts are byte-identical to a clean run's with the
same seed and run id, and its manifest lists exactly those parts with their digests;
a run that is not committed has no ``_SUCCESS`` and no manifest.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path


def local_files(run_dir: Path) -> dict[str, str]:
    """name -> sha256 of the part files in a run folder (Parquet or jsonl)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(run_dir).glob("part-*"))}


def s3_objects(client, bucket: str, prefix: str) -> dict[str, bytes]:
    """name -> body of every object under a run prefix (records under ``_parts/`` keep their sub-path)."""
    out = {}
    kw = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = client.list_objects_v2(**kw)
        for o in page.get("Contents", []):
            out[o["Key"][len(prefix):]] = client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        if not page.get("IsTruncated"):
            return out
        kw["ContinuationToken"] = page["NextContinuationToken"]


def s3_files(client, bucket: str, prefix: str) -> dict[str, str]:
    """name -> sha256 of the part objects under a run prefix."""
    return {name: hashlib.sha256(body).hexdigest() for name, body in s3_objects(client, bucket, prefix).items()
            if name.startswith("part-")}


def committed_local(run_dir: Path, reference: dict[str, str]) -> dict:
    """Assert the run folder is committed, identical to ``reference``, with nothing else left; returns the manifest."""
    run_dir = Path(run_dir)
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == sorted(["_SUCCESS", "_manifest.json", "_run.json", *reference]), names
    assert not any(p.is_symlink() for p in run_dir.iterdir())
    assert local_files(run_dir) == reference
    manifest = json.loads((run_dir / "_manifest.json").read_bytes(), parse_constant=_strict)
    assert {f["name"]: f["sha256"] for f in manifest["files"]} == reference
    return manifest


def committed_s3(client, bucket: str, prefix: str, reference: dict[str, str]) -> dict:
    """Assert the run prefix is committed, identical to ``reference``, no lock, no records, no open uploads."""
    objects = s3_objects(client, bucket, prefix)
    assert sorted(objects) == sorted(["_SUCCESS", "_manifest.json", "_run.json", *reference]), sorted(objects)
    assert {n: hashlib.sha256(b).hexdigest() for n, b in objects.items() if n.startswith("part-")} == reference
    manifest = json.loads(objects["_manifest.json"], parse_constant=_strict)
    assert {f["name"]: f["sha256"] for f in manifest["files"]} == reference
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    return manifest


def not_committed_local(run_dir: Path) -> list[str]:
    """Assert no ``_SUCCESS`` or manifest; returns what is there."""
    names = sorted(p.name for p in Path(run_dir).iterdir()) if Path(run_dir).exists() else []
    assert "_SUCCESS" not in names and "_manifest.json" not in names, names
    return names


def _strict(constant: str):
    raise AssertionError(f"the manifest holds {constant}, which strict JSON readers reject")
