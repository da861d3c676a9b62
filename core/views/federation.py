"""Federation-wide administration: creating clusters, the installed modules of the platform."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ..auth import federation_admin_required
from ..database import db
from ..forms import ClusterCreateForm
from ..models import Cluster
from ..services import ClusterError, create_cluster
from .blueprint import bp


@bp.route("/admin/clusters", methods=["GET", "POST"])
@federation_admin_required
def clusters():
    form = ClusterCreateForm()
    if form.validate_on_submit():
        try:
            cluster = create_cluster(form.slug.data, form.name.data, **{
                k: form[k].data or "" for k in ("legal_name", "street", "postcode", "city", "country",
                                                 "siren", "vat_number", "timezone", "currency", "language")})
        except ClusterError as exc:
            form.slug.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Cluster %(name)s created.", name=cluster.name), "success")
            return redirect(url_for("core.cluster_admin", cluster=cluster.slug))
    all_clusters = db.session.execute(select(Cluster).order_by(Cluster.name)).scalars().all()
    return render_template("core/clusters.html", form=form, clusters=all_clusters), 400 if form.errors else 200


@bp.route("/admin/modules")
@federation_admin_required
def platform_modules():
    host = current_app.extensions["grappe.host"]
    all_clusters = db.session.execute(select(Cluster).order_by(Cluster.name)).scalars().all()
    return render_template("core/platform_modules.html", host=host, clusters=all_clusters)
