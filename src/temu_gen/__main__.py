"""``python -m temu_gen`` is the ``temu-gen`` command."""
from .launch import entry

if __name__ == "__main__":  # guarded: spawned processes import this module
    entry()
