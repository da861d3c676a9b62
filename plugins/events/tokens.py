"""Signed tokens for the links in mails (itsdangerous, keyed by the app's secret key).

Each purpose has its own salt, so a token made for one link never works for another.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

#: purpose -> how long its links work (seconds; None: as long as the registration exists)
PURPOSES = {
    "confirm": 3 * 24 * 3600,  # double opt-in of a public registration
    "cancel": None,            # cancel one's registration
    "accept": None,            # accept an invitation
}


class BadToken(ValueError):
    """A link that is forged, damaged, made for another purpose, or expired."""


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"grappe.events.{purpose}")


def make(purpose: str, data: Any) -> str:
    return _serializer(purpose).dumps(data)


def read(purpose: str, token: str) -> Any:
    """The data a token carries; :raises BadToken: when it cannot be trusted."""
    try:
        return _serializer(purpose).loads(token, max_age=PURPOSES[purpose])
    except BadData as exc:
        raise BadToken(str(exc)) from None
