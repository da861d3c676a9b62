"""The events plugin's hook implementations (the ``grappe.plugins`` entry point)."""

from __future__ import annotations

from pathlib import Path

from flask_babel import lazy_gettext as _l

from core import Permission, hookimpl

from . import manifest  # noqa: F401  (the manifest is found through the package)
from . import models  # noqa: F401  (tables are known to the metadata for migrations)


@hookimpl
def grappe_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def grappe_permissions():
    return [
        Permission("events.view", _l("See events, registrations and reports"), "viewer"),
        Permission("events.manage", _l("Create and edit events, register and invite persons"), "staff"),
        Permission("events.checkin", _l("Check in attendees at the door"), "staff"),
        Permission("events.mail", _l("Read the mails sent to registrants (outbox)"), "staff"),
        Permission("events.delete", _l("Delete an event that has no registration"), "manager"),
    ]

from .bench import grappe_bench_load, grappe_bench_measure  # noqa: F401  (grappe bench: the plugin's part of the dataset and its measurements)
