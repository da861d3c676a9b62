"""One test (at least) for every hook of core/hookspecs.py, with throwaway module plugins.

tests/test_docs.py checks that each hook name appears in some test under tests/.
"""

from __future__ import annotations

import random
import sys
import types
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask import Blueprint, g
from markupsafe import Markup
from sqlalchemy import inspect, select, text
from wtforms import IntegerField, StringField

from core import (
    ClusterBlueprint, Manifest, NavItem, Permission, SearchResult, Setting, TimelineEntry, Widget, db,
    hookimpl, hookspec, requires, utcnow, with_appcontext,
)
from core.modules import disable, enable
from core.testing import Factory, make_test_app


def plugin_module(name: str, depends=(), **hooks) -> types.ModuleType:
    """A plugin as a module built at run time: a manifest and the given hook functions."""
    mod = types.ModuleType(f"hooktest_{name}")
    mod.manifest = Manifest(name=name, version="1.0", label=name.title(), depends=tuple(depends))
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, fn)
    sys.modules[mod.__name__] = mod
    return mod


def _host(app):
    return app.extensions["grappe.host"]


# -- grappe_addhooks, a plugin's own hooks and optionalhook ----------------------------
# Hook specifications the plugin "provider" offers (normally its hookspecs.py module).
ProviderSpecs = types.ModuleType("hooktest_provider_hookspecs")


@hookspec
def provider_things(cluster):
    """Return things to list for a cluster. *Per cluster.*"""


ProviderSpecs.provider_things = provider_things
del provider_things


def _provider():
    @hookimpl
    def grappe_addhooks(pluginmanager):
        pluginmanager.add_hookspecs(ProviderSpecs)

    return plugin_module("provider", grappe_addhooks=grappe_addhooks)


def _consumer(optional: bool):
    # registered before "provider" (load order is alphabetical among independent plugins),
    # so the specification arrives after the implementation: pluggy checks it then.
    @hookimpl(optionalhook=optional)
    def provider_things(cluster):
        return [f"thing of {cluster.slug}"]

    return plugin_module("aconsumer", provider_things=provider_things)


def test_grappe_addhooks_lets_a_plugin_add_hooks_that_others_implement_per_cluster(build_app):
    app = build_app(_provider(), _consumer(optional=True))
    host = _host(app)
    assert {i.name for i in host.loaded()} == {"provider", "aconsumer"}
    assert host.hook.provider_things.spec is not None
    f = Factory(app)
    on = f.cluster("lyon", modules=("provider", "aconsumer"))
    off = f.cluster("linz", modules=("provider",))
    assert host.hook_for({"provider", "aconsumer"}).provider_things(cluster=on) == [["thing of lyon"]]
    assert host.hook_for({"provider"}).provider_things(cluster=off) == []


def test_optionalhook_keeps_a_plugin_loadable_without_the_hook_owner(build_app):
    app = build_app(_consumer(optional=True))
    assert _host(app).get("aconsumer") is not None


def test_a_hook_with_no_specification_breaks_only_its_plugin(build_app):
    app = build_app(_consumer(optional=False), plugin_module("other"))
    host = _host(app)
    assert host.get("other") is not None
    assert host.get("aconsumer") is None
    assert "provider_things" in host.plugins["aconsumer"].error


def test_a_wrong_signature_breaks_the_plugin_with_a_clear_reason(build_app):
    @hookimpl
    def grappe_nav_items(cluster, user, colour):
        return []

    app = build_app(plugin_module("typo", grappe_nav_items=grappe_nav_items))
    info = _host(app).plugins["typo"]
    assert info.broken and "colour" in info.error


# -- grappe_blueprints --------------------------------------------------------------------
def test_grappe_blueprints_mounts_cluster_api_and_plain_blueprints(build_app):
    from core import ApiBlueprint

    pages = ClusterBlueprint("bp", __name__)
    api = ApiBlueprint("bp_api", __name__)
    plain = Blueprint("bp_directory", __name__, url_prefix="/directory")

    @pages.route("/hello")
    def hello():
        return f"hello from {g.cluster.slug}"

    @api.operation("/hello", summary="Say hello")
    def api_hello():
        return {"cluster": g.cluster.slug}

    @plain.route("/")
    def directory():
        return "the federation-wide directory"

    @hookimpl
    def grappe_blueprints():
        return [pages, api, plain]

    app = build_app(plugin_module("bp", grappe_blueprints=grappe_blueprints))
    f = Factory(app)
    one = f.cluster("one", modules=("bp",))
    f.cluster("two", modules=())
    user = f.user("u@example.org", "viewer", one)
    client = app.test_client(user=user)
    assert client.get("/one/bp/hello").get_data(as_text=True) == "hello from one"
    assert client.get("/two/bp/hello").status_code == 404
    assert client.get("/directory/").get_data(as_text=True) == "the federation-wide directory"
    from core.auth import new_api_token

    token = new_api_token(user)
    db.session.commit()
    r = client.get("/api/v1/one/bp/hello", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.get_json() == {"cluster": "one"}
    assert "/api/v1/{cluster}/bp/hello" in client.get("/api/v1/openapi.json").get_json()["paths"]


# -- grappe_migrations ---------------------------------------------------------------------
MIGRATION = '''"""notes table"""
import sqlalchemy as sa
from alembic import op

revision = "hooknotes_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("hooknotes_note", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table("hooknotes_note")
'''


def test_grappe_migrations_runs_the_plugins_own_history(tmp_path, instance_path):
    from core import migrate

    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "hooknotes_0001_notes.py").write_text(MIGRATION)

    @hookimpl
    def grappe_migrations():
        return versions

    plugin = plugin_module("hooknotes", grappe_migrations=grappe_migrations)
    # a database of its own: this history's table is not part of the shared test schema
    app = make_test_app(f"sqlite:///{tmp_path / 'own.sqlite3'}", instance_path, plugins=[plugin])
    with app.app_context():
        assert ("hooknotes", Path(versions)) in migrate.histories()
        assert migrate.upgrade(echo=lambda *_: None) == ["core", "hooknotes"]
        tables = inspect(db.engine).get_table_names()
        assert "hooknotes_note" in tables and "alembic_version_hooknotes" in tables
        assert migrate.current_heads()["hooknotes"] == "hooknotes_0001"
        assert migrate.upgrade(echo=lambda *_: None) == []  # nothing left to do


# -- grappe_permissions ---------------------------------------------------------------------
def test_grappe_permissions_sets_the_lowest_role_a_view_needs(build_app):
    pages = ClusterBlueprint("perm", __name__)

    @pages.route("/report")
    @requires("perm.report")
    def report():
        return "the report"

    @hookimpl
    def grappe_blueprints():
        return [pages]

    @hookimpl
    def grappe_permissions():
        return [Permission("perm.report", "Read the report", "manager")]

    app = build_app(plugin_module("perm", grappe_blueprints=grappe_blueprints, grappe_permissions=grappe_permissions))
    assert app.extensions["grappe.permissions"]["perm.report"].role == "manager"
    f = Factory(app)
    one = f.cluster("one", modules=("perm",))
    staff = f.user("s@example.org", "staff", one)
    manager = f.user("m@example.org", "manager", one)
    assert app.test_client(user=staff).get("/one/perm/report").status_code == 403
    assert app.test_client(user=manager).get("/one/perm/report").status_code == 200


# -- grappe_nav_items, grappe_dashboard_widgets ------------------------------------------
def test_grappe_nav_items_per_cluster_and_filtered_by_permission(build_app):
    pages = ClusterBlueprint("navy", __name__)

    @pages.route("/")
    def index():
        return "navy"

    @hookimpl
    def grappe_blueprints():
        return [pages]

    @hookimpl
    def grappe_permissions():
        return [Permission("navy.secret", "See the secret entry", "admin")]

    @hookimpl
    def grappe_nav_items(cluster, user):
        return [NavItem("Navy list", "navy.index", order=5),
                NavItem("Navy secret", "navy.index", permission="navy.secret")]

    app = build_app(plugin_module("navy", grappe_blueprints=grappe_blueprints, grappe_permissions=grappe_permissions,
                              grappe_nav_items=grappe_nav_items))
    f = Factory(app)
    one = f.cluster("one", modules=("navy",))
    two = f.cluster("two", modules=())
    staff = f.user("s@example.org", "staff", one)
    f.user("a@example.org", "admin", one)
    page = app.test_client(user=staff).get("/one/").get_data(as_text=True)
    assert 'href="/one/navy/"' in page and "Navy list" in page and "Navy secret" not in page
    from core.services import grant_role

    grant_role(staff, two, "admin")
    db.session.commit()
    assert "Navy" not in app.test_client(user=staff).get("/two/").get_data(as_text=True)
    grant_role(staff, one, "admin")
    db.session.commit()
    assert "Navy secret" in app.test_client(user=staff).get("/one/").get_data(as_text=True)


def test_grappe_dashboard_widgets_per_cluster_ordered_and_escaped(build_app):
    @hookimpl
    def grappe_dashboard_widgets(cluster, user):
        return [Widget("Second", "<b>escaped</b>", order=20),
                Widget("First", Markup("<p class='mine'>trusted</p>"), order=10)]

    app = build_app(plugin_module("widgety", grappe_dashboard_widgets=grappe_dashboard_widgets))
    f = Factory(app)
    one = f.cluster("one", modules=("widgety",))
    two = f.cluster("two", modules=())
    user = f.user("u@example.org", "viewer", one)
    from core.services import grant_role

    grant_role(user, two, "viewer")
    db.session.commit()
    client = app.test_client(user=user)
    page = client.get("/one/").get_data(as_text=True)
    assert page.index("First") < page.index("Second")
    assert "<p class='mine'>trusted</p>" in page and "&lt;b&gt;escaped&lt;/b&gt;" in page
    assert "Second" not in client.get("/two/").get_data(as_text=True)


# -- grappe_timeline_entries ----------------------------------------------------------------
def test_grappe_timeline_entries_only_from_enabled_modules(build_app):
    seen = []

    @hookimpl
    def grappe_timeline_entries(cluster, object_type, object_id, limit):
        seen.append((cluster.slug, object_type, object_id, limit))
        return [TimelineEntry(when=utcnow(), kind="visit", title="Visited", plugin="tl")]

    app = build_app(plugin_module("tl", grappe_timeline_entries=grappe_timeline_entries))
    f = Factory(app)
    one = f.cluster("one", modules=("tl",))
    two = f.cluster("two", modules=())
    host = _host(app)
    for cluster in (one, two):
        enabled = app.extensions["grappe.modules"].enabled(cluster.id)
        groups = host.hook_for(enabled).grappe_timeline_entries(
            cluster=cluster, object_type="crm.organization", object_id=7, limit=20)
        entries = [e for group in groups for e in group]
        assert [e.title for e in entries] == (["Visited"] if cluster is one else [])
    assert seen == [("one", "crm.organization", 7, 20)]


# -- grappe_search ------------------------------------------------------------------------------
def test_grappe_search_feeds_the_search_page_of_enabled_clusters(build_app):
    queries = []

    @hookimpl
    def grappe_search(cluster, query, limit):
        queries.append((query, limit))
        return [SearchResult(title=f"Result for {query}", url="/somewhere", kind="thing", detail="found")]

    app = build_app(plugin_module("finder", grappe_search=grappe_search))
    f = Factory(app)
    one = f.cluster("one", modules=("finder",))
    two = f.cluster("two", modules=())
    user = f.user("u@example.org", "viewer", one)
    from core.services import grant_role

    grant_role(user, two, "viewer")
    db.session.commit()
    client = app.test_client(user=user)
    assert "Result for bolts" in client.get("/one/search?q=++bolts++").get_data(as_text=True)
    assert queries == [("bolts", 20)]
    assert "Result for" not in client.get("/two/search?q=bolts").get_data(as_text=True)
    client.get("/one/search?q=+++")
    assert len(queries) == 1  # never called with an empty query


# -- grappe_cluster_settings ------------------------------------------------------------------
def test_grappe_cluster_settings_on_the_profile_page_and_stored(build_app):
    from core.models import ClusterSetting

    @hookimpl
    def grappe_cluster_settings():
        return [Setting("setty.places", "Default places", lambda: IntegerField("Default places"), default=12),
                Setting("setty.motto", "Motto", lambda: StringField("Motto"), default="")]

    app = build_app(plugin_module("setty", grappe_cluster_settings=grappe_cluster_settings))
    f = Factory(app)
    one = f.cluster("one", modules=("setty",))
    two = f.cluster("two", modules=())
    admin = f.user("a@example.org", "admin", one)
    from core.services import grant_role

    grant_role(admin, two, "admin")
    db.session.commit()
    client = app.test_client(user=admin)
    page = client.get("/one/admin/profile").get_data(as_text=True)
    assert "Default places" in page and 'value="12"' in page
    assert "Default places" not in client.get("/two/admin/profile").get_data(as_text=True)
    r = client.post("/one/admin/profile", data={
        "name": "One", "timezone": "Europe/Paris", "currency": "EUR", "language": "fr",
        "setting__setty__places": "30", "setting__setty__motto": "Together"})
    assert r.status_code == 302, r.get_data(as_text=True)
    stored = {s.key: s.value for s in db.session.execute(
        select(ClusterSetting).where(ClusterSetting.cluster_id == one.id)).scalars()}
    assert stored == {"setty.places": 30, "setty.motto": "Together"}


# -- grappe_cli_commands --------------------------------------------------------------------
def test_grappe_cli_commands_run_inside_the_app(build_app):
    @click.command("count-clusters")
    @with_appcontext
    def count_clusters():
        """Print how many clusters there are."""
        n = db.session.execute(text("SELECT count(*) FROM core_cluster")).scalar()
        click.echo(f"{n} clusters")

    @hookimpl
    def grappe_cli_commands():
        return [count_clusters]

    app = build_app(plugin_module("clitool", grappe_cli_commands=grappe_cli_commands))
    Factory(app).cluster("one", modules=())
    commands = [c for _, group in _host(app).call_each("grappe_cli_commands") for c in group]
    assert [c.name for c in commands] == ["count-clusters"]
    result = CliRunner().invoke(commands[0], [], obj={"app": app})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 clusters"


# -- grappe_jobs ----------------------------------------------------------------------------
def test_grappe_jobs_run_with_progress_and_a_result(build_app):
    from core.jobs import enqueue
    from core.models import Job

    def count_to(job, upto):
        for i in range(upto):
            job.progress(i + 1, upto)
        return {"counted": upto, "cluster_id": job.cluster_id}

    @hookimpl
    def grappe_jobs():
        return {"jobby.count_to": count_to}

    app = build_app(plugin_module("jobby", grappe_jobs=grappe_jobs))
    one = Factory(app).cluster("one", modules=("jobby",))
    job = enqueue("jobby.count_to", cluster_id=one.id, params={"upto": 3}, label="Count")
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "done" and job.done == 3 and job.total == 3
    assert job.result == {"counted": 3, "cluster_id": one.id}
    with pytest.raises(LookupError):
        enqueue("jobby.unknown", cluster_id=one.id)


# -- grappe_demo_data -----------------------------------------------------------------------
def test_grappe_demo_data_gets_every_demo_cluster_and_a_seeded_rng(build_app):
    from core.demo import build_demo

    calls = []

    @hookimpl
    def grappe_demo_data(clusters, rng):
        calls.append(([c.slug for c in clusters if c.has_module("crm")], rng.random()))

    # named like a built-in module, so the demo clusters enable it
    app = build_app(plugin_module("crm", grappe_demo_data=grappe_demo_data))
    logins = build_demo(random.Random(7), echo=lambda *_: None)
    assert len(calls) == 1 and len(calls[0][0]) >= 3
    assert calls[0][1] == pytest.approx(random.Random(7).random())
    assert all(password for _, password, _ in logins)


# -- grappe_module_toggled ------------------------------------------------------------------
def test_grappe_module_toggled_after_enable_and_disable(build_app):
    told = []

    @hookimpl
    def grappe_module_toggled(cluster, module, enabled):
        told.append((cluster.slug, module, enabled))

    app = build_app(plugin_module("togg", grappe_module_toggled=grappe_module_toggled), plugin_module("other"))
    one = Factory(app).cluster("one", modules=())
    enable(one, ["togg"])
    enable(one, ["other"])
    disable(one, "other")
    assert told == [("one", "togg", True), ("one", "other", True), ("one", "other", False)]
