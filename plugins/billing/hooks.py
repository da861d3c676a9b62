"""Billing's hook implementations (the ``grappe.plugins`` entry point)."""

from __future__ import annotations

from pathlib import Path

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from core import NavItem, Permission, SearchResult, Widget, hookimpl

from . import hookspecs
from .bench import grappe_bench_load, grappe_bench_measure  # noqa: F401  (grappe bench: dataset and measurements)
from . import manifest  # noqa: F401  (the manifest is found through the package)
from . import models  # noqa: F401  (tables are known to the metadata for migrations)


@hookimpl
def grappe_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(hookspecs)


@hookimpl
def grappe_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def grappe_permissions():
    return [
        Permission("billing.view", _l("See the service catalogue, its prices and costs"), "viewer"),
        Permission("billing.catalogue", _l("Edit the service catalogue and its prices"), "manager"),
        Permission("billing.sell", _l("Quote and sell services"), "staff"),
        Permission("billing.payers", _l("Manage third-party payers and funding schemes"), "manager"),
    ]


@hookimpl
def grappe_blueprints():
    from .http_api import api
    from .views import bp

    return [bp, api]


@hookimpl
def grappe_nav_items(cluster, user):
    return [NavItem(_l("Services"), "billing.services", order=40, permission="billing.view"),
            NavItem(_l("Sales"), "billing.sales_list", order=41, permission="billing.view"),
            NavItem(_l("Funding schemes"), "billing.funding_schemes", order=42, permission="billing.view"),
            NavItem(_l("Quotes"), "billing.quotes", order=43, permission="billing.view"),
            NavItem(_l("Subscriptions"), "billing.subscriptions", order=44, permission="billing.view")]


@hookimpl
def grappe_dashboard_widgets(cluster, user):
    from .queries import status_counts

    counts = status_counts()
    body = Markup('<p class="big">{}</p><p class="muted">{}</p>').format(
        counts.get("on_sale", 0), _("services on sale, %(n)s in draft", n=counts.get("draft", 0)))
    return [Widget(_l("Service catalogue"), body, order=40, link=url_for("billing.services", status="on_sale"))]


@hookimpl
def grappe_search(cluster, query, limit):
    from .models import SERVICE_STATUSES
    from .queries import search

    return [SearchResult(title=s.name, url=url_for("billing.service", service_id=s.id), kind=str(_l("service")),
                         detail=" · ".join(x for x in (s.code or "", str(SERVICE_STATUSES[s.status])) if x))
            for s in search(query, limit)]


@hookimpl
def grappe_cluster_settings():
    from .settings import settings

    return settings()


@hookimpl
def grappe_demo_data(clusters, rng):
    from .demo import create_demo_data

    create_demo_data(clusters, rng)


@hookimpl
def grappe_jobs():
    from .quote_mail import send_quote_job

    return {"billing.send_quote": send_quote_job}
