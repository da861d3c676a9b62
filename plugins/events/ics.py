"""iCalendar output (RFC 5545, the icalendar library): one event, or a cluster's feed.

Times are written in UTC (``DTSTART:20261203T080000Z``), which every calendar client
reads and shows in its user's own zone; ``X-WR-TIMEZONE`` names the cluster's zone for
clients that display the feed in it.  A cancelled event stays in the feed with
``STATUS:CANCELLED`` so that subscribed calendars drop it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Iterable

from flask import url_for
from icalendar import Calendar
from icalendar import Event as VEvent

from core import utcnow

from .models import Event

ICS_STATUS = {"draft": "TENTATIVE", "open": "CONFIRMED", "closed": "CONFIRMED", "done": "CONFIRMED",
              "cancelled": "CANCELLED"}


def _calendar(cluster, name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Grappe//events//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", cluster.timezone or "UTC")
    return cal


def uid(event: Event, cluster) -> str:
    return f"event-{event.id}@{cluster.slug}.grappe"


def _vevent(event: Event, cluster) -> VEvent:
    item = VEvent()
    item.add("uid", uid(event, cluster))
    item.add("dtstamp", utcnow().replace(microsecond=0))
    item.add("dtstart", event.starts_at.replace(microsecond=0))
    item.add("dtend", event.ends_at.replace(microsecond=0))
    item.add("summary", event.title)
    description = event.description or ""
    if event.online_url:
        description = f"{description}\n\n{event.online_url}".strip()
    if description:
        item.add("description", description)
    location = event.venue or event.online_url
    if location:
        item.add("location", location)
    url = url_for("events.public_event", event_id=event.id, cluster=cluster.slug, _external=True)
    item.add("url", url)
    item.add("status", ICS_STATUS.get(event.status, "CONFIRMED"))
    item.add("sequence", event.sequence or 0)
    item.add("last-modified", (event.updated_at or event.created_at).replace(microsecond=0))
    return item


def event_calendar(event: Event, cluster) -> bytes:
    cal = _calendar(cluster, event.title)
    cal.add_component(_vevent(event, cluster))
    return cal.to_ical()


def feed_calendar(cluster, events: Iterable[Event]) -> bytes:
    """A cluster's feed of these events (:func:`.queries.feed_events`)."""
    cal = _calendar(cluster, cluster.name)
    cal.add("refresh-interval", timedelta(hours=6), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT6H")
    for event in events:
        cal.add_component(_vevent(event, cluster))
    return cal.to_ical()
