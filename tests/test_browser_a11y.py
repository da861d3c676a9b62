"""axe-core in a real browser: no serious or critical accessibility violation on the main pages.

The pages are those of the demo federation (``grappe demo``'s data, seeded), signed in as
its federation admin, plus the public registration page of an open event, signed out.
"""

from __future__ import annotations

import random

import pytest

from core.testing import browser_login

pytestmark = pytest.mark.browser

BLOCKING = ("serious", "critical")


def _axe():
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:  # pragma: no cover
        from core.testing import require_or_skip

        require_or_skip(False, "axe-playwright-python is not installed (pip install -e '.[test]')")
    return Axe()


def _blocking(axe, page) -> list[str]:
    """The serious and critical violations on the page, one line per element."""
    results = axe.run(page, options={"resultTypes": ["violations"]}).response
    out = []
    for v in results["violations"]:
        if v["impact"] in BLOCKING:
            for node in v["nodes"]:
                out.append(f"{v['id']} ({v['impact']}) {', '.join(map(str, node['target']))}: "
                           f"{node.get('failureSummary', '').strip()} | {node['html'][:160]}")
    return out


def _demo(app):
    """Build the demo federation; return the admin's password and the ids the pages need."""
    from sqlalchemy import select

    from core import db
    from core.demo import build_demo
    from plugins.crm.models import Organization, Person
    from plugins.events.models import Event

    logins = build_demo(random.Random(3), echo=lambda *_: None)
    password = next(pw for email, pw, _ in logins if email == "admin@grappe.example")
    all_clusters = {"all_clusters": True}
    org = db.session.execute(select(Organization).order_by(Organization.id).limit(1)
                             .execution_options(**all_clusters)).scalar_one()
    person = db.session.execute(select(Person).order_by(Person.id).limit(1)
                                .execution_options(**all_clusters)).scalar_one()
    event = db.session.execute(select(Event).where(Event.status == "open").order_by(Event.starts_at.desc())
                               .limit(1).execution_options(**all_clusters)).scalar_one()
    return password, org.id, person.id, event.id


def test_main_pages_have_no_serious_or_critical_axe_violation(live_server, page, _browser):
    axe = _axe()
    with live_server.app.app_context():
        password, org_id, person_id, event_id = _demo(live_server.app)
    base = f"{live_server.url}/automotive"  # the demo cluster running every module
    found: dict[str, list[str]] = {}

    def check(name: str, url: str | None = None) -> None:
        if url is not None:
            response = page.goto(url)
            assert response.status == 200, (name, url, response.status)
        page.wait_for_load_state("networkidle")
        problems = _blocking(axe, page)
        if problems:
            found[name] = problems

    check("login", f"{live_server.url}/login")
    # a form sent back with its errors
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("[aria-invalid=true]").count() >= 1
    check("login with errors")

    browser_login(page, live_server.url, "admin@grappe.example", password)
    check("dashboard", f"{base}/")
    check("organization list", f"{base}/crm/organizations/")
    check("organization page", f"{base}/crm/organizations/{org_id}")
    check("organization form", f"{base}/crm/organizations/new")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("[aria-invalid=true]").count() >= 1
    check("organization form with errors")
    check("organization edit form", f"{base}/crm/organizations/{org_id}/edit")
    check("persons list", f"{base}/crm/persons/")
    check("person page", f"{base}/crm/persons/{person_id}")
    check("events list", f"{base}/events/")
    check("event page", f"{base}/events/{event_id}")
    check("event form", f"{base}/events/new")
    check("cluster admin", f"{base}/admin/")
    check("audit log", f"{base}/audit")
    check("jobs list", f"{base}/jobs")
    check("account", f"{live_server.url}/account")

    # the public page, for a visitor who is not signed in, on a phone
    visitor = _browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    try:
        public = visitor.new_page()
        response = public.goto(f"{base}/events/public/{event_id}")
        assert response.status == 200
        public.wait_for_load_state("networkidle")
        problems = _blocking(axe, public)
        if problems:
            found["public event registration"] = problems
    finally:
        visitor.close()

    report = "\n".join(f"{name}:\n  " + "\n  ".join(lines) for name, lines in found.items())
    assert not found, report
