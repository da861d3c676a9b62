"""A cluster's administration: its modules (enable, disable, purge), who has access, its profile and logo."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from .. import modules
from ..auth import requires
from ..database import db
from ..forms import ClusterProfileForm, ConfirmForm, RoleForm
from ..lookups import user_by_email
from ..models import ClusterSetting, RoleAssignment, User
from ..services import grant_role, remove_role
from .blueprint import bp


@bp.route("/<cluster>/admin/", methods=["GET", "POST"])
@requires("core.admin")
def cluster_admin():
    """Modules of the cluster: enable, disable (never deletes data)."""
    host = current_app.extensions["grappe.host"]
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        name = request.form.get("module", "")
        action = request.form.get("action", "")
        try:
            if action == "enable":
                added = modules.enable(g.cluster, [name])
                flash(_("Enabled: %(names)s.", names=", ".join(added)) if added else _("Already enabled."), "success")
            elif action == "disable":
                modules.disable(g.cluster, name)
                flash(_("%(name)s is disabled; its data is kept and comes back when it is enabled again.", name=name), "success")
            else:
                abort(400)
        except modules.ModuleError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return render_template("core/cluster_admin.html", host=host, form=form, **_admin_lists()), 409
        return redirect(url_for("core.cluster_admin"))
    return render_template("core/cluster_admin.html", host=host, form=form, **_admin_lists())


def _admin_lists() -> dict:
    roles = db.session.execute(
        select(RoleAssignment).where(RoleAssignment.cluster_id == g.cluster.id).join(User).order_by(User.email)
    ).scalars().all()
    return {"roles": roles, "role_form": RoleForm()}


@bp.route("/<cluster>/admin/purge", methods=["POST"])
@requires("core.admin")
def cluster_purge():
    """Delete a disabled module's data for this cluster (typed confirmation)."""
    from ..purge import PurgeError, purge

    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    module = request.form.get("module", "")
    try:
        counts = purge(g.cluster, module, request.form.get("confirm", "").strip())
    except PurgeError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("core.cluster_admin")), 303
    flash(_("%(n)s records of %(module)s deleted for this cluster.", n=sum(counts.values()), module=module), "success")
    return redirect(url_for("core.cluster_admin"))


@bp.route("/<cluster>/admin/roles", methods=["POST"])
@requires("core.admin")
def cluster_roles():
    """Give, change or remove an existing account's access to this cluster."""
    form = RoleForm()
    host = current_app.extensions["grappe.host"]
    if not form.validate_on_submit():
        return render_template("core/cluster_admin.html", host=host, form=ConfirmForm(), roles=_admin_lists()["roles"], role_form=form), 400
    user = user_by_email(form.email.data)
    if user is None:
        form.email.errors.append(_("No account has this e-mail; create it with 'grappe users create'."))
        return render_template("core/cluster_admin.html", host=host, form=ConfirmForm(), roles=_admin_lists()["roles"], role_form=form), 400
    if form.role.data:
        grant_role(user, g.cluster, form.role.data)
    else:
        remove_role(user, g.cluster)
    db.session.commit()
    flash(_("Access of %(email)s saved.", email=user.email), "success")
    return redirect(url_for("core.cluster_admin"))


@bp.route("/<cluster>/admin/profile", methods=["GET", "POST"])
@requires("core.admin")
def cluster_profile():
    host = current_app.extensions["grappe.host"]
    settings = [s for _, group in host.call_each("grappe_cluster_settings") for s in group
                if s.key.split(".")[0] in g.enabled_modules]
    form_class = type("ClusterSettingsForm", (ClusterProfileForm,), {
        f"setting__{s.key.replace('.', '__')}": s.field() for s in settings
    })
    stored = {row.key: row.value for row in db.session.execute(
        select(ClusterSetting).where(ClusterSetting.cluster_id == g.cluster.id)).scalars()}
    form = form_class(obj=g.cluster)
    if request.method == "GET":
        for s in settings:
            form[f"setting__{s.key.replace('.', '__')}"].data = stored.get(s.key, s.default)
    if form.validate_on_submit():
        logo = form.logo.data
        for name in ("name", "legal_name", "street", "postcode", "city", "country", "siren", "vat_number",
                     "timezone", "currency", "language"):
            setattr(g.cluster, name, form[name].data or "")
        if logo:
            data = logo.read()
            if len(data) > 512 * 1024:
                form.logo.errors.append(_("The logo is larger than 512 kB."))
                db.session.rollback()
                return render_template("core/cluster_profile.html", form=form, settings=settings), 400
            g.cluster.logo, g.cluster.logo_mimetype = data, logo.mimetype
        for s in settings:
            value = form[f"setting__{s.key.replace('.', '__')}"].data
            row = db.session.get(ClusterSetting, (g.cluster.id, s.key))
            if row is None:
                db.session.add(ClusterSetting(cluster_id=g.cluster.id, key=s.key, value=value))
            else:
                row.value = value
        db.session.commit()
        flash(_("The cluster profile is saved."), "success")
        return redirect(url_for("core.cluster_profile"))
    return render_template("core/cluster_profile.html", form=form, settings=settings), 400 if form.errors else 200


@bp.route("/<cluster>/logo")
def cluster_logo():
    if not g.cluster.logo:
        abort(404)
    mimetype = g.cluster.logo_mimetype if g.cluster.logo_mimetype in ("image/png", "image/jpeg", "image/svg+xml") else "application/octet-stream"
    return Response(g.cluster.logo, mimetype=mimetype, headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})
