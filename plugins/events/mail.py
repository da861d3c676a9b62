"""Mails to registrants: which kinds there are, what they say, and who gets them.

Built on the core's mail service (``from core import render_mail, send_mails, ...``):
every mail goes through the ``events.send_mails`` job (:func:`.jobs.send_mails_job`), so
no web request waits for an SMTP server; the core sends it by SMTP or writes it to the
outbox.  A mail about what the request writes (a registration's confirmation, a seat
freed) is queued *after the commit* (:func:`queue`): a request that fails writes nothing
and mails nobody, and the job finds the registrations committed.

Templates: ``templates/events/mail/<lang>/<kind>.txt``, with a ``subject`` and a
``body`` block, for every kind in :data:`MAIL_KINDS` and every language of the platform.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Iterator

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core import mail_language, mail_message, mail_urls, queue_mails, render_mail, sign
from plugins.crm import api as crm

from . import display
from .cluster import current_cluster
from .models import Event, Registration

MAIL_KINDS = {
    "invitation": _l("Invitation"),
    "confirm": _l("Please confirm your registration"),
    "confirmation": _l("Registration confirmed"),
    "waitlist": _l("Waitlisted"),
    "promotion": _l("Seat freed: registered from the waitlist"),
    "cancellation": _l("Registration cancelled"),
    "event_cancelled": _l("Event cancelled"),
    "reminder": _l("Reminder"),
}
TEMPLATE = "events/mail/{language}/%s.txt"
CONFIRM_LINK_MAX_AGE = 3 * 24 * 3600  # the double opt-in link works three days (cancel and accept links: always)


# -- queueing (in the request) ------------------------------------------------------------
def queue(kind: str, registration_ids: list[int], *, label: str | None = None, after_commit: bool = True):
    """Send one kind of mail to the persons of these registrations (of the current cluster), in the background.

    :param after_commit: start the job when the request (command) commits, not at all if
        it rolls back (the default: the mail tells about what the caller writes); False
        starts it now (reminders: nothing is written, the page shows the job).
    :returns: the job (None with ``after_commit``, or when there is nobody).
    """
    if kind not in MAIL_KINDS or kind == "confirm":
        raise ValueError(f"unknown registration mail kind {kind!r}")
    ids = [int(i) for i in registration_ids]
    if not ids:
        return None
    return queue_mails("events.send_mails", cluster=current_cluster(), params={"kind": kind, "registration_ids": ids},
                       label=label or f"{MAIL_KINDS[kind]} ({len(ids)})", after_commit=after_commit)


def queue_confirm_request(event: Event, *, email: str, first_name: str, last_name: str, organization: str,
                          language: str) -> None:
    """Mail the double opt-in link of a public registration (nothing is recorded before it is followed).

    Queued after the request commits, like every mail of a page that answers.
    """
    data = {"e": event.id, "m": email, "f": first_name, "l": last_name, "o": organization, "lang": language}
    queue_mails("events.send_mails", cluster=current_cluster(), params={"kind": "confirm", "request": data},
                label=f"{MAIL_KINDS['confirm']} (1)", after_commit=True)


# -- building messages (inside mail_urls: links are external) ------------------------------------------
def _url(cluster, endpoint: str, **values) -> str:
    return url_for(endpoint, cluster=cluster.slug, _external=True, **values)


def _event_context(event: Event, cluster, language: str) -> dict:
    return {
        "event": event,
        "cluster": cluster,
        "when": display.when(event, cluster, language),
        "timezone": cluster.timezone,
        "member_price": display.money(event.member_price, cluster.currency, language),
        "non_member_price": display.money(event.non_member_price, cluster.currency, language),
        "free": event.is_free,
        "event_url": _url(cluster, "events.public_event", event_id=event.id),
        "ics_url": _url(cluster, "events.event_ics", event_id=event.id),
    }


def registration_messages(session, cluster, kind: str, ids: list[int]) -> Iterator[tuple[int, EmailMessage | None]]:
    """One message per registration (None for a person without an address or erased)."""
    rows = session.execute(  # the job's session is scoped to its cluster: another cluster's id is not found
        select(Registration, Event).join(Event, Event.id == Registration.event_id).where(Registration.id.in_(ids))
    ).all()
    persons = crm.get_persons(r.person_id for r, _ in rows)
    positions = _waitlist_positions(session, {e.id for _, e in rows}) if kind == "waitlist" else {}
    for reg, event in rows:
        person = persons.get(reg.person_id)
        if person is None or person.erased or not person.email:
            yield reg.id, None
            continue
        language = mail_language(person.language, cluster)
        context = _event_context(event, cluster, language)
        context.update(
            person=person, registration=reg,
            price=display.money(reg.price, cluster.currency, language) if reg.price else "",
            position=positions.get(reg.id),
            cancel_url=_url(cluster, "events.public_cancel", token=sign("events.cancel", {"r": reg.id})),
            accept_url=_url(cluster, "events.public_accept", token=sign("events.accept", {"r": reg.id})),
        )
        subject, body = render_mail(TEMPLATE % kind, language, **context)
        yield reg.id, mail_message(cluster, person.full_name, person.email, subject, body, kind=kind)


def _waitlist_positions(session, event_ids: set[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    counters: dict[int, int] = {}
    for reg_id, event_id in session.execute(
            select(Registration.id, Registration.event_id)
            .where(Registration.event_id.in_(event_ids), Registration.status == "waitlisted")
            .order_by(Registration.event_id, Registration.registered_at, Registration.id)):
        counters[event_id] = counters.get(event_id, 0) + 1
        out[reg_id] = counters[event_id]
    return out


def confirm_request_message(session, cluster, data: dict, base: str) -> EmailMessage:
    """The double opt-in mail of a public registration request (``data``: what the form said)."""
    event = session.get(Event, int(data["e"]))
    language = mail_language(data.get("lang"), cluster)
    with mail_urls(base):
        context = _event_context(event, cluster, language)
        person = {"first_name": data.get("f", ""), "last_name": data.get("l", ""),
                  "full_name": f"{data.get('f', '')} {data.get('l', '')}".strip(), "email": data["m"]}
        context.update(person=person, organization=data.get("o", ""),
                       confirm_url=_url(cluster, "events.public_confirm", token=sign("events.confirm", data)))
        subject, body = render_mail(TEMPLATE % "confirm", language, **context)
    return mail_message(cluster, person["full_name"], data["m"], subject, body, kind="confirm")
