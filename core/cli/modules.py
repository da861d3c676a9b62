"""``grappe modules``: installed modules, and what each cluster has enabled."""

from __future__ import annotations

import click
from flask import current_app

from .base import GrappeGroup, cli, cluster_or_fail, with_app


@cli.group(cls=GrappeGroup)
def modules():
    """Installed modules and what each cluster has enabled."""


@modules.command("list")
@click.option("--cluster", "slug", help="Show which modules this cluster has enabled.")
@with_app(read_only=True)
def modules_list(slug):
    """List installed modules (and broken ones, with the reason)."""
    host = current_app.extensions["grappe.host"]
    enabled = set(cluster_or_fail(slug).module_names) if slug else None
    for info in host.loaded():
        mark = "" if enabled is None else ("enabled " if info.name in enabled else "disabled")
        deps = f" (depends on {', '.join(info.depends)})" if info.depends else ""
        click.echo(f"{info.name:12} {info.manifest.version:8} {mark:9}{info.label}{deps}")
    for info in host.broken():
        click.echo(f"{info.name:12} {'BROKEN':8} {'':9}{info.error}")


@modules.command("enable")
@click.argument("slug")
@click.argument("names", nargs=-1, required=True)
@with_app
def modules_enable(slug, names):
    """Enable modules for a cluster (their dependencies too)."""
    from ..modules import ModuleError, enable

    try:
        added = enable(cluster_or_fail(slug), list(names))
    except ModuleError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"Enabled for {slug}: {', '.join(added)}." if added else "Nothing to do: already enabled.")


@modules.command("disable")
@click.argument("slug")
@click.argument("name")
@with_app
def modules_disable(slug, name):
    """Disable a module for a cluster (its data is kept)."""
    from ..modules import ModuleError, disable

    try:
        disable(cluster_or_fail(slug), name)
    except ModuleError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"Disabled {name} for {slug}; its data is kept.")


@modules.command("purge")
@click.argument("slug")
@click.argument("name")
@click.option("--yes", "confirm", help="The cluster's slug again, to confirm.")
@with_app
def modules_purge(slug, name, confirm):
    """Delete a disabled module's data for one cluster (asks for the slug again)."""
    from ..purge import PurgeError, purge

    cluster = cluster_or_fail(slug)
    if confirm is None:
        confirm = click.prompt(f"This deletes every {name} record of {slug}. Type '{slug}' to confirm")
    try:
        counts = purge(cluster, name, confirm)
    except PurgeError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"Purged {sum(counts.values())} rows of {name} for {slug}.")
