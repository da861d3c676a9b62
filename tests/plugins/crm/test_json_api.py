"""The CRM's JSON API: same validation as the pages, field errors, per-cluster rules."""

from __future__ import annotations

from sqlalchemy import func, select

from core import db
from core.testing import new_api_token
from plugins.crm.models import Interaction, Membership, Organization

import pytest


@pytest.fixture
def api(app, staff):
    token = new_api_token(staff)
    db.session.commit()
    client = app.test_client()

    class Api:
        def __getattr__(self, method):
            def call(path, **kwargs):
                kwargs.setdefault("headers", {})["Authorization"] = f"Bearer {token}"
                return getattr(client, method)(f"/api/v1/alpha/crm{path}", **kwargs)
            return call

    return Api()


def test_create_read_update_organization(api):
    r = api.post("/organizations", json={"legal_name": "Kunststoff Cluster GmbH", "vat_number": "ATU 13585627",
                                         "kind": "association", "tags": ["plastics", "Linz"], "country": "at",
                                         "sector": "94.11"})
    assert r.status_code == 201, r.get_json()
    org = r.get_json()
    assert org["vat_number"] == "ATU13585627" and org["country"] == "AT" and org["tags"] == ["Linz", "plastics"]
    r = api.patch(f"/organizations/{org['id']}", json={"city": "Linz", "trade_name": "KC"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["city"] == "Linz" and r.get_json()["vat_number"] == "ATU13585627"
    assert r.get_json()["tags"] == ["Linz", "plastics"]  # untouched by a partial update
    listed = api.get("/organizations?q=KUNSTSTOFF").get_json()
    assert listed["total"] == 1 and listed["items"][0]["name"] == "KC"
    detail = api.get(f"/organizations/{org['id']}").get_json()
    assert detail["persons"] == [] and detail["memberships"] == []


def test_organization_errors_are_field_level_4xx(api):
    r = api.post("/organizations", json={"legal_name": "", "siret": "12345678901234", "kind": "castle"})
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    assert set(errors) == {"legal_name", "siret", "kind"}
    assert api.post("/organizations", json={"legal_name": "A", "colour": "red"}).status_code == 422
    assert api.post("/organizations", data="not json").status_code == 400
    assert api.get("/organizations?kind=castle").status_code == 400
    assert api.get("/organizations?frobnicate=1").status_code == 400
    assert api.get("/organizations/999999").status_code == 404
    assert db.session.execute(select(func.count(Organization.id))).scalar_one() == 0
    api.post("/organizations", json={"legal_name": "First", "siren": "732829320"})
    r = api.post("/organizations", json={"legal_name": "Second", "siren": "732829320"})
    assert r.status_code == 422
    assert "exists already: First (/alpha/crm/organizations/" in r.get_json()["errors"]["siren"][0]


def test_persons_consent_and_erasure_rights(api, app, factory, cluster):
    r = api.post("/persons", json={"first_name": "Jürgen", "last_name": "Weiß", "email": "J.Weiss@Example.AT",
                                   "language": "en"})
    assert r.status_code == 201, r.get_json()
    pid = r.get_json()["id"]
    assert api.post("/persons", json={"last_name": "Dup", "email": "j.weiss@example.at"}).status_code == 422
    assert api.post("/persons", json={"last_name": "X", "phone": "call me"}).status_code == 422
    assert api.get("/persons?q=weiss").get_json()["total"] == 1
    assert api.get("/persons?q=WEISS JURGEN").get_json()["total"] == 1
    r = api.post(f"/persons/{pid}/consents", json={"purpose": "newsletter", "status": "granted", "method": "web"})
    assert r.status_code == 201
    assert api.post(f"/persons/{pid}/consents", json={"purpose": "newsletter", "status": "granted",
                                                      "method": "web", "on": "2999-01-01"}).status_code == 422
    assert api.get(f"/persons/{pid}").get_json()["consents"]["newsletter"]["status"] == "granted"
    assert api.post(f"/persons/{pid}/erase").status_code == 403  # staff: no
    admin = factory.user("a@example.org", "admin", cluster)
    token = new_api_token(admin)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.get(f"/api/v1/alpha/crm/persons/{pid}/export", headers=headers).get_json()["email"] == \
        "j.weiss@example.at"
    r = client.post(f"/api/v1/alpha/crm/persons/{pid}/erase", headers=headers)
    assert r.status_code == 200 and r.get_json()["erased"] and r.get_json()["email"] is None
    assert client.post(f"/api/v1/alpha/crm/persons/{pid}/erase", headers=headers).status_code == 409


def test_memberships_and_interactions_are_per_cluster(api, app, factory, crm, cluster, other_cluster):
    org = crm.organization("Both Clusters SA")
    p = crm.person("Met", organization=org)
    r = api.post("/memberships", json={"organization_id": org.id, "status": "member", "start_date": "2025-01-01"})
    assert r.status_code == 201, r.get_json()
    r = api.post("/interactions", json={"organization_id": org.id, "kind": "call", "date": "2026-01-05",
                                        "subject": "Renewal", "persons": [p.id]})
    assert r.status_code == 201, r.get_json()
    iid = r.get_json()["id"]
    assert api.post("/interactions", json={"organization_id": org.id, "kind": "call", "date": "2026-01-05",
                                           "subject": "X", "persons": [987654]}).status_code == 422
    r = api.patch(f"/interactions/{iid}", json={"follow_up_on": "2026-02-01"})
    assert r.status_code == 200 and r.get_json()["persons"] == [p.id]
    # the other cluster's staff see the organization, not alpha's membership and interaction
    beta_staff = factory.user("b@example.org", "staff", other_cluster)
    token = new_api_token(beta_staff)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.get(f"/api/v1/beta/crm/organizations/{org.id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/beta/crm/organizations/{org.id}", headers=headers).get_json()["memberships"] == []
    assert client.get("/api/v1/beta/crm/interactions", headers=headers).get_json()["total"] == 0
    assert client.get(f"/api/v1/beta/crm/interactions/{iid}", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/beta/crm/interactions/{iid}", headers=headers).status_code == 404
    assert client.get("/api/v1/alpha/crm/interactions", headers=headers).status_code == 403
    assert db.session.execute(select(func.count(Interaction.id))).scalar_one() == 1
    assert db.session.execute(select(func.count(Membership.id))).scalar_one() == 1


def test_segments_through_the_api(api, crm, cluster):
    org = crm.organization("Seg SA", kind="school")
    crm.person("InSeg", organization=org)
    r = api.post("/segments", json={"name": "Schools", "filters": {"kind": "school"}})
    assert r.status_code == 201, r.get_json()
    sid = r.get_json()["id"]
    assert api.post("/segments", json={"name": "Schools", "filters": {}}).status_code == 422
    assert api.post("/segments", json={"name": "Bad", "filters": {"kind": "castle"}}).status_code == 422
    assert api.post("/segments", json={"name": "Bad", "filters": {"colour": "red"}}).status_code == 422
    assert len(api.get(f"/segments/{sid}/persons").get_json()["items"]) == 1


def test_openapi_lists_crm_operations(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/{cluster}/crm/organizations" in doc["paths"]
    assert "crm.OrganizationForm" in doc["components"]["schemas"]


# -- every operation answers what the OpenAPI document says --------------------------------------
def _crm_operations(app) -> set[tuple[str, str]]:
    return {(op.endpoint, method) for name in ("crm_api", "crm_federation_api")
            for op in app.blueprints[name].operations for method in op.methods}


def test_every_crm_operation_answers_what_the_document_describes(app, factory, crm, cluster):
    """Each operation of the CRM's API is called once (or more) with real records, as an admin
    (a federation admin for the federation-wide one): each answer has the status the
    document gives, a schema for it (or none: a 204), and matches that schema."""
    import io

    from core.api import openapi_document, response_problem

    admin = factory.user("admin@example.org", "admin", cluster)
    fed = factory.user("fed@example.org", None, federation_admin=True)
    tokens = {"admin": new_api_token(admin), "fed": new_api_token(fed)}
    db.session.commit()
    client = app.test_client()
    doc = openapi_document(app)
    documented = {(op["operationId"].rpartition(".")[0], verb.upper()): op
                  for item in doc["paths"].values() for verb, op in item.items()}
    adapter = app.url_map.bind("localhost")
    called: set[tuple[str, str]] = set()

    def call(method, path, status, *, who="admin", prefix="/api/v1/alpha/crm", **kwargs):
        url = prefix + path
        r = client.open(url, method=method, headers={"Authorization": f"Bearer {tokens[who]}"}, **kwargs)
        endpoint, _args = adapter.match(url.partition("?")[0], method=method)
        called.add((endpoint, method))
        assert r.status_code == status, (method, url, r.status_code, r.get_json())
        described = documented[(endpoint, method)]["responses"].get(str(status))
        assert described is not None, f"{method} {url}: the document does not say it answers {status}"
        if status == 204:
            assert "content" not in described and r.get_data() == b""
            return None
        assert described["content"]["application/json"]["schema"] != {"type": "object"}, (method, url)
        body = r.get_json()
        assert response_problem(app, endpoint, method, status, body) is None
        return body

    parent = call("POST", "/organizations", 201, json={"legal_name": "Parent Holding SA"})
    org = call("POST", "/organizations", 201, json={
        "legal_name": "Acme Plastiques SAS", "trade_name": "Acme", "siren": "732829320", "tags": ["moulding"],
        "parent_id": parent["id"], "sector": "22.29", "country": "fr"})
    assert org["created_at"].endswith("+00:00") and org["tags"] == ["moulding"] and org["name"] == "Acme"
    other = crm.organization("Other Moulders SARL")
    assert call("GET", "/organizations?q=acme", 200)["total"] == 1
    assert call("PATCH", f"/organizations/{org['id']}", 200, json={"city": "Oyonnax"})["city"] == "Oyonnax"

    person = call("POST", "/persons", 201, json={"first_name": "Claire", "last_name": "Martin",
                                                 "email": "claire@example.org", "organization_id": org["id"]})
    assert person["organizations"][0]["name"] == "Acme" and person["erased"] is False
    assert call("GET", "/persons?q=claire", 200)["items"][0]["id"] == person["id"]
    call("PATCH", f"/persons/{person['id']}", 200, json={"job_title": "CEO"})
    call("POST", f"/persons/{person['id']}/organizations", 201, json={"organization_id": other.id, "role": "Adviser"})
    consent = call("POST", f"/persons/{person['id']}/consents", 201,
                   json={"purpose": "newsletter", "status": "granted", "method": "web form"})
    assert consent["at"].endswith("+00:00")
    detail = call("GET", f"/persons/{person['id']}", 200)
    assert detail["consents"]["newsletter"]["status"] == "granted" and detail["consents"]["event_invitations"] is None

    membership = call("POST", "/memberships", 201, json={"organization_id": org["id"], "status": "member",
                                                          "start_date": "2020-01-01"})
    assert membership["member_today"] is True and membership["end_date"] is None
    call("PATCH", f"/memberships/{membership['id']}", 200, json={"fee_tier": "SME"})
    assert call("GET", f"/memberships?organization_id={org['id']}", 200)["total"] == 1
    gone = call("POST", "/memberships", 201, json={"organization_id": other.id, "status": "prospect",
                                                    "start_date": "2021-01-01", "end_date": "2021-12-31"})
    call("DELETE", f"/memberships/{gone['id']}", 204)

    today = cluster.today().isoformat()
    interaction = call("POST", "/interactions", 201, json={
        "organization_id": org["id"], "kind": "visit", "date": today, "subject": "Plant visit",
        "persons": [person["id"]], "follow_up_on": today})
    assert interaction["persons"] == [person["id"]] and interaction["date"] == today
    call("GET", f"/interactions/{interaction['id']}", 200)
    call("PATCH", f"/interactions/{interaction['id']}", 200, json={"summary": "Two presses."})
    assert call("GET", "/interactions", 200)["total"] == 1
    assert [i["id"] for i in call("GET", "/follow-ups", 200)["items"]] == [interaction["id"]]
    note = call("POST", "/interactions", 201, json={"organization_id": other.id, "kind": "note", "date": today,
                                                     "subject": "Note"})
    call("DELETE", f"/interactions/{note['id']}", 204)
    timeline = call("GET", f"/organizations/{org['id']}/timeline", 200)["items"]
    assert timeline[0]["interaction_id"] == interaction["id"] and timeline[0]["plugin"] == "crm"

    competence = call("POST", "/competences", 201, json={"name": "Injection moulding", "category": "Plastics"})
    given = call("POST", f"/organizations/{org['id']}/competences", 201,
                 json={"competence_id": competence["id"], "kind": "needs"})
    assert given == {"competence": competence, "kind": "needs"}
    call("POST", f"/organizations/{org['id']}/competences", 200, json={"competence_id": competence["id"], "kind": "needs"})
    call("POST", f"/organizations/{other.id}/competences", 201, json={"competence_id": competence["id"], "kind": "has"})
    call("POST", f"/organizations/{org['id']}/competences", 201, json={"name": "Tooling", "kind": "has"})
    usage = {c["name"]: c for c in call("GET", "/competences", 200)["items"]}
    assert usage["Injection moulding"]["organizations_needing"] == 1
    matches = call("GET", f"/organizations/{org['id']}/matching", 200)["items"]
    assert matches[0]["organization"] == {"id": other.id, "name": "Other Moulders SARL"}
    assert matches[0]["last_contact"] is None  # the note was deleted
    details = call("GET", f"/organizations/{org['id']}", 200)
    assert [p["id"] for p in details["persons"]] == [person["id"]] and details["memberships"][0]["fee_tier"] == "SME"
    assert [c["name"] for c in details["needs"]] == ["Injection moulding"]
    assert [c["name"] for c in details["competences"]] == ["Tooling"]
    call("DELETE", f"/organizations/{org['id']}/competences/{competence['id']}/needs", 204)

    segment = call("POST", "/segments", 201, json={"name": "Members", "filters": {"membership": "member"}})
    assert segment["created_at"].endswith("+00:00")
    assert [s["id"] for s in call("GET", "/segments", 200)["items"]] == [segment["id"]]
    assert call("GET", f"/segments/{segment['id']}/persons", 200)["items"] == [person["id"]]
    call("DELETE", f"/segments/{segment['id']}", 204)

    exported = call("GET", f"/persons/{person['id']}/export", 200)
    assert exported["scope"] == "cluster" and exported["interactions"][0]["cluster"] == "alpha"
    assert exported["created_at"].endswith("+00:00") and exported["organizations"][0]["organization"] == "Acme"
    everything = call("GET", f"/persons/{person['id']}/subject-access", 200, who="fed", prefix="/api/v1/crm")
    assert everything["scope"] == "federation"
    erased = call("POST", f"/persons/{person['id']}/erase", 200)
    assert erased["erased"] is True and erased["email"] is None

    check = call("POST", "/import", 202, content_type="multipart/form-data", data={
        "kind": "organizations", "on_duplicate": "update",
        "file": (io.BytesIO(b"legal_name,siren\nImported SAS,552100554\n"), "orgs.csv")})
    assert check["dry_run"] is True and check["report"]["ok"] is True  # the tests run jobs at once
    assert call("GET", f"/import/{check['job_id']}", 200)["report"]["rows"] == 1
    first = call("POST", f"/import/{check['job_id']}/run", 202)
    assert first["dry_run"] is False and first["report"]["written"] is True
    assert call("POST", f"/import/{check['job_id']}/run", 200)["job_id"] == first["job_id"]

    lonely = call("POST", "/organizations", 201, json={"legal_name": "Short-lived SARL"})
    call("DELETE", f"/organizations/{lonely['id']}", 204)

    assert called == _crm_operations(app), f"not called: {sorted(_crm_operations(app) - called)}"


def test_a_crm_answer_that_does_not_match_its_model_is_caught(app, api, crm, monkeypatch):
    """The check is against the operation's declared model: a wrong body of a real operation
    is reported (and the app fixture fails the test on any report left)."""
    from plugins.crm import http_api

    org = crm.organization("Checked SA")
    db.session.commit()
    assert api.get(f"/organizations/{org.id}").status_code == 200
    assert app.extensions.get("grappe.response_problems", []) == []
    real = http_api.serialize
    monkeypatch.setattr(http_api, "serialize", lambda model, obj, **extra: {**real(model, obj, **extra), "colour": "red"})
    assert api.patch(f"/organizations/{org.id}", json={"city": "Lyon"}).status_code == 200
    monkeypatch.setattr(http_api, "serialize", lambda model, obj, **extra: {**real(model, obj, **extra), "id": "one"})
    assert api.get(f"/organizations/{org.id}").status_code == 200
    problems = app.extensions["grappe.response_problems"]
    assert len(problems) == 2, problems
    assert "crm_api.organization_update" in problems[0] and "'colour' was unexpected" in problems[0]
    assert "crm_api.organization 200: at id" in problems[1] and "'one' is not of type 'integer'" in problems[1]
    problems.clear()  # this test's own bad responses: the app fixture fails on any left
