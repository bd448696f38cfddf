"""Seed derivation: every random stream comes from (run seed, stream name, chunk index).

Invariant: ``derive_seed`` is pure and stable across processes, platforms and Python
versions (it hashes with BLAKE2b, never ``hash()``), so chunk *k* draws the same
numbers under any number of workers or any executor.
"""
import hashlib
import secrets

# Streams that are not per chunk (entities) use this index, so every chunk agrees.
GLOBAL = -1
MAX_SEED = 2**63 - 1


def derive_seed(run_seed: int, stream: str, chunk_index: int = GLOBAL) -> int:
    """A 63-bit seed for ``stream`` in chunk ``chunk_index`` of the run seeded ``run_seed``."""
    msg = f"temu_gen/v1/{run_seed}/{stream}/{chunk_index}".encode()
    return int.from_bytes(hashlib.blake2b(msg, digest_size=8).digest(), "little") & MAX_SEED


def random_seed() -> int:
    """A fresh run seed; it is always recorded so the run can be replayed."""
    return secrets.randbelow(MAX_SEED)
