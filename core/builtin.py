"""The core's own pages and hook implementations (registered like a plugin, always on)."""

from __future__ import annotations

from flask import (
    Blueprint, Response, abort, current_app, flash, g, jsonify, make_response, redirect, render_template,
    request, url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import lazyload, selectinload
from urllib.parse import urlsplit

from . import auth, modules
from . import jobs as job_service
from .api import ApiBlueprint, form_errors, openapi_document
from .audit import record
from .auth import Permission, federation_admin_required, public, requires
from .database import db
from .forms import (
    AccountForm, ClusterCreateForm, ClusterProfileForm, ConfirmForm, LoginForm, RoleForm,
)
from .hookspecs import hookimpl
from .inputs import page_arg
from .models import ROLES, AuditEntry, Cluster, ClusterSetting, Job, RoleAssignment, User
from .toolkit import cluster_hooks, get_or_404
from .ui import NavItem, Page, Widget, paginate

bp = Blueprint("core", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/core")
api_bp = ApiBlueprint("core_api", __name__)


# -- hook implementations of the core ------------------------------------------
@hookimpl
def grappe_permissions():
    return [
        Permission("core.audit", _l("Read the audit log"), "manager"),
        Permission("core.admin", _l("Administer the cluster (modules, profile, roles)"), "admin"),
    ]


@hookimpl(trylast=True)
def grappe_nav_items(cluster, user):
    return [
        NavItem(_l("Dashboard"), "core.dashboard", order=0),
        NavItem(_l("Jobs"), "core.jobs", order=900),
        NavItem(_l("Audit log"), "core.audit", order=910, permission="core.audit"),
        NavItem(_l("Administration"), "core.cluster_admin", order=920, permission="core.admin"),
    ]


@hookimpl(trylast=True)
def grappe_dashboard_widgets(cluster, user):
    count = db.session.execute(
        select(func.count()).select_from(Job).where(Job.status.in_(("queued", "running")))
    ).scalar_one()
    names = ", ".join(sorted(g.enabled_modules)) or _("none")
    return [Widget(_l("This cluster"), Markup(
        "<p>{}</p><p>{}</p>".format(
            escape(_("Modules enabled: %(names)s", names=names)),
            escape(_("Jobs running: %(n)s", n=count)),
        )), order=1000)]


# -- shell -------------------------------------------------------------------------
def shell_context() -> dict:
    cluster = g.get("cluster")
    ctx: dict = {"current_cluster": cluster, "role_names": ROLES}
    if not current_user or not current_user.is_authenticated:
        return ctx
    ctx["my_clusters"] = my_clusters()
    if cluster is not None:
        items = [i for group in cluster_hooks().grappe_nav_items(cluster=cluster, user=current_user) for i in group]
        ctx["nav_items"] = sorted(
            (i for i in items if i.permission is None or auth.can(current_user, i.permission, cluster)),
            key=lambda i: (i.order, str(i.label)),
        )
        ctx["my_role"] = current_user.role_in(cluster.id)
    return ctx


def my_clusters(with_modules: bool = False) -> list[Cluster]:
    """The clusters the user works in (cached for the request); ``with_modules`` loads their modules."""
    if "my_clusters" not in g:
        stmt = select(Cluster).order_by(Cluster.name).options(
            selectinload(Cluster.modules) if with_modules else lazyload(Cluster.modules))
        if not current_user.is_federation_admin:
            stmt = stmt.join(RoleAssignment, RoleAssignment.cluster_id == Cluster.id).where(
                RoleAssignment.user_id == current_user.id)
        g.my_clusters = db.session.execute(stmt).scalars().all()
    return g.my_clusters


def _safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (no open redirect).

    Browsers read ``/\\host`` as ``//host`` and drop tabs and newlines, so those are refused too.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if any(c == "\\" or ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target




# -- authentication --------------------------------------------------------------
def _wait_message(seconds: int) -> str:
    return ngettext("Too many attempts: try again in %(num)s second.",
                    "Too many attempts: try again in %(num)s seconds.", seconds)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        address = request.remote_addr or "unknown"
        now = auth.throttle_now()
        user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        wait = auth.login_refusal(email, address, user, now=now)
        if wait:
            # refused before the password is even checked: guessing gets nothing, and the
            # answer is the same whether an account has this e-mail or not
            form.password.errors.append(_wait_message(wait))
            response = make_response(render_template("core/login.html", form=form), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        if user is None:
            auth.check_password(None, form.password.data)  # same work as for an account: no e-mail probing by timing
        if user is None or not user.active or not auth.check_password(user, form.password.data):
            wait = auth.register_login_failure(email, address, user, now=now)
            form.password.errors.append(_("Wrong e-mail or password."))
            if wait:
                form.password.errors.append(_wait_message(wait))
            return render_template("core/login.html", form=form), 401
        auth.register_login_success(user, email)
        record("login", object_type="core.user", object_id=user.id, summary=user.email, user_id=user.id)
        db.session.commit()
        login_user(user, remember=form.remember.data)
        return redirect(_safe_next(request.args.get("next")) or url_for("core.home"))
    return render_template("core/login.html", form=form), 400 if form.errors else 200


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("core.login"))


@bp.route("/")
def home():
    clusters = my_clusters(with_modules=True)
    if len(clusters) == 1 and not current_user.is_federation_admin:
        return redirect(url_for("core.dashboard", cluster=clusters[0].slug))
    return render_template("core/home.html", clusters=clusters)


@bp.route("/account", methods=["GET", "POST"])
def account():
    form = AccountForm(obj=current_user, user=current_user)
    if form.validate_on_submit():
        current_user.name = form.name.data
        current_user.language = form.language.data
        if form.new_password.data:
            current_user.password_hash = auth.hash_password(form.new_password.data)
            record("password_change", object_type="core.user", object_id=current_user.id, summary=current_user.email)
        db.session.commit()
        flash(_("Your account is saved."), "success")
        return redirect(url_for("core.account"))
    return render_template("core/account.html", form=form), 400 if form.errors else 200


# -- per-cluster pages -----------------------------------------------------------
@bp.route("/<cluster>/")
def dashboard():
    widgets = [w for group in cluster_hooks().grappe_dashboard_widgets(cluster=g.cluster, user=current_user) for w in group]
    widgets.sort(key=lambda w: (w.order, str(w.title)))
    return render_template("core/dashboard.html", widgets=widgets)


@bp.route("/<cluster>/search")
def search():
    query = request.args.get("q", "").strip()[:200]
    results = []
    if query:
        for group in cluster_hooks().grappe_search(cluster=g.cluster, query=query, limit=20):
            results.extend(group)
    return render_template("core/search.html", query=query, results=results)


@bp.route("/<cluster>/audit")
@requires("core.audit")
def audit():
    stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())  # scoped by the core
    filters = {k: request.args.get(k, "").strip() for k in ("action", "object_type", "user")}
    if filters["action"]:
        stmt = stmt.where(AuditEntry.action == filters["action"])
    if filters["object_type"]:
        stmt = stmt.where(AuditEntry.object_type == filters["object_type"])
    if filters["user"]:
        stmt = stmt.join(User, User.id == AuditEntry.user_id).where(User.email.contains(filters["user"].lower()))
    page = paginate(db.session, stmt, page=page_arg(), per_page=current_app.config["PAGE_SIZE"])
    actions = db.session.execute(select(AuditEntry.action).distinct()).scalars().all()
    return render_template("core/audit.html", page=page, filters=filters, actions=sorted(actions))


@bp.route("/<cluster>/jobs")
def jobs():
    job_service.sweep_quietly(g.cluster.id)  # jobs whose worker died show as failed, retryable
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id.desc())  # scoped by the core
    page = paginate(db.session, stmt, page=page_arg(), per_page=current_app.config["PAGE_SIZE"])
    return render_template("core/jobs.html", page=page, form=ConfirmForm(), may_retry=may_retry)


def _cluster_job(job_id: int) -> Job:
    job_service.sweep_quietly(g.cluster.id)
    return get_or_404(Job, job_id)


def _may_start_again(job: Job) -> bool:
    """Does the current user hold what starting this job needed (its module enabled here)?"""
    if job.name not in current_app.extensions["grappe.jobs"]["registry"]:
        return False
    owner = job.name.partition(".")[0]
    host = current_app.extensions["grappe.host"]
    if owner in host.plugins and owner not in g.enabled_modules:
        return False
    if not current_user.has_role(g.cluster.id, "staff"):
        return False
    if job.permission is None:  # started outside a request (or before permissions were kept)
        return current_user.has_role(g.cluster.id, "admin")
    if not job.permission:
        return True
    try:
        return auth.can(current_user, job.permission, g.cluster)
    except LookupError:  # no plugin declares it any more
        return current_user.has_role(g.cluster.id, "admin")


def may_retry(job: Job) -> bool:
    """Is ``job`` failed, and may the current user start it again?"""
    return job.status == "failed" and _may_start_again(job)


@bp.route("/<cluster>/jobs/<int:job_id>")
def job(job_id: int):
    job = _cluster_job(job_id)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(job_json(job))
    return render_template("core/job.html", job=job, form=ConfirmForm(), may_retry=may_retry)


@bp.route("/<cluster>/jobs/<int:job_id>/retry", methods=["POST"])
def job_retry(job_id: int):
    """Queue a failed job again, with its arguments (same permission as starting it; audited)."""
    job = _cluster_job(job_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not _may_start_again(job):
        abort(403)
    if job_service.retry(job.id, user_id=current_user.id):
        flash(_("The job is queued again."), "success")
    else:  # a second press, or it is not failed: nothing to do
        flash(_("This job is not failed (it may have been retried already): it was not queued again."), "info")
    return redirect(url_for("core.job", job_id=job.id))


def job_json(job: Job) -> dict:
    return {"id": job.id, "name": job.name, "label": job.label, "status": job.status, "done": job.done,
            "total": job.total, "percent": job.percent, "message": job.message, "result": job.result}


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
    from .purge import PurgeError, purge

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
    form = RoleForm()
    host = current_app.extensions["grappe.host"]
    if not form.validate_on_submit():
        return render_template("core/cluster_admin.html", host=host, form=ConfirmForm(), roles=_admin_lists()["roles"], role_form=form), 400
    user = db.session.execute(select(User).where(User.email == form.email.data.lower())).scalar_one_or_none()
    if user is None:
        form.email.errors.append(_("No account has this e-mail; create it with 'grappe users create'."))
        return render_template("core/cluster_admin.html", host=host, form=ConfirmForm(), roles=_admin_lists()["roles"], role_form=form), 400
    assignment = db.session.get(RoleAssignment, (user.id, g.cluster.id))
    if not form.role.data:
        if assignment is not None:
            db.session.delete(assignment)
    elif assignment is None:
        db.session.add(RoleAssignment(user_id=user.id, cluster_id=g.cluster.id, role=form.role.data))
    else:
        assignment.role = form.role.data
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


# -- federation admin -------------------------------------------------------------
@bp.route("/admin/clusters", methods=["GET", "POST"])
@federation_admin_required
def clusters():
    form = ClusterCreateForm()
    if form.validate_on_submit():
        from .services import create_cluster, ClusterError

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


# -- API ---------------------------------------------------------------------------
@bp.route("/healthz")
@public
def healthz():
    """Liveness and database check for load balancers (no data, no login)."""
    from sqlalchemy import text

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


@api_bp.operation("/modules", summary="Modules enabled for the cluster")
def api_modules():
    host = current_app.extensions["grappe.host"]
    return jsonify({"items": [
        {"name": i.name, "label": str(i.label), "version": i.manifest.version, "enabled": i.name in g.enabled_modules}
        for i in host.loaded()
    ]})


@api_bp.operation("/jobs/<int:job_id>", summary="A background job's progress")
def api_job(job_id: int):
    return jsonify(job_json(_cluster_job(job_id)))
