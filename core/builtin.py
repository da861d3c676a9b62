"""The core, registered like a plugin (always on): its hook implementations and its blueprints.

The pages and the API are in :mod:`core.views`, one module per concern; importing them
here registers their routes on :data:`bp` and :data:`api_bp`, which the app mounts.
"""

from __future__ import annotations

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import func, select

from .auth import Permission
from .database import db
from .hookspecs import hookimpl
from .models import Job
from .ui import NavItem, Widget
from .views import account, admin, audit, auth, dashboard, federation, jobs, platform  # noqa: F401 - their routes
from .views.blueprint import api_bp, bp
from .views.shell import shell_context

__all__ = ["api_bp", "bp", "shell_context"]


@hookimpl
def grappe_permissions():
    return [
        Permission("core.audit", _l("Read the audit log"), "manager"),
        # never granted one by one: whoever holds it grants the others
        Permission("core.admin", _l("Administer the cluster (modules, profile, roles)"), "admin", grantable=False),
    ]


@hookimpl(trylast=True)
def grappe_nav_items(cluster, user):
    return [
        NavItem(_l("Dashboard"), "core.dashboard", order=0),
        NavItem(_l("Jobs"), "core.jobs", order=900),
        NavItem(_l("Audit log"), "core.audit", order=910, permission="core.audit"),
        NavItem(_l("Administration"), "core.cluster_admin", order=920, permission="core.admin"),
    ]


@hookimpl(trylast=True)
def grappe_dashboard_widgets(cluster, user):
    count = db.session.execute(
        select(func.count()).select_from(Job).where(Job.status.in_(("queued", "running")))
    ).scalar_one()
    names = ", ".join(sorted(g.enabled_modules)) or _("none")
    return [Widget(_l("This cluster"), Markup(
        "<p>{}</p><p>{}</p>".format(
            escape(_("Modules enabled: %(names)s", names=names)),
            escape(_("Jobs running: %(n)s", n=count)),
        )), order=1000)]
