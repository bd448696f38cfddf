"""The shipped kernel cache: it fits these kernels, a fresh install loads it and compiles nothing, bad archives fall back."""
from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numba
import pytest

from temu_gen import jitcache


def _contents(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:xz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _cache_env(cache: Path, **extra: str) -> dict:
    """This process's environment with a numba cache at ``cache`` and none of the settings that would bypass the
    shipped archive, plus ``extra``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    for name in ("NUMBA_CPU_NAME", "TEMU_GEN_PREBUILT"):
        env.pop(name, None)
    return {**env, **extra}


def _run(tmp_path: Path, cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """A run as a user starts it (stderr is not a terminal, so no progress bar; notices still print)."""
    env = _cache_env(cache, **env)
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    cmd = [sys.executable, "-m", "temu_gen", "--output", str(out), "--seed", "3", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _cache_files(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in cache.glob("*/*/*") if p.is_file()}


@pytest.fixture
def cold_cache(tmp_path, monkeypatch):
    """This process's numba cache pointed at an empty folder with the real cache key."""
    cache = tmp_path / "numba" / Path(numba.config.CACHE_DIR).name
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(cache))
    return cache


def test_an_archive_ships_for_these_kernels_and_this_python():
    archive = jitcache.shipped_archive()
    assert archive is not None, (f"no {jitcache.archive_name(Path(numba.config.CACHE_DIR).name)}: after changing a "
                                 "kernel, run scripts/prebuild.sh (python -m temu_gen.jitcache build for one Python)")
    names = sorted(_contents(archive))
    assert any(n.startswith("lifetime.simulate_users-") for n in names)
    assert all(n.endswith((".nbi", ".nbc")) and "/" not in n for n in names)


def test_no_archive_of_older_kernels_ships():
    key = Path(numba.config.CACHE_DIR).name
    shipped = sorted(p.name for p in jitcache.ARCHIVES.glob("*.tar.xz"))
    assert shipped and all(name.startswith(f"kernels-{key}-") for name in shipped), shipped


def test_the_kernels_compile_for_the_portable_target():
    assert jitcache._portable_codegen()
    assert jitcache.archive_name("k") == f"kernels-k-{jitcache.python_tag()}-{sys.platform}-{platform.machine()}.tar.xz"


def test_no_archive_when_numba_built_its_target_before_the_kernels():
    """numba fixes its CPU target at its first compile: a host-built target cannot use the shipped cache."""
    code = ("import numba; numba.njit(lambda x: x + 1)(1)\n"
            "from temu_gen import jitcache; print(jitcache.shipped_archive())")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "None"


@pytest.mark.parametrize("var", ["NUMBA_BOUNDSCHECK", "NUMBA_OPT", "NUMBA_CPU_NAME", "NUMBA_DISABLE_JIT"])
def test_no_archive_when_a_numba_option_asks_for_other_code(monkeypatch, var):
    monkeypatch.setenv(var, "1")
    assert jitcache.shipped_archive() is None


@pytest.mark.slow
def test_a_fresh_install_loads_the_shipped_cache_and_compiles_nothing(tmp_path):
    cache = tmp_path / "numba"
    runs = [("--events", "300000", "--chunk-size", "100000", "--defects", "hostile", "--context", "--workers", "2"),
            ("--events", "60000", "--chunk-size", "30000", "--format", "jsonl", "--workers", "1")]
    for args in runs:
        done = _run(tmp_path, cache, *args)
        assert done.returncode == 0, done.stderr
        assert "compiling" not in done.stderr
    # numba writes a data file and rewrites the function's index for every signature it compiles
    files, shipped = _cache_files(cache), _contents(jitcache.shipped_archive())
    # names, then which files differ: pytest's diff of the bytes themselves took over ten minutes
    assert sorted(files) == sorted(shipped)
    assert [name for name in shipped if files[name] != shipped[name]] == []


def test_installing_puts_the_archive_in_place_once(cold_cache):
    assert not jitcache.cache_is_warm()
    assert jitcache.install() is True
    assert jitcache.cache_is_warm()
    folder = jitcache.kernel_cache_folder()
    assert sorted(p.name for p in folder.iterdir()) == sorted(_contents(jitcache.shipped_archive()))
    assert jitcache.install() is False  # warm now: nothing to do
    assert not list(folder.parent.glob(".prebuilt-*"))


def test_a_folder_a_compile_cut_short_is_replaced_not_merged(cold_cache):
    shipped = _contents(jitcache.shipped_archive())
    folder = jitcache.kernel_cache_folder()
    folder.mkdir(parents=True)
    some = sorted(shipped)[:3]
    for name in some:  # the names of the shipped files, other bytes: a half-written compile of other code
        (folder / name).write_bytes(b"stale")
    (folder / "orders.fulfil-1.py311.7.nbc").write_bytes(b"an orphan")
    assert not jitcache.cache_is_warm()
    assert jitcache.install() is True
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == shipped
    assert [p.name for p in cold_cache.iterdir() if p.name.startswith(".prebuilt-")] == []


def test_warm_means_this_install_for_this_python(cold_cache):
    """Another install's kernels, or an unpacking folder a killed installer left, do not make this cache warm."""
    name = f"lifetime.simulate_users-94.{jitcache.python_tag()}.nbi"
    for other in ("kernels_0123456789abcdef", ".prebuilt-x1y2"):
        (cold_cache / other).mkdir(parents=True)
        (cold_cache / other / name).write_bytes(b"x")
    folder = jitcache.kernel_cache_folder()
    folder.mkdir()
    (folder / "lifetime.simulate_users-94.py27.nbi").write_bytes(b"x")
    assert not jitcache.cache_is_warm()
    assert jitcache.install() is True  # and the killed installer's folder is swept
    assert not (cold_cache / ".prebuilt-x1y2").exists()


_START = None


def _install_in_child(_):
    _START.wait(timeout=30)  # every child calls install at the same moment
    return jitcache.install()


def test_installers_starting_together_install_once(cold_cache):
    global _START
    ctx = multiprocessing.get_context("fork")  # the children share this process's patched cache folder
    _START = ctx.Barrier(4)
    with ctx.Pool(4) as pool:
        done = pool.map(_install_in_child, range(4), chunksize=1)
    assert sum(done) == 1
    folder = jitcache.kernel_cache_folder()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == _contents(jitcache.shipped_archive())


def test_the_cache_can_be_turned_off(cold_cache, monkeypatch):
    monkeypatch.setenv("TEMU_GEN_PREBUILT", "off")
    assert jitcache.shipped_archive() is None and jitcache.install() is False
    assert not jitcache.kernel_cache_folder().exists()


def _bad_archive(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "bad.tar.xz"
    good = jitcache.shipped_archive().read_bytes()
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
        return path
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        info = tarfile.TarInfo({"escape": "../escape.nbi", "folder": "sub/x.nbc", "other": "notes.txt"}.get(kind, "x"))
        if kind == "link":
            info.type, info.linkname, info.name = tarfile.SYMTYPE, "/etc/passwd", "x.nbi"
            tar.addfile(info)
        else:
            info.size = 4
            tar.addfile(info, io.BytesIO(b"data"))
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("kind", ["truncated", "escape", "folder", "other", "link"])
def test_a_damaged_archive_changes_nothing_and_says_so(cold_cache, tmp_path, capsys, kind):
    assert jitcache.install(_bad_archive(tmp_path, kind)) is False
    assert "cannot be used" in capsys.readouterr().err
    assert not jitcache.kernel_cache_folder().exists()
    assert [p.name for p in cold_cache.iterdir()] == [".prebuilt.lock"]  # no temporary folder left behind
    assert not (tmp_path / "escape.nbi").exists() and not (cold_cache / "escape.nbi").exists()


@pytest.mark.slow
def test_without_a_shipped_cache_the_first_run_says_it_compiles_first(tmp_path):
    """The path a Python or numba without an archive takes: one line first, then what is missing compiles, then the run.

    The cache starts as the archive's but for the map's entry point (``simulate_users``), so the path costs about
    10 s of compiling here instead of every kernel's 2.5 minutes. Every kernel compiled from nothing is what
    ``jitcache.build`` does for each shipped archive (and proves complete), and ``bench/test_runs.py::test_jit_start
    [compile]`` times it.
    """
    cache = tmp_path / "numba"
    env = _cache_env(cache)
    subprocess.run([sys.executable, "-c", "from temu_gen import jitcache; assert jitcache.install()"], env=env,
                   check=True)
    [folder] = [p for p in cache.glob("*/*") if p.is_dir()]
    shipped = sorted(p.name for p in folder.iterdir())
    missing = list(folder.glob("lifetime.simulate_users-*"))
    assert len(missing) == 2  # its index and its code
    for p in missing:
        p.unlink()
    done = _run(tmp_path, cache, "--events", "50000", "--workers", "2", TEMU_GEN_PREBUILT="off")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("temu-gen: compiling the kernels once"), done.stderr[:300]
    assert sorted(p.name for p in folder.iterdir()) == shipped  # compiled into the cache, under the same names
    again = _run(tmp_path, cache, "--events", "50000", "--workers", "2", TEMU_GEN_PREBUILT="off")
    assert again.returncode == 0 and "compiling" not in again.stderr


_REGISTRIES = ("sorted(m for m in ('numba.np.linalg', 'numba.typed.typeddict', 'numba.np.polynomial') "
               "if m in sys.modules)")


@pytest.mark.skipif(jitcache.shipped_archive() is None, reason="no shipped cache fits: the kernels would compile")
def test_a_run_loads_its_kernels_without_numbas_lowering_registries(tmp_path):
    """Those registries were most of numba's first cache load (0.15-0.35 s); only a compile reads them."""
    code = ("import sys\nfrom temu_gen.cli import main\n"
            f"code = main(['--events', '20000', '--workers', '1', '--no-progress', '--output', {str(tmp_path)!r}])\n"
            f"print(code, {_REGISTRIES})\n")
    done = subprocess.run([sys.executable, "-c", code], env=_cache_env(tmp_path / "cache"), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 []"
    assert list(tmp_path.glob("events/run_id=*/_SUCCESS"))


def test_other_cached_numba_code_still_loads_as_numba_does(tmp_path):
    """The lean load is for this package's kernels only: a user's cached function may need what the refresh imports."""
    (tmp_path / "theirs.py").write_text("import numba\n\n@numba.njit(cache=True)\ndef f(x):\n    return x + 1\n")
    code = ("import sys\nfrom temu_gen import jitcache\njitcache.lean_loads()\njitcache.lean_loads()\n"
            "import theirs\nassert theirs.f(1) == 2\n"
            f"print(sum(theirs.f.stats.cache_hits.values()), {_REGISTRIES})\n")
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    env = _cache_env(tmp_path / "cache", PYTHONPATH=path)
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert first.stdout.startswith("0 ") and again.stdout.startswith("1 ")  # compiled, then loaded from the cache
    assert again.stdout.strip() != "1 []"  # numba refreshed its context before that load, as it always does


# What the shipped kernels' machine code may call: numba's runtime (bound by the lean load) and C helpers, CPython's
# API (bound when numba starts) and libm. A symbol only a lowering registry binds (a hash secret, a typed
# container's helpers) would make the lean load fail for a kernel that uses it.
_BOUND = re.compile(r"(NRT_|numba_|_?Py)\w+|cos|sin|exp|log|pow|floor|ceil|rint|sqrt|fmod|memset|memcpy|memmove")


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs binutils' nm")
def test_the_shipped_kernels_call_only_what_a_lean_load_binds(tmp_path):
    archive = jitcache.shipped_archive() or pytest.skip("no shipped cache fits this Python")
    calls = set()
    for name, data in _contents(archive).items():
        if name.endswith(".nbc"):
            for elf in _objects(pickle.loads(data)):
                (tmp_path / "o.o").write_bytes(elf)
                out = subprocess.run(["nm", "-u", str(tmp_path / "o.o")], capture_output=True, text=True, check=True)
                calls |= {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}
    assert {"NRT_MemInfo_alloc_aligned", "numba_do_raise"} <= calls  # the walk found the code
    assert sorted(c for c in calls if not _BOUND.fullmatch(c)) == []


def _objects(value, depth: int = 0):
    """The ELF objects (machine code) inside a cache entry's unpickled payload."""
    if isinstance(value, bytes) and value[:4] == b"\x7fELF":
        yield value
    elif isinstance(value, (tuple, list)) and depth < 6:
        for v in value:
            yield from _objects(v, depth + 1)
    elif isinstance(value, dict) and depth < 6:
        for v in value.values():
            yield from _objects(v, depth + 1)
