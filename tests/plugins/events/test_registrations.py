"""Registrations: the status machine, prices, capacity, waitlist and promotion."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core import db, utcnow
from core.models import Cluster
from plugins.events import registrations, seats
from plugins.events.errors import EventsError
from plugins.events.models import TRANSITIONS, Registration, TransitionError, can_transition

from .conftest import acting_as, statuses


def test_status_machine_is_enforced_on_the_model(app, cluster, ev):
    event = ev.event()
    pid = ev.person()
    reg = Registration(event_id=event.id, person_id=pid, cluster_id=cluster.id, status="invited")
    db.session.add(reg)
    db.session.commit()
    with pytest.raises(TransitionError):
        reg.status = "attended"  # invited -> attended is not a move
    assert reg.status == "invited"
    reg.status = "registered"
    reg.status = "attended"
    with pytest.raises(TransitionError):
        reg.status = "waitlisted"
    with pytest.raises(TransitionError):
        reg.status = "bogus"
    with pytest.raises(TransitionError):
        Registration(event_id=event.id, person_id=pid, status="attended")  # cannot start attended


def test_every_declared_transition_is_allowed_and_nothing_else():
    statuses_ = list(TRANSITIONS)
    for old in statuses_:
        for new in statuses_:
            expected = old == new or new in TRANSITIONS[old]
            assert can_transition(old, new) is expected, (old, new)


def test_register_member_and_non_member_prices(app, cluster, ev):
    event = ev.event(member_price="40", non_member_price="90.50",
                     starts_at=utcnow().replace(microsecond=0) + timedelta(days=30))
    member = ev.person(email="m@member.example", organization="Member Corp")
    other = ev.person(email="o@other.example", organization="Other Corp")
    ev.membership(crm_org(member), start=date(2000, 1, 1))
    with acting_as(cluster):
        a = registrations.register(event.id, member, notify=False)
        b = registrations.register(event.id, other, notify=False)
    ra, rb = db.session.get(Registration, a.registration_id), db.session.get(Registration, b.registration_id)
    assert (ra.status, ra.member_price, ra.price) == ("registered", True, Decimal("40.00"))
    assert (rb.status, rb.member_price, rb.price) == ("registered", False, Decimal("90.50"))
    assert ra.organization_id == crm_org(member)


def test_membership_is_judged_on_the_event_date(app, cluster, ev):
    starts = utcnow().replace(microsecond=0) + timedelta(days=60)
    event = ev.event(member_price="10", non_member_price="20", starts_at=starts)
    pid = ev.person(organization="Lapsing Ltd")
    ev.membership(crm_org(pid), start=date(2000, 1, 1), end=(starts - timedelta(days=5)).date())
    with acting_as(cluster):
        out = registrations.register(event.id, pid, notify=False)
    reg = db.session.get(Registration, out.registration_id)
    assert reg.member_price is False and reg.price == Decimal("20.00")


def test_member_of_another_cluster_pays_the_non_member_price(app, cluster, other_cluster, ev):
    event = ev.event(member_price="10", non_member_price="20")
    pid = ev.person(organization="Elsewhere SA")
    ev.membership(crm_org(pid), cluster=other_cluster)
    with acting_as(cluster):
        out = registrations.register(event.id, pid, notify=False)
    assert db.session.get(Registration, out.registration_id).price == Decimal("20.00")


def crm_org(person_id: int) -> int:
    from plugins.crm import api as crm

    return crm.get_person(person_id).organization_id


def test_capacity_waitlist_and_promotion_on_cancel(app, cluster, ev):
    event = ev.event(capacity=2)
    p = ev.persons(4)
    with acting_as(cluster):
        outcomes = [registrations.register(event.id, pid, notify=False) for pid in p]
    assert [o.status for o in outcomes] == ["registered", "registered", "waitlisted", "waitlisted"]
    with acting_as(cluster):
        again = registrations.register(event.id, p[0], notify=False)
    assert again.status == "registered" and not again.changed
    with acting_as(cluster):
        out = registrations.cancel(outcomes[1].registration_id, notify=False)
    assert out.status == "cancelled" and out.promoted == (outcomes[2].registration_id,)
    assert statuses(event.id) == {"registered": 2, "cancelled": 1, "waitlisted": 1}
    # a cancelled person may register again: at the end of the queue
    with acting_as(cluster):
        back = registrations.register(event.id, p[1], notify=False)
    assert back.status == "waitlisted" and back.previous == "cancelled"
    # cancelling a waitlisted person frees no seat and promotes nobody
    with acting_as(cluster):
        out = registrations.cancel(outcomes[3].registration_id, notify=False)
    assert out.promoted == ()
    assert statuses(event.id) == {"registered": 2, "cancelled": 1, "waitlisted": 1}


def test_capacity_increase_fills_from_the_waitlist_in_order(app, cluster, ev):
    event = ev.event(capacity=1)
    p = ev.persons(4)
    with acting_as(cluster):
        ids = [registrations.register(event.id, pid, notify=False).registration_id for pid in p]
        promoted = seats.fill_from_waitlist(event.id)
    assert promoted == []
    event.capacity = 3
    db.session.commit()
    with acting_as(cluster):
        assert seats.fill_from_waitlist(event.id) == ids[1:3]
    assert statuses(event.id) == {"registered": 3, "waitlisted": 1}


def test_change_status_rules(app, cluster, ev):
    event = ev.event(capacity=1, starts_at=utcnow() - timedelta(hours=1))
    a, b = ev.persons(2)
    with acting_as(cluster):
        ra = registrations.register(event.id, a, notify=False).registration_id
        rb = registrations.register(event.id, b, notify=False).registration_id
    with pytest.raises(EventsError, match="No seat"):
        with acting_as(cluster):
            registrations.change_status(rb, "registered", notify=False)
    with pytest.raises(EventsError, match="cannot go"):
        with acting_as(cluster):
            registrations.change_status(rb, "attended", notify=False)
    with acting_as(cluster):
        assert registrations.change_status(ra, "attended", notify=False).status == "attended"
        assert registrations.change_status(ra, "registered", notify=False).status == "registered"
    assert statuses(event.id) == {"registered": 1, "waitlisted": 1}


def test_check_in_waits_for_the_event(app, cluster, ev):
    event = ev.event(starts_at=utcnow() + timedelta(days=5))
    with acting_as(cluster):
        rid = registrations.register(event.id, ev.person(), notify=False).registration_id
    with pytest.raises(EventsError, match="Check-in opens"):
        with acting_as(cluster):
            registrations.change_status(rid, "attended", notify=False)
    with pytest.raises(EventsError):
        with acting_as(cluster):
            registrations.mark_no_shows(event.id)


def test_mark_no_shows(app, cluster, ev):
    event = ev.event(starts_at=utcnow() - timedelta(hours=2))
    with acting_as(cluster):
        ids = [registrations.register(event.id, pid, notify=False).registration_id for pid in ev.persons(3)]
        registrations.change_status(ids[0], "attended", notify=False)
        assert registrations.mark_no_shows(event.id) == 2
    assert statuses(event.id) == {"attended": 1, "no_show": 2}


def test_registration_refused_for_closed_states(app, cluster, ev):
    pid = ev.person()
    for status in ("cancelled", "done"):
        event = ev.event(status=status)
        with pytest.raises(EventsError):
            with acting_as(cluster):
                registrations.register(event.id, pid, notify=False)
    closed = ev.event(status="closed")
    with pytest.raises(EventsError, match="closed"):
        with acting_as(cluster):
            registrations.register(closed.id, pid, public=True, notify=False)
    with acting_as(cluster):
        assert registrations.register(closed.id, pid, notify=False).status == "registered"  # staff may


def test_registration_refused_for_unknown_or_erased_person(app, cluster, ev):
    event = ev.event()
    with pytest.raises(EventsError, match="No such person"):
        with acting_as(cluster):
            registrations.register(event.id, 999999, notify=False)
    pid = ev.person()
    ev.erase(pid)
    with pytest.raises(EventsError, match="No such person"):
        with acting_as(cluster):
            registrations.register(event.id, pid, notify=False)
    assert statuses(event.id) == {}


def test_other_clusters_events_are_out_of_reach(app, cluster, other_cluster, ev):
    theirs = ev.event(cluster=other_cluster)
    with pytest.raises(EventsError, match="No such event"):
        with acting_as(cluster):
            registrations.register(theirs.id, ev.person(), notify=False)


def _concurrent(app, cluster_id: int, event_id: int, person_ids: list[int], fn) -> tuple[list, list]:
    """``fn(event_id, person_id)`` in one thread per person, all at once, each as a request of the
    cluster (its own session, scoped, committed at the end)."""
    barrier = threading.Barrier(len(person_ids))
    results, errors = [], []
    lock = threading.Lock()

    def worker(pid):
        with app.app_context():
            cluster = db.session.get(Cluster, cluster_id)
            db.session.commit()  # give the connection back while waiting at the barrier (the pool has 15)
            try:
                barrier.wait(timeout=30)
                with acting_as(cluster):
                    out = fn(event_id, pid)
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                with lock:
                    errors.append(repr(exc))
            else:
                with lock:
                    results.append(out)

    threads = [threading.Thread(target=worker, args=(pid,)) for pid in person_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results, errors


def test_fifty_simultaneous_registrations_for_ten_seats(app, cluster, ev):
    """Never overbooked: exactly 10 registered and 40 waitlisted, no error (SQLite and PostgreSQL)."""
    event = ev.event(capacity=10)
    persons = ev.persons(50)
    results, errors = _concurrent(
        app, cluster.id, event.id, persons,
        lambda event_id, pid: registrations.register(event_id, pid, source="public", notify=False))
    assert errors == []
    assert sorted(o.status for o in results).count("registered") == 10
    assert statuses(event.id) == {"registered": 10, "waitlisted": 40}


def test_simultaneous_cancellations_promote_exactly_as_many(app, cluster, ev):
    event = ev.event(capacity=10)
    persons = ev.persons(30)
    with acting_as(cluster):
        outs = [registrations.register(event.id, pid, notify=False) for pid in persons]
    registered = [o.registration_id for o in outs if o.status == "registered"]
    by_person = {o.person_id: o.registration_id for o in outs}
    cancelling = [pid for pid in persons if by_person[pid] in registered[:8]]
    results, errors = _concurrent(
        app, cluster.id, event.id, cancelling,
        lambda event_id, pid: registrations.cancel(by_person[pid], notify=False))
    assert errors == []
    promoted = [r for o in results for r in o.promoted]
    assert len(promoted) == 8 and len(set(promoted)) == 8
    # the first eight of the waitlist, in registration order
    waitlisted = [o.registration_id for o in outs if o.status == "waitlisted"]
    assert sorted(promoted) == sorted(waitlisted[:8])
    assert statuses(event.id) == {"registered": 10, "cancelled": 8, "waitlisted": 12}


def test_same_person_twice_at_once_gives_one_registration(app, cluster, ev):
    event = ev.event(capacity=5)
    pid = ev.person()
    results, errors = _concurrent(
        app, cluster.id, event.id, [pid] * 8,
        lambda event_id, p: registrations.register(event_id, p, notify=False))
    assert errors == []
    assert statuses(event.id) == {"registered": 1}
    assert sum(1 for o in results if o.previous is None) == 1
    rows = db.session.execute(select(Registration).where(Registration.event_id == event.id)).scalars().all()
    assert len(rows) == 1


def test_an_invited_member_registered_by_status_pays_the_member_price(app, cluster, ev):
    event = ev.event(member_price="15", non_member_price="45")
    pid = ev.person(organization="Invited Member SA")
    ev.membership(crm_org(pid))
    db.session.add(Registration(event_id=event.id, person_id=pid, cluster_id=cluster.id, status="invited",
                                organization_id=crm_org(pid)))
    db.session.commit()
    reg_id = db.session.execute(select(Registration.id)).scalar_one()
    with acting_as(cluster):
        out = registrations.change_status(reg_id, "registered", notify=False)
    assert out.status == "registered"
    db.session.expire_all()
    reg = db.session.get(Registration, reg_id)
    assert (reg.member_price, reg.price) == (True, Decimal("15.00")) and reg.registered_at is not None


def test_promotion_keeps_the_registration_time(app, cluster, ev):
    event = ev.event(capacity=1)
    with acting_as(cluster):
        first, second = (registrations.register(event.id, pid, notify=False) for pid in ev.persons(2))
    before = db.session.get(Registration, second.registration_id).registered_at
    with acting_as(cluster):
        registrations.cancel(first.registration_id, notify=False)
    db.session.expire_all()
    reg = db.session.get(Registration, second.registration_id)
    assert reg.status == "registered" and reg.registered_at == before
