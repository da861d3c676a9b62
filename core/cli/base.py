"""The ``grappe`` group, the app a command runs on, and the look-ups commands share."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import click

from ..database import db


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


@click.group(cls=GrappeGroup)
@click.version_option(package_name="grappe")
def cli():
    """Grappe: the back-office of a federation of business clusters."""


def command_app(read_only: bool = False):
    """The app of the running command (created once per invocation)."""
    obj = click.get_current_context().find_root().obj
    if obj is None or "app" not in obj:
        from ..app import create_app

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

    from ..database import default_database_url

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
            with command_app(read_only).app_context():
                result = f(*args, **kwargs)
                if not read_only:
                    db.session.commit()  # the command's one commit (nothing on an error)
                return result

        return wrapper

    return decorate(f) if f is not None else decorate


def cluster_or_fail(slug: str):
    """The cluster with this slug, or a one-line error."""
    from ..lookups import cluster_by_slug

    cluster = cluster_by_slug(slug)
    if cluster is None:
        raise click.ClickException(f"no cluster '{slug}' (see 'grappe clusters list')")
    return cluster


def user_or_fail(email: str):
    """The account with this e-mail, or a one-line error."""
    from ..lookups import user_by_email

    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"no account with {email}")
    return user
