"""Pages and JSON API of the missions plugin (thin: forms validate, the core scopes)."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core import (
    ApiBlueprint, ClusterBlueprint, api_paginate, db, jsonable, paginate, requires, validate,
)

from .forms import MissionForm
from .models import Mission

bp = ClusterBlueprint("missions", __name__, template_folder="templates")
api = ApiBlueprint("missions_api", __name__)


@bp.route("/")
def index():
    stmt = select(Mission).order_by(Mission.starts_on.desc())
    page = paginate(db.session, stmt, page=request.args.get("page", 1, type=int), per_page=50,
                    sort=request.args.get("sort", ""), sortable={"title": Mission.title, "starts_on": Mission.starts_on})
    return render_template("missions/index.html", page=page)


@bp.route("/new", methods=["GET", "POST"])
@requires("missions.edit")
def create():
    form = MissionForm()
    if form.validate_on_submit():
        mission = Mission()
        form.populate_obj(mission)
        db.session.add(mission)  # cluster_id is stamped by the core
        db.session.commit()
        flash(_("Mission %(title)s created.", title=mission.title), "success")
        return redirect(url_for("missions.index"))
    return render_template("missions/form.html", form=form), 400 if form.errors else 200


def mission_json(m: Mission) -> dict:
    return {"id": m.id, "title": m.title, "country": m.country, "starts_on": jsonable(m.starts_on),
            "ends_on": jsonable(m.ends_on), "places": m.places, "price": jsonable(m.price)}


@api.operation("/missions", summary="List the cluster's missions", paginated=True)
def api_list():
    return jsonify(api_paginate(db.session, select(Mission).order_by(Mission.starts_on), mission_json))


@api.operation("/missions", methods=["POST"], summary="Create a mission", form=MissionForm)
@requires("missions.edit")
def api_create():
    form = validate(MissionForm)  # 422 {"errors": {...}} when invalid
    mission = Mission()
    form.populate_obj(mission)
    db.session.add(mission)
    db.session.commit()
    return jsonify(mission_json(mission)), 201
