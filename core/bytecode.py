"""Compiled workflow modules for a worker that may not write bytecode beside its sources.

The workflow sandbox imports a workflow's module afresh for every workflow instance. With
``PYTHONDONTWRITEBYTECODE`` set (many CI machines and images set it; this one does) no ``.pyc``
lies beside the sources of an editable install, so every instance compiled the workflow modules
from source again. ``cache_bytecode`` compiles them once, at start, into a private directory
that imports read (``sys.pycache_prefix``), and leaves the source tree as the setting asks.
"""

from __future__ import annotations

import atexit
import importlib.util
import py_compile
import shutil
import sys
import tempfile
from pathlib import Path


def cache_bytecode(package_dir: Path) -> Path | None:
    """Compile the ``.py`` files of ``package_dir`` where this process's imports will find
    them; the directory, or None when Python writes its own bytecode cache as usual."""
    if not sys.dont_write_bytecode:
        return None
    if sys.pycache_prefix is None:
        # Private to this process (mode 0700) and removed at exit: a shared, predictable
        # directory would let another local user plant bytecode that the worker runs.
        prefix = tempfile.mkdtemp(prefix="campaigns-bytecode-")
        atexit.register(shutil.rmtree, prefix, ignore_errors=True)
        sys.pycache_prefix = prefix
    for source in sorted(package_dir.glob("*.py")):
        cached = importlib.util.cache_from_source(str(source))
        py_compile.compile(str(source), cfile=cached, doraise=True)
    return Path(sys.pycache_prefix)
