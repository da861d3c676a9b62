"""A third-party plugin, installed as its own distribution, found through its entry point.

tests/fixtures/grappe-notes is a tiny real distribution (pyproject.toml, package
``grappe_notes``): a manifest, hooks, a page, an API endpoint, a navigation entry, a hook of
its own (``notes_note_added``), a table ``notes_note`` with its own Alembic history.  It is
pip-installed into a temporary folder (no network: no build isolation, no dependencies).
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from core import db, hookimpl, migrate
from core.auth import new_api_token
from core.database import Base
from core.models import AuditEntry
from core.testing import Factory, installed_plugins, make_test_app, truncate_all

from .fakeplugins import make_plugin

FIXTURE = Path(__file__).parent / "fixtures" / "grappe-notes"


@pytest.fixture(scope="module")
def notes_installed(tmp_path_factory):
    """grappe-notes pip-installed into a folder put on sys.path; everything undone after."""
    work = tmp_path_factory.mktemp("grappe-notes")
    source = work / "src"
    shutil.copytree(FIXTURE, source)  # the build writes into its source folder: not into ours
    target = work / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "grappe_notes" / "migrations" / "versions" / "notes_0001_notes_table.py").exists()
    assert list(target.glob("grappe_notes-0.1.0.dist-info"))
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m == "grappe_notes" or m.startswith("grappe_notes.")]:
            del sys.modules[name]
        table = Base.metadata.tables.get("notes_note")
        if table is not None:
            Base.metadata.remove(table)
        importlib.invalidate_caches()


@pytest.fixture
def notes_app(notes_installed, _schema, instance_path):
    """The platform as ``create_app()`` finds it (entry points only), migrated."""
    app = make_test_app(_schema, instance_path, plugins=None)
    with app.app_context():
        ran = migrate.upgrade(echo=lambda *_: None)
        app.migrated = ran
        truncate_all()
        try:
            yield app
        finally:
            db.session.rollback()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS notes_note"))
                conn.execute(text("DROP TABLE IF EXISTS alembic_version_notes"))


def test_the_installed_distribution_is_discovered_through_its_entry_point(notes_installed, notes_app):
    assert any(ep.name == "notes" and ep.value == "grappe_notes.hooks" for ep in installed_plugins())
    host = notes_app.extensions["grappe.host"]
    info = host.get("notes")
    assert info is not None, {i.name: i.error for i in host.broken()}
    assert info.source == "entry point notes = grappe_notes.hooks"
    assert info.manifest.label == "Notes" and info.manifest.version == "0.1.0"
    assert Path(info.module.__file__).is_relative_to(notes_installed)
    # its hook of its own is specified (by its grappe_addhooks) for every other plugin
    assert host.hook.notes_note_added.spec is not None


def test_its_table_is_migrated_by_its_own_history(notes_app):
    assert "notes" in notes_app.migrated
    tables = inspect(db.engine).get_table_names()
    assert "notes_note" in tables
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version_notes")).scalar_one() == "notes_0001"
    assert migrate.current_heads()["notes"] == "notes_0001"
    assert migrate.pending_changes("notes") == []
    assert migrate.upgrade(echo=lambda *_: None) == []  # idempotent


def test_enabled_for_one_cluster_only(notes_app):
    f = Factory(notes_app)
    one = f.cluster("one", modules=("notes",))
    two = f.cluster("two", modules=())
    alice = f.user("alice@example.org", "staff", one)
    bob = f.user("bob@example.org", "staff", two)
    token = new_api_token(alice)
    bob_token = new_api_token(bob)
    db.session.commit()

    client = notes_app.test_client(user=alice)
    page = client.get("/one/notes/")
    assert page.status_code == 200 and "Notes of One" in page.get_data(as_text=True)
    r = client.post("/one/notes/", data={"text": "Call the mayor"}, follow_redirects=True)
    assert r.status_code == 200 and "Call the mayor" in r.get_data(as_text=True)
    assert client.post("/one/notes/", data={"text": ""}).status_code == 400
    assert 'href="/one/notes/"' in client.get("/one/").get_data(as_text=True)

    api = notes_app.test_client()
    r = api.post("/api/v1/one/notes/notes", json={"text": "Book the hall"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201
    listed = api.get("/api/v1/one/notes/notes", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [n["text"] for n in listed["items"]] == ["Call the mayor", "Book the hall"] and listed["total"] == 2
    assert "/api/v1/{cluster}/notes/notes" in api.get("/api/v1/openapi.json").get_json()["paths"]

    # the other cluster has not enabled it: 404, no menu entry
    other = notes_app.test_client(user=bob)
    assert other.get("/two/notes/").status_code == 404
    assert other.post("/two/notes/", data={"text": "x"}).status_code == 404
    assert api.get("/api/v1/two/notes/notes", headers={"Authorization": f"Bearer {bob_token}"}).status_code == 404
    assert "/two/notes/" not in other.get("/two/").get_data(as_text=True)
    created = db.session.execute(select(AuditEntry).where(AuditEntry.object_type == "notes.note")).scalars().all()
    assert {e.cluster_id for e in created} == {one.id} and len(created) == 2


def test_another_plugin_implements_its_hook(notes_installed, notes_app):
    """A plugin written against notes' hook, loaded beside the installed ones."""
    heard = []

    @hookimpl
    def notes_note_added(cluster, note_id, text):
        heard.append((cluster.slug, text))

    listener = make_plugin("listener", pages=False, hooks={"notes_note_added": notes_note_added})
    app = make_test_app(notes_app.config["DATABASE_URL"], notes_app.instance_path,
                        plugins=[*installed_plugins(), listener])
    with app.app_context():
        f = Factory(app)
        one = f.cluster("one", modules=("notes", "listener"))
        two = f.cluster("two", modules=("notes",))
        client = app.test_client(user=f.user("a@example.org", "staff", one))
        client.post("/one/notes/", data={"text": "heard"})
        app.test_client(user=f.user("b@example.org", "staff", two)).post("/two/notes/", data={"text": "unheard"})
        assert heard == [("one", "heard")]  # per cluster: not called where listener is disabled
        texts = db.session.execute(text("SELECT text FROM notes_note ORDER BY id")).scalars().all()
        assert texts == ["heard", "unheard"]
