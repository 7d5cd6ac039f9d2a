"""The log capture the logging tests share."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """A stream the logging goes to during the test; the handler is removed afterwards."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    yield stream
    root.setLevel(level)
    for handler in [h for h in root.handlers if h.get_name() == "campaigns"]:
        root.removeHandler(handler)
