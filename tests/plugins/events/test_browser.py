"""In a real browser: register from the public page, confirm through the mailed link, check in at the door."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta

import pytest

from core import db, utcnow
from core.testing import Factory, browser_login

pytestmark = pytest.mark.browser


def test_public_registration_confirmation_and_check_in(live_server, page):
    from core.mail import outbox_folder
    from plugins.events.models import Registration

    from .conftest import EventsFactory

    with live_server.app.app_context():
        shutil.rmtree(outbox_folder(), ignore_errors=True)
        f = Factory(live_server.app)
        cluster = f.cluster("alpha", modules=("crm", "events"), name="Alpha Cluster", timezone="Europe/Paris")
        f.user("door@example.org", "staff", cluster, name="Door Keeper")
        event = EventsFactory(cluster).event("Open factory day", capacity=20,
                                             starts_at=utcnow().replace(microsecond=0) + timedelta(hours=2))
        event_id = event.id
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # 1. a visitor registers on the public page (no login)
    page.goto(f"{live_server.url}/alpha/events/public/{event_id}")
    assert page.locator("h1").inner_text() == "Open factory day"
    page.fill("input[name=first_name]", "Léa")
    page.fill("input[name=last_name]", "Fontaine")
    page.fill("input[name=email]", "lea@example.org")
    page.fill("input[name=organization]", "Fontaine Composites")
    box = page.locator("input[name=website]").bounding_box()
    assert box is None or box["x"] + box["width"] <= 0  # the honeypot stays out of sight
    page.click("form button[type=submit]")
    assert "Check your mailbox" in page.locator("main").inner_text()

    # 2. the link in the mail, then the button, confirms the registration
    with live_server.app.app_context():
        from email import message_from_bytes
        from email.policy import default

        (path,) = outbox_folder().glob("*-alpha-confirm-*.eml")
        body = message_from_bytes(path.read_bytes(), policy=default).get_body().get_content()
    link = re.search(r"http://\S+/public/confirm/\S+", body).group(0)
    page.goto(link)
    page.click("text=Confirm my registration")
    assert "You are registered" in page.locator("main").inner_text()

    # 3. at the door, staff find her by name on the check-in page and tick her in
    browser_login(page, live_server.url, "door@example.org")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{live_server.url}/alpha/events/{event_id}/checkin")
    assert "0 / 1 checked in" in page.locator(".tally").inner_text()
    page.fill("#checkin-q", "fontaine")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    row = page.locator(".checkin-list li", has_text="Léa Fontaine")
    row.locator("button", has_text="Present").click()
    page.wait_for_load_state("networkidle")
    assert "1 / 1 checked in" in page.locator(".tally").inner_text()
    assert page.locator(".checkin-list li.done", has_text="Léa Fontaine").count() == 1

    with live_server.app.app_context():
        (reg,) = db.session.query(Registration).all()
        assert (reg.status, reg.source) == ("attended", "public")
    assert errors == []
