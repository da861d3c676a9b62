"""Text normalization for search: lowercase, accents stripped, one space between words."""

from __future__ import annotations

import unicodedata


def normalize(*parts: str | None) -> str:
    """Fold case and strip accents (``"Köln Straße"`` -> ``"koln strasse"``)."""
    text = " ".join(p for p in parts if p)
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def like_pattern(word: str) -> str:
    """A ``LIKE`` pattern for a normalized word anywhere in a column (escape ``\\``)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
