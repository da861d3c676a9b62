"""``grappe db``: the database schema (Alembic, one history per plugin)."""

from __future__ import annotations

import click

from .base import GrappeGroup, cli, with_app


@cli.group("db", cls=GrappeGroup)
def db_group():
    """Database schema (Alembic, one history per plugin)."""


@db_group.command("upgrade")
@with_app
def db_upgrade():
    """Bring the core's and every installed plugin's schema up to date."""
    from .. import migrate

    ran = migrate.upgrade()
    click.echo("Database is up to date." if not ran else f"Upgraded: {', '.join(ran)}.")


@db_group.command("current")
@with_app(read_only=True)
def db_current():
    """Show each history's current revision."""
    from .. import migrate

    for owner, rev in migrate.current_heads().items():
        click.echo(f"{owner:12} {rev or '(empty)'}")


@db_group.command("revision")
@click.argument("owner")
@click.option("-m", "--message", required=True)
@click.option("--empty", is_flag=True, help="Write an empty revision instead of comparing models.")
@with_app
def db_revision(owner, message, empty):
    """Write a new revision for OWNER (core or a plugin) from its models."""
    from .. import migrate

    if owner not in dict(migrate.histories()):
        raise click.ClickException(f"unknown owner '{owner}' (core or an installed plugin)")
    path = migrate.revision(owner, message, autogenerate=not empty)
    click.echo(f"Wrote {path}")


@db_group.command("check")
@with_app(read_only=True)
def db_check():
    """Fail when some model differs from the migrated schema."""
    from .. import migrate

    dirty = False
    for owner, _ in migrate.histories():
        diff = migrate.pending_changes(owner)
        if diff:
            dirty = True
            click.echo(f"{owner}: {len(diff)} difference(s): {diff[:3]}")
    if dirty:
        raise click.ClickException("models and migrations differ: run 'grappe db revision OWNER -m ...'")
    click.echo("Models and migrations agree.")
