"""The CRM's hook implementations (the ``grappe.plugins`` entry point)."""

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
        Permission("crm.view", _l("See organizations, persons and this cluster's CRM data"), "viewer"),
        Permission("crm.edit", _l("Edit organizations, persons, memberships, interactions"), "staff"),
        Permission("crm.import", _l("Import organizations and persons from files"), "manager"),
        Permission("crm.erase", _l("Export and erase a person's data (data subject requests)"), "admin"),
    ]
