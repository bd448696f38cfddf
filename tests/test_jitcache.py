"""The shipped kernel cache: it fits these kernels, a fresh install loads it and compiles nothing, bad archives fall back."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numba
import pytest

from temu_gen import jitcache
from temu_gen.kernels import _jit


def _names(archive: Path) -> list[str]:
    with tarfile.open(archive, "r:xz") as tar:
        return sorted(tar.getnames())


def _contents(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:xz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _run(tmp_path: Path, cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """A run as a user starts it (stderr is not a terminal, so no progress bar; notices still print)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), **env}
    env.pop("NUMBA_CPU_NAME", None)
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
    names = _names(archive)
    assert any(n.startswith("lifetime.simulate_users-") for n in names)
    assert all(n.endswith((".nbi", ".nbc")) and "/" not in n for n in names)


def test_no_archive_of_older_kernels_ships():
    key = Path(numba.config.CACHE_DIR).name
    shipped = sorted(p.name for p in jitcache.ARCHIVES.glob("*.tar.xz"))
    assert shipped and all(name.startswith(f"kernels-{key}-") for name in shipped), shipped


def test_the_kernels_compile_for_the_portable_target():
    assert numba.config.CPU_NAME == "generic" and numba.config.CPU_FEATURES == ""
    assert _jit.numba is numba


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
    assert _cache_files(cache) == _contents(jitcache.shipped_archive())


def test_installing_puts_the_archive_in_place_once(cold_cache):
    assert not _jit.cache_is_warm()
    assert jitcache.install() is True
    assert _jit.cache_is_warm()
    folder = jitcache.kernel_cache_folder()
    assert sorted(p.name for p in folder.iterdir()) == _names(jitcache.shipped_archive())
    assert jitcache.install() is False  # warm now: nothing to do
    assert not list(folder.parent.glob(".prebuilt-*"))


def test_install_completes_a_folder_a_cut_short_compile_left(cold_cache):
    folder = jitcache.kernel_cache_folder()
    folder.mkdir(parents=True)
    (folder / "sampling.uniform-1.py311.1.nbc").write_bytes(b"half")
    assert jitcache.install() is True
    assert _jit.cache_is_warm()
    assert set(_names(jitcache.shipped_archive())) <= {p.name for p in folder.iterdir()}


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
    assert [p.name for p in cold_cache.iterdir()] == []  # no temporary folder left behind
    assert not (tmp_path / "escape.nbi").exists() and not (cold_cache / "escape.nbi").exists()


@pytest.mark.slow
def test_without_a_shipped_cache_the_first_run_says_it_compiles_first(tmp_path):
    """The path a Python or numba without an archive takes: one line before two minutes of compiling, then the run."""
    cache = tmp_path / "numba"
    done = _run(tmp_path, cache, "--events", "50000", "--workers", "2", TEMU_GEN_PREBUILT="off")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("temu-gen: compiling the kernels once"), done.stderr[:300]
    again = _run(tmp_path, cache, "--events", "50000", "--workers", "2", TEMU_GEN_PREBUILT="off")
    assert again.returncode == 0 and "compiling" not in again.stderr
