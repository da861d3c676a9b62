"""The core's two blueprints: its pages (``core``) and its JSON API (``core_api``)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

from ..api import ApiBlueprint

# the core's templates/ and static/ folders are in core/, one level up
bp = Blueprint("core", __name__, root_path=str(Path(__file__).resolve().parent.parent),
               template_folder="templates", static_folder="static", static_url_path="/static/core")
api_bp = ApiBlueprint("core_api", __name__)
