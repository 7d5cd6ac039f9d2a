"""``/docs`` (Swagger UI) renders in a real headless browser with nothing but the API to talk
to: its script and styles come from the API itself (fastapi-offline's files), not from a CDN.
Every request the page makes to another host is refused and noted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright

from api.main import create_app
from core.config import Settings
from tests.helpers import serve_asgi

CHROMIUM = Path("/usr/bin/chromium")
LOCAL = "http://127.0.0.1:"
RENDER_TIMEOUT_MS = 30_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no headless Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)",
)


@pytest.fixture
async def api_url(sqlite_url: str) -> AsyncIterator[str]:
    # The docs need no Temporal: an address nothing listens on.
    settings = Settings(database_url=sqlite_url, temporal_address="127.0.0.1:1")
    async with serve_asgi(create_app(settings)) as url:
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # Debian's Chromium: nothing downloads a browser build.
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


class OfflinePage:
    """A page whose requests may go to the API only; the others are refused and noted."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requested: list[str] = []
        self.refused: list[str] = []
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    async def block_other_hosts(self) -> None:
        async def only_local(route: Route) -> None:
            url = route.request.url
            self.requested.append(url)
            if url.startswith(LOCAL) or url.startswith("data:"):
                await route.continue_()
            else:
                self.refused.append(url)
                await route.abort()

        await self.page.route("**/*", only_local)


async def offline_page(browser: Browser) -> OfflinePage:
    watched = OfflinePage(await browser.new_page())
    await watched.block_other_hosts()
    return watched


async def test_swagger_ui_renders_the_operations_with_no_internet(
    api_url: str, browser: Browser
) -> None:
    watched = await offline_page(browser)
    await watched.page.goto(f"{api_url}/docs")
    operation = watched.page.locator(
        ".opblock .opblock-summary-path", has_text="/v1/campaigns/{campaign_id}/status"
    )
    await operation.first.wait_for(state="visible", timeout=RENDER_TIMEOUT_MS)
    assert await watched.page.locator(".opblock").count() >= 15
    assert watched.refused == []
    assert watched.errors == []
    assert any(url.endswith("/docs-static/swagger-ui-bundle.js") for url in watched.requested)
    assert all(url.startswith(LOCAL) for url in watched.requested), watched.requested


async def test_redoc_is_not_served(api_url: str, browser: Browser) -> None:
    # ReDoc's page loads its logo from redoc.ly: it is left out rather than half offline.
    watched = await offline_page(browser)
    answer = await watched.page.goto(f"{api_url}/redoc")
    assert answer is not None and answer.status == 404
