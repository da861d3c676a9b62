"""The public registration page: double opt-in by mail, honeypot, rate limit, CSRF, cancel and accept links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import db, sign, utcnow
from core.ratelimit import RateHit
from core.testing import free_port
from plugins.crm import api as crm
from plugins.events import registrations
from plugins.events.models import Registration

from .conftest import acting_as, statuses

FORM = {"first_name": "Léa", "last_name": "Fontaine", "email": "Lea.Fontaine@Example.org",
        "organization": "Fontaine Composites"}


def link_in(msg, pattern: str) -> str:
    body = msg.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://\S*" + pattern + r"\S*", body)
    assert match, body
    return match.group(0)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def n_persons() -> int:
    return len(crm.search_persons("fontaine", 50))


def test_public_page_is_open_to_anonymous_visitors(app, cluster, ev):
    event = ev.event("Open house", capacity=20)
    r = app.test_client().get(f"/alpha/events/public/{event.id}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Open house" in page and 'name="website"' in page and "Register" in page


def test_drafts_and_foreign_events_are_not_public(app, cluster, other_cluster, ev):
    client = app.test_client()
    assert client.get(f"/alpha/events/public/{ev.event(status='draft').id}").status_code == 404
    assert client.get(f"/alpha/events/public/{ev.event(cluster=other_cluster).id}").status_code == 404
    assert client.get("/alpha/events/public/999999").status_code == 404


def test_double_opt_in_registers_only_after_the_link(app, cluster, ev, outbox):
    event = ev.event("Composite day", capacity=10)
    client = app.test_client()
    r = client.post(f"/alpha/events/public/{event.id}", data=FORM, headers={"Accept-Language": "fr"})
    assert r.status_code == 200 and "lea.fontaine@example.org" in r.get_data(as_text=True)
    # nothing recorded yet: no person, no registration; one mail, in French (the page's language)
    assert n_persons() == 0 and statuses(event.id) == {}
    (mail,) = outbox.mails("confirm")
    assert mail["To"] == "Léa Fontaine <lea.fontaine@example.org>"
    assert mail["Subject"].startswith("Merci de confirmer")
    url = link_in(mail, "/public/confirm/")
    page = client.get(path_of(url))
    assert page.status_code == 200 and "Confirm my registration" in page.get_data(as_text=True)
    assert statuses(event.id) == {}  # following the link alone changes nothing (mail scanners)
    r = client.post(path_of(url))
    assert r.status_code == 200 and "You are registered" in r.get_data(as_text=True)
    (person,) = crm.search_persons("fontaine", 5)
    assert person.email == "lea.fontaine@example.org" and person.organization_name == "Fontaine Composites"
    assert person.language == "fr"
    reg = db.session.execute(select(Registration).where(Registration.event_id == event.id)).scalar_one()
    assert (reg.status, reg.source, reg.person_id) == ("registered", "public", person.id)
    (confirmation,) = outbox.mails("confirmation")
    assert confirmation["Subject"].startswith("Inscription confirmée")
    # the link again: already registered, nothing doubles
    r = client.post(path_of(url))
    assert "already registered" in r.get_data(as_text=True)
    assert statuses(event.id) == {"registered": 1} and n_persons() == 1


def test_an_existing_crm_person_is_matched_by_email(app, cluster, ev, outbox):
    event = ev.event()
    existing = ev.person("Léa", "Fontaine", email="lea.fontaine@example.org", organization="Old Name SA")
    client = app.test_client()
    client.post(f"/alpha/events/public/{event.id}", data=FORM)
    client.post(path_of(link_in(outbox.mails("confirm")[0], "/public/confirm/")))
    reg = db.session.execute(select(Registration).where(Registration.event_id == event.id)).scalar_one()
    assert reg.person_id == existing and n_persons() == 1


def test_full_event_waitlists_and_tells(app, cluster, ev, outbox):
    event = ev.event(capacity=1)
    with acting_as(cluster):
        registrations.register(event.id, ev.person(), notify=False)
    client = app.test_client()
    page = client.get(f"/alpha/events/public/{event.id}").get_data(as_text=True)
    assert "The event is full" in page
    client.post(f"/alpha/events/public/{event.id}", data=FORM)
    r = client.post(path_of(link_in(outbox.mails("confirm")[0], "/public/confirm/")))
    assert "waitlist" in r.get_data(as_text=True)
    (waitlist,) = outbox.mails("waitlist")
    assert "number 1" in waitlist.get_body().get_content()
    assert statuses(event.id) == {"registered": 1, "waitlisted": 1}


def test_honeypot_answers_like_success_and_writes_nothing(app, cluster, ev, outbox):
    event = ev.event()
    r = app.test_client().post(f"/alpha/events/public/{event.id}", data={**FORM, "website": "http://spam.example"})
    assert r.status_code == 200 and "Check your mailbox" in r.get_data(as_text=True)
    assert outbox.mails() == [] and statuses(event.id) == {} and n_persons() == 0
    assert db.session.execute(select(func.count()).select_from(RateHit)).scalar_one() == 0


@pytest.mark.parametrize("change, field", [
    ({"first_name": ""}, "first_name"), ({"last_name": "  "}, "last_name"), ({"email": "not-an-address"}, "email"),
    ({"email": ""}, "email"), ({"email": "a@b"}, "email"), ({"organization": "x" * 201}, "organization"),
    ({"first_name": "x" * 101}, "first_name"),
])
def test_public_form_bad_input(app, cluster, ev, outbox, change, field):
    event = ev.event()
    r = app.test_client().post(f"/alpha/events/public/{event.id}", data={**FORM, **change})
    assert r.status_code == 400 and f'id="{field}-error"' in r.get_data(as_text=True)
    assert outbox.mails() == [] and statuses(event.id) == {}


def test_rate_limit_per_address_and_per_email(app, cluster, ev, outbox):
    event = ev.event()
    app.config.update(EVENTS_RATE_PER_IP="3/3600", EVENTS_RATE_PER_EMAIL="2/3600")
    client = app.test_client()
    assert client.post(f"/alpha/events/public/{event.id}", data=FORM).status_code == 200
    assert client.post(f"/alpha/events/public/{event.id}", data=FORM).status_code == 200
    r = client.post(f"/alpha/events/public/{event.id}", data=FORM)  # third for this e-mail
    assert r.status_code == 429 and "Too many registrations" in r.get_data(as_text=True)
    assert client.post(f"/alpha/events/public/{event.id}", data={**FORM, "email": "other@example.org"}).status_code == 200
    r = client.post(f"/alpha/events/public/{event.id}", data={**FORM, "email": "third@example.org"})
    assert r.status_code == 429  # fourth from this address
    other_ip = app.test_client()
    r = other_ip.post(f"/alpha/events/public/{event.id}", data={**FORM, "email": "x@example.org"},
                      environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert r.status_code == 200
    assert len(outbox.mails("confirm")) == 4
    # keys are hashed: no address is stored in clear
    keys = db.session.execute(select(RateHit.key)).scalars().all()
    assert keys and not any("example.org" in k or "127.0.0.1" in k for k in keys)


def test_csrf_is_required_on_the_public_page(app, cluster, ev, outbox):
    event = ev.event()
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    assert client.post(f"/alpha/events/public/{event.id}", data=FORM).status_code == 400
    page = client.get(f"/alpha/events/public/{event.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post(f"/alpha/events/public/{event.id}", data={**FORM, "csrf_token": token}).status_code == 200
    assert len(outbox.mails("confirm")) == 1


def test_closed_event_refuses_registrations(app, cluster, ev, outbox):
    event = ev.event(status="closed")
    client = app.test_client()
    page = client.get(f"/alpha/events/public/{event.id}").get_data(as_text=True)
    assert "Registrations for this event are closed" in page
    assert client.post(f"/alpha/events/public/{event.id}", data=FORM).status_code == 409
    past_deadline = ev.event(registration_deadline=utcnow() - timedelta(hours=1))
    assert client.post(f"/alpha/events/public/{past_deadline.id}", data=FORM).status_code == 409
    assert outbox.mails() == []


def test_confirm_link_after_closing_is_refused(app, cluster, ev, outbox):
    event = ev.event()
    client = app.test_client()
    client.post(f"/alpha/events/public/{event.id}", data=FORM)
    url = path_of(link_in(outbox.mails("confirm")[0], "/public/confirm/"))
    event.status = "closed"
    db.session.commit()
    assert client.post(url).status_code == 409
    assert statuses(event.id) == {} and n_persons() == 0


def test_bad_and_expired_confirm_links(app, cluster, ev, monkeypatch):
    event = ev.event()
    client = app.test_client()
    for token in ("garbage", sign("events.cancel", {"r": 1}),
                  sign("events.confirm", {"e": event.id, "m": "a@example.org"}) + "x"):
        r = client.get(f"/alpha/events/public/confirm/{token}")
        assert r.status_code == 400 and "does not work" in r.get_data(as_text=True)
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 4 * 24 * 3600)
    old = sign("events.confirm", {"e": event.id, "m": "a@example.org", "f": "A", "l": "B"})
    monkeypatch.setattr(time, "time", real)
    assert client.post(f"/alpha/events/public/confirm/{old}").status_code == 400
    assert statuses(event.id) == {}


def test_cancel_link_cancels_and_promotes(app, cluster, ev, outbox):
    event = ev.event(capacity=1)
    with acting_as(cluster):
        first = registrations.register(event.id, ev.person(email="first@example.org"))
        registrations.register(event.id, ev.person(email="second@example.org"), notify=False)
    url = path_of(link_in(outbox.mails("confirmation")[0], "/public/cancel/"))
    client = app.test_client()
    page = client.get(url)
    assert page.status_code == 200 and "Cancel your registration?" in page.get_data(as_text=True)
    assert statuses(event.id) == {"registered": 1, "waitlisted": 1}
    assert client.post(url).status_code == 200
    assert statuses(event.id) == {"cancelled": 1, "registered": 1}
    assert db.session.get(Registration, first.registration_id).status == "cancelled"
    (promotion,) = outbox.mails("promotion")
    assert "second@example.org" in promotion["To"]
    assert len(outbox.mails("cancellation")) == 1
    assert "is cancelled" in client.get(url).get_data(as_text=True)  # the link again: nothing more
    assert client.get("/alpha/events/public/cancel/forged").status_code == 404


def test_cancel_link_of_another_cluster_does_not_work(app, cluster, other_cluster, ev):
    theirs = ev.event(cluster=other_cluster)
    with acting_as(other_cluster):
        out = registrations.register(theirs.id, ev.person(), notify=False)
    token = sign("events.cancel", {"r": out.registration_id})
    assert app.test_client().post(f"/alpha/events/public/cancel/{token}").status_code == 404
    assert statuses(theirs.id) == {"registered": 1}


def test_invitation_link_registers_in_one_click(app, cluster, ev, outbox):
    event = ev.event()
    pid = ev.person("Nina", "Berger", email="nina@example.org", language="en")
    db.session.add(Registration(event_id=event.id, person_id=pid, cluster_id=cluster.id, status="invited",
                                source="invitation"))
    db.session.commit()
    reg_id = db.session.execute(select(Registration.id)).scalar_one()
    token = sign("events.accept", {"r": reg_id})
    client = app.test_client()
    page = client.get(f"/alpha/events/public/accept/{token}").get_data(as_text=True)
    assert "Register, Nina Berger?" in page
    r = client.post(f"/alpha/events/public/accept/{token}")
    assert r.status_code == 200 and "You are registered" in r.get_data(as_text=True)
    reg = db.session.get(Registration, reg_id)
    assert (reg.status, reg.source) == ("registered", "invitation")
    assert len(outbox.mails("confirmation")) == 1
    assert client.get("/alpha/events/public/accept/nope").status_code == 404


def test_smtp_confirmation_mail_link_confirms(app, cluster, ev, outbox, smtp_server):
    """A real SMTP server receives the confirmation mail; the link in it confirms the registration."""
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{smtp_server.port}"
    app.config["MAIL_FROM"] = "events@alpha.example"
    event = ev.event("SMTP day")
    client = app.test_client()
    assert client.post(f"/alpha/events/public/{event.id}", data=FORM).status_code == 200
    (msg,) = smtp_server.messages
    assert smtp_server.envelopes[0] == ("events@alpha.example", ["lea.fontaine@example.org"])
    assert msg["From"] == "Alpha Cluster <events@alpha.example>" and "SMTP day" in msg["Subject"]
    url = link_in(msg, "/public/confirm/")
    assert url.startswith("http://localhost/alpha/events/public/confirm/")
    assert client.post(path_of(url)).status_code == 200
    assert statuses(event.id) == {"registered": 1}
    confirmation = smtp_server.messages[1]
    assert confirmation["X-Grappe-Kind"] == "confirmation"
    assert "/alpha/events/public/cancel/" in confirmation.get_body().get_content()
    assert outbox.mails() == []  # SMTP configured: nothing written to the outbox


def test_smtp_failure_fails_the_job_not_the_page(app, cluster, ev):
    from core.models import Job

    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nobody listens there
    event = ev.event()
    r = app.test_client().post(f"/alpha/events/public/{event.id}", data=FORM)
    assert r.status_code == 200
    job = db.session.execute(select(Job).where(Job.name == "events.send_mails")).scalar_one()
    assert job.status == "failed" and job.message  # the job page tells why


def test_base_url_setting_is_used_in_links(app, cluster, ev, outbox):
    app.config["BASE_URL"] = "https://events.grappe.example"
    event = ev.event()
    app.test_client().post(f"/alpha/events/public/{event.id}", data=FORM)
    url = link_in(outbox.mails("confirm")[0], "/public/confirm/")
    assert url.startswith("https://events.grappe.example/alpha/events/public/confirm/")
