"""The events plugin's hook implementations (the ``grappe.plugins`` entry point)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import url_for
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from core import NavItem, Permission, SearchResult, TimelineEntry, Widget, clusters_with, db, hookimpl, with_appcontext

from . import manifest  # noqa: F401  (the manifest is found through the package)
from . import models  # noqa: F401  (tables are known to the metadata for migrations)
from .bench import grappe_bench_load, grappe_bench_measure  # noqa: F401  (grappe bench: dataset and measurements)
from .models import REGISTRATION_STATUSES


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


@hookimpl
def grappe_blueprints():
    from . import checkin, public  # noqa: F401  (their routes join the pages' blueprint)
    from .http_api import api
    from .views import bp

    return [bp, api]


@hookimpl
def grappe_jobs():
    from .jobs import invite_job, send_mails_job

    return {"events.send_mails": send_mails_job, "events.invite": invite_job}


@hookimpl
def grappe_nav_items(cluster, user):
    return [NavItem(_l("Events"), "events.index", order=30, permission="events.view")]


@hookimpl
def grappe_dashboard_widgets(cluster, user):
    from . import display, queries

    with db.for_cluster(cluster.id):
        events = queries.upcoming_events(5)
        counts = queries.status_counts(e.id for e in events)
    if not events:
        body = Markup("<p class='muted'>{}</p>").format(_l("No upcoming event."))
    else:
        rows = []
        for e in events:
            taken = queries.seats_taken(counts[e.id])
            seats = f"{taken}/{e.capacity}" if e.capacity else str(taken)
            rows.append(Markup("<li><a href='{}'>{}</a> <span class='muted'>{} · {}</span></li>").format(
                url_for("events.event", event_id=e.id, cluster=cluster.slug), e.title,
                display.day(e.starts_at, cluster, str(_locale())), seats))
        body = Markup("<ul class='plain'>{}</ul>").format(Markup("").join(rows))
    return [Widget(_l("Upcoming events"), body, order=30, link=url_for("events.index", cluster=cluster.slug))]


def _locale():
    from flask_babel import get_locale

    return get_locale() or "en"


@hookimpl
def grappe_timeline_entries(cluster, object_type, object_id, limit):
    """A CRM person's or organization's registrations to this cluster's events (newest first)."""
    from . import queries

    with db.for_cluster(cluster.id):
        rows = queries.timeline_rows(object_type, object_id, limit)
    if not rows:
        return []
    persons = {}
    if object_type == "crm.organization":
        from plugins.crm import api as crm

        persons = crm.get_persons({r.person_id for r in rows})
    entries = []
    cancelled = str(_l("event cancelled"))
    for r in rows:
        status = str(REGISTRATION_STATUSES.get(r.status, r.status))
        detail = status
        if r.person_id in persons:
            detail = f"{persons[r.person_id].full_name} · {status}"
        if r.event_status == "cancelled":
            detail = f"{detail} · {cancelled}"
        entries.append(TimelineEntry(
            when=r.starts_at, kind="event", title=r.title, plugin="events",
            url=url_for("events.event", event_id=r.event_id, cluster=cluster.slug), detail=detail))
    return entries


@hookimpl
def grappe_search(cluster, query, limit):
    from . import display, queries

    with db.for_cluster(cluster.id):
        rows = queries.search(query, limit)

    return [SearchResult(title=r.title, url=url_for("events.event", event_id=r.id, cluster=cluster.slug),
                         kind=str(_l("Event")), detail=display.day(r.starts_at, cluster, str(_locale())))
            for r in rows]


@hookimpl(optionalhook=True)
def billing_billable_items(cluster, since, until):
    """Billing's hook (when billing is installed): this cluster's registration fees in the period."""
    from .api import billable_items

    return billable_items(cluster, since, until)


@hookimpl
def grappe_cli_commands():
    @click.group("events")
    def events_group():
        """Events: reminders."""

    @events_group.command("remind")
    @click.option("--within-days", default=2, show_default=True, type=click.IntRange(1, 60),
                  help="Remind registrants of events starting within this many days.")
    @click.option("--cluster", "slug", default=None, help="Only this cluster (default: every cluster with events).")
    @with_appcontext
    def remind(within_days, slug):
        """Queue reminder mails for upcoming events (run it daily, e.g. from cron)."""
        from datetime import timedelta

        from flask import current_app

        from .services import due_reminders

        clusters = [c for c in clusters_with("events") if not slug or c.slug == slug]
        if slug and not clusters:
            raise click.ClickException(f"no cluster '{slug}' with the events module")
        if not current_app.config.get("BASE_URL"):
            click.echo("warning: GRAPPE_BASE_URL is not set; mailed links point to http://127.0.0.1:5000/", err=True)
        for cluster in clusters:
            with db.for_cluster(cluster.id):
                jobs = due_reminders(within=timedelta(days=within_days))
            click.echo(f"{cluster.slug}: {len(jobs)} reminder job(s) queued")

    return [events_group]


@hookimpl
def grappe_demo_data(clusters, rng):
    from .demo import create_demo_data

    create_demo_data(clusters, rng)
