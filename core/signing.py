"""Signed links: data carried in a URL, that nobody can forge or reuse for another purpose.

Tokens are made by itsdangerous with the app's secret key, salted by their purpose, so a
token made for one kind of link never works for another.  A purpose is named after its
plugin (``events.cancel``, ``training.evaluation``).
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

PURPOSE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


class BadToken(ValueError):
    """A link that is forged, damaged, made for another purpose, or expired."""


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    if not PURPOSE.match(purpose or ""):
        raise ValueError(f"a token purpose is '<plugin>.<what>', not {purpose!r}")
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"grappe.{purpose}")


def sign(purpose: str, data: Any) -> str:
    """A URL-safe token carrying ``data`` (anything JSON can hold) for one purpose.

    The data is signed, not encrypted: anyone holding the link can read it.
    """
    return _serializer(purpose).dumps(data)


def unsign(purpose: str, token: str, *, max_age: int | None = None) -> Any:
    """The data of a token made by :func:`sign` for this purpose.

    :param max_age: seconds the token works after it was made (None: no limit).
    :raises BadToken: the token is forged, damaged, made for another purpose or expired.
    """
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except BadData as exc:
        raise BadToken(str(exc)) from None
