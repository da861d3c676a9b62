"""The events plugin's error: an operation the rules refuse."""

from __future__ import annotations


class EventsError(ValueError):
    """An operation the rules refuse; the message says why (shown to the user).

    ``field`` names the form field (or API body field) the message belongs to; ``"_"``
    for the whole record.  Operations raise it before they write anything.
    """

    def __init__(self, message: str, field: str = "_"):
        super().__init__(message)
        self.field = field
