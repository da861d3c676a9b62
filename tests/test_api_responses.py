"""Response schemas: declared once as pydantic models, described by the OpenAPI document,
produced by ``core.serialize``, and every API response the suite receives is checked
against the document (``VALIDATE_API_RESPONSES`` in the test apps)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from flask import jsonify
from pydantic import BaseModel

from core import ApiBlueprint, IsoDateTime, ResponseModel, db, hookimpl, serialize
from core.api import openapi_document
from core.auth import new_api_token
from core.testing import assert_responses_match_the_document

from .fakeplugins import make_plugin


class Part(BaseModel):
    name: str


class Gadget(BaseModel):
    id: int
    title: str
    made_on: date | None = None
    parts: list[Part] = []


class Stamp(ResponseModel):
    id: int
    at: IsoDateTime
    note: str | None = None


def _blueprints():
    bp = ApiBlueprint("gadgets", __name__)

    @bp.operation("/good", response=Gadget)
    def good():
        return serialize(Gadget, {"id": 1, "title": "Hammer", "made_on": date(2026, 3, 2), "parts": [{"name": "head"}]})

    @bp.operation("/bad", response=Gadget)
    def bad():
        return {"id": "one", "title": 3}  # what the document says it is not

    @bp.operation("/list", response=Gadget, paginated=True)
    def listing():
        return {"items": [serialize(Gadget, {"id": 2, "title": "Saw"})], "total": 1, "limit": 50, "offset": 0}

    @bp.operation("/strict", response=Stamp)
    def strict():
        return serialize(Stamp, {"id": 3, "at": datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)})

    @bp.operation("/extra", response=Stamp)
    def extra():  # a key the model does not declare
        return {**serialize(Stamp, {"id": 3, "at": datetime(2026, 3, 2, tzinfo=timezone.utc)}), "colour": "red"}

    @bp.operation("/missing", response=Stamp)
    def missing():  # a declared key left out
        return {"id": 3}

    @bp.operation("/gone", response=Stamp)
    def gone():  # an error body that is not the Errors schema
        return jsonify({"error": "gone"}), 404

    @bp.operation("/stamps", methods=["POST"], response=Stamp, status=202)
    def started():
        return serialize(Stamp, {"id": 4, "at": datetime(2026, 3, 2, tzinfo=timezone.utc)}), 202

    @bp.operation("/stamps/<int:stamp_id>", methods=["DELETE"], errors=(409,))
    def stamp_delete(stamp_id: int):
        return "", 204

    return [bp]


GADGETS = make_plugin("gadgets", pages=False, hooks={"grappe_blueprints": hookimpl(_blueprints)})


@pytest.fixture
def call(app, factory):
    cluster = factory.cluster("alpha", modules=("gadgets",))
    token = new_api_token(factory.user("staff@example.org", "staff", cluster))
    client = app.test_client()
    return lambda path: client.get(f"/api/v1/alpha/gadgets{path}", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.extra_plugins(GADGETS)
def test_the_document_describes_a_declared_response_with_its_nested_models(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    good = doc["paths"]["/api/v1/{cluster}/gadgets/good"]["get"]["responses"]["200"]
    assert good["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/gadgets.Gadget"}
    gadget = doc["components"]["schemas"]["gadgets.Gadget"]
    assert gadget["properties"]["id"]["type"] == "integer" and set(gadget["required"]) == {"id", "title"}
    assert gadget["properties"]["parts"]["items"] == {"$ref": "#/components/schemas/gadgets.Part"}
    assert "gadgets.Part" in doc["components"]["schemas"]
    listing = doc["paths"]["/api/v1/{cluster}/gadgets/list"]["get"]["responses"]["200"]
    items = listing["content"]["application/json"]["schema"]["properties"]["items"]
    assert items == {"type": "array", "items": {"$ref": "#/components/schemas/gadgets.Gadget"}}
    from openapi_spec_validator import validate

    validate(doc)


@pytest.mark.extra_plugins(GADGETS)
def test_a_response_that_does_not_match_the_document_is_reported(app, call):
    assert call("/good").get_json()["made_on"] == "2026-03-02"
    assert call("/list").status_code == 200
    assert app.extensions.get("grappe.response_problems", []) == []
    assert call("/bad").status_code == 200
    problems = app.extensions["grappe.response_problems"]
    assert len(problems) == 1 and "gadgets.bad" in problems[0] and "'one' is not of type 'integer'" in problems[0]
    problems.clear()  # this test's own bad response: the app fixture fails on any left


@pytest.mark.extra_plugins(GADGETS)
def test_a_response_model_is_strict_and_writes_datetimes_as_jsonable_does(app, call):
    body = call("/strict").get_json()
    assert body == {"id": 3, "at": "2026-03-02T09:30:00+00:00", "note": None}  # +00:00, not Z
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    stamp = doc["components"]["schemas"]["gadgets.Stamp"]
    assert stamp["additionalProperties"] is False and set(stamp["required"]) == {"id", "at", "note"}
    assert stamp["properties"]["at"] == {"type": "string", "format": "date-time", "title": "At"}
    for path in ("/extra", "/missing", "/gone"):
        call(path)
    problems = app.extensions["grappe.response_problems"]
    assert len(problems) == 3, problems
    assert "'colour' was unexpected" in problems[0]
    assert "'at' is a required property" in problems[1]
    assert "gadgets.gone 404" in problems[2]
    problems.clear()


@pytest.mark.extra_plugins(GADGETS)
def test_a_left_mismatch_fails_the_test(app, call):
    call("/extra")
    with pytest.raises(AssertionError, match="do not match the OpenAPI document"):
        assert_responses_match_the_document(app)
    app.extensions["grappe.response_problems"].clear()
    assert_responses_match_the_document(app)


@pytest.mark.extra_plugins(GADGETS)
def test_the_document_says_the_statuses_the_code_answers(app):
    paths = openapi_document(app)["paths"]
    assert set(paths["/api/v1/{cluster}/gadgets/stamps"]["post"]["responses"]) == {"202", "401", "403", "404"}
    deleted = paths["/api/v1/{cluster}/gadgets/stamps/{stamp_id}"]["delete"]["responses"]
    assert deleted["204"] == {"description": "Done (no body)"} and "200" not in deleted
    assert set(deleted) == {"204", "401", "403", "404", "409"}
    errors = {"$ref": "#/components/schemas/Errors"}
    assert all(deleted[s]["content"]["application/json"]["schema"] == errors for s in ("401", "403", "404", "409"))


# -- the built-in APIs describe every answer ----------------------------------------------------
def _component(doc, schema):
    ref = schema.get("$ref", "")
    assert ref.startswith("#/components/schemas/"), schema
    return doc["components"]["schemas"][ref.rpartition("/")[2]]


def _assert_described(app, blueprints):
    """Every operation of these blueprints but DELETEs has a model's schema for each success
    status (of its items, for a list); a DELETE answers 204 with no body.  :returns: how many."""
    doc = openapi_document(app)
    endpoints = {op.endpoint: op for name in blueprints for op in app.blueprints[name].operations}
    seen = 0
    for path, item in doc["paths"].items():
        for verb, operation in item.items():
            op = endpoints.get(operation["operationId"].rpartition(".")[0])
            if op is None:
                continue
            seen += 1
            where = f"{verb.upper()} {path}"
            success = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
            assert success, where
            for status, described in success.items():
                if verb == "delete":
                    assert status == "204" and "content" not in described, where
                    continue
                assert status != "204", where
                schema = described["content"]["application/json"]["schema"]
                if op.paginated:
                    assert set(schema["required"]) == {"items", "total", "limit", "offset"}, where
                    schema = schema["properties"]["items"]["items"]
                model = _component(doc, schema)
                assert model.get("properties") and model.get("additionalProperties") is False, where
            if verb in ("put", "patch"):
                assert "201" not in success, where
            if verb == "post" and op.form is not None and op.status is None:
                assert set(success) == {"201"}, where
            for status in ("401", "403", "404"):
                assert _component(doc, operation["responses"][status]["content"]["application/json"]["schema"]) \
                    == doc["components"]["schemas"]["Errors"], where
    return seen


def _count(app, blueprints) -> int:
    return sum(len(op.methods) for name in blueprints for op in app.blueprints[name].operations)


def test_every_crm_operation_describes_its_response(app):
    blueprints = ("crm_api", "crm_federation_api")
    assert _assert_described(app, blueprints) == _count(app, blueprints) >= 30


def test_every_events_operation_describes_its_response(app):
    assert _assert_described(app, ("events_api",)) == _count(app, ("events_api",)) >= 14


def test_every_core_operation_describes_its_response(app):
    assert _assert_described(app, ("core_api",)) == _count(app, ("core_api",)) >= 2


def test_the_core_operations_answer_what_the_document_describes(app, factory):
    from core.models import Job

    cluster = factory.cluster("alpha", modules=("crm",))
    token = new_api_token(factory.user("staff@example.org", "staff", cluster))
    job = Job(cluster_id=cluster.id, name="crm.import", label="Import", status="done", done=3, total=3,
              result={"report": {"rows": 3}})
    db.session.add(job)
    db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    modules = client.get("/api/v1/alpha/core/modules", headers=headers)
    assert modules.status_code == 200
    assert {"name": "crm", "enabled": True}.items() <= next(
        m for m in modules.get_json()["items"] if m["name"] == "crm").items()
    r = client.get(f"/api/v1/alpha/core/jobs/{job.id}", headers=headers)
    assert r.status_code == 200 and r.get_json() == {
        "id": job.id, "name": "crm.import", "label": "Import", "status": "done", "done": 3, "total": 3,
        "percent": 100, "message": "", "result": {"report": {"rows": 3}}}
    page = app.test_client(user=factory.user("s2@example.org", "staff", cluster)).get(
        f"/alpha/jobs/{job.id}", headers={"Accept": "application/json"})
    assert page.get_json() == r.get_json()  # the page's JSON is the API's model
    assert client.get("/api/v1/alpha/core/jobs/999999", headers=headers).status_code == 404
    assert app.extensions.get("grappe.response_problems", []) == []
