"""Pytest fixtures for Grappe and its plugins (``pytest_plugins = ["core.testing"]``).

The database is ``GRAPPE_TEST_DATABASE_URL`` (PostgreSQL in CI) or a SQLite file in a
temporary folder.  Its schema is built once per test session through the real
migrations; every test starts from empty tables.
"""

from __future__ import annotations

import os
import secrets
from importlib.metadata import EntryPoint, entry_points
from typing import Iterator

import pytest
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import inspect, text

from . import migrate
from .app import create_app
from .auth import create_user
from .database import Base, db
from .modules import enable
from .services import create_cluster, grant_role

TEST_PASSWORD = "correct-horse-battery"


def _is_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("GRAPPE_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("instance")
    os.environ["GRAPPE_INSTANCE"] = str(path)
    return str(path)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "extra_plugins(*modules): the app and live_server fixtures load these plugin modules "
        "besides every installed one",
    )


def installed_plugins() -> list[EntryPoint]:
    """The ``grappe.plugins`` entry points: what ``create_app()`` discovers by itself.

    ``make_test_app(..., plugins=[*installed_plugins(), fake])`` is the real platform plus a
    throwaway plugin.
    """
    from .plugins import ENTRY_POINT_GROUP

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _plugins_for(request) -> list | None:
    """Every installed plugin plus the test's ``@pytest.mark.extra_plugins(...)``, or None."""
    marker = request.node.get_closest_marker("extra_plugins")
    if marker is None:
        return None
    return [*installed_plugins(), *marker.args]


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
        from .auth import login_test_client

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


def make_test_app(database_url: str, instance_path: str, plugins=None, **config) -> Flask:
    """An app on the test database (CSRF off unless asked, fast password hashing).

    :param plugins: plugin modules, import paths (``"pkg.hooks"``) or entry points to load
        instead of the installed ones (see :func:`installed_plugins`).
    """
    os.environ["GRAPPE_INSTANCE"] = instance_path
    settings = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(16),
        "WTF_CSRF_ENABLED": False,
        "FAST_PASSWORD_HASHING": True,
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
    app.test_client_class = GrappeClient
    return app


@pytest.fixture(scope="session")
def _schema(database_url, instance_path) -> str:
    app = make_test_app(database_url, instance_path)
    with app.app_context():
        _drop_everything()
        migrate.upgrade(echo=lambda *_: None)
    return database_url


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


@pytest.fixture
def app(_schema, instance_path, request) -> Iterator[Flask]:
    """The app with every installed plugin, on empty tables, inside an app context.

    ``@pytest.mark.extra_plugins(module, ...)`` adds throwaway plugins to the installed ones.
    """
    app = make_test_app(_schema, instance_path, plugins=_plugins_for(request))
    with app.app_context():
        truncate_all()
        yield app
        db.session.rollback()
    assert_responses_match_the_document(app)


def assert_responses_match_the_document(app: Flask) -> None:
    """Fail when an API response the test received does not match the OpenAPI document."""
    problems = app.extensions.get("grappe.response_problems", [])
    assert not problems, "API responses that do not match the OpenAPI document:\n" + "\n".join(problems)


@pytest.fixture
def build_app(_schema, instance_path):
    """``build_app(*plugins, **config)``: an app with exactly these plugins, its context pushed, on empty tables.

    For tests of the plugin host and of hooks, with throwaway plugin modules.
    """
    contexts = []

    def _build(*plugins, **config):
        app = make_test_app(_schema, instance_path, plugins=list(plugins), **config)
        ctx = app.app_context()
        ctx.push()
        contexts.append(ctx)
        truncate_all()
        return app

    yield _build
    for ctx in reversed(contexts):
        db.session.rollback()
        ctx.pop()


@pytest.fixture
def client(app):
    return app.test_client()


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


@pytest.fixture
def outbox(app) -> Outbox:
    """The outbox (where mails go without ``SMTP_URL``), emptied: ``outbox.mails("confirmation")``."""
    import shutil

    from .mail import outbox_folder

    folder = outbox_folder()
    shutil.rmtree(folder, ignore_errors=True)
    return Outbox(folder)


def free_port() -> int:
    """A TCP port nobody listens on (yet) on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1: ``.port``, ``.messages`` and ``.envelopes`` it got.

    Point the app at it with ``app.config["SMTP_URL"] = f"smtp://127.0.0.1:{smtp_server.port}"``.
    """
    from email import message_from_bytes
    from email.policy import default

    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.messages = []
            self.envelopes = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(message_from_bytes(envelope.content, policy=default))
            return "250 Message accepted for delivery"

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


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
        db.session.flush()
        if role and cluster is not None:
            grant_role(user, cluster, role)
        db.session.commit()
        return user


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip a test whose component is missing; in CI (CI=true) fail instead."""
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


@pytest.fixture
def live_server(_schema, instance_path, request):
    """The full app (every plugin, CSRF on) behind a real HTTP server, on empty tables.

    Tests build their data inside ``with live_server.app.app_context():``;
    ``@pytest.mark.extra_plugins(module, ...)`` adds throwaway plugins.
    """
    app = make_test_app(_schema, instance_path, plugins=_plugins_for(request), WTF_CSRF_ENABLED=True)
    with app.app_context():
        truncate_all()
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _browser():
    path = chromium_path()
    require_or_skip(path is not None, "Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        require_or_skip(False, "playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(_browser, request):
    """A fresh Playwright page (own cookies) in Debian's Chromium; a screenshot is kept on failure."""
    context = _browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        out = os.path.join(os.getcwd(), "test-artifacts")
        os.makedirs(out, exist_ok=True)
        try:
            pg.screenshot(path=os.path.join(out, f"{request.node.name}.png"), full_page=True)
        except Exception:  # noqa: BLE001
            pass
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


def browser_login(page, base_url: str, email: str, password: str = TEST_PASSWORD) -> None:
    """Sign in through the real login form."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
