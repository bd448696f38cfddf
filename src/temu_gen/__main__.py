"""``python -m temu_gen`` is the ``temu-gen`` command."""
import sys

from .cli import main

if __name__ == "__main__":  # guarded: spawned processes import this module
    sys.exit(main())
