"""Dates and amounts as people read them: in the cluster's time zone and a given language."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_currency



def when(event, cluster, locale: str = "en") -> str:
    """``Thursday 3 December 2026, 09:00 – 12:30`` (one day) or both ends in full."""
    tz = cluster.zone
    start, end = event.starts_at.astimezone(tz), event.ends_at.astimezone(tz)
    if start.date() == end.date():
        return "{}, {} – {}".format(format_date(start, "full", locale=locale),
                                    format_time(start, "short", locale=locale),
                                    format_time(end, "short", locale=locale))
    return "{} {} – {} {}".format(format_skeleton("yMMMEd", start, locale=locale),
                                  format_time(start, "short", locale=locale),
                                  format_skeleton("yMMMEd", end, locale=locale),
                                  format_time(end, "short", locale=locale))


def short_date(value: datetime | None, cluster, locale: str = "en") -> str:
    if value is None:
        return ""
    local = value.astimezone(cluster.zone)
    return "{} {}".format(format_skeleton("yMMMd", local, locale=locale), format_time(local, "short", locale=locale))


def day(value: datetime, cluster, locale: str = "en") -> str:
    return format_date(value.astimezone(cluster.zone), "medium", locale=locale)


def money(amount: Decimal | None, currency: str, locale: str = "en") -> str:
    if amount is None:
        return ""
    return format_currency(amount, currency or "EUR", locale=locale)


def like_contains(word: str) -> str:
    """A ``LIKE`` pattern (escape ``\\``) for a word anywhere in a column."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fold(text: str) -> str:
    """Lowercase without accents, one space between words (``"Zoé  Müller"`` -> ``"zoe muller"``)."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())
