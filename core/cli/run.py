"""Running Grappe: ``grappe serve``, ``grappe worker`` and ``grappe demo``."""

from __future__ import annotations

import os
import random
from pathlib import Path

import click
from sqlalchemy import select

from ..database import db
from .base import cli, command_app


def _serve(app, host: str, port: int) -> None:
    from .. import jobs

    if not app.config.get("REDIS_URL"):
        jobs.start_consumer(app)
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve(host, port):
    """Serve the back-office (development server; use gunicorn in production)."""
    _serve(command_app(), host, port)


@cli.command()
@click.option("--workers", default=2, show_default=True)
def worker(workers):
    """Consume background jobs (with GRAPPE_REDIS_URL, on any machine)."""
    app = command_app()
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
    from ..demo import build_demo

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
    from ..app import create_app

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

    from ..models import Cluster

    if Cluster.__tablename__ in inspect(db.engine).get_table_names():
        count = db.session.execute(select(func.count()).select_from(Cluster)).scalar_one()
        db.session.rollback()
        if count:
            raise click.ClickException(
                f"this database holds {count} cluster(s): the demo is built in an empty database only")
