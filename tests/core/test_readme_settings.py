"""The README's Settings table lists every setting core/config.py reads, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from core.config import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_settings_table_matches_the_settings_class() -> None:
    section = README.read_text().split("## Settings\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(CAMPAIGNS_[A-Z_]+)` \|", section, flags=re.MULTILINE))
    expected = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert documented == expected
