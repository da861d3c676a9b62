"""The back-office in a real browser (Playwright + Debian's Chromium)."""

from __future__ import annotations

import pytest

from core.services import grant_role
from core.testing import Factory, browser_login

from .fakeplugins import make_plugin

NORTHFAKE = make_plugin("northfake")
SOUTHFAKE = make_plugin("southfake")

pytestmark = [pytest.mark.browser, pytest.mark.extra_plugins(NORTHFAKE, SOUTHFAKE)]


def test_switch_cluster_see_its_modules_and_a_field_error(live_server, page):
    with live_server.app.app_context():
        from core import db

        f = Factory(live_server.app)
        north = f.cluster("north", name="North Cluster", modules=("northfake",))
        south = f.cluster("south", name="South Cluster", modules=("southfake",))
        user = f.user("admin@example.org", "admin", north)
        grant_role(user, south, "admin")
        db.session.commit()
    problems, failed = [], []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" and "Failed to load" not in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("response", lambda r: failed.append((r.request.method, r.url, r.status)) if r.status >= 400 else None)

    browser_login(page, live_server.url, "admin@example.org")
    page.goto(f"{live_server.url}/north/")
    nav = page.locator("nav.sidebar")
    assert nav.get_by_role("link", name="Northfake menu").is_visible()
    assert nav.get_by_role("link", name="Southfake menu").count() == 0

    # the cluster switcher
    page.locator("details.switcher summary").click()
    page.locator("details.switcher").get_by_role("link", name="South Cluster").click()
    page.wait_for_url(f"{live_server.url}/south/")
    assert page.locator("details.switcher summary").inner_text() == "South Cluster"
    assert nav.get_by_role("link", name="Southfake menu").is_visible()
    assert nav.get_by_role("link", name="Northfake menu").count() == 0
    nav.get_by_role("link", name="Southfake menu").click()
    assert page.locator("body").inner_text().strip().endswith("southfake index") or "southfake index" in page.content()

    # a form with a bad value: the error is shown next to its field, the value kept
    page.goto(f"{live_server.url}/south/admin/profile")
    page.fill("input[name=siren]", "123 456 789")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    siren = page.locator("input[name=siren]")
    assert siren.get_attribute("aria-invalid") == "true"
    error = page.locator(f"#{siren.get_attribute('aria-describedby')}")
    assert "Not a valid SIREN" in error.inner_text()
    # next to the field: in the same field block, right under the input
    field = page.locator(".field", has=siren)
    assert field.locator(".errors").inner_text() == error.inner_text()
    assert siren.input_value() == "123456789" or siren.input_value() == "123 456 789"
    assert page.locator(".field.has-error").count() == 1

    # a good value saves, and a message says so
    page.fill("input[name=siren]", "732 829 320")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    assert "The cluster profile is saved." in page.locator("[role=status]").inner_text()
    assert page.locator("input[name=siren]").input_value() == "732829320"
    assert not problems, problems  # no script error, nothing refused by the CSP
    # the only failed response is the form sent back with its error
    assert failed == [("POST", f"{live_server.url}/south/admin/profile", 400)], failed
