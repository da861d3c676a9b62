"""Test helpers for Grappe and its plugins: test apps, clients, factories, a live server.

``pytest_plugins = ["core.testing"]`` in a plugin's ``conftest.py`` gives the fixtures
(:mod:`core.testing.fixtures`: ``app``, ``client``, ``factory``, ``live_server``,
``page``...).  This module itself does not need pytest: the benchmark uses its test
login and fast password hashing too.

The database is ``GRAPPE_TEST_DATABASE_URL`` (PostgreSQL in CI) or a SQLite file in a
temporary folder.  Its schema is built once per test session through the real
migrations; every test starts from empty tables.
"""

from __future__ import annotations

import os
import secrets
from importlib.metadata import EntryPoint, entry_points

from argon2 import PasswordHasher
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import inspect, text

from ..app import create_app
from ..auth import new_api_token  # noqa: F401  (tests make API tokens with it)
from ..database import Base, db
from ..modules import enable
from ..services import create_cluster, create_user, grant_role

# pytest loads these fixtures with this module (``pytest_plugins = ["core.testing"]``)
pytest_plugins = ["core.testing.fixtures"]

TEST_PASSWORD = "correct-horse-battery"

# argon2 at its lowest cost: test and bench accounts are hashed in a millisecond
FAST_PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def use_fast_password_hashing(app: Flask) -> None:
    """Hash the passwords ``app`` sets with :data:`FAST_PASSWORD_HASHER` (tests, the benchmark)."""
    app.extensions["grappe.password_hasher"] = FAST_PASSWORD_HASHER


def login_test_client(client, user) -> None:
    """Sign a Flask test client in as ``user`` without a password (tests, the benchmark).

    Writes the session keys Flask-Login's "strong" protection checks, for the
    client's own address and user agent.
    """
    from flask_login.utils import _create_identifier

    with client.application.test_request_context(environ_base=client.environ_base):
        ident = _create_identifier()
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
        sess["_id"] = ident


def _is_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def installed_plugins() -> list[EntryPoint]:
    """The ``grappe.plugins`` entry points: what ``create_app()`` discovers by itself.

    ``make_test_app(..., plugins=[*installed_plugins(), fake])`` is the real platform plus a
    throwaway plugin.
    """
    from ..plugins import ENTRY_POINT_GROUP

    return list(entry_points(group=ENTRY_POINT_GROUP))


class GrappeClient(FlaskClient):
    """Test client; ``app.test_client(user=u)`` starts logged in as ``u``.

    Each request runs in an app context of its own, as in production (its own ``g``
    and database session), even when the test holds the app's context open: before
    the request the test's session is committed (what it added is visible to the
    request), after it the test's session is expired (it sees what the request wrote).
    """

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:
            self.login_as(user)

    def login_as(self, user) -> None:
        login_test_client(self, user)

    def run_wsgi_app(self, environ, buffered=False):
        outer = _cv_app.get(None)
        if self.preserve_context or outer is None or outer.app is not self.application:
            return super().run_wsgi_app(environ, buffered=buffered)
        session = outer.g.get("_grappe_session")
        if session is not None and session.in_transaction():
            session.commit()
        with self.application.app_context():
            # buffered: the response body is produced inside the request's own context
            result = super().run_wsgi_app(environ, buffered=True)
        if session is not None:
            session.expire_all()
        return result


def make_test_app(database_url: str, instance_path: str, plugins=None, *, fast_password_hashing: bool = True,
                  **config) -> Flask:
    """An app on the test database (CSRF off unless asked, fast password hashing).

    :param plugins: plugin modules, import paths (``"pkg.hooks"``) or entry points to load
        instead of the installed ones (see :func:`installed_plugins`).
    :param fast_password_hashing: False keeps argon2's real cost (a test of the hashing).
    """
    os.environ["GRAPPE_INSTANCE"] = instance_path
    settings = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(16),
        "WTF_CSRF_ENABLED": False,
        "JOBS_IMMEDIATE": True,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "SERVER_NAME": None,
        # every API response a test receives is checked against the OpenAPI document
        "VALIDATE_API_RESPONSES": True,
    }
    if database_url.startswith("postgresql"):
        # a test database needs no durability: commits do not wait for the disk
        settings["ENGINE_OPTIONS"] = {"connect_args": {"options": "-c synchronous_commit=off"}}
    settings.update(config)
    app = create_app(settings, plugins=plugins)
    if fast_password_hashing:
        use_fast_password_hashing(app)
    app.test_client_class = GrappeClient
    return app


def _drop_everything() -> None:
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            for name in inspect(conn).get_table_names():
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))


def truncate_all() -> None:
    """Empty every Grappe table (keeps the schema and the Alembic versions).

    Rows are deleted children first (on PostgreSQL this is 40 times faster than TRUNCATE
    for the few rows a test leaves) and identity sequences restart at 1.
    """
    engine = db.engine
    with engine.connect() as conn:
        existing = set(inspect(conn).get_table_names())
    names = [t.name for t in Base.metadata.sorted_tables if t.name in existing]
    if engine.dialect.name == "postgresql":
        from sqlalchemy.exc import DBAPIError

        try:
            with engine.begin() as conn:
                for name in reversed(names):
                    conn.execute(text(f'DELETE FROM "{name}"'))
                sequences = conn.execute(text(
                    "SELECT sequence_schema, sequence_name FROM information_schema.sequences")).all()
                if sequences:
                    conn.execute(text("SELECT " + ", ".join(
                        f"setval('\"{schema}\".\"{name}\"', 1, false)" for schema, name in sequences)))
        except DBAPIError:  # a table outside the models still refers to ours
            if names:
                with engine.begin() as conn:
                    conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE"))
    else:
        with engine.begin() as conn:
            for name in reversed(names):
                conn.execute(text(f'DELETE FROM "{name}"'))


def assert_responses_match_the_document(app: Flask) -> None:
    """Fail when an API response the test received does not match the OpenAPI document."""
    problems = app.extensions.get("grappe.response_problems", [])
    assert not problems, "API responses that do not match the OpenAPI document:\n" + "\n".join(problems)


# -- mail --------------------------------------------------------------------------------
class Outbox:
    """The outbox folder of the test instance; ``mails(kind=None)`` parses what was written."""

    def __init__(self, folder):
        self.path = folder

    def mails(self, kind: str | None = None) -> list:
        from email.parser import BytesParser
        from email.policy import default

        if not self.path.is_dir():
            return []
        out = []
        for path in sorted(self.path.glob("*.eml")):
            with path.open("rb") as fh:
                msg = BytesParser(policy=default).parse(fh)
            if kind is None or msg["X-Grappe-Kind"] == kind:
                out.append(msg)
        return out


def free_port() -> int:
    """A TCP port nobody listens on (yet) on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Factory:
    """Small helpers to build clusters and users in tests."""

    def __init__(self, app: Flask):
        self.app = app

    def cluster(self, slug: str = "alpha", modules=("crm",), name: str | None = None, **profile):
        cluster = create_cluster(slug, name or slug.title(), **profile)
        db.session.commit()
        loaded = {i.name for i in self.app.extensions["grappe.host"].loaded()}
        wanted = [m for m in modules if m in loaded]
        if wanted:
            enable(cluster, wanted)
        return cluster

    def user(self, email: str = "staff@example.org", role: str | None = "staff", cluster=None,
             federation_admin: bool = False, password: str = TEST_PASSWORD, **kwargs):
        user = create_user(email, password, federation_admin=federation_admin, **kwargs)
        if role and cluster is not None:
            grant_role(user, cluster, role)
        db.session.commit()
        return user


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip a test whose component is missing; in CI (CI=true) fail instead."""
    import pytest

    if condition:
        return
    if _is_ci():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


# -- real server and real browser ---------------------------------------------------
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    import shutil

    return os.environ.get("GRAPPE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class LiveServer:
    """A real HTTP server (werkzeug, threaded) serving an app on 127.0.0.1."""

    def __init__(self, app: Flask):
        import threading

        from werkzeug.serving import make_server

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


def browser_login(page, base_url: str, email: str, password: str = TEST_PASSWORD) -> None:
    """Sign in through the real login form."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
