"""In a real browser: record a visit from an organization page and see it on the timeline."""

from __future__ import annotations

import pytest

from core.testing import Factory, browser_login

pytestmark = pytest.mark.browser


def test_record_a_visit_from_the_organization_page(live_server, page):
    from core import db
    from plugins.crm.models import Organization, Person, PersonOrganization

    with live_server.app.app_context():
        f = Factory(live_server.app)
        cluster = f.cluster("alpha", modules=("crm",), name="Alpha Cluster")
        f.user("manager@example.org", "manager", cluster, name="Maria Manager")
        org = Organization(legal_name="Kunststoffwerk Steyr GmbH", city="Steyr", country="AT")
        db.session.add(org)
        db.session.flush()
        person = Person(first_name="Lukas", last_name="Brunner", email="lukas@example.at")
        person.links.append(PersonOrganization(organization_id=org.id, role="Plant manager", main=True))
        db.session.add(person)
        db.session.commit()
        org_id = org.id

    browser_login(page, live_server.url, "manager@example.org")
    page.goto(f"{live_server.url}/alpha/crm/organizations/")
    page.fill("input[name=q]", "steyr")
    page.click("button:has-text('Filter')")
    page.click("text=Kunststoffwerk Steyr GmbH")
    assert page.url.endswith(f"/alpha/crm/organizations/{org_id}")
    assert "Nothing recorded yet" in page.locator("#timeline").inner_text()

    page.select_option("#record select[name=kind]", "visit")
    page.fill("#record input[name=subject]", "Visit of the injection plant")
    page.fill("#record textarea[name=summary]", "Needs a partner for mould design.")
    page.check("text=Lukas Brunner")
    page.click("#record button[type=submit]")
    page.wait_for_load_state("networkidle")

    assert "Visit recorded." in page.locator(".flash").inner_text()
    timeline = page.locator("#timeline").inner_text()
    assert "Visit of the injection plant" in timeline
    assert "Needs a partner for mould design." in timeline
    assert "Lukas Brunner" in timeline and "Maria Manager" in timeline
