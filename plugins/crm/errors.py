"""What the CRM's operations raise when its rules refuse something."""

from __future__ import annotations


class CrmError(ValueError):
    """An operation the rules refuse; the message says why (pages flash it, the API returns it)."""
