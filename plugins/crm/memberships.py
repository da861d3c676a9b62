"""Memberships: the current cluster's periods with an organization (member, prospect, former).

Memberships are cluster-owned: the core scopes every query here to the current cluster
(the request's, or the one a job or command acts as with ``db.for_cluster``).
"""

from __future__ import annotations

from datetime import date
from typing import Iterable

from sqlalchemy import Select, func, or_, select

from core import db, today

from .models import Membership

_CHUNK = 5000


def members_on(on: date | None = None) -> Select:
    """The ids of the organizations that are members of the current cluster on a day (today)."""
    on = on or today()
    return select(Membership.organization_id).where(
        Membership.status == "member",
        Membership.start_date <= on,
        or_(Membership.end_date.is_(None), Membership.end_date >= on),
    )


def member_ids(organization_ids: Iterable[int | None], on: date | None = None) -> set[int]:
    """Of these organizations, those that are members of the current cluster on a day (today)."""
    ids = sorted({int(i) for i in organization_ids if i is not None})
    out: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        out.update(db.session.execute(
            members_on(on).where(Membership.organization_id.in_(ids[start:start + _CHUNK]))).scalars())
    return out


def member_count(on: date | None = None) -> int:
    """How many organizations are members of the current cluster on a day (today)."""
    return db.session.execute(select(func.count(func.distinct(Membership.organization_id)))
                              .where(members_on(on).whereclause)).scalar_one()


def membership_status(memberships, on: date | None = None) -> str | None:
    """One organization's status from its periods in a cluster.

    ``member`` when a member period covers the day, else the status of the latest period
    (a member period that ended counts as ``former``).
    """
    on = on or today()
    status = None
    for m in sorted(memberships, key=lambda m: m.start_date):
        if m.status == "member" and m.covers(on):
            return "member"
        status = "former" if m.status == "member" and m.end_date and m.end_date < on else m.status
    return status


def membership_status_by_org(org_ids: list[int], on: date | None = None) -> dict[int, str]:
    """The current cluster's membership status of each organization (one query)."""
    if not org_ids:
        return {}
    periods: dict[int, list[Membership]] = {}
    for m in db.session.execute(select(Membership).where(Membership.organization_id.in_(org_ids))).scalars():
        periods.setdefault(m.organization_id, []).append(m)
    return {oid: membership_status(ms, on) for oid, ms in periods.items()}


def save_membership(membership: Membership | None, form) -> Membership:
    """Record (or change) a membership period of the current cluster from a validated :class:`MembershipForm`."""
    membership = membership or Membership()
    membership.organization_id = form.organization_id.data
    membership.status = form.status.data
    membership.start_date = form.start_date.data
    membership.end_date = form.end_date.data
    membership.fee_tier = form.fee_tier.data or ""
    membership.note = form.note.data or ""
    if membership.id is None:
        db.session.add(membership)
    db.session.flush()
    return membership


def delete_membership(membership: Membership) -> None:
    db.session.delete(membership)
    db.session.flush()
