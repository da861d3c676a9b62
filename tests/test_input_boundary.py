"""The input boundary: what a client can send gets a 4xx and a field-level message, never a 500.

Ids beyond an INTEGER column, offsets beyond 2**63, NUL bytes and lone surrogates, JSON
nested 100,000 deep, NaN and Infinity, amounts beyond their column, malformed dates, text
without a limit, and two clients creating the same unique value at once.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import DateField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core import DecimalField, Form, db
from core.auth import new_api_token

from .fakeplugins import make_plugin

HUGE = 2**31
UNDERSCORED = make_plugin("under_score")


@pytest.fixture
def world(app, factory):
    cluster = factory.cluster("alpha", modules=("crm", "events"), name="Alpha Cluster", timezone="Europe/Paris")
    staff = factory.user("staff@example.org", "manager", cluster)
    token = new_api_token(staff)
    db.session.commit()
    client = app.test_client()

    def call(method, path, **kw):
        kw.setdefault("headers", {})["Authorization"] = f"Bearer {token}"
        return client.open(path, method=method, **kw)

    return {"app": app, "cluster": cluster, "staff": staff, "call": call, "client": client}


# -- the form boundary (core.Form) ------------------------------------------------------------
class _Sample(Form):
    count = IntegerField(validators=[Optional(), NumberRange(min=1)])
    day = DateField(validators=[DataRequired()])
    name = StringField(validators=[Optional(), Length(max=50)])
    free = StringField()
    notes = TextAreaField()
    amount = DecimalField(places=2, digits=10, validators=[Optional(), NumberRange(min=0)])


def _errors(app, **data):
    with app.test_request_context():
        form = _Sample(formdata=MultiDict(data), meta={"csrf": False})
        form.validate()
        return {k: [str(m) for m in v] for k, v in form.errors.items()}


def test_integers_beyond_an_integer_column_are_refused(app):
    assert _errors(app, count=str(HUGE), day="2030-01-02")["count"] == ["Out of range (at most 2147483647)."]
    assert "count" not in _errors(app, count=str(HUGE - 1), day="2030-01-02")


def test_a_malformed_date_says_so_instead_of_required(app):
    assert _errors(app, day="2030-13-45")["day"] == ["Not a valid date value."]
    assert _errors(app, day="")["day"] == ["This field is required."]
    assert _errors(app, day="0001-01-01")["day"] == ["Not a valid date (years 1900 to 2199)."]


@pytest.mark.parametrize("value, message", [
    ("NaN", "Not a valid number."), ("Infinity", "Not a valid number."), ("-inf", "Not a valid number."),
    ("sNaN", "Not a valid number."), ("1e15", "Too large: at most 8 digits before the decimal point."),
    ("123456789", "Too large: at most 8 digits before the decimal point."), ("1.005", "At most 2 decimal places."),
])
def test_decimals_must_be_finite_and_fit_their_column(app, value, message):
    assert _errors(app, amount=value, day="2030-01-02")["amount"] == [message]


def test_decimals_that_fit_are_kept_exactly(app):
    with app.test_request_context():
        form = _Sample(formdata=MultiDict({"amount": "99999999.99", "day": "2030-01-02"}), meta={"csrf": False})
        assert form.validate(), form.errors
        assert form.amount.data == Decimal("99999999.99")
    assert "amount" not in _errors(app, amount="1E+2", day="2030-01-02")  # 100


@pytest.mark.parametrize("value", ["a\x00b", "line\nbreak", "bell\x07", "del\x7f", "\ud800"])
def test_single_line_text_refuses_control_characters_and_invalid_unicode(app, value):
    assert "name" in _errors(app, name=value, day="2030-01-02")


def test_text_areas_take_newlines_and_tabs_but_not_nul(app):
    assert "notes" not in _errors(app, notes="one\r\ntwo\tthree", day="2030-01-02")
    assert _errors(app, notes="x\x00", day="2030-01-02")["notes"] == ["Contains a control character (U+0000)."]


def test_text_without_a_declared_limit_still_has_one(app):
    assert _errors(app, free="x" * 1001, day="2030-01-02")["free"] == ["At most 1000 characters."]
    assert _errors(app, notes="x" * 100_001, day="2030-01-02")["notes"] == ["At most 100000 characters."]
    assert _errors(app, name="x" * 51, day="2030-01-02")["name"] == ["Field cannot be longer than 50 characters."]


def _form_classes():
    import plugins.crm.forms  # noqa: F401 - load every built-in form class
    import plugins.events.forms  # noqa: F401
    import core.forms  # noqa: F401

    def walk(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    return sorted({c for c in walk(FlaskForm) if c.__module__.startswith(("core.", "plugins."))},
                  key=lambda c: (c.__module__, c.__name__))


def test_every_built_in_form_is_a_core_form():
    offenders = [f"{c.__module__}.{c.__name__}" for c in _form_classes() if not issubclass(c, Form)]
    assert offenders == [], f"derive these from core.Form (the input boundary): {offenders}"


def test_every_text_field_of_every_built_in_form_declares_its_length():
    offenders = []
    for cls in _form_classes():
        for name, unbound in vars(cls).items():
            field_class = getattr(unbound, "field_class", None)
            if field_class is None or not issubclass(field_class, (StringField, TextAreaField)):
                continue
            validators = unbound.kwargs.get("validators") or (unbound.args[1] if len(unbound.args) > 1 else [])
            if not any(isinstance(v, Length) and v.max is not None and v.max > 0 for v in validators):
                offenders.append(f"{cls.__module__}.{cls.__name__}.{name}")
    assert offenders == [], f"give these a Length(max=...): {offenders}"


# -- URLs, query strings and bodies ----------------------------------------------------------
@pytest.mark.parametrize("path", [
    f"/alpha/events/public/{HUGE}",
    f"/alpha/events/public/{2**70}",
    f"/alpha/crm/organizations/{HUGE}",
])
def test_ids_beyond_an_integer_column_in_a_url_are_404(world, path):
    world["client"].application.test_client(user=world["staff"])
    assert world["app"].test_client().get(path).status_code in (302, 404)
    assert world["app"].test_client(user=world["staff"]).get(path).status_code == 404


@pytest.mark.parametrize("path", [
    f"/api/v1/alpha/crm/organizations/{HUGE}",
    f"/api/v1/alpha/crm/persons/{2**63}",
    f"/api/v1/alpha/events/events/{HUGE}/registrations",
    f"/api/v1/alpha/crm/organizations/{HUGE}/matching",
])
def test_ids_beyond_an_integer_column_in_an_api_url_are_404(world, path):
    r = world["call"]("GET", path)
    assert r.status_code == 404 and "errors" in r.get_json()


@pytest.mark.parametrize("query", [
    f"offset={2**63}", "offset=-1", "limit=x", "offset=" + "9" * 5000,
])
def test_pagination_beyond_range_is_a_400(world, query):
    r = world["call"]("GET", f"/api/v1/alpha/crm/organizations?{query}")
    assert r.status_code == 400 and set(r.get_json()["errors"]) <= {"limit", "offset"}


@pytest.mark.parametrize("query", [
    f"organization_id={HUGE}", "organization_id=²", "organization_id=-3", "organization_id=1e3",
])
def test_id_filters_in_the_query_string_are_checked(world, query):
    for path in ("/api/v1/alpha/crm/memberships", "/api/v1/alpha/crm/interactions"):
        r = world["call"]("GET", f"{path}?{query}")
        assert r.status_code == 400 and list(r.get_json()["errors"]) == ["organization_id"]


def test_a_page_number_beyond_range_is_the_last_page(world):
    client = world["app"].test_client(user=world["staff"])
    for path in ("/alpha/crm/organizations/", "/alpha/crm/persons/", "/alpha/events/", "/alpha/audit", "/alpha/jobs"):
        assert client.get(f"{path}?page={2**63}").status_code == 200, path


@pytest.mark.parametrize("path", [
    "/api/v1/alpha/crm/organizations?q=a%00b",
    "/api/v1/alpha/crm/persons?q=%00",
    "/api/v1/alpha/events/events?q=x%00",
])
def test_a_nul_byte_in_a_query_string_is_a_400(world, path):
    r = world["call"]("GET", path)
    assert r.status_code == 400 and r.get_json()["errors"]


def test_a_nul_byte_in_a_page_search_or_url_is_a_4xx(world):
    client = world["app"].test_client(user=world["staff"])
    assert client.get("/alpha/crm/organizations/?q=a%00b").status_code == 400
    assert client.get("/alpha/search?q=%00").status_code == 400
    assert client.get("/al%00pha/").status_code == 404


@pytest.mark.parametrize("body, message", [
    ('{"legal_name": "\\ud800"}', "invalid Unicode"),
    ("[" * 100_000 + "]" * 100_000, "nests deeper"),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "nests deeper"),
    ('{"legal_name": NaN}', "not valid JSON"),
    ('{"legal_name": Infinity}', "not valid JSON"),
    (b'{"legal_name": "\xff"}', "not valid JSON"),
])
def test_bodies_that_cannot_be_taken_are_a_400(world, body, message):
    r = world["call"]("POST", "/api/v1/alpha/crm/organizations", data=body, content_type="application/json")
    assert r.status_code == 400
    assert message in " ".join(r.get_json()["errors"]["_body"])


def test_a_deep_body_inside_a_field_is_a_400_too(world):
    body = '{"legal_name": "Acme", "tags": ' + "[" * 50 + "]" * 50 + "}"
    r = world["call"]("POST", "/api/v1/alpha/crm/organizations", data=body, content_type="application/json")
    assert r.status_code == 400


@pytest.mark.parametrize("fields, field", [
    ({"legal_name": "Acme\x00"}, "legal_name"),
    ({"legal_name": "Acme", "city": "Ly\x00on"}, "city"),
    ({"legal_name": "Acme", "parent_id": HUGE}, "parent_id"),
    ({"legal_name": "Acme", "parent_id": 2**64}, "parent_id"),
    ({"legal_name": "x" * 201}, "legal_name"),
])
def test_api_fields_get_field_level_errors(world, fields, field):
    from plugins.crm.models import Organization

    r = world["call"]("POST", "/api/v1/alpha/crm/organizations", json=fields)
    assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()
    assert db.session.execute(select(func.count()).select_from(Organization)).scalar_one() == 0


@pytest.mark.parametrize("price, message", [
    ("NaN", "Not a valid number."), ("Infinity", "Not a valid number."), ("1e15", "Too large"),
    ("10.001", "decimal places"), ("1e400", "Too large"),
])
def test_event_prices_get_field_level_errors(world, price, message):
    body = {"title": "Day", "starts_at": "2031-03-04T09:00", "ends_at": "2031-03-04T12:00", "venue": "Lyon",
            "member_price": price}
    r = world["call"]("POST", "/api/v1/alpha/events/events", json=body)
    assert r.status_code == 422, r.get_json()
    assert message in " ".join(r.get_json()["errors"]["member_price"])


def test_event_dates_take_rfc3339_and_say_what_is_wrong(world):
    body = {"title": "Day", "starts_at": "2031-03-04T09:00:00+01:00", "ends_at": "2031-03-04T12:00:00Z", "venue": "Lyon",
            "member_price": "12.50"}
    r = world["call"]("POST", "/api/v1/alpha/events/events", json=body)
    assert r.status_code == 201, r.get_json()
    r = world["call"]("POST", "/api/v1/alpha/events/events", json={**body, "starts_at": "2031-02-30T09:00"})
    assert r.status_code == 422
    assert r.get_json()["errors"]["starts_at"] == ["Not a valid date and time (YYYY-MM-DDTHH:MM)."]


def test_a_malformed_date_in_the_api_is_not_reported_as_missing(world):
    from plugins.crm.models import Organization

    org = Organization(legal_name="Acme", country="FR")
    db.session.add(org)
    db.session.commit()
    r = world["call"]("POST", "/api/v1/alpha/crm/memberships",
                      json={"organization_id": org.id, "status": "member", "start_date": "2026-02-30"})
    assert r.status_code == 422
    assert r.get_json()["errors"]["start_date"] == ["Not a valid date value."]


def test_a_segment_filter_is_bounded(world):
    r = world["call"]("POST", "/api/v1/alpha/crm/segments", json={"name": "Big", "filters": {"q": "x" * 20_000_000}})
    assert r.status_code == 422 and "filters.q" in r.get_json()["errors"]
    r = world["call"]("POST", "/api/v1/alpha/crm/segments", json={"name": "Big", "filters": {"tag": "t" * 61}})
    assert r.status_code == 422 and "filters.tag" in r.get_json()["errors"]


# -- uniqueness races --------------------------------------------------------------------------
def _race(world, count, path, body_for):
    barrier = threading.Barrier(count)
    statuses, bodies = [], []
    app = world["app"]
    db.session.commit()

    def create(i):
        client = app.test_client()
        barrier.wait()
        response = client.post(path, json=body_for(i), headers={"Authorization": world["auth"]})
        statuses.append(response.status_code)
        bodies.append(response.get_json())

    threads = [threading.Thread(target=create, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses, bodies


@pytest.fixture
def racing(world):
    token = new_api_token(world["staff"])
    db.session.commit()
    world["auth"] = f"Bearer {token}"
    return world


@pytest.mark.parametrize("path, body_for, field, table", [
    ("/api/v1/alpha/crm/organizations", lambda i: {"legal_name": f"Acme {i}", "siren": "732829320"},
     "siren", "crm_organization"),
    ("/api/v1/alpha/crm/persons", lambda i: {"last_name": f"Martin {i}", "email": "claire@example.org"},
     "email", "crm_person"),
])
def test_ten_simultaneous_creates_of_one_unique_value_give_one_201_and_422s(racing, path, body_for, field, table):
    from sqlalchemy import text

    statuses, bodies = _race(racing, 10, path, body_for)
    assert sorted(statuses) == [201] + [422] * 9, statuses
    for status, body in zip(statuses, bodies):
        if status == 422:
            assert list(body["errors"]) == [field] and all(body["errors"][field]), body
    assert db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 1


def test_a_unique_violation_maps_to_its_field(app, factory):
    """Whatever let the duplicate through, the constraint answers with the field's message."""
    from plugins.crm.models import Organization

    factory.cluster("alpha", modules=("crm",))
    db.session.add(Organization(legal_name="One", country="FR", siren="732829320"))
    db.session.commit()
    from sqlalchemy.exc import IntegrityError

    from core.database import unique_violation_errors

    db.session.add(Organization(legal_name="Two", country="FR", siren="732829320"))
    with pytest.raises(IntegrityError) as caught:
        db.session.commit()
    db.session.rollback()
    assert unique_violation_errors(caught.value) == {"siren": ["An organization with this SIREN exists already."]}


# -- the OpenAPI document tells the truth -------------------------------------------------------
def test_the_openapi_document_types_fields_as_they_are_accepted(world):
    doc = world["app"].test_client().get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    membership = schemas["crm.MembershipForm"]["properties"]
    assert membership["start_date"]["format"] == "date"  # not date-time: a DateField takes dates
    event = schemas["events.EventForm"]["properties"]
    assert event["starts_at"]["format"] == "date-time"
    assert "string" in event["member_price"]["type"] and event["member_price"]["format"] == "decimal"
    assert "enum" not in event["organizer_id"] and "integer" in event["organizer_id"]["type"]
    assert "enum" not in schemas["events.InvitationForm"]["properties"]["segment_id"]
    assert event["kind"]["enum"]  # static choices keep their enum
    assert schemas["crm.OrganizationForm"]["properties"]["parent_id"]["maximum"] == HUGE - 1
    assert schemas["crm.OrganizationForm"]["properties"]["siren"]["maxLength"] == 20


@pytest.mark.extra_plugins(UNDERSCORED)
def test_openapi_tags_are_plugin_names_even_with_underscores(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    tags = {t for item in doc["paths"].values() for op in item.values() for t in op["tags"]}
    assert "under_score" in tags and "under" not in tags
