"""Browser tests skip with a message when Chromium is missing, and fail when CI requires it."""

from __future__ import annotations

import pytest

from tests.helpers import browser


@pytest.fixture
def no_chromium(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMIUM_PATH", str(tmp_path / "no-chromium"))


def test_missing_chromium_skips_with_how_to_install_it(no_chromium, monkeypatch):
    monkeypatch.delenv("WSAPP_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.require_chromium()


def test_missing_chromium_fails_when_required(no_chromium, monkeypatch):
    monkeypatch.setenv("WSAPP_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="WSAPP_REQUIRE_BROWSER=1"):
        browser.require_chromium()


def test_ci_requires_the_browser():
    from pathlib import Path

    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "export WSAPP_REQUIRE_BROWSER=1" in ci
