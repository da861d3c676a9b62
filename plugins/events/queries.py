"""The events' queries: the lists, filters and searches pages, the API and the hooks share.

Everything here reads the current cluster's rows only: the core scopes every query of
an events model to the request's cluster (``db.for_cluster`` elsewhere), so no query
filters on ``cluster_id`` itself.  Filters come from request arguments as plain
mappings; an unknown value is reported in ``errors`` (the page answers 400, the API
``{"errors": {"_query": [...]}}``), never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from core import db, paginate, utcnow
from plugins.crm import api as crm

from . import display
from .cluster import current_cluster
from .models import EVENT_KINDS, EVENT_STATUSES, REGISTRATION_STATUSES, SEAT_STATUSES, Event, Registration


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """A calendar year of the current cluster's time zone, as aware datetimes ``[start, end)``.

    :raises ValueError: not a year datetime can hold.
    """
    tz = current_cluster().zone
    return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


def _title_words(stmt: Select, query: str) -> Select:
    for word in query.split()[:5]:
        stmt = stmt.where(Event.title.ilike(display.like_contains(word), escape="\\"))
    return stmt


# -- the events list ------------------------------------------------------------------------
EVENT_SORTS = {
    "starts": (Event.starts_at.asc(), Event.id.asc()),
    "-starts": (Event.starts_at.desc(), Event.id.desc()),
    "title": (Event.title.asc(), Event.id.asc()),
    "-title": (Event.title.desc(), Event.id.desc()),
    "status": (Event.status.asc(), Event.starts_at.asc()),
    "-status": (Event.status.desc(), Event.starts_at.asc()),
}
PERIODS = ("upcoming", "past", "all")


def event_filters(args) -> tuple[Select, dict, list[str]]:
    """The events list from request arguments (``q``, ``status``, ``kind``, ``period``, ``year``,
    ``sort``): ``(stmt, filters as understood, errors)``."""
    filters = {k: (args.get(k) or "").strip()[:200] for k in ("q", "status", "kind", "period", "year", "sort")}
    errors = []
    stmt = _title_words(select(Event), filters["q"])
    if filters["status"]:
        if filters["status"] in EVENT_STATUSES:
            stmt = stmt.where(Event.status == filters["status"])
        else:
            errors.append(_("Unknown status '%(value)s'.", value=filters["status"]))
    if filters["kind"]:
        if filters["kind"] in EVENT_KINDS:
            stmt = stmt.where(Event.kind == filters["kind"])
        else:
            errors.append(_("Unknown type '%(value)s'.", value=filters["kind"]))
    if filters["year"]:
        try:
            start, end = year_bounds(int(filters["year"]))
        except (ValueError, OverflowError):
            errors.append(_("Not a year: '%(value)s'.", value=filters["year"]))
        else:
            stmt = stmt.where(Event.starts_at >= start, Event.starts_at < end)
    period = filters["period"] or ("all" if filters["year"] or filters["q"] else "upcoming")
    if period not in PERIODS:
        errors.append(_("Unknown period '%(value)s'.", value=period))
        period = "all"
    filters["period"] = period
    now = utcnow()
    if period == "upcoming":
        stmt = stmt.where(Event.ends_at >= now)
    elif period == "past":
        stmt = stmt.where(Event.ends_at < now)
    sort = filters["sort"] if filters["sort"] in EVENT_SORTS else ("-starts" if period == "past" else "starts")
    filters["sort"] = sort
    return stmt.order_by(*EVENT_SORTS[sort]), filters, errors


def upcoming_events(limit: int) -> list[Event]:
    """The next open or closed events, soonest first (the dashboard)."""
    return list(db.session.execute(
        select(Event).where(Event.status.in_(("open", "closed")), Event.ends_at >= utcnow())
        .order_by(Event.starts_at).limit(limit)
    ).scalars())


def search(query: str, limit: int):
    """Events whose title holds every word of ``query`` (the search box), newest first:
    rows of ``id``, ``title``, ``starts_at``, ``status``."""
    stmt = _title_words(select(Event.id, Event.title, Event.starts_at, Event.status), query)
    return db.session.execute(stmt.order_by(Event.starts_at.desc()).limit(limit)).all()


FEED_PAST = timedelta(days=365)
FEED_MAX = 1000


def feed_events() -> list[Event]:
    """The iCalendar feed's events: not drafts, from a year ago on, soonest first (at most 1,000)."""
    return list(db.session.execute(
        select(Event).where(Event.status != "draft", Event.starts_at >= utcnow() - FEED_PAST)
        .order_by(Event.starts_at, Event.id).limit(FEED_MAX)
    ).scalars())


# -- registration counts ----------------------------------------------------------------------
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
    """Seats held, from an event's :func:`status_counts`."""
    return sum(counts.get(s, 0) for s in SEAT_STATUSES)


def seats_left(event: Event) -> int | None:
    """Free seats now (None: no capacity), for a page (the seats themselves are given by :mod:`.seats`)."""
    if event.capacity is None:
        return None
    return max(0, event.capacity - seats_taken(status_counts([event.id])[event.id]))


def registration_statuses(event_id: int, person_ids: Iterable[int]) -> dict[int, str]:
    """``{person_id: status}`` of these persons' registrations for the event (those who have one)."""
    ids = list(person_ids)
    if not ids:
        return {}
    return dict(db.session.execute(
        select(Registration.person_id, Registration.status)
        .where(Registration.event_id == event_id, Registration.person_id.in_(ids))).all())


# -- an event's registrations ---------------------------------------------------------------------
REGISTRATION_SORTS = {
    "registered": (Registration.registered_at.asc().nulls_last(), Registration.id.asc()),
    "-registered": (Registration.registered_at.desc().nulls_last(), Registration.id.desc()),
    "status": (Registration.status.asc(), Registration.registered_at.asc().nulls_last(), Registration.id.asc()),
}


def registration_filters(event: Event, args) -> tuple[Select, dict, list[str]]:
    """An event's registrations filtered by ``status`` and ``q`` and sorted: ``(stmt, filters, errors)``."""
    status = (args.get("status") or "").strip()
    q = (args.get("q") or "").strip()[:200]
    sort = args.get("sort") if args.get("sort") in REGISTRATION_SORTS else "-registered"
    errors = []
    stmt = select(Registration).where(Registration.event_id == event.id)
    if status:
        if status in REGISTRATION_STATUSES:
            stmt = stmt.where(Registration.status == status)
        else:
            errors.append(_("Unknown status '%(value)s'.", value=status))
    if q:
        stmt = stmt.where(Registration.person_id.in_(matching_person_ids(event.id, q)))
    return stmt.order_by(*REGISTRATION_SORTS[sort]), {"status": status, "q": q, "sort": sort}, errors


def registration_page(event: Event, args, *, page: int, per_page: int) -> dict:
    """One page of an event's registrations with their persons and organizations (one CRM call each):
    ``regs`` (a :class:`core.Page`), ``persons``, ``orgs``, ``reg_filters``, ``errors``."""
    stmt, filters, errors = registration_filters(event, args)
    regs = paginate(db.session, stmt, page=page, per_page=per_page)
    persons = crm.get_persons(r.person_id for r in regs.items)
    orgs = crm.organization_names(r.organization_id for r in regs.items)
    return {"regs": regs, "persons": persons, "orgs": orgs, "reg_filters": filters, "errors": errors}


def matching_person_ids(event_id: int, query: str) -> list[int]:
    """The event's persons whose name, e-mail or organization contains every word of ``query``."""
    ids = db.session.execute(select(Registration.person_id).where(Registration.event_id == event_id)).scalars().all()
    words = display.fold(query).split()
    out = []
    for pid, person in crm.get_persons(ids).items():
        text = display.fold(f"{person.full_name} {person.email} {person.organization_name}")
        if all(w in text for w in words):
            out.append(pid)
    return out


def candidates(event: Event, q: str, limit: int) -> tuple[list, dict[int, str]]:
    """CRM persons matching ``q`` (to register or invite) and ``{person_id: status}`` of those
    already on the event's list."""
    found = crm.search_persons(q, limit=limit) if q else []
    return found, registration_statuses(event.id, [p.id for p in found])


# -- the check-in -----------------------------------------------------------------------------------
def seat_holders(event: Event) -> list[tuple[Registration, object]]:
    """Registrations holding a seat with their persons, by last name (one CRM call)."""
    regs = db.session.execute(
        select(Registration).where(Registration.event_id == event.id, Registration.status.in_(SEAT_STATUSES))
    ).scalars().all()
    persons = crm.get_persons(r.person_id for r in regs)
    rows = [(r, persons.get(r.person_id)) for r in regs]
    rows.sort(key=lambda rp: (display.fold(rp[1].last_name if rp[1] else ""),
                              display.fold(rp[1].first_name if rp[1] else ""), rp[0].id))
    return rows


@dataclass
class CheckinList:
    """The check-in page's list: the seat holders matching the search, and the tallies of all."""

    rows: list[tuple[Registration, object]]
    orgs: dict[int, str]
    total: int
    attended: int
    remaining: int


def checkin_list(event: Event, q: str = "") -> CheckinList:
    """The seat holders by last name, those matching every word of ``q`` (name, e-mail,
    organization; case and accents aside), with the tallies of everyone."""
    rows = seat_holders(event)
    orgs = crm.organization_names(r.organization_id for r, _p in rows)
    found = CheckinList(rows=rows, orgs=orgs, total=len(rows),
                        attended=sum(1 for r, _p in rows if r.status == "attended"),
                        remaining=sum(1 for r, _p in rows if r.status == "registered"))
    if q:
        words = display.fold(q).split()
        found.rows = [(r, p) for r, p in rows
                      if p and all(w in display.fold(f"{p.full_name} {p.email} {orgs.get(r.organization_id, '')}")
                                   for w in words)]
    return found


# -- timelines -------------------------------------------------------------------------------------
def timeline_rows(object_type: str, object_id: int, limit: int):
    """A CRM person's or organization's registrations to the cluster's events, newest first
    (rows of the registration and its event), or None for another kind of record."""
    if object_type == "crm.person":
        condition = Registration.person_id == int(object_id)
    elif object_type == "crm.organization":
        condition = Registration.organization_id == int(object_id)
    else:
        return None
    return db.session.execute(
        select(Registration.id, Registration.person_id, Registration.status, Event.id.label("event_id"),
               Event.title, Event.starts_at, Event.status.label("event_status"))
        .join(Event, Event.id == Registration.event_id)
        .where(condition)
        .order_by(Event.starts_at.desc(), Registration.id.desc()).limit(limit)
    ).all()

