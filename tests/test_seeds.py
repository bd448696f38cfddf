"""Seed derivation is stable across processes and distinct across streams and chunks."""
import subprocess
import sys

from temu_gen.seeds import MAX_SEED, derive_seed


def test_stable_across_processes():
    code = "from temu_gen.seeds import derive_seed; print(derive_seed(42, 'sessions', 3))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == derive_seed(42, "sessions", 3)


def test_streams_and_chunks_differ():
    seeds = {derive_seed(1, s, k) for s in ("sessions", "users", "products") for k in range(-1, 50)}
    assert len(seeds) == 3 * 51
    assert all(0 <= s <= MAX_SEED for s in seeds)
