"""French and English: the events catalog is complete, pages and mails follow the language."""

from __future__ import annotations

from pathlib import Path

from tests.test_i18n import _catalog_problems

FOLDER = Path(__file__).resolve().parents[3] / "plugins" / "events"


def test_every_events_string_is_translated_into_french_and_compiled():
    problems = _catalog_problems(FOLDER)
    assert not problems, "run scripts/i18n.sh events, translate, commit the .po and .mo:\n" + "\n".join(problems)


def test_every_mail_template_exists_in_both_languages():
    from core.app import LANGUAGES
    from plugins.events.mail import MAIL_KINDS

    for language in LANGUAGES:
        for kind in MAIL_KINDS:
            assert (FOLDER / "templates" / "events" / "mail" / language / f"{kind}.txt").is_file(), (language, kind)


def test_pages_in_french(app, cluster, factory, ev):
    user = factory.user("fr@example.org", "staff", cluster, language="fr")
    event = ev.event("Journée composites", capacity=10)
    client = app.test_client(user=user)
    page = client.get("/alpha/events/").get_data(as_text=True)
    assert "Nouvel événement" in page and "Places prises" in page
    page = client.get(f"/alpha/events/{event.id}").get_data(as_text=True)
    assert "Inscrire quelqu&#39;un" in page or "Inscrire quelqu'un" in page
    from zoneinfo import ZoneInfo

    from babel.dates import format_date

    month = format_date(event.starts_at.astimezone(ZoneInfo("Europe/Paris")), "MMMM", locale="fr")
    assert month in page  # the date in French, in the cluster's time zone
    public = app.test_client().get(f"/alpha/events/public/{event.id}", headers={"Accept-Language": "fr"})
    assert "Prénom" in public.get_data(as_text=True)


def test_api_errors_in_french(app, cluster, factory):
    from core import db
    from core.auth import new_api_token

    user = factory.user("fr2@example.org", "staff", cluster, language="fr")
    token = new_api_token(user)
    db.session.commit()
    r = app.test_client().post("/api/v1/alpha/events/events", headers={"Authorization": f"Bearer {token}"},
                               json={"title": "x", "starts_at": "2026-01-01T10:00", "ends_at": "2026-01-01T09:00",
                                     "venue": "Lyon"})
    assert r.status_code == 422 and r.json["errors"]["ends_at"] == ["La fin doit suivre le début."]
