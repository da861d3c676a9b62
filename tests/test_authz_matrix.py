"""Authorization matrix, generated from the app's URL map (never a hand-written list).

Every installed plugin plus a fake one; routes of plugins written later appear here by
themselves.  For each rule and each method it accepts:

- a user of cluster A (even its admin) gets 403 or 404 on cluster B's pages and API;
- a viewer of a cluster gets 403 on every unsafe method of that cluster;
- an anonymous visitor is sent to the login page (pages) or gets a 401 JSON (API);
- a staff member granted one manager permission in cluster A passes the gate exactly on
  the views of that permission there, and is refused on every other view reserved to a
  higher role (and on that permission's views in cluster B, where it was not granted);

except on views marked ``@public``.
"""

from __future__ import annotations

import uuid

import pytest
from werkzeug.routing import AnyConverter, FloatConverter, IntegerConverter, UUIDConverter

from flask import jsonify

from core import Permission, db, hookimpl, public, requires
from core.auth import can, new_api_token, role_for_permission
from core.models import ROLE_RANK
from core.services import grant_permission, grant_role
from core.testing import Factory

from .fakeplugins import make_plugin



@hookimpl
def grappe_permissions():
    return [Permission("matrixfake.read", "Read fake things", "viewer"),
            Permission("matrixfake.approve", "Approve fake things", "manager"),
            Permission("matrixfake.close", "Close fake things", "manager")]


FAKE = make_plugin("matrixfake", hooks={"grappe_permissions": grappe_permissions})
GRANTED = "matrixfake.approve"  # the permission granted to a staff member of cluster A


@FAKE.blueprint.route("/export", methods=["POST"])
@requires("matrixfake.read")
def export():
    """A write whose declared permission is held by viewers: a viewer still cannot write."""
    return "exported"


@FAKE.blueprint.route("/approvals", methods=["GET", "POST"])
@requires("matrixfake.approve")
def approvals():
    """Manager-level: open to a staff member only through a grant."""
    return "approvals"


@FAKE.blueprint.route("/close", methods=["POST"])
@requires("matrixfake.close")
def close():
    """Manager-level too: a grant of matrixfake.approve does not open it."""
    return "closed"


@FAKE.api.operation("/approvals", methods=["POST"], summary="Approve a thing")
@requires("matrixfake.approve")
def api_approve():
    return jsonify({"approved": True})


@FAKE.blueprint.route("/signup", methods=["GET", "POST"])
@public
def signup():
    return "public signup"


UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
pytestmark = pytest.mark.extra_plugins(FAKE)


def _dummy(converter):
    if isinstance(converter, IntegerConverter):
        return 1
    if isinstance(converter, FloatConverter):
        return 1.0
    if isinstance(converter, UUIDConverter):
        return uuid.UUID(int=1)
    if isinstance(converter, AnyConverter):
        return next(iter(converter.items)) if hasattr(converter, "items") else "x"
    return "x"  # string, path


def _url(rule, cluster: str | None) -> str:
    values = {name: _dummy(conv) for name, conv in rule._converters.items() if name != "cluster"}
    if cluster is not None:
        values["cluster"] = cluster
    _, path = rule.build(values, append_unknown=False)
    return path


def _is_public(app, rule) -> bool:
    return getattr(app.view_functions[rule.endpoint], "_grappe_public", False)


def _methods(rule):
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def _routes(app, *, cluster_only: bool):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        if cluster_only and "cluster" not in rule.arguments:
            continue
        yield rule


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


@pytest.fixture
def world(app):
    """Clusters A and B with every loaded module enabled, and people of both."""
    loaded = tuple(i.name for i in app.extensions["grappe.host"].loaded())
    assert "matrixfake" in loaded
    f = Factory(app)
    a = f.cluster("cluster-a", modules=loaded)
    b = f.cluster("cluster-b", modules=loaded)
    admin_a = f.user("admin.a@example.org", "admin", a)
    viewer_b = f.user("viewer.b@example.org", "viewer", b)
    grant_role(viewer_b, a, "viewer")
    granted = f.user("granted@example.org", "staff", a)  # staff of A and B, + GRANTED in A only
    grant_role(granted, b, "staff")
    grant_permission(granted, a, GRANTED, granted_by=admin_a)
    tokens = {"admin_a": new_api_token(admin_a), "viewer_b": new_api_token(viewer_b),
              "granted": new_api_token(granted)}
    db.session.commit()
    return {"a": a, "b": b, "admin_a": admin_a, "viewer_b": viewer_b, "granted": granted, "tokens": tokens}


def _call(app, user, token, method, path):
    if _is_api(path):
        client = app.test_client()
        return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, json={})
    client = app.test_client(user=user)
    return client.open(path, method=method, data={})


def test_the_matrix_covers_core_and_plugin_routes(app):
    endpoints = {r.endpoint for r in _routes(app, cluster_only=True)}
    assert {"core.dashboard", "core.cluster_admin", "core_api.api_modules",
            "matrixfake.index", "matrixfake.thing", "matrixfake.export", "matrixfake_api.api_create_thing"} <= endpoints
    # every loaded plugin's cluster routes are in it, whatever plugins are installed
    owners = app.extensions["grappe.blueprint_plugin"]
    for name in {owners[e.split(".")[0]] for e in endpoints if e.split(".")[0] in owners}:
        assert app.extensions["grappe.host"].get(name) is not None


def test_a_user_of_cluster_a_gets_403_or_404_everywhere_in_cluster_b(app, world):
    wrong, forbidden, checked = [], 0, 0
    for rule in _routes(app, cluster_only=True):
        if _is_public(app, rule):
            continue
        path = _url(rule, "cluster-b")
        for method in _methods(rule):
            r = _call(app, world["admin_a"], world["tokens"]["admin_a"], method, path)
            checked += 1
            forbidden += r.status_code == 403
            if r.status_code not in (403, 404):
                wrong.append(f"{method} {path} ({rule.endpoint}): {r.status_code}")
    assert not wrong, "cluster A's admin reached cluster B:\n" + "\n".join(wrong)
    assert checked >= 20 and forbidden >= checked // 2, (checked, forbidden)


def test_the_same_routes_are_open_to_the_user_in_their_own_cluster(app, world):
    """The control: in cluster A, A's admin is neither refused nor asked to log in."""
    refused = []
    for rule in _routes(app, cluster_only=True):
        path = _url(rule, "cluster-a")
        for method in _methods(rule):
            r = _call(app, world["admin_a"], world["tokens"]["admin_a"], method, path)
            if r.status_code in (401, 403) or (r.status_code == 302 and "/login" in r.headers["Location"]):
                refused.append(f"{method} {path} ({rule.endpoint}): {r.status_code}")
    assert not refused, "\n".join(refused)


def test_a_viewer_cannot_write(app, world):
    wrong, checked = [], 0
    for cluster in ("cluster-b", "cluster-a"):
        for rule in _routes(app, cluster_only=True):
            if _is_public(app, rule):
                continue
            path = _url(rule, cluster)
            for method in set(_methods(rule)) & UNSAFE:
                r = _call(app, world["viewer_b"], world["tokens"]["viewer_b"], method, path)
                checked += 1
                if r.status_code != 403:
                    wrong.append(f"{method} {path} ({rule.endpoint}): {r.status_code}")
    assert not wrong, "a viewer could write:\n" + "\n".join(wrong)
    assert checked >= 10


def test_a_viewer_can_read_their_cluster(app, world):
    client = app.test_client(user=world["viewer_b"])
    assert client.get("/cluster-b/").status_code == 200
    assert client.get("/cluster-b/matrixfake/").status_code == 200
    r = app.test_client().get("/api/v1/cluster-b/core/modules",
                              headers={"Authorization": f"Bearer {world['tokens']['viewer_b']}"})
    assert r.status_code == 200


def _above_staff(view) -> bool:
    """Is the view reserved to a role above staff (its declared permission's, or federation admins)?"""
    needed = getattr(view, "_grappe_permission", None)
    return getattr(view, "_grappe_federation_admin", False) or (
        needed is not None and ROLE_RANK[role_for_permission(needed)] > ROLE_RANK["staff"])


def test_a_granted_permission_opens_its_views_and_no_other_view_of_a_higher_role(app, world):
    """Staff + a grant of one manager permission in A: its views open there (pages and API),
    every other manager or admin view stays refused, and B (staff, no grant) refuses them all."""
    opened, refused, wrong = set(), 0, []
    for cluster in ("cluster-a", "cluster-b"):
        for rule in _routes(app, cluster_only=True):
            view = app.view_functions[rule.endpoint]
            if _is_public(app, rule) or not _above_staff(view):
                continue
            path = _url(rule, cluster)
            for method in _methods(rule):
                r = _call(app, world["granted"], world["tokens"]["granted"], method, path)
                if cluster == "cluster-a" and getattr(view, "_grappe_permission", None) == GRANTED:
                    opened.add(rule.endpoint)
                    if r.status_code in (401, 403) or (r.status_code == 302 and "/login" in r.headers["Location"]):
                        wrong.append(f"refused: {method} {path} ({rule.endpoint}): {r.status_code}")
                elif r.status_code != 403:
                    wrong.append(f"not refused: {method} {path} ({rule.endpoint}): {r.status_code}")
                else:
                    refused += 1
    assert not wrong, "the grant of matrixfake.approve opened too little or too much:\n" + "\n".join(wrong)
    assert opened == {"matrixfake.approvals", "matrixfake_api.api_approve"}
    assert {"core.audit", "core.cluster_admin", "matrixfake.close"} <= {
        r.endpoint for r in _routes(app, cluster_only=True) if _above_staff(app.view_functions[r.endpoint])}
    assert refused >= 10
    # the same answers in code
    assert can(world["granted"], GRANTED, world["a"]) and not can(world["granted"], GRANTED, world["b"])
    assert not can(world["granted"], "matrixfake.close", world["a"]) and not can(world["granted"], "core.audit", world["a"])


def test_anonymous_visitors_are_sent_to_login_or_get_401(app, world):
    wrong, checked = [], 0
    for rule in _routes(app, cluster_only=False):
        if _is_public(app, rule):
            continue
        path = _url(rule, "cluster-b") if "cluster" in rule.arguments else _url(rule, None)
        for method in _methods(rule):
            client = app.test_client()
            r = client.open(path, method=method, json={}) if _is_api(path) else client.open(path, method=method, data={})
            checked += 1
            if _is_api(path):
                body = r.get_json(silent=True) or {}
                if r.status_code != 401 or "errors" not in body or "Bearer" not in r.headers.get("WWW-Authenticate", "Bearer"):
                    wrong.append(f"{method} {path} ({rule.endpoint}): {r.status_code} {body}")
            else:
                location = r.headers.get("Location", "")
                if r.status_code not in (302, 303) or not location.startswith("/login"):
                    wrong.append(f"{method} {path} ({rule.endpoint}): {r.status_code} {location}")
    assert not wrong, "\n".join(wrong)
    assert checked >= 20


def test_public_views_are_open_to_anonymous_visitors(app, world):
    assert app.test_client().post("/cluster-b/matrixfake/signup").get_data(as_text=True) == "public signup"
    assert app.test_client().get("/api/v1/openapi.json").status_code == 200


def test_federation_admin_pages_refuse_cluster_admins(app, world):
    """Pages and API alike (the API with the cluster admin's token)."""
    wrong, checked = [], set()
    for rule in _routes(app, cluster_only=False):
        view = app.view_functions[rule.endpoint]
        if not getattr(view, "_grappe_federation_admin", False):
            continue
        path = _url(rule, "cluster-a" if "cluster" in rule.arguments else None)
        for method in _methods(rule):
            r = _call(app, world["admin_a"], world["tokens"]["admin_a"], method, path)
            checked.add(rule.endpoint)
            if r.status_code != 403:
                wrong.append(f"{method} {path}: {r.status_code}")
    assert not wrong, "\n".join(wrong)
    assert {"core.clusters", "core.platform_modules"} <= checked
    if app.extensions["grappe.host"].get("crm") is not None:
        assert {"crm_federation.person_subject_access", "crm_federation_api.person_subject_access"} <= checked
