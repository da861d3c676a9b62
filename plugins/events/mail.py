"""Mails to registrants: rendered from templates in the person's language, sent in the background.

Every mail goes through the jobs service (the ``events.send_mails`` job), so no web
request waits for an SMTP server.  With ``GRAPPE_SMTP_URL`` (``app.config["SMTP_URL"]``,
``smtp://user:pass@host:587?starttls=1`` or ``smtps://...``) mails are sent by SMTP;
without it they are written to ``<instance>/outbox/`` as ``.eml`` files, which the
back-office shows (:func:`outbox_list`).

Templates: ``templates/events/mail/<lang>/<kind>.txt``, with a ``subject`` and a
``body`` block, for every kind in :data:`MAIL_KINDS` and every language in
:data:`.display.LANGUAGES`.
"""

from __future__ import annotations

import os
import re
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime as rfc2822_date
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app, has_request_context, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select, update

from core import Cluster, enqueue, utcnow
from plugins.crm import api as crm

from . import display, tokens
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
CHUNK = 500
OUTBOX_NAME = re.compile(r"^(?P<at>\d{8}T\d{12})-(?P<slug>[a-z0-9-]+)-(?P<kind>[a-z_]+)-(?P<rand>[0-9a-f]{8})\.eml$")


# -- queueing (in the request) ------------------------------------------------------------
def base_url() -> str:
    """Where mailed links point: ``GRAPPE_BASE_URL``, else the current request's host."""
    configured = current_app.config.get("BASE_URL")
    if configured:
        return configured.rstrip("/") + "/"
    if has_request_context():
        return request.host_url
    return "http://127.0.0.1:5000/"


def _user_id() -> int | None:
    try:
        return current_user.id if has_request_context() and current_user.is_authenticated else None
    except AttributeError:
        return None


def queue(kind: str, registration_ids: list[int], *, cluster, label: str | None = None):
    """Send one kind of mail to the persons of these registrations, in the background.

    :returns: the job (its page shows progress and failures), or None when there is nobody.
    """
    if kind not in MAIL_KINDS or kind == "confirm":
        raise ValueError(f"unknown registration mail kind {kind!r}")
    ids = [int(i) for i in registration_ids]
    if not ids:
        return None
    return enqueue("events.send_mails", cluster_id=cluster.id, user_id=_user_id(),
                   params={"kind": kind, "registration_ids": ids, "base_url": base_url()},
                   label=label or f"{MAIL_KINDS[kind]} ({len(ids)})")


def queue_confirm_request(event: Event, *, cluster, email: str, first_name: str, last_name: str,
                          organization: str, language: str):
    """Mail the double opt-in link of a public registration (nothing is recorded before it is followed)."""
    data = {"e": event.id, "m": email, "f": first_name, "l": last_name, "o": organization, "lang": language}
    return enqueue("events.send_mails", cluster_id=cluster.id,
                   params={"kind": "confirm", "request": data, "base_url": base_url()},
                   label=f"{MAIL_KINDS['confirm']} (1)")


# -- the job ------------------------------------------------------------------------------------
def send_mails_job(job, kind: str, registration_ids: list[int] | None = None, request: dict | None = None,
                   base_url: str = "") -> dict:
    """``events.send_mails``: render and send one kind of mail (progress per chunk)."""
    cluster = job.session.get(Cluster, job.cluster_id)
    base = base_url or "http://127.0.0.1:5000/"
    if kind == "confirm":
        with transport() as out:
            out.send(confirm_request_message(job.session, cluster, request or {}, base), cluster=cluster, kind=kind)
        return {"sent": 1}
    sent, skipped = deliver(job, cluster, kind, list(registration_ids or []), base)
    return {"sent": sent, "skipped (no address)": skipped}


def deliver(job, cluster, kind: str, ids: list[int], base: str) -> tuple[int, int]:
    """Send one kind of mail to these registrations over one connection; return (sent, skipped).

    Reports progress after each chunk, and stamps ``invited_at`` / ``reminded_at`` for
    what was sent, chunk by chunk (a failed batch resumes without sending twice).
    """
    sent = skipped = 0
    job.progress(0, len(ids), force=True)
    with transport() as out:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            done_ids = []
            for reg_id, msg in registration_messages(job.session, cluster, kind, chunk, base):
                if msg is None:
                    skipped += 1
                    continue
                out.send(msg, cluster=cluster, kind=kind)
                done_ids.append(reg_id)
                sent += 1
            _stamp(job.session, kind, done_ids)
            job.progress(start + len(chunk), len(ids), force=True)
    return sent, skipped


def _stamp(session, kind: str, ids: list[int]) -> None:
    column = {"invitation": "invited_at", "reminder": "reminded_at"}.get(kind)
    if column and ids:
        # end the read transaction first: on SQLite a write cannot follow a read whose
        # snapshot went stale (the progress reports are written by another connection)
        session.commit()
        session.execute(update(Registration).where(Registration.id.in_(ids))
                        .values({column: utcnow()}).execution_options(synchronize_session=False))
        session.commit()


# -- building messages ------------------------------------------------------------------------
def render(kind: str, language: str, **context) -> tuple[str, str]:
    """Subject and plain-text body of a mail, from ``events/mail/<language>/<kind>.txt``."""
    template = current_app.jinja_env.get_template(f"events/mail/{language}/{kind}.txt")
    ctx = template.new_context(context)
    subject = " ".join("".join(template.blocks["subject"](ctx)).split())
    body = "".join(template.blocks["body"](ctx)).strip() + "\n"
    return subject, body


def _message(cluster, to_name: str, to_email: str, subject: str, body: str, kind: str) -> EmailMessage:
    msg = EmailMessage()
    sender = current_app.config.get("MAIL_FROM") or "grappe@localhost"
    msg["From"] = formataddr((cluster.name, sender))
    msg["To"] = formataddr((to_name, to_email))
    msg["Subject"] = subject
    msg["Date"] = rfc2822_date(utcnow())
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or "grappe.local")
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Grappe-Cluster"] = cluster.slug
    msg["X-Grappe-Kind"] = kind
    msg.set_content(body)
    return msg


class _Links:
    """External URLs of an event's pages, built for mails (outside any request)."""

    def __init__(self, cluster, base: str):
        self.cluster = cluster
        self.ctx = current_app.test_request_context("/", base_url=base)

    def __enter__(self):
        self.ctx.push()
        return self

    def __exit__(self, *exc):
        self.ctx.pop()

    def url(self, endpoint: str, **values) -> str:
        return url_for(endpoint, cluster=self.cluster.slug, _external=True, **values)


def _event_context(event: Event, cluster, language: str, links: _Links) -> dict:
    return {
        "event": event,
        "cluster": cluster,
        "when": display.when(event, cluster, language),
        "timezone": cluster.timezone,
        "member_price": display.money(event.member_price, cluster.currency, language),
        "non_member_price": display.money(event.non_member_price, cluster.currency, language),
        "free": event.is_free,
        "event_url": links.url("events.public_event", event_id=event.id),
        "ics_url": links.url("events.event_ics", event_id=event.id),
    }


def registration_messages(session, cluster, kind: str, ids: list[int], base: str) -> Iterator[tuple[int, EmailMessage | None]]:
    """One message per registration (None for a person without an address or erased)."""
    rows = session.execute(
        select(Registration, Event).join(Event, Event.id == Registration.event_id)
        .where(Registration.id.in_(ids), Registration.cluster_id == cluster.id)
    ).all()
    persons = crm.get_persons(r.person_id for r, _ in rows)
    positions = _waitlist_positions(session, {e.id for _, e in rows}) if kind == "waitlist" else {}
    with _Links(cluster, base) as links:
        for reg, event in rows:
            person = persons.get(reg.person_id)
            if person is None or person.erased or not person.email:
                yield reg.id, None
                continue
            language = display.language_of(person.language, cluster)
            context = _event_context(event, cluster, language, links)
            context.update(
                person=person, registration=reg,
                price=display.money(reg.price, cluster.currency, language) if reg.price else "",
                position=positions.get(reg.id),
                cancel_url=links.url("events.public_cancel", token=tokens.make("cancel", {"r": reg.id})),
                accept_url=links.url("events.public_accept", token=tokens.make("accept", {"r": reg.id})),
            )
            subject, body = render(kind, language, **context)
            yield reg.id, _message(cluster, person.full_name, person.email, subject, body, kind)


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
    event = session.get(Event, int(data["e"]))
    language = display.language_of(data.get("lang"), cluster)
    with _Links(cluster, base) as links:
        context = _event_context(event, cluster, language, links)
        person = {"first_name": data.get("f", ""), "last_name": data.get("l", ""),
                  "full_name": f"{data.get('f', '')} {data.get('l', '')}".strip(), "email": data["m"]}
        context.update(person=person, organization=data.get("o", ""),
                       confirm_url=links.url("events.public_confirm", token=tokens.make("confirm", data)))
        subject, body = render("confirm", language, **context)
    return _message(cluster, person["full_name"], data["m"], subject, body, "confirm")


# -- transports -----------------------------------------------------------------------------------
def transport():
    """SMTP when ``SMTP_URL`` is set, else the outbox folder."""
    url = current_app.config.get("SMTP_URL")
    return SmtpTransport(url) if url else Outbox(outbox_folder())


def outbox_folder() -> Path:
    return Path(current_app.instance_path) / "outbox"


class Outbox:
    """Writes each mail as an ``.eml`` file (named by time, cluster and kind)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc):
        return None

    def send(self, msg: EmailMessage, *, cluster, kind: str) -> Path:
        name = f"{utcnow():%Y%m%dT%H%M%S%f}-{cluster.slug}-{kind}-{secrets.token_hex(4)}.eml"
        path = self.folder / name
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(msg.as_bytes())
        os.replace(tmp, path)
        return path


@dataclass
class SmtpSettings:
    host: str
    port: int
    username: str
    password: str
    ssl: bool
    starttls: bool


def parse_smtp_url(url: str) -> SmtpSettings:
    """``smtp://user:pass@host:587?starttls=1`` or ``smtps://user:pass@host:465``."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"GRAPPE_SMTP_URL must look like smtp://user:pass@host:587?starttls=1, not {url!r}")
    query = parse_qs(parts.query)
    secure = parts.scheme == "smtps"
    return SmtpSettings(
        host=parts.hostname, port=parts.port or (465 if secure else 25),
        username=unquote(parts.username or ""), password=unquote(parts.password or ""), ssl=secure,
        starttls=query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes"),
    )


class SmtpTransport:
    """One SMTP connection for a batch of mails."""

    def __init__(self, url: str):
        self.settings = parse_smtp_url(url)
        self.conn: smtplib.SMTP | None = None

    def __enter__(self):
        s = self.settings
        if s.ssl:
            self.conn = smtplib.SMTP_SSL(s.host, s.port, timeout=30, context=ssl.create_default_context())
        else:
            self.conn = smtplib.SMTP(s.host, s.port, timeout=30)
            if s.starttls:
                self.conn.starttls(context=ssl.create_default_context())
        if s.username:
            self.conn.login(s.username, s.password)
        return self

    def __exit__(self, *exc):
        if self.conn is not None:
            try:
                self.conn.quit()
            except smtplib.SMTPException:
                self.conn.close()

    def send(self, msg: EmailMessage, *, cluster, kind: str) -> None:
        self.conn.send_message(msg)


# -- the outbox in the back-office -------------------------------------------------------------------
@dataclass(frozen=True)
class OutboxEntry:
    name: str
    at: datetime
    kind: str


def outbox_list(cluster) -> list[OutboxEntry]:
    """The cluster's mails in the outbox, newest first (file names only: no file is opened)."""
    folder = outbox_folder()
    if not folder.is_dir():
        return []
    out = []
    with os.scandir(folder) as entries:
        for entry in entries:
            m = OUTBOX_NAME.match(entry.name)
            if m and m["slug"] == cluster.slug:
                at = datetime.strptime(m["at"], "%Y%m%dT%H%M%S%f").replace(tzinfo=timezone.utc)
                out.append(OutboxEntry(entry.name, at, m["kind"]))
    out.sort(key=lambda e: e.name, reverse=True)
    return out


def outbox_read(cluster, name: str) -> EmailMessage | None:
    """One mail of the cluster's outbox, parsed (None when the name is not one of its files)."""
    m = OUTBOX_NAME.match(name or "")
    if not m or m["slug"] != cluster.slug:
        return None
    path = outbox_folder() / name
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        return BytesParser(policy=default_policy).parse(fh)


def outbox_headers(cluster, names: Iterable[str]) -> dict[str, EmailMessage]:
    """Parsed headers of a page of outbox files."""
    out = {}
    for name in names:
        path = outbox_folder() / name
        try:
            with path.open("rb") as fh:
                out[name] = BytesParser(policy=default_policy).parse(fh, headersonly=True)
        except OSError:
            continue
    return out
