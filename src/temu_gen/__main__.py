"""``python -m temu_gen`` is the ``temu-gen`` command."""
import sys

from .cli import main

sys.exit(main())
