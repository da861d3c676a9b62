"""Check-in at the door, attendee list and badges (PDF), iCalendar, reports."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from icalendar import Calendar

from core import db, utcnow
from plugins.events import registrations
from plugins.events.models import Registration

from .conftest import acting_as, statuses


@pytest.fixture
def today_event(cluster, ev):
    """An event that started an hour ago with three registered persons."""
    event = ev.event("Door test", starts_at=utcnow() - timedelta(hours=1), capacity=10)
    people = [ev.person("Ana", "Zapata", organization="Zapata SA"), ev.person("Bea", "Alonso"),
              ev.person("Ciro", "Müller", organization="Müller GmbH")]
    with acting_as(cluster):
        regs = [registrations.register(event.id, pid, notify=False).registration_id for pid in people]
    return event, regs


def test_checkin_page_search_and_tick(app, cluster, staff_client, today_event):
    event, regs = today_event
    page = staff_client.get(f"/alpha/events/{event.id}/checkin").get_data(as_text=True)
    assert '<meta name="viewport"' in page
    # by last name: Alonso, Müller, Zapata
    assert page.index("Bea Alonso") < page.index("Ciro Müller") < page.index("Ana Zapata")
    assert "0</strong> / 3" in page
    page = staff_client.get(f"/alpha/events/{event.id}/checkin?q=muller").get_data(as_text=True)
    assert "Ciro Müller" in page and "Ana Zapata" not in page  # accents aside
    r = staff_client.post(f"/alpha/events/{event.id}/checkin/{regs[2]}", data={"status": "attended", "q": "muller"})
    assert r.status_code == 302 and "q=muller" in r.headers["Location"]
    reg = db.session.get(Registration, regs[2])
    assert reg.status == "attended" and reg.attended_at is not None
    page = staff_client.get(f"/alpha/events/{event.id}/checkin").get_data(as_text=True)
    assert "1</strong> / 3" in page and "Undo" in page
    # undo
    staff_client.post(f"/alpha/events/{event.id}/checkin/{regs[2]}", data={"status": "registered"})
    db.session.expire_all()
    assert db.session.get(Registration, regs[2]).status == "registered"


def test_finishing_checkin_marks_no_shows_and_the_event_done(app, cluster, staff_client, today_event):
    event, regs = today_event
    staff_client.post(f"/alpha/events/{event.id}/checkin/{regs[0]}", data={"status": "attended"})
    r = staff_client.post(f"/alpha/events/{event.id}/checkin/finish")
    assert r.status_code == 302
    assert statuses(event.id) == {"attended": 1, "no_show": 2}
    db.session.expire_all()
    from plugins.events.models import Event

    assert db.session.get(Event, event.id).status == "done"
    # a late arrival can still be ticked
    staff_client.post(f"/alpha/events/{event.id}/checkin/{regs[1]}", data={"status": "attended"})
    assert statuses(event.id) == {"attended": 2, "no_show": 1}


def test_checkin_bad_input(app, cluster, staff_client, today_event, other_cluster, ev):
    event, regs = today_event
    for data in ({}, {"status": "cancelled"}, {"status": "waitlisted"}, {"status": "x"}):
        r = staff_client.post(f"/alpha/events/{event.id}/checkin/{regs[0]}", data=data)
        assert r.status_code == 303
    assert statuses(event.id) == {"registered": 3}
    other = ev.event("Other")
    assert staff_client.post(f"/alpha/events/{other.id}/checkin/{regs[0]}",
                             data={"status": "attended"}).status_code == 404
    assert staff_client.post(f"/alpha/events/{event.id}/checkin/999999", data={"status": "attended"}).status_code == 404
    future = ev.event("Future", starts_at=utcnow() + timedelta(days=5))
    with acting_as(cluster):
        fut_reg = registrations.register(future.id, ev.person(), notify=False).registration_id
    r = staff_client.post(f"/alpha/events/{future.id}/checkin/{fut_reg}", data={"status": "attended"},
                          follow_redirects=True)
    assert "Check-in opens the day before" in r.get_data(as_text=True)
    r = staff_client.post(f"/alpha/events/{future.id}/checkin/finish", follow_redirects=True)
    assert "not started yet" in r.get_data(as_text=True)
    assert statuses(future.id) == {"registered": 1}


def test_viewer_cannot_check_in(app, cluster, viewer, today_event):
    event, regs = today_event
    client = app.test_client(user=viewer)
    assert client.get(f"/alpha/events/{event.id}/checkin").status_code == 403
    assert client.post(f"/alpha/events/{event.id}/checkin/{regs[0]}", data={"status": "attended"}).status_code == 403


def test_attendee_list_and_badges_pdf(app, cluster, staff_client, today_event, ev):
    event, regs = today_event
    with acting_as(cluster):
        registrations.register(event.id, ev.person("Łukasz", "Żółć", organization="Zakłady Ćma"), notify=False)
    for name in ("attendees", "badges"):
        r = staff_client.get(f"/alpha/events/{event.id}/{name}.pdf")
        assert r.status_code == 200 and r.mimetype == "application/pdf"
        assert r.data.startswith(b"%PDF-") and len(r.data) > 1000
    empty = ev.event("Empty")
    assert staff_client.get(f"/alpha/events/{empty.id}/attendees.pdf").data.startswith(b"%PDF-")
    assert staff_client.get(f"/alpha/events/{empty.id}/badges.pdf").data.startswith(b"%PDF-")
    assert staff_client.get("/alpha/events/999999/badges.pdf").status_code == 404


def test_pdf_text_contains_the_names(app, cluster, staff_client, today_event, monkeypatch):
    """With the PDF core font the names stand in the page streams as text: every one is there, in order."""
    import re
    import zlib

    from plugins.events import pdf

    monkeypatch.setattr(pdf, "FONT_CANDIDATES", ())
    event, _ = today_event
    data = staff_client.get(f"/alpha/events/{event.id}/attendees.pdf").data
    text = b"".join(zlib.decompress(m.group(1)) for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S))
    names = [n.encode("latin-1") for n in ("Bea Alonso", "Ciro Müller", "Ana Zapata")]
    positions = [text.find(n) for n in names]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert b"Zapata SA" in text and b"Door test" in text
    badges = staff_client.get(f"/alpha/events/{event.id}/badges.pdf").data
    text = b"".join(zlib.decompress(m.group(1)) for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", badges, re.S))
    assert all(n in text for n in names)


def test_event_ics_parses_back(app, cluster, ev):
    starts = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)
    event = ev.event("Hydrogen day", starts_at=starts, hours=4, description="Talks; visits, and more\nLine 2",
                     online_url="https://meet.example.org/h2")
    r = app.test_client().get(f"/alpha/events/{event.id}.ics")
    assert r.status_code == 200 and r.mimetype == "text/calendar"
    cal = Calendar.from_ical(r.data)
    (vevent,) = cal.walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "Hydrogen day"
    assert vevent.decoded("DTSTART") == starts and vevent.decoded("DTEND") == starts + timedelta(hours=4)
    assert str(vevent["UID"]) == f"event-{event.id}@alpha.grappe"
    assert "Line 2" in str(vevent["DESCRIPTION"]) and str(vevent["LOCATION"]) == "Lyon"
    assert str(vevent["URL"]).endswith(f"/alpha/events/public/{event.id}")
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert str(cal["VERSION"]) == "2.0" and cal["PRODID"]


def test_cluster_feed_parses_back_and_leaves_drafts_out(app, cluster, other_cluster, ev):
    ev.event("Open one")
    ev.event("Draft one", status="draft")
    ev.event("Cancelled one", status="cancelled")
    ev.event("Theirs", cluster=other_cluster)
    ev.event("Long ago", starts_at=utcnow() - timedelta(days=800), status="done")
    r = app.test_client().get("/alpha/events/feed.ics")
    assert r.status_code == 200
    cal = Calendar.from_ical(r.data)
    events = {str(e["SUMMARY"]): str(e["STATUS"]) for e in cal.walk("VEVENT")}
    assert events == {"Open one": "CONFIRMED", "Cancelled one": "CANCELLED"}
    assert str(cal["X-WR-CALNAME"]) == "Alpha Cluster" and str(cal["X-WR-TIMEZONE"]) == "Europe/Paris"


def test_draft_ics_only_for_the_clusters_staff(app, cluster, staff_client, ev):
    draft = ev.event("Secret plan", status="draft")
    assert app.test_client().get(f"/alpha/events/{draft.id}.ics").status_code == 404
    assert staff_client.get(f"/alpha/events/{draft.id}.ics").status_code == 200


def test_event_report(app, cluster, staff_client, ev):
    event = ev.event(capacity=3, member_price="20", non_member_price="50", starts_at=utcnow() - timedelta(hours=3))
    member = ev.person(organization="Member One")
    ev.membership(_org(member))
    people = [member, *ev.persons(3, organization="Outsider")]
    with acting_as(cluster):
        regs = [registrations.register(event.id, pid, notify=False).registration_id for pid in people]
        registrations.change_status(regs[0], "attended", notify=False)
        registrations.mark_no_shows(event.id)
    from plugins.events import reports

    db.session.expire_all()
    with acting_as(cluster):
        report = reports.event_report(event)
    assert (report.registrations, report.attended, report.no_show, report.waitlisted) == (3, 1, 2, 1)
    assert (report.participants, report.members, report.non_members) == (1, 1, 0)
    assert report.attendance_rate == pytest.approx(1 / 3, abs=0.001)
    assert str(report.revenue_expected) == "120.00"  # 20 + 50 + 50: a no-show pays
    page = staff_client.get(f"/alpha/events/{event.id}/report").get_data(as_text=True)
    assert "no-shows" in page and "120.00" in page


def _org(person_id):
    from plugins.crm import api as crm

    return crm.get_person(person_id).organization_id


def test_year_report(app, cluster, staff_client, ev):
    from plugins.events import reports

    def at(month, day):
        return datetime(2025, month, day, 9, 0, tzinfo=timezone.utc)

    member_org_person = ev.person(organization="Member Co")
    ev.membership(_org(member_org_person), start=date(2020, 1, 1))
    others = ev.persons(3, organization="Guest Co")
    jan = ev.event("January talk", starts_at=at(1, 15), kind="conference", status="closed")
    mar = ev.event("March visit", starts_at=at(3, 10), kind="company_visit", status="closed")
    ev.event("Cancelled", starts_at=at(4, 1), status="cancelled")
    ev.event("Draft", starts_at=at(5, 1), status="draft")
    ev.event("Next year", starts_at=datetime(2026, 1, 1, 0, 30, tzinfo=timezone.utc), status="done")
    # 23:30 UTC on 31 December is already 2026 in Paris: not counted in 2025
    ev.event("New year's eve party", starts_at=datetime(2025, 12, 31, 23, 30, tzinfo=timezone.utc), status="done")
    for pid in [member_org_person, *others]:
        with acting_as(cluster):
            registrations.register(jan.id, pid, notify=False)
    with acting_as(cluster):
        registrations.register(mar.id, member_org_person, notify=False)
        r = reports.year_report(2025)
    assert (r.events, r.cancelled_events) == (2, 1)
    assert (r.participants, r.members, r.non_members) == (5, 2, 3)
    assert (r.persons, r.organizations, r.member_organizations) == (4, 2, 1)
    assert r.by_month[0].events == 1 and r.by_month[0].participants == 4 and r.by_month[2].participants == 1
    assert {line.key: line.events for line in r.by_kind} == {"conference": 1, "company_visit": 1}
    assert r.top_events[0]["title"] == "January talk"
    page = staff_client.get("/alpha/events/reports?year=2025").get_data(as_text=True)
    assert "companies reached" in page and "January talk" in page
    assert staff_client.get("/alpha/events/reports?year=abc").status_code == 400
    assert staff_client.get("/alpha/events/reports?year=99999").status_code == 400
    assert staff_client.get("/alpha/events/reports").status_code == 200
