"""Compile the Vyper sources into the committed artifacts ``contracts/build/<name>.json``.

``python -m contracts.build`` (or ``campaigns contracts build``) writes them;
``--check`` writes nothing and exits 1 when a committed artifact differs from its source,
so CI can tell a stale artifact from a fresh one. The compiler is pinned in pyproject.toml
because the bytecode (and its metadata) depends on its version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from contracts.artifacts import CONTRACT_NAMES

CONTRACTS_DIR = Path(__file__).resolve().parent
BUILD_DIR = CONTRACTS_DIR / "build"


class BuildError(Exception):
    """A source that does not compile: the compiler's message, without its traceback."""


def compile_contract(name: str, source_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """The artifact of one source, as a JSON-ready dict (compiled now, nothing written)."""
    import vyper  # only the build needs the compiler
    from vyper.exceptions import VyperException

    path = source_dir / f"{name}.vy"
    source = path.read_text("utf-8")
    try:
        out = vyper.compile_code(
            source,
            contract_path=f"contracts/{name}.vy",
            output_formats=["abi", "bytecode", "bytecode_runtime"],
        )
    except VyperException as error:
        raise BuildError(f"contracts/{name}.vy does not compile:\n{error}") from error
    return {
        "name": name,
        "compiler": f"vyper {vyper.__version__}",
        "source": f"contracts/{name}.vy",
        "source_sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "bytecode_runtime": out["bytecode_runtime"],
    }


def artifact_text(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def build(
    *, check: bool = False, source_dir: Path = CONTRACTS_DIR, build_dir: Path = BUILD_DIR
) -> list[str]:
    """Compile every contract; write (or, with ``check``, compare) the artifacts.

    Returns the names whose artifact was (or, with ``check``, would be) changed.
    """
    # compile everything before writing anything: a source that fails leaves no half build
    texts = {name: artifact_text(compile_contract(name, source_dir)) for name in CONTRACT_NAMES}
    changed = []
    for name, text in texts.items():
        target = build_dir / f"{name}.json"
        if target.exists() and target.read_text("utf-8") == text:
            continue
        changed.append(name)
        if not check:
            build_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(text, "utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.build", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if an artifact is stale"
    )
    args = parser.parse_args(argv)
    return run(check=args.check)


def run(*, check: bool, source_dir: Path = CONTRACTS_DIR, build_dir: Path = BUILD_DIR) -> int:
    try:
        changed = build(check=check, source_dir=source_dir, build_dir=build_dir)
    except BuildError as error:
        print(error, file=sys.stderr)
        return 2
    for name in CONTRACT_NAMES:
        state = ("stale" if check else "written") if name in changed else "up to date"
        print(f"contracts/build/{name}.json: {state}")
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
