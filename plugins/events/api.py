"""The events plugin's public API: the only module another plugin may import (``depends=("events",)``).

Plain functions returning plain data, inside an app context.  Each answers for the cluster
it is given, whatever cluster the current request is for: it reads as that cluster
(``db.for_cluster``, the core's scoping).  Billing does not import
this: it asks through its own hook ``billing_billable_items``, which :mod:`.hooks`
answers with :func:`billable_items`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from core import db

from .models import SEAT_STATUSES, Event, Registration

SOURCE = "events"


def _bound(value: date | datetime, tz) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    return datetime.combine(value, time.min, tzinfo=tz)


def billable_items(cluster, since: date | datetime, until: date | datetime) -> list[dict]:
    """Registration fees to invoice: one item per paying seat of an event held in the period.

    An item is a registration that holds a seat (registered, attended or no-show: a
    no-show pays) with a price above zero, for an event that is not cancelled, whose
    local date lies in ``[since, until]`` (dates, both included; datetimes are taken
    as they are, ``until`` excluded).

    :param cluster: the cluster (its id, time zone and currency are used).
    :returns: plain dicts: ``source`` ("events"), ``source_id`` ("registration:<id>"),
        ``organization_id``, ``person_id``, ``description``, ``amount`` (:class:`Decimal`),
        ``currency``, ``date`` (the event's local date), ``member_price`` (bool).
    """
    from plugins.crm import api as crm

    tz = cluster.zone
    start = _bound(since, tz)
    end = _bound(until, tz) if isinstance(until, datetime) else _bound(until + timedelta(days=1), tz)
    with db.for_cluster(cluster.id):
        rows = db.session.execute(
            select(Registration.id, Registration.person_id, Registration.organization_id, Registration.price,
                   Registration.member_price, Event.title, Event.starts_at)
            .join(Event, Event.id == Registration.event_id)
            .where(Event.starts_at >= start, Event.starts_at < end, Event.status != "cancelled",
                   Registration.status.in_(SEAT_STATUSES), Registration.price > 0)
            .order_by(Event.starts_at, Registration.id)
        ).all()
    persons = crm.get_persons(r.person_id for r in rows)
    items = []
    for r in rows:
        person = persons.get(r.person_id)
        local_day = r.starts_at.astimezone(tz).date()
        who = person.full_name if person and not person.erased else f"#{r.person_id}"
        items.append({
            "source": SOURCE,
            "source_id": f"registration:{r.id}",
            "organization_id": r.organization_id,
            "person_id": r.person_id,
            "description": f"{r.title} ({local_day.isoformat()}): {who}",
            "amount": Decimal(r.price),
            "currency": cluster.currency or "EUR",
            "date": local_day,
            "member_price": bool(r.member_price),
        })
    return items


def upcoming_events(cluster_id: int, limit: int = 10) -> list[dict]:
    """The cluster's next open or closed events: ``id``, ``title``, ``starts_at``, ``status``."""
    from core import utcnow

    with db.for_cluster(cluster_id):
        rows = db.session.execute(
            select(Event.id, Event.title, Event.starts_at, Event.status)
            .where(Event.status.in_(("open", "closed")), Event.ends_at >= utcnow())
            .order_by(Event.starts_at).limit(limit)
        ).all()
    return [{"id": r.id, "title": r.title, "starts_at": r.starts_at, "status": r.status} for r in rows]


__all__ = ["billable_items", "upcoming_events"]
