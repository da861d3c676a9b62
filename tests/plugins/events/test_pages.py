"""Back-office pages: event form and list, event page, staff registration, status buttons."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core import db, utcnow
from plugins.events import registrations
from plugins.events.models import Event, Registration

from .conftest import acting_as, statuses

GOOD = {
    "title": "Injection moulding day",
    "kind": "workshop",
    "starts_at": "2026-12-03T09:00",
    "ends_at": "2026-12-03T12:30",
    "venue": "12 rue de la Plasturgie, Lyon",
    "capacity": "30",
    "member_price": "40",
    "non_member_price": "90.50",
    "description": "Hands-on session.",
}

PARIS = ZoneInfo("Europe/Paris")  # the test cluster's time zone


def count_events() -> int:
    return db.session.execute(select(func.count()).select_from(Event)).scalar_one()


def test_create_event_in_the_cluster_time_zone(app, cluster, staff_client):
    r = staff_client.post("/alpha/events/new", data=GOOD)
    assert r.status_code == 302, r.get_data(as_text=True)
    event = db.session.execute(select(Event)).scalar_one()
    assert event.status == "draft" and event.cluster_id == cluster.id
    # 09:00 in Paris in December is 08:00 UTC
    assert event.starts_at == datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)
    assert event.ends_at == datetime(2026, 12, 3, 11, 30, tzinfo=timezone.utc)
    assert (event.member_price, event.non_member_price, event.capacity) == (Decimal("40.00"), Decimal("90.50"), 30)
    page = staff_client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Injection moulding day" in page and "9:00" in page and "Europe/Paris" in page
    # the edit form shows local times again
    form = staff_client.get(f"/alpha/events/{event.id}/edit").get_data(as_text=True)
    assert 'value="2026-12-03T09:00"' in form


@pytest.mark.parametrize("change, field, message", [
    ({"title": ""}, "title", "This field is required"),
    ({"title": "x" * 201}, "title", "longer than 200"),
    ({"ends_at": "2026-12-03T08:00"}, "ends_at", "end must come after"),
    ({"starts_at": "03/12/2026 9h"}, "starts_at", "Not a valid date"),
    ({"starts_at": ""}, "starts_at", "required"),
    ({"member_price": "-5"}, "member_price", "between 0 and"),
    ({"member_price": "abc"}, "member_price", "Not a valid decimal"),
    ({"capacity": "0"}, "capacity", "between 1 and"),
    ({"capacity": "ten"}, "capacity", "Not a valid integer"),
    ({"kind": "party"}, "kind", "Not a valid choice"),
    ({"online_url": "not a url"}, "online_url", "Not a valid web address"),
    ({"venue": "", "online_url": ""}, "venue", "venue address or an online link"),
    ({"registration_deadline": "2026-12-04T10:00"}, "registration_deadline", "must not come after the end"),
    ({"topic_ids": "999999"}, "topic_ids", "not a valid choice"),
    ({"organizer_id": "999999"}, "organizer_id", "Not a valid choice"),
])
def test_event_form_bad_input(app, cluster, staff_client, change, field, message):
    r = staff_client.post("/alpha/events/new", data={**GOOD, **change})
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert f'id="{field}-error"' in body and message.lower() in body.lower()
    assert count_events() == 0


def test_edit_event_and_capacity_increase_promotes(app, cluster, staff_client, ev, outbox):
    event = ev.event(capacity=1)
    with acting_as(cluster):
        ids = [registrations.register(event.id, pid, notify=False).registration_id for pid in ev.persons(3)]
    form = {**GOOD, "title": "Renamed", "capacity": "2",
            "starts_at": event.starts_at.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (event.ends_at + timedelta(days=1)).astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")}
    r = staff_client.post(f"/alpha/events/{event.id}/edit", data=form)
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Event, event.id).title == "Renamed"
    assert statuses(event.id) == {"registered": 2, "waitlisted": 1}
    assert db.session.get(Registration, ids[1]).status == "registered"
    promotions = outbox.mails("promotion")
    assert len(promotions) == 1 and "Person001" in promotions[0]["To"]


def test_event_list_filters_and_counts(app, cluster, staff_client, ev):
    soon = ev.event("Robotics breakfast", capacity=10)
    later = ev.event("Composite materials", starts_at=utcnow() + timedelta(days=40), kind="conference")
    past = ev.event("Old fair", starts_at=utcnow() - timedelta(days=40), status="done")
    for pid in ev.persons(3):
        with acting_as(cluster):
            registrations.register(soon.id, pid, notify=False)
    page = staff_client.get("/alpha/events/").get_data(as_text=True)
    assert "Robotics breakfast" in page and "Composite materials" in page and "Old fair" not in page
    assert "3 / 10" in page
    assert page.index("Robotics breakfast") < page.index("Composite materials")
    page = staff_client.get("/alpha/events/?period=past").get_data(as_text=True)
    assert "Old fair" in page and "Robotics" not in page
    page = staff_client.get("/alpha/events/?q=composite").get_data(as_text=True)
    assert "Composite materials" in page and "Robotics" not in page
    page = staff_client.get("/alpha/events/?period=all&sort=-title").get_data(as_text=True)
    assert page.index("Robotics") < page.index("Old fair") < page.index("Composite")
    assert later.id and past.id


@pytest.mark.parametrize("query", ["status=bogus", "kind=party", "year=abc", "period=someday", "page=x",
                                   "sort=evil", "q=%25%5F%27%22", "year=99999999999999999999"])
def test_event_list_bad_filters_are_not_errors(app, cluster, staff_client, query):
    r = staff_client.get(f"/alpha/events/?{query}")
    assert r.status_code in (200, 400)


def test_event_page_lists_registrations_with_crm_names(app, cluster, staff_client, ev):
    event = ev.event(capacity=1, member_price="10", non_member_price="20")
    a = ev.person("Zoé", "Durand", organization="Plastiques Durand")
    b = ev.person("Marc", "Petit", organization="Petit SARL")
    with acting_as(cluster):
        registrations.register(event.id, a, notify=False)
        registrations.register(event.id, b, notify=False)
    page = staff_client.get(f"/alpha/events/{event.id}").get_data(as_text=True)
    assert "Zoé Durand" in page and "Plastiques Durand" in page and "Marc Petit" in page
    assert "Waitlisted" in page and "1 / 1" in page
    page = staff_client.get(f"/alpha/events/{event.id}?q=zoe").get_data(as_text=True)
    assert "Zoé Durand" in page and "Marc Petit" not in page
    page = staff_client.get(f"/alpha/events/{event.id}?status=waitlisted").get_data(as_text=True)
    assert "Marc Petit" in page and "Zoé Durand" not in page
    assert staff_client.get(f"/alpha/events/{event.id}?status=nope").status_code == 400


def test_event_status_buttons(app, cluster, staff_client, ev, outbox):
    event = ev.event(status="draft")
    r = staff_client.post(f"/alpha/events/{event.id}/status", data={"status": "open"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Event, event.id).status == "open"
    r = staff_client.post(f"/alpha/events/{event.id}/status", data={"status": "draft"}, follow_redirects=True)
    assert "cannot go from" in r.get_data(as_text=True)
    r = staff_client.post(f"/alpha/events/{event.id}/status", data={"status": "bogus"})
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(Event, event.id).status == "open"
    pid = ev.person(email="zoe@example.org")
    with acting_as(cluster):
        registrations.register(event.id, pid, notify=False)
    r = staff_client.post(f"/alpha/events/{event.id}/status", data={"status": "cancelled"})
    assert r.status_code == 302
    mails = outbox.mails("event_cancelled")
    assert len(mails) == 1 and "zoe@example.org" in mails[0]["To"]


def test_staff_registers_a_person(app, cluster, staff_client, ev, outbox):
    event = ev.event(capacity=1)
    a = ev.person("Anna", "Lindqvist", email="anna@example.org")
    b = ev.person("Bruno", "Costa", email="bruno@example.org")
    page = staff_client.get(f"/alpha/events/{event.id}/register?q=lindqvist").get_data(as_text=True)
    assert "Anna Lindqvist" in page and "Bruno" not in page
    r = staff_client.post(f"/alpha/events/{event.id}/register", data={"person_id": a})
    assert r.status_code == 302
    r = staff_client.post(f"/alpha/events/{event.id}/register", data={"person_id": b, "no_mail": "y"})
    assert r.status_code == 302
    assert statuses(event.id) == {"registered": 1, "waitlisted": 1}
    assert [m["To"] for m in outbox.mails("confirmation")] == ["Anna Lindqvist <anna@example.org>"]
    assert outbox.mails("waitlist") == []


@pytest.mark.parametrize("data, status", [
    ({}, 400), ({"person_id": "abc"}, 400), ({"person_id": "999999"}, 400), ({"person_id": "-1"}, 400),
    ({"person_id": "{p}", "organization_id": "999999"}, 400),
])
def test_staff_registration_bad_input(app, cluster, staff_client, ev, data, status):
    event = ev.event()
    pid = ev.person()
    data = {k: v.format(p=pid) for k, v in data.items()}
    r = staff_client.post(f"/alpha/events/{event.id}/register", data=data)
    assert r.status_code == status
    assert statuses(event.id) == {}


def test_staff_cannot_register_to_a_cancelled_event(app, cluster, staff_client, ev):
    event = ev.event(status="cancelled")
    r = staff_client.post(f"/alpha/events/{event.id}/register", data={"person_id": ev.person()})
    assert r.status_code == 409 and "registrations are closed" in r.get_data(as_text=True)
    assert statuses(event.id) == {}


def test_cancel_button_promotes_the_next(app, cluster, staff_client, ev, outbox):
    event = ev.event(capacity=1)
    with acting_as(cluster):
        first, second = (registrations.register(event.id, pid, notify=False) for pid in ev.persons(2))
    r = staff_client.post(f"/alpha/registrations/{first.registration_id}/status",
                          data={"status": "cancelled", "next": f"/alpha/events/{event.id}"})
    assert r.status_code == 404  # the URL is under /events/
    r = staff_client.post(f"/alpha/events/registrations/{first.registration_id}/status",
                          data={"status": "cancelled", "next": "https://evil.example/"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/alpha/events/{event.id}")
    assert statuses(event.id) == {"cancelled": 1, "registered": 1}
    assert len(outbox.mails("cancellation")) == 1 and len(outbox.mails("promotion")) == 1
    r = staff_client.post(f"/alpha/events/registrations/{first.registration_id}/status", data={"status": "attended"})
    assert r.status_code == 303
    r = staff_client.post(f"/alpha/events/registrations/{second.registration_id}/status", data={"status": "zzz"})
    assert r.status_code == 303
    assert statuses(event.id) == {"cancelled": 1, "registered": 1}


def test_viewer_reads_but_cannot_write(app, cluster, viewer, ev):
    client = app.test_client(user=viewer)
    event = ev.event()
    assert client.get("/alpha/events/").status_code == 200
    assert client.get(f"/alpha/events/{event.id}").status_code == 200
    assert client.get("/alpha/events/new").status_code == 403
    assert client.post("/alpha/events/new", data=GOOD).status_code == 403
    assert client.post(f"/alpha/events/{event.id}/register", data={"person_id": ev.person()}).status_code == 403
    assert count_events() == 1 and statuses(event.id) == {}


def test_other_clusters_events_answer_404(app, cluster, other_cluster, staff_client, ev):
    theirs = ev.event(cluster=other_cluster)
    assert staff_client.get(f"/alpha/events/{theirs.id}").status_code == 404
    assert staff_client.post(f"/alpha/events/{theirs.id}/register", data={"person_id": ev.person()}).status_code == 404
    assert "Plastics day" not in staff_client.get("/alpha/events/?period=all").get_data(as_text=True)


def test_module_disabled_gives_404(app, factory, ev):
    c = factory.cluster("gamma", modules=("crm",))
    user = factory.user("g@example.org", "staff", c)
    assert app.test_client(user=user).get("/gamma/events/").status_code == 404


def test_delete_only_drafts_without_registrations(app, cluster, factory, ev):
    manager = factory.user("m@example.org", "manager", cluster)
    client = app.test_client(user=manager)
    used = ev.event(status="draft")
    db.session.add(Registration(event_id=used.id, person_id=ev.person(), cluster_id=cluster.id, status="invited"))
    db.session.commit()
    r = client.post(f"/alpha/events/{used.id}/delete", follow_redirects=True)
    assert "has registrations" in r.get_data(as_text=True)
    empty = ev.event(status="draft", title="Empty")
    assert client.post(f"/alpha/events/{empty.id}/delete").status_code == 302
    assert count_events() == 1


def test_search_and_dashboard(app, cluster, staff_client, ev):
    ev.event("Hydrogen mobility forum", capacity=80)
    page = staff_client.get("/alpha/search?q=hydrogen").get_data(as_text=True)
    assert "Hydrogen mobility forum" in page
    page = staff_client.get("/alpha/").get_data(as_text=True)
    assert "Upcoming events" in page and "Hydrogen mobility forum" in page and "0/80" in page


def test_registrations_page(app, cluster, staff_client, ev):
    event = ev.event()
    with acting_as(cluster):
        registrations.register(event.id, ev.person("Ines", "Moreau"), notify=False)
    r = staff_client.get(f"/alpha/events/{event.id}/registrations")
    assert r.status_code == 200 and "Ines Moreau" in r.get_data(as_text=True)
    assert staff_client.get(f"/alpha/events/{event.id}/registrations?page=2").status_code == 200
    assert staff_client.get("/alpha/events/999999/registrations").status_code == 404


def test_title_search_treats_wildcards_as_text(app, cluster, staff_client, ev):
    ev.event("Plastics 100% recycled")
    ev.event("Other day")
    page = staff_client.get("/alpha/events/?q=100%25").get_data(as_text=True)
    assert "Plastics 100% recycled" in page and "Other day" not in page
    page = staff_client.get("/alpha/events/?q=%25").get_data(as_text=True)
    assert "Other day" not in page
    assert "Other day" not in staff_client.get("/alpha/search?q=_").get_data(as_text=True)


@pytest.mark.parametrize("target", ["/\\evil.example/", "/\t/evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_a_status_change_never_redirects_off_site(app, cluster, staff_client, ev, target):
    event = ev.event(capacity=5)
    with acting_as(cluster):
        reg = registrations.register(event.id, ev.person(), notify=False)
    r = staff_client.post(f"/alpha/events/registrations/{reg.registration_id}/status",
                          data={"status": "attended", "next": target})
    assert r.status_code in (302, 303)
    assert r.headers["Location"].endswith(f"/alpha/events/{event.id}"), r.headers["Location"]
