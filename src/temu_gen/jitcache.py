"""The kernels' prebuilt cache: numba's cache of this release, shipped in the package, so a first run loads, not compiles.

A fresh install would otherwise compile every kernel before its first event (about two
minutes on 2 cores). The kernels are compiled for numba's portable ``generic`` CPU target
(:mod:`temu_gen.kernels._jit`), so the cache one machine builds loads on any x86-64 (or
any machine of the archive's architecture); ``python -m temu_gen.jitcache build`` makes
one archive per Python version into ``temu_gen/prebuilt/``.

Invariant: an archive is used only where its name matches exactly: these kernel sources
and this numba (the cache key of ``_jit``), this Python and this architecture; it is
unpacked beside the cache and moved in with a rename, index files last, so numba sees no
cache or a whole one. Anything else (no archive, a damaged one, a read-only cache, another
CPU target, ``TEMU_GEN_PREBUILT=off``) leaves the cache as it was and the run compiles.
"""
from __future__ import annotations

import io
import lzma
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ARCHIVES = Path(__file__).parent / "prebuilt"
_KERNELS = Path(__file__).parent / "kernels"
_SUFFIXES = (".nbi", ".nbc")


def _python_tag(version: tuple = tuple(sys.version_info[:2])) -> str:
    return f"py{version[0]}{version[1]}"


def archive_name(key: str, version: tuple = tuple(sys.version_info[:2]), machine: str = platform.machine()) -> str:
    """``kernels-<cache key>-py311-x86_64.tar.xz``: everything a cache's validity depends on, in its name."""
    return f"kernels-{key}-{_python_tag(version)}-{machine}.tar.xz"


def _numba_config():
    from .kernels import _jit  # sets the cache folder and the CPU target before anything reads them

    return _jit.numba.config


def _cache_key() -> str:
    return Path(_numba_config().CACHE_DIR).name


def kernel_cache_folder() -> Path:
    """Where numba keeps this install's kernels: ``CACHE_DIR`` plus its subfolder for the kernels' source folder."""
    from numba.core.caching import _CacheLocator

    base = Path(_numba_config().CACHE_DIR)
    return base / _CacheLocator.get_suitable_cache_subpath(str(_KERNELS / "lifetime.py"))


def shipped_archive() -> Path | None:
    """The archive for this install, or None where none ships (another Python, numba, machine or CPU target)."""
    if os.environ.get("TEMU_GEN_PREBUILT", "").lower() in ("0", "off", "no", "false"):
        return None
    if _numba_config().CPU_NAME != "generic":
        return None
    path = ARCHIVES / archive_name(_cache_key())
    return path if path.is_file() else None


def _members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The archive's files, or ValueError for anything but plain cache files at its top level."""
    members = tar.getmembers()
    for m in members:
        if not m.isfile() or "/" in m.name or m.name.startswith(".") or not m.name.endswith(_SUFFIXES):
            raise ValueError(f"unexpected entry {m.name!r}")
    return members


def _unpack(archive: Path, into: Path) -> list[str]:
    with tarfile.open(archive, "r:xz") as tar:
        members = _members(tar)
        for m in members:
            src = tar.extractfile(m)
            with src, open(into / m.name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    # data files first, each function's index last: an index never names a data file that is not there yet
    return sorted((m.name for m in members), key=lambda n: (n.endswith(".nbi"), n))


def install(archive: Path | None = None) -> bool:
    """Put the shipped cache in place when this install's cache is cold; True when it did.

    Returns False, changing nothing, when the cache is warm already, no archive fits, or the
    archive cannot be unpacked (then a one-line warning says why, and the run compiles).
    """
    from .kernels._jit import cache_is_warm

    archive = archive or shipped_archive()
    if archive is None or cache_is_warm():
        return False
    target = kernel_cache_folder()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".prebuilt-", dir=target.parent))
    except OSError:
        return False  # a read-only cache: numba will not cache there either, and compiles in memory
    try:
        names = _unpack(archive, tmp)
        try:
            tmp.rename(target)  # the usual case, a fresh install: the whole folder appears at once
        except OSError:
            target.mkdir(exist_ok=True)  # a cache folder is there already (a compile cut short, another worker)
            for name in names:
                os.replace(tmp / name, target / name)
        return True
    except (OSError, EOFError, ValueError, tarfile.TarError, lzma.LZMAError) as e:
        print(f"temu-gen: the prebuilt kernel cache {archive.name} cannot be used ({type(e).__name__}: {e}); "
              "compiling instead", file=sys.stderr)
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# What `build` runs to fill a fresh cache: every kernel and signature a run can use
# (events with every defect and the context payload; the jsonl writer; the dimension tables).
_EXERCISE = (
    ["--events", "300000", "--chunk-size", "100000", "--defects", "hostile", "--context", "--workers", "1"],
    ["--events", "100000", "--chunk-size", "50000", "--format", "jsonl", "--workers", "1"],
)


def _exercise(env: dict, scratch: Path) -> None:
    for i, args in enumerate(_EXERCISE):
        subprocess.run([sys.executable, "-m", "temu_gen", *args, "--output", str(scratch / f"run{i}"), "--seed", "7",
                        "--no-progress"], env=env, check=True, stdout=subprocess.DEVNULL)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name.endswith(_SUFFIXES)}


def _tar(files: dict[str, bytes], path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz", preset=9) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644  # no owner, no time: the same cache gives the same archive
            tar.addfile(info, io.BytesIO(data))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def build(dest: Path = ARCHIVES) -> Path:
    """Compile every kernel into an empty cache, prove a second pass compiles nothing, and archive the cache."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="temu-gen-prebuild-") as tmp:
        scratch = Path(tmp)
        env = {**os.environ, "NUMBA_CACHE_DIR": str(scratch / "numba"), "TEMU_GEN_PREBUILT": "off"}
        env.pop("NUMBA_CPU_NAME", None)
        _exercise(env, scratch)
        folders = [p for p in (scratch / "numba").glob("*/*") if p.is_dir()]
        if len(folders) != 1:
            raise RuntimeError(f"expected one kernel cache folder, found {folders}")
        key, files = folders[0].parent.name, _files(folders[0])
        _exercise(env, scratch)
        if _files(folders[0]) != files:
            raise RuntimeError("a second pass over a warm cache compiled again: the cache is not complete")
    if key != _cache_key():
        raise RuntimeError(f"the build's cache key {key} is not this process's {_cache_key()}")
    path = dest / archive_name(key)
    _tar(files, path)
    tag = f"-{_python_tag()}-{platform.machine()}.tar.xz"
    for old in dest.glob(f"kernels-*{tag}"):
        if old != path:
            old.unlink()  # an archive of older kernel sources can never be used again
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["build"]:
        print("usage: python -m temu_gen.jitcache build", file=sys.stderr)
        return 2
    try:
        path = build()
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"temu-gen: cannot build the kernel cache: {e}", file=sys.stderr)
        return 1
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
