"""The kernels' prebuilt cache: numba's cache of this release, shipped in the package, so a first run loads, not compiles.

A fresh install would otherwise compile every kernel before its first event (about two
minutes on 2 cores). The kernels are compiled for numba's portable ``generic`` CPU target
(:mod:`temu_gen.kernels._jit`), so the cache one machine builds loads on any machine of
the same OS and architecture (x86-64 Linux for the archives shipped); ``python -m
temu_gen.jitcache build`` makes one archive per Python version into ``temu_gen/prebuilt/``
(``scripts/prebuild.sh`` for every supported one).

Invariant: an archive is used only where its name matches exactly (these kernel sources
and this numba, the cache key of ``_jit``; this Python and its ABI; this OS and
architecture) and numba's code generator is the portable one with no option that changes
code (``NUMBA_OPT``, ``NUMBA_BOUNDSCHECK``...). It is unpacked beside the cache and put in
place with one rename, under a lock, so numba sees no cache or a whole one; a folder that
a compile cut short is moved aside, never merged into. Anything else (no archive, a
damaged one, a read-only cache, ``TEMU_GEN_PREBUILT=off``) leaves the cache as it was and
the run compiles, after saying so. :func:`lean_loads` makes loading the kernels from the cache
skip what only a compile needs.
"""
from __future__ import annotations

import contextlib
import fcntl
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


def python_tag() -> str:
    """This interpreter as numba's cache file names spell it: ``py311``, ``py313t``."""
    return f"py{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"


def _platform() -> str:
    return f"{sys.platform}-{platform.machine()}"


def archive_name(key: str) -> str:
    """``kernels-<cache key>-py311-linux-x86_64.tar.xz``: everything a cache's validity depends on, in its name."""
    return f"kernels-{key}-{python_tag()}-{_platform()}.tar.xz"


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


def cache_is_warm() -> bool:
    """Whether this install's kernels are in the cache for this Python (a file test: no numba call, no compile)."""
    return any(kernel_cache_folder().glob(f"lifetime.simulate_users-*.{python_tag()}.nbi"))


# numba options its cache keys do not record: with any of them set, shipped code would not be what they ask for
_CODE_OPTIONS = ("NUMBA_OPT", "NUMBA_BOUNDSCHECK", "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_DISABLE_JIT",
                 "NUMBA_DEBUGINFO", "NUMBA_FASTMATH", "NUMBA_LOOP_VECTORIZE", "NUMBA_SLP_VECTORIZE",
                 "NUMBA_ENABLE_AVX", "NUMBA_DISABLE_INTEL_SVML")


def _portable_codegen() -> bool:
    """Whether numba's CPU target was built for the portable CPU (it is not if numba compiled before ``_jit``)."""
    _numba_config()
    from numba.core.registry import cpu_target

    return tuple(cpu_target.target_context.codegen().magic_tuple()[1:]) == ("generic", "")


def shipped_archive() -> Path | None:
    """The archive for this install, or None where none fits (another Python, numba, OS, machine or code option)."""
    if os.environ.get("TEMU_GEN_PREBUILT", "").lower() in ("0", "off", "no", "false"):
        return None
    if any(os.environ.get(name) for name in _CODE_OPTIONS):
        return None
    path = ARCHIVES / archive_name(_cache_key())
    return path if path.is_file() and _portable_codegen() else None


def _members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The archive's files, or ValueError for anything but plain cache files at its top level."""
    members = tar.getmembers()
    for m in members:
        if not m.isfile() or "/" in m.name or m.name.startswith(".") or not m.name.endswith(_SUFFIXES):
            raise ValueError(f"unexpected entry {m.name!r}")
    return members


def _unpack(archive: Path, into: Path) -> None:
    with tarfile.open(archive, "r:xz") as tar:
        for m in _members(tar):
            src = tar.extractfile(m)
            with src, open(into / m.name, "wb") as dst:
                shutil.copyfileobj(src, dst)


@contextlib.contextmanager
def _locked(folder: Path):
    """One installer at a time per cache (workers of a pool or a Dask cluster may all start cold together)."""
    with open(folder / ".prebuilt.lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _sweep(folder: Path) -> None:
    """Remove what an installer killed mid-way left: its unpacking folder, or a folder it moved aside."""
    for stale in folder.glob(".prebuilt-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _put_in_place(tmp: Path, target: Path) -> None:
    """``target`` becomes ``tmp`` in one rename; what was there (a compile cut short) is moved aside first."""
    if target.exists() and any(target.iterdir()):
        aside = target.parent / f".prebuilt-aside-{os.getpid()}"
        target.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)
    tmp.rename(target)  # onto nothing, or onto the empty folder numba makes when the kernels are imported


def install(archive: Path | None = None) -> bool:
    """Put the shipped cache in place when this install's cache is cold; True when it did.

    Returns False, changing nothing, when the cache is warm already, no archive fits, the
    cache cannot be written, or the archive cannot be unpacked (then a one-line warning
    says why, and the run compiles).
    """
    if cache_is_warm():
        return False
    archive = archive or shipped_archive()
    if archive is None:
        return False
    target = kernel_cache_folder()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(target.parent):
            # another process may have put it in place while this one waited for the lock
            return not cache_is_warm() and _install_locked(archive, target)
    except OSError:
        return False  # a cache this user cannot write: numba cannot cache there either, and compiles in memory


def _install_locked(archive: Path, target: Path) -> bool:
    _sweep(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=".prebuilt-", dir=target.parent))
    try:
        _unpack(archive, tmp)
        _put_in_place(tmp, target)
        return True
    except (OSError, EOFError, ValueError, tarfile.TarError, lzma.LZMAError) as e:
        print(f"temu-gen: the prebuilt kernel cache {archive.name} cannot be used ({type(e).__name__}: {e}); "
              "compiling instead", file=sys.stderr)
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_LEAN = "_temu_gen_lean"
_LEAN_NUMBA = "0.68.1"  # the numba whose caching and runtime code the lean load was read from (setup.cfg pins it)
_KERNELS_PACKAGE = f"{__package__}.kernels."


def lean_loads() -> None:
    """Load this package's kernels from numba's cache without numba's lowering registries: 0.15-0.35 s of a start.

    Before each cache load numba refreshes its target context, and the first refresh imports every
    lowering registry it has (strings, typed containers, linear algebra...), which only a compile
    reads. A cached kernel needs numba's runtime (NRT), whose symbols are bound here as the refresh
    would; its other symbols are numba's C helpers, CPython's API and libm, bound when numba starts
    (``tests/test_jitcache.py`` lists them in the shipped archive). So a load of a function in
    ``temu_gen.kernels`` skips the refresh; a miss still compiles, and a compile refreshes the context
    itself. This changes numba's cache class for the whole process, but other numba code loads as
    numba does. Idempotent; with any numba but the one this was read from, nothing changes.
    """
    import numba
    from numba.core import caching
    from numba.core.runtime import nrt

    load = caching.Cache.load_overload
    if getattr(load, _LEAN, False) or numba.__version__ != _LEAN_NUMBA:
        return

    def load_overload(self, sig, target_context):
        if not (getattr(self._py_func, "__module__", None) or "").startswith(_KERNELS_PACKAGE):
            return load(self, sig, target_context)
        nrt.rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    setattr(load_overload, _LEAN, True)
    caching.Cache.load_overload = load_overload


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
        env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}  # no option baked in unseen
        env.update(NUMBA_CACHE_DIR=str(scratch / "numba"), TEMU_GEN_PREBUILT="off")
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
    tag = f"-{python_tag()}-{_platform()}.tar.xz"
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
