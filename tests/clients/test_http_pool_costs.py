"""What every outgoing request costs the worker beyond the request itself: httpcore asks which
event loop it runs on (``sniffio``) for each request; were sniffio missing, each ask would be a
failed import that searches every sys.path entry (measured: ~10 % of a busy worker's CPU)."""

from __future__ import annotations

import importlib.machinery
from typing import Any

import pytest
from httpcore._synchronization import current_async_library


async def test_httpcore_names_the_event_loop_without_searching_for_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    searched: list[str] = []
    find_spec = importlib.machinery.PathFinder.find_spec

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        searched.append(name)
        return find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counting)
    for _ in range(100):
        assert current_async_library() == "asyncio"
    assert searched == [], f"searched sys.path for {sorted(set(searched))}"
