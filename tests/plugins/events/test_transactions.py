"""One transaction per request: a request that fails writes nothing, and the mails about what a
request writes are queued when it commits (a rolled-back request mails nobody)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import db
from core.models import Job
from plugins.crm import api as crm
from plugins.events import registrations
from plugins.events.errors import EventsError
from plugins.events.models import Registration

from .conftest import acting_as, statuses
from .test_public import FORM, link_in, path_of


def committed(table) -> int:
    """Rows of ``table`` as other connections see them (committed), whatever the test's session holds."""
    with db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def n_jobs() -> int:
    return committed(Job.__table__)


def test_a_refused_public_confirmation_writes_nothing_not_even_the_crm_person(app, cluster, ev, outbox, monkeypatch):
    """The person is matched or created, the seat taken (flushed), then the registration is refused:
    the page answers 409 and the request rolls all of it back."""
    event = ev.event("Composite day", capacity=10)
    client = app.test_client()
    client.post(f"/alpha/events/public/{event.id}", data=FORM)
    url = path_of(link_in(outbox.mails("confirm")[0], "/public/confirm/"))
    jobs_before = n_jobs()
    real_register = registrations.register
    flushed = []

    def register_then_refuse(event_id, person_id, **kwargs):
        real_register(event_id, person_id, **kwargs)
        flushed.append(db.session.execute(select(func.count()).select_from(Registration)).scalar_one())
        raise EventsError("Refused after the writes.")

    monkeypatch.setattr(registrations, "register", register_then_refuse)
    r = client.post(url)
    assert r.status_code == 409 and "Refused after the writes." in r.get_data(as_text=True)
    assert flushed == [1]  # the registration was written in the request's transaction...
    assert statuses(event.id) == {} and crm.search_persons("fontaine", 5) == []  # ...and rolled back with the person
    assert committed(Registration.__table__) == 0
    assert n_jobs() == jobs_before and outbox.mails("confirmation") == []  # and nobody was mailed
    monkeypatch.undo()
    assert client.post(url).status_code == 200  # the same link works once nothing refuses it
    assert statuses(event.id) == {"registered": 1} and len(outbox.mails("confirmation")) == 1


def test_a_request_that_fails_after_registering_writes_and_mails_nothing(app, cluster, staff_client, ev, outbox,
                                                                          monkeypatch):
    event = ev.event(capacity=5)
    pid = ev.person("Anna", "Lindqvist", email="anna@example.org")
    from plugins.events import views

    def broken_flash(*args, **kwargs):  # the page breaks after the registration was recorded (flushed)
        raise RuntimeError("the page broke")

    monkeypatch.setattr(views, "flash", broken_flash)
    assert staff_client.post(f"/alpha/events/{event.id}/register", data={"person_id": pid}).status_code == 500
    assert statuses(event.id) == {} and committed(Registration.__table__) == 0
    assert n_jobs() == 0 and outbox.mails() == []
    monkeypatch.undo()
    assert staff_client.post(f"/alpha/events/{event.id}/register", data={"person_id": pid}).status_code == 302
    assert statuses(event.id) == {"registered": 1}
    assert [m["To"] for m in outbox.mails("confirmation")] == ["Anna Lindqvist <anna@example.org>"]


def test_an_answer_of_400_or_more_rolls_the_request_back(app, cluster, staff_client, ev, monkeypatch):
    """A view that answers an error after an operation wrote: nothing of it stays (nor its audit entries)."""
    from flask import abort

    from core.models import AuditEntry
    from plugins.events import services

    event = ev.event(capacity=5, title="Before")
    real_save = services.save_event

    def save_then_fail(event, form):
        real_save(event, form)
        abort(418)  # after the change was flushed (and its audit entry added)

    monkeypatch.setattr(services, "save_event", save_then_fail)
    form = {"title": "After", "kind": "workshop", "starts_at": "2026-12-03T09:00", "ends_at": "2026-12-03T12:30",
            "venue": "Lyon", "capacity": "9", "member_price": "0", "non_member_price": "0"}
    audits_before = committed(AuditEntry.__table__)
    assert staff_client.post(f"/alpha/events/{event.id}/edit", data=form).status_code == 418
    db.session.expire_all()
    assert (event.title, event.capacity) == ("Before", 5)
    assert committed(AuditEntry.__table__) == audits_before


def test_a_registrations_confirmation_is_queued_when_the_transaction_commits(app, cluster, ev, outbox):
    event = ev.event()
    pid = ev.person(email="later@example.org")
    with db.for_cluster(cluster.id):
        out = registrations.register(event.id, pid)
        assert out.status == "registered"
        # recorded (flushed), not committed: no job yet, no mail
        assert n_jobs() == 0 and outbox.mails() == []
    db.session.commit()
    assert n_jobs() == 1
    (mail,) = outbox.mails("confirmation")
    assert "later@example.org" in mail["To"]


def test_a_rolled_back_registration_queues_no_mail(app, cluster, ev, outbox):
    event = ev.event(capacity=1)
    first, second = ev.persons(2)
    with acting_as(cluster):
        registrations.register(event.id, first, notify=False)
    with db.for_cluster(cluster.id):
        registrations.register(event.id, second)  # waitlisted: a waitlist mail, once committed
        registrations.cancel(db.session.execute(
            select(Registration.id).where(Registration.person_id == first)).scalar_one())  # cancellation, promotion
    db.session.rollback()
    db.session.commit()  # a later commit does not send what was rolled back
    assert n_jobs() == 0 and outbox.mails() == []
    assert statuses(event.id) == {"registered": 1}


def test_an_operation_refused_midway_leaves_nothing_behind(app, cluster, ev):
    """``register_many`` refuses the whole list for one unknown person: nothing of it is written,
    and the request's other work stands or falls with the request."""
    event = ev.event(capacity=3)
    a, b = ev.persons(2)
    with pytest.raises(EventsError):
        with acting_as(cluster):
            registrations.register(event.id, a, notify=False)  # written in this transaction...
            registrations.register_many(event.id, [b, 999999], notify=False)
    assert statuses(event.id) == {}  # ...and rolled back with it
    assert committed(Registration.__table__) == 0
