"""Seats: who gets one, who waits, under the event's row lock.

Every operation that takes or frees a seat first locks the event's row with the core's
one lock helper, :meth:`core.db.locked` (``SELECT ... FOR UPDATE`` on PostgreSQL, the
database's write lock on SQLite): the seats are counted and given under the lock, and
the lock is held until the request (job, command) commits.  So however many people
register at once, never more than the capacity are registered; the others are
waitlisted, in the order they came.

- :func:`allocate_seats` decides, for a list of persons, who gets a seat and who the
  waitlist (:mod:`.registrations` records it, with prices and mails);
- :func:`promote_waitlisted` gives freed seats to the first waitlisted persons (a
  cancellation, a higher capacity), :func:`fill_from_waitlist` locks first;
- :func:`lock_event`, :func:`seats_taken`, :func:`has_free_seat`,
  :func:`check_registrable` are the pieces, for operations that change one registration.

Reads after the lock use ``populate_existing``: a row the request read before it took
the lock is read again as it is now (on PostgreSQL another transaction may have changed
it meanwhile).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select

from core import db

from .errors import EventsError
from .models import ACTIVE_STATUSES, EVENT_STATUSES, SEAT_STATUSES, Event, Registration

CHUNK = 500  # ids per IN (...) list


def lock_event(event_id: int) -> Event:
    """The current cluster's event, its row locked until the transaction ends.

    :raises EventsError: no such event in this cluster.
    """
    event = db.session.execute(
        db.locked(select(Event).where(Event.id == event_id)).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if event is None:
        raise EventsError(_("No such event."), "event_id")
    return event


def seats_taken(event_id: int) -> int:
    """Seats held now (registered, attended, no-show): count them under the event's lock."""
    return db.session.execute(
        select(func.count()).select_from(Registration)
        .where(Registration.event_id == event_id, Registration.status.in_(SEAT_STATUSES))
    ).scalar_one()


def has_free_seat(event: Event) -> bool:
    """Is a seat free (no capacity: always)?  Under the event's lock."""
    return event.capacity is None or seats_taken(event.id) < event.capacity


def check_registrable(event: Event, *, public: bool) -> None:
    """:raises EventsError: the event takes no registration (cancelled, done; for the public:
    not open, past its deadline or over)."""
    if event.status in ("cancelled", "done"):
        raise EventsError(_("This event is %(status)s: registrations are closed.",
                            status=EVENT_STATUSES[event.status].lower()))
    if public and not event.registration_open():
        raise EventsError(_("Registrations for this event are closed."))


@dataclass(frozen=True)
class Place:
    """What one person gets from :func:`allocate_seats`."""

    person_id: int
    registration: Registration | None  # their registration for the event, if they have one
    status: str  # "registered" (a seat) or "waitlisted"; their status when unchanged
    changed: bool  # False: already registered or waitlisted (or attended, no-show): left as is


def allocate_seats(event_id: int, person_ids: list[int], *, public: bool = False) -> tuple[Event, list[Place]]:
    """Lock the event, then give its free seats to these persons in list order, the waitlist to the rest.

    Persons already coming or waiting (registered, waitlisted, attended, no-show) keep
    their place; an invited or cancelled registration takes a seat or the waitlist like a
    new one.  The caller records the places (:func:`.registrations.register_many`) in the
    same transaction, which still holds the lock.

    :param person_ids: distinct ids, in the order seats are given.
    :raises EventsError: no such event, or it takes no registration (:func:`check_registrable`).
    """
    event = lock_event(event_id)
    check_registrable(event, public=public)
    existing: dict[int, Registration] = {}
    for k in range(0, len(person_ids), CHUNK):
        for reg in db.session.execute(
                select(Registration).where(Registration.event_id == event_id,
                                           Registration.person_id.in_(person_ids[k:k + CHUNK]))
                .execution_options(populate_existing=True)).scalars():
            existing[reg.person_id] = reg
    free = None if event.capacity is None else event.capacity - seats_taken(event_id)
    places = []
    for person_id in person_ids:
        reg = existing.get(person_id)
        if reg is not None and reg.status in ACTIVE_STATUSES:
            places.append(Place(person_id, reg, reg.status, changed=False))
            continue
        seat = free is None or free > 0
        if seat and free is not None:
            free -= 1
        places.append(Place(person_id, reg, "registered" if seat else "waitlisted", changed=True))
    return event, places


def promote_waitlisted(event: Event) -> list[int]:
    """Move the first waitlisted registrations onto the free seats (the event locked); return their ids.

    The waitlist's order is the registration time; a promoted registration keeps it.
    """
    query = (select(Registration).where(Registration.event_id == event.id, Registration.status == "waitlisted")
             .order_by(Registration.registered_at, Registration.id).execution_options(populate_existing=True))
    if event.capacity is not None:
        free = event.capacity - seats_taken(event.id)
        if free <= 0:
            return []
        query = query.limit(free)
    promoted = []
    for reg in db.session.execute(query).scalars():
        reg.status = "registered"
        promoted.append(reg.id)
    db.session.flush()
    return promoted


def fill_from_waitlist(event_id: int) -> list[int]:
    """Lock the event and promote waitlisted registrations while seats are free; return their ids (no mail)."""
    event = lock_event(event_id)
    if event.status in ("cancelled", "done"):
        return []
    return promote_waitlisted(event)
