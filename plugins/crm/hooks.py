"""The CRM's hook implementations (the ``grappe.plugins`` entry point)."""

from __future__ import annotations

from pathlib import Path

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from core import NavItem, Permission, SearchResult, Widget, hookimpl

from . import manifest  # noqa: F401  (the manifest is found through the package)
from . import models  # noqa: F401  (tables are known to the metadata for migrations)
from .bench import grappe_bench_load, grappe_bench_measure  # noqa: F401  (grappe bench)


@hookimpl
def grappe_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def grappe_permissions():
    return [
        Permission("crm.view", _l("See organizations, persons and this cluster's CRM data"), "viewer"),
        Permission("crm.edit", _l("Edit organizations, persons, memberships, interactions"), "staff"),
        Permission("crm.import", _l("Import organizations and persons from files"), "manager"),
        Permission("crm.erase", _l("Export and erase a person's data; delete organizations"), "admin"),
    ]


@hookimpl
def grappe_blueprints():
    from .http_api import api, federation_api
    from .views import bp, federation_bp

    return [bp, api, federation_bp, federation_api]


@hookimpl
def grappe_nav_items(cluster, user):
    return [
        NavItem(_l("Organizations"), "crm.organizations", order=10),
        NavItem(_l("Persons"), "crm.persons", order=11),
        NavItem(_l("My follow-ups"), "crm.followups", order=12),
        NavItem(_l("Segments"), "crm.segments", order=13),
        NavItem(_l("Competences"), "crm.competences", order=14),
        NavItem(_l("Import"), "crm.import_page", order=15, permission="crm.import"),
    ]


@hookimpl
def grappe_dashboard_widgets(cluster, user):
    from .interactions import followups_due_count
    from .memberships import member_count

    members, due = member_count(), followups_due_count(user.id)
    return [
        Widget(_l("Members"), Markup('<p class="big">{}</p><p class="muted">{}</p>').format(
            members, _("organizations are members of %(cluster)s today", cluster=cluster.name)),
            order=10, link=url_for("crm.organizations", membership="member")),
        Widget(_l("My follow-ups"), Markup('<p class="big">{}</p><p class="muted">{}</p>').format(
            due, _("due today or late")), order=11, link=url_for("crm.followups")),
    ]


@hookimpl
def grappe_search(cluster, query, limit):
    from .queries import search

    orgs, persons = search(query, limit)
    out = [SearchResult(title=o.name, url=url_for("crm.organization", org_id=o.id), kind=str(_l("organization")),
                        detail=" · ".join(x for x in (o.city, o.siren or o.vat_number or "") if x)) for o in orgs]
    out += [SearchResult(title=p.full_name, url=url_for("crm.person", person_id=p.id), kind=str(_l("person")),
                         detail=" · ".join(x for x in (p.email or "", ", ".join(ln.organization.name for ln in p.links))
                                           if x)) for p in persons]
    return out


@hookimpl
def grappe_cli_commands():
    from .cli import import_group

    return [import_group]


@hookimpl
def grappe_jobs():
    from .importing.jobs import run_import_job

    return {"crm.import": run_import_job}


@hookimpl
def grappe_demo_data(clusters, rng):
    from .demo import create_demo_data

    create_demo_data(clusters, rng)
