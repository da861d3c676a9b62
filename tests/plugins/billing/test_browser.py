"""In a real browser: a staff member (with the extra right to edit the catalogue) describes a
service along the checklist, prices it, makes a quote for a member company whose region
co-funds the service, issues it and opens its PDF."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from core.testing import Factory, browser_login

pytestmark = pytest.mark.browser


def test_a_service_priced_then_quoted_with_a_co_funding_payer(live_server, page):
    from core import db
    from core.services import grant_permission
    from plugins.billing.models import FundingScheme, Quote, Service
    from plugins.billing.testing import funding_scheme
    from plugins.crm.testing import membership, organization, person

    with live_server.app.app_context():
        f = Factory(live_server.app)
        cluster = f.cluster("alpha", modules=("crm", "billing"), name="Alpha Cluster")
        seller = f.user("sales@example.org", "staff", cluster, name="Sara Sales")
        grant_permission(seller, cluster, "billing.catalogue")  # staff, with the catalogue as an extra right
        db.session.commit()
        member = organization("Plastiques du Rhône", sector="22.29", size_band="10-49", postcode="69100",
                              city="Villeurbanne")
        membership(member, cluster, start=date(2020, 1, 1))
        contact = person("Martin", "Claire", organization=member, email="claire@plastiques.example")
        region = organization("Région Auvergne-Rhône-Alpes", kind="public_body", postcode="69002", city="Lyon")
        member_id, contact_id, region_id, cluster_id = member.id, contact.id, region.id, cluster.id
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    browser_login(page, live_server.url, "sales@example.org")

    # 1. the service, along the checklist
    page.goto(f"{live_server.url}/alpha/billing/services/new")
    page.fill("input[name=name]", "Energy efficiency diagnostic")
    page.fill("input[name=code]", "DIAG-ENERGY")
    page.select_option("select[name=status]", "on_sale")
    page.select_option("select[name=revenue_family]", "projects")
    page.fill("textarea[name=problem]", "Energy bills rise and the company does not know where it loses energy.")
    page.fill("textarea[name=solution]", "A site visit by an energy expert and a report with priced actions.")
    page.fill("textarea[name=service_rendered]", "A one-day visit and a report of ten priced actions.")
    page.check("input[name=size_bands][value='10-49']")
    page.fill("input[name=unit]", "one diagnostic")
    page.fill("textarea[name=promise]", "Ten actions with their cost and payback, within a month.")
    page.click("form.card button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert re.search(r"/alpha/billing/services/\d+$", page.url), page.url
    assert "Energy efficiency diagnostic is in the catalogue." in page.locator(".flash").inner_text()

    # 2. its price: 1,500 for members, 2,400 for the others
    page.click("text=Add a price")
    page.select_option("select[name=mode]", "flat_fee")
    page.fill("input[name=label]", "Diagnostic")
    page.fill("input[name=member_amount]", "1500")
    page.fill("input[name=non_member_amount]", "2400")
    page.click("form.card button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "The price is added" in page.locator(".flash").inner_text()

    # 3. the region co-funds the diagnostic: 40 % (a scheme of the funding module)
    with live_server.app.app_context():
        service_id = db.session.query(Service.id).filter(Service.code == "DIAG-ENERGY").scalar()
        scheme = funding_scheme(cluster_id, region_id, [service_id], name="Energy diagnostics for SMEs",
                                share_rate="40", envelope="20000", regions=["ARA"], reference="ARA-ENR-14")
        scheme_id = scheme.id

    # 4. the quote, for the member company
    page.goto(f"{live_server.url}/alpha/billing/quotes/")
    page.click("text=New quote")
    page.fill("input[name=organization_id]", str(member_id))
    page.fill("input[name=person_id]", str(contact_id))
    page.fill("input[name=title]", "Energy diagnostic of the Villeurbanne plant")
    page.click("form.card button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "Draft quote #" in page.locator("h1").inner_text()
    page.select_option("select[name=service_id]", str(service_id))
    page.select_option("select[name=scheme_id]", "auto")
    page.click("button:has-text('Add the line')")
    page.wait_for_load_state("networkidle")
    lines = page.locator("table.quote-lines").inner_text()
    assert "Energy efficiency diagnostic · Diagnostic" in lines and "Energy diagnostics for SMEs" in lines
    assert page.locator(".total-full").inner_text() == "€1,500.00"
    assert page.locator(".total-payer").inner_text() == "€600.00"
    assert page.locator(".total-beneficiary").inner_text() == "€900.00"

    # 5. issued: it gets its number
    page.click("button:has-text('Issue')")
    page.wait_for_load_state("networkidle")
    year = date.today().year
    assert re.match(rf"Q-({year}|{year + 1})-0001", page.locator("h1").inner_text())

    # the quote's page has no serious accessibility violation (axe-core)
    from tests.test_browser_a11y import _axe, _blocking

    assert _blocking(_axe(), page) == []

    # 6. its PDF opens
    href = page.locator("a:has-text('Quote (PDF)')").get_attribute("href")
    response = page.request.get(f"{live_server.url}{href}")
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")

    with live_server.app.app_context():
        quote = db.session.query(Quote).one()
        assert (quote.status, quote.total_payer, quote.total_beneficiary) == ("sent", Decimal("600.00"),
                                                                              Decimal("900.00"))
        assert quote.lines[0].funding_scheme_id == scheme_id
        assert db.session.get(FundingScheme, scheme_id).envelope_used == 0  # a quote reserves nothing
    assert errors == []
