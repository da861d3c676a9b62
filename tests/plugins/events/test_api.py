"""The JSON API: events, registrations, statuses; bad input gives 4xx and writes nothing."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core import db, utcnow
from core.auth import new_api_token
from plugins.events import registrations
from plugins.events.models import Event

from .conftest import acting_as, statuses

EVENT = {
    "title": "Lean management workshop",
    "kind": "workshop",
    "starts_at": "2026-06-10T14:00",
    "ends_at": "2026-06-10T17:00",
    "venue": "Technopole, Linz",
    "capacity": 2,
    "member_price": 0,
    "non_member_price": "25.00",
}


@pytest.fixture
def token(staff):
    value = new_api_token(staff)
    db.session.commit()
    return value


@pytest.fixture
def api(app, token):
    client = app.test_client()

    class Api:
        def __getattr__(self, method):
            def call(path, **kwargs):
                headers = kwargs.pop("headers", {})
                headers.setdefault("Authorization", f"Bearer {token}")
                return getattr(client, method)(f"/api/v1/alpha/events{path}", headers=headers, **kwargs)
            return call

    return Api()


def n_events() -> int:
    return db.session.execute(select(func.count()).select_from(Event)).scalar_one()


def test_create_read_update_event(app, cluster, api):
    r = api.post("/events", json=EVENT)
    assert r.status_code == 201, r.json
    body = r.json
    # 14:00 in Paris in June (summer time) is 12:00 UTC
    assert body["starts_at"] == "2026-06-10T12:00:00+00:00" and body["timezone"] == "Europe/Paris"
    assert body["status"] == "draft" and body["non_member_price"] == "25.00" and body["member_price"] == "0.00"
    assert body["seats_left"] == 2 and body["public_url"].endswith(f"/alpha/events/public/{body['id']}")
    event_id = body["id"]
    r = api.patch(f"/events/{event_id}", json={"title": "Lean workshop", "capacity": 3})
    assert r.status_code == 200, r.json
    assert r.json["title"] == "Lean workshop" and r.json["capacity"] == 3
    assert r.json["starts_at"] == "2026-06-10T12:00:00+00:00"  # untouched fields keep their values
    assert r.json["non_member_price"] == "25.00" and r.json["venue"] == "Technopole, Linz"
    # an offset given explicitly is honoured
    r = api.patch(f"/events/{event_id}", json={"starts_at": "2026-06-10T11:00:00Z"})
    assert r.status_code == 200 and r.json["starts_at"] == "2026-06-10T11:00:00+00:00"
    assert api.get(f"/events/{event_id}").json["title"] == "Lean workshop"
    assert api.get("/events/999999").status_code == 404


@pytest.mark.parametrize("change, field", [
    ({"title": ""}, "title"), ({"title": None}, "title"), ({"ends_at": "2026-06-10T13:00"}, "ends_at"),
    ({"starts_at": "tomorrow"}, "starts_at"), ({"capacity": -1}, "capacity"), ({"capacity": 1.5}, "capacity"),
    ({"capacity": "many"}, "capacity"), ({"member_price": "free"}, "member_price"), ({"kind": "party"}, "kind"),
    ({"colour": "red"}, "colour"), ({"title": {"en": "x"}}, "title"), ({"topic_ids": [999999]}, "topic_ids"),
    ({"venue": "", "online_url": None}, "venue"), ({"online_url": "javascript:alert(1)"}, "online_url"),
])
def test_create_event_bad_input(app, cluster, api, change, field):
    body = {**EVENT, **change}
    body = {k: v for k, v in body.items() if v is not None or k in change}
    r = api.post("/events", json=body)
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]
    assert n_events() == 0


@pytest.mark.parametrize("payload, kwargs", [
    (None, {"data": "not json", "content_type": "text/plain"}),
    (None, {"json": [1, 2]}),
    (None, {"data": "{broken", "content_type": "application/json"}),
])
def test_create_event_bad_bodies(app, cluster, api, payload, kwargs):
    r = api.post("/events", **kwargs)
    assert r.status_code == 400 and "errors" in r.json
    assert n_events() == 0


def test_list_events_with_counts_and_filters(app, cluster, api, ev):
    a = ev.event("Alpha event", capacity=5)
    ev.event("Beta event", starts_at=utcnow() + timedelta(days=50))
    ev.event("Gamma past", starts_at=utcnow() - timedelta(days=50), status="done")
    with acting_as(cluster):
        registrations.register(a.id, ev.person(), notify=False)
    r = api.get("/events")
    assert r.status_code == 200
    assert [e["title"] for e in r.json["items"]] == ["Alpha event", "Beta event"] and r.json["total"] == 2
    assert r.json["items"][0]["counts"] == {"registered": 1} and r.json["items"][0]["seats_left"] == 4
    assert [e["title"] for e in api.get("/events?period=past").json["items"]] == ["Gamma past"]
    assert api.get("/events?period=all&limit=1&offset=1").json["items"][0]["title"] == "Alpha event"
    assert api.get("/events?status=bogus").status_code == 400
    assert api.get("/events?limit=-3").status_code == 400


def test_register_and_change_status(app, cluster, api, ev, outbox):
    event = ev.event(capacity=1, member_price="10", non_member_price="20")
    a, b = ev.persons(2)
    r = api.post(f"/events/{event.id}/registrations", json={"person_id": a})
    assert r.status_code == 201 and r.json["status"] == "registered" and r.json["price"] == "20.00"
    first = r.json["id"]
    r = api.post(f"/events/{event.id}/registrations", json={"person_id": b, "no_mail": True})
    assert r.status_code == 201 and r.json["status"] == "waitlisted"
    second = r.json["id"]
    r = api.post(f"/events/{event.id}/registrations", json={"person_id": a})
    assert r.status_code == 200 and r.json["id"] == first  # already registered: nothing changes
    r = api.get(f"/events/{event.id}/registrations?status=waitlisted")
    assert [x["person_id"] for x in r.json["items"]] == [b] and r.json["items"][0]["person_name"] == "P1 Person001"
    r = api.post(f"/registrations/{first}/status", json={"status": "cancelled"})
    assert r.status_code == 200 and r.json["status"] == "cancelled" and r.json["promoted"] == [second]
    assert api.get(f"/registrations/{second}").json["status"] == "registered"
    r = api.post(f"/registrations/{first}/status", json={"status": "attended"})
    assert r.status_code == 409 and "cannot go" in r.json["errors"]["status"][0]
    r = api.post(f"/registrations/{first}/status", json={"status": "lost"})
    assert r.status_code == 422 and "status" in r.json["errors"]
    assert api.post("/registrations/999999/status", json={"status": "cancelled"}).status_code == 404
    assert statuses(event.id) == {"cancelled": 1, "registered": 1}
    assert len(outbox.mails("confirmation")) == 1 and len(outbox.mails("promotion")) == 1


@pytest.mark.parametrize("body, field", [
    ({}, "person_id"), ({"person_id": "x"}, "person_id"), ({"person_id": 999999}, "person_id"),
    ({"person_id": "{p}", "organization_id": 999999}, "organization_id"), ({"person_id": "{p}", "extra": 1}, "extra"),
])
def test_register_bad_input(app, cluster, api, ev, body, field):
    event = ev.event()
    pid = ev.person()
    body = {k: (int(v.format(p=pid)) if isinstance(v, str) and "{p}" in v else v) for k, v in body.items()}
    r = api.post(f"/events/{event.id}/registrations", json=body)
    assert r.status_code == 422 and field in r.json["errors"], r.json
    assert statuses(event.id) == {}


def test_register_refused_for_a_cancelled_event(app, cluster, api, ev):
    event = ev.event(status="cancelled")
    r = api.post(f"/events/{event.id}/registrations", json={"person_id": ev.person()})
    assert r.status_code == 409 and r.json["errors"]
    assert statuses(event.id) == {}


def test_event_status_and_delete(app, cluster, api, ev, factory):
    event = ev.event(status="draft")
    assert api.post(f"/events/{event.id}/status", json={"status": "open"}).json["status"] == "open"
    r = api.post(f"/events/{event.id}/status", json={"status": "draft"})
    assert r.status_code == 409 and "status" in r.json["errors"]
    assert api.post(f"/events/{event.id}/status", json={"status": "gone"}).status_code == 422
    assert api.delete(f"/events/{event.id}").status_code == 403  # staff: deleting needs a manager
    manager = factory.user("m@example.org", "manager", cluster)
    token = new_api_token(manager)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    with acting_as(cluster):
        registrations.register(event.id, ev.person(), notify=False)
    r = api.delete(f"/events/{event.id}", headers=headers)
    assert r.status_code == 409 and "registrations" in r.json["errors"]["_"][0]
    empty = ev.event(status="draft", title="Empty")
    assert api.delete(f"/events/{empty.id}", headers=headers).status_code == 204
    assert n_events() == 1


def test_viewer_token_reads_only(app, cluster, viewer, ev):
    token = new_api_token(viewer)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    event = ev.event()
    assert client.get("/api/v1/alpha/events/events", headers=headers).status_code == 200
    assert client.post("/api/v1/alpha/events/events", headers=headers, json=EVENT).status_code == 403
    r = client.post(f"/api/v1/alpha/events/events/{event.id}/registrations", headers=headers,
                    json={"person_id": ev.person()})
    assert r.status_code == 403 and statuses(event.id) == {}


def test_reports_api(app, cluster, api, ev):
    event = ev.event(member_price="10", non_member_price="30", starts_at=utcnow() - timedelta(hours=2))
    member = ev.person(organization="Member Corp")
    ev.membership(_org(member))
    for pid in [member, *ev.persons(2, organization="Other Co")]:
        with acting_as(cluster):
            registrations.register(event.id, pid, notify=False)
    r = api.get(f"/events/{event.id}/report")
    assert r.status_code == 200
    assert r.json["registrations"] == 3 and r.json["members"] == 1 and r.json["non_members"] == 2
    assert r.json["organizations"] == 2 and r.json["revenue_expected"] == "70.00"
    year = event.starts_at.astimezone(ZoneInfo("Europe/Paris")).year  # the cluster's year
    r = api.get(f"/reports/{year}")
    assert r.status_code == 200 and r.json["events"] == 1 and r.json["participants"] == 3
    assert api.get("/reports/12").status_code == 400


def _org(person_id):
    from plugins.crm import api as crm

    return crm.get_person(person_id).organization_id


def test_openapi_documents_the_events_api(app, cluster):
    doc = app.test_client().get("/api/v1/openapi.json").json
    paths = [p for p in doc["paths"] if "/events/" in p]
    assert "/api/v1/{cluster}/events/events/{event_id}/registrations" in paths
    assert "events.EventForm" in doc["components"]["schemas"]
    from openapi_spec_validator import validate

    validate(doc)
