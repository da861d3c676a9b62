"""Figures: per event, and per cluster and year (what a cluster publishes: events, participants).

Definitions, the same on every page and in the API:

- *registrations*: people holding a seat (registered, attended or no-show);
- *participants*: registrations minus no-shows, i.e. attended, plus registered people
  of events whose check-in was never closed (the best knowledge there is);
- *members*: people who came for an organization that was a member of the cluster on
  the event's date (the price category applied at registration);
- *companies reached*: distinct organizations of the participants.

Every figure comes from a few grouped queries, whatever the number of events, over the
current cluster's events (the core scopes them: :func:`.cluster.current_cluster`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import distinct, func, select

from core import db

from .cluster import current_cluster
from .models import EVENT_KINDS, REGISTRATION_STATUSES, SEAT_STATUSES, Event, Registration
from .queries import year_bounds

PARTICIPANT_STATUSES = ("registered", "attended")


@dataclass
class EventReport:
    event_id: int
    title: str
    capacity: int | None
    counts: dict[str, int]
    registrations: int
    participants: int
    attended: int
    no_show: int
    waitlisted: int
    members: int
    non_members: int
    organizations: int
    revenue_expected: Decimal
    currency: str
    attendance_rate: float | None  # attended / (attended + no-show), once check-in began


def event_report(event: Event) -> EventReport:
    counts = {s: 0 for s in REGISTRATION_STATUSES}
    members = non_members = 0
    revenue = Decimal("0.00")
    rows = db.session.execute(
        select(Registration.status, Registration.member_price, func.count(), func.sum(Registration.price))
        .where(Registration.event_id == event.id)
        .group_by(Registration.status, Registration.member_price)
    ).all()
    for status, member, count, amount in rows:  # the sum keeps the Money type: a Decimal
        counts[status] += count
        if status in PARTICIPANT_STATUSES:
            if member:
                members += count
            else:
                non_members += count
        if status in SEAT_STATUSES and amount:
            revenue += amount
    organizations = db.session.execute(
        select(func.count(distinct(Registration.organization_id)))
        .where(Registration.event_id == event.id, Registration.status.in_(PARTICIPANT_STATUSES))
    ).scalar_one()
    checked = counts["attended"] + counts["no_show"]
    return EventReport(
        event_id=event.id, title=event.title, capacity=event.capacity, counts=counts,
        registrations=sum(counts[s] for s in SEAT_STATUSES),
        participants=sum(counts[s] for s in PARTICIPANT_STATUSES),
        attended=counts["attended"], no_show=counts["no_show"], waitlisted=counts["waitlisted"],
        members=members, non_members=non_members, organizations=organizations,
        revenue_expected=revenue.quantize(Decimal("0.01")), currency=current_cluster().currency,
        attendance_rate=round(counts["attended"] / checked, 3) if checked else None,
    )


@dataclass
class Line:
    """One row of a breakdown (a month, an event type)."""

    key: str
    events: int = 0
    participants: int = 0
    members: int = 0
    non_members: int = 0


@dataclass
class YearReport:
    year: int
    events: int
    cancelled_events: int
    registrations: int
    participants: int
    attended: int
    no_show: int
    members: int
    non_members: int
    persons: int
    organizations: int
    member_organizations: int
    by_month: list[Line] = field(default_factory=list)
    by_kind: list[Line] = field(default_factory=list)
    top_events: list[dict] = field(default_factory=list)  # id, title, starts_at, participants


def year_report(year: int) -> YearReport:
    """The current cluster's figures for a calendar year (of its time zone)."""
    start, end = year_bounds(year)
    tz = current_cluster().zone
    events = db.session.execute(
        select(Event.id, Event.title, Event.kind, Event.status, Event.starts_at)
        .where(Event.starts_at >= start, Event.starts_at < end, Event.status != "draft")
    ).all()
    held = {e.id: e for e in events if e.status != "cancelled"}
    months = [Line(key=f"{year}-{m:02d}") for m in range(1, 13)]
    kinds = {k: Line(key=k) for k in EVENT_KINDS}
    per_event: dict[int, dict] = {eid: {"participants": 0} for eid in held}
    totals = {s: 0 for s in REGISTRATION_STATUSES}
    members = non_members = 0
    for e in held.values():
        months[e.starts_at.astimezone(tz).month - 1].events += 1
        kinds.setdefault(e.kind, Line(key=e.kind)).events += 1
    held_ids = list(held)
    reg_filter = (Registration.event_id.in_(
        select(Event.id).where(Event.starts_at >= start, Event.starts_at < end,
                               Event.status.notin_(("draft", "cancelled")))),)
    for event_id, status, member, count in db.session.execute(
            select(Registration.event_id, Registration.status, Registration.member_price, func.count())
            .where(*reg_filter).group_by(Registration.event_id, Registration.status, Registration.member_price)):
        totals[status] += count
        if status not in PARTICIPANT_STATUSES:
            continue
        e = held[event_id]
        per_event[event_id]["participants"] += count
        for line in (months[e.starts_at.astimezone(tz).month - 1], kinds[e.kind]):
            line.participants += count
            if member:
                line.members += count
            else:
                line.non_members += count
        if member:
            members += count
        else:
            non_members += count
    participant_filter = (*reg_filter, Registration.status.in_(PARTICIPANT_STATUSES))
    persons = db.session.execute(
        select(func.count(distinct(Registration.person_id))).where(*participant_filter)).scalar_one()
    organizations = db.session.execute(
        select(func.count(distinct(Registration.organization_id))).where(*participant_filter)).scalar_one()
    member_organizations = db.session.execute(
        select(func.count(distinct(Registration.organization_id)))
        .where(*participant_filter, Registration.member_price.is_(True))).scalar_one()
    top = sorted(held_ids, key=lambda i: (-per_event[i]["participants"], held[i].starts_at))[:10]
    return YearReport(
        year=year, events=len(held), cancelled_events=sum(1 for e in events if e.status == "cancelled"),
        registrations=sum(totals[s] for s in SEAT_STATUSES),
        participants=sum(totals[s] for s in PARTICIPANT_STATUSES),
        attended=totals["attended"], no_show=totals["no_show"], members=members, non_members=non_members,
        persons=persons, organizations=organizations, member_organizations=member_organizations,
        by_month=months, by_kind=[line for line in kinds.values() if line.events],
        top_events=[{"id": i, "title": held[i].title, "starts_at": held[i].starts_at,
                     "participants": per_event[i]["participants"]} for i in top],
    )


def years_with_events() -> list[int]:
    """The calendar years (the current cluster's time) that have events, newest first."""
    bounds = db.session.execute(select(func.min(Event.starts_at), func.max(Event.starts_at))).one()
    if bounds[0] is None:
        return []
    tz = current_cluster().zone
    first, last = (_aware(b).astimezone(tz).year for b in bounds)
    return list(range(last, first - 1, -1))


def _aware(value: datetime) -> datetime:
    from datetime import timezone

    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
