"""The events API answers what the OpenAPI document says: every operation, its statuses and bodies."""

from __future__ import annotations

from core import db
from core.auth import new_api_token
from plugins.crm import api as crm


def _events_operations(app) -> set[tuple[str, str]]:
    return {(op.endpoint, method) for op in app.blueprints["events_api"].operations for method in op.methods}


def test_every_events_operation_answers_what_the_document_describes(app, factory, cluster, ev, outbox):
    """Each operation of the events API is called once (or more) with real records, as an
    admin: each answer has a status the document gives (the conflicts and bad queries too),
    a schema for it (or none: a 204), and matches that schema."""
    from core.api import openapi_document, response_problem
    from plugins.crm.models import Competence

    token = new_api_token(factory.user("admin@example.org", "admin", cluster))
    topic = Competence(name="Injection moulding", key="injection moulding")
    db.session.add(topic)
    db.session.commit()
    client = app.test_client()
    doc = openapi_document(app)
    documented = {(op["operationId"].rpartition(".")[0], verb.upper()): op
                  for item in doc["paths"].values() for verb, op in item.items()}
    adapter = app.url_map.bind("localhost")
    called: set[tuple[str, str]] = set()

    def call(method, path, status, **kwargs):
        url = "/api/v1/alpha/events" + path
        r = client.open(url, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)
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

    # -- events
    event = call("POST", "/events", 201, json={
        "title": "Plastics day", "kind": "conference", "starts_at": "2031-03-04T09:00", "ends_at": "2031-03-04T17:00",
        "venue": "Lyon", "capacity": 1, "member_price": "10", "non_member_price": 25.5,
        "registration_deadline": "2031-03-01T18:00", "topic_ids": [topic.id]})
    eid = event["id"]
    assert event["starts_at"] == "2031-03-04T08:00:00+00:00" and event["registration_deadline"].endswith("+00:00")
    assert (event["member_price"], event["non_member_price"]) == ("10.00", "25.50")
    assert event["counts"] == {} and (event["seats_taken"], event["seats_left"]) == (0, 1)
    assert event["topic_ids"] == [topic.id] and event["status"] == "draft" and event["currency"] == "EUR"
    assert event["public_url"].endswith(f"/alpha/events/public/{eid}") and event["ics_url"].endswith(".ics")
    assert call("PATCH", f"/events/{eid}", 200, json={"venue": "Oyonnax"})["venue"] == "Oyonnax"
    assert call("POST", f"/events/{eid}/status", 200, json={"status": "open"})["status"] == "open"
    call("POST", f"/events/{eid}/status", 409, json={"status": "draft"})
    listed = call("GET", "/events?period=all", 200)
    assert listed["total"] == 1 and listed["items"][0]["id"] == eid
    call("GET", "/events?status=bogus", 400)

    # -- registrations
    member = ev.person(first_name="Claire", last_name="Martin", organization="Member Corp")
    ev.membership(crm.get_person(member).organization_id)
    guest, other, invited = ev.persons(3, organization="Guest Co")
    first = call("POST", f"/events/{eid}/registrations", 201, json={"person_id": member, "no_mail": True})
    assert first["status"] == "registered" and first["member_price"] is True and first["price"] == "10.00"
    assert first["person_name"] == "Claire Martin" and first["organization_name"] == "Member Corp"
    assert first["registered_at"].endswith("+00:00") and first["cancelled_at"] is None
    again = call("POST", f"/events/{eid}/registrations", 200, json={"person_id": member})
    assert again == first  # registered already: nothing changes
    waiting = call("POST", f"/events/{eid}/registrations", 201, json={"person_id": guest, "no_mail": True})
    assert waiting["status"] == "waitlisted" and waiting["price"] == "25.50" and waiting["member_price"] is False
    bulk = call("POST", f"/events/{eid}/registrations/bulk", 200, json={"person_ids": [member, other], "no_mail": True})
    assert (bulk["registered"], bulk["waitlisted"], bulk["unchanged"]) == (0, 1, 1)
    assert bulk["items"][0] == {"registration_id": first["id"], "person_id": member, "status": "registered",
                                "previous": "registered", "changed": False}
    assert bulk["items"][1]["previous"] is None and bulk["items"][1]["status"] == "waitlisted"
    assert call("GET", f"/events/{eid}/registrations?status=waitlisted", 200)["total"] == 2
    call("GET", f"/events/{eid}/registrations?status=lost", 400)
    assert call("GET", f"/registrations/{first['id']}", 200) == first
    changed = call("POST", f"/registrations/{first['id']}/status", 200, json={"status": "cancelled", "no_mail": True})
    assert changed["status"] == "cancelled" and changed["cancelled_at"].endswith("+00:00")
    assert changed["promoted"] == [waiting["id"]]
    call("POST", f"/registrations/{first['id']}/status", 409, json={"status": "attended"})
    assert call("GET", f"/events/{eid}", 200)["counts"] == {"cancelled": 1, "registered": 1, "waitlisted": 1}

    job = call("POST", f"/events/{eid}/invitations", 202, json={"person_ids": [invited]})
    assert job["job_url"].endswith(f"/api/v1/alpha/core/jobs/{job['job_id']}")

    # -- reports
    report = call("GET", f"/events/{eid}/report", 200)
    assert report["revenue_expected"] == "25.50" and report["attendance_rate"] is None
    assert report["counts"]["invited"] == 1 and report["registrations"] == 1
    year = call("GET", "/reports/2031", 200)
    assert year["events"] == 1 and year["by_month"][2]["events"] == 1 and len(year["by_month"]) == 12
    assert year["top_events"] == [{"id": eid, "title": "Plastics day", "starts_at": "2031-03-04T08:00:00+00:00",
                                   "participants": 1}]
    call("GET", "/reports/12", 400)

    # -- deleting
    call("DELETE", f"/events/{eid}", 409)  # it has registrations
    empty = call("POST", "/events", 201, json={"title": "Short-lived", "starts_at": "2031-05-04T09:00",
                                                "ends_at": "2031-05-04T10:00", "venue": "Lyon"})
    call("DELETE", f"/events/{empty['id']}", 204)

    assert called == _events_operations(app), f"not called: {sorted(_events_operations(app) - called)}"



def test_an_events_answer_that_does_not_match_its_model_is_caught(app, factory, cluster, ev, monkeypatch):
    """The check is against the operation's declared model: a wrong body of a real operation
    is reported (and the app fixture fails the test on any report left)."""
    from plugins.events import http_api

    token = new_api_token(factory.user("staff2@example.org", "staff", cluster))
    event = ev.event()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/alpha/events/events/{event.id}"
    assert client.get(url, headers=headers).status_code == 200
    assert app.extensions.get("grappe.response_problems", []) == []
    real = http_api.serialize
    monkeypatch.setattr(http_api, "serialize",
                        lambda model, obj, **extra: {**real(model, obj, **extra), "colour": "red"})
    assert client.get(url, headers=headers).status_code == 200
    monkeypatch.setattr(http_api, "serialize",
                        lambda model, obj, **extra: {**real(model, obj, **extra), "seats_left": "many"})
    assert client.get(f"{url}/report", headers=headers).status_code == 200  # a report has no seats_left
    assert client.get(url, headers=headers).status_code == 200
    problems = app.extensions["grappe.response_problems"]
    assert len(problems) == 3, problems
    assert "events_api.api_event 200" in problems[0] and "'colour' was unexpected" in problems[0]
    assert "events_api.api_event_report 200" in problems[1] and "'seats_left' was unexpected" in problems[1]
    assert "events_api.api_event 200: at seats_left" in problems[2] and "'many' is not valid" in problems[2]
    problems.clear()  # this test's own bad responses: the app fixture fails on any left
