"""Invitations: segments and hand-picked persons, consent, the background job, a batch of 5,000."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, insert, select

from core import db
from core.jobs import execute
from core.mail import outbox_folder
from core.models import Job
from core.testing import Factory, make_test_app, truncate_all
from plugins.events import registrations
from plugins.events.models import Registration

from .conftest import acting_as, statuses


def segment(cluster, name="Members", **filters) -> int:
    from plugins.crm.models import Segment

    seg = Segment(cluster_id=cluster.id, name=name, filters=filters)
    db.session.add(seg)
    db.session.commit()
    return seg.id


def org_of(person_id):
    from plugins.crm import api as crm

    return crm.get_person(person_id).organization_id


def test_invite_hand_picked_persons_respecting_consent(app, cluster, staff_client, ev, outbox):
    event = ev.event("Open innovation forum")
    ok_fr = ev.person("Jeanne", "Roux", email="jeanne@example.org", language="fr")
    ok_en = ev.person("John", "Smith", email="john@example.org", language="en")
    withdrawn = ev.person("Paul", "Nope", email="nope@example.org")
    ev.consent(withdrawn, "event_invitations", "withdrawn")
    erased = ev.person("Gone", "Person", email="gone@example.org")
    ev.erase(erased)
    already = ev.person("Already", "There", email="there@example.org")
    with acting_as(cluster):
        registrations.register(event.id, already, notify=False)
    r = staff_client.post(f"/alpha/events/{event.id}/invite",
                          data={"person_ids": [ok_fr, ok_en, withdrawn, erased, already]})
    assert r.status_code == 302 and "/alpha/jobs/" in r.headers["Location"]
    assert statuses(event.id) == {"invited": 2, "registered": 1}
    mails = {m["To"]: m for m in outbox.mails("invitation")}
    assert set(mails) == {"Jeanne Roux <jeanne@example.org>", "John Smith <john@example.org>"}
    assert mails["Jeanne Roux <jeanne@example.org>"]["Subject"] == "Invitation : Open innovation forum"
    assert mails["John Smith <john@example.org>"]["Subject"] == "Invitation: Open innovation forum"
    job = db.session.execute(select(Job).where(Job.name == "events.invite")).scalar_one()
    assert job.status == "done"
    assert job.result == {"asked": 5, "invited now": 2, "mails sent": 2, "already on the list": 1,
                          "no consent": 2, "no e-mail address": 0}
    invited = db.session.execute(select(Registration).where(Registration.status == "invited")).scalars().all()
    assert all(r.invited_at is not None and r.source == "invitation" for r in invited)
    # inviting again sends nothing new
    staff_client.post(f"/alpha/events/{event.id}/invite", data={"person_ids": [ok_fr, ok_en]})
    assert len(outbox.mails("invitation")) == 2
    # the job page shows the result
    page = staff_client.get(r.headers["Location"]).get_data(as_text=True)
    assert "mails sent" in page


def test_invite_a_segment(app, cluster, staff_client, ev, outbox):
    event = ev.event()
    members = [ev.person(organization="Member Plastics"), ev.person(organization="Member Plastics")]
    ev.person(organization="Not A Member")
    ev.membership(org_of(members[0]))
    seg = segment(cluster, membership="member")
    page = staff_client.get(f"/alpha/events/{event.id}/invite").get_data(as_text=True)
    assert "Members" in page
    r = staff_client.post(f"/alpha/events/{event.id}/invite", data={"segment_id": seg})
    assert r.status_code == 302
    invited = db.session.execute(select(Registration.person_id).where(Registration.status == "invited")).scalars()
    assert sorted(invited) == sorted(members)
    assert len(outbox.mails("invitation")) == 2


def test_accepting_an_invitation_from_the_mail(app, cluster, staff_client, ev, outbox):
    import re

    event = ev.event(capacity=5)
    pid = ev.person(email="guest@example.org", language="en")
    staff_client.post(f"/alpha/events/{event.id}/invite", data={"person_ids": [pid]})
    (msg,) = outbox.mails("invitation")
    url = re.search(r"http://\S+/public/accept/\S+", msg.get_body().get_content()).group(0)
    path = re.sub(r"^http://[^/]+", "", url)
    client = app.test_client()
    assert "Yes, register me" in client.get(path).get_data(as_text=True)
    assert client.post(path).status_code == 200
    assert statuses(event.id) == {"registered": 1}


@pytest.mark.parametrize("data, field", [
    ({}, "segment_id"), ({"segment_id": "999999"}, "segment_id"), ({"segment_id": "abc"}, "segment_id"),
    ({"person_ids": ["abc"]}, "person_ids"), ({"person_ids": ["999999"]}, "person_ids"),
    ({"segment_id": "{seg}", "person_ids": ["{p}"]}, "segment_id"),
])
def test_invitation_bad_input(app, cluster, staff_client, ev, outbox, data, field):
    event = ev.event()
    pid = ev.person()
    seg = segment(cluster)
    data = {k: ([x.format(p=pid) for x in v] if isinstance(v, list) else v.format(seg=seg)) for k, v in data.items()}
    r = staff_client.post(f"/alpha/events/{event.id}/invite", data=data)
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert statuses(event.id) == {} and outbox.mails() == []
    assert db.session.execute(select(func.count()).select_from(Job)).scalar_one() == 0


def test_invitation_refused_unless_the_event_is_open(app, cluster, staff_client, ev, outbox):
    for status in ("draft", "closed", "cancelled", "done"):
        event = ev.event(status=status)
        r = staff_client.post(f"/alpha/events/{event.id}/invite", data={"person_ids": [ev.person()]})
        assert r.status_code == 409 and "Open the event" in r.get_data(as_text=True)
        assert statuses(event.id) == {}


def test_invitation_api(app, cluster, staff, ev, outbox):
    from core.auth import new_api_token

    token = new_api_token(staff)
    db.session.commit()
    event = ev.event()
    pid = ev.person()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post(f"/api/v1/alpha/events/events/{event.id}/invitations", headers=headers,
                    json={"person_ids": [pid]})
    assert r.status_code == 202 and r.json["job_id"]
    job = client.get(f"/api/v1/alpha/core/jobs/{r.json['job_id']}", headers=headers).json
    assert job["status"] == "done" and job["result"]["mails sent"] == 1
    r = client.post(f"/api/v1/alpha/events/events/{event.id}/invitations", headers=headers, json={})
    assert r.status_code == 422 and "segment_id" in r.json["errors"]


def test_five_thousand_invitations_do_not_hold_the_request(_schema, instance_path, tmp_path):
    """The page answers at once with a queued job; the worker then invites and mails all 5,000."""
    from plugins.crm.models import Organization, Person, PersonOrganization

    app = make_test_app(_schema, instance_path, JOBS_IMMEDIATE=False,
                        JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite3"))
    with app.app_context():
        truncate_all()
        shutil.rmtree(outbox_folder(), ignore_errors=True)
        f = Factory(app)
        cluster = f.cluster("alpha", modules=("crm", "events"), name="Alpha Cluster")
        staff = f.user("staff@example.org", "staff", cluster)
        org = Organization(legal_name="Batch Holding", country="FR")
        db.session.add(org)
        db.session.commit()
        n = 5000
        db.session.execute(insert(Person), [
            {"first_name": f"First{i}", "last_name": f"Last{i:05d}", "email": f"p{i}@batch.example",
             "language": "fr" if i % 2 else "en", "name_key": f"last{i:05d}", "search": f"first{i} last{i:05d}"}
            for i in range(n)])
        person_ids = db.session.execute(select(Person.id).order_by(Person.id)).scalars().all()
        db.session.execute(insert(PersonOrganization), [
            {"person_id": pid, "organization_id": org.id, "main": True, "role": ""} for pid in person_ids])
        db.session.commit()
        seg = segment(cluster, "Batch", q="batch holding")
        from .conftest import EventsFactory

        event = EventsFactory(cluster).event("Big conference", capacity=500)
        client = app.test_client(user=staff)
        r = client.post(f"/alpha/events/{event.id}/invite", data={"segment_id": seg})
        assert r.status_code == 302 and "/alpha/jobs/" in r.headers["Location"]
        job_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
        db.session.commit()
        assert db.session.get(Job, job_id).status == "queued"
        assert statuses(event.id) == {}  # nothing done in the request
        page = client.get(f"/alpha/jobs/{job_id}").get_data(as_text=True)
        assert "queued" in page

        execute(job_id)  # what the worker does

        db.session.commit()
        job = db.session.get(Job, job_id)
        assert job.status == "done" and job.done == job.total == n
        assert job.result["invited now"] == n and job.result["mails sent"] == n
        assert statuses(event.id) == {"invited": n}
        assert len(list(outbox_folder().glob("*-alpha-invitation-*.eml"))) == n
