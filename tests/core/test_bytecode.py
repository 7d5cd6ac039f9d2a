"""``cache_bytecode``: with PYTHONDONTWRITEBYTECODE set, the worker's workflow modules are
compiled once into a private directory that imports read, and nothing is written beside the
sources (each check runs in a fresh interpreter: the bytecode settings are process-wide)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import importlib._bootstrap_external as external, json, os, stat, sys
from pathlib import Path
compiled = []
original = external.SourceLoader.source_to_code
def counting(self, data, path, *, _optimize=-1):
    compiled.append(Path(path).name)
    return original(self, data, path, _optimize=_optimize)
external.SourceLoader.source_to_code = counting
from core.bytecode import cache_bytecode
package = Path(sys.argv[1])
prefix = cache_bytecode(package / "flows")
compiled.clear()  # what the import compiles from here on
sys.path.insert(0, str(package))
import flows.steady
print(json.dumps({
    "prefix": str(prefix) if prefix else None,
    "mode": oct(stat.S_IMODE(os.stat(prefix).st_mode)) if prefix else None,
    "compiled_on_import": compiled,
    "cached": flows.steady.__cached__,
}))
"""


def probe(tmp_path: Path, dont_write: bool) -> dict[str, object]:
    package = tmp_path / "flows"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "steady.py").write_text("ANSWER = 42\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if dont_write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, object] = json.loads(out.stdout)
    result["beside_sources"] = sorted(p.name for p in package.rglob("*.pyc"))
    return result


def test_without_bytecode_beside_the_sources_imports_read_a_private_cache(tmp_path: Path) -> None:
    seen = probe(tmp_path, dont_write=True)
    assert seen["prefix"] is not None and seen["mode"] == "0o700"
    assert str(seen["cached"]).startswith(str(seen["prefix"]))
    assert seen["compiled_on_import"] == [], "compiled once at start, not again by the import"
    assert seen["beside_sources"] == [], "PYTHONDONTWRITEBYTECODE is kept: no __pycache__"


def test_with_bytecode_allowed_python_keeps_its_own_cache(tmp_path: Path) -> None:
    seen = probe(tmp_path, dont_write=False)
    assert seen["prefix"] is None, "nothing to do: Python caches it beside the source"
    assert seen["compiled_on_import"] == ["__init__.py", "steady.py"]
    assert f"steady.{sys.implementation.cache_tag}.pyc" in seen["beside_sources"]  # type: ignore[operator]
