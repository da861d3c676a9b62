"""Registration operations: register, change a status, cancel, check in; what pages, the API,
the demo and the benchmark share.

They act for the current cluster (:func:`.cluster.current_cluster`: the request's, or
``db.for_cluster``), flush and never commit: the request (command, job) commits once at
its end, or rolls everything back.  Seats are given and freed under the event's row lock
(:mod:`.seats`), which the transaction holds until then.  Mails (confirmation, waitlist,
promotion, cancellation) are queued to go out once the transaction commits
(:func:`.mail.queue`): a request that fails mails nobody.

Every operation checks first and writes after: an :class:`.errors.EventsError` leaves
nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Iterable

from flask_babel import gettext as _
from sqlalchemy import select, update

from core import audit, db, utcnow
from plugins.crm import api as crm

from . import mail, seats
from .cluster import current_cluster
from .errors import EventsError
from .models import REGISTRATION_STATUSES, SEAT_STATUSES, Event, Registration, TransitionError, can_transition
from .services import change_event_status

CHECKIN_OPENS_BEFORE = timedelta(days=1)


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


def price_for(event: Event, member: bool) -> Decimal:
    return event.member_price if member else event.non_member_price


# -- registering ---------------------------------------------------------------------------------
def register(event_id: int, person_id: int, *, source: str = "staff", organization_id: int | None = None,
             public: bool = False, notify: bool = True) -> Outcome:
    """Register a person for an event: a seat if one is free, else the waitlist.

    Registering someone who is already registered or waitlisted changes nothing.
    The price is the member price when the organization (given, else the person's
    main organization) is a member of the cluster on the event's date.
    The rules are :func:`register_many`'s, for a list of one.

    :raises EventsError: unknown person or event, erased person, event not open.
    """
    return _register(event_id, [person_id], source=source, organization_id=organization_id, public=public,
                     notify=notify, single=True)[0]


def register_many(event_id: int, person_ids: Iterable[int], *, source: str = "staff", notify: bool = True,
                  organization_id: int | None = None, public: bool = False) -> list[Outcome]:
    """Register a list of persons under one lock of the event's row (:func:`.seats.allocate_seats`).

    - The whole list is refused (:class:`EventsError` naming them, nothing written) when a
      person is unknown or erased: a staff list with a wrong id is a mistake to fix, not
      to half-apply.
    - A person listed twice counts once (the first place in the list).
    - Those already registered or waitlisted are left unchanged (``Outcome.changed`` is
      False); a cancelled or invited registration is reused.
    - Free seats go in list order; the rest are waitlisted (in list order too).
    - Member prices: one query for the persons, one for the memberships.
    - With ``notify``, one confirmation job and one waitlist job for the whole list, after the commit.

    :returns: one :class:`Outcome` per distinct person, in list order.
    """
    return _register(event_id, list(person_ids), source=source, organization_id=organization_id, public=public,
                     notify=notify, single=False)


def _register(event_id: int, person_ids: list[int], *, source: str, organization_id: int | None, public: bool,
              notify: bool, single: bool) -> list[Outcome]:
    """The registration rules, shared by :func:`register` and :func:`register_many`."""
    cluster = current_cluster()
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
    starts_at = db.session.execute(select(Event.starts_at).where(Event.id == event_id)).scalar_one_or_none()
    if starts_at is None:
        raise EventsError(_("No such event."), "event_id")
    org_of = {i: organization_id if organization_id is not None else persons[i].organization_id for i in ids}
    members = crm.member_ids(set(org_of.values()), cluster.id, cluster.local(starts_at).date())

    event, places = seats.allocate_seats(event_id, ids, public=public)
    now = utcnow()
    written: list[tuple[Registration, str | None]] = []
    for place in places:
        reg = place.registration
        if not place.changed:
            written.append((reg, reg.status))
            continue
        previous = reg.status if reg is not None else None
        if reg is None:
            reg = Registration(event_id=event_id, person_id=place.person_id, status=place.status)
            db.session.add(reg)
        else:
            reg.status = place.status
            reg.cancelled_at = None
        member = org_of[place.person_id] in members
        reg.source = source
        reg.organization_id = org_of[place.person_id]
        reg.member_price = member
        reg.price = price_for(event, member)
        reg.registered_at = now
        written.append((reg, previous))
    db.session.flush()  # one flush: the new rows go in one multi-row INSERT
    outcomes = [Outcome(reg.id, reg.person_id, reg.status, previous) for reg, previous in written]
    if notify:
        for kind, status in (("confirmation", "registered"), ("waitlist", "waitlisted")):
            mail.queue(kind, [o.registration_id for o in outcomes if o.changed and o.status == status])
    return outcomes


def confirm_public_registration(event_id: int, request: dict) -> Outcome:
    """A visitor followed the double opt-in link and confirmed: match the CRM person by e-mail
    (or create them), then register them as the public (:func:`register`, ``public=True``).

    :param request: what the public form said (the signed link's data: ``m`` e-mail, ``f``
        first name, ``l`` last name, ``o`` organization, ``lang`` language).
    :raises ValueError: the CRM refuses the person (bad e-mail, missing name).
    :raises EventsError: the event takes no public registration now.
    """
    db.write_lock()  # a read (the e-mail) then a write (the person): the lock first
    person_id, _created = crm.find_or_create_person(
        email=request["m"], first_name=request.get("f", ""), last_name=request.get("l", ""),
        organization_name=request.get("o") or None, language=request.get("lang") or None,
        source="events: public registration")
    return register(event_id, person_id, source="public", public=True)


# -- changing a registration -----------------------------------------------------------------------
def _registration_facts(registration_id: int):
    """``(event_id, organization_id, event start)`` of a registration of the current cluster."""
    row = db.session.execute(
        select(Registration.event_id, Registration.organization_id, Event.starts_at)
        .join(Event, Event.id == Registration.event_id)
        .where(Registration.id == registration_id)
    ).first()
    if row is None:
        raise EventsError(_("No such registration."), "registration_id")
    return row


def _refuse_move(old: str, new: str) -> EventsError:
    return EventsError(_("A registration cannot go from '%(old)s' to '%(new)s'.",
                         old=REGISTRATION_STATUSES[old], new=REGISTRATION_STATUSES[new]), "status")


def change_status(registration_id: int, new: str, *, notify: bool = True) -> Outcome:
    """Move a registration to another status, the seat rules and the status machine applied.

    With ``notify`` the person is mailed, and so is anyone promoted from the waitlist
    (after the commit).

    - to *registered* from invited, waitlisted or cancelled: only onto a free seat;
    - to *cancelled*: the seat goes to the first waitlisted person, who is told;
    - to *attended* / *no_show*: the check-in.

    :raises EventsError: the move is not allowed (the message says why).
    """
    if new not in REGISTRATION_STATUSES:
        raise EventsError(_("Unknown registration status '%(status)s'.", status=new), "status")
    cluster = current_cluster()
    event_id, org_id, starts_at = _registration_facts(registration_id)
    member = False
    if new in ("registered", "waitlisted"):  # (re)joining from an invitation or a cancellation: price anew
        member = crm.is_member(org_id, cluster.id, cluster.local(starts_at).date())
    event = seats.lock_event(event_id)
    reg = db.session.execute(
        select(Registration).where(Registration.id == registration_id).execution_options(populate_existing=True)
    ).scalar_one()
    previous = reg.status
    if previous == new:
        return Outcome(reg.id, reg.person_id, new, previous)
    if not can_transition(previous, new):
        raise _refuse_move(previous, new)
    now = utcnow()
    needs_seat = new == "registered" and previous not in SEAT_STATUSES
    if needs_seat or new == "waitlisted":
        seats.check_registrable(event, public=False)
    if needs_seat and not seats.has_free_seat(event):
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
    db.session.flush()
    promoted: list[int] = []
    if previous in SEAT_STATUSES and new not in SEAT_STATUSES:
        promoted = seats.promote_waitlisted(event)
    outcome = Outcome(reg.id, reg.person_id, new, previous, tuple(promoted))
    if notify:
        if new == "cancelled":
            mail.queue("cancellation", [reg.id])
        elif new == "registered" and previous not in SEAT_STATUSES:
            mail.queue("promotion" if previous == "waitlisted" else "confirmation", [reg.id])
        elif new == "waitlisted":
            mail.queue("waitlist", [reg.id])
        mail.queue("promotion", promoted)
    return outcome


def cancel(registration_id: int, *, notify: bool = True) -> Outcome:
    """Cancel a registration; the first waitlisted person gets the seat and is told."""
    return change_status(registration_id, "cancelled", notify=notify)


# -- the check-in ----------------------------------------------------------------------------------
def mark_attended(event_id: int, registration_ids: Iterable[int]) -> list[Outcome]:
    """Check in many registrations of an event at once (the event's row locked).

    The status machine applies to each; those already attended are left unchanged.  The
    whole list is refused (nothing written) when one is not of this event or cannot be
    checked in, or when check-in is not open yet.
    """
    ids = list(dict.fromkeys(int(i) for i in registration_ids))
    event = seats.lock_event(event_id)
    now = utcnow()
    if event.starts_at > now + CHECKIN_OPENS_BEFORE:
        raise EventsError(_("Check-in opens the day before the event."), "status")
    regs: dict[int, Registration] = {}
    for k in range(0, len(ids), seats.CHUNK):
        for reg in db.session.execute(
                select(Registration).where(Registration.event_id == event_id, Registration.id.in_(ids[k:k + seats.CHUNK]))
                .execution_options(populate_existing=True)).scalars():
            regs[reg.id] = reg
    missing = [i for i in ids if i not in regs]
    if missing:
        raise EventsError(_("No such registration: %(ids)s.", ids=", ".join(f"#{i}" for i in missing)),
                          "registration_ids")
    refused = next((regs[i] for i in ids if not can_transition(regs[i].status, "attended")), None)
    if refused is not None:  # checked for all before any is changed
        raise _refuse_move(refused.status, "attended")
    outcomes = []
    for reg_id in ids:
        reg = regs[reg_id]
        previous = reg.status
        if previous != "attended":
            reg.status = "attended"
            reg.attended_at = now
        outcomes.append(Outcome(reg.id, reg.person_id, "attended", previous))
    db.session.flush()
    return outcomes


def mark_no_shows(event_id: int) -> int:
    """End the check-in: everyone still *registered* becomes *no_show*; return how many."""
    assert can_transition("registered", "no_show")
    event = seats.lock_event(event_id)
    if event.starts_at > utcnow():
        raise EventsError(_("The event has not started yet."))
    count = db.session.execute(
        update(Registration)
        .where(Registration.event_id == event_id, Registration.status == "registered")
        .values(status="no_show", updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    ).rowcount or 0
    audit("events_no_shows", cluster_id=event.cluster_id, object_type="events.event", object_id=event_id,
          summary=f"{count} registrations of event #{event_id} marked no-show")
    return count


def finish_checkin(event_id: int) -> int:
    """Close the check-in: everyone not checked in becomes a no-show, and an open or closed
    event is done; return the number of no-shows.

    :raises EventsError: the event has not started yet.
    """
    count = mark_no_shows(event_id)
    event = seats.lock_event(event_id)
    if event.status in ("open", "closed"):
        change_event_status(event, "done")
    return count
