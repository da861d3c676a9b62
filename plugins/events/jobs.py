"""Background jobs of the events plugin (declared through ``grappe_jobs``)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from core import audit, utcnow
from plugins.crm import api as crm

from . import mail
from .models import Event, Registration

INSERT_CHUNK = 1000


def _insert_ignoring_duplicates(session):
    """An INSERT that skips rows whose (event, person) exists already (both databases)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(Registration.__table__).on_conflict_do_nothing(index_elements=["event_id", "person_id"])


def invite_job(job, event_id: int, segment_id: int | None = None, person_ids: list[int] | None = None,
               base_url: str = "") -> dict:
    """``events.invite``: record consenting persons as *invited* and mail them their invitation."""
    from core import Cluster

    session = job.session
    cluster = session.get(Cluster, job.cluster_id)
    event = session.execute(select(Event).where(Event.id == event_id, Event.cluster_id == cluster.id)).scalar_one()
    wanted = crm.segment_person_ids(segment_id, cluster.id) if segment_id else list(dict.fromkeys(person_ids or []))
    consenting = crm.consenting_person_ids(wanted, "event_invitations")
    persons = crm.get_persons(consenting)
    reachable = [pid for pid in wanted if pid in persons and persons[pid].email and not persons[pid].erased]
    existing = dict(session.execute(
        select(Registration.person_id, Registration.status).where(Registration.event_id == event.id)).all())
    now = utcnow()
    new_rows = [{"event_id": event.id, "person_id": pid, "organization_id": persons[pid].organization_id,
                 "cluster_id": cluster.id, "status": "invited", "source": "invitation", "member_price": False,
                 "created_at": now, "updated_at": now}
                for pid in reachable if pid not in existing]
    session.commit()  # end the reads: on SQLite a write must not follow a stale read snapshot
    for start in range(0, len(new_rows), INSERT_CHUNK):
        session.execute(_insert_ignoring_duplicates(session), new_rows[start:start + INSERT_CHUNK])
        session.commit()
    # rowcount of a many-row INSERT is not reliable across drivers: count what is there now
    created = session.execute(
        select(func.count()).select_from(Registration)
        .where(Registration.event_id == event.id, Registration.created_at == now)
    ).scalar_one() if new_rows else 0
    # everyone invited and not mailed yet (this batch, and any earlier one that failed half-way)
    allowed = set(reachable)
    to_mail = [reg_id for reg_id, pid in session.execute(
        select(Registration.id, Registration.person_id)
        .where(Registration.event_id == event.id, Registration.status == "invited", Registration.invited_at.is_(None))
        .order_by(Registration.id)) if pid in allowed]
    sent, skipped = mail.deliver(job, cluster, "invitation", list(to_mail), base_url)
    session.commit()
    audit("events_invitations", cluster_id=cluster.id, object_type="events.event", object_id=event.id,
          summary=f"{sent} invitations sent for event #{event.id}", session=session)
    session.commit()
    return {
        "asked": len(wanted),
        "invited now": created,
        "mails sent": sent,
        "already on the list": sum(1 for pid in reachable if pid in existing),
        "no consent": len(set(wanted)) - len(consenting),
        "no e-mail address": len(consenting) - len(reachable),
    }


def due_reminders(cluster, *, within: timedelta) -> list:
    """Queue reminders for the cluster's open or closed events starting within ``within``."""
    from core import db

    from . import services

    now = utcnow()
    events = db.session.execute(
        select(Event).where(Event.cluster_id == cluster.id, Event.status.in_(("open", "closed")),
                            Event.starts_at > now, Event.starts_at <= now + within).order_by(Event.starts_at)
    ).scalars().all()
    jobs = [services.send_reminders(event, cluster=cluster) for event in events]
    return [job for job in jobs if job is not None]
