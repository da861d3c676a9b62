"""The error billing's operations raise when a rule refuses what was asked."""

from __future__ import annotations


class BillingError(Exception):
    """A refusal to show the user: its message is translated; ``field`` names the form field
    it is about (``None``: the record as a whole), so pages and API answer at field level."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.field = field
