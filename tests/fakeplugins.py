"""Throwaway plugins for core tests, built as modules at run time."""

from __future__ import annotations

import sys
import types

from flask import abort, g, jsonify
from flask_wtf import FlaskForm
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from core import (
    ApiBlueprint, Base, ClusterBlueprint, ClusterScoped, Manifest, NavItem, TimelineEntry, Widget, api_paginate,
    db, hookimpl, hookspec, validate,
)


class ThingForm(FlaskForm):
    """The one validation path of a fake plugin's records (page and API)."""

    title = StringField("Title", validators=[DataRequired(), Length(max=20)])
    size = IntegerField("Size", validators=[DataRequired(), NumberRange(min=1, max=10)])


class KeeperForm(ThingForm):
    sharp = BooleanField("Sharp")


class KeeperThing(ClusterScoped, Base):
    """A cluster-owned row of the fake plugin ``keeper`` (its table is created by the tests)."""

    __tablename__ = "keeper_thing"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(default=1)
    sharp: Mapped[bool] = mapped_column(default=False)

    def __str__(self) -> str:
        return self.title


def make_plugin(name: str, depends=(), *, pages=True, hooks=None, raise_on_import=False, module_name=None,
                description=""):
    """Build a plugin module named ``name`` with a page, an API, nav, widget and timeline.

    Every per-cluster hook call is logged in ``module.calls`` as ``(kind, cluster slug)``.
    ``hooks`` adds or replaces hook functions (``{"grappe_jobs": fn}``).
    """
    mod = types.ModuleType(module_name or f"fakeplugin_{name}")
    if raise_on_import:
        raise RuntimeError("boom")
    mod.manifest = Manifest(name=name, version="0.1", label=name.title(), description=description,
                            depends=tuple(depends))
    calls = mod.calls = []
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

        @bp.route("/things/<int:thing_id>", methods=["GET", "PUT", "DELETE"])
        def thing(thing_id):
            return f"{name} thing {thing_id}"

        @api.operation("/things", methods=["GET"], summary="List things", paginated=True)
        def api_things():
            return jsonify({"items": [], "total": 0, "limit": 50, "offset": 0})

        @api.operation("/things", methods=["POST"], summary="Create a thing", form=ThingForm)
        def api_create_thing():
            form = validate(ThingForm)
            return jsonify({"title": form.title.data, "size": form.size.data}), 201

        @api.operation("/things/<int:thing_id>", methods=["PATCH", "DELETE"], summary="Change a thing", form=ThingForm)
        def api_thing(thing_id):
            return jsonify({"id": thing_id})

        mod.blueprint, mod.api = bp, api

        @hookimpl
        def grappe_blueprints():
            return [bp, api]

        mod.grappe_blueprints = grappe_blueprints

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

    @hookimpl
    def grappe_module_toggled(cluster, module, enabled):
        calls.append(("toggled", cluster.slug, module, enabled))

    mod.grappe_nav_items = grappe_nav_items
    mod.grappe_dashboard_widgets = grappe_dashboard_widgets
    mod.grappe_timeline_entries = grappe_timeline_entries
    mod.grappe_module_toggled = grappe_module_toggled
    for hook_name, fn in (hooks or {}).items():
        setattr(mod, hook_name, fn)
    sys.modules[mod.__name__] = mod
    return mod


def make_keeper_plugin():
    """The plugin ``keeper``: cluster-owned rows in ``keeper_thing``, a page and a paginated API.

    Create its table with ``KeeperThing.__table__.create(db.engine, checkfirst=True)``.
    """
    bp = ClusterBlueprint("keeper", __name__)
    api = ApiBlueprint("keeper_api", __name__)

    @bp.route("/")
    def index():
        things = db.session.execute(select(KeeperThing).order_by(KeeperThing.id)).scalars()
        return "keeper: " + ", ".join(t.title for t in things)

    @api.operation("/things", summary="List things", paginated=True)
    def api_things():
        stmt = select(KeeperThing).order_by(KeeperThing.id)
        return jsonify(api_paginate(db.session, stmt, lambda t: {"id": t.id, "title": t.title, "size": t.size}))

    def as_json(thing):
        return {"id": thing.id, "title": thing.title, "size": thing.size, "sharp": thing.sharp, "cluster": g.cluster.slug}

    @api.operation("/things", methods=["POST"], summary="Create a thing", form=KeeperForm)
    def api_create_thing():
        form = validate(KeeperForm)
        thing = KeeperThing()
        form.populate_obj(thing)
        db.session.add(thing)
        db.session.commit()
        return jsonify(as_json(thing)), 201

    @api.operation("/things/<int:thing_id>", methods=["PATCH"], summary="Change a thing", form=KeeperForm)
    def api_change_thing(thing_id):
        thing = db.session.get(KeeperThing, thing_id) or abort(404)
        form = validate(KeeperForm, obj=thing, partial=True)
        form.populate_obj(thing)
        db.session.commit()
        return jsonify(as_json(thing))

    @hookimpl
    def grappe_blueprints():
        return [bp, api]

    @hookimpl
    def grappe_nav_items(cluster, user):
        return [NavItem("Keeper things", "keeper.index")]

    return make_plugin("keeper", pages=False, hooks={
        "grappe_blueprints": grappe_blueprints, "grappe_nav_items": grappe_nav_items,
    })


class BillingSpecs:
    """Hook specifications a fake ``billing`` plugin adds (as pytest plugins do)."""

    @staticmethod
    @hookspec
    def billing_billable_items(cluster):
        """Return ``(label, amount)`` pairs billable for a cluster."""


def make_billing_plugin():
    """A plugin that adds the hook ``billing_billable_items`` and collects it per cluster."""

    @hookimpl
    def grappe_addhooks(pluginmanager):
        pluginmanager.add_hookspecs(BillingSpecs)

    return make_plugin("billing", hooks={"grappe_addhooks": grappe_addhooks})


def make_billable_plugin(name="events", *, optional=True):
    """A plugin implementing ``billing_billable_items`` (optionally: it works without billing)."""

    @hookimpl(optionalhook=optional)
    def billing_billable_items(cluster):
        return [(f"{name} item of {cluster.slug}", 10)]

    return make_plugin(name, hooks={"billing_billable_items": billing_billable_items})
