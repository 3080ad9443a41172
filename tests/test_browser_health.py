"""End to end: Chromium opens the Health page of a live console with the demo gateway."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import browser, new_page  # noqa: F401  (fixtures)
from tests.helpers.health import (  # noqa: F401  (fixtures)
    SITE_CHECKS,
    moto_aws,
    moto_server,
    record_cleanup_run,
)
from tests.helpers.livestack import PASSWORD, demo_stack, make_user  # noqa: F401
from wsapp.health import CHECKS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: Site checks first, then the demo gateway's; it has no custom domain, so no H2xx.
SHOWN = SITE_CHECKS + [i for i in CHECKS if i not in SITE_CHECKS and not i.startswith("wsapp.H2")]


def test_health_page_loads_results_and_reruns(demo_stack, moto_aws, new_page, settings):
    settings.DEBUG = True  # as under make run: the local gateway's ws:// URL is fine
    make_user("operator", staff=True)
    record_cleanup_run()
    page = new_page("operator")
    page.goto(demo_stack.url("/admin/health/"))
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/health/$"))
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page).to_have_url(demo_stack.url("/admin/health/"))

    # The shell arrives first; htmx (Unfold's copy) fetches the results on load.
    results = page.locator("#health-results[data-state=done]")
    expect(results).to_be_visible()
    checks = page.locator("[data-check-id]")
    expect(checks).to_have_count(len(SHOWN))
    assert checks.evaluate_all("items => items.map(i => i.dataset.checkId)") == SHOWN
    expect(page.locator("[data-check-id][data-status=pass]")).to_have_count(len(SHOWN))
    expect(results).to_have_attribute("data-overall", "pass")
    expect(page.locator("#health-summary")).to_contain_text(f"{len(SHOWN)} passed")
    expect(page.locator("section[data-subject=demo] h2")).to_have_text("Gateway demo")

    # A check's doc section opens in place.
    cleanup = page.locator("[data-check-id='wsapp.H405'] details")
    cleanup.locator("summary").click()
    expect(cleanup.locator("pre")).to_contain_text("## Cleanup problems")

    # Re-run swaps in fresh results.
    first = results.get_attribute("data-checked-at")
    page.locator("#health-rerun").click()
    expect(page.locator("#health-results[data-state=done]")).not_to_have_attribute(
        "data-checked-at", first or ""
    )
    expect(page.locator("[data-check-id]")).to_have_count(len(SHOWN))
    assert page.evaluate("() => document.querySelectorAll('script[src*=\"htmx\"]').length") == 1
    assert page.js_errors == []
