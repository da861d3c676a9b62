"""``grappe clusters``: the clusters of the federation."""

from __future__ import annotations

import click
from sqlalchemy import select

from ..database import db
from .base import GrappeGroup, cli, with_app


@cli.group(cls=GrappeGroup)
def clusters():
    """Clusters of the federation."""


@clusters.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--timezone", default="Europe/Paris", show_default=True)
@click.option("--language", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@with_app
def clusters_create(slug, name, timezone, language):
    """Create a cluster."""
    from ..services import ClusterError, create_cluster

    try:
        cluster = create_cluster(slug, name, timezone=timezone, language=language)
    except ClusterError as exc:
        raise click.ClickException(str(exc))
    db.session.commit()
    click.echo(f"Created cluster {cluster.slug} ({cluster.name}).")


@clusters.command("list")
@with_app(read_only=True)
def clusters_list():
    """List clusters and their modules."""
    from ..models import Cluster

    for c in db.session.execute(select(Cluster).order_by(Cluster.slug)).scalars():
        click.echo(f"{c.slug:20} {c.name:40} {', '.join(c.module_names) or '-'}")
