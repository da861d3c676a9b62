"""Rate limiting of public actions, kept in the database so that every process agrees.

Each allowed use is a row (``events_rate_hit``); a key is refused while it has
``limit`` rows younger than the window.  Keys hold a keyed hash of the visitor's
address or e-mail, never the address itself.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from core import db, utcnow

from .models import RateHit


def key(kind: str, value: str) -> str:
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:40]}"


def hit(rules: list[tuple[str, int, int]]) -> str | None:
    """Record one use under every key, unless one of them is over its limit.

    :param rules: ``(key, limit, window_seconds)`` for each key.
    :returns: the refusing key, or None when the use is allowed (and recorded).
    """
    from .services import release_read_transaction

    now = utcnow()
    release_read_transaction()
    with db.write_transaction() as session:
        for name, limit, window in rules:
            since = now - timedelta(seconds=window)
            count = session.execute(
                select(func.count()).select_from(RateHit).where(RateHit.key == name, RateHit.at > since)
            ).scalar_one()
            if count >= limit:
                return name
        # forget what no window looks at any more: the table holds one window of traffic
        longest = max(window for _name, _limit, window in rules)
        session.execute(delete(RateHit).where(RateHit.at <= now - timedelta(seconds=longest)))
        for name, _limit, _window in rules:
            session.add(RateHit(key=name, at=now))
    return None


def rule(config_key: str, default: str) -> tuple[int, int]:
    """``"20/3600"`` (uses per seconds) from the app config, for one kind of key."""
    raw = str(current_app.config.get(config_key, default))
    try:
        limit, window = (int(part) for part in raw.split("/", 1))
    except ValueError:
        limit, window = (int(part) for part in default.split("/", 1))
    return limit, window
