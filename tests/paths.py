"""Repository paths the tests read (configs, Terraform, docs)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "config" / "smoke.json"
