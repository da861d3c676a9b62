"""Events mails: every kind in French and English, the outbox pages of the back-office, reminders.

The mail service itself (SMTP settings, the outbox, sending in jobs) is tested in tests/test_mail.py.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlalchemy import select

from core import db, outbox_list, utcnow
from core.models import Cluster, Job
from plugins.events import mail, registrations
from core.app import LANGUAGES
from plugins.events.models import Registration

from .conftest import acting_as

KINDS = ["invitation", "confirmation", "waitlist", "promotion", "cancellation", "event_cancelled", "reminder"]
SUBJECTS = {
    ("fr", "confirmation"): "Inscription confirmée",
    ("en", "confirmation"): "Registration confirmed",
    ("fr", "invitation"): "Invitation :",
    ("en", "waitlist"): "On the waitlist",
    ("fr", "reminder"): "Rappel :",
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_mail_kind_renders_in_both_languages(app, cluster, ev, outbox, kind, language):
    event = ev.event("Matériaux composites", capacity=5, member_price="30", non_member_price="60",
                     description="Visite d'usine et échanges.")
    pid = ev.person("Zoé", "Durand", language=language)
    db.session.add(Registration(event_id=event.id, person_id=pid, cluster_id=cluster.id,
                                status="waitlisted" if kind == "waitlist" else "registered",
                                registered_at=utcnow(), price=event.non_member_price))
    db.session.commit()
    reg_id = db.session.execute(select(Registration.id)).scalar_one()
    with acting_as(cluster):
        job_id = mail.queue(kind, [reg_id], after_commit=False).id
    db.session.commit()  # the job ran in its own session: look again
    job = db.session.get(Job, job_id)
    assert job.status == "done" and job.result["sent"] == 1
    (msg,) = outbox.mails(kind)
    body = msg.get_body().get_content()
    assert "Matériaux composites" in msg["Subject"] + body
    assert "Zoé" in body and "{{" not in body and "{%" not in body
    assert msg["To"] == f"Zoé Durand <{db_email(pid)}>" and "Alpha Cluster" in msg["From"]
    expected = SUBJECTS.get((language, kind))
    if expected:
        assert msg["Subject"].startswith(expected)
    if kind in ("confirmation", "reminder", "promotion", "waitlist"):
        assert "/alpha/events/public/cancel/" in body
    if kind == "invitation":
        assert "/alpha/events/public/accept/" in body
    # dates in the cluster's time zone and the person's language
    assert format_date(event.starts_at.astimezone(ZoneInfo("Europe/Paris")), "MMMM", locale=language) in body


def db_email(person_id):
    from plugins.crm import api as crm

    return crm.get_person(person_id).email


def test_confirm_request_renders_in_both_languages(app, cluster, ev):
    event = ev.event("Journée hydrogène")
    c = db.session.get(Cluster, cluster.id)
    for language, start in (("fr", "Merci de confirmer"), ("en", "Please confirm")):
        msg = mail.confirm_request_message(db.session, c, {"e": event.id, "m": "x@example.org", "f": "Ana", "l": "Lima",
                                                           "o": "", "lang": language}, "http://grappe.test/")
        assert msg["Subject"].startswith(start) and "http://grappe.test/alpha/events/public/confirm/" in msg.get_content()


def test_persons_without_address_are_skipped(app, cluster, ev, outbox):
    from plugins.crm.models import Person

    event = ev.event()
    person = Person(first_name="No", last_name="Mail")
    db.session.add(person)
    db.session.commit()
    with acting_as(cluster):
        out = registrations.register(event.id, person.id)
    assert out.status == "registered"
    assert outbox.mails() == []


def test_outbox_pages_show_only_the_clusters_mails(app, cluster, other_cluster, staff_client, ev, outbox):
    mine = ev.event("Our event")
    theirs = ev.event("Their event", cluster=other_cluster)
    with acting_as(cluster):
        registrations.register(mine.id, ev.person(email="ours@example.org"))
    with acting_as(other_cluster):
        registrations.register(theirs.id, ev.person(email="theirs@example.org"))
    page = staff_client.get("/alpha/events/outbox").get_data(as_text=True)
    assert "ours@example.org" in page and "theirs@example.org" not in page
    (entry,) = outbox_list(cluster)
    page = staff_client.get(f"/alpha/events/outbox/{entry.name}").get_data(as_text=True)
    assert "Inscription confirmée : Our event" in page  # no language of their own: the cluster's (fr)
    (their_entry,) = outbox_list(other_cluster)
    assert staff_client.get(f"/alpha/events/outbox/{their_entry.name}").status_code == 404
    for bad in ("..%2F..%2Fsecret_key", "secret_key", "x.eml", "%2Fetc%2Fpasswd"):
        assert staff_client.get(f"/alpha/events/outbox/{bad}").status_code == 404


def test_outbox_needs_staff(app, cluster, viewer):
    assert app.test_client(user=viewer).get("/alpha/events/outbox").status_code == 403


def test_reminders_go_once_to_registered_persons(app, cluster, staff_client, ev, outbox):
    event = ev.event(capacity=1, starts_at=utcnow() + timedelta(days=1))
    with acting_as(cluster):
        registrations.register(event.id, ev.person(email="in@example.org"), notify=False)
        registrations.register(event.id, ev.person(email="wait@example.org"), notify=False)
    r = staff_client.post(f"/alpha/events/{event.id}/remind")
    assert r.status_code == 302 and "/jobs/" in r.headers["Location"]
    (reminder,) = outbox.mails("reminder")
    assert "in@example.org" in reminder["To"]
    r = staff_client.post(f"/alpha/events/{event.id}/remind", follow_redirects=True)
    assert "had a reminder already" in r.get_data(as_text=True)
    assert len(outbox.mails("reminder")) == 1


def test_reminder_command_for_cron(app, cluster, ev, outbox):
    from click.testing import CliRunner

    from plugins.events.hooks import grappe_cli_commands

    soon = ev.event("Tomorrow", starts_at=utcnow() + timedelta(hours=20))
    later = ev.event("Next month", starts_at=utcnow() + timedelta(days=30))
    for event in (soon, later):
        with acting_as(cluster):
            registrations.register(event.id, ev.person(), notify=False)
    (group,) = grappe_cli_commands()
    result = CliRunner().invoke(group, ["remind", "--within-days", "2"], obj={"app": app})
    assert result.exit_code == 0, result.output
    assert "alpha: 1 reminder job(s) queued" in result.output
    (reminder,) = outbox.mails("reminder")
    assert "Tomorrow" in reminder["Subject"]
    result = CliRunner().invoke(group, ["remind", "--cluster", "nope"], obj={"app": app})
    assert result.exit_code != 0 and "no cluster 'nope'" in result.output


def test_reminders_refused_for_past_or_cancelled_events(app, cluster, staff_client, ev):
    for event in (ev.event(starts_at=utcnow() - timedelta(days=2)), ev.event(status="cancelled")):
        r = staff_client.post(f"/alpha/events/{event.id}/remind")
        assert r.status_code == 303
