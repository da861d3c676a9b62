"""The mail service: templates in a language, messages from a cluster, sent by jobs by SMTP or into the outbox.

A throwaway plugin (``mailfake``) declares a job made by ``mail_job`` from a message builder,
the way training or billing would send convocations or reminders.
"""

from __future__ import annotations

import pytest
from flask import url_for
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import select

from core.models import Job
from core import (
    db, hookimpl, mail_job, mail_language, mail_message, mail_urls, outbox_list, outbox_read, queue_mails,
    render_mail,
)
from core.mail import parse_smtp_url
from core.testing import free_port

from .fakeplugins import make_plugin

TEMPLATES = {
    "mailfake/mail/en/note.txt": "{% block subject %}Note\n  for {{ name }}{% endblock %}"
                                 "{% block body %}\nHello {{ name }}, {{ _('Dashboard') }}.\n{{ url }}\n{% endblock %}",
    "mailfake/mail/fr/note.txt": "{% block subject %}Note pour {{ name }}{% endblock %}"
                                 "{% block body %}Bonjour {{ name }}, {{ _('Dashboard') }}.{% endblock %}",
    "mailfake/one.txt": "{% block subject %}{{ _('Dashboard') }}{% endblock %}{% block body %}{{ _('Save') }}{% endblock %}",
}
STAMPED: list[list] = []  # what after_chunk saw, per chunk


def build_notes(session, cluster, chunk, *, prefix=""):
    """Notes to ``prefix + name``: one per item (an item without a name has no address)."""
    for name in chunk:
        if not name:
            yield name, None
            continue
        subject, body = render_mail("mailfake/mail/{language}/note.txt", "en", name=prefix + name,
                                    url=url_for("mailfake.index", cluster=cluster.slug, _external=True))
        yield name, mail_message(cluster, name.title(), f"{name}@example.org", subject, body, kind="mailfake.note")


def stamp(session, cluster, done, *, prefix=""):
    STAMPED.append(list(done))


def _mail_jobs():
    @hookimpl
    def grappe_jobs():
        return {"mailfake.notes": mail_job(build_notes, after_chunk=stamp, chunk=2)}

    return grappe_jobs


MAILFAKE = make_plugin("mailfake", hooks={"grappe_jobs": _mail_jobs()})
pytestmark = pytest.mark.extra_plugins(MAILFAKE)


@pytest.fixture
def templates(app):
    app.jinja_env.loader = ChoiceLoader([DictLoader(TEMPLATES), app.jinja_env.loader])


@pytest.fixture
def alpha(factory):
    return factory.cluster("alpha", modules=("mailfake",), name="Alpha Cluster")


def notes(cluster, names, **params):
    job = queue_mails("mailfake.notes", cluster=cluster, params={"items": names, **params}, label="Notes")
    db.session.commit()  # the job ran in its own session: look again
    return db.session.get(Job, job.id)


# -- templates and messages ------------------------------------------------------------------------
def test_render_mail_in_a_language(app, templates):
    assert render_mail("mailfake/mail/{language}/note.txt", "fr", name="Zoé") == (
        "Note pour Zoé", "Bonjour Zoé, Tableau de bord.\n")
    subject, body = render_mail("mailfake/mail/{language}/note.txt", "en", name="Zoé", url="http://x/")
    assert subject == "Note for Zoé"  # one line, whitespace collapsed
    assert body == "Hello Zoé, Dashboard.\nhttp://x/\n"
    # one template for every language: _() speaks the language asked for, not the request's
    assert render_mail("mailfake/one.txt", "fr") == ("Tableau de bord", "Enregistrer\n")
    assert render_mail("mailfake/one.txt", "en") == ("Dashboard", "Save\n")


def test_mail_language_is_the_persons_else_the_clusters_else_english(app):
    class Cluster:
        language = "fr"

    assert mail_language("en-GB", Cluster()) == "en"
    assert mail_language(None, Cluster()) == "fr"
    assert mail_language("de", Cluster()) == "fr"  # a language Grappe does not write
    assert mail_language("de", None) == "en"


def test_mail_message_headers(app, alpha):
    app.config["MAIL_FROM"] = "office@alpha.example"
    msg = mail_message(alpha, "Zoé Durand", "zoe@example.org", "Hi", "Body\n", kind="mailfake.note")
    assert msg["From"] == "Alpha Cluster <office@alpha.example>"
    assert msg["To"] == "Zoé Durand <zoe@example.org>" and msg["Reply-To"] is None
    assert (msg["X-Grappe-Cluster"], msg["X-Grappe-Kind"], msg["Auto-Submitted"]) == ("alpha", "mailfake.note",
                                                                                       "auto-generated")
    assert msg["Message-ID"].endswith("@alpha.example>") and msg.get_content() == "Body\n"
    answered = mail_message(alpha, "Zoé", "zoe@example.org", "Hi", "Body", kind="note", reply_to="team@alpha.example")
    assert answered["Reply-To"] == "team@alpha.example"
    for bad in ("", "Note", "a-b", "../x"):
        with pytest.raises(ValueError):
            mail_message(alpha, "Zoé", "zoe@example.org", "Hi", "Body", kind=bad)


def test_mail_urls_build_links_outside_a_request(app, alpha):
    with mail_urls("https://grappe.example/"):
        assert url_for("mailfake.index", cluster="alpha", _external=True) == "https://grappe.example/alpha/mailfake/"


# -- sending in a job, into the outbox ---------------------------------------------------------------
def test_a_mail_job_sends_into_the_outbox_in_chunks(app, templates, alpha, outbox):
    STAMPED.clear()
    app.config["BASE_URL"] = "https://grappe.example"
    job = notes(alpha, ["ana", "", "bob", "cid", "dan"], prefix="Dr ")
    assert (job.status, job.result) == ("done", {"sent": 4, "skipped": 1})
    assert (job.done, job.total) == (5, 5)
    assert STAMPED == [["ana"], ["bob", "cid"], ["dan"]]  # what went out, chunk by chunk
    mails = outbox.mails("mailfake.note")
    assert [m["To"] for m in mails] == [f"{n.title()} <{n}@example.org>" for n in ("ana", "bob", "cid", "dan")]
    assert mails[0]["Subject"] == "Note for Dr ana"
    # links point at GRAPPE_BASE_URL, known when the job was queued
    assert "https://grappe.example/alpha/mailfake/" in mails[0].get_content()


def test_the_outbox_lists_and_reads_only_the_clusters_mails(app, templates, factory, alpha, outbox):
    beta = factory.cluster("beta", modules=("mailfake",), name="Beta Cluster")
    notes(alpha, ["ana"])
    notes(beta, ["bob"])
    (entry,) = outbox_list(alpha)
    assert entry.kind == "mailfake.note" and entry.name.endswith(".eml")
    msg = outbox_read(alpha, entry.name)
    assert msg["To"] == "Ana <ana@example.org>" and "Hello ana" in msg.get_body().get_content()
    headers = outbox_read(alpha, entry.name, headers_only=True)
    assert headers["Subject"] == "Note for ana"
    (theirs,) = outbox_list(beta)
    assert outbox_read(alpha, theirs.name) is None  # another cluster's file
    for bad in ("../secret_key", "secret_key", "x.eml", "/etc/passwd", "", None):
        assert outbox_read(alpha, bad) is None
    assert outbox_read(alpha, entry.name.replace(entry.name[-12:-4], "00000000")) is None  # no such file


# -- SMTP ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, expected", [
    ("smtp://mail.example.org", ("mail.example.org", 25, "", "", False, False)),
    ("smtp://u%40x:p%3Ass@mail.example.org:587?starttls=1", ("mail.example.org", 587, "u@x", "p:ss", False, True)),
    ("smtps://u:p@mail.example.org", ("mail.example.org", 465, "u", "p", True, False)),
])
def test_smtp_url(url, expected):
    s = parse_smtp_url(url)
    assert (s.host, s.port, s.username, s.password, s.ssl, s.starttls) == expected


@pytest.mark.parametrize("url", ["http://mail.example.org", "smtp://", "mail.example.org:25"])
def test_smtp_url_refused(url):
    with pytest.raises(ValueError):
        parse_smtp_url(url)


def test_a_mail_job_sends_by_smtp(app, templates, alpha, outbox, smtp_server):
    """A real SMTP server gets the mails, over one connection; nothing is written to the outbox."""
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{smtp_server.port}"
    app.config["MAIL_FROM"] = "office@alpha.example"
    job = notes(alpha, ["ana", "bob"])
    assert (job.status, job.result) == ("done", {"sent": 2, "skipped": 0})
    assert smtp_server.envelopes == [("office@alpha.example", ["ana@example.org"]),
                                     ("office@alpha.example", ["bob@example.org"])]
    assert smtp_server.messages[0]["From"] == "Alpha Cluster <office@alpha.example>"
    assert smtp_server.messages[1]["X-Grappe-Kind"] == "mailfake.note"
    assert outbox.mails() == []


def test_an_smtp_failure_fails_the_job(app, templates, alpha, outbox):
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nobody listens there
    job = notes(alpha, ["ana"])
    assert job.status == "failed" and job.message  # the job page tells why
    assert outbox.mails() == []
    assert db.session.execute(select(Job.name).where(Job.id == job.id)).scalar_one() == "mailfake.notes"
