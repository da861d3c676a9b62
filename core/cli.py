"""The ``grappe`` command line."""

from __future__ import annotations

import functools
import getpass
import os
import random
import sys
from importlib.metadata import entry_points
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from .database import db

# commands of tools that run on the app, declared by their distributions (see _add_installed_commands)
COMMANDS_GROUP = "grappe.commands"


class GrappeGroup(click.Group):
    """Turns any error into one clear line and a non-zero exit (no traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            raise click.Abort()
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            if os.environ.get("GRAPPE_DEBUG"):
                raise
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "unable to open database file" in message and "mode=ro" in _database_url(ctx):
                # a read-only command on a SQLite file that does not exist (it is not created)
                message = "no such database file: it does not exist yet"
            if _missing_table(exc):
                message += " (the database is not set up: run 'grappe db upgrade')"
            raise click.ClickException(f"{type(exc).__name__}: {message}") from None


def _database_url(ctx) -> str:
    obj = ctx.find_root().obj
    return str(obj["app"].config.get("DATABASE_URL", "")) if obj and "app" in obj else ""


def _missing_table(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    return ("no such table" in str(exc.orig) or "unable to open database file" in str(exc.orig)
            or type(exc.orig).__name__ == "UndefinedTable")


def _app(read_only: bool = False):
    obj = click.get_current_context().find_root().obj
    if obj is None or "app" not in obj:
        from .app import create_app

        app = create_app(_read_only_config() if read_only else None)
        click.get_current_context().find_root().obj = {"app": app}
        return app
    return obj["app"]


def _read_only_config() -> dict:
    """The app of a command that only reads creates no file, the SQLite database included.

    A missing SQLite file is opened read-only (``mode=ro``): connecting fails with "unable
    to open database file" instead of creating an empty database in the current folder.
    """
    from sqlalchemy.engine import make_url

    from .database import default_database_url

    config: dict = {"READ_ONLY": True}
    instance = os.path.abspath(os.environ.get("GRAPPE_INSTANCE", "instance"))
    url = make_url(os.environ.get("GRAPPE_DATABASE_URL") or default_database_url(instance))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not url.database.startswith("file:") and not Path(url.database).exists():
        config["DATABASE_URL"] = f"sqlite:///file:{Path(url.database).resolve()}?mode=ro&uri=true"
    return config


def with_app(f=None, *, read_only: bool = False):
    """Run the command inside an app context.

    ``@with_app(read_only=True)`` for a command that only reads: it creates no file
    (no instance folder, secret key, job queue or SQLite database).
    """
    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            with _app(read_only).app_context():
                result = f(*args, **kwargs)
                if not read_only:
                    db.session.commit()  # the command's one commit (nothing on an error)
                return result

        return wrapper

    return decorate(f) if f is not None else decorate


@click.group(cls=GrappeGroup)
@click.version_option(package_name="grappe")
def cli():
    """Grappe: the back-office of a federation of business clusters."""


# -- db ----------------------------------------------------------------------------
@cli.group(cls=GrappeGroup)
def db_group():
    """Database schema (Alembic, one history per plugin)."""


cli.add_command(db_group, "db")


@db_group.command("upgrade")
@with_app
def db_upgrade():
    """Bring the core's and every installed plugin's schema up to date."""
    from . import migrate

    ran = migrate.upgrade()
    click.echo("Database is up to date." if not ran else f"Upgraded: {', '.join(ran)}.")


@db_group.command("current")
@with_app(read_only=True)
def db_current():
    """Show each history's current revision."""
    from . import migrate

    for owner, rev in migrate.current_heads().items():
        click.echo(f"{owner:12} {rev or '(empty)'}")


@db_group.command("revision")
@click.argument("owner")
@click.option("-m", "--message", required=True)
@click.option("--empty", is_flag=True, help="Write an empty revision instead of comparing models.")
@with_app
def db_revision(owner, message, empty):
    """Write a new revision for OWNER (core or a plugin) from its models."""
    from . import migrate

    if owner not in dict(migrate.histories()):
        raise click.ClickException(f"unknown owner '{owner}' (core or an installed plugin)")
    path = migrate.revision(owner, message, autogenerate=not empty)
    click.echo(f"Wrote {path}")


@db_group.command("check")
@with_app(read_only=True)
def db_check():
    """Fail when some model differs from the migrated schema."""
    from . import migrate

    dirty = False
    for owner, _ in migrate.histories():
        diff = migrate.pending_changes(owner)
        if diff:
            dirty = True
            click.echo(f"{owner}: {len(diff)} difference(s): {diff[:3]}")
    if dirty:
        raise click.ClickException("models and migrations differ: run 'grappe db revision OWNER -m ...'")
    click.echo("Models and migrations agree.")


# -- clusters ----------------------------------------------------------------------
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
    from .services import ClusterError, create_cluster

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
    from .models import Cluster

    for c in db.session.execute(select(Cluster).order_by(Cluster.slug)).scalars():
        click.echo(f"{c.slug:20} {c.name:40} {', '.join(c.module_names) or '-'}")


def _cluster(slug):
    from .models import Cluster

    cluster = db.session.execute(select(Cluster).where(Cluster.slug == slug)).scalar_one_or_none()
    if cluster is None:
        raise click.ClickException(f"no cluster '{slug}' (see 'grappe clusters list')")
    return cluster


# -- modules -----------------------------------------------------------------------
@cli.group(cls=GrappeGroup)
def modules():
    """Installed modules and what each cluster has enabled."""


@modules.command("list")
@click.option("--cluster", "slug", help="Show which modules this cluster has enabled.")
@with_app(read_only=True)
def modules_list(slug):
    """List installed modules (and broken ones, with the reason)."""
    host = current_app.extensions["grappe.host"]
    enabled = set(_cluster(slug).module_names) if slug else None
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
    from .modules import ModuleError, enable

    try:
        added = enable(_cluster(slug), list(names))
    except ModuleError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"Enabled for {slug}: {', '.join(added)}." if added else "Nothing to do: already enabled.")


@modules.command("disable")
@click.argument("slug")
@click.argument("name")
@with_app
def modules_disable(slug, name):
    """Disable a module for a cluster (its data is kept)."""
    from .modules import ModuleError, disable

    try:
        disable(_cluster(slug), name)
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
    from .purge import PurgeError, purge

    cluster = _cluster(slug)
    if confirm is None:
        confirm = click.prompt(f"This deletes every {name} record of {slug}. Type '{slug}' to confirm")
    try:
        counts = purge(cluster, name, confirm)
    except PurgeError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"Purged {sum(counts.values())} rows of {name} for {slug}.")


# -- users -------------------------------------------------------------------------
def _read_password(email: str) -> str:
    from .auth import validate_new_password

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
@click.option("--role", type=click.Choice(["viewer", "staff", "manager", "admin"]))
@click.option("--cluster", "slug")
@click.option("--federation-admin", is_flag=True)
@with_app
def users_create(email, name, role, slug, federation_admin):
    """Create an account; the password is asked twice (or read from two stdin lines)."""
    from email_validator import EmailNotValidError, validate_email

    from .auth import create_user
    from .models import User
    from .services import grant_role

    if bool(role) != bool(slug):
        raise click.ClickException("--role and --cluster go together")
    if not role and not federation_admin:
        raise click.ClickException("give --role ROLE --cluster SLUG, or --federation-admin")
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise click.ClickException(f"invalid e-mail: {exc}")
    if db.session.execute(select(User.id).where(User.email == email)).first():
        raise click.ClickException(f"an account with {email} exists already")
    cluster = _cluster(slug) if slug else None
    password = _read_password(email)
    user = create_user(email, password, name=name, federation_admin=federation_admin)
    db.session.flush()
    if cluster:
        grant_role(user, cluster, role)
    db.session.commit()
    what = "federation admin" if federation_admin else f"{role} of {slug}"
    click.echo(f"Created {email} ({what}).")


@users.command("grant")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["viewer", "staff", "manager", "admin"]))
@click.option("--cluster", "slug", required=True)
@with_app
def users_grant(email, role, slug):
    """Give a user a role in a cluster."""
    from .models import User
    from .services import grant_role

    user = db.session.execute(select(User).where(User.email == email.lower())).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no account with {email}")
    grant_role(user, _cluster(slug), role)
    db.session.commit()
    click.echo(f"{email} is now {role} of {slug}.")


@users.command("deactivate")
@click.argument("email")
@with_app
def users_deactivate(email):
    """Close an account: it can no longer sign in, and its tokens stop working (nothing is deleted)."""
    user = _user(email)
    user.active = False
    db.session.commit()
    click.echo(f"{email} is deactivated; 'grappe users activate' reopens it.")


@users.command("activate")
@click.argument("email")
@with_app
def users_activate(email):
    """Reopen a deactivated account."""
    user = _user(email)
    user.active = True
    db.session.commit()
    click.echo(f"{email} is active again.")


@users.command("list")
@with_app(read_only=True)
def users_list():
    """List accounts and their roles."""
    from .models import User

    for u in db.session.execute(select(User).order_by(User.email)).scalars():
        roles = ", ".join(f"{r.cluster.slug}:{r.role}" for r in u.roles)
        fed = " federation-admin" if u.is_federation_admin else ""
        click.echo(f"{u.email:40}{fed} {roles}")


@cli.group(cls=GrappeGroup)
def tokens():
    """API bearer tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--label", default="")
@with_app
def tokens_create(email, label):
    """Create an API token for a user; it is shown once."""
    from .auth import new_api_token
    from .models import User

    user = db.session.execute(select(User).where(User.email == email.lower())).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no account with {email}")
    token = new_api_token(user, label)
    db.session.commit()
    click.echo(token)


def _user(email):
    from .models import User

    user = db.session.execute(select(User).where(User.email == email.lower())).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no account with {email}")
    return user


@tokens.command("list")
@click.argument("email")
@with_app(read_only=True)
def tokens_list(email):
    """List a user's tokens (never their values)."""
    from .models import ApiToken

    user = _user(email)
    for t in db.session.execute(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)).scalars():
        state = "revoked" if t.revoked else "active"
        used = t.last_used_at.isoformat(timespec="minutes") if t.last_used_at else "never used"
        click.echo(f"{t.id:6} {state:8} {t.created_at:%Y-%m-%d} {used:20} {t.label}")


@tokens.command("revoke")
@click.argument("email")
@click.option("--id", "token_id", type=int, help="Revoke this token only (see 'grappe tokens list').")
@with_app
def tokens_revoke(email, token_id):
    """Revoke a user's API tokens (all of them, or one with --id)."""
    from .audit import record
    from .models import ApiToken

    user = _user(email)
    stmt = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
    if token_id is not None:
        stmt = stmt.where(ApiToken.id == token_id)
    tokens = db.session.execute(stmt).scalars().all()
    if token_id is not None and not tokens:
        raise click.ClickException(f"{email} has no active token {token_id}")
    for t in tokens:
        t.revoked = True
    record("token_revoke", object_type="core.user", object_id=user.id,
           summary=f"{len(tokens)} API token(s) of {user.email} revoked")
    db.session.commit()
    click.echo(f"Revoked {len(tokens)} token(s) of {email}.")


# -- running -----------------------------------------------------------------------
def _serve(app, host: str, port: int) -> None:
    from . import jobs

    if not app.config.get("REDIS_URL"):
        jobs.start_consumer(app)
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve(host, port):
    """Serve the back-office (development server; use gunicorn in production)."""
    _serve(_app(), host, port)


@cli.command()
@click.option("--workers", default=2, show_default=True)
def worker(workers):
    """Consume background jobs (with GRAPPE_REDIS_URL, on any machine)."""
    app = _app()
    huey = app.extensions["grappe.jobs"]["huey"]
    click.echo(f"Grappe worker: {workers} thread(s) on {type(huey).__name__}.")
    # periodic: every minute, running jobs whose worker died (stale heartbeat) are marked failed
    huey.create_consumer(workers=workers, worker_type="thread", periodic=True).run()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Build the demo database and stop.")
@click.option("--seed", default=2008, show_default=True)
@click.option("--database-url", default=None, metavar="URL",
              help="Build the demo in this database (e.g. PostgreSQL) instead of instance/demo.sqlite3; "
                   "it must hold no cluster. GRAPPE_DATABASE_URL is never used by the demo.")
def demo(host, port, no_serve, seed, database_url):
    """Build a fresh demo federation (instance/demo.sqlite3) and serve it."""
    from .demo import build_demo

    # plain http on 127.0.0.1: cookies without the Secure flag, for this app only
    config = {"SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False}
    if database_url:
        config["DATABASE_URL"] = database_url
    else:
        # its own SQLite file, rebuilt each time: GRAPPE_DATABASE_URL (maybe production) is never touched
        instance = Path(os.environ.get("GRAPPE_INSTANCE", "instance")).resolve()
        instance.mkdir(parents=True, exist_ok=True)
        demo_db = instance / "demo.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{demo_db}{suffix}").unlink(missing_ok=True)
        config["DATABASE_URL"] = f"sqlite:///{demo_db}"
    from .app import create_app

    app = create_app(config)
    with app.app_context():
        if database_url:
            _refuse_a_database_with_clusters()
        logins = build_demo(random.Random(seed), echo=click.echo)
    click.echo("")
    click.echo("Demo logins (passwords are new each time):")
    for email, password, what in logins:
        click.echo(f"  {email:36} {password:22} {what}")
    if no_serve:
        return
    click.echo(f"\nGrappe demo on http://{host}:{port}/  (Ctrl+C to stop)")
    _serve(app, host, port)


def _refuse_a_database_with_clusters() -> None:
    """The demo is written into an empty database only: it never mixes with real data."""
    from sqlalchemy import func, inspect

    from .models import Cluster

    if Cluster.__tablename__ in inspect(db.engine).get_table_names():
        count = db.session.execute(select(func.count()).select_from(Cluster)).scalar_one()
        db.session.rollback()
        if count:
            raise click.ClickException(
                f"this database holds {count} cluster(s): the demo is built in an empty database only")


def _add_installed_commands() -> None:
    """Add the commands installed distributions declare in the ``grappe.commands`` entry-point
    group (``name = "package.module:command"``): tools that run on the app and that the core
    names nowhere.  A command that fails to load, or whose name is taken, is left out with a
    warning."""
    for ep in entry_points(group=COMMANDS_GROUP):
        try:
            command = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken tool must not take the CLI down
            click.echo(f"warning: the command '{ep.name}' ({ep.value}) could not be loaded: "
                       f"{type(exc).__name__}: {exc}", err=True)
            continue
        if not isinstance(command, click.Command):
            click.echo(f"warning: {ep.value} is not a click command; '{ep.name}' ignored", err=True)
            continue
        if cli.commands.get(ep.name) is command:
            continue
        if ep.name in cli.commands:
            click.echo(f"warning: the command '{ep.name}' ({ep.value}) exists already; ignored", err=True)
            continue
        cli.add_command(command, ep.name)


def _add_plugin_commands() -> None:
    """Load plugin commands (the plugins are imported once for this)."""
    from .plugins import PluginHost
    from . import builtin

    try:
        host = PluginHost(core_plugins=[builtin])
    except Exception as exc:  # noqa: BLE001
        click.echo(f"warning: plugins could not be loaded: {exc}", err=True)
        return
    for plugin, commands in host.call_loading("grappe_cli_commands"):
        for command in commands:
            if command.name in cli.commands:
                click.echo(f"warning: plugin {plugin}: the command '{command.name}' exists already; ignored", err=True)
                continue
            cli.add_command(command)


def main() -> None:
    _add_installed_commands()
    _add_plugin_commands()
    cli(prog_name="grappe")
