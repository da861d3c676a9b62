"""The per-cluster gate: a module shows and runs only where it is enabled."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import db
from core.auth import new_api_token
from core.models import AuditEntry, ClusterModule
from core.modules import ModuleError, disable, enable
from core.testing import Factory, make_test_app, truncate_all

from .fakeplugins import KeeperThing, make_keeper_plugin, make_plugin


@pytest.fixture
def plugins():
    return {
        "alpha": make_plugin("alpha"),
        "beta": make_plugin("beta", depends=("alpha",)),
        "gamma": make_plugin("gamma"),
    }


@pytest.fixture
def gated(_schema, instance_path, plugins):
    app = make_test_app(_schema, instance_path, plugins=list(plugins.values()))
    with app.app_context():
        truncate_all()
        yield app
        db.session.rollback()


def _html(response):
    return response.get_data(as_text=True)


def test_pages_api_nav_widgets_follow_the_clusters_modules(gated, plugins):
    f = Factory(gated)
    one = f.cluster("one", modules=("alpha",))
    two = f.cluster("two", modules=("gamma",))
    user = f.user("u@example.org", "staff", one)
    from core.services import grant_role

    grant_role(user, two, "staff")
    db.session.commit()
    token = new_api_token(user)
    db.session.commit()
    client = gated.test_client(user=user)
    api = gated.test_client()
    auth = {"Authorization": f"Bearer {token}"}

    assert client.get("/one/alpha/").status_code == 200
    assert client.get("/two/alpha/").status_code == 404
    assert client.post("/two/alpha/things").status_code == 404
    assert client.get("/two/gamma/").status_code == 200
    assert client.get("/one/gamma/").status_code == 404
    assert api.get("/api/v1/one/alpha/things", headers=auth).status_code == 200
    assert api.get("/api/v1/two/alpha/things", headers=auth).status_code == 404
    assert api.post("/api/v1/two/alpha/things", json={"title": "x", "size": 1}, headers=auth).status_code == 404
    assert api.get("/api/v1/two/gamma/things", headers=auth).status_code == 200

    one_page, two_page = _html(client.get("/one/")), _html(client.get("/two/"))
    assert "Alpha menu" in one_page and "Alpha widget" in one_page
    assert "Gamma menu" not in one_page and "Gamma widget" not in one_page
    assert "Gamma menu" in two_page and "Gamma widget" in two_page
    assert "Alpha menu" not in two_page and "Alpha widget" not in two_page

    # the per-cluster hook implementations of a disabled module are not even called there
    calls = {name: [c for c in mod.calls if c[0] != "toggled"] for name, mod in plugins.items()}
    assert ("nav", "one") in calls["alpha"] and ("widget", "one") in calls["alpha"]
    assert ("nav", "two") in calls["gamma"] and ("widget", "two") in calls["gamma"]
    assert not [c for c in calls["alpha"] if c[1] == "two"]
    assert not [c for c in calls["gamma"] if c[1] == "one"]
    assert not calls["beta"]

    # the modules API says the same
    listed = api.get("/api/v1/two/core/modules", headers=auth).get_json()["items"]
    assert {m["name"]: m["enabled"] for m in listed} == {"alpha": False, "beta": False, "gamma": True}


def test_hook_for_calls_only_the_enabled_plugins_and_the_core(gated, plugins):
    host = gated.extensions["grappe.host"]
    one = Factory(gated).cluster("one", modules=())
    entries = host.hook_for({"alpha"}).grappe_timeline_entries(cluster=one, object_type="crm.organization",
                                                               object_id=1, limit=10)
    assert [e.title for group in entries for e in group] == ["alpha entry"]
    assert plugins["alpha"].calls == [("timeline", "one")]
    assert plugins["beta"].calls == [] and plugins["gamma"].calls == []

    everything = host.hook_for({"alpha", "beta", "gamma"}).grappe_timeline_entries(
        cluster=one, object_type="crm.organization", object_id=1, limit=10)
    assert sorted(e.title for group in everything for e in group) == ["alpha entry", "beta entry", "gamma entry"]
    assert host.hook_for(set()).grappe_timeline_entries(cluster=one, object_type="x", object_id=1, limit=1) == []
    # the core's own implementations always run
    nav = [i.endpoint for group in host.hook_for(set()).grappe_nav_items(cluster=one, user=None) for i in group]
    assert "core.dashboard" in nav and "alpha.index" not in nav


def test_enabling_pulls_dependencies_or_refuses_naming_them(gated, plugins):
    one = Factory(gated).cluster("one", modules=())
    with pytest.raises(ModuleError, match="Enabling beta needs alpha first"):
        enable(one, ["beta"], with_dependencies=False)
    assert one.module_names == []
    assert enable(one, ["beta"]) == ["alpha", "beta"]
    assert one.module_names == ["alpha", "beta"]
    assert enable(one, ["beta"]) == []
    with pytest.raises(ModuleError, match="Unknown module 'nope'"):
        enable(one, ["nope"])


def test_disabling_refuses_while_a_dependent_is_enabled(gated, plugins):
    one = Factory(gated).cluster("one", modules=("beta",))
    with pytest.raises(ModuleError) as exc:
        disable(one, "alpha")
    assert "beta" in str(exc.value) and "alpha" in str(exc.value)
    assert one.module_names == ["alpha", "beta"]
    disable(one, "beta")
    disable(one, "alpha")
    assert one.module_names == []
    with pytest.raises(ModuleError, match="not enabled"):
        disable(one, "alpha")


def test_the_cluster_admin_page_enables_and_disables_with_the_same_rules(gated, plugins):
    f = Factory(gated)
    one = f.cluster("one", modules=())
    admin = f.user("admin@example.org", "admin", one)
    client = gated.test_client(user=admin)
    r = client.post("/one/admin/", data={"module": "beta", "action": "enable"}, follow_redirects=True)
    assert r.status_code == 200 and "alpha, beta" in _html(r)
    assert client.get("/one/beta/").status_code == 200
    r = client.post("/one/admin/", data={"module": "alpha", "action": "disable"})
    assert r.status_code == 409
    assert "Cannot disable alpha" in _html(r) and "beta" in _html(r)
    assert client.get("/one/alpha/").status_code == 200
    client.post("/one/admin/", data={"module": "beta", "action": "disable"})
    assert client.get("/one/beta/").status_code == 404
    assert client.get("/one/alpha/").status_code == 200
    # a staff member cannot change modules
    staff = f.user("staff@example.org", "staff", one)
    assert gated.test_client(user=staff).post("/one/admin/", data={"module": "gamma", "action": "enable"}).status_code == 403
    assert not one.has_module("gamma")


def test_every_module_change_goes_to_the_audit_log(gated, plugins):
    f = Factory(gated)
    one = f.cluster("one", modules=())
    admin = f.user("admin@example.org", "admin", one)
    enable(one, ["beta"])
    gated.test_client(user=admin).post("/one/admin/", data={"module": "gamma", "action": "enable"})
    disable(one, "beta")
    gated.test_client(user=admin).post("/one/admin/", data={"module": "gamma", "action": "disable"})
    gated.test_client(user=admin).post("/one/admin/", data={"module": "alpha", "action": "disable"})
    rows = db.session.execute(
        select(AuditEntry.action, AuditEntry.summary, AuditEntry.user_id, AuditEntry.cluster_id)
        .where(AuditEntry.action.like("module_%")).order_by(AuditEntry.id)
    ).all()
    assert [(a, s) for a, s, _, _ in rows] == [
        ("module_enable", "alpha enabled for one"),
        ("module_enable", "beta enabled for one"),
        ("module_enable", "gamma enabled for one"),
        ("module_disable", "beta disabled for one"),
        ("module_disable", "gamma disabled for one"),
        ("module_disable", "alpha disabled for one"),
    ]
    assert {c for *_, c in rows} == {one.id}
    assert [u for _, _, u, _ in rows] == [None, None, admin.id, None, admin.id, admin.id]


def test_module_toggles_are_told_to_plugins(gated, plugins):
    one = Factory(gated).cluster("one", modules=())
    enable(one, ["beta"])
    disable(one, "beta")
    assert [c for c in plugins["gamma"].calls if c[0] == "toggled"] == [
        ("toggled", "one", "alpha", True), ("toggled", "one", "beta", True), ("toggled", "one", "beta", False)]


@pytest.fixture
def keeper_app(_schema, instance_path):
    keeper = make_keeper_plugin()
    app = make_test_app(_schema, instance_path, plugins=[keeper])
    with app.app_context():
        KeeperThing.__table__.create(db.engine, checkfirst=True)
        truncate_all()
        yield app
        db.session.rollback()


def test_disabling_deletes_nothing_and_reenabling_shows_everything_again(keeper_app):
    f = Factory(keeper_app)
    one = f.cluster("one", modules=("keeper",))
    two = f.cluster("two", modules=("keeper",))
    admin = f.user("admin@example.org", "admin", one)
    token = new_api_token(admin)
    db.session.commit()
    api = keeper_app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    for title in ("anvil", "bellows"):
        assert api.post("/api/v1/one/keeper/things", json={"title": title, "size": 2}, headers=auth).status_code == 201
    client = keeper_app.test_client(user=admin)
    assert _html(client.get("/one/keeper/")) == "keeper: anvil, bellows"

    r = client.post("/one/admin/", data={"module": "keeper", "action": "disable"}, follow_redirects=True)
    assert "data is kept" in _html(r)
    assert client.get("/one/keeper/").status_code == 404
    assert "Keeper things" not in _html(client.get("/one/"))
    assert api.get("/api/v1/one/keeper/things", headers=auth).status_code == 404
    count = db.session.execute(select(func.count()).select_from(KeeperThing)).scalar_one()
    assert count == 2

    # the core's own rows of the module stay too, until it is enabled again
    client.post("/one/admin/", data={"module": "keeper", "action": "enable"})
    assert _html(client.get("/one/keeper/")) == "keeper: anvil, bellows"
    listed = api.get("/api/v1/one/keeper/things", headers=auth).get_json()
    assert [t["title"] for t in listed["items"]] == ["anvil", "bellows"] and listed["total"] == 2
    assert "Keeper things" in _html(client.get("/one/"))
    # and the other cluster never saw them
    assert _html(keeper_app.test_client(user=f.user("b@example.org", "staff", two)).get("/two/keeper/")) == "keeper: "


def test_a_change_made_by_one_app_instance_is_seen_by_another_without_restart(_schema, instance_path, plugins):
    mods = list(plugins.values())
    app_a = make_test_app(_schema, instance_path, plugins=mods)
    app_b = make_test_app(_schema, instance_path, plugins=mods)  # another worker process, same database
    with app_a.app_context():
        truncate_all()
        f = Factory(app_a)
        one = f.cluster("one", modules=("alpha",))
        user = f.user("u@example.org", "admin", one)
        user_id = one_id = None
        user_id, one_id = user.id, one.id

    from core.models import User

    with app_b.app_context():
        client_b = app_b.test_client(user=db.session.get(User, user_id))
        assert client_b.get("/one/alpha/").status_code == 200  # B has cached the modules
        assert client_b.get("/one/gamma/").status_code == 404

    with app_a.app_context():
        from core.models import Cluster

        one = db.session.get(Cluster, one_id)
        enable(one, ["gamma"])
        disable(one, "alpha")

    with app_b.app_context():
        assert client_b.get("/one/gamma/").status_code == 200
        assert client_b.get("/one/alpha/").status_code == 404
        html = _html(client_b.get("/one/"))
        assert "Gamma menu" in html and "Alpha menu" not in html

    # and the other way round, through B's admin page
    with app_b.app_context():
        client_b.post("/one/admin/", data={"module": "alpha", "action": "enable"})
    with app_a.app_context():
        client_a = app_a.test_client(user=db.session.get(User, user_id))
        assert client_a.get("/one/alpha/").status_code == 200
        rows = db.session.execute(select(ClusterModule.module).where(ClusterModule.cluster_id == one_id)).scalars()
        assert sorted(rows) == ["alpha", "gamma"]
