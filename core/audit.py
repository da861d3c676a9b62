"""The audit log: who created, changed or deleted what, and when.

Models with ``__audited__ = True`` are logged automatically when a session flushes
(field-level changes for updates; ``__audit_exclude__`` lists fields never logged).
An entry belongs to the record's cluster (its ``cluster_id``, or the attribute named by
``__audit_cluster__``), else to the cluster of the request.  Other events (logins,
module changes) call :func:`record`; :func:`history` reads one record's entries.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import has_request_context
from flask_login import current_user
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from .database import changes_of, db
from .models import AuditEntry, Cluster


def _jsonable(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _current_user_id():
    if has_request_context():
        try:
            if current_user and current_user.is_authenticated:
                return current_user.id
        except Exception:  # no login manager (CLI)
            return None
    return None


def object_type_of(obj) -> str:
    """``<plugin>.<model>`` from the table name, e.g. ``crm.organization``."""
    table = obj.__table__.name
    plugin, _, rest = table.partition("_")
    return f"{plugin}.{rest}"


def record(action: str, *, cluster_id=None, object_type="", object_id="", summary="",
           changes=None, user_id=None, session: Session | None = None) -> AuditEntry:
    """Add an audit entry to the session (committed with the caller's transaction)."""
    entry = AuditEntry(
        action=action,
        cluster_id=cluster_id,
        object_type=object_type,
        object_id=str(object_id or ""),
        summary=summary[:300],
        changes=changes,
        user_id=user_id if user_id is not None else _current_user_id(),
    )
    (session or db.session).add(entry)
    return entry


def history(object_type: str, object_id, *, cluster_id: int | None = None, limit: int = 50) -> list[AuditEntry]:
    """The audit entries about one record, newest first (a record's change history).

    :param cluster_id: keep only the entries made in this cluster or outside any (the
        record's history as a cluster sees it); None: every cluster's entries.  The read
        goes across clusters by design (``all_clusters``): this parameter is its scope.
    """
    from sqlalchemy import or_, select

    stmt = select(AuditEntry).where(AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id))
    if cluster_id is not None:
        stmt = stmt.where(or_(AuditEntry.cluster_id == cluster_id, AuditEntry.cluster_id.is_(None)))
    stmt = stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    return list(db.session.execute(stmt.execution_options(all_clusters=True)).scalars())


def _cluster_of(obj, session: Session):
    """The cluster an audited change belongs to: the record's own, else the session's."""
    attribute = getattr(obj, "__audit_cluster__", None)
    if attribute is None and "cluster_id" in inspect(obj).mapper.columns:
        attribute = "cluster_id"
    if attribute is not None:
        return getattr(obj, attribute)
    return session.info.get("cluster_id")


@event.listens_for(Session, "before_flush")
def _audit_flush(session: Session, _ctx, _instances) -> None:
    if session.info.get("no_audit"):
        return
    # a fresh list each flush: what a failed flush collected is never written later
    pending = session.info["_audit_pending"] = []
    for obj in session.new:
        if getattr(obj, "__audited__", False):
            pending.append(("create", obj, None))
    for obj in session.dirty:
        if getattr(obj, "__audited__", False) and session.is_modified(obj, include_collections=False):
            exclude = set(getattr(obj, "__audit_exclude__", ()))
            changes = {k: [_jsonable(o), _jsonable(n)] for k, (o, n) in changes_of(obj).items() if k not in exclude}
            if changes:
                pending.append(("update", obj, changes))
    for obj in session.deleted:
        if getattr(obj, "__audited__", False):
            pending.append(("delete", obj, None))


@event.listens_for(Session, "after_flush")
def _audit_after_flush(session: Session, _ctx) -> None:
    pending = session.info.pop("_audit_pending", None)
    if not pending:
        return
    user_id = _current_user_id()
    gone = {inspect(obj).identity for action, obj, _ in pending if action == "delete" and isinstance(obj, Cluster)}
    rows = []
    for action, obj, changes in pending:
        state = inspect(obj)
        # new rows have their key only after this event: read the primary key itself
        ident = state.identity or state.mapper.primary_key_from_instance(obj)
        cluster_id = _cluster_of(obj, session)
        rows.append({
            "action": action,
            "cluster_id": None if (cluster_id,) in gone else cluster_id,
            "object_type": object_type_of(obj),
            "object_id": "/".join(str(i) for i in ident),
            "summary": str(getattr(obj, "audit_label", None) or obj)[:300],
            "changes": changes,
            "user_id": user_id,
        })
    # inserted in the same transaction, without re-entering the ORM flush
    session.connection().execute(AuditEntry.__table__.insert(), [
        {**row, "at": datetime.now().astimezone()} for row in rows
    ])
