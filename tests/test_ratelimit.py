"""The database rate limit: per key and window, shared by every process, no value kept in clear."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, inspect, select, text

from core import db, rate_limit, rate_setting
from core.ratelimit import RateHit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock(monkeypatch):
    """The rate limit's clock, set by hand: ``clock.now = ...``."""
    class Clock:
        now = T0

    c = Clock()
    monkeypatch.setattr("core.ratelimit.utcnow", lambda: c.now)
    return c


def hits() -> int:
    db.session.rollback()
    return db.session.execute(select(func.count()).select_from(RateHit)).scalar_one()


def test_uses_are_allowed_up_to_the_limit_per_key(app, clock):
    for _ in range(2):
        assert rate_limit([("events.email", "a@example.org", 2, 3600)]) is None
    assert rate_limit([("events.email", "a@example.org", 2, 3600)]) == "events.email"
    assert rate_limit([("events.email", "b@example.org", 2, 3600)]) is None  # another value, another key
    assert rate_limit([("training.email", "a@example.org", 2, 3600)]) is None  # another kind, another key
    assert hits() == 4  # the refused use is not recorded


def test_a_use_is_recorded_under_every_rule_or_none(app, clock):
    rules = [("events.ip", "10.0.0.1", 3, 3600), ("events.email", "a@example.org", 1, 3600)]
    assert rate_limit(rules) is None
    assert hits() == 2
    assert rate_limit(rules) == "events.email"  # the e-mail refuses: nothing counted against the address
    assert hits() == 2
    assert rate_limit([("events.ip", "10.0.0.1", 2, 3600), ("events.email", "b@example.org", 1, 3600)]) is None
    assert rate_limit([("events.ip", "10.0.0.1", 2, 3600), ("events.email", "c@example.org", 1, 3600)]) == "events.ip"


def test_uses_stop_counting_after_the_window(app, clock):
    rule = [("events.email", "a@example.org", 1, 3600)]
    assert rate_limit(rule) is None
    clock.now = T0 + timedelta(minutes=59)
    assert rate_limit(rule) == "events.email"
    clock.now = T0 + timedelta(minutes=61)
    assert rate_limit(rule) is None


def test_the_table_keeps_only_live_uses_whatever_the_windows(app, clock):
    assert rate_limit([("training.email", "a@example.org", 1, 86400)]) is None  # a day
    assert rate_limit([("events.email", "a@example.org", 5, 3600)]) is None     # an hour
    clock.now = T0 + timedelta(hours=2)
    assert rate_limit([("events.email", "b@example.org", 5, 3600)]) is None
    # the hour-long use is gone; the day-long one, of another plugin, still counts
    assert hits() == 2
    assert rate_limit([("training.email", "a@example.org", 1, 86400)]) == "training.email"
    clock.now = T0 + timedelta(days=1, seconds=1)
    assert rate_limit([("training.email", "a@example.org", 1, 86400)]) is None


def test_keys_are_keyed_hashes_never_the_value(app, clock):
    rate_limit([("events.ip", "127.0.0.1", 5, 60), ("events.email", "lea@example.org", 5, 60)])
    keys = db.session.execute(select(RateHit.key)).scalars().all()
    assert sorted(k.split(":")[0] for k in keys) == ["events.email", "events.ip"]
    assert not any("example.org" in k or "127.0.0.1" in k for k in keys)


def test_rate_limit_gives_back_the_sessions_read_transaction(app, clock):
    """Its connection goes back to the pool instead of waiting, held, for the write's."""
    db.session.execute(select(func.count()).select_from(RateHit))
    assert db.session.in_transaction()
    assert rate_limit([("events.ip", "10.0.0.1", 1, 60)]) is None
    assert not db.session.in_transaction()


@pytest.mark.parametrize("raw, expected", [("5/60", (5, 60)), ("nonsense", (20, 3600)), ("5", (20, 3600)),
                                           (None, (20, 3600))])
def test_rate_setting(app, raw, expected):
    if raw is not None:
        app.config["EVENTS_RATE_PER_IP"] = raw
    assert rate_setting("EVENTS_RATE_PER_IP", "20/3600") == expected


def test_the_events_migration_moves_its_uses_to_the_core_table(tmp_path, instance_path):
    """events_0002 copies events_rate_hit into core_rate_hit (keys under the events' kinds), then drops it."""
    from core import migrate
    from core.testing import make_test_app

    app = make_test_app(f"sqlite:///{tmp_path / 'own.sqlite3'}", instance_path)
    with app.app_context():
        others = [owner for owner, _ in migrate.histories() if owner != "events"]
        migrate.upgrade(owners=others, echo=lambda *_: None)
        migrate.upgrade(target="events_0001", owners=["events"], echo=lambda *_: None)
        with db.engine.begin() as conn:
            for key, at in (("ip:abc", "2026-03-02 08:30:00.000000"), ("email:def", "2026-03-02 08:45:00.000000")):
                conn.execute(text("INSERT INTO events_rate_hit (key, at) VALUES (:k, :at)"), {"k": key, "at": at})
        assert migrate.upgrade(echo=lambda *_: None) == ["events"]
        assert "events_rate_hit" not in inspect(db.engine).get_table_names()
        rows = db.session.execute(select(RateHit.key, RateHit.at, RateHit.expires_at).order_by(RateHit.key)).all()
        assert [r.key for r in rows] == ["events.email:def", "events.ip:abc"]
        assert rows[1].at == datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
        assert all(r.expires_at - r.at >= timedelta(hours=1) for r in rows)  # they still count in their window
        assert migrate.pending_changes("core") == [] and migrate.pending_changes("events") == []
