"""Mail: rendered from templates in the person's language, sent by background jobs.

No web request waits for an SMTP server: a plugin queues a job (:func:`queue_mails`)
whose function sends the messages (:func:`send_mails`, or a job made by :func:`mail_job`
from a message builder).  With ``GRAPPE_SMTP_URL`` (``app.config["SMTP_URL"]``,
``smtp://user:pass@host:587?starttls=1`` or ``smtps://...``) mails are sent by SMTP;
without it they are written to ``<instance>/outbox/`` as ``.eml`` files, which the
back-office shows (:func:`outbox_list`, :func:`outbox_read`).

Every message is built by :func:`mail_message`: from the cluster (its name, the platform's
``GRAPPE_MAIL_FROM``), with the headers ``X-Grappe-Cluster`` and ``X-Grappe-Kind`` that
name its outbox file.
"""

from __future__ import annotations

import contextlib
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
from typing import Any, Callable, Iterable, Iterator, Sequence
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app, has_request_context, request
from flask_babel import force_locale
from flask_login import current_user

from .app import LANGUAGES
from .database import utcnow
from .jobs import enqueue
from .models import Cluster

CHUNK = 500
KIND = re.compile(r"^[a-z0-9_.]+$")
OUTBOX_NAME = re.compile(r"^(?P<at>\d{8}T\d{12})-(?P<slug>[a-z0-9-]+)-(?P<kind>[a-z0-9_.]+)-(?P<rand>[0-9a-f]{8})\.eml$")

#: ``build(chunk)``: yields ``(item, message or None)`` for each item of a chunk
Builder = Callable[[Sequence[Any]], Iterable[tuple[Any, "EmailMessage | None"]]]


# -- writing a mail ------------------------------------------------------------------------------
def mail_language(person_language: str | None, cluster=None) -> str:
    """The language to write to a person in: theirs, else the cluster's, else English."""
    for candidate in (person_language, getattr(cluster, "language", None)):
        if candidate and candidate[:2] in LANGUAGES:
            return candidate[:2]
    return "en"


def render_mail(template: str, language: str, **context) -> tuple[str, str]:
    """Subject and plain-text body of a mail template, rendered in ``language``.

    :param template: the template's name; ``{language}`` in it is replaced by the language
        (``"events/mail/{language}/confirmation.txt"``: one file per language).  The template
        defines a ``subject`` block (one line: whitespace is collapsed) and a ``body`` block;
        ``_()`` inside it translates into ``language``.
    """
    with force_locale(language):
        tpl = current_app.jinja_env.get_template(template.replace("{language}", language))
        ctx = tpl.new_context(context)
        subject = " ".join("".join(tpl.blocks["subject"](ctx)).split())
        body = "".join(tpl.blocks["body"](ctx)).strip() + "\n"
    return subject, body


def mail_message(cluster, to_name: str, to_email: str, subject: str, body: str, *, kind: str,
                 reply_to: str | None = None) -> EmailMessage:
    """A plain-text mail from the cluster (``"Cluster name <GRAPPE_MAIL_FROM>"``).

    :param kind: what the mail is (``confirmation``, ``training.convocation``): lowercase
        letters, digits, ``_`` and ``.``; shown in the outbox and in ``X-Grappe-Kind``.
    :param reply_to: an address for answers (no ``Reply-To`` header when None).
    """
    if not KIND.match(kind or ""):
        raise ValueError(f"a mail kind is lowercase letters, digits, '_' and '.', not {kind!r}")
    msg = EmailMessage()
    sender = current_app.config.get("MAIL_FROM") or "grappe@localhost"
    msg["From"] = formataddr((cluster.name, sender))
    msg["To"] = formataddr((to_name, to_email))
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = rfc2822_date(utcnow())
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or "grappe.local")
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Grappe-Cluster"] = cluster.slug
    msg["X-Grappe-Kind"] = kind
    msg.set_content(body)
    return msg


def base_url() -> str:
    """Where mailed links point: ``GRAPPE_BASE_URL``, else the current request's host."""
    configured = current_app.config.get("BASE_URL")
    if configured:
        return configured.rstrip("/") + "/"
    if has_request_context():
        return request.host_url
    return "http://127.0.0.1:5000/"


@contextlib.contextmanager
def mail_urls(base: str) -> Iterator[None]:
    """Inside it, ``url_for(..., _external=True)`` builds links on ``base`` (in a job: no request)."""
    with current_app.test_request_context("/", base_url=base or "http://127.0.0.1:5000/"):
        yield


# -- sending, in jobs --------------------------------------------------------------------------------
def _user_id() -> int | None:
    try:
        return current_user.id if has_request_context() and current_user.is_authenticated else None
    except AttributeError:
        return None


def queue_mails(job_name: str, *, cluster, params: dict, label: str, after_commit: bool = False):
    """Start a job that sends mail (:func:`core.jobs.enqueue`), from a request or a command.

    Adds to ``params`` the ``base_url`` of mailed links (:func:`base_url`, which a job
    cannot know) and records who asked.

    :param after_commit: start the job only once the caller's transaction (the request's)
        commits, and not at all if it rolls back: for mails about what the caller writes
        (a registration's confirmation), which the job must find committed.
    :returns: the job (None with ``after_commit``: it starts later).
    """
    return enqueue(job_name, cluster_id=cluster.id, user_id=_user_id(),
                   params={**params, "base_url": base_url()}, label=label, after_commit=after_commit)


def send_mails(job, items: Sequence[Any], build: Builder, *, chunk: int = CHUNK,
               after_chunk: Callable[[list[Any]], None] | None = None) -> tuple[int, int]:
    """In a job: send one mail per item over one connection; return ``(sent, skipped)``.

    :param items: what is mailed (registration ids, invoice ids...), in order.
    :param build: ``build(chunk)`` yields ``(item, message)`` for the items of a chunk;
        a None message (nobody to write to) is counted as skipped.
    :param after_chunk: ``after_chunk(sent_items)`` after each chunk is sent: stamp what
        went out, so a job that fails half-way resumes without sending twice.

    Progress is reported after each chunk; an SMTP error fails the job.
    """
    items = list(items)
    sent = skipped = 0
    job.progress(0, len(items), force=True)
    with transport() as out:
        for start in range(0, len(items), chunk):
            part = items[start:start + chunk]
            done = []
            for item, msg in build(part):
                if msg is None:
                    skipped += 1
                    continue
                out.send(msg)
                done.append(item)
                sent += 1
            if after_chunk is not None:
                after_chunk(done)
            job.progress(start + len(part), len(items), force=True)
    return sent, skipped


def mail_job(build: Callable[..., Iterable[tuple[Any, EmailMessage | None]]], *,
             after_chunk: Callable[..., None] | None = None, chunk: int = CHUNK) -> Callable[..., dict]:
    """A job function (for ``grappe_jobs``) that mails its ``items`` with a message builder.

    :param build: ``build(session, cluster, chunk, **params)`` yields ``(item, message)``;
        it runs inside :func:`mail_urls` of the job's ``base_url``.
    :param after_chunk: ``after_chunk(session, cluster, sent_items, **params)``.
    :param chunk: items per chunk (see :func:`send_mails`).

    Queue it with ``queue_mails(name, cluster=..., params={"items": [...], ...}, label=...)``;
    the other params go to ``build`` and ``after_chunk``.  The job's result is
    ``{"sent": n, "skipped": m}``.
    """

    def run(job, items: list, base_url: str = "", **params) -> dict:
        cluster = job.session.get(Cluster, job.cluster_id)
        after = None
        if after_chunk is not None:
            def after(done):
                after_chunk(job.session, cluster, done, **params)
        with mail_urls(base_url):
            sent, skipped = send_mails(job, items, lambda part: build(job.session, cluster, part, **params),
                                       chunk=chunk, after_chunk=after)
        return {"sent": sent, "skipped": skipped}

    run.__doc__ = build.__doc__
    return run


# -- transports ------------------------------------------------------------------------------------
def transport():
    """SMTP when ``SMTP_URL`` is set, else the outbox folder (a context manager with ``send(msg)``)."""
    url = current_app.config.get("SMTP_URL")
    return SmtpTransport(url) if url else Outbox(outbox_folder())


def outbox_folder() -> Path:
    return Path(current_app.instance_path) / "outbox"


class Outbox:
    """Writes each mail as an ``.eml`` file, named by time, cluster and kind."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc):
        return None

    def send(self, msg: EmailMessage) -> Path:
        slug, kind = msg["X-Grappe-Cluster"] or "", msg["X-Grappe-Kind"] or ""
        if not re.fullmatch(r"[a-z0-9-]+", slug) or not KIND.match(kind):
            raise ValueError("the outbox takes mails made by mail_message (X-Grappe-Cluster, X-Grappe-Kind)")
        name = f"{utcnow():%Y%m%dT%H%M%S%f}-{slug}-{kind}-{secrets.token_hex(4)}.eml"
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

    def send(self, msg: EmailMessage) -> None:
        self.conn.send_message(msg)


# -- the outbox in the back-office ----------------------------------------------------------------------
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


def outbox_read(cluster, name: str, *, headers_only: bool = False) -> EmailMessage | None:
    """One mail of the cluster's outbox, parsed (None when the name is not one of its files).

    :param headers_only: parse the headers only (a list page).
    """
    m = OUTBOX_NAME.match(name or "")
    if not m or m["slug"] != cluster.slug:
        return None
    try:
        with (outbox_folder() / name).open("rb") as fh:
            return BytesParser(policy=default_policy).parse(fh, headersonly=headers_only)
    except OSError:
        return None
