#!/usr/bin/env python3
"""Build what the EC2 runner installs: the project's wheel and a hash-locked wheelhouse per architecture.

Run it with the interpreter of the environment the tests passed in (it pins *that* environment):

    python scripts/build_artifacts.py                 # dist/ for x86_64 and arm64, Python 3.11 (Amazon Linux 2023)

Invariant: every version in ``dist/`` is the version installed in the tested environment,
and every file the instance installs is named, with its SHA-256, in a requirements file whose
own SHA-256 Terraform puts in the instance's user data. The instance installs with
``pip --no-index --require-hashes`` from these files only, so no package index is consulted
(no dependency confusion, nothing unpinned) and a changed file stops the bootstrap.

Layout (read by ``infra/terraform``)::

    dist/temu_gen-<version>-py3-none-any.whl   the package, built from this checkout
    dist/constraints.txt                       name==version of every runtime dependency, from the tested env
    dist/<arch>/requirements.txt               every wheel below with --hash=sha256:..., the package included
    dist/<arch>/*.whl                          manylinux wheels for that CPU (x86_64 or arm64)
    dist/<arch>/constraints.txt                a copy of the pins, uploaded with the wheels
    dist/artifacts.json                        versions, Python, commit, and each file's SHA-256
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "temu-gen"
GLIBC_MINOR = 34  # Amazon Linux 2023 ships glibc 2.34: any manylinux wheel up to manylinux_2_34 runs there
ARCHES = {"x86_64": "x86_64", "arm64": "aarch64"}  # AWS name -> wheel platform name
EXTRAS = ("dask",)  # a node of a Dask cluster (infra/terraform dask_nodes > 1) runs `dask worker` from the same venv


def _target_env(arch: str, python: str) -> dict:
    """PEP 508 marker values of the instance, so dependencies are chosen for it, not for this machine."""
    env = default_environment()
    env.update(python_version=python, python_full_version=f"{python}.0", platform_machine=ARCHES[arch],
               sys_platform="linux", platform_system="Linux", os_name="posix", implementation_name="cpython",
               platform_python_implementation="CPython")
    return env


def runtime_pins(arch: str, python: str) -> dict[str, str]:
    """name -> installed version for the package's runtime dependency closure on the target."""
    env = _target_env(arch, python)
    pins: dict[str, str] = {}
    todo = [Requirement(f"{PACKAGE}[{','.join(EXTRAS)}]")]
    seen: set[tuple[str, str]] = set()  # (name, extra): a package reached again with a new extra adds its deps
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = {e for e in {""} | set(req.extras) if (name, e) not in seen}
        if not extras:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"build_artifacts: {req.name} is needed on {arch} but not installed here, so there is "
                             f"no tested version to pin; run this with the venv the tests passed in") from None
        pins[name] = dist.version
        for extra in extras:
            seen.add((name, extra))
            for text in dist.requires or []:
                sub = Requirement(text)
                if sub.marker is None or sub.marker.evaluate({**env, "extra": extra}):
                    todo.append(sub)
    return pins


def _platforms(arch: str) -> list[str]:
    machine = ARCHES[arch]
    legacy = ["manylinux2014", "manylinux2010", "manylinux1"]
    return [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 4, -1)] + \
        [f"{tag}_{machine}" for tag in legacy] + [f"linux_{machine}"]


def _pip(*args: str, env: dict | None = None) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, env=env)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_wheel(out: Path) -> Path:
    """The package's wheel; byte-identical for an unchanged commit, so a rebuild alone replaces no instance."""
    stamp = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%ct"], capture_output=True, text=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": stamp.stdout.strip() or "315532800"}  # zip timestamps
    with tempfile.TemporaryDirectory() as tmp:
        _pip("wheel", "--no-deps", "--quiet", "--wheel-dir", tmp, str(ROOT), env=env)
        built = next(Path(tmp).glob("temu_gen-*.whl"))
        return Path(shutil.copy2(built, out / built.name))


def build_wheelhouse(out: Path, arch: str, python: str, wheel: Path, pins: dict[str, str]) -> dict[str, str]:
    """Download the pinned wheels for ``arch``, add the package, write the hashed requirements; file -> sha256."""
    house = out / arch
    house.mkdir()
    deps = house / "pins.txt"
    deps.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items()) if n != PACKAGE))
    platform_args = [a for p in _platforms(arch) for a in ("--platform", p)]
    _pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--implementation", "cp", "--python-version",
         python, *platform_args, "--dest", str(house), "-r", str(deps))
    deps.unlink()
    shutil.copy2(wheel, house / wheel.name)
    hashes = {p.name: sha256(p) for p in sorted(house.glob("*.whl"))}
    lines = []
    for name, digest in hashes.items():
        project, version, *_ = parse_wheel_filename(name)
        if pins.get(project) != str(version):
            raise SystemExit(f"build_artifacts: downloaded {name}, but the tested version of {project} is "
                             f"{pins.get(project)}")
        lines.append(f"{project}=={version} --hash=sha256:{digest}\n")
    (house / "requirements.txt").write_text("".join(lines))
    # Resolve offline from the wheelhouse alone, as the instance will: proves it is complete for that CPU.
    with tempfile.TemporaryDirectory() as tmp:
        _pip("install", "--quiet", "--dry-run", "--no-index", "--find-links", str(house), "--require-hashes",
             "--only-binary=:all:", "--implementation", "cp", "--python-version", python, *platform_args,
             "--target", tmp, "-r", str(house / "requirements.txt"))
    hashes["requirements.txt"] = sha256(house / "requirements.txt")
    shutil.copy2(out / "constraints.txt", house / "constraints.txt")  # travels with the wheels, for the record
    hashes["constraints.txt"] = sha256(house / "constraints.txt")
    return hashes


def _commit() -> str:
    r = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder, emptied first (default dist/)")
    p.add_argument("--arch", action="append", choices=sorted(ARCHES),
                   help="instance CPU architecture, repeatable (default: x86_64 and arm64)")
    p.add_argument("--python-version", default="3.11", help="Python on the instance (default 3.11, Amazon Linux "
                   "2023's python3.11); Terraform installs the version recorded here")
    args = p.parse_args(argv)
    arches = args.arch or sorted(ARCHES)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    started = time.perf_counter()
    wheel = build_wheel(args.out)
    pins = {arch: runtime_pins(arch, args.python_version) for arch in arches}
    union = {n: v for arch in arches for n, v in pins[arch].items() if n != PACKAGE}
    (args.out / "constraints.txt").write_text(
        f"# Runtime dependencies of {wheel.name}, pinned from the environment its tests passed in\n"
        f"# (Python {sys.version.split()[0]}, commit {_commit()}). Installed on the instance by hash from "
        f"<arch>/requirements.txt.\n" + "".join(f"{n}=={v}\n" for n, v in sorted(union.items())))
    manifest = {
        "format": 1, "package": PACKAGE, "version": metadata.version(PACKAGE), "wheel": wheel.name,
        "python_version": args.python_version, "commit": _commit(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "architectures": {arch: {"requirements": "requirements.txt",
                                 "files": build_wheelhouse(args.out, arch, args.python_version, wheel, pins[arch])}
                          for arch in arches},
    }
    (args.out / "artifacts.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"artifacts for {', '.join(arches)} (Python {args.python_version}) in {args.out}: {size / 2**20:.0f} MiB, "
          f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
