"""Billing's JSON API: a round trip through ranges, services, steps, prices and charges; the
same validation as the pages; clusters and roles; every response as the document declares
it (the ``app`` fixture checks each), and generated requests never get a 5xx."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from core import db
from plugins.billing.models import Price, Service, ServiceStep

from .conftest import api_client

DIAGNOSTIC = {
    "name": "Energy efficiency diagnostic", "code": "DIAG-ENERGY", "status": "on_sale", "revenue_family": "projects",
    "problem": "Energy bills rise.", "size_bands": ["10-49", "50-249"], "sectors": ["22", "29.10"],
    "functions": ["production"], "unit": "one diagnostic", "coordination_hours": "2", "planned_volume": 20,
    "evaluation_questions": ["Were the actions clear?", "Which ones will you carry out?"],
    "downstream_competences": ["Restitution"], "vat_category": "standard", "vat_rate": "20.00",
}


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model).execution_options(all_clusters=True)).scalar_one()


def test_a_round_trip_through_the_catalogue(app, cluster, api, crm):
    r = api.post("/ranges", json={"name": "Skills and training", "shared_experts": "Auditors"})
    assert r.status_code == 201, r.get_json()
    range_id = r.get_json()["id"]
    r = api.post("/services", json={**DIAGNOSTIC, "range_id": range_id})
    assert r.status_code == 201, r.get_json()
    service = r.get_json()
    sid = service["id"]
    assert service["sectors"] == ["22", "29.10"] and service["evaluation_questions"][1] == "Which ones will you carry out?"
    assert service["costs"]["unit_cost"] == "120.00" and service["steps"] == [] and service["prices"] == []

    visit = api.post(f"/services/{sid}/steps", json={"name": "Site visit", "staff_hours": "7", "external_fees": "600"})
    design = api.post(f"/services/{sid}/steps", json={"name": "Design", "staff_hours": 10, "cost_behaviour": "fixed"})
    assert visit.status_code == design.status_code == 201, visit.get_json()
    assert visit.get_json()["position"] == 1 and design.get_json()["position"] == 2
    ordered = api.put(f"/services/{sid}/steps/order", json={"step_ids": [design.get_json()["id"], visit.get_json()["id"]]})
    assert ordered.status_code == 200, ordered.get_json()
    assert [(s["name"], s["position"], s["cost"]) for s in ordered.get_json()["items"]] == [
        ("Design", 1, "600.00"), ("Site visit", 2, "1020.00")]
    patched = api.patch(f"/steps/{visit.get_json()['id']}", json={"purchases": "30"})
    assert patched.status_code == 200 and patched.get_json()["purchases"] == "30.00"
    assert patched.get_json()["staff_hours"] == "7.00"  # a partial change keeps the rest

    r = api.post(f"/services/{sid}/prices", json={"mode": "flat_fee", "member_amount": "1500",
                                                  "non_member_amount": 2400, "valid_from": "2025-01-01"})
    assert r.status_code == 201, r.get_json()
    first = r.get_json()
    assert first["member_amount"] == "1500.00" and first["valid_until"] is None
    r = api.post(f"/services/{sid}/prices", json={"mode": "flat_fee", "member_amount": "1600",
                                                  "valid_from": "2031-01-01"})
    assert r.status_code == 201 and r.get_json()["replaces_id"] == first["id"]
    old = api.get(f"/prices/{first['id']}").get_json()
    assert old["valid_until"] == "2030-12-31" and old["member_amount"] == "1500.00"

    detail = api.get(f"/services/{sid}").get_json()
    assert detail["costs"] == {"hourly_cost": "60.00", "coordination": "120.00", "variable_per_unit": "1170.00",
                               "fixed_per_year": "600.00", "planned_volume": 20, "fixed_per_unit": "30.00",
                               "unit_cost": "1200.00"}
    current = next(p for p in detail["prices"] if p["state"] == "current")
    assert current["economics"]["member_margin"] == {"price": "1500.00", "unit_cost": "1200.00", "amount": "300.00",
                                                     "rate": "20.0"}
    assert current["economics"]["member_break_even"] == 2 and current["economics"]["non_member_break_even"] == 1
    assert [p["state"] for p in api.get(f"/services/{sid}/prices").get_json()["items"]] == ["current", "future"]

    member = crm.organization("Member SAS")
    crm.membership(member, cluster, start=date(2020, 1, 1))
    guest = crm.organization("Guest GmbH")
    on = "2026-03-02"
    r = api.get(f"/services/{sid}/charge?organization_id={member.id}&on={on}&mode=flat_fee")
    assert r.status_code == 200 and r.get_json() == {"price_id": first["id"], "mode": "flat_fee", "member": True,
                                                     "amount": "1500.00"}
    r = api.get(f"/services/{sid}/charge?organization_id={guest.id}&on={on}&mode=flat_fee")
    assert r.get_json()["amount"] == "2400.00" and r.get_json()["member"] is False
    assert api.get(f"/services/{sid}/charge?organization_id={guest.id}&on=2031-02-01&mode=flat_fee").status_code == 409
    assert api.get(f"/services/{sid}/charge?on={on}&mode=quote").status_code == 404
    assert api.get(f"/services/{sid}/charge?on={on}&mode=flat_fee&colour=red").status_code == 400
    assert api.get(f"/services/{sid}/charge?on=yesterday&mode=flat_fee").status_code == 400

    changed = api.patch(f"/services/{sid}", json={"name": "Energy diagnostic", "planned_volume": 40})
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["name"] == "Energy diagnostic" and body["code"] == "DIAG-ENERGY" and body["sectors"] == ["22", "29.10"]
    assert body["costs"]["fixed_per_unit"] == "15.00" and body["range_id"] == range_id

    copy = api.post(f"/services/{sid}/copy", json={"name": "Water diagnostic"})
    assert copy.status_code == 201 and copy.get_json()["status"] == "draft" and len(copy.get_json()["steps"]) == 2
    retired = api.post(f"/services/{sid}/retire")
    assert retired.status_code == 200 and retired.get_json()["status"] == "retired"
    assert api.post(f"/services/{sid}/retire").status_code == 409
    assert api.patch(f"/services/{sid}", json={"name": "X"}).status_code == 409
    assert api.post(f"/services/{sid}/steps", json={"name": "X"}).status_code == 409
    assert api.post(f"/services/{sid}/prices", json={"mode": "quote", "valid_from": "2040-01-01"}).status_code == 409
    assert api.get(f"/services/{sid}/charge?on={on}&mode=flat_fee").status_code == 409  # not on sale
    listed = api.get("/services?status=retired").get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == sid
    assert api.get("/services?q=water").get_json()["total"] == 1
    assert api.get("/ranges").get_json()["items"][0]["name"] == "Skills and training"
    assert api.delete(f"/ranges/{range_id}").status_code == 409  # services belong to it


def test_the_api_validates_with_the_forms(app, cluster, api, billing):
    r = api.post("/services", json={"name": "", "status": "sold", "sectors": ["chemistry"], "colour": "red"})
    assert r.status_code == 422 and r.get_json()["errors"] == {"colour": ["Unknown field."]}
    r = api.post("/services", json={"name": "", "status": "sold", "sectors": ["chemistry"], "planned_volume": 0,
                                    "size_bands": "huge", "evaluation_questions": ["q" * 301]})
    assert r.status_code == 422
    assert set(r.get_json()["errors"]) == {"name", "status", "sectors", "planned_volume", "size_bands",
                                           "evaluation_questions"}
    assert api.post("/services", json={"name": "A\u0000B"}).status_code == 422
    assert api.post("/services", json={"name": "A", "sectors": {"a": 1}}).status_code == 422
    assert api.post("/services", data="not json").status_code == 400
    service = billing.service(cluster, "Diagnostic")
    for body in ({"mode": "flat_fee", "valid_from": "2020-01-01"},
                 {"mode": "success_fee", "member_rate": "5", "floor_amount": "9", "cap_amount": "1",
                  "valid_from": "2020-01-01"},
                 {"mode": "quote", "member_amount": "1", "valid_from": "2020-01-01"},
                 {"mode": "flat_fee", "member_amount": "1", "pro_rata": "yes", "valid_from": "2020-01-01"}):
        assert api.post(f"/services/{service.id}/prices", json=body).status_code == 422, body
    huge = '{"mode": "flat_fee", "member_amount": 1e400, "valid_from": "2020-01-01"}'  # a JSON number, infinite
    assert api.post(f"/services/{service.id}/prices", data=huge, content_type="application/json").status_code == 422
    steps = [billing.step(service, n) for n in ("A", "B")]
    for ids in ([steps[0].id], [steps[0].id, steps[0].id, steps[1].id], [steps[0].id, 2147483647]):
        assert api.put(f"/services/{service.id}/steps/order", json={"step_ids": ids}).status_code == 422, ids
    assert api.put(f"/services/{service.id}/steps/order", json={"step_ids": [2**40]}).status_code == 422
    assert api.post(f"/services/{service.id}/experts", json={"role": "x"}).status_code == 422
    price = billing.price(service, "flat_fee", member_amount="10")
    assert api.post(f"/prices/{price.id}/close", json={"valid_until": "2019-01-01"}).status_code == 422
    assert api.post(f"/prices/{price.id}/close", json={"valid_until": "2030-01-01"}).status_code == 200
    assert api.post(f"/prices/{price.id}/close", json={"valid_until": "2031-01-01"}).status_code == 409
    assert count(Price) == 1 and count(Service) == 1 and count(ServiceStep) == 2
    for path in ("/services/2147483648", "/services/99999999999999999999", "/prices/0", "/ranges/2147483647"):
        assert api.get(path).status_code == 404, path


def test_a_cluster_never_reaches_another_clusters_catalogue(app, cluster, other_cluster, api, billing):
    theirs = billing.service(other_cluster, "Theirs", status="on_sale")
    their_step = billing.step(theirs, "Their step")
    their_price = billing.price(theirs, "flat_fee", member_amount="10")
    billing.service(cluster, "Ours")
    assert [s["name"] for s in api.get("/services").get_json()["items"]] == ["Ours"]
    for method, path in (("get", f"/services/{theirs.id}"), ("patch", f"/services/{theirs.id}"),
                         ("post", f"/services/{theirs.id}/retire"), ("get", f"/prices/{their_price.id}"),
                         ("post", f"/prices/{their_price.id}/close"), ("delete", f"/steps/{their_step.id}"),
                         ("get", f"/services/{theirs.id}/charge?on=2026-01-01&mode=flat_fee")):
        assert getattr(api, method)(path, json={"valid_until": "2030-01-01"}).status_code == 404, path
    assert db.session.get(Service, theirs.id).status == "on_sale" and count(ServiceStep) == 1


def test_roles_in_the_api(app, cluster, staff, viewer, billing):
    service = billing.service(cluster, "Diagnostic")
    for user in (staff, viewer):
        client = api_client(app, user)
        assert client.get("/services").status_code == 200
        assert client.get(f"/services/{service.id}").status_code == 200
        assert client.post("/services", json={"name": "Mine"}).status_code == 403
        assert client.post(f"/services/{service.id}/prices", json={"mode": "quote",
                                                                   "valid_from": "2030-01-01"}).status_code == 403
        assert client.delete(f"/services/{service.id}").status_code == 405
    assert count(Service) == 1 and count(Price) == 0


def test_every_billing_operation_describes_its_response(app):
    from tests.test_api_responses import _assert_described, _count

    assert _assert_described(app, ("billing_api",)) == _count(app, ("billing_api",)) >= 20


def test_generated_requests_never_get_a_server_error(app, factory, billing, crm):
    """Schemathesis on billing's operations, in a cluster running billing with real records
    (tests/test_fuzz_api.py runs in a cluster without billing, where they answer 404)."""

    from core.auth import new_api_token
    from core.testing.fuzz import fuzz_operations

    cluster = factory.cluster("alpha", modules=("crm", "billing"))
    token = new_api_token(factory.user("admin@example.org", "admin", cluster))
    org = crm.organization("Acme SAS")
    crm.person("Martin", "Claire", organization=org)
    service = billing.service(cluster, "Diagnostic", status="on_sale", range_id=billing.range(cluster).id)
    step = billing.step(service, "Visit", staff_hours="2")
    price = billing.price(service, "flat_fee", member_amount="10", valid_from=date(2020, 1, 1))
    billing.price(service, "success_fee", member_rate="5", valid_from=date(2020, 1, 1))
    ids = {"service_id": service.id, "step_id": step.id, "price_id": price.id, "range_id": service.range_id}
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    operations, failures = fuzz_operations(app, headers=headers, path="/billing/", ids=ids)
    assert operations >= 20, operations
    assert not failures, "\n\n".join(f"{label}\n{why}" for label, why in failures.items())
