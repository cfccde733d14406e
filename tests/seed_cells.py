"""The cells of the notebook gradlab grew from, read from `../shared/seed` when it is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_122d7d7883679b86.txt"


def seed_cells() -> list[str]:
    """The notebook's code cells, in order; skips the calling test when the seed is absent."""
    if not SEED.is_file():
        pytest.skip(f"the seed notebook is not at {SEED}")
    text = SEED.read_text(encoding="utf-8")
    return [cell.strip("\n") for cell in re.split(r"^In \[[^\]]*\]:\s*$", text, flags=re.M) if cell.strip()]
