"""The JSON API: field-level validation errors, pagination, the OpenAPI document."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate as validate_openapi

from core import db
from core.auth import new_api_token
from core.testing import Factory, installed_plugins, make_test_app, truncate_all

from .fakeplugins import KeeperThing, make_keeper_plugin, make_plugin

KEEPER = make_keeper_plugin()
APIFAKE = make_plugin("apifake")


@pytest.fixture
def api_app(_schema, instance_path):
    app = make_test_app(_schema, instance_path, plugins=[*installed_plugins(), KEEPER, APIFAKE])
    with app.app_context():
        KeeperThing.__table__.create(db.engine, checkfirst=True)
        truncate_all()
        yield app
        db.session.rollback()


@pytest.fixture
def caller(api_app):
    """``caller(method, path, **kw)`` as the staff member of cluster ``one`` (keeper enabled)."""
    f = Factory(api_app)
    one = f.cluster("one", modules=("keeper", "apifake"))
    f.cluster("two", modules=("keeper",))
    user = f.user("staff@example.org", "staff", one)
    token = new_api_token(user)
    db.session.commit()

    def call(method, path, **kw):
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return api_app.test_client().open(path, method=method, headers=headers, **kw)

    return call


THINGS = "/api/v1/one/keeper/things"


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize("body, content_type, status, field", [
    ("{not json", "application/json", 400, "_body"),
    ("", "application/json", 400, "_body"),
    ('["a", "list"]', "application/json", 400, "_body"),
    ('"a string"', "application/json", 400, "_body"),
    ('{"title": "ok", "size": 2}', "text/plain", 400, "_body"),
])
def test_a_body_that_is_not_a_json_object_is_a_400(caller, body, content_type, status, field):
    r = caller("POST", THINGS, data=body, content_type=content_type)
    assert r.status_code == status
    errors = r.get_json()["errors"]
    assert list(errors) == [field] and all(isinstance(m, str) and m for m in errors[field])


@pytest.mark.parametrize("payload, errors", [
    ({"title": "ok", "size": 2, "colour": "red"}, {"colour": ["Unknown field."]}),
    ({"title": "ok", "size": "two"}, {"size": None}),
    ({"title": "ok", "size": 2.5}, {"size": None}),
    ({"title": "ok", "size": 99}, {"size": None}),
    ({"title": True, "size": 2}, {"title": ["Expected a text or a number, not true or false."]}),
    ({"title": ["a", "b"], "size": 2}, {"title": ["Expected a single value, not a list."]}),
    ({"title": {"nested": 1}, "size": 2}, {"title": ["Expected a scalar value."]}),
    ({"title": "x" * 21, "size": 2}, {"title": None}),
    ({"size": 2}, {"title": None}),
    ({"title": None, "size": 2}, {"title": None}),
    ({}, {"title": None, "size": None}),
])
def test_invalid_fields_come_back_field_by_field_with_a_422(caller, payload, errors):
    r = caller("POST", THINGS, json=payload)
    assert r.status_code == 422, r.get_json()
    got = r.get_json()["errors"]
    assert set(got) == set(errors)
    for name, expected in errors.items():
        assert isinstance(got[name], list) and got[name] and all(isinstance(m, str) for m in got[name])
        if expected is not None:
            assert got[name] == expected
    assert db.session.query(KeeperThing).count() == 0  # nothing half-written


def test_a_valid_body_is_created_in_the_callers_cluster(caller):
    r = caller("POST", THINGS, json={"title": "anvil", "size": "3"})
    assert r.status_code == 201
    assert r.get_json() == {"id": r.get_json()["id"], "title": "anvil", "size": 3, "sharp": False, "cluster": "one"}


def test_a_partial_update_keeps_the_fields_it_does_not_name(caller):
    thing = caller("POST", THINGS, json={"title": "anvil", "size": 2, "sharp": True}).get_json()
    url = f"{THINGS}/{thing['id']}"
    r = caller("PATCH", url, json={"size": 3})
    assert r.status_code == 200
    assert r.get_json() | {"id": 0} == {"id": 0, "title": "anvil", "size": 3, "sharp": True, "cluster": "one"}
    r = caller("PATCH", url, json={"sharp": False})
    assert r.get_json()["sharp"] is False and r.get_json()["title"] == "anvil"
    r = caller("PATCH", url, json={"title": "", "size": 4})
    assert r.status_code == 422 and list(r.get_json()["errors"]) == ["title"]
    r = caller("PATCH", url, json={"sharp": "yes"})
    assert r.status_code == 422 and r.get_json()["errors"] == {"sharp": ["Expected true or false."]}
    stored = caller("GET", THINGS).get_json()["items"][0]
    assert stored == {"id": thing["id"], "title": "anvil", "size": 3}


def test_errors_of_the_framework_are_json_too(caller):
    r = caller("GET", "/api/v1/one/keeper/nowhere")
    assert r.status_code == 404 and "errors" in r.get_json()
    r = caller("PUT", THINGS, json={})
    assert r.status_code == 405 and "errors" in r.get_json()
    r = caller("GET", "/api/v1/two/keeper/things")
    assert r.status_code == 403 and "errors" in r.get_json()


# -- pagination --------------------------------------------------------------------------------
def test_lists_are_paginated_with_limit_offset_and_a_total(caller):
    for i in range(7):
        assert caller("POST", THINGS, json={"title": f"thing {i}", "size": 1}).status_code == 201
    page = caller("GET", THINGS, query_string={"limit": 3, "offset": 2}).get_json()
    assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == 2
    assert [t["title"] for t in page["items"]] == ["thing 2", "thing 3", "thing 4"]
    last = caller("GET", THINGS, query_string={"limit": 3, "offset": 6}).get_json()
    assert [t["title"] for t in last["items"]] == ["thing 6"] and last["total"] == 7
    beyond = caller("GET", THINGS, query_string={"offset": 50}).get_json()
    assert beyond["items"] == [] and beyond["total"] == 7
    default = caller("GET", THINGS).get_json()
    assert len(default["items"]) == 7 and default["offset"] == 0 and default["limit"] >= 7


@pytest.mark.parametrize("args, field", [
    ({"limit": "ten"}, "limit"), ({"limit": -1}, "limit"), ({"offset": "x"}, "offset"), ({"offset": -5}, "offset"),
])
def test_bad_pagination_arguments_are_a_400(caller, args, field):
    r = caller("GET", THINGS, query_string=args)
    assert r.status_code == 400 and list(r.get_json()["errors"]) == [field]


def test_limit_is_capped(caller):
    page = caller("GET", THINGS, query_string={"limit": 100000}).get_json()
    assert page["limit"] <= 500


# -- OpenAPI --------------------------------------------------------------------------------------
def test_the_openapi_document_is_valid_with_every_plugin_loaded(api_app):
    r = api_app.test_client().get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.get_json()
    validate_openapi(doc)
    assert doc["openapi"].startswith("3.1")
    host = api_app.extensions["grappe.host"]
    for info in host.loaded():
        assert f"{info.name} {info.manifest.version}" in doc["info"]["description"]
    # every API operation of every plugin is in it, once per method
    operations = {(path, method) for path, item in doc["paths"].items() for method in item}
    for rule in api_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/<cluster>/"):
            continue
        path = rule.rule.replace("<cluster>", "{cluster}")
        for conv in ("int:", "string:", "path:", "float:", "uuid:"):
            path = path.replace("<" + conv, "<")
        path = path.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in operations, (path, method)
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_the_fake_plugins_operations_are_listed_with_their_form_schema(api_app):
    doc = api_app.test_client().get("/api/v1/openapi.json").get_json()
    things = doc["paths"]["/api/v1/{cluster}/apifake/things"]
    assert set(things) == {"get", "post"}
    assert things["get"]["summary"] == "List things"
    assert {p["name"] for p in things["get"]["parameters"]} == {"cluster", "limit", "offset"}
    assert set(things["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]) >= {"items", "total"}
    post = things["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["properties"]["title"] == {"type": "string", "maxLength": 20, "title": "Title"}
    assert schema["properties"]["size"] == {"type": "integer", "minimum": 1, "maximum": 10, "title": "Size"}
    assert sorted(schema["required"]) == ["size", "title"]
    assert schema["additionalProperties"] is False
    assert "422" in post["responses"]
    thing = doc["paths"]["/api/v1/{cluster}/apifake/things/{thing_id}"]
    assert set(thing) == {"patch", "delete"}
    assert {"name": "thing_id", "in": "path", "required": True, "schema": {"type": "integer"}} in thing["patch"]["parameters"]
    assert "requestBody" in thing["patch"] and "requestBody" not in thing["delete"]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
