"""Funding schemes and sales in the back-office and the JSON API: the pages, the preview before a
sale is confirmed, the payer's page, the business model; bad input (field errors, nothing
written, no 500); roles and granted rights; clusters apart."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from core import db
from core.services import grant_permission
from plugins.billing.models import FundingScheme, Sale

from .conftest import api_client
from .funding_world import ON, all_sales, count_sales, fresh_scheme, world  # noqa: F401

D = Decimal


def text(r) -> str:
    return re.sub(r"\s+", " ", r.get_data(as_text=True))


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model).execution_options(all_clusters=True)).scalar_one()


def scheme_form(world, **changes) -> dict:
    data = {"name": "Diagnostics in the region", "payer_id": str(world.region.id), "reference": "ARA-2026-017",
            "service_ids": [str(world.diagnostic.id)], "share_kind": "percent", "share_rate": "50",
            "cap_per_beneficiary": "1000", "envelope": "7500", "when_exhausted": "full_price",
            "size_bands": ["10-49", "50-249"], "sectors": "22, 29", "postcodes": "", "regions": ["ARA"],
            "country": "", "counterpart": "Share the energy figures with the regional observatory.",
            "valid_from": "2026-01-01", "valid_until": "2026-12-31"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


SALE = {"sold_on": "2026-03-02", "quantity": "1", "scheme_id": "auto", "mode": ""}


def test_a_manager_sets_up_a_scheme_and_staff_sell_with_a_preview(app, world, manager, staff):
    client = app.test_client(user=manager)
    assert client.get("/alpha/billing/funding/new").status_code == 200
    r = client.post("/alpha/billing/funding/new", data=scheme_form(world))
    assert r.status_code == 302, text(r)[-2000:]
    scheme = db.session.execute(select(FundingScheme).execution_options(all_clusters=True)).scalar_one()
    assert (scheme.share_rate, scheme.envelope, scheme.regions, scheme.sectors) == (D("50.00"), D("7500.00"), ["ARA"],
                                                                                    ["22", "29"])
    assert scheme.service_ids == [world.diagnostic.id] and scheme.cluster_id == world.cluster.id
    listing = text(client.get("/alpha/billing/funding/"))
    assert "Diagnostics in the region" in listing and "Région Auvergne-Rhône-Alpes" in listing

    seller = app.test_client(user=staff)
    page = text(seller.get(f"/alpha/billing/sales/new?service_id={world.diagnostic.id}"))
    assert "Show the price" in page and "Confirm the sale" not in page
    data = {**SALE, "service_id": str(world.diagnostic.id), "organization_id": str(world.member.id),
            "action": "preview"}
    r = seller.post("/alpha/billing/sales/new", data=data)
    assert r.status_code == 200, text(r)[-2000:]
    preview = text(r)
    assert "Before you confirm" in preview and "Confirm the sale" in preview
    assert re.search(r'class="full-amount">€1,500.00<', preview) and re.search(r'class="payer-amount">€750.00<',
                                                                                  preview)
    assert "member price" in preview and "Diagnostics in the region" in preview
    assert count_sales() == 0 and fresh_scheme(scheme.id).envelope_used == 0  # a preview writes nothing
    r = seller.post("/alpha/billing/sales/new", data={**data, "action": "confirm"})
    assert r.status_code == 302, text(r)[-2000:]
    sale = all_sales()[0]
    assert r.headers["Location"].endswith(f"/alpha/billing/sales/{sale.id}")
    assert (sale.full_amount, sale.payer_amount, sale.beneficiary_amount) == (D("1500.00"), D("750.00"),
                                                                              D("750.00"))
    detail = text(seller.get(f"/alpha/billing/sales/{sale.id}"))
    assert "€750.00" in detail and "Diagnostics in the region" in detail and "Cancel the sale" in detail

    payer_page = text(client.get(f"/alpha/billing/funding/{scheme.id}"))
    assert "What its money bought" in payer_page and "Plastiques du Rhône" in payer_page
    assert 'class="envelope-used">€750.00<' in payer_page and 'class="envelope-left">€6,750.00<' in payer_page
    assert "Share the energy figures" in payer_page
    sales_page = text(client.get(f"/alpha/billing/sales/?scheme={scheme.id}&since=2026-01-01&until=2026-12-31"))
    assert "Plastiques du Rhône" in sales_page and "€750.00" in sales_page

    r = seller.post(f"/alpha/billing/sales/{sale.id}/cancel", data={"reason": "Booked twice"})
    assert r.status_code == 302
    assert all_sales()[0].status == "cancelled" and fresh_scheme(scheme.id).envelope_used == 0
    r = seller.post(f"/alpha/billing/sales/{sale.id}/cancel", data={})
    assert r.status_code == 302 and all_sales()[0].cancel_reason == "Booked twice"  # once only


def test_a_refused_sale_and_field_errors_write_nothing(app, world, staff):
    world.scheme(envelope="0", when_exhausted="refuse")
    seller = app.test_client(user=staff)
    base = {**SALE, "service_id": str(world.diagnostic.id), "organization_id": str(world.member.id)}
    r = seller.post("/alpha/billing/sales/new", data={**base, "action": "preview"})
    assert r.status_code == 200 and "the sale would be refused" in text(r) and "Confirm the sale" not in text(r)
    r = seller.post("/alpha/billing/sales/new", data={**base, "action": "confirm"})
    assert r.status_code == 409 and "the sale is refused" in text(r)
    bad = [
        ({"organization_id": "999999"}, "No organization with this id in the CRM."),
        ({"organization_id": "99999999999"}, "Out of range"),
        ({"organization_id": "abc"}, "Not a valid integer value."),
        ({"organization_id": ""}, "This field is required."),
        ({"person_id": "2147483647"}, "No person with this id in the CRM."),
        ({"service_id": "2147483647"}, "Not a valid choice"),
        ({"service_id": ""}, "This field is required."),
        ({"sold_on": "2026-02-30"}, "Not a valid date value."),
        ({"sold_on": "1800-01-01"}, "Not a valid date"),
        ({"quantity": "0"}, "The quantity must be more than 0."),
        ({"quantity": "1.005"}, "At most 2 decimal places."),
        ({"quantity": "1e400"}, "Too large"),
        ({"scheme_id": "42"}, "Not a valid choice"),
        ({"mode": "success_fee"}, "No price of this mode is valid on that day."),
        ({"mode": "gift"}, "Not a valid choice"),
        ({"description": "A\x00B"}, "control character"),
        ({"description": "x" * 301}, "300"),
        ({"unit_price": "10"}, "Only a sale on quote takes a unit price"),
        ({"amount_obtained": "-5"}, "Number must be at least 0."),
    ]
    for change, message in bad:
        r = seller.post("/alpha/billing/sales/new", data={**base, **change, "action": "confirm"})
        assert r.status_code == 400, (change, r.status_code)
        assert message in text(r), (change, text(r)[-3000:])
    assert count_sales() == 0


def test_bad_scheme_forms_get_field_errors_and_write_nothing(app, world, manager):
    client = app.test_client(user=manager)
    bad = [
        ({"name": ""}, "This field is required."),
        ({"name": "Région\x00"}, "control character"),
        ({"payer_id": "999999"}, "No organization with this id in the CRM."),
        ({"payer_id": "4294967296"}, "Out of range"),
        ({"service_ids": []}, "This field is required."),
        ({"service_ids": ["2147483647"]}, "not a valid choice"),
        ({"share_rate": "101"}, "Number must be between 0 and 100."),
        ({"share_rate": ""}, "Required for this share."),
        ({"share_amount": "300"}, "Not used by this share."),
        ({"share_kind": "per_unit"}, "Required for this share."),
        ({"share_kind": "gift"}, "Not a valid choice"),
        ({"cap_per_beneficiary": "-1"}, "Number must be at least 0."),
        ({"envelope": "12345678901"}, "Too large"),
        ({"sectors": "22, plastics"}, "Not a NACE code: PLASTICS"),
        ({"postcodes": "69, Lyon!"}, "Not a postcode or the start of one: LYON!"),
        ({"regions": ["ARA"], "country": "AT"}, "French regions are in France"),
        ({"regions": ["XX"]}, "not a valid choice"),
        ({"country": "FRA"}, "longer than 2"),
        ({"country": "F1"}, "Two letters"),
        ({"valid_until": "2025-12-31"}, "The end comes before the start."),
        ({"valid_from": ""}, "This field is required."),
        ({"when_exhausted": "maybe"}, "Not a valid choice"),
        ({"counterpart": "x" * 5001}, "5000"),
    ]
    for change, message in bad:
        r = client.post("/alpha/billing/funding/new", data=scheme_form(world, **change))
        assert r.status_code == 400, (change, r.status_code)
        assert message in text(r), (change, text(r)[-3000:])
    assert count(FundingScheme) == 0


def test_editing_a_scheme_keeps_its_envelope_above_what_is_used(app, world, manager):
    scheme = world.scheme(envelope="3000")
    world.sale(scheme_id="auto")
    world.sale(world.guest, scheme_id="auto")  # 750 + 1200
    client = app.test_client(user=manager)
    page = text(client.get(f"/alpha/billing/funding/{scheme.id}/edit"))
    assert 'value="3000.00"' in page
    r = client.post(f"/alpha/billing/funding/{scheme.id}/edit", data=scheme_form(world, envelope="1000",
                                                                                 regions=[], sectors=""))
    assert r.status_code == 400 and "Sales took 1950.00 from this envelope already" in text(r)
    assert fresh_scheme(scheme.id).envelope == D("3000.00")
    r = client.post(f"/alpha/billing/funding/{scheme.id}/edit",
                    data=scheme_form(world, envelope="2000", name="Renamed", regions=[], sectors=""))
    assert r.status_code == 302, text(r)[-2000:]
    fresh = fresh_scheme(scheme.id)
    assert (fresh.name, fresh.envelope, fresh.envelope_used) == ("Renamed", D("2000.00"), D("1950.00"))


def test_roles_and_a_granted_right(app, world, factory, staff, viewer, manager):
    scheme = world.scheme()
    sale = world.sale(scheme_id="auto")
    seller, reader = app.test_client(user=staff), app.test_client(user=viewer)
    for url in ("/alpha/billing/funding/new", f"/alpha/billing/funding/{scheme.id}/edit"):
        assert seller.get(url).status_code == 403
        assert seller.post(url, data=scheme_form(world)).status_code == 403
    for url in ("/alpha/billing/funding/", f"/alpha/billing/funding/{scheme.id}", "/alpha/billing/sales/",
                f"/alpha/billing/sales/{sale.id}", f"/alpha/billing/services/{world.diagnostic.id}/business"):
        assert reader.get(url).status_code == 200, url
    assert reader.get("/alpha/billing/sales/new").status_code == 403
    assert reader.post(f"/alpha/billing/sales/{sale.id}/cancel").status_code == 403
    assert "New funding scheme" not in text(seller.get("/alpha/billing/funding/"))
    assert "Cancel the sale" not in text(reader.get(f"/alpha/billing/sales/{sale.id}"))
    assert all_sales()[0].status == "recorded"
    # the API says the same
    staff_api, viewer_api = api_client(app, staff), api_client(app, viewer)
    assert staff_api.patch(f"/funding-schemes/{scheme.id}", json={"name": "Mine"}).status_code == 403
    assert staff_api.post("/funding-schemes", json={"name": "Mine"}).status_code == 403
    assert viewer_api.post("/sales", json={}).status_code == 403
    assert viewer_api.get(f"/funding-schemes/{scheme.id}").status_code == 200
    # a cluster admin grants billing.payers to the staff member: they manage schemes, nothing else
    admin = factory.user("admin@example.org", "admin", world.cluster)
    grant_permission(staff, world.cluster, "billing.payers", granted_by=admin)
    db.session.commit()
    r = seller.post(f"/alpha/billing/funding/{scheme.id}/edit", data=scheme_form(world, name="Granted edit"))
    assert r.status_code == 302, text(r)[-1500:]
    assert fresh_scheme(scheme.id).name == "Granted edit"
    assert seller.get("/alpha/billing/services/new").status_code == 403


def test_clusters_are_apart(app, world, other_cluster, factory):
    scheme = world.scheme()
    sale = world.sale(scheme_id="auto")
    theirs = app.test_client(user=factory.user("beta@example.org", "admin", other_cluster))
    for url in (f"/beta/billing/funding/{scheme.id}", f"/beta/billing/funding/{scheme.id}/edit",
                f"/beta/billing/sales/{sale.id}", f"/beta/billing/services/{world.diagnostic.id}/business"):
        assert theirs.get(url).status_code == 404, url
    assert theirs.post(f"/beta/billing/sales/{sale.id}/cancel").status_code == 404
    assert "Diagnostics" not in text(theirs.get("/beta/billing/funding/"))
    assert "Plastiques" not in text(theirs.get("/beta/billing/sales/"))
    beta_api = api_client(app, factory.user("beta2@example.org", "admin", other_cluster), slug="beta")
    assert beta_api.get(f"/funding-schemes/{scheme.id}").status_code == 404
    assert beta_api.get(f"/sales/{sale.id}").status_code == 404
    assert beta_api.get("/sales").get_json()["total"] == 0
    r = beta_api.post("/sales", json={"service_id": world.diagnostic.id, "organization_id": world.member.id,
                                      "sold_on": "2026-03-02"})
    assert r.status_code == 422 and "service_id" in r.get_json()["errors"]
    assert all_sales()[0].status == "recorded" and len(all_sales()) == 1


def test_the_business_model_of_a_service(app, world, manager):
    world.scheme()
    world.sale(scheme_id="auto", on=date(2026, 3, 2))  # 1500: 750 + 750
    world.sale(world.guest, scheme_id="auto", on=date(2026, 4, 2))  # 2400: 1200 + 1200
    world.sale(world.guest, on=date(2025, 4, 2))  # last year
    client = app.test_client(user=manager)
    page = text(client.get(f"/alpha/billing/services/{world.diagnostic.id}/business?since=2026-01-01&until=2026-12-31"))
    assert 'class="units">2<' in page and 'class="revenue">€3,900.00<' in page
    assert 'class="payer-amount">€1,950.00<' in page
    # unit cost: 10 h x 60 + 600 = 1200: production 2400, margin 1500
    assert 'class="margin">€1,500.00<' in page and "Région Auvergne-Rhône-Alpes" in page
    assert "50 % self-financed" in page
    r = client.get(f"/alpha/billing/services/{world.diagnostic.id}/business?since=2026-12-31&until=2026-01-01")
    assert r.status_code == 400 and "The end comes before the start." in text(r)
    assert client.get(f"/alpha/billing/services/{world.diagnostic.id}/business?since=nope").status_code == 400
    assert "Business model" in text(client.get(f"/alpha/billing/services/{world.diagnostic.id}"))
    api = api_client(app, manager)
    body = api.get(f"/services/{world.diagnostic.id}/business?since=2025-01-01&until=2026-12-31").get_json()
    assert (body["units"], body["revenue"], body["payer_amount"], body["beneficiary_amount"]) == (
        "3.00", "6300.00", "1950.00", "4350.00")
    assert (body["unit_cost"], body["production_cost"], body["margin"], body["margin_rate"]) == (
        "1200.00", "3600.00", "2700.00", "42.9")
    assert body["by_payer"][0]["payer_name"] == "Région Auvergne-Rhône-Alpes"
    assert api.get(f"/services/{world.diagnostic.id}/business?since=x").status_code == 400
    assert api.get(f"/services/{world.diagnostic.id}/business?color=red").status_code == 400


def test_the_api_round_trip(app, world, manager, staff):
    api, seller = api_client(app, manager), api_client(app, staff)
    body = {"name": "OPCO 2i training", "payer_id": world.region.id, "service_ids": [world.training.id],
            "share_kind": "per_unit", "share_amount": "300", "envelope": 900, "valid_from": "2026-01-01",
            "when_exhausted": "refuse", "counterpart": "Attendance sheets."}
    r = api.post("/funding-schemes", json=body)
    assert r.status_code == 201, r.get_json()
    scheme = r.get_json()
    assert (scheme["share_amount"], scheme["envelope"], scheme["envelope_left"], scheme["share_rate"]) == (
        "300.00", "900.00", "900.00", None)
    assert api.get("/funding-schemes").get_json()["total"] == 1
    sale_body = {"service_id": world.training.id, "organization_id": world.member.id, "sold_on": "2026-03-02",
                 "quantity": 2}
    preview = seller.post("/sales/preview", json=sale_body)
    assert preview.status_code == 200, preview.get_json()
    p = preview.get_json()
    assert (p["full_amount"], p["payer_amount"], p["beneficiary_amount"], p["scheme_id"], p["refused"]) == (
        "1300.00", "600.00", "700.00", scheme["id"], None)
    assert p["eligible"][0]["envelope_left"] == "900.00"
    r = seller.post("/sales", json=sale_body)
    assert r.status_code == 201, r.get_json()
    sale = r.get_json()
    assert (sale["full_amount"], sale["payer_amount"], sale["member"], sale["status"]) == (
        "1300.00", "600.00", True, "recorded")
    r = seller.post("/sales", json={**sale_body, "quantity": "1"})
    assert r.status_code == 201 and r.get_json()["payer_amount"] == "300.00"
    r = seller.post("/sales", json=sale_body)  # the envelope is used up and the scheme refuses
    assert r.status_code == 409 and "refused" in r.get_json()["errors"]["_"][0]
    r = seller.post("/sales", json={**sale_body, "scheme_id": "none"})
    assert r.status_code == 201 and r.get_json()["payer_amount"] == "0.00"
    detail = api.get(f"/funding-schemes/{scheme['id']}").get_json()
    assert (detail["envelope_used"], detail["envelope_left"], detail["totals"]["sales"]) == ("900.00", "0.00", 2)
    assert detail["beneficiaries"][0]["payer_amount"] == "900.00" and detail["by_service"][0]["units"] == "3.00"
    listing = api.get(f"/sales?scheme={scheme['id']}&status=recorded").get_json()
    assert listing["total"] == 2
    assert api.get("/sales?since=2026-03-03").get_json()["total"] == 0
    assert api.get("/sales?organization=abc").status_code == 400
    assert api.get("/sales?colour=red").status_code == 400
    r = seller.post(f"/sales/{sale['id']}/cancel", json={"reason": "Cancelled by the company"})
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert seller.post(f"/sales/{sale['id']}/cancel", json={}).status_code == 409
    assert api.get(f"/funding-schemes/{scheme['id']}").get_json()["envelope_used"] == "300.00"
    r = api.patch(f"/funding-schemes/{scheme['id']}", json={"envelope": "100"})
    assert r.status_code == 422 and "envelope" in r.get_json()["errors"]
    r = api.patch(f"/funding-schemes/{scheme['id']}", json={"envelope": "1200", "name": "OPCO 2i, renewed"})
    assert r.status_code == 200 and (r.get_json()["envelope_left"], r.get_json()["name"]) == ("900.00",
                                                                                             "OPCO 2i, renewed")
    assert r.get_json()["share_amount"] == "300.00" and r.get_json()["service_ids"] == [world.training.id]


def test_the_api_refuses_bad_input_with_field_errors(app, world, manager, staff):
    api, seller = api_client(app, manager), api_client(app, staff)
    before = (count(FundingScheme), count(Sale))
    good = {"name": "Scheme", "payer_id": world.region.id, "service_ids": [world.diagnostic.id],
            "share_kind": "percent", "share_rate": "50", "valid_from": "2026-01-01"}
    cases = [
        ({**good, "payer_id": 2**40}, "payer_id"), ({**good, "payer_id": "x"}, "payer_id"),
        ({**good, "service_ids": 3}, "service_ids"), ({**good, "service_ids": [2**31 - 1]}, "service_ids"),
        ({**good, "share_rate": "50.001"}, "share_rate"), ({**good, "share_rate": True}, "share_rate"),
        ({**good, "name": "A\x00"}, "name"), ({**good, "name": {"a": 1}}, "name"),
        ({**good, "sectors": ["22", "ab"]}, "sectors"), ({**good, "postcodes": ["69", "Lyon!"]}, "postcodes"),
        ({**good, "members_only": "yes"}, "members_only"), ({**good, "colour": "red"}, "colour"),
        ({**good, "valid_from": "2026-13-01"}, "valid_from"),
    ]
    for body, field in cases:
        r = api.post("/funding-schemes", json=body)
        assert r.status_code == 422, ({k: v for k, v in body.items() if good.get(k) != v}, r.status_code)
        assert field in r.get_json()["errors"], (body, r.get_json())
    assert api.post("/funding-schemes", data="not json", content_type="application/json").status_code == 400
    sale = {"service_id": world.diagnostic.id, "organization_id": world.member.id, "sold_on": "2026-03-02"}
    cases = [
        ({**sale, "organization_id": 2**31}, "organization_id"), ({**sale, "service_id": 2**31 - 1}, "service_id"),
        ({**sale, "quantity": "-2"}, "quantity"), ({**sale, "quantity": "abc"}, "quantity"),
        ({**sale, "scheme_id": 3.5}, "scheme_id"), ({**sale, "description": "\x00"}, "description"),
        ({**sale, "person_id": 0}, "person_id"), ({**sale, "mode": "quote"}, "mode"),
        ({**sale, "sold_on": "2019-01-01"}, "sold_on"), ({k: v for k, v in sale.items() if k != "sold_on"}, "sold_on"),
    ]
    for body, field in cases:
        for path in ("/sales", "/sales/preview"):
            r = seller.post(path, json=body)
            assert r.status_code == 422, (path, body, r.status_code, r.get_json())
            assert field in r.get_json()["errors"], (path, body, r.get_json())
    assert seller.post("/sales/2147483647/cancel", json={}).status_code == 404
    assert seller.post("/sales/99999999999999/cancel", json={}).status_code == 404
    assert api.get("/funding-schemes/99999999999999").status_code == 404
    assert seller.post("/sales/1/cancel", json={"reason": "x" * 301}).status_code in (404, 422)
    assert (count(FundingScheme), count(Sale)) == before


def test_generated_requests_never_get_a_server_error(app, factory, crm, billing):
    """Schemathesis on the funding and sales operations, with real ids half of the time."""

    from core.auth import new_api_token
    from core.testing.fuzz import fuzz_operations

    cluster = factory.cluster("alpha", modules=("crm", "billing"))
    token = new_api_token(factory.user("admin@example.org", "admin", cluster))
    region = crm.organization("Région Bretagne", postcode="35000")
    buyer = crm.organization("Acme SAS", size_band="10-49", postcode="35700")
    service = billing.service(cluster, "Diagnostic", status="on_sale")
    billing.price(service, "flat_fee", member_amount="1000", non_member_amount="1500")
    scheme = billing.funding_scheme(cluster, region, [service], envelope="5000")
    sale = billing.sale(service, buyer, scheme_id="auto")
    ids = {"scheme_id": scheme.id, "sale_id": sale.id, "service_id": service.id}
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    operations, failures = fuzz_operations(app, headers=headers, path=r"/billing/(funding-schemes|sales|services/\{service_id\}/business)", ids=ids)
    assert operations == 10, operations
    assert not failures, "\n\n".join(f"{label}\n{why}" for label, why in failures.items())
    fresh = fresh_scheme(scheme.id)
    recorded = [s for s in all_sales() if s.status == "recorded" and s.scheme_id == scheme.id]
    assert fresh.envelope_used == sum((s.payer_amount for s in recorded), D("0.00")) <= D("5000")


def test_a_french_manager_sees_french(app, world, factory):
    scheme = world.scheme()
    world.sale(scheme_id="auto")
    client = app.test_client(user=factory.user("fr@example.org", "manager", world.cluster, language="fr"))
    page = text(client.get(f"/alpha/billing/funding/{scheme.id}"))
    assert "Ce que son argent a financé" in page and "Bénéficiaires" in page and "Reste du plafond" in page
    assert "Dispositifs de financement" in text(client.get("/alpha/billing/funding/"))
    assert "1 vente" in text(client.get("/alpha/billing/sales/"))
    r = client.post("/alpha/billing/funding/new", data=scheme_form(world, share_rate=""))
    assert r.status_code == 400 and "Requis pour cette part." in text(r)
