"""Playwright (sync API) driving Debian's Chromium, for tests marked ``browser``.

Import the fixtures explicitly::

    from tests.helpers.browser import browser, new_page  # noqa: F401  (fixtures)

Never downloads a browser: it uses ``/usr/bin/chromium`` (``WSAPP_CHROMIUM`` overrides
the path). Without it the tests are skipped, unless ``WSAPP_REQUIRE_BROWSER=1`` (CI),
which turns the skip into a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_PATH = os.environ.get("WSAPP_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Bound on every Playwright wait (milliseconds).
TIMEOUT_MS = 10_000
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"


def require_chromium() -> str:
    """The Chromium path, or skip (fail when WSAPP_REQUIRE_BROWSER=1) if it is missing."""
    if os.path.exists(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK):
        return CHROMIUM_PATH
    message = (
        f"Chromium not found at {CHROMIUM_PATH}: install Debian's chromium package "
        "(apt-get install chromium) or set WSAPP_CHROMIUM. Playwright's own browser "
        "downloads are not used."
    )
    if os.environ.get("WSAPP_REQUIRE_BROWSER", "").strip() in {"1", "true", "yes"}:
        pytest.fail(message + " WSAPP_REQUIRE_BROWSER=1 makes this a failure.")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module.

    Playwright's sync API keeps an asyncio loop registered as running in the test
    thread, so Django's async-safety guard would refuse every query from the test
    body and from pytest-django's database teardown: DJANGO_ALLOW_ASYNC_UNSAFE is
    set while the browser lives (module scope, so it outlasts the function-scoped
    database fixtures that flush after each test).
    """
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        instance = playwright.chromium.launch(
            executable_path=executable, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Factory: a page in a fresh browser context (its own cookies: another user).

    Uncaught JavaScript errors are collected on ``page.js_errors``; every page still
    open at the end is screenshotted into ``test-artifacts/``.
    """
    contexts: list[Any] = []
    pages: list[tuple[str, Any]] = []

    def make(label: str = "page") -> Any:
        context = browser.new_context(viewport={"width": 1100, "height": 720})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        pages.append((label, page))
        return page

    yield make
    for label, page in pages:
        if not page.is_closed():
            screenshot(page, f"{request.node.name}-{label}")
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page PNG under test-artifacts/ (git-ignored); returns its path."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path
