"""temu_gen: a high-throughput generator of synthetic e-commerce event logs (Temu's Nigerian launch)."""

__version__ = "0.1.1"
