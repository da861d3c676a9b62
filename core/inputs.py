"""What a request carries beside forms: query parameters and URL segments, checked once.

Form fields are checked by :class:`core.Form`; the JSON body by :func:`core.json_body`.
This module holds the rest of the boundary: :func:`check_request` (called by the gate for
every request) refuses control characters in the query string and the URL, and
:func:`int_arg` / :func:`page_arg` read integers from the query string within range, and
:func:`safe_next` checks a ``next`` address before a redirect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.routing import IntegerConverter

from .forms import INT_MAX  # an INTEGER column (ids included): one bound for forms, URLs, queries
from .forms import _AREA_CONTROL as _CONTROL  # what no text may hold (tab and newlines aside)

MAX_PAGE = 100_000


class IdConverter(IntegerConverter):
    """``<int:...>`` in every Grappe URL: 0 to 2**31 - 1 (an INTEGER column); beyond, a 404."""

    def __init__(self, map, fixed_digits=0, min=0, max=INT_MAX, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def _bad(name: str, message: str):
    from .api import ApiError
    from .auth import is_api_request

    if is_api_request():
        return ApiError({name: [message]}, 400)
    return BadRequest(f"{name}: {message}")


def check_request() -> None:
    """Refuse a URL or query string holding control characters or invalid Unicode."""
    if _CONTROL.search(request.path):
        raise NotFound()
    for key, values in request.args.lists():
        if _CONTROL.search(key) or any(_CONTROL.search(v) for v in values):
            raise _bad(key[:40] if not _CONTROL.search(key) else "query",
                       "Contains a control character or invalid Unicode.")


def int_arg(name: str, default: int | None = None, *, minimum: int = 1, maximum: int = INT_MAX) -> int | None:
    """An integer from the query string, ``default`` when absent or empty; a 400 otherwise
    when it is not an integer from ``minimum`` to ``maximum`` (JSON under /api/)."""
    raw = request.args.get(name, "").strip()
    if raw == "":
        return default
    digits = raw[1:] if raw[:1] == "-" and minimum < 0 else raw
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 12) or not minimum <= int(raw) <= maximum:
        raise _bad(name, f"Must be an integer from {minimum} to {maximum}.")
    return int(raw)


def page_arg(name: str = "page") -> int:
    """The page number of a list (1 when absent or not a number; at most :data:`MAX_PAGE`)."""
    raw = request.args.get(name, "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        return 1
    return max(1, min(int(raw), MAX_PAGE))


def safe_next(target: str | None, default: str | None = None) -> str | None:
    """``target`` when it is a path on this site, else ``default`` (no open redirect).

    Browsers read ``/\\host`` as ``//host`` and drop tabs and newlines, so those are refused too.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if any(c == "\\" or ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
