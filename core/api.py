"""The JSON API framework: blueprints, validation through WTForms, pagination, OpenAPI.

A request body is turned into form data and validated by the same WTForms form as
the page, so a record is checked the same way from the page, the API or an import.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Callable, Mapping

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from wtforms import fields as wtf
from wtforms import validators as wtv

API_PREFIX = "/api/v1"
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_OFFSET = 10**9


class ClusterBlueprint(Blueprint):
    """A plugin's pages, mounted at ``/<cluster>/<plugin>/``."""


@dataclass
class ApiOperation:
    rule: str
    methods: tuple[str, ...]
    endpoint: str
    summary: str
    form: type | None = None
    paginated: bool = False
    permission: str | None = None
    public: bool = False
    response: type | None = None  # a pydantic model: the schema of the success body (items, if paginated)
    status: tuple[int, ...] | None = None  # the success statuses, when not the default (see success_statuses)
    errors: tuple[int, ...] = ()  # error statuses besides those every operation may answer


ERROR_DESCRIPTIONS = {
    400: "Bad request: the body is not a JSON object, or a query parameter is malformed",
    401: "Not authenticated",
    403: "Not allowed in this cluster",
    404: "Not found, or module not enabled for this cluster",
    409: "Conflicts with the record's state",
    413: "The body or file is too large",
    422: "Validation failed",
}


def success_statuses(op: ApiOperation, method: str) -> tuple[int, ...]:
    """What an operation answers on success: its declared ``status``, else 204 for a DELETE
    (no body), 201 for a POST with a form (a create), 200 otherwise."""
    if op.status is not None:
        return op.status
    if method == "DELETE":
        return (204,)
    if method == "POST" and op.form is not None:
        return (201,)
    return (200,)


class ApiBlueprint(Blueprint):
    """A plugin's JSON API, mounted at ``/api/v1/<cluster>/<plugin>/``.

    With ``federation=True`` it is mounted at ``/api/v1/<plugin>/``: federation-wide
    endpoints, without a cluster (mark them ``@federation_admin_required`` or with a
    check of their own).  Declare each endpoint with :meth:`operation` so it appears in
    the OpenAPI document with its request form.
    """

    def __init__(self, *args, federation: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.federation = federation
        self.operations: list[ApiOperation] = []

    def operation(self, rule: str, *, methods=("GET",), summary: str = "", form: type | None = None,
                  paginated: bool = False, response: type | None = None,
                  status: int | tuple[int, ...] | None = None, errors: tuple[int, ...] = ()) -> Callable:
        """Declare an endpoint.  ``form``: the WTForms form of its body; ``response``: the
        pydantic model of its success body (of each item when ``paginated``), which the
        OpenAPI document describes and :func:`serialize` produces.

        ``status``: the success status (or statuses, e.g. ``(202, 200)``) when not the
        default: 201 for a POST with a form, 204 (no body) for a DELETE, 200 otherwise.
        ``errors``: error statuses it may answer besides 401/403/404 (and 400/422 for a
        body or a paginated list), e.g. ``(409,)``; all with the ``Errors`` body.
        """
        statuses = (status,) if isinstance(status, int) else (tuple(status) if status is not None else None)

        def decorator(view):
            self.operations.append(ApiOperation(
                rule=rule, methods=tuple(methods), endpoint=f"{self.name}.{view.__name__}",
                summary=summary or (view.__doc__ or "").strip().split("\n")[0], form=form,
                paginated=paginated, permission=getattr(view, "_grappe_permission", None),
                public=getattr(view, "_grappe_public", False), response=response,
                status=statuses, errors=tuple(errors),
            ))
            return self.route(rule, methods=list(methods))(view)

        return decorator


class ApiError(HTTPException):
    """An API error with a JSON body ``{"errors": {field: [messages]}}``."""

    def __init__(self, errors: dict[str, list[str]], status: int = 422):
        super().__init__()
        self.code = status
        self.errors = errors

    def get_response(self, environ=None, scope=None):
        response = jsonify({"errors": self.errors})
        response.status_code = self.code
        return response


MAX_JSON_DEPTH = 32


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _json_problem(value, depth: int = 0) -> str | None:
    """Why a parsed body cannot be taken (too deep, invalid Unicode), or None.

    Walks the value without recursion limits of its own: depth is bounded first.
    """
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > MAX_JSON_DEPTH:
            return f"The body nests deeper than {MAX_JSON_DEPTH} levels."
        if isinstance(item, dict):
            for key, sub in item.items():
                if _SURROGATE.search(key):
                    return "The body holds invalid Unicode (a lone surrogate)."
                stack.append((sub, level + 1))
        elif isinstance(item, list):
            stack.extend((sub, level + 1) for sub in item)
        elif isinstance(item, str) and _SURROGATE.search(item):
            return "The body holds invalid Unicode (a lone surrogate)."
    return None


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400: not JSON, not an object, nested deeper than
    :data:`MAX_JSON_DEPTH`, ``NaN``/``Infinity``, invalid UTF-8 or lone surrogates."""
    if not request.is_json:
        raise ApiError({"_body": ["The request body must be a JSON object (Content-Type: application/json)."]}, 400)
    try:
        data = json.loads(request.get_data(cache=True), parse_constant=_refuse_constant)
    except RecursionError:
        raise ApiError({"_body": [f"The body nests deeper than {MAX_JSON_DEPTH} levels."]}, 400) from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, a NaN, an integer of 4,300+ digits
        raise ApiError({"_body": ["The request body is not valid JSON."]}, 400) from None
    if not isinstance(data, dict):
        raise ApiError({"_body": ["The request body must be a JSON object."]}, 400)
    why = _json_problem(data)
    if why:
        raise ApiError({"_body": [why]}, 400)
    return data


_MULTIPLE = (wtf.SelectMultipleField, wtf.FieldList)


def to_formdata(data: dict[str, Any], form_class: type) -> MultiDict:
    """JSON values -> the strings a browser would post, so forms parse them as usual.

    JSON types are checked first: ``true``/``false`` only for boolean fields (and only
    there), a list only for multiple-choice fields, never an object.
    """
    fields = dict(_unbound_fields(form_class))
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ApiError({name: ["Unknown field."] for name in unknown}, 422)
    errors: dict[str, list[str]] = {}
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        fld = fields[key]
        boolean = isinstance(fld, wtf.BooleanField)
        if isinstance(value, list) and not isinstance(fld, _MULTIPLE):
            errors[key] = ["Expected a single value, not a list."]
            continue
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if isinstance(item, dict) or isinstance(item, list):
                errors[key] = ["Expected a scalar value."]
            elif boolean and not isinstance(item, bool):
                errors[key] = ["Expected true or false."]
            elif isinstance(item, bool) and not boolean:
                errors[key] = ["Expected a text or a number, not true or false."]
            elif boolean:
                if item:
                    pairs.append((key, "y"))
            else:
                pairs.append((key, str(item)))
    if errors:
        raise ApiError(errors, 422)
    return MultiDict(pairs)


def validate(form_class: type, obj: Any = None, data: dict | None = None, partial: bool = False, **kwargs):
    """Validate a JSON body with a form; raise :class:`ApiError` (422) with field errors.

    With ``partial=True`` (PATCH), fields absent from the body keep ``obj``'s values.
    """
    data = json_body() if data is None else data
    formdata = to_formdata(data, form_class)
    if partial and obj is not None:
        # formdata=None: Flask-WTF would otherwise read the request's JSON body, and a
        # boolean field absent from it would turn False instead of keeping obj's value
        form = form_class(formdata=None, obj=obj, meta={"csrf": False}, **kwargs)
        present = MultiDict(formdata)
        for name, fld in form._fields.items():
            if name not in data:
                for value in _field_as_strings(fld):
                    present.add(name, value)
        formdata = present
    form = form_class(formdata=formdata, obj=obj, meta={"csrf": False}, **kwargs)
    if not form.validate():
        raise ApiError(form_errors(form), 422)
    return form


def _field_as_strings(fld) -> list[str]:
    if isinstance(fld, wtf.BooleanField):
        return ["y"] if fld.data else []
    if isinstance(fld, wtf.SelectMultipleField):
        return [str(v) for v in (fld.data or [])]
    value = fld._value() if hasattr(fld, "_value") else fld.data
    return [] if value in (None, "") else [str(value)]


def form_errors(form) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, messages in form.errors.items():
        if isinstance(messages, dict):  # FormField
            for sub, subm in messages.items():
                errors[f"{name}.{sub}"] = [str(m) for m in subm]
        else:
            errors[name or "_form"] = [str(m) for m in messages]
    return errors


def pagination_args(default_limit: int = 50, max_limit: int = 500) -> tuple[int, int]:
    errors = {}
    values = {}
    for name, default in (("limit", default_limit), ("offset", 0)):
        raw = request.args.get(name, "")
        try:
            if len(raw) > 12:
                raise ValueError
            values[name] = int(raw) if raw != "" else default
            if not 0 <= values[name] <= MAX_OFFSET:
                raise ValueError
        except ValueError:
            errors[name] = [f"Must be an integer from 0 to {MAX_OFFSET}."]
    if errors:
        raise ApiError(errors, 400)
    return min(values["limit"], max_limit) or default_limit, values["offset"]


def paginate(session, stmt, serialize: Callable, default_limit: int = 50) -> dict:
    """Run a select with ``limit``/``offset`` from the query string; return items and total."""
    from sqlalchemy import func, select

    limit, offset = pagination_args(default_limit)
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = session.execute(stmt.limit(limit).offset(offset)).scalars().all()
    return {"items": [serialize(r) for r in rows], "total": total, "limit": limit, "offset": offset}


# -- response models ----------------------------------------------------------------
def _isoformat(value: datetime) -> str:
    return value.isoformat()


#: A datetime written as :func:`jsonable` writes it, ``datetime.isoformat()``: an aware
#: UTC value ends with ``+00:00`` (pydantic alone would write ``Z``).
IsoDateTime = Annotated[
    datetime,
    PlainSerializer(_isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


class ResponseModel(BaseModel):
    """The base of API response models: read from attributes (ORM rows) or dicts, and
    described with every field required (it is always written, ``null`` included) and
    no other property (``additionalProperties: false``)."""

    model_config = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True,
                              json_schema_extra={"additionalProperties": False})


class _Overlay:
    """An object's attributes, some given anew (``serialize(model, obj, **extra)``)."""

    __slots__ = ("_obj", "_extra")

    def __init__(self, obj: Any, extra: dict):
        self._obj = obj
        self._extra = extra

    def __getattr__(self, name: str):
        extra = object.__getattribute__(self, "_extra")
        if name in extra:
            return extra[name]
        return getattr(object.__getattribute__(self, "_obj"), name)


def serialize(model: type, obj: Any, **extra) -> dict:
    """``obj`` (an ORM row, any object, a dict) as the JSON-able dict of the pydantic ``model``.

    The one serializer of a record, shared by its pages' JSON and its API: declare the
    model once (``class OrganizationOut(ResponseModel)``), and the OpenAPI document
    describes exactly what this returns.  ``extra`` gives values the object has not (or
    replaces its own): ``serialize(OrganizationDetailOut, org, persons=[...])``.
    """
    if extra:
        obj = {**obj, **extra} if isinstance(obj, Mapping) else _Overlay(obj, extra)
    return model.model_validate(obj, from_attributes=True).model_dump(mode="json")


def jsonable(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# -- OpenAPI ----------------------------------------------------------------------
def _unbound_fields(form_class) -> list[tuple[str, Any]]:
    """The fields of a form class, as an empty instance has them (dynamic choices included)."""
    form = form_class(formdata=None, meta={"csrf": False})
    return list(form._fields.items())


def _coerces_to_int(fld) -> bool:
    try:
        return isinstance(fld.coerce("1"), int)
    except Exception:  # noqa: BLE001 - a coerce function that refuses "1" is not an id
        return False


def field_schema(fld, dynamic_choices: bool = False) -> dict:
    """The JSON schema of one form field, as the API accepts it.

    :param dynamic_choices: the field's choices are computed per request (ids of this
        cluster's records): no ``enum``, the type its ``coerce`` gives.
    """
    from .forms import INT_MAX  # what the form checks (core.inputs imports this module: not from there)

    kind = type(fld)
    own = getattr(fld, "openapi_schema", None)
    if own is not None:
        schema = dict(own)
    elif issubclass(kind, wtf.BooleanField):
        schema = {"type": "boolean"}
    elif issubclass(kind, wtf.IntegerField):
        schema = {"type": "integer", "minimum": -INT_MAX - 1, "maximum": INT_MAX}
    elif issubclass(kind, wtf.DecimalField):
        places = fld.places if isinstance(fld.places, int) else 2
        digits = getattr(fld, "digits", 12)
        # a string keeps every digit; a JSON number is taken too (as its shortest text)
        schema = {"type": ["string", "number"], "format": "decimal",
                  "pattern": f"^-?[0-9]{{1,{digits - places}}}(\\.[0-9]{{1,{places}}})?$"}
    elif issubclass(kind, wtf.FloatField):
        schema = {"type": "number"}
    elif issubclass(kind, wtf.DateField):  # before DateTimeField: DateField is a subclass of it
        schema = {"type": "string", "format": "date"}
    elif issubclass(kind, (wtf.DateTimeLocalField, wtf.DateTimeField)):
        schema = {"type": "string", "format": "date-time"}
    elif issubclass(kind, wtf.EmailField):
        schema = {"type": "string", "format": "email"}
    elif issubclass(kind, wtf.SelectMultipleField):
        item = {"type": "integer", "minimum": 1, "maximum": INT_MAX} if _coerces_to_int(fld) else {"type": "string"}
        schema = {"type": "array", "items": item}
    elif issubclass(kind, wtf.SelectField) and dynamic_choices and _coerces_to_int(fld):
        schema = {"type": ["integer", "null"], "minimum": 1, "maximum": INT_MAX}
    else:
        schema = {"type": "string"}
    choices = getattr(fld, "choices", None)
    if (choices and not callable(choices) and not dynamic_choices and kind is not wtf.SelectMultipleField
            and issubclass(kind, wtf.SelectField)):
        values = [str(c[0]) if isinstance(c, (tuple, list)) else str(c) for c in choices]
        if values:
            schema = {"type": "string", "enum": values}
    for v in fld.validators:
        if isinstance(v, wtv.Length):
            if v.max and v.max > 0:
                schema["maxLength"] = v.max
            if v.min and v.min > 0:
                schema["minLength"] = v.min
        if isinstance(v, wtv.NumberRange):
            if v.min is not None:
                schema["minimum"] = v.min
            if v.max is not None:
                schema["maximum"] = v.max
    if schema.get("type") == "string" and "enum" not in schema and "format" not in schema:
        from .forms import LONG_TEXT_MAX, TEXT_MAX

        schema.setdefault("maxLength", LONG_TEXT_MAX if isinstance(fld, wtf.TextAreaField) else TEXT_MAX)
    if fld.description:
        schema["description"] = str(fld.description)
    label = getattr(fld, "label", None)
    if label is not None and getattr(label, "text", None):
        schema["title"] = str(label.text)
    return schema


def form_schema(form_class) -> dict:
    props, required = {}, []
    for name, fld in _unbound_fields(form_class):
        if isinstance(fld, (wtf.SubmitField, wtf.HiddenField)) or name == "csrf_token":
            continue
        unbound = getattr(form_class, name, None)
        dynamic = isinstance(fld, wtf.SelectFieldBase) and "choices" not in getattr(unbound, "kwargs", {})
        props[name] = field_schema(fld, dynamic_choices=dynamic)
        if any(isinstance(v, (wtv.DataRequired, wtv.InputRequired)) for v in fld.validators):
            required.append(name)
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


_SUCCESS_DESCRIPTIONS = {200: "Success", 201: "Created", 202: "Accepted: the work goes on in a background job"}
_CONVERTER_TYPES = {"int": {"type": "integer"}, "float": {"type": "number"}, "uuid": {"type": "string", "format": "uuid"}}


def openapi_document(app) -> dict:
    """Build the OpenAPI 3.1 document from the registered API operations and their forms."""
    host = app.extensions["grappe.host"]
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {
        "Errors": {
            "type": "object",
            "properties": {"errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}},
            "required": ["errors"],
            "additionalProperties": False,
        }
    }

    def response_schema(model: type, plugin: str) -> dict:
        """The $ref of a pydantic model's schema, its definitions hoisted into components."""
        name = f"{plugin}.{model.__name__}"
        if name not in schemas:
            schema = model.model_json_schema(mode="serialization",
                                             ref_template=f"#/components/schemas/{plugin}.{{model}}")
            for def_name, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(f"{plugin}.{def_name}", definition)
            schemas[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    operations = {}
    for bp in app.blueprints.values():
        for op in getattr(bp, "operations", []):
            operations[op.endpoint] = (bp, op)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        found = operations.get(rule.endpoint)
        if not found:
            continue
        bp, op = found
        path = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", r"{\2}", rule.rule)
        params = []
        for conv, name in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule.rule):
            params.append({"name": name, "in": "path", "required": True,
                           "schema": _CONVERTER_TYPES.get(conv, {"type": "string"})})
        plugin = app.extensions["grappe.blueprint_plugin"].get(bp.name, "core")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            body = op.form is not None and method in ("POST", "PUT", "PATCH")
            listing = op.paginated and method == "GET"
            operation: dict[str, Any] = {
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "summary": op.summary or rule.endpoint,
                "tags": [plugin],
                "parameters": list(params),
                "responses": {},
            }
            if listing:
                operation["parameters"] += [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 500}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ]
            success = response_schema(op.response, plugin) if op.response is not None else {"type": "object"}
            if listing:
                success = {
                    "type": "object",
                    "properties": {"items": {"type": "array", "items": success},
                                   "total": {"type": "integer", "minimum": 0},
                                   "limit": {"type": "integer", "minimum": 0},
                                   "offset": {"type": "integer", "minimum": 0}},
                    "required": ["items", "total", "limit", "offset"],
                    "additionalProperties": False,
                }
            for status in success_statuses(op, method):
                if status == 204:
                    operation["responses"]["204"] = {"description": "Done (no body)"}
                    continue
                described = _SUCCESS_DESCRIPTIONS.get(status, "Success")
                operation["responses"][str(status)] = {
                    "description": described, "content": {"application/json": {"schema": success}}}
            errors = {401, 403, 404, *op.errors}
            if body or listing:
                errors.add(400)
            if body:
                errors.add(422)
            for status in sorted(errors):
                operation["responses"][str(status)] = {
                    "description": ERROR_DESCRIPTIONS.get(status, "Error"),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}
            if op.public:
                operation["security"] = []
            if body:
                schema_name = f"{plugin}.{op.form.__name__}"
                schemas[schema_name] = form_schema(op.form)
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
                }
            if op.permission:
                operation["description"] = f"Needs the permission `{op.permission}`."
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Grappe API", "version": "1",
                 "description": "Modules: " + ", ".join(f"{i.name} {i.manifest.version}" for i in host.loaded())},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


# -- responses checked against the document (tests) -------------------------------------
def response_problem(app, endpoint: str, method: str, status: int, body: Any) -> str | None:
    """Why a JSON response body does not match what the OpenAPI document says of it, or None.

    Checked for the statuses the document describes with a schema: success bodies (the
    operation's ``response=`` model), and the ``Errors`` body of every error status it
    documents (400/401/403/404/409/413/422); a status it does not document is not checked.  With ``VALIDATE_API_RESPONSES`` (the test apps) every API
    response the test suite receives is checked this way (core.app).
    """
    import jsonschema

    cache = app.extensions.setdefault("grappe.response_schemas", {})
    if "document" not in cache:
        cache["document"] = openapi_document(app)
        cache["by_endpoint"] = {}
        for path_item in cache["document"]["paths"].values():
            for verb, operation in path_item.items():
                cache["by_endpoint"][(operation["operationId"].rpartition(".")[0], verb.upper())] = operation
    operation = cache["by_endpoint"].get((endpoint, method))
    if operation is None:
        return None
    described = operation["responses"].get(str(status), {})
    schema = described.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": cache["document"]["components"], **schema}
    errors = sorted(jsonschema.Draft202012Validator(root).iter_errors(body), key=lambda e: list(e.path))
    if not errors:
        return None
    first = errors[0]
    where = "/".join(str(p) for p in first.path) or "(body)"
    return f"{method} {endpoint} {status}: at {where}: {first.message[:300]}"
