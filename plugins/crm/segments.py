"""Segments: a cluster's saved organization filters, and whom they reach.

Segments are cluster-owned: the core scopes every query here to the current cluster
(the request's, or the one ``db.for_cluster`` acts as).  A segment's membership filter
is that cluster's.
"""

from __future__ import annotations

from sqlalchemy import func, select

from core import db

from .models import Organization, Person, PersonOrganization, Segment
from .queries import apply, organization_ids as matching_organization_ids


def get_segment(segment_id: int) -> Segment | None:
    """The current cluster's segment with this id, or None."""
    return db.session.execute(select(Segment).where(Segment.id == segment_id)).scalar_one_or_none()


def create_segment(name: str, filters: dict, *, created_by_id: int | None) -> Segment:
    """Save cleaned filters (an :class:`OrganizationFilterForm`'s ``values``) as a segment of the current cluster."""
    segment = Segment(name=name, filters=filters, created_by_id=created_by_id)
    db.session.add(segment)
    db.session.flush()
    return segment


def delete_segment(segment: Segment) -> None:
    db.session.delete(segment)
    db.session.flush()


def segment_count(segment: Segment) -> int:
    """How many organizations the segment matches today."""
    return db.session.execute(apply(select(func.count(Organization.id)), segment.filters or {})).scalar_one()


def organization_ids(segment: Segment) -> list[int]:
    """The organizations the segment matches today, by id."""
    return list(db.session.execute(matching_organization_ids(segment.filters or {}).order_by(Organization.id))
                .scalars())


def person_ids(segment: Segment) -> list[int]:
    """The persons (not erased) of the organizations the segment matches today, by id."""
    stmt = (select(PersonOrganization.person_id).join(Person, Person.id == PersonOrganization.person_id)
            .where(PersonOrganization.organization_id.in_(matching_organization_ids(segment.filters or {})),
                   Person.erased_at.is_(None))
            .distinct().order_by(PersonOrganization.person_id))
    return list(db.session.execute(stmt).scalars())
