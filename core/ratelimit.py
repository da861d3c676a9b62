"""Rate limiting, kept in the database so that every process and machine agrees.

Each allowed use is a row of ``core_rate_hit`` under a key: a kind named after its plugin
(``events.email``) and a keyed hash of the value (the visitor's address, an e-mail), never
the value itself.  A use is refused while its key has ``limit`` rows younger than the
window.  Rows carry when they stop counting (``expires_at``), so the table holds only
live traffic whatever the windows of the plugins sharing it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Index, String, delete, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

from .database import Base, UTCDateTime, db, utcnow


class RateHit(Base):
    """One use of a rate-limited action."""

    __tablename__ = "core_rate_hit"
    __table_args__ = (Index("ix_core_rate_hit_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def rate_key(kind: str, value: str) -> str:
    """``kind:<keyed hash of value>``: what a hit is counted under (no value kept in clear)."""
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:40]}"


def rate_limit(rules: list[tuple[str, str, int, int]]) -> str | None:
    """Record one use under every rule, unless one of them is over its limit.

    :param rules: ``(kind, value, limit, window_seconds)`` each, e.g.
        ``("events.email", address, 3, 3600)``: at most 3 uses per address per hour.
    :returns: the kind of the first refusing rule, or None when the use is allowed (and
        recorded under every rule).
    """
    now = utcnow()
    keyed = [(kind, rate_key(kind, value), limit, window) for kind, value, limit, window in rules]
    _release_read_transaction()
    with db.write_transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # one use at a time per key (SQLite: the write transaction already is the lock)
            for key in sorted({key for _kind, key, _limit, _window in keyed}):
                session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
        for kind, key, limit, window in keyed:
            count = session.execute(
                select(func.count()).select_from(RateHit)
                .where(RateHit.key == key, RateHit.at > now - timedelta(seconds=window))
            ).scalar_one()
            if count >= limit:
                return kind
        session.execute(delete(RateHit).where(RateHit.expires_at <= now))
        for _kind, key, _limit, window in keyed:
            session.add(RateHit(key=key, at=now, expires_at=now + timedelta(seconds=window)))
    return None


def rate_setting(config_key: str, default: str) -> tuple[int, int]:
    """``(limit, window_seconds)`` from an app setting written ``"20/3600"`` (the default when unreadable)."""
    raw = str(current_app.config.get(config_key, default))
    try:
        limit, window = (int(part) for part in raw.split("/", 1))
    except ValueError:
        limit, window = (int(part) for part in default.split("/", 1))
    return limit, window


def _release_read_transaction() -> None:
    """End the request session's read-only transaction: its connection goes back to the pool
    instead of waiting, held, for the write transaction's one."""
    session = db.session
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()
