"""Response schemas: declared once as pydantic models, described by the OpenAPI document,
produced by ``core.serialize``, and every API response the suite receives is checked
against the document (``VALIDATE_API_RESPONSES`` in the test apps)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import BaseModel

from core import ApiBlueprint, hookimpl, serialize
from core.auth import new_api_token

from .fakeplugins import make_plugin


class Part(BaseModel):
    name: str


class Gadget(BaseModel):
    id: int
    title: str
    made_on: date | None = None
    parts: list[Part] = []


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
