"""Background jobs of the cluster: the list, one job's progress, retrying a failed one, the job API."""

from __future__ import annotations

from flask import abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import auth
from .. import jobs as job_service
from ..api import serialize
from ..database import db
from ..forms import ConfirmForm
from ..inputs import page_arg
from ..lookups import job_or_404
from ..models import Job
from ..serializers import JobOut
from ..ui import paginate
from .blueprint import api_bp, bp


@bp.route("/<cluster>/jobs")
def jobs():
    job_service.sweep_quietly(g.cluster.id)  # jobs whose worker died show as failed, retryable
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id.desc())  # scoped by the core
    page = paginate(db.session, stmt, page=page_arg(), per_page=current_app.config["PAGE_SIZE"])
    return render_template("core/jobs.html", page=page, form=ConfirmForm(), may_retry=may_retry)


def _cluster_job(job_id: int) -> Job:
    job_service.sweep_quietly(g.cluster.id)
    return job_or_404(job_id)


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
        return jsonify(serialize(JobOut, job))
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


@api_bp.operation("/jobs/<int:job_id>", summary="A background job's progress", response=JobOut)
def api_job(job_id: int):
    return jsonify(serialize(JobOut, _cluster_job(job_id)))
