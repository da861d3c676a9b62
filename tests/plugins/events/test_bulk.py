"""Registering a list of persons at once: ``registrations.register_many``, the staff page, the API."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core import db, utcnow
from core.auth import new_api_token
from plugins.crm import api as crm
from plugins.events import registrations
from plugins.events.errors import EventsError
from plugins.events.models import Registration

from .conftest import acting_as, statuses


def crm_org(person_id: int) -> int:
    return crm.get_person(person_id).organization_id


def n_registrations() -> int:
    return db.session.execute(select(func.count()).select_from(Registration)
                              .execution_options(all_clusters=True)).scalar_one()


def test_seats_in_list_order_the_rest_waitlisted(app, cluster, ev, outbox):
    event = ev.event(capacity=3)
    pids = ev.persons(5)
    order = [pids[4], pids[2], pids[0], pids[3], pids[1]]
    with acting_as(cluster):
        outcomes = registrations.register_many(event.id, order)
    assert [o.person_id for o in outcomes] == order
    assert [o.status for o in outcomes] == ["registered"] * 3 + ["waitlisted"] * 2
    assert all(o.previous is None and o.changed for o in outcomes)
    assert statuses(event.id) == {"registered": 3, "waitlisted": 2}
    # the waitlist keeps the list order: a freed seat goes to the first waitlisted
    with acting_as(cluster):
        out = registrations.cancel(outcomes[0].registration_id)
    assert out.promoted == (outcomes[3].registration_id,)
    assert len(outbox.mails("confirmation")) == 3 and len(outbox.mails("waitlist")) == 2


def test_member_and_non_member_prices(app, cluster, ev):
    event = ev.event(member_price="10", non_member_price="30")
    member = ev.person(organization="Member Works")
    other = ev.person(organization="Outsider Ltd")
    ev.membership(crm_org(member), start=date(2000, 1, 1))
    with acting_as(cluster):
        outcomes = registrations.register_many(event.id, [member, other], notify=False)
    regs = {r.person_id: r for r in db.session.execute(
        select(Registration).where(Registration.id.in_([o.registration_id for o in outcomes]))
        .execution_options(populate_existing=True)).scalars()}
    assert regs[member].member_price is True and str(regs[member].price) == "10.00"
    assert regs[other].member_price is False and str(regs[other].price) == "30.00"


def test_duplicates_and_already_registered(app, cluster, ev, outbox):
    event = ev.event(capacity=2)
    a, b, c = ev.persons(3)
    with acting_as(cluster):
        first = registrations.register(event.id, a, notify=False)
        cancelled = registrations.register(event.id, c, notify=False)
        registrations.cancel(cancelled.registration_id, notify=False)
        outcomes = registrations.register_many(event.id, [a, b, b, a, c])
    assert [o.person_id for o in outcomes] == [a, b, c]
    assert outcomes[0] == registrations.Outcome(first.registration_id, a, "registered", "registered")
    assert not outcomes[0].changed
    assert outcomes[1].status == "registered" and outcomes[1].previous is None
    # a cancelled registration is reused; the seats are gone, so it is waitlisted
    assert outcomes[2].registration_id == cancelled.registration_id
    assert outcomes[2].status == "waitlisted" and outcomes[2].previous == "cancelled"
    assert statuses(event.id) == {"registered": 2, "waitlisted": 1}
    assert len(outbox.mails("confirmation")) == 1 and len(outbox.mails("waitlist")) == 1  # only the changed


def test_unknown_or_erased_person_refuses_the_whole_list(app, cluster, ev):
    event = ev.event()
    a, b = ev.persons(2)
    ev.erase(b)
    with pytest.raises(EventsError) as err:
        with acting_as(cluster):
            registrations.register_many(event.id, [a, b, 999999])
    assert f"#{b}" in str(err.value) and "#999999" in str(err.value) and err.value.field == "person_ids"
    assert n_registrations() == 0


def test_cancelled_event_refused_nothing_written(app, cluster, ev):
    event = ev.event(status="cancelled")
    pids = ev.persons(3)
    with pytest.raises(EventsError):
        with acting_as(cluster):
            registrations.register_many(event.id, pids)
    assert n_registrations() == 0
    with pytest.raises(EventsError):
        with acting_as(cluster):
            registrations.register_many(424242, pids)


def test_mark_attended(app, cluster, ev):
    event = ev.event(starts_at=utcnow().replace(microsecond=0) - timedelta(hours=1))
    a, b, c = ev.persons(3)
    with acting_as(cluster):
        outs = registrations.register_many(event.id, [a, b, c], notify=False)
        registrations.cancel(outs[2].registration_id, notify=False)
    with pytest.raises(EventsError):  # a cancelled person cannot be checked in: nothing changes
        with acting_as(cluster):
            registrations.mark_attended(event.id, [o.registration_id for o in outs])
    assert statuses(event.id) == {"registered": 2, "cancelled": 1}
    with acting_as(cluster):
        done = registrations.mark_attended(event.id, [outs[0].registration_id, outs[1].registration_id])
    assert [o.status for o in done] == ["attended", "attended"]
    assert statuses(event.id) == {"attended": 2, "cancelled": 1}
    future = ev.event(title="Later")
    with acting_as(cluster):
        reg = registrations.register(future.id, a, notify=False)
    with pytest.raises(EventsError):
        with acting_as(cluster):
            registrations.mark_attended(future.id, [reg.registration_id])


# -- the staff page ----------------------------------------------------------------------------------------
def test_page_registers_ticked_and_listed_persons(app, cluster, staff_client, ev):
    event = ev.event(capacity=2)
    a, b, c = ev.persons(3)
    page = staff_client.get(f"/alpha/events/{event.id}/register?q=Person").get_data(as_text=True)
    assert 'form="bulk-register"' in page and "register/many" in page
    r = staff_client.post(f"/alpha/events/{event.id}/register/many",
                          data={"person_ids": [str(a), f"{b}, {c}"], "no_mail": "y"})
    assert r.status_code == 302
    assert statuses(event.id) == {"registered": 2, "waitlisted": 1}


@pytest.mark.parametrize("ids", ["", "12, abc", "999999"])
def test_page_bad_input_writes_nothing(app, cluster, staff_client, ev, ids):
    event = ev.event()
    ev.persons(1)
    r = staff_client.post(f"/alpha/events/{event.id}/register/many", data={"person_ids": ids})
    assert r.status_code == 400
    assert 'role="alert"' in r.get_data(as_text=True)
    assert n_registrations() == 0


def test_page_cancelled_event_is_409(app, cluster, staff_client, ev):
    event = ev.event(status="cancelled")
    a = ev.person()
    r = staff_client.post(f"/alpha/events/{event.id}/register/many", data={"person_ids": str(a)})
    assert r.status_code == 409 and n_registrations() == 0


# -- the API ------------------------------------------------------------------------------------------------
@pytest.fixture
def api(app, staff):
    token = new_api_token(staff)
    db.session.commit()
    client = app.test_client()

    def post(path, **kwargs):
        return client.post(f"/api/v1/alpha/events{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs)

    return post


def test_api_bulk_registration(app, cluster, api, ev):
    event = ev.event(capacity=1)
    a, b = ev.persons(2)
    r = api(f"/events/{event.id}/registrations/bulk", json={"person_ids": [b, a, b], "no_mail": True})
    assert r.status_code == 200, r.json
    assert [(x["person_id"], x["status"]) for x in r.json["items"]] == [(b, "registered"), (a, "waitlisted")]
    assert (r.json["registered"], r.json["waitlisted"], r.json["unchanged"]) == (1, 1, 0)
    r = api(f"/events/{event.id}/registrations/bulk", json={"person_ids": [a]})
    assert r.status_code == 200 and r.json["unchanged"] == 1 and r.json["items"][0]["changed"] is False


@pytest.mark.parametrize("body", [{}, {"person_ids": []}, {"person_ids": ["x"]}, {"person_ids": [999999]},
                                  {"person_ids": 5, "nope": 1}, {"person_ids": [{"id": 1}]}])
def test_api_bulk_bad_input(app, cluster, api, ev, body):
    event = ev.event()
    ev.persons(1)
    r = api(f"/events/{event.id}/registrations/bulk", json=body)
    assert 400 <= r.status_code < 500 and r.json["errors"], r.json
    assert n_registrations() == 0


def test_api_bulk_refused_event(app, cluster, api, ev):
    event = ev.event(status="cancelled")
    a = ev.person()
    r = api(f"/events/{event.id}/registrations/bulk", json={"person_ids": [a]})
    assert r.status_code == 409 and r.json["errors"] and n_registrations() == 0
    assert api("/events/424242/registrations/bulk", json={"person_ids": [a]}).status_code == 404
