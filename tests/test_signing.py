"""Signed links: a token works for its purpose only, until it expires, and cannot be forged."""

from __future__ import annotations

import time

import pytest

from core import BadToken, sign, unsign


def test_a_token_carries_its_data_back(app):
    token = sign("events.confirm", {"e": 3, "m": "a@example.org"})
    assert unsign("events.confirm", token) == {"e": 3, "m": "a@example.org"}
    assert unsign("events.confirm", token, max_age=60) == {"e": 3, "m": "a@example.org"}


def test_a_token_works_for_its_purpose_only(app):
    token = sign("events.cancel", {"r": 1})
    with pytest.raises(BadToken):
        unsign("events.accept", token)
    with pytest.raises(BadToken):
        unsign("training.cancel", token)  # the same word for another plugin is another purpose


@pytest.mark.parametrize("damage", [lambda t: "garbage", lambda t: t + "x", lambda t: t[:-2], lambda t: ""])
def test_forged_or_damaged_tokens_are_refused(app, damage):
    token = sign("events.confirm", {"e": 1})
    with pytest.raises(BadToken):
        unsign("events.confirm", damage(token))


def test_expired_tokens_are_refused(app, monkeypatch):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 4 * 24 * 3600)
    old = sign("events.confirm", {"e": 1})
    monkeypatch.setattr(time, "time", real)
    with pytest.raises(BadToken):
        unsign("events.confirm", old, max_age=3 * 24 * 3600)
    assert unsign("events.confirm", old) == {"e": 1}  # no max_age: no limit


def test_tokens_depend_on_the_secret_key(app):
    token = sign("events.cancel", {"r": 1})
    app.config["SECRET_KEY"] = "another key"
    with pytest.raises(BadToken):
        unsign("events.cancel", token)


def test_links_made_before_the_move_to_the_core_still_work(app):
    """Events' links were signed with the salt ``grappe.events.<purpose>``: they still read."""
    from itsdangerous import URLSafeTimedSerializer

    before = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="grappe.events.cancel").dumps({"r": 7})
    assert unsign("events.cancel", before) == {"r": 7}


@pytest.mark.parametrize("purpose", ["", "cancel", "Events.cancel", "events.", "events cancel"])
def test_a_purpose_is_named_after_its_plugin(app, purpose):
    with pytest.raises(ValueError):
        sign(purpose, 1)
