"""Interactions: the current cluster's visits, calls, meetings, e-mails and notes with an
organization (and the persons met), their follow-ups, and the timeline of a record.

Interactions are cluster-owned: the core scopes every query here to the current cluster.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

from flask import g, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from core import TimelineEntry, cluster_hooks, db, today

from .models import Interaction, InteractionPerson, Person


def save_interaction(interaction: Interaction | None, form, *, author_id: int | None) -> Interaction:
    """Record (or change) an interaction from a validated :class:`InteractionForm`."""
    if interaction is None:
        interaction = Interaction(author_id=author_id)
        db.session.add(interaction)
    interaction.organization_id = form.organization_id.data
    interaction.kind = form.kind.data
    interaction.date = form.date.data
    interaction.subject = form.subject.data
    interaction.summary = form.summary.data or ""
    interaction.follow_up_on = form.follow_up_on.data
    interaction.follow_up_done = bool(form.follow_up_done.data)
    ids = sorted(set(form.persons.data or []))
    interaction.persons = list(db.session.execute(select(Person).where(Person.id.in_(ids))).scalars()) if ids else []
    db.session.flush()
    return interaction


def delete_interaction(interaction: Interaction) -> None:
    db.session.delete(interaction)
    db.session.flush()


def set_follow_up_done(interaction: Interaction, done: bool) -> None:
    """Mark an interaction's follow-up done (or open again)."""
    interaction.follow_up_done = bool(done)
    db.session.flush()


def followups(author_id: int, *, include_done: bool = False, limit: int = 200) -> list[Interaction]:
    """An author's follow-ups in the current cluster, the most urgent first."""
    stmt = (select(Interaction).options(joinedload(Interaction.organization))
            .where(Interaction.author_id == author_id, Interaction.follow_up_on.is_not(None)))
    if not include_done:
        stmt = stmt.where(Interaction.follow_up_done.is_(False))
    stmt = stmt.order_by(Interaction.follow_up_done, Interaction.follow_up_on, Interaction.id).limit(limit)
    return list(db.session.execute(stmt).scalars())


def followups_due_count(author_id: int, on: date | None = None) -> int:
    return db.session.execute(select(func.count(Interaction.id)).where(
        Interaction.author_id == author_id, Interaction.follow_up_done.is_(False),
        Interaction.follow_up_on <= (on or today()))).scalar_one()



def timeline(object_type: str, object_id: int, *, limit: int = 50) -> list[dict]:
    """The request's cluster's interactions with a record merged with other plugins' entries, newest first.

    Other plugins answer the core hook ``grappe_timeline_entries`` (only those the
    cluster has enabled: ``cluster_hooks()``): one hook call for the page.
    """
    cluster = g.cluster
    # the author's name only: not the user's roles (lazyload("*") stops the User's eager loads)
    stmt = select(Interaction).options(joinedload(Interaction.author).lazyload("*"))
    if object_type == "crm.organization":
        stmt = stmt.where(Interaction.organization_id == object_id)
    else:
        stmt = stmt.options(joinedload(Interaction.organization)).where(Interaction.id.in_(
            select(InteractionPerson.interaction_id).where(InteractionPerson.person_id == object_id)))
    interactions = db.session.execute(
        stmt.order_by(Interaction.date.desc(), Interaction.id.desc()).limit(limit)).scalars().all()
    tz = cluster.zone
    edit_url = url_for("crm.interaction_edit", interaction_id=0).replace("/0/", "/{}/")
    rows = [{
        "when": datetime.combine(i.date, time(12), tzinfo=tz),
        "entry": TimelineEntry(when=datetime.combine(i.date, time(12), tzinfo=tz), kind=i.kind, title=i.subject,
                               plugin="crm", url=edit_url.format(i.id), detail=i.summary),
        "interaction": i,
    } for i in interactions]
    for group in cluster_hooks().grappe_timeline_entries(
            cluster=cluster, object_type=object_type, object_id=object_id, limit=limit):
        for entry in group or []:
            when = entry.when if entry.when.tzinfo else entry.when.replace(tzinfo=timezone.utc)
            rows.append({"when": when, "entry": entry, "interaction": None})
    rows.sort(key=lambda r: r["when"], reverse=True)
    return rows[:limit]

