"""The pytest fixtures of Grappe, loaded by ``pytest_plugins = ["core.testing"]``.

``app``, ``client``, ``factory``, ``build_app``, ``outbox``, ``smtp_server``,
``live_server`` and ``page``; the helpers they use are in :mod:`core.testing`.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest
from flask import Flask

from .. import migrate
from ..database import db
from . import (
    CHROMIUM_ARGS, Factory, LiveServer, Outbox, _drop_everything, assert_responses_match_the_document, chromium_path,
    free_port, installed_plugins, make_test_app, require_or_skip, truncate_all,
)


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


def _plugins_for(request) -> list | None:
    """Every installed plugin plus the test's ``@pytest.mark.extra_plugins(...)``, or None."""
    marker = request.node.get_closest_marker("extra_plugins")
    if marker is None:
        return None
    return [*installed_plugins(), *marker.args]


@pytest.fixture(scope="session")
def _schema(database_url, instance_path) -> str:
    app = make_test_app(database_url, instance_path)
    with app.app_context():
        _drop_everything()
        migrate.upgrade(echo=lambda *_: None)
    return database_url


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


@pytest.fixture
def outbox(app) -> Outbox:
    """The outbox (where mails go without ``SMTP_URL``), emptied: ``outbox.mails("confirmation")``."""
    import shutil

    from ..mail import outbox_folder

    folder = outbox_folder()
    shutil.rmtree(folder, ignore_errors=True)
    return Outbox(folder)


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


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)


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
