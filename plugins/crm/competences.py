"""Competences: the shared vocabulary, what organizations have and need, and the matching of
organizations that complement each other."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from core import db

from .errors import CrmError
from .memberships import member_ids
from .models import Competence, Interaction, Organization, OrganizationCompetence
from .text import normalize


def vocabulary() -> list[tuple[int, str]]:
    """The shared competence vocabulary, ``(id, name)`` by name."""
    return [tuple(row) for row in db.session.execute(select(Competence.id, Competence.name).order_by(Competence.key))]


def find_or_create_competence(name: str, category: str = "") -> Competence:
    name = " ".join((name or "").split())[:120]
    key = normalize(name)
    if not key:
        raise CrmError(_("A competence needs a name."))
    found = db.session.execute(select(Competence).where(Competence.key == key)).scalar_one_or_none()
    if found is None:
        found = Competence(name=name, key=key, category=category)
        db.session.add(found)
        db.session.flush()
    return found


def save_competence(competence: Competence | None, form) -> Competence:
    competence = competence or Competence()
    competence.name = form.name.data
    competence.key = normalize(form.name.data)
    competence.category = form.category.data or ""
    competence.description = form.description.data or ""
    if competence.id is None:
        db.session.add(competence)
    db.session.flush()
    return competence


def add_organization_competence(org_id: int, competence_id: int, kind: str) -> bool:
    """Give an organization a competence (``has``) or a need (``needs``); False if it had it."""
    if kind not in ("has", "needs"):
        raise CrmError(_("A competence is had or needed."))
    if db.session.get(OrganizationCompetence, (org_id, competence_id, kind)) is not None:
        return False
    db.session.add(OrganizationCompetence(organization_id=org_id, competence_id=competence_id, kind=kind))
    db.session.flush()
    return True




def give_competence(org_id: int, form) -> tuple[Competence, bool]:
    """Give an organization the competence or need a validated :class:`OrganizationCompetenceForm`
    names: one of the vocabulary (by id), else by name (added to the vocabulary when new).

    :returns: the competence, and False if the organization had it already.
    """
    competence = db.session.get(Competence, form.competence_id.data) if form.competence_id.data \
        else find_or_create_competence(form.name.data)
    return competence, add_organization_competence(org_id, competence.id, form.kind.data)


def remove_organization_competence(org_id: int, competence_id: int, kind: str) -> None:
    db.session.execute(delete(OrganizationCompetence).where(
        OrganizationCompetence.organization_id == org_id, OrganizationCompetence.competence_id == competence_id,
        OrganizationCompetence.kind == kind))


def organization_competences(org_id: int) -> dict[str, list[Competence]]:
    out: dict[str, list[Competence]] = {"has": [], "needs": []}
    for oc in db.session.execute(select(OrganizationCompetence).join(OrganizationCompetence.competence)
                                 .where(OrganizationCompetence.organization_id == org_id)
                                 .order_by(Competence.key)).scalars():
        out[oc.kind].append(oc.competence)
    return out


def match(org_id: int, *, direction: str = "needs", competence_id: int | None = None, limit: int = 50) -> list[dict]:
    """Organizations that complement ``org_id``, best first.

    ``direction="needs"``: for the organization's needs (or the one ``competence_id``),
    the organizations that have the competence; ``"offers"``: for its competences, the
    organizations that need them.  Ranked by overlap (how many of the wanted
    competences they match), then members of the current cluster first, then the most
    recent contact by this cluster.  Five queries whatever the number of candidates.
    """
    mine_kind, theirs_kind = ("needs", "has") if direction == "needs" else ("has", "needs")
    wanted = set(db.session.execute(select(OrganizationCompetence.competence_id).where(
        OrganizationCompetence.organization_id == org_id, OrganizationCompetence.kind == mine_kind)).scalars())
    if competence_id is not None:
        wanted = {competence_id} if competence_id in wanted else set()
    if not wanted:
        return []
    rows = db.session.execute(
        select(OrganizationCompetence.organization_id, OrganizationCompetence.competence_id)
        .where(OrganizationCompetence.kind == theirs_kind, OrganizationCompetence.competence_id.in_(wanted),
               OrganizationCompetence.organization_id != org_id)).all()
    matched: dict[int, set[int]] = {}
    for oid, cid in rows:
        matched.setdefault(oid, set()).add(cid)
    if not matched:
        return []
    candidates = list(matched)
    members = member_ids(candidates)
    last_contact = dict(db.session.execute(
        select(Interaction.organization_id, func.max(Interaction.date))
        .where(Interaction.organization_id.in_(candidates)).group_by(Interaction.organization_id)).all())
    ranked = sorted(candidates, key=lambda oid: (
        -len(matched[oid]), oid not in members, -(last_contact[oid].toordinal() if last_contact.get(oid) else 0),
        oid))[:limit]
    orgs = {o.id: o for o in db.session.execute(select(Organization).where(Organization.id.in_(ranked))).scalars()}
    names = dict(db.session.execute(select(Competence.id, Competence.name).where(Competence.id.in_(wanted))).all())
    return [{
        "organization": orgs[oid],
        "overlap": len(matched[oid]),
        "competences": sorted(names[c] for c in matched[oid]),
        "member": oid in members,
        "last_contact": last_contact.get(oid),
    } for oid in ranked if oid in orgs]


def competence_usage() -> list[tuple[Competence, int, int]]:
    """The vocabulary with how many organizations have and need each competence (two queries)."""
    counts: dict[tuple[int, str], int] = {
        (cid, kind): n for cid, kind, n in db.session.execute(
            select(OrganizationCompetence.competence_id, OrganizationCompetence.kind, func.count())
            .group_by(OrganizationCompetence.competence_id, OrganizationCompetence.kind)).all()}
    return [(c, counts.get((c.id, "has"), 0), counts.get((c.id, "needs"), 0))
            for c in db.session.execute(select(Competence).order_by(Competence.category, Competence.key)).scalars()]
