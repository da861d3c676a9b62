"""The CRM's JSON API: same validation as the pages, field errors, per-cluster rules."""

from __future__ import annotations

from sqlalchemy import func, select

from core import db
from core import new_api_token
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
