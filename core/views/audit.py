"""The cluster's audit log, filtered by action, object type and user."""

from __future__ import annotations

from flask import current_app, render_template, request
from sqlalchemy import select

from ..auth import requires
from ..database import db
from ..inputs import page_arg
from ..models import AuditEntry, User
from ..ui import paginate
from .blueprint import bp


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
