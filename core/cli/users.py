"""``grappe users``: staff accounts (the operations are core.services', shared with the pages)."""

from __future__ import annotations

import getpass
import sys

import click
from sqlalchemy import select

from ..database import db
from ..models import ROLES
from .base import GrappeGroup, cli, cluster_or_fail, user_or_fail, with_app

ROLE_CHOICE = click.Choice(ROLES)


def _read_password(email: str) -> str:
    from ..auth import validate_new_password

    if sys.stdin.isatty():
        first = getpass.getpass(f"Password for {email}: ")
        second = getpass.getpass("Repeat the password: ")
    else:
        lines = sys.stdin.read().splitlines()
        if len(lines) < 2:
            raise click.ClickException("give the password twice, one per line, on standard input")
        first, second = lines[0], lines[1]
    if first != second:
        raise click.ClickException("the two passwords differ")
    why = validate_new_password(first, email)
    if why:
        raise click.ClickException(f"password refused: {why}")
    return first


@cli.group(cls=GrappeGroup)
def users():
    """Staff accounts."""


@users.command("create")
@click.argument("email")
@click.option("--name", default="")
@click.option("--role", type=ROLE_CHOICE)
@click.option("--cluster", "slug")
@click.option("--federation-admin", is_flag=True)
@with_app
def users_create(email, name, role, slug, federation_admin):
    """Create an account; the password is asked twice (or read from two stdin lines)."""
    from ..services import AccountError, create_user, grant_role, new_account_email

    if bool(role) != bool(slug):
        raise click.ClickException("--role and --cluster go together")
    if not role and not federation_admin:
        raise click.ClickException("give --role ROLE --cluster SLUG, or --federation-admin")
    try:
        email = new_account_email(email)  # before asking the password
    except AccountError as exc:
        raise click.ClickException(str(exc))
    cluster = cluster_or_fail(slug) if slug else None
    password = _read_password(email)
    user = create_user(email, password, name=name, federation_admin=federation_admin)
    if cluster:
        grant_role(user, cluster, role)
    db.session.commit()
    what = "federation admin" if federation_admin else f"{role} of {slug}"
    click.echo(f"Created {email} ({what}).")


@users.command("grant")
@click.argument("email")
@click.option("--role", type=ROLE_CHOICE, help="The user's role in the cluster (replaces the one they had).")
@click.option("--cluster", "slug", required=True)
@click.option("--permission", "permissions", multiple=True, metavar="NAME",
              help="A permission to grant on top of the role, e.g. crm.import (repeatable).")
@with_app
def users_grant(email, role, slug, permissions):
    """Give a user a role in a cluster, and/or permissions of a higher role one by one."""
    from ..services import GrantError, grant_permission, grant_role

    if not role and not permissions:
        raise click.ClickException("give --role ROLE, --permission NAME, or both")
    user, cluster = user_or_fail(email), cluster_or_fail(slug)
    if role:
        grant_role(user, cluster, role)
    granted = []
    for name in permissions:
        try:
            grant_permission(user, cluster, name)
        except GrantError as exc:
            raise click.ClickException(str(exc)) from None  # nothing is saved
        granted.append(name)
    db.session.commit()
    if role:
        click.echo(f"{email} is now {role} of {slug}.")
    for name in granted:
        click.echo(f"{email} now has {name} in {slug}, on top of their role ({user.role_in(cluster.id)}).")


@users.command("revoke")
@click.argument("email")
@click.option("--cluster", "slug", required=True)
@click.option("--permission", "permissions", multiple=True, required=True, metavar="NAME",
              help="A permission granted to the user in the cluster (repeatable).")
@with_app
def users_revoke(email, slug, permissions):
    """Take back permissions granted to a user in a cluster (their role stays)."""
    from ..services import GrantError, revoke_permission

    user, cluster = user_or_fail(email), cluster_or_fail(slug)
    for name in permissions:
        try:
            revoke_permission(user, cluster, name)
        except GrantError as exc:
            raise click.ClickException(str(exc)) from None  # nothing is saved
    db.session.commit()
    for name in permissions:
        click.echo(f"{email} no longer has {name} in {slug}.")


@users.command("deactivate")
@click.argument("email")
@with_app
def users_deactivate(email):
    """Close an account: it can no longer sign in, and its tokens stop working (nothing is deleted)."""
    from ..services import set_active

    set_active(user_or_fail(email), False)
    db.session.commit()
    click.echo(f"{email} is deactivated; 'grappe users activate' reopens it.")


@users.command("activate")
@click.argument("email")
@with_app
def users_activate(email):
    """Reopen a deactivated account."""
    from ..services import set_active

    set_active(user_or_fail(email), True)
    db.session.commit()
    click.echo(f"{email} is active again.")


@users.command("list")
@with_app(read_only=True)
def users_list():
    """List accounts and their roles."""
    from ..models import PermissionGrant, User

    granted: dict[tuple[int, int], str] = {}
    for user_id, cluster_id, name in db.session.execute(
            select(PermissionGrant.user_id, PermissionGrant.cluster_id, PermissionGrant.permission)
            .order_by(PermissionGrant.permission)):
        granted[(user_id, cluster_id)] = granted.get((user_id, cluster_id), "") + f"+{name}"
    for u in db.session.execute(select(User).order_by(User.email)).scalars():
        # one:staff+crm.import: the role, then the permissions granted on top of it
        roles = ", ".join(f"{r.cluster.slug}:{r.role}{granted.get((u.id, r.cluster_id), '')}" for r in u.roles)
        fed = " federation-admin" if u.is_federation_admin else ""
        click.echo(f"{u.email:40}{fed} {roles}")
