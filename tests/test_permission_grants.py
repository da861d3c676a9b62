"""Permissions granted one by one: a staff member with one right of a higher role.

A cluster admin grants a permission a plugin declares (``grappe_permissions``) to one user
of the cluster on top of their role (core.services.grant_permission): ``can`` and the gate
honour it in that cluster only, for that permission only, while the user is at least staff
there and the module is enabled; the page, the CLI and the audit log (the authorization
matrix, tests/test_authz_matrix.py, checks the gate over every route).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask_login import current_user
from sqlalchemy import create_engine, event, inspect, select
from sqlalchemy.exc import IntegrityError

from core import Permission, db, hookimpl, requires
from core.auth import can, granted_permissions
from core.cli import cli
from core.database import unique_violation_errors
from core.models import AuditEntry, PermissionGrant
from core.modules import disable, enable
from core.services import GrantError, grant_permission, grant_role, grantable_permissions, remove_role, revoke_permission
from core.testing import Factory, installed_plugins, make_test_app, truncate_all

from .fakeplugins import make_plugin

ROOT = Path(__file__).resolve().parent.parent


@hookimpl
def grappe_permissions():
    return [
        Permission("grantfake.edit", "Edit things", "staff"),
        Permission("grantfake.approve", "Approve things", "manager"),
        Permission("grantfake.erase", "Erase things", "admin"),
        Permission("grantfake.secret", "Keep the secrets", "manager", grantable=False),
    ]


FAKE = make_plugin("grantfake", hooks={"grappe_permissions": grappe_permissions})


@FAKE.blueprint.route("/approve", methods=["GET", "POST"])
@requires("grantfake.approve")
def approve():
    # the gate and both checks share the request's one read of the grants
    return f"approve {can(current_user, 'grantfake.approve')} {can(current_user, 'grantfake.erase')}"


@FAKE.blueprint.route("/erase", methods=["POST"])
@requires("grantfake.erase")
def erase():
    return "erased"


pytestmark = pytest.mark.extra_plugins(FAKE)


@pytest.fixture
def world(app):
    f = Factory(app)
    one = f.cluster("one", modules=("grantfake",))
    two = f.cluster("two", modules=("grantfake",))
    admin = f.user("admin@example.org", "admin", one)
    staff = f.user("staff@example.org", "staff", one)
    grant_role(staff, two, "staff")
    manager = f.user("manager@example.org", "manager", one)
    viewer = f.user("viewer@example.org", "viewer", one)
    db.session.commit()
    return {"one": one, "two": two, "admin": admin, "staff": staff, "manager": manager, "viewer": viewer}


def _grants(user=None):
    stmt = select(PermissionGrant.cluster_id, PermissionGrant.user_id, PermissionGrant.permission)
    if user is not None:
        stmt = stmt.where(PermissionGrant.user_id == user.id)
    return set(db.session.execute(stmt.execution_options(all_clusters=True)).all())


def _audit(action):
    return db.session.execute(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.id)).scalars().all()


# -- what a grant gives ------------------------------------------------------------------
def test_a_granted_permission_is_held_and_nothing_else_of_the_higher_role(app, world):
    one, staff = world["one"], world["staff"]
    assert not can(staff, "grantfake.approve", one)
    grant_permission(staff, one, "grantfake.approve", granted_by=world["admin"])
    db.session.commit()
    assert can(staff, "grantfake.approve", one)
    assert not can(staff, "grantfake.erase", one) and not can(staff, "core.audit", one)
    assert not can(staff, "grantfake.secret", one)
    client = app.test_client(user=staff)
    assert client.get("/one/grantfake/approve").get_data(as_text=True) == "approve True False"
    assert client.post("/one/grantfake/approve").status_code == 200
    assert client.post("/one/grantfake/erase").status_code == 403
    assert client.get("/one/audit").status_code == 403  # core.audit: manager
    assert client.get("/one/admin/").status_code == 403
    assert client.post("/one/admin/grants", data={"email": staff.email, "permission": "grantfake.erase"}).status_code == 403


def test_a_grant_in_one_cluster_gives_nothing_in_another(app, world):
    one, two, staff = world["one"], world["two"], world["staff"]
    grant_permission(staff, one, "grantfake.approve")
    db.session.commit()
    assert can(staff, "grantfake.approve", one) and not can(staff, "grantfake.approve", two)
    assert granted_permissions(staff, two) == frozenset()
    client = app.test_client(user=staff)
    assert client.get("/one/grantfake/approve").status_code == 200
    assert client.get("/two/grantfake/approve").status_code == 403
    # an admin of cluster one cannot grant in cluster two, nor revoke there
    admin_client = app.test_client(user=world["admin"])
    r = admin_client.post("/two/admin/grants", data={"email": staff.email, "permission": "grantfake.approve"})
    assert r.status_code == 403
    (grant_id,) = db.session.execute(select(PermissionGrant.id)).scalars().all()
    assert admin_client.post(f"/two/admin/grants/{grant_id}/revoke").status_code == 403
    # and cluster two's admin finds no such grant in their cluster
    Factory(app).user("admin2@example.org", "admin", two)
    admin2 = db.session.execute(select(type(staff)).where(type(staff).email == "admin2@example.org")).scalar_one()
    assert app.test_client(user=admin2).post(f"/two/admin/grants/{grant_id}/revoke").status_code == 404
    assert len(_grants()) == 1


def test_the_grants_are_read_once_per_request(app, world):
    one, staff = world["one"], world["staff"]
    grant_permission(staff, one, "grantfake.approve")
    db.session.commit()
    reads = []

    def count(conn, cursor, statement, *args):
        if "core_permission_grant" in statement:
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        client = app.test_client(user=staff)
        # the gate, then two checks in the view
        assert client.get("/one/grantfake/approve").get_data(as_text=True) == "approve True False"
        assert len(reads) == 1, reads
        reads.clear()
        # the dashboard's menu checks core.audit and core.admin: one read
        assert client.get("/one/").status_code == 200
        assert len(reads) == 1, reads
        reads.clear()
        # a role that holds what it asks for needs no read
        assert app.test_client(user=world["admin"]).get("/one/grantfake/approve").status_code == 200
        assert reads == []
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_a_grant_is_inert_below_staff_and_removing_the_access_removes_it(app, world):
    one, staff, admin = world["one"], world["staff"], world["admin"]
    grant_permission(staff, one, "grantfake.approve")
    grant_role(staff, one, "viewer")
    db.session.commit()
    assert not can(staff, "grantfake.approve", one)
    assert app.test_client(user=staff).get("/one/grantfake/approve").status_code == 403
    page = app.test_client(user=admin).get("/one/admin/").get_data(as_text=True)
    assert "grantfake.approve" in page and "inactive: needs at least the staff role" in page
    grant_role(staff, one, "staff")
    db.session.commit()
    assert can(staff, "grantfake.approve", one)
    # "No access" on the page: the role and the grants in that cluster go, audited
    r = app.test_client(user=admin).post("/one/admin/roles", data={"email": staff.email, "role": ""})
    assert r.status_code == 302
    assert _grants(staff) == set()
    (entry,) = _audit("permission_revoke")
    assert "grantfake.approve" in entry.summary and "access to the cluster removed" in entry.summary
    assert entry.cluster_id == one.id and entry.user_id == admin.id
    grant_role(staff, one, "staff")  # given access again: no forgotten extra right comes back
    db.session.commit()
    assert not can(staff, "grantfake.approve", one)


def test_disabling_the_module_keeps_the_grant_inert_and_enabling_brings_it_back(app, world):
    one, staff = world["one"], world["staff"]
    grant_permission(staff, one, "grantfake.approve")
    db.session.commit()
    disable(one, "grantfake")
    db.session.commit()
    assert _grants(staff) == {(one.id, staff.id, "grantfake.approve")}  # nothing deleted
    assert not can(staff, "grantfake.approve", one)
    page = app.test_client(user=world["admin"]).get("/one/admin/").get_data(as_text=True)
    assert "grantfake.approve" in page and "inactive while its module is disabled" in page
    with pytest.raises(GrantError, match="not enabled"):
        grant_permission(world["manager"], one, "grantfake.erase")  # nor granted while disabled
    enable(one, ["grantfake"])
    db.session.commit()
    assert can(staff, "grantfake.approve", one)


def test_a_grant_of_a_permission_no_module_declares_any_more_is_shown_inert_and_revocable(app, world):
    one, staff = world["one"], world["staff"]
    db.session.add(PermissionGrant(cluster_id=one.id, user_id=staff.id, permission="gone.away"))
    db.session.commit()
    assert granted_permissions(staff, one) == frozenset()
    admin_client = app.test_client(user=world["admin"])
    page = admin_client.get("/one/admin/").get_data(as_text=True)
    assert "gone.away" in page and "inactive: no installed module declares it" in page
    (grant_id,) = db.session.execute(select(PermissionGrant.id)).scalars().all()
    assert admin_client.post(f"/one/admin/grants/{grant_id}/revoke").status_code == 302
    assert _grants() == set()


# -- what may be granted -----------------------------------------------------------------------
def test_the_grantable_permissions_are_those_above_staff_that_plugins_let_be_granted(app, world):
    names = [p.name for p in grantable_permissions(world["one"])]
    assert "grantfake.approve" in names and "grantfake.erase" in names and "core.audit" in names
    assert "core.admin" not in names  # whoever holds it grants the others
    assert "grantfake.secret" not in names and "grantfake.edit" not in names
    page = app.test_client(user=world["admin"]).get("/one/admin/").get_data(as_text=True)
    options = set(re.findall(r'<option value="([^"]*)"', page.split('id="grant-permission"', 1)[1].split("</select>")[0]))
    assert options == {"", *names}
    with pytest.raises(ValueError, match="grantable"):
        Permission("x.y", "Y", "manager", grantable="yes")


@pytest.mark.parametrize("who, permission, field, words", [
    ("ghost@example.org", "grantfake.approve", "email", "No account has this e-mail"),
    ("staff@example.org", "nope.nothing", "permission", "Unknown permission &#39;nope.nothing&#39;"),
    ("staff@example.org", "", "permission", "This field is required"),
    ("staff@example.org", "core.admin", "permission", "cannot be granted on its own"),
    ("staff@example.org", "grantfake.secret", "permission", "cannot be granted on its own"),
    ("staff@example.org", "grantfake.edit", "permission", "Every staff member holds"),
    ("viewer@example.org", "grantfake.approve", "email", "needs at least the staff role"),
    ("outsider@example.org", "grantfake.approve", "email", "needs at least the staff role"),
    ("manager@example.org", "grantfake.approve", "permission", "already through their role (manager)"),
    ("staff@example.org", "grantfake.approve", "permission", "has the extra right &#39;grantfake.approve&#39; already"),
])
def test_the_grant_form_says_what_is_wrong_next_to_the_field(app, world, who, permission, field, words):
    Factory(app).user("outsider@example.org", None)
    grant_permission(world["staff"], world["one"], "grantfake.approve")  # the duplicate's original
    db.session.commit()
    before, audited = _grants(), len(_audit("permission_grant"))
    r = app.test_client(user=world["admin"]).post("/one/admin/grants", data={"email": who, "permission": permission})
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    errors = page.split(f'id="grant-{field}-error"', 1)
    assert len(errors) == 2, page
    assert words in errors[1].split("</ul>")[0]
    assert _grants() == before and len(_audit("permission_grant")) == audited


def test_a_duplicate_that_races_past_the_check_is_the_constraints_field_error(app, world):
    one, staff = world["one"], world["staff"]
    grant_permission(staff, one, "grantfake.approve")
    db.session.commit()
    db.session.add(PermissionGrant(cluster_id=one.id, user_id=staff.id, permission="grantfake.approve"))
    with pytest.raises(IntegrityError) as caught:
        db.session.flush()
    db.session.rollback()
    assert unique_violation_errors(caught.value) == {"permission": ["This user has this extra right already."]}


# -- the page: who may, CSRF, audit ----------------------------------------------------------
@pytest.fixture
def csrf_app(_schema, instance_path):
    app = make_test_app(_schema, instance_path, plugins=[*installed_plugins(), FAKE], WTF_CSRF_ENABLED=True)
    with app.app_context():
        truncate_all()
        yield app
        db.session.rollback()


def _token_in(html: str) -> str:
    match = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', html) or \
        re.search(r'<input[^>]*value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_a_cluster_admin_grants_and_revokes_on_the_page_with_csrf_and_audit(csrf_app):
    f = Factory(csrf_app)
    one = f.cluster("one", modules=("grantfake",))
    admin = f.user("admin@example.org", "admin", one)
    staff = f.user("staff@example.org", "staff", one, name="Sam Staff")
    client = csrf_app.test_client(user=admin)
    data = {"email": "staff@example.org", "permission": "grantfake.approve"}

    assert client.post("/one/admin/grants", data=data).status_code == 400  # no token
    assert client.post("/one/admin/grants", data={**data, "csrf_token": "forged"}).status_code == 400
    assert _grants() == set()
    token = _token_in(client.get("/one/admin/").get_data(as_text=True))
    r = client.post("/one/admin/grants", data={**data, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)
    (grant,) = db.session.execute(select(PermissionGrant)).scalars().all()
    assert (grant.cluster_id, grant.user_id, grant.permission, grant.granted_by_id) == \
        (one.id, staff.id, "grantfake.approve", admin.id)
    assert grant.granted_at is not None and grant.granted_by.email == "admin@example.org"
    grant_id = grant.id
    (entry,) = _audit("permission_grant")
    assert (entry.cluster_id, entry.user_id, entry.object_type, entry.object_id) == \
        (one.id, admin.id, "core.user", str(staff.id))
    assert "staff@example.org: grantfake.approve granted" in entry.summary

    page = client.get("/one/admin/").get_data(as_text=True)
    row = page.split("Sam Staff", 1)[1].split("</tr>", 1)[0]
    assert "Approve things" in row and "grantfake.approve" in row
    assert f"/one/admin/grants/{grant_id}/revoke" in row and "inactive" not in row

    assert client.post(f"/one/admin/grants/{grant_id}/revoke").status_code == 400  # no token
    assert len(_grants()) == 1
    r = client.post(f"/one/admin/grants/{grant_id}/revoke", data={"csrf_token": token})
    assert r.status_code == 302
    assert _grants() == set()
    (entry,) = _audit("permission_revoke")
    assert entry.user_id == admin.id and "grantfake.approve revoked" in entry.summary
    assert client.post(f"/one/admin/grants/{grant_id}/revoke", data={"csrf_token": token}).status_code == 404


def test_only_a_cluster_admin_or_a_federation_admin_may_grant(app, world):
    one, staff = world["one"], world["staff"]
    data = {"email": staff.email, "permission": "grantfake.approve"}
    for who in ("manager", "staff", "viewer"):
        assert app.test_client(user=world[who]).post("/one/admin/grants", data=data).status_code == 403
    grant_permission(staff, one, "core.audit")  # a manager's right: still not an admin's
    db.session.commit()
    assert app.test_client(user=staff).post("/one/admin/grants", data=data).status_code == 403
    (grant_id,) = db.session.execute(select(PermissionGrant.id)).scalars().all()
    assert app.test_client(user=world["manager"]).post(f"/one/admin/grants/{grant_id}/revoke").status_code == 403
    assert len(_grants()) == 1
    fed = Factory(app).user("fed@example.org", None, federation_admin=True)
    assert app.test_client(user=fed).post("/one/admin/grants", data=data).status_code == 302
    assert len(_grants()) == 2
    assert granted_permissions(fed, one) == frozenset()  # admin everywhere: nothing to grant
    with pytest.raises(GrantError, match="through their role"):
        grant_permission(fed, one, "grantfake.approve")


def test_revoke_permission_refuses_a_grant_that_does_not_exist(app, world):
    with pytest.raises(GrantError, match="no extra right 'grantfake.approve'"):
        revoke_permission(world["staff"], world["one"], "grantfake.approve")
    remove_role(world["viewer"], world["one"])  # no grant: nothing to do but the role


# -- the CLI ---------------------------------------------------------------------------
@pytest.fixture
def grappe(app):
    runner = CliRunner()

    def run(*args):
        db.session.commit()
        result = runner.invoke(cli, list(args), obj={"app": app})
        db.session.expire_all()
        return result

    return run


def test_users_grant_and_revoke_a_permission_from_the_command_line(grappe, world):
    one, staff = world["one"], world["staff"]
    r = grappe("users", "grant", "staff@example.org", "--cluster", "one", "--permission", "grantfake.approve")
    assert r.exit_code == 0, r.output
    assert "staff@example.org now has grantfake.approve in one, on top of their role (staff)." in r.output
    assert _grants(staff) == {(one.id, staff.id, "grantfake.approve")}
    (entry,) = _audit("permission_grant")
    assert entry.cluster_id == one.id and entry.user_id is None
    line = next(ln for ln in grappe("users", "list").output.splitlines() if ln.startswith("staff@example.org"))
    assert "one:staff+grantfake.approve" in line and "two:staff" in line and "two:staff+" not in line

    # a role and a permission at once (viewer -> staff, then the grant)
    r = grappe("users", "grant", "viewer@example.org", "--cluster", "one", "--role", "staff",
               "--permission", "grantfake.approve", "--permission", "core.audit")
    assert r.exit_code == 0, r.output
    assert len(_grants(world["viewer"])) == 2

    r = grappe("users", "revoke", "staff@example.org", "--cluster", "one", "--permission", "grantfake.approve")
    assert r.exit_code == 0 and "staff@example.org no longer has grantfake.approve in one." in r.output
    assert _grants(staff) == set() and len(_audit("permission_revoke")) == 1


@pytest.mark.parametrize("args, words", [
    (("grant", "staff@example.org", "--cluster", "one"), ["--role ROLE, --permission NAME"]),
    (("grant", "staff@example.org", "--cluster", "one", "--permission", "nope.x"), ["Unknown permission 'nope.x'"]),
    (("grant", "staff@example.org", "--cluster", "one", "--permission", "core.admin"), ["cannot be granted"]),
    (("grant", "viewer@example.org", "--cluster", "one", "--permission", "grantfake.approve"), ["at least the staff role"]),
    (("grant", "staff@example.org", "--cluster", "one", "--permission", "grantfake.erase"), ["already"]),
    (("grant", "ghost@example.org", "--cluster", "one", "--permission", "grantfake.approve"), ["no account"]),
    (("grant", "staff@example.org", "--cluster", "nowhere", "--permission", "grantfake.approve"), ["no cluster"]),
    (("revoke", "staff@example.org", "--cluster", "two", "--permission", "grantfake.erase"), ["no extra right"]),
])
def test_users_grant_and_revoke_errors_are_one_line(grappe, world, args, words):
    grant_permission(world["staff"], world["one"], "grantfake.erase")
    before = _grants()
    result = grappe("users", *args)
    assert result.exit_code != 0, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output, result.output
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert _grants() == before


def test_a_failed_grant_saves_nothing_of_the_command(grappe, world):
    r = grappe("users", "grant", "viewer@example.org", "--cluster", "one", "--role", "manager",
               "--permission", "grantfake.approve")  # the manager role holds it already: refused
    assert r.exit_code != 0 and "through their role" in r.output
    db.session.refresh(world["viewer"])
    assert world["viewer"].role_in(world["one"].id) == "viewer"


# -- the migration -------------------------------------------------------------------------
def test_the_migration_creates_and_drops_the_grant_table(tmp_path):
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    path = ROOT / "core" / "migrations" / "versions" / "core_0005_permission_grant.py"
    spec = importlib.util.spec_from_file_location("core_0005", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert (migration.revision, migration.down_revision) == ("core_0005", "core_0004")
    engine = create_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        migration.upgrade()
        found = inspect(conn)
        assert {c["name"] for c in found.get_columns("core_permission_grant")} == {
            "id", "cluster_id", "user_id", "permission", "granted_by_id", "granted_at"}
        assert [u["column_names"] for u in found.get_unique_constraints("core_permission_grant")] == [
            ["cluster_id", "user_id", "permission"]]
        migration.downgrade()
        assert "core_permission_grant" not in inspect(conn).get_table_names()


def test_the_grant_part_of_the_page_is_in_french_for_a_french_admin(app, world):
    admin = Factory(app).user("admin.fr@example.org", "admin", world["one"], language="fr")
    client = app.test_client(user=admin)
    page = client.get("/one/admin/").get_data(as_text=True)
    assert "Droits supplémentaires" in page and "Accorder un droit supplémentaire" in page
    r = client.post("/one/admin/grants", data={"email": "viewer@example.org", "permission": "grantfake.approve"})
    assert r.status_code == 400
    assert "doit avoir au moins le rôle staff" in r.get_data(as_text=True)

