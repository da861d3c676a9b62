"""Event operations: create, edit, open, close, cancel and delete events; invite and remind.

What pages, the API, the demo, the benchmark and the command line share.  Registration
operations are in :mod:`.registrations`, the seats in :mod:`.seats`, the lists and
searches in :mod:`.queries`.

They act for the current cluster (:func:`.cluster.current_cluster`: the request's, or
``db.for_cluster``), flush and never commit: the request (command) commits once at its
end, or rolls everything back.  A change that a check depends on (the status, the
capacity) is made with the event's row locked (:func:`.seats.lock_event`).  Mails about
what they write go out once the transaction commits (:func:`.mail.queue`).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from core import db, queue_mails, utcnow
from plugins.crm import api as crm

from . import mail, seats
from .cluster import current_cluster
from .errors import EventsError
from .models import EVENT_STATUSES, EVENT_TRANSITIONS, Event, EventTopic, Registration

EVENT_FIELDS = ("title", "description", "kind", "starts_at", "ends_at", "venue", "online_url", "capacity",
                "registration_deadline", "member_price", "non_member_price", "organizer_id")


def save_event(event: Event | None, form) -> Event:
    """Create (``event`` None: a draft) or update an event from a validated :class:`.forms.EventForm`.

    A higher capacity fills the new seats from the waitlist (and tells those promoted).
    """
    creating = event is None
    if creating:
        event = Event(status="draft")
        old_capacity = None
    else:
        event = seats.lock_event(event.id)  # the row as it is now, locked: its capacity decides the seats
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
    db.session.flush()  # the new event's id, stamped with the current cluster
    if not creating and _capacity_grew(old_capacity, event.capacity) and event.status not in ("cancelled", "done"):
        mail.queue("promotion", seats.promote_waitlisted(event))
    return event


def _capacity_grew(old: int | None, new: int | None) -> bool:
    if new is None:
        return old is not None
    return old is not None and new > old


def change_event_status(event: Event, new: str) -> Event:
    """Move an event along :data:`.models.EVENT_TRANSITIONS`; a cancelled event tells its registrants.

    :raises EventsError: an unknown status, or a move the transitions do not allow.
    """
    if new not in EVENT_STATUSES:
        raise EventsError(_("Unknown event status '%(status)s'.", status=new), "status")
    event = seats.lock_event(event.id)  # judge the move on the row as it is now
    if new == event.status:
        return event
    if new not in EVENT_TRANSITIONS[event.status]:
        raise EventsError(_("An event cannot go from '%(old)s' to '%(new)s'.",
                            old=EVENT_STATUSES[event.status], new=EVENT_STATUSES[new]), "status")
    event.status = new
    event.sequence = (event.sequence or 0) + 1
    db.session.flush()
    if new == "cancelled":
        mail.queue("event_cancelled", db.session.execute(
            select(Registration.id).where(Registration.event_id == event.id,
                                          Registration.status.in_(("registered", "waitlisted")))
            .order_by(Registration.id)
        ).scalars().all())
    return event


def delete_event(event: Event) -> None:
    """Delete an event that nobody was ever registered or invited to.

    :raises EventsError: it has registrations (cancel it instead).
    """
    event = seats.lock_event(event.id)  # no registration comes in meanwhile
    if db.session.execute(select(Registration.id).where(Registration.event_id == event.id).limit(1)).first():
        raise EventsError(_("This event has registrations: cancel it instead of deleting it."))
    db.session.delete(event)
    db.session.flush()


# -- invitations and reminders ---------------------------------------------------------------
def invite(event: Event, *, segment_id: int | None = None, person_ids: list[int] | None = None):
    """Queue the invitation of a CRM segment or of hand-picked persons; return the job.

    The job (:func:`.jobs.invite_job`) keeps those who consent to event invitations and
    have an address, records them as *invited* and mails them.  Nothing is written here:
    the job starts at once, and the page follows it.
    """
    cluster = current_cluster()
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


def send_reminders(event: Event):
    """Queue a reminder to every registered person not reminded yet; return the job (or None).

    Nothing is written here (the job stamps ``reminded_at``): the job starts at once.
    """
    if event.status not in ("open", "closed") or event.ends_at <= utcnow():
        raise EventsError(_("Reminders go out before an open or closed event, not a %(status)s one.",
                            status=EVENT_STATUSES[event.status].lower()))
    ids = db.session.execute(
        select(Registration.id).where(Registration.event_id == event.id, Registration.status == "registered",
                                      Registration.reminded_at.is_(None)).order_by(Registration.id)
    ).scalars().all()
    return mail.queue("reminder", list(ids), label=_("Reminders for “%(title)s”", title=event.title),
                      after_commit=False)


def due_reminders(*, within: timedelta) -> list:
    """Queue reminders for the current cluster's open or closed events starting within ``within``
    (the ``grappe events remind`` command, daily); return the jobs started."""
    now = utcnow()
    events = db.session.execute(
        select(Event).where(Event.status.in_(("open", "closed")), Event.starts_at > now,
                            Event.starts_at <= now + within).order_by(Event.starts_at)
    ).scalars().all()
    jobs = [send_reminders(event) for event in events]
    return [job for job in jobs if job is not None]
