"""The audit log: records' creation, field-level changes and deletion, modules, logins; the page."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import db
from core.audit import history
from core.auth import new_api_token
from core.cli import cli
from core.models import AuditEntry
from core.modules import disable, enable
from core.testing import TEST_PASSWORD, Factory, make_test_app, truncate_all

from .fakeplugins import KeeperThing, make_keeper_plugin, make_plugin


@pytest.fixture
def audit_app(_schema, instance_path):
    app = make_test_app(_schema, instance_path, plugins=[make_keeper_plugin(), make_plugin("alpha")], PAGE_SIZE=4)
    with app.app_context():
        KeeperThing.__table__.create(db.engine, checkfirst=True)
        truncate_all()
        yield app
        db.session.rollback()


def entries(**where):
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditEntry, key) == value)
    return db.session.execute(stmt).scalars().all()


def test_create_update_delete_of_an_audited_record(audit_app):
    f = Factory(audit_app)
    one = f.cluster("one", modules=("keeper",))
    staff = f.user("staff@example.org", "staff", one)
    token = new_api_token(staff)
    db.session.commit()
    r = audit_app.test_client().post("/api/v1/one/keeper/things", json={"title": "anvil", "size": 2},
                                     headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201
    thing_id = r.get_json()["id"]

    [created] = entries(object_type="keeper.thing")
    assert (created.action, created.object_id, created.summary) == ("create", str(thing_id), "anvil")
    assert created.user_id == staff.id and created.cluster_id == one.id and created.changes is None

    db.session.info["cluster_id"] = one.id  # as in a request of cluster one
    thing = db.session.get(KeeperThing, thing_id)
    thing.title, thing.size = "hammer", 3
    db.session.commit()
    thing.size = 3  # no change, no entry
    db.session.commit()
    db.session.delete(thing)
    db.session.commit()

    created, updated, deleted = entries(object_type="keeper.thing")
    assert updated.action == "update" and updated.changes == {"title": ["anvil", "hammer"], "size": [2, 3]}
    assert deleted.action == "delete" and deleted.object_id == str(thing_id) and deleted.summary == "hammer"
    assert {e.cluster_id for e in (created, updated, deleted)} == {one.id}
    assert [e.action for e in history("keeper.thing", thing_id)] == ["delete", "update", "create"]


def test_a_failed_flush_leaves_no_phantom_entry(audit_app):
    one = Factory(audit_app).cluster("one", modules=("keeper",))
    db.session.info["cluster_id"] = one.id
    db.session.add(KeeperThing(title=None, size=1))  # NOT NULL: the flush fails in the database
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(KeeperThing(title="bellows", size=1))
    db.session.commit()
    assert [(e.action, e.summary) for e in entries(object_type="keeper.thing")] == [("create", "bellows")]


def test_core_records_changed_through_pages_and_the_cli(audit_app):
    f = Factory(audit_app)
    one = f.cluster("one", modules=())
    admin = f.user("admin@example.org", "admin", one)
    client = audit_app.test_client(user=admin)
    r = client.post("/one/admin/profile", data={"name": "One Cluster", "siren": "732 829 320", "timezone": "Europe/Paris",
                                                "currency": "EUR", "language": "fr", "country": "fr"})
    assert r.status_code == 302
    [update] = entries(object_type="core.cluster", action="update")
    assert update.changes["name"] == ["One", "One Cluster"]
    assert update.changes["siren"] == ["", "732829320"]
    assert update.user_id == admin.id and update.cluster_id == one.id and update.object_id == str(one.id)
    # the cluster's creation shows in its own log, though no request made it
    assert [e.cluster_id for e in entries(object_type="core.cluster", action="create")] == [one.id]

    newbie = f.user("newbie@example.org", None)
    client.post("/one/admin/roles", data={"email": "newbie@example.org", "role": "staff"})
    CliRunner().invoke(cli, ["users", "grant", "newbie@example.org", "--role", "manager", "--cluster", "one"],
                       obj={"app": audit_app})
    created, changed = entries(object_type="core.role_assignment", object_id=f"{newbie.id}/{one.id}")
    assert (created.action, created.user_id, created.cluster_id) == ("create", admin.id, one.id)
    assert (changed.action, changed.user_id, changed.cluster_id) == ("update", None, one.id)
    assert changed.changes == {"role": ["staff", "manager"]}


def test_secrets_never_reach_the_audit_log(audit_app):
    f = Factory(audit_app)
    one = f.cluster("one", modules=())
    user = f.user("u@example.org", "staff", one)
    audit_app.test_client(user=user).post("/account", data={"name": "Una", "language": "fr",
                                                            "new_password": "a-brand-new-password",
                                                            "confirm": "a-brand-new-password",
                                                            "current_password": TEST_PASSWORD})
    [update] = entries(object_type="core.user", action="update")
    assert update.changes == {"name": ["", "Una"], "language": ["", "fr"]}
    assert [e.action for e in entries(action="password_change")] == ["password_change"]
    everything = " ".join(f"{e.changes} {e.summary}" for e in entries())
    assert "argon2" not in everything and "a-brand-new-password" not in everything


def test_module_changes_and_logins_are_logged(audit_app):
    f = Factory(audit_app)
    one = f.cluster("one", modules=("keeper",))
    user = f.user("u@example.org", "staff", one)
    disable(one, "keeper")
    enable(one, ["alpha"])
    client = audit_app.test_client()
    client.post("/login", data={"email": "u@example.org", "password": "wrong-wrong-wrong"})
    client.post("/login", data={"email": "u@example.org", "password": TEST_PASSWORD})
    log = [(e.action, e.summary, e.user_id) for e in entries() if e.object_type in ("core.cluster", "core.user")
           and e.action not in ("create",)]
    assert log == [
        ("module_enable", "keeper enabled for one", None),
        ("module_disable", "keeper disabled for one", None),
        ("module_enable", "alpha enabled for one", None),
        ("login_failed", "u@example.org", user.id),
        ("login", "u@example.org", user.id),
    ]


def test_the_audit_page_lists_one_clusters_entries_with_filters(audit_app):
    f = Factory(audit_app)
    one = f.cluster("one", modules=())
    two = f.cluster("two", modules=())
    manager = f.user("manager@example.org", "manager", one)
    staff = f.user("staff@example.org", "staff", one)
    other = f.user("other@example.org", "admin", two)
    enable(one, ["keeper"])
    enable(two, ["alpha"])
    audit_app.test_client(user=other).post("/two/admin/profile", data={
        "name": "Secret Two", "timezone": "Europe/Paris", "currency": "EUR", "language": "fr"})
    db.session.info["cluster_id"] = one.id
    for title in ("anvil", "bellows", "chisel"):
        db.session.add(KeeperThing(title=title, size=1))
    db.session.commit()
    db.session.info.pop("cluster_id")
    audit_app.test_client().post("/login", data={"email": "manager@example.org", "password": TEST_PASSWORD})

    client = audit_app.test_client(user=manager)
    html = client.get("/one/audit").get_data(as_text=True)
    assert "keeper enabled for one" in html and "chisel" in html
    assert "alpha enabled for two" not in html and "Secret Two" not in html
    assert "4 results" not in html and "Page 1 of" in html  # PAGE_SIZE=4: paginated

    html = client.get("/one/audit", query_string={"action": "module_enable"}).get_data(as_text=True)
    assert "keeper enabled for one" in html and "anvil" not in html
    html = client.get("/one/audit", query_string={"object_type": "keeper.thing"}).get_data(as_text=True)
    assert "anvil" in html and "bellows" in html and "keeper enabled" not in html
    html = client.get("/one/audit", query_string={"object_type": "keeper.thing", "page": 1}).get_data(as_text=True)
    assert "3 results" in html

    # logins are federation-wide entries: not in a cluster's log
    assert "No entry." in client.get("/one/audit", query_string={"action": "login"}).get_data(as_text=True)

    audit_app.test_client(user=manager).post("/one/admin/", data={"module": "keeper", "action": "disable"})
    html = client.get("/one/audit", query_string={"user": "other@"}).get_data(as_text=True)
    assert "No entry." in html
    html = client.get("/one/audit", query_string={"user": "MANAGER@"}).get_data(as_text=True)
    assert "No entry." in html  # the manager has no right to disable: nothing happened
    assert audit_app.test_client(user=staff).get("/one/audit").status_code == 403
    assert audit_app.test_client(user=manager).get("/two/audit").status_code == 403
