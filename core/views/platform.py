"""Endpoints of the platform itself: the health check, the OpenAPI document, the modules API."""

from __future__ import annotations

from flask import current_app, g, jsonify
from sqlalchemy import text

from ..api import openapi_document, serialize
from ..auth import public
from ..database import db
from ..serializers import ModuleListOut
from .blueprint import api_bp, bp


@bp.route("/healthz")
@public
def healthz():
    """Liveness and database check for load balancers (no data, no login)."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        db.session.rollback()
        return jsonify({"status": "database unavailable"}), 503
    return jsonify({"status": "ok"})


@bp.route("/api/v1/openapi.json")
@public
def openapi():
    return jsonify(openapi_document(current_app))


@api_bp.operation("/modules", summary="Modules enabled for the cluster", response=ModuleListOut)
def api_modules():
    host = current_app.extensions["grappe.host"]
    return jsonify(serialize(ModuleListOut, {"items": [
        {"name": i.name, "label": str(i.label), "version": i.manifest.version, "enabled": i.name in g.enabled_modules}
        for i in host.loaded()
    ]}))
