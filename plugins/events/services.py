"""Events business operations: what pages, the API, jobs and the CLI share.

Registrations that take or free a seat run in :func:`core.db.write_transaction`, with
the event's row locked (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE``
on SQLite): the seat count and the write happen under the lock, so however many
people register at once, never more than the capacity are registered; the others
are waitlisted.  A cancellation frees a seat and promotes the first waitlisted
person in the same transaction.  :func:`register_many` registers a whole list under
one lock and one transaction (:func:`register` is the list of one), and
:func:`mark_attended` checks in many registrations at once.

Mails go out after the commit, through the jobs service (:mod:`.mail`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Iterable

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from core import audit, db, queue_mails, utcnow
from plugins.crm import api as crm

from .models import (
    ACTIVE_STATUSES,
    EVENT_STATUSES,
    EVENT_TRANSITIONS,
    REGISTRATION_STATUSES,
    SEAT_STATUSES,
    Event,
    EventTopic,
    Registration,
    TransitionError,
    can_transition,
)


class EventsError(ValueError):
    """An operation the rules refuse; the message says why (shown to the user)."""

    def __init__(self, message: str, field: str = "_"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Outcome:
    """What a registration operation did."""

    registration_id: int
    person_id: int
    status: str
    previous: str | None  # None: the registration is new
    promoted: tuple[int, ...] = field(default=())  # registrations moved from the waitlist

    @property
    def changed(self) -> bool:
        return self.previous != self.status


# -- time ------------------------------------------------------------------------------
def local_date(event: Event, cluster) -> date:
    """The event's (start) date in the cluster's time zone: the day membership is judged on."""
    return event.starts_at.astimezone(cluster.zone).date()


def year_bounds(year: int, cluster) -> tuple[datetime, datetime]:
    """A calendar year of the cluster's time zone, as aware datetimes ``[start, end)``."""
    tz = cluster.zone
    return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


# -- events ----------------------------------------------------------------------------
EVENT_FIELDS = ("title", "description", "kind", "starts_at", "ends_at", "venue", "online_url", "capacity",
                "registration_deadline", "member_price", "non_member_price", "organizer_id")


def get_event(event_id: int, cluster) -> Event | None:
    return db.session.execute(
        select(Event).where(Event.id == event_id, Event.cluster_id == cluster.id)
    ).scalar_one_or_none()


def save_event(event: Event | None, form, *, cluster) -> Event:
    """Create or update an event from a validated :class:`.forms.EventForm`; commits.

    A higher capacity fills the new seats from the waitlist (and tells those promoted).
    """
    creating = event is None
    begin_write_transaction()
    if creating:
        event = Event(cluster_id=cluster.id, status="draft")
    else:
        db.session.refresh(event)  # the row as it is now, under the write lock
    old_capacity = event.capacity
    for name in EVENT_FIELDS:
        if name in form._fields:
            value = form[name].data
            if name in ("member_price", "non_member_price"):
                value = (value if value is not None else Decimal("0")).quantize(Decimal("0.01"))
            elif name in ("description", "venue", "online_url"):
                value = (value or "").strip()
            elif name == "title":
                value = value.strip()
            setattr(event, name, value)
    if "topic_ids" in form._fields:
        wanted = list(dict.fromkeys(form.topic_ids.data or []))
        current = {t.competence_id: t for t in event.topics}
        event.topics = [current.get(cid) or EventTopic(competence_id=cid) for cid in wanted]
    if not creating:
        event.sequence = (event.sequence or 0) + 1
    db.session.add(event)
    db.session.commit()
    if not creating and _capacity_grew(old_capacity, event.capacity):
        promoted = fill_from_waitlist(event.id, cluster=cluster)
        if promoted:
            from . import mail

            mail.queue("promotion", promoted, cluster=cluster)
    return event


def _capacity_grew(old: int | None, new: int | None) -> bool:
    if new is None:
        return old is not None
    return old is not None and new > old


def change_event_status(event: Event, new: str, *, cluster) -> Event:
    """Move an event along :data:`EVENT_TRANSITIONS`; a cancelled event tells its registrants."""
    if new not in EVENT_STATUSES:
        raise EventsError(_("Unknown event status '%(status)s'.", status=new), "status")
    begin_write_transaction()
    db.session.refresh(event)  # judge the move on the row as it is now
    if new == event.status:
        db.session.commit()
        return event
    if new not in EVENT_TRANSITIONS[event.status]:
        db.session.rollback()
        raise EventsError(_("An event cannot go from '%(old)s' to '%(new)s'.",
                            old=EVENT_STATUSES[event.status], new=EVENT_STATUSES[new]), "status")
    event.status = new
    event.sequence = (event.sequence or 0) + 1
    db.session.commit()
    if new == "cancelled":
        ids = db.session.execute(
            select(Registration.id).where(Registration.event_id == event.id,
                                          Registration.status.in_(("registered", "waitlisted")))
            .order_by(Registration.id)
        ).scalars().all()
        if ids:
            from . import mail

            mail.queue("event_cancelled", list(ids), cluster=cluster)
    return event


def delete_event(event: Event) -> None:
    """Delete an event that nobody was ever registered or invited to."""
    begin_write_transaction()
    if db.session.execute(select(Registration.id).where(Registration.event_id == event.id).limit(1)).first():
        db.session.rollback()
        raise EventsError(_("This event has registrations: cancel it instead of deleting it."))
    db.session.delete(event)
    db.session.commit()


# -- registrations -----------------------------------------------------------------------
def release_read_transaction() -> None:
    """End the request session's read-only transaction, so its connection goes back to the pool.

    The seat logic runs in a session of its own; without this, many simultaneous
    registrations could each hold one connection while waiting for a second.
    """
    session = db.session
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()  # nothing to write; expire_on_commit is off, loaded objects stay usable


def begin_write_transaction() -> None:
    """Start the request session's next transaction with the write lock (SQLite: ``BEGIN IMMEDIATE``).

    For a read-then-write on ``db.session`` that must not fail on SQLite when another
    process writes in between (a deferred transaction cannot upgrade a stale snapshot).
    """
    session = db.session
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={"sqlite_immediate": True})


def _lock_event(session, event_id: int, cluster_id: int) -> Event:
    event = session.execute(
        select(Event).where(Event.id == event_id, Event.cluster_id == cluster_id).with_for_update()
    ).scalar_one_or_none()
    if event is None:
        raise EventsError(_("No such event."), "event_id")
    return event


def _seats_taken(session, event_id: int) -> int:
    return session.execute(
        select(func.count()).select_from(Registration)
        .where(Registration.event_id == event_id, Registration.status.in_(SEAT_STATUSES))
    ).scalar_one()


def _check_registrable(event: Event, *, public: bool) -> None:
    if event.status in ("cancelled", "done"):
        raise EventsError(_("This event is %(status)s: registrations are closed.",
                            status=EVENT_STATUSES[event.status].lower()))
    if public and not event.registration_open():
        raise EventsError(_("Registrations for this event are closed."))


CHECKIN_OPENS_BEFORE = timedelta(days=1)


def price_for(event: Event, member: bool) -> Decimal:
    return event.member_price if member else event.non_member_price


def register(event_id: int, person_id: int, *, cluster, source: str = "staff", organization_id: int | None = None,
             public: bool = False, notify: bool = True) -> Outcome:
    """Register a person for an event: a seat if one is free, else the waitlist.

    Registering someone who is already registered or waitlisted changes nothing.
    The price is the member price when the organization (given, else the person's
    main organization) is a member of the cluster on the event's date.
    The rules are :func:`register_many`'s, for a list of one.

    :raises EventsError: unknown person or event, erased person, event not open.
    """
    return _register(event_id, [person_id], cluster=cluster, source=source, organization_id=organization_id,
                     public=public, notify=notify, single=True)[0]


def register_many(event_id: int, person_ids: Iterable[int], *, cluster, source: str = "staff",
                  notify: bool = True, organization_id: int | None = None, public: bool = False) -> list[Outcome]:
    """Register a list of persons in ONE write transaction, the event's row locked as :func:`register` does.

    - The whole list is refused (:class:`EventsError` naming them, nothing written) when a
      person is unknown or erased: a staff list with a wrong id is a mistake to fix, not
      to half-apply.
    - A person listed twice counts once (the first place in the list).
    - Those already registered or waitlisted are left unchanged (``Outcome.changed`` is
      False); a cancelled or invited registration is reused.
    - Free seats go in list order; the rest are waitlisted (in list order too).
    - Member prices: one query for the persons, one for the memberships.
    - With ``notify``, one confirmation job and one waitlist job for the whole list.

    :returns: one :class:`Outcome` per distinct person, in list order.
    """
    return _register(event_id, list(person_ids), cluster=cluster, source=source, organization_id=organization_id,
                     public=public, notify=notify, single=False)


def _register(event_id: int, person_ids: list[int], *, cluster, source: str, organization_id: int | None,
              public: bool, notify: bool, single: bool) -> list[Outcome]:
    """The registration rules, shared by :func:`register` and :func:`register_many`."""
    ids = list(dict.fromkeys(int(i) for i in person_ids))
    persons = crm.get_persons(ids) if ids else {}
    unknown = [i for i in ids if i not in persons or persons[i].erased]
    if unknown:
        if single:
            raise EventsError(_("No such person."), "person_id")
        raise EventsError(_("No such person in the CRM: %(ids)s.", ids=", ".join(f"#{i}" for i in unknown)),
                          "person_ids")
    if organization_id is not None and not crm.organization_names([organization_id]):
        raise EventsError(_("No such organization."), "organization_id")
    starts_at = db.session.execute(
        select(Event.starts_at).where(Event.id == event_id, Event.cluster_id == cluster.id)
    ).scalar_one_or_none()
    if starts_at is None:
        raise EventsError(_("No such event."), "event_id")
    org_of = {i: organization_id if organization_id is not None else persons[i].organization_id for i in ids}
    members = crm.member_ids(set(org_of.values()), cluster.id, starts_at.astimezone(cluster.zone).date())
    release_read_transaction()

    outcomes: list[Outcome] = []
    with db.write_transaction(cluster.id) as session:
        event = _lock_event(session, event_id, cluster.id)
        _check_registrable(event, public=public)
        existing: dict[int, Registration] = {}
        for k in range(0, len(ids), 500):
            for reg in session.execute(select(Registration).where(
                    Registration.event_id == event_id, Registration.person_id.in_(ids[k:k + 500]))).scalars():
                existing[reg.person_id] = reg
        taken = _seats_taken(session, event_id) if event.capacity is not None else 0
        now = utcnow()
        pending: list[tuple[int, Registration, str | None]] = []
        for person_id in ids:
            reg = existing.get(person_id)
            if reg is not None and reg.status in ACTIVE_STATUSES:
                pending.append((person_id, reg, reg.status))
                continue
            previous = reg.status if reg is not None else None
            free = event.capacity is None or taken < event.capacity
            status = "registered" if free else "waitlisted"
            if free:
                taken += 1
            if reg is None:
                reg = Registration(event_id=event_id, person_id=person_id, cluster_id=cluster.id, status=status)
                session.add(reg)
            else:
                reg.status = status
                reg.cancelled_at = None
            member = org_of[person_id] in members
            reg.source = source
            reg.organization_id = org_of[person_id]
            reg.member_price = member
            reg.price = price_for(event, member)
            reg.registered_at = now
            pending.append((person_id, reg, previous))
        session.flush()  # one flush: the new rows go in one multi-row INSERT
        outcomes = [Outcome(reg.id, person_id, reg.status, previous) for person_id, reg, previous in pending]
    if notify:
        from . import mail

        for kind, status in (("confirmation", "registered"), ("waitlist", "waitlisted")):
            batch = [o.registration_id for o in outcomes if o.changed and o.status == status]
            if batch:
                mail.queue(kind, batch, cluster=cluster)
    return outcomes


def _registration_facts(registration_id: int, cluster_id: int):
    """``(event_id, organization_id, event start)`` of a registration of this cluster."""
    row = db.session.execute(
        select(Registration.event_id, Registration.organization_id, Event.starts_at)
        .join(Event, Event.id == Registration.event_id)
        .where(Registration.id == registration_id, Registration.cluster_id == cluster_id)
    ).first()
    if row is None:
        raise EventsError(_("No such registration."), "registration_id")
    return row


def _promote(session, event: Event, now: datetime) -> list[int]:
    """Move the first waitlisted registrations onto the free seats (under the event's lock)."""
    query = (select(Registration).where(Registration.event_id == event.id, Registration.status == "waitlisted")
             .order_by(Registration.registered_at, Registration.id))
    if event.capacity is not None:
        free = event.capacity - _seats_taken(session, event.id)
        if free <= 0:
            return []
        query = query.limit(free)
    promoted = []
    for reg in session.execute(query).scalars():
        reg.status = "registered"
        promoted.append(reg.id)
    session.flush()
    return promoted


def fill_from_waitlist(event_id: int, *, cluster) -> list[int]:
    """Promote waitlisted registrations while seats are free; return their ids (no mail)."""
    release_read_transaction()
    with db.write_transaction(cluster.id) as session:
        event = _lock_event(session, event_id, cluster.id)
        if event.status in ("cancelled", "done"):
            return []
        return _promote(session, event, utcnow())


def change_status(registration_id: int, new: str, *, cluster, notify: bool = True) -> Outcome:
    """Move a registration to another status, the seat rules and the status machine applied.

    With ``notify`` the person is mailed, and so is anyone promoted from the waitlist.

    - to *registered* from invited, waitlisted or cancelled: only onto a free seat;
    - to *cancelled*: the seat goes to the first waitlisted person, who is told;
    - to *attended* / *no_show*: the check-in.

    :raises EventsError: the move is not allowed (the message says why).
    """
    if new not in REGISTRATION_STATUSES:
        raise EventsError(_("Unknown registration status '%(status)s'.", status=new), "status")
    event_id, org_id, starts_at = _registration_facts(registration_id, cluster.id)
    member = False
    if new in ("registered", "waitlisted"):  # (re)joining from an invitation or a cancellation: price anew
        member = crm.is_member(org_id, cluster.id, starts_at.astimezone(cluster.zone).date())
    release_read_transaction()
    with db.write_transaction(cluster.id) as session:
        event = _lock_event(session, event_id, cluster.id)
        reg = session.execute(
            select(Registration).where(Registration.id == registration_id)
        ).scalar_one()
        previous = reg.status
        if previous == new:
            return Outcome(reg.id, reg.person_id, new, previous)
        if not can_transition(previous, new):
            raise EventsError(_("A registration cannot go from '%(old)s' to '%(new)s'.",
                                old=REGISTRATION_STATUSES[previous], new=REGISTRATION_STATUSES[new]), "status")
        now = utcnow()
        needs_seat = new == "registered" and previous not in SEAT_STATUSES
        if needs_seat or new == "waitlisted":
            _check_registrable(event, public=False)
        if needs_seat and event.capacity is not None and _seats_taken(session, event.id) >= event.capacity:
            raise EventsError(_("No seat is left (%(n)s of %(n)s taken): the person stays where they are.",
                                n=event.capacity), "status")
        if new in ("attended", "no_show") and event.starts_at > now + CHECKIN_OPENS_BEFORE:
            raise EventsError(_("Check-in opens the day before the event."), "status")
        try:
            reg.status = new
        except TransitionError as exc:  # the machine is the judge; can_transition above agrees
            raise EventsError(str(exc), "status") from None
        if new == "cancelled":
            reg.cancelled_at = now
        elif new == "attended":
            reg.attended_at = now
        elif new in ("registered", "waitlisted") and previous in ("invited", "cancelled"):
            reg.registered_at = now  # the waitlist order counts from here
            reg.cancelled_at = None
            reg.member_price = member
            reg.price = price_for(event, member)
        if new == "registered" and previous in ("attended", "no_show"):
            reg.attended_at = None
        promoted: list[int] = []
        session.flush()
        if previous in SEAT_STATUSES and new not in SEAT_STATUSES:
            promoted = _promote(session, event, now)
        outcome = Outcome(reg.id, reg.person_id, new, previous, tuple(promoted))
    if notify:
        from . import mail

        if new == "cancelled":
            mail.queue("cancellation", [outcome.registration_id], cluster=cluster)
        elif new == "registered" and previous not in SEAT_STATUSES:
            mail.queue("promotion" if previous == "waitlisted" else "confirmation", [outcome.registration_id],
                       cluster=cluster)
        elif new == "waitlisted":
            mail.queue("waitlist", [outcome.registration_id], cluster=cluster)
    if notify and outcome.promoted:
        from . import mail

        mail.queue("promotion", list(outcome.promoted), cluster=cluster)
    return outcome


def cancel(registration_id: int, *, cluster, notify: bool = True) -> Outcome:
    """Cancel a registration; the first waitlisted person gets the seat and is told."""
    return change_status(registration_id, "cancelled", cluster=cluster, notify=notify)


def mark_no_shows(event_id: int, *, cluster) -> int:
    """End the check-in: everyone still *registered* becomes *no_show*; return how many."""
    assert can_transition("registered", "no_show")
    release_read_transaction()
    with db.write_transaction(cluster.id) as session:
        event = _lock_event(session, event_id, cluster.id)
        if event.starts_at > utcnow():
            raise EventsError(_("The event has not started yet."))
        count = session.execute(
            update(Registration)
            .where(Registration.event_id == event_id, Registration.status == "registered")
            .values(status="no_show", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount or 0
        audit("events_no_shows", cluster_id=cluster.id, object_type="events.event", object_id=event_id,
              summary=f"{count} registrations of event #{event_id} marked no-show", session=session)
        return count


def mark_attended(event_id: int, registration_ids: Iterable[int], *, cluster) -> list[Outcome]:
    """Check in many registrations of an event in ONE write transaction (the event's row locked).

    The status machine applies to each; those already attended are left unchanged.  The
    whole list is refused (nothing written) when one is not of this event or cannot be
    checked in, or when check-in is not open yet.
    """
    ids = list(dict.fromkeys(int(i) for i in registration_ids))
    release_read_transaction()
    with db.write_transaction(cluster.id) as session:
        event = _lock_event(session, event_id, cluster.id)
        now = utcnow()
        if event.starts_at > now + CHECKIN_OPENS_BEFORE:
            raise EventsError(_("Check-in opens the day before the event."), "status")
        regs: dict[int, Registration] = {}
        for k in range(0, len(ids), 500):
            for reg in session.execute(select(Registration).where(
                    Registration.event_id == event_id, Registration.id.in_(ids[k:k + 500]))).scalars():
                regs[reg.id] = reg
        missing = [i for i in ids if i not in regs]
        if missing:
            raise EventsError(_("No such registration: %(ids)s.", ids=", ".join(f"#{i}" for i in missing)),
                              "registration_ids")
        outcomes = []
        for reg_id in ids:
            reg = regs[reg_id]
            previous = reg.status
            if previous != "attended":
                if not can_transition(previous, "attended"):
                    raise EventsError(_("A registration cannot go from '%(old)s' to '%(new)s'.",
                                        old=REGISTRATION_STATUSES[previous],
                                        new=REGISTRATION_STATUSES["attended"]), "status")
                reg.status = "attended"
                reg.attended_at = now
            outcomes.append(Outcome(reg.id, reg.person_id, "attended", previous))
        session.flush()
        return outcomes


# -- reading ---------------------------------------------------------------------------------
def status_counts(event_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{event_id: {status: count}}`` for many events in one grouped query."""
    ids = list(event_ids)
    out: dict[int, dict[str, int]] = {i: {} for i in ids}
    if not ids:
        return out
    for event_id, status, count in db.session.execute(
            select(Registration.event_id, Registration.status, func.count())
            .where(Registration.event_id.in_(ids)).group_by(Registration.event_id, Registration.status)):
        out[event_id][status] = count
    return out


def seats_taken(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in SEAT_STATUSES)


# -- invitations and reminders ---------------------------------------------------------------
def invite(event: Event, *, cluster, segment_id: int | None = None, person_ids: list[int] | None = None):
    """Queue the invitation of a CRM segment or of hand-picked persons; return the job.

    The job (:func:`.jobs.invite_job`) keeps those who consent to event invitations and
    have an address, records them as *invited* and mails them.
    """
    if event.status != "open" or event.ends_at <= utcnow():
        raise EventsError(_("Open the event for registrations before inviting anyone."), "segment_id")
    if segment_id is not None and segment_id not in {sid for sid, _name in crm.list_segments(cluster.id)}:
        raise EventsError(_("No such segment in this cluster."), "segment_id")
    if segment_id is None and not person_ids:
        raise EventsError(_("Choose a segment, or pick persons."), "segment_id")
    return queue_mails("events.invite", cluster=cluster,
                       params={"event_id": event.id, "segment_id": segment_id,
                               "person_ids": [int(i) for i in person_ids or []]},
                       label=_("Invitations to “%(title)s”", title=event.title))


def send_reminders(event: Event, *, cluster):
    """Queue a reminder to every registered person not reminded yet; return the job (or None)."""
    from . import mail

    if event.status not in ("open", "closed") or event.ends_at <= utcnow():
        raise EventsError(_("Reminders go out before an open or closed event, not a %(status)s one.",
                            status=EVENT_STATUSES[event.status].lower()))
    ids = db.session.execute(
        select(Registration.id).where(Registration.event_id == event.id, Registration.status == "registered",
                                      Registration.reminded_at.is_(None)).order_by(Registration.id)
    ).scalars().all()
    return mail.queue("reminder", list(ids), cluster=cluster,
                      label=_("Reminders for “%(title)s”", title=event.title)) if ids else None
