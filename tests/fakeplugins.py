"""Throwaway plugins for core tests, built as modules at run time."""

from __future__ import annotations

import sys
import types

from flask import jsonify
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange
from flask_wtf import FlaskForm

from core import ApiBlueprint, ClusterBlueprint, Manifest, NavItem, TimelineEntry, Widget, hookimpl, validate


def make_plugin(name: str, depends=(), *, pages=True, hooks=None, raise_on_import=False, module_name=None):
    """Build a plugin module named ``name`` with a page, an API, nav, widget and timeline."""
    mod = types.ModuleType(module_name or f"fakeplugin_{name}")
    if raise_on_import:
        raise RuntimeError("boom")
    mod.manifest = Manifest(name=name, version="0.1", label=name.title(), depends=tuple(depends))
    calls = mod.calls = []

    class ThingForm(FlaskForm):
        title = StringField("Title", validators=[DataRequired(), Length(max=20)])
        size = IntegerField("Size", validators=[DataRequired(), NumberRange(min=1, max=10)])

    mod.ThingForm = ThingForm

    if pages:
        bp = ClusterBlueprint(name, __name__)
        api = ApiBlueprint(f"{name}_api", __name__)

        @bp.route("/")
        def index():
            return f"{name} index"

        @bp.route("/things", methods=["POST"])
        def create_thing():
            return f"{name} created", 201

        @api.operation("/things", methods=["GET"], summary="List things", paginated=True)
        def api_things():
            return jsonify({"items": [], "total": 0})

        @api.operation("/things", methods=["POST"], summary="Create a thing", form=ThingForm)
        def api_create_thing():
            form = validate(ThingForm)
            return jsonify({"title": form.title.data, "size": form.size.data}), 201

        class Hooks:
            @staticmethod
            @hookimpl
            def grappe_blueprints():
                return [bp, api]

        mod.grappe_blueprints = Hooks.grappe_blueprints

    @hookimpl
    def grappe_nav_items(cluster, user):
        calls.append(("nav", cluster.slug))
        return [NavItem(f"{name.title()} menu", f"{name}.index")] if pages else []

    @hookimpl
    def grappe_dashboard_widgets(cluster, user):
        calls.append(("widget", cluster.slug))
        return [Widget(f"{name.title()} widget", f"{name} body")]

    @hookimpl
    def grappe_timeline_entries(cluster, object_type, object_id, limit):
        from core import utcnow

        calls.append(("timeline", cluster.slug))
        return [TimelineEntry(when=utcnow(), kind="thing", title=f"{name} entry", plugin=name)]

    mod.grappe_nav_items = grappe_nav_items
    mod.grappe_dashboard_widgets = grappe_dashboard_widgets
    mod.grappe_timeline_entries = grappe_timeline_entries
    for hook_name, fn in (hooks or {}).items():
        setattr(mod, hook_name, fn)
    sys.modules[mod.__name__] = mod
    return mod
