"""The catalogue's pages: the service form along the checklist, the service page with its
computed cost, margins and break-even, steps, experts, prices, copy, retire, the PDF sheet;
bad input, clusters and roles."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core import db
from plugins.billing.models import Price, Range, Service, ServiceExpert, ServiceStep
from plugins.crm.testing import disable_module

SERVICE = {
    "name": "Energy efficiency diagnostic", "code": "DIAG-ENERGY", "status": "on_sale", "revenue_family": "projects",
    "problem": "Energy bills rise.", "solution": "A site visit by an expert.",
    "service_rendered": "A report of ten priced actions.", "direct_gain": "10 % off the energy bill.",
    "indirect_gains": "A greener image.", "size_bands": ["10-49", "50-249"], "sectors": "22, 29.10",
    "functions": ["production", "finance"], "target_traits": "Energy-intensive sites.",
    "prerequisites": "Two years of energy bills.", "unit": "one diagnostic", "coordination_hours": "2",
    "coordination_cost": "0", "planned_volume": "20", "downstream_competences": "Restitution to the management",
    "promise": "Ten actions within a month.", "tools": "A questionnaire.", "deliverables": "A report.",
    "duration": "One month", "calendar": "Visit, report, restitution.",
    "evaluation_questions": "Were the actions clear?\nWhich ones will you carry out?",
    "relationship_after": "A call after six months.", "vat_category": "standard", "vat_rate": "20.00",
}


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model).execution_options(all_clusters=True)).scalar_one()


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@pytest.fixture
def diagnostic(cluster, billing):
    """An energy diagnostic on sale: 1,140.00 variable and 600.00 fixed a year, 20 units planned."""
    service = billing.service(cluster, "Energy efficiency diagnostic", status="on_sale", code="DIAG-ENERGY",
                              planned_volume=20, coordination_hours="2", unit="one diagnostic")
    billing.step(service, "Site visit", staff_hours="7", external_fees="600")  # 420 + 600 = 1,020.00
    billing.step(service, "Design the method", staff_hours="10", cost_behaviour="fixed")  # 600.00 a year
    billing.price(service, "flat_fee", member_amount="1500", non_member_amount="2400")
    return service


# -- the catalogue ---------------------------------------------------------------------------------
def test_a_manager_describes_a_service_along_the_checklist(app, cluster, manager_client):
    competence = _competence("Energy efficiency")
    page = text(manager_client.get("/alpha/billing/services/new"))
    for heading in ("1. Value delivered", "Target and prerequisites", "2. Process: coordination and volume",
                    "3. Competences and network", "4. Design", "5. Tax"):
        assert f"<legend>{heading}</legend>" in page
    r = manager_client.post("/alpha/billing/services/new", data={**SERVICE, "inhouse_competences": [competence]})
    assert r.status_code == 302, text(r)[-2000:]
    service = db.session.execute(select(Service)).scalar_one()
    assert service.cluster_id == cluster.id and service.sectors == ["22", "29.10"]
    assert service.size_bands == ["10-49", "50-249"] and service.functions == ["production", "finance"]
    assert service.evaluation_questions == ["Were the actions clear?", "Which ones will you carry out?"]
    assert service.competence_ids == [competence] and service.vat_rate == Decimal("20.00")
    page = text(manager_client.get(r.headers["Location"]))
    for shown in ("Energy efficiency diagnostic", "A report of ten priced actions.", "10 to 49", "Energy efficiency",
                  "Which ones will you carry out?", "Restitution to the management", "On sale"):
        assert shown in page
    listing = text(manager_client.get("/alpha/billing/services/"))
    assert "Energy efficiency diagnostic" in listing and "DIAG-ENERGY" in listing


def _competence(name: str) -> int:
    from plugins.crm.competences import find_or_create_competence  # test code: the CRM's internals are allowed

    competence = find_or_create_competence(name)
    db.session.commit()
    return competence.id


def test_the_catalogue_filters_by_range_status_family_and_words(app, cluster, manager_client, billing):
    skills = billing.range(cluster, "Skills and training")
    billing.service(cluster, "Lean manufacturing", status="on_sale", revenue_family="training", range_id=skills.id)
    billing.service(cluster, "Énergie : diagnostic", revenue_family="projects")
    billing.service(cluster, "Old directory", status="on_sale", revenue_family="advertising_media")

    def names(query: str) -> list[str]:
        page = manager_client.get(f"/alpha/billing/services/?{query}")
        assert page.status_code == 200
        return re.findall(r'<a href="/alpha/billing/services/\d+">([^<]+)</a>', page.get_data(as_text=True))

    assert names("") == ["Lean manufacturing", "Old directory", "Énergie : diagnostic"]
    assert names(f"range={skills.id}") == ["Lean manufacturing"]
    assert names("status=draft") == ["Énergie : diagnostic"]
    assert names("family=advertising_media") == ["Old directory"]
    assert names("q=ENERGIE") == ["Énergie : diagnostic"]  # case and accents aside
    assert names("q=lean+manuf") == ["Lean manufacturing"]
    for bad in ("status=sold", "range=999999", "range=abc", "family=x", "q=a%00b"):
        assert manager_client.get(f"/alpha/billing/services/?{bad}").status_code == 400, bad


def test_the_service_page_shows_its_unit_cost_margins_and_break_even(app, cluster, manager_client, diagnostic):
    page = text(manager_client.get(f"/alpha/billing/services/{diagnostic.id}"))
    # variable: 420 + 600 + coordination 120 = 1,140.00; fixed 600.00 / 20 = 30.00; unit cost 1,170.00
    assert '<strong class="unit-cost">€1,170.00</strong>' in page
    assert "€1,140.00" in page and "€600.00" in page and "€30.00 each" in page
    # members: 1,500 - 1,170 = 330.00 (22 %), break-even ceil(600 / 360) = 2; non-members: 1,230.00, 1 unit
    assert "€330.00" in page and "(22 %)" in page and "2 units" in page
    assert "€1,230.00" in page and "(51.3 %)" in page and "1 unit" in page


def test_the_hourly_cost_is_a_cluster_setting(app, cluster, factory, diagnostic):
    admin = factory.user("admin@example.org", "admin", cluster)
    client = app.test_client(user=admin)
    profile = client.get("/alpha/admin/profile").get_data(as_text=True)
    assert "Hourly cost of staff (billing)" in profile
    r = client.post("/alpha/admin/profile", data={"name": "Alpha Cluster", "timezone": "Europe/Paris",
                                                   "currency": "EUR", "language": "en",
                                                   "setting__billing__hourly_cost": "80.00",
                                                   "setting__billing__membership_year_start": "1"})
    assert r.status_code == 302, text(r)[-1500:]
    page = text(client.get(f"/alpha/billing/services/{diagnostic.id}"))
    # 7 h x 80 + 600 + 2 h x 80 = 1,320.00 variable; 10 h x 80 / 20 = 40.00 fixed per unit
    assert '<strong class="unit-cost">€1,360.00</strong>' in page
    r = client.post("/alpha/admin/profile", data={"name": "Alpha Cluster", "timezone": "Europe/Paris",
                                                   "currency": "EUR", "language": "en",
                                                   "setting__billing__hourly_cost": "80.5.0",
                                                   "setting__billing__membership_year_start": "13"})
    assert r.status_code == 400 and "An amount such as 62.50." in r.get_data(as_text=True)


def test_the_pdf_sheet_opens(app, cluster, manager_client, diagnostic, billing):
    billing.price(diagnostic, "success_fee", member_rate="5", floor_amount="100")
    r = manager_client.get(f"/alpha/billing/services/{diagnostic.id}/sheet.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert r.data.startswith(b"%PDF") and len(r.data) > 2000
    empty = billing.service(cluster, "Émission à l'étranger — ☃")
    assert manager_client.get(f"/alpha/billing/services/{empty.id}/sheet.pdf").data.startswith(b"%PDF")


# -- steps, experts ------------------------------------------------------------------------------------
def test_steps_are_added_edited_reordered_and_removed(app, cluster, manager_client, diagnostic):
    base = f"/alpha/billing/services/{diagnostic.id}"
    r = manager_client.post(f"{base}/steps", data={"name": "Write the report", "staff_hours": "6",
                                                   "cost_behaviour": "per_unit", "value_brick": "Ten actions"})
    assert r.status_code == 302
    names = lambda: [s.name for s in db.session.execute(  # noqa: E731
        select(ServiceStep).order_by(ServiceStep.position)).scalars()]
    assert names() == ["Site visit", "Design the method", "Write the report"]
    report = db.session.execute(select(ServiceStep).where(ServiceStep.name == "Write the report")).scalar_one()
    assert manager_client.post(f"/alpha/billing/steps/{report.id}/move", data={"direction": "up"}).status_code == 302
    assert names() == ["Site visit", "Write the report", "Design the method"]
    r = manager_client.post(f"/alpha/billing/steps/{report.id}/edit", data={
        "name": "Write the report", "staff_hours": "8", "cost_behaviour": "per_unit"})
    assert r.status_code == 302 and db.session.get(ServiceStep, report.id).staff_hours == Decimal("8.00")
    assert manager_client.post(f"/alpha/billing/steps/{report.id}/delete").status_code == 302
    assert names() == ["Site visit", "Design the method"]
    assert [s.position for s in db.session.execute(select(ServiceStep).order_by(ServiceStep.position)).scalars()] == [1, 2]


def test_experts_link_crm_persons_or_organizations(app, cluster, manager_client, diagnostic, crm):
    org = crm.organization("Énergie Conseil SARL")
    person = crm.person("Durand", "Hélène", organization=org)
    base = f"/alpha/billing/services/{diagnostic.id}"
    assert manager_client.post(f"{base}/experts", data={"person_id": person.id, "role": "Site visits"}).status_code == 302
    assert manager_client.post(f"{base}/experts", data={"organization_id": org.id}).status_code == 302
    page = text(manager_client.get(base))
    assert "Hélène Durand" in page and "Site visits" in page and f"/alpha/crm/organizations/{org.id}" in page
    r = manager_client.post(f"{base}/experts", data={"role": "Nobody"})
    assert r.status_code == 400 and "Give a person or an organization." in r.get_data(as_text=True)
    r = manager_client.post(f"{base}/experts", data={"person_id": "999999"})
    assert r.status_code == 400 and "No person with this id in the CRM." in r.get_data(as_text=True)
    expert = db.session.execute(select(ServiceExpert).where(ServiceExpert.organization_id == org.id)).scalar_one()
    assert manager_client.post(f"/alpha/billing/experts/{expert.id}/delete").status_code == 302
    assert count(ServiceExpert) == 1


# -- prices ----------------------------------------------------------------------------------------------
def test_a_new_price_follows_the_old_one_which_stays_as_it_was(app, cluster, manager_client, diagnostic):
    old = db.session.execute(select(Price)).scalar_one()
    before = {c: getattr(old, c) for c in ("member_amount", "non_member_amount", "mode", "valid_from")}
    r = manager_client.post(f"/alpha/billing/services/{diagnostic.id}/prices/new", data={
        "mode": "flat_fee", "member_amount": "1600", "non_member_amount": "2500", "valid_from": "2027-01-01"})
    assert r.status_code == 302, text(r)[-1500:]
    db.session.expire_all()
    rows = db.session.execute(select(Price).order_by(Price.id)).scalars().all()
    assert len(rows) == 2
    assert {c: getattr(rows[0], c) for c in before} == before and rows[0].valid_until == date(2026, 12, 31)
    assert rows[1].member_amount == Decimal("1600.00") and rows[1].replaces_id == old.id
    # an overlap the line cannot follow is refused, on the field, and nothing is written
    r = manager_client.post(f"/alpha/billing/services/{diagnostic.id}/prices/new", data={
        "mode": "flat_fee", "member_amount": "1", "valid_from": "2026-06-01", "valid_until": "2026-07-01"})
    assert r.status_code == 400 and "A price of this kind is valid from" in r.get_data(as_text=True)
    assert count(Price) == 2
    # a price of another kind lives alongside
    r = manager_client.post(f"/alpha/billing/services/{diagnostic.id}/prices/new", data={
        "mode": "pay_per_use", "unit": "hour", "member_amount": "90", "valid_from": "2026-06-01"})
    assert r.status_code == 302 and count(Price) == 3


def test_closing_a_price_sets_its_end_once(app, cluster, manager_client, diagnostic):
    price = db.session.execute(select(Price)).scalar_one()
    r = manager_client.post(f"/alpha/billing/prices/{price.id}/close", data={"valid_until": "2019-01-01"})
    assert r.status_code == 302 and db.session.get(Price, price.id).valid_until is None  # before its start: refused
    assert manager_client.post(f"/alpha/billing/prices/{price.id}/close",
                               data={"valid_until": "2030-06-30"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Price, price.id).valid_until == date(2030, 6, 30)
    r = manager_client.post(f"/alpha/billing/prices/{price.id}/close", data={"valid_until": "2031-06-30"},
                            follow_redirects=True)
    assert "ends on" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Price, price.id).valid_until == date(2030, 6, 30)


def test_no_code_path_can_rewrite_a_price(app, cluster, diagnostic):
    from plugins.billing.models import PriceRewrite

    price = db.session.execute(select(Price)).scalar_one()
    price.member_amount = Decimal("1.00")
    with pytest.raises(PriceRewrite):
        db.session.flush()
    db.session.rollback()
    price = db.session.execute(select(Price)).scalar_one()
    db.session.delete(price)
    with pytest.raises(PriceRewrite):
        db.session.flush()
    db.session.rollback()
    price = db.session.execute(select(Price)).scalar_one()
    price.valid_until = date(2030, 1, 1)
    db.session.flush()  # closing is allowed, once
    price.valid_until = date(2031, 1, 1)
    with pytest.raises(PriceRewrite):
        db.session.flush()
    db.session.rollback()


# -- copy and retire -----------------------------------------------------------------------------------------
def test_copy_starts_a_new_draft_from_a_service(app, cluster, manager_client, diagnostic, crm):
    person = crm.person("Durand", "Hélène")
    manager_client.post(f"/alpha/billing/services/{diagnostic.id}/experts", data={"person_id": person.id})
    r = manager_client.post(f"/alpha/billing/services/{diagnostic.id}/copy")
    assert r.status_code == 302
    copy = db.session.execute(select(Service).where(Service.id != diagnostic.id)).scalar_one()
    assert r.headers["Location"].endswith(f"/alpha/billing/services/{copy.id}")
    assert copy.name == "Energy efficiency diagnostic (copy)" and copy.status == "draft" and copy.code is None
    assert copy.copied_from_id == diagnostic.id and copy.planned_volume == 20
    assert [s.name for s in copy.steps] == ["Site visit", "Design the method"]
    assert [e.person_id for e in copy.experts] == [person.id]
    assert [(p.mode, p.member_amount, p.valid_until) for p in copy.prices] == [("flat_fee", Decimal("1500.00"), None)]
    assert count(ServiceStep) == 4 and count(Price) == 2
    page = text(manager_client.get(f"/alpha/billing/services/{copy.id}"))
    assert '<strong class="unit-cost">€1,170.00</strong>' in page  # the same costs
    named = manager_client.post(f"/alpha/billing/services/{diagnostic.id}/copy", data={"name": "Water diagnostic"})
    assert named.status_code == 302 and count(Service) == 3


def test_a_retired_service_keeps_its_history_and_cannot_change_or_be_sold(app, cluster, manager_client, diagnostic):
    assert manager_client.post(f"/alpha/billing/services/{diagnostic.id}/retire").status_code == 302
    db.session.expire_all()
    service = db.session.get(Service, diagnostic.id)
    assert service.status == "retired" and service.retired_on is not None and not service.sellable
    assert [p.valid_until for p in service.prices] == [service.retired_on]  # kept, closed
    assert len(service.steps) == 2
    page = text(manager_client.get(f"/alpha/billing/services/{diagnostic.id}"))
    assert "Retired" in page and "Edit</a>" not in page and "Add a price" not in page
    r = manager_client.post(f"/alpha/billing/services/{diagnostic.id}/edit", data={**SERVICE, "name": "New name"})
    assert r.status_code == 302 and db.session.get(Service, diagnostic.id).name == "Energy efficiency diagnostic"
    r = manager_client.post(f"/alpha/billing/services/{diagnostic.id}/steps", data={"name": "More"})
    assert r.status_code == 302 and count(ServiceStep) == 2
    r = manager_client.post(f"/alpha/billing/services/{diagnostic.id}/prices/new", data={
        "mode": "flat_fee", "member_amount": "10", "valid_from": "2030-01-01"})
    assert r.status_code == 302 and count(Price) == 1
    step = service.steps[0]
    for path in (f"/alpha/billing/steps/{step.id}/delete", f"/alpha/billing/steps/{step.id}/move"):
        manager_client.post(path, data={"direction": "down"})
    assert count(ServiceStep) == 2
    again = manager_client.post(f"/alpha/billing/services/{diagnostic.id}/retire", follow_redirects=True)
    assert "retired already" in again.get_data(as_text=True)
    # its copy is how a new service starts from it
    assert manager_client.post(f"/alpha/billing/services/{diagnostic.id}/copy").status_code == 302
    copy = db.session.execute(select(Service).where(Service.id != diagnostic.id)).scalar_one()
    # the prices in force on the day of the copy (the retirement day included) start anew, open-ended
    assert copy.status == "draft" and [(p.member_amount, p.valid_until) for p in copy.prices] == [
        (Decimal("1500.00"), None)]


# -- bad input ---------------------------------------------------------------------------------------------------
BAD = [
    ("/alpha/billing/services/new", {**SERVICE, "name": ""}, "name"),
    ("/alpha/billing/services/new", {**SERVICE, "code": "bad code!"}, "code"),
    ("/alpha/billing/services/new", {**SERVICE, "name": "A\x00B"}, "name"),
    ("/alpha/billing/services/new", {**SERVICE, "problem": "x" * 5001}, "problem"),
    ("/alpha/billing/services/new", {**SERVICE, "status": "retired"}, "status"),
    ("/alpha/billing/services/new", {**SERVICE, "range_id": "2147483648"}, "range_id"),
    ("/alpha/billing/services/new", {**SERVICE, "range_id": "999999"}, "range_id"),
    ("/alpha/billing/services/new", {**SERVICE, "sectors": "22, chemistry"}, "sectors"),
    ("/alpha/billing/services/new", {**SERVICE, "size_bands": ["huge"]}, "size_bands"),
    ("/alpha/billing/services/new", {**SERVICE, "inhouse_competences": ["999999"]}, "inhouse_competences"),
    ("/alpha/billing/services/new", {**SERVICE, "evaluation_questions": "q\x00?"}, "evaluation_questions"),
    ("/alpha/billing/services/new", {**SERVICE, "coordination_hours": "-1"}, "coordination_hours"),
    ("/alpha/billing/services/new", {**SERVICE, "coordination_cost": "1.234"}, "coordination_cost"),
    ("/alpha/billing/services/new", {**SERVICE, "coordination_cost": "1e400"}, "coordination_cost"),
    ("/alpha/billing/services/new", {**SERVICE, "planned_volume": "99999999999"}, "planned_volume"),
    ("/alpha/billing/services/new", {**SERVICE, "vat_rate": "120"}, "vat_rate"),
    ("/alpha/billing/services/new", {**SERVICE, "vat_category": "franchise", "vat_rate": "5.5"}, "vat_rate"),
    ("/alpha/billing/services/new", {**SERVICE, "vat_rate": ""}, "vat_rate"),
    ("/alpha/billing/ranges/new", {"name": ""}, "name"),
    ("/alpha/billing/ranges/new", {"name": "R\x07"}, "name"),
]


@pytest.mark.parametrize("path, data, field", BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_gets_field_errors_and_writes_nothing(app, cluster, manager_client, path, data, field):
    r = manager_client.post(path, data=data)
    assert r.status_code == 400, (field, text(r)[-1500:])
    assert f'id="{field}-error"' in r.get_data(as_text=True), field
    assert count(Service) == 0 and count(Range) == 0


PRICE_BAD = [
    ({"mode": "flat_fee"}, "member_amount"),                                                  # required by the mode
    ({"mode": "catalogue", "member_amount": "10"}, "unit"),
    ({"mode": "subscription", "member_amount": "10", "period": "month"}, "renewal"),
    ({"mode": "success_fee"}, "member_rate"),
    ({"mode": "success_fee", "member_rate": "5", "floor_amount": "200", "cap_amount": "100"}, "cap_amount"),
    ({"mode": "success_fee", "member_rate": "101"}, "member_rate"),
    ({"mode": "quote", "member_amount": "10"}, "member_amount"),                             # not used by the mode
    ({"mode": "membership_fee", "member_amount": "450", "non_member_amount": "900"}, "non_member_amount"),
    ({"mode": "flat_fee", "member_amount": "10", "pro_rata": "y"}, "pro_rata"),
    ({"mode": "flat_fee", "member_amount": "-10"}, "member_amount"),
    ({"mode": "flat_fee", "member_amount": "10000000000"}, "member_amount"),
    ({"mode": "auction", "member_amount": "10"}, "mode"),
    ({"mode": "flat_fee", "member_amount": "10", "valid_from": ""}, "valid_from"),
    ({"mode": "flat_fee", "member_amount": "10", "valid_from": "2026-13-01"}, "valid_from"),
    ({"mode": "flat_fee", "member_amount": "10", "valid_from": "1800-01-01"}, "valid_from"),
    ({"mode": "flat_fee", "member_amount": "10", "valid_until": "2019-12-31"}, "valid_until"),
    ({"mode": "flat_fee", "member_amount": "10", "label": "x\x00"}, "label"),
]


@pytest.mark.parametrize("data, field", PRICE_BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(PRICE_BAD)])
def test_a_bad_price_gets_a_field_error_and_writes_nothing(app, cluster, manager_client, billing, data, field):
    service = billing.service(cluster, "Diagnostic")
    r = manager_client.post(f"/alpha/billing/services/{service.id}/prices/new",
                            data={"valid_from": "2020-01-01", **data})
    assert r.status_code == 400, (field, text(r)[-1500:])
    assert f'id="{field}-error"' in r.get_data(as_text=True), field
    assert count(Price) == 0


def test_bad_steps_and_other_posts_get_4xx_and_write_nothing(app, cluster, manager_client, diagnostic):
    base = f"/alpha/billing/services/{diagnostic.id}"
    for data, field in (({"name": ""}, "name"), ({"name": "S", "staff_hours": "abc"}, "staff_hours"),
                        ({"name": "S", "purchases": "-3"}, "purchases"),
                        ({"name": "S", "competences": ["2147483648"]}, "competences"),
                        ({"name": "S", "cost_behaviour": "sometimes"}, "cost_behaviour")):
        r = manager_client.post(f"{base}/steps", data=data)
        assert r.status_code == 400 and f'id="{field}-error"' in r.get_data(as_text=True), field
    assert count(ServiceStep) == 2
    step = diagnostic.steps[0]
    assert manager_client.post(f"/alpha/billing/steps/{step.id}/move", data={"direction": "sideways"}).status_code == 400
    assert manager_client.post(f"/alpha/billing/steps/{step.id}/edit", data={"name": ""}).status_code == 400
    price = db.session.execute(select(Price)).scalar_one()
    assert manager_client.post(f"/alpha/billing/prices/{price.id}/close", data={"valid_until": "x"}).status_code == 400
    assert manager_client.post(f"{base}/copy", data={"name": "x" * 201}).status_code == 400
    assert count(Service) == 1 and db.session.get(Price, price.id).valid_until is None


@pytest.mark.parametrize("path", [
    "/alpha/billing/services/2147483647", "/alpha/billing/services/99999999999999999999",
    "/alpha/billing/services/2147483648/edit", "/alpha/billing/steps/99999999999/edit",
    "/alpha/billing/services/-1", "/alpha/billing/ranges/2147483648/edit",
    "/alpha/billing/services/99999999999999/sheet.pdf"])
def test_huge_or_unknown_ids_are_404(app, cluster, manager_client, path):
    assert manager_client.get(path).status_code == 404


# -- clusters, modules and roles -------------------------------------------------------------------------------
def test_a_cluster_never_sees_another_clusters_catalogue(app, cluster, other_cluster, factory, billing, diagnostic):
    theirs = billing.service(other_cluster, "Their secret service", status="on_sale")
    their_step = billing.step(theirs, "Their step")
    their_price = billing.price(theirs, "flat_fee", member_amount="10")
    their_range = billing.range(other_cluster, "Their range")
    client = app.test_client(user=factory.user("boss@example.org", "admin", cluster))
    listing = client.get("/alpha/billing/services/").get_data(as_text=True)
    assert "Energy efficiency diagnostic" in listing and "Their secret service" not in listing
    for path in (f"/alpha/billing/services/{theirs.id}", f"/alpha/billing/services/{theirs.id}/sheet.pdf",
                 f"/alpha/billing/steps/{their_step.id}/edit", f"/alpha/billing/ranges/{their_range.id}/edit"):
        assert client.get(path).status_code == 404, path
    for path in (f"/alpha/billing/services/{theirs.id}/copy", f"/alpha/billing/services/{theirs.id}/retire",
                 f"/alpha/billing/prices/{their_price.id}/close", f"/alpha/billing/steps/{their_step.id}/delete"):
        assert client.post(path, data={"valid_until": "2030-01-01"}).status_code == 404, path
    assert "Their secret service" not in client.get("/alpha/search?q=secret").get_data(as_text=True)
    assert "Their range" not in client.get("/alpha/billing/ranges/").get_data(as_text=True)
    assert client.get("/beta/billing/services/").status_code == 403  # no role there
    assert db.session.get(Service, theirs.id).status == "on_sale"


def test_a_cluster_without_billing_gets_404(app, cluster, manager_client, diagnostic):
    disable_module(cluster, "billing")
    assert manager_client.get("/alpha/billing/services/").status_code == 404
    assert manager_client.get(f"/alpha/billing/services/{diagnostic.id}").status_code == 404
    assert 'href="/alpha/billing/services/"' not in manager_client.get("/alpha/").get_data(as_text=True)


def test_a_viewer_reads_but_cannot_edit(app, cluster, viewer, diagnostic):
    client = app.test_client(user=viewer)
    home = client.get("/alpha/").get_data(as_text=True)
    assert 'href="/alpha/billing/services/"' in home and "Service catalogue" in home  # nav item, widget
    page = client.get(f"/alpha/billing/services/{diagnostic.id}")
    assert page.status_code == 200 and "Add a price" not in page.get_data(as_text=True)
    assert client.get(f"/alpha/billing/services/{diagnostic.id}/sheet.pdf").status_code == 200
    for path in ("/alpha/billing/services/new", f"/alpha/billing/services/{diagnostic.id}/edit"):
        assert client.get(path).status_code == 403
        assert client.post(path, data=SERVICE).status_code == 403
    assert client.post(f"/alpha/billing/services/{diagnostic.id}/retire").status_code == 403
    assert db.session.get(Service, diagnostic.id).status == "on_sale"


def test_staff_cannot_edit_the_catalogue(app, cluster, staff, diagnostic):
    client = app.test_client(user=staff)
    assert client.get(f"/alpha/billing/services/{diagnostic.id}").status_code == 200
    assert "Copy as a new service" not in client.get(f"/alpha/billing/services/{diagnostic.id}").get_data(as_text=True)
    for method, path in (("get", "/alpha/billing/services/new"), ("post", "/alpha/billing/services/new"),
                         ("post", f"/alpha/billing/services/{diagnostic.id}/copy"),
                         ("post", f"/alpha/billing/services/{diagnostic.id}/retire"),
                         ("post", f"/alpha/billing/services/{diagnostic.id}/steps"),
                         ("get", f"/alpha/billing/services/{diagnostic.id}/prices/new"),
                         ("post", "/alpha/billing/ranges/new")):
        assert getattr(client, method)(path, data={"name": "x"}).status_code == 403, path
    assert count(Service) == 1 and count(Range) == 0


def test_a_french_manager_sees_french(app, cluster, factory, diagnostic):
    client = app.test_client(user=factory.user("fr@example.org", "manager", cluster, language="fr"))
    page = client.get(f"/alpha/billing/services/{diagnostic.id}").get_data(as_text=True)
    assert "Coût unitaire" in page and "Seuil de rentabilité" in page and "Forfait" in page
    r = client.post(f"/alpha/billing/services/{diagnostic.id}/prices/new", data={"mode": "flat_fee",
                                                                               "valid_from": "2030-01-01"})
    assert "Requis pour ce mode de tarification." in r.get_data(as_text=True)
    assert "Catalogue de services" in client.get("/alpha/billing/services/").get_data(as_text=True)


def test_ranges_are_created_edited_and_deleted_when_empty(app, cluster, manager_client, billing):
    assert manager_client.post("/alpha/billing/ranges/new", data={"name": "Skills", "shared_experts": "Trainers"}
                               ).status_code == 302
    skills = db.session.execute(select(Range)).scalar_one()
    assert manager_client.post("/alpha/billing/ranges/new", data={"name": "Skills"}).status_code == 400  # taken
    assert manager_client.post(f"/alpha/billing/ranges/{skills.id}/edit",
                               data={"name": "Skills and training"}).status_code == 302
    billing.service(cluster, "Lean", range_id=skills.id)
    assert manager_client.post(f"/alpha/billing/ranges/{skills.id}/delete").status_code == 302
    assert count(Range) == 1  # a service belongs to it
    page = manager_client.get("/alpha/billing/ranges/").get_data(as_text=True)
    assert "Skills and training" in page and "1 service" in page
