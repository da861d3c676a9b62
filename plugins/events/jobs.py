"""Background jobs of the events plugin (declared through ``grappe_jobs``).

A job runs in ``job.session``, scoped to the job's cluster by the core; its work is
committed by the job runner, and these jobs commit per chunk too, so that a job that
fails half-way resumes without inviting or mailing anyone twice.

- ``events.send_mails`` (:func:`send_mails_job`): one kind of mail to registrations (queued
  by :func:`.mail.queue`), or the double opt-in mail of a public registration;
- ``events.invite`` (:func:`invite_job`): record consenting persons as *invited* and mail them.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from core import audit, cluster_by_id, mail_urls, send_mails, utcnow
from plugins.crm import api as crm

from . import mail
from .models import Event, Registration

INSERT_CHUNK = 1000


# -- mails ------------------------------------------------------------------------------------
def send_mails_job(job, kind: str, registration_ids: list[int] | None = None, request: dict | None = None,
                   base_url: str = "") -> dict:
    """``events.send_mails``: render and send one kind of mail (progress per chunk)."""
    cluster = cluster_by_id(job.cluster_id, session=job.session)
    if kind == "confirm":
        data = request or {}
        send_mails(job, [data], lambda part: [(data, mail.confirm_request_message(job.session, cluster, data,
                                                                                  base_url))])
        return {"sent": 1}
    sent, skipped = deliver(job, cluster, kind, list(registration_ids or []), base_url)
    return {"sent": sent, "skipped (no address)": skipped}


def deliver(job, cluster, kind: str, ids: list[int], base: str) -> tuple[int, int]:
    """Send one kind of mail to these registrations over one connection; return (sent, skipped).

    Stamps ``invited_at`` / ``reminded_at`` for what was sent, chunk by chunk (a failed
    batch resumes without sending twice).
    """
    with mail_urls(base):
        return send_mails(job, ids, lambda chunk: mail.registration_messages(job.session, cluster, kind, chunk),
                          after_chunk=lambda done: _stamp(job.session, kind, done))


def _stamp(session, kind: str, ids: list[int]) -> None:
    column = {"invitation": "invited_at", "reminder": "reminded_at"}.get(kind)
    if column and ids:
        # end the read transaction first: on SQLite a write cannot follow a read whose
        # snapshot went stale (the progress reports are written by another connection)
        session.commit()
        session.execute(update(Registration).where(Registration.id.in_(ids))
                        .values({column: utcnow()}).execution_options(synchronize_session=False))
        session.commit()


# -- invitations ------------------------------------------------------------------------------
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
    session = job.session
    cluster = cluster_by_id(job.cluster_id, session=session)
    event = session.execute(select(Event).where(Event.id == event_id)).scalar_one()  # scoped to the job's cluster
    wanted = crm.segment_person_ids(segment_id, cluster.id) if segment_id else list(dict.fromkeys(person_ids or []))
    consenting = crm.consenting_person_ids(wanted, "event_invitations")
    persons = crm.get_persons(consenting)
    reachable = [pid for pid in wanted if pid in persons and persons[pid].email and not persons[pid].erased]
    existing = dict(session.execute(
        select(Registration.person_id, Registration.status).where(Registration.event_id == event.id)).all())
    now = utcnow()
    # a Core INSERT is not stamped by the core: the rows carry their cluster
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
    sent, skipped = deliver(job, cluster, "invitation", list(to_mail), base_url)
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
