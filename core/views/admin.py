"""A cluster's administration: its modules (enable, disable, purge), who has access (roles and
extra rights granted one by one), its profile and logo."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import EmailField, SelectField
from wtforms.validators import DataRequired, Length

from .. import modules
from ..auth import grant_inert_reason, requires
from ..database import db
from ..forms import ClusterProfileForm, ConfirmForm, Form, RoleForm, email_validator
from ..lookups import user_by_email
from ..models import ClusterSetting, PermissionGrant, RoleAssignment, User
from ..services import (
    GrantError, grant_permission, grant_role, grantable_permissions, permission_grants, remove_role, revoke_permission,
)
from ..toolkit import get_or_404
from .blueprint import bp


class GrantForm(Form):
    """Grant one permission to one member of the cluster, on top of their role."""

    # ids of their own: the role form on the same page has an "email" field too
    email = EmailField(_l("E-mail of the user"), id="grant-email",
                       validators=[DataRequired(), Length(max=254), email_validator])
    # any name is taken here: grant_permission refuses an unknown one with a clear message
    permission = SelectField(_l("Extra right"), id="grant-permission", validators=[DataRequired(), Length(max=100)],
                             validate_choice=False)

    def __init__(self, *args, cluster=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.permission.choices = [("", _l("Choose a permission…"))] + [
            (p.name, f"{p.label} ({p.name})") for p in grantable_permissions(cluster or g.cluster)]


INERT_REASONS = {
    "unknown": _l("inactive: no installed module declares it"),
    "not_grantable": _l("inactive: it can no longer be granted"),
    "module_disabled": _l("inactive while its module is disabled"),
    "role": _l("inactive: needs at least the staff role"),
}


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


def _admin_lists(role_form: RoleForm | None = None, grant_form: GrantForm | None = None) -> dict:
    """What the page lists: the members with their role and extra rights, and its two forms."""
    roles = db.session.execute(
        select(RoleAssignment).where(RoleAssignment.cluster_id == g.cluster.id).join(User).order_by(User.email)
    ).scalars().all()
    permissions = current_app.extensions["grappe.permissions"]
    grants: dict[int, list[dict]] = {}
    for grant in permission_grants(g.cluster):
        reason = grant_inert_reason(grant.user, g.cluster, grant.permission)
        declared = permissions.get(grant.permission)
        grants.setdefault(grant.user_id, []).append({
            "grant": grant, "label": declared.label if declared else grant.permission,
            "inert": INERT_REASONS[reason] if reason else None})
    # people without a role here keep no grant (remove_role deletes them): listed if any remain
    members = [{"user": r.user, "role": r.role, "grants": grants.pop(r.user_id, [])} for r in roles]
    members += [{"user": items[0]["grant"].user, "role": None, "grants": items} for items in grants.values()]
    return {"roles": roles, "members": members, "role_form": role_form or RoleForm(),
            "grant_form": grant_form or GrantForm()}


def _render_admin(status: int = 200, **forms):
    host = current_app.extensions["grappe.host"]
    return render_template("core/cluster_admin.html", host=host, form=ConfirmForm(), **_admin_lists(**forms)), status


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
    if not form.validate_on_submit():
        return _render_admin(400, role_form=form)
    user = user_by_email(form.email.data)
    if user is None:
        form.email.errors.append(_("No account has this e-mail; create it with 'grappe users create'."))
        return _render_admin(400, role_form=form)
    if form.role.data:
        grant_role(user, g.cluster, form.role.data)
    else:
        remove_role(user, g.cluster)
    db.session.commit()
    flash(_("Access of %(email)s saved.", email=user.email), "success")
    return redirect(url_for("core.cluster_admin"))


@bp.route("/<cluster>/admin/grants", methods=["POST"])
@requires("core.admin")
def cluster_grant():
    """Grant one permission to a member of this cluster, on top of their role."""
    form = GrantForm()
    if not form.validate_on_submit():
        return _render_admin(400, grant_form=form)
    user = user_by_email(form.email.data)
    if user is None:
        form.email.errors.append(_("No account has this e-mail."))
        return _render_admin(400, grant_form=form)
    try:
        grant_permission(user, g.cluster, form.permission.data, granted_by=current_user)
    except GrantError as exc:
        form[exc.field].errors.append(str(exc))
        return _render_admin(400, grant_form=form)
    flash(_("%(email)s now has the extra right %(name)s.", email=user.email, name=form.permission.data), "success")
    return redirect(url_for("core.cluster_admin"))


@bp.route("/<cluster>/admin/grants/<int:grant_id>/revoke", methods=["POST"])
@requires("core.admin")
def cluster_revoke(grant_id):
    """Take back an extra right granted in this cluster (in force or inert)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    grant = get_or_404(PermissionGrant, grant_id, cluster_id=g.cluster.id)
    revoke_permission(grant.user, g.cluster, grant.permission)
    flash(_("The extra right %(name)s of %(email)s is revoked.", name=grant.permission, email=grant.user.email),
          "success")
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
