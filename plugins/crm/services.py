"""CRM business operations: what pages, the API, imports and other plugins share.

Views stay thin: they validate with a form from :mod:`.forms` and call these.
Functions add to ``db.session`` and flush when they need ids; the caller commits.
"""

from __future__ import annotations

from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from core import audit, db, utcnow

from .models import (
    CONSENT_PURPOSES,
    ConsentRecord,
    Interaction,
    InteractionPerson,
    Membership,
    Organization,
    OrganizationCompetence,
    OrganizationTag,
    Person,
    PersonOrganization,
    Tag,
)
from .text import normalize


class CrmError(ValueError):
    """An operation the rules refuse; the message says why."""


def normalize_email(value: str) -> str:
    """Validate an e-mail address and return it lowercased; :raises ValueError:."""
    try:
        return validate_email((value or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


# -- organizations -------------------------------------------------------------------
ORGANIZATION_FIELDS = ("legal_name", "trade_name", "siren", "siret", "vat_number", "kind", "sector", "size_band",
                       "street", "postcode", "city", "country", "website", "parent_id")


def apply_organization_form(org: Organization, form) -> Organization:
    """Copy a validated :class:`OrganizationForm` onto an organization (new or not)."""
    for name in ORGANIZATION_FIELDS:
        if name in form._fields:
            value = form[name].data
            if name in ("siren", "siret", "vat_number"):
                value = value or None
            elif name == "parent_id":
                value = value or None
            else:
                value = value if value is not None else ""
            setattr(org, name, value)
    if "tags" in form._fields:
        set_tags(org, parse_tags(form.tags.data))
    if org.id is None:
        db.session.add(org)
    db.session.flush()
    return org


def parse_tags(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = str(value).replace(";", ",").split(",")
    seen, out = set(), []
    for item in items:
        name = " ".join(str(item).split())[:60]
        key = normalize(name)
        if key and key not in seen:
            seen.add(key)
            out.append(name)
    return out


def tags_by_name(names: list[str]) -> dict[str, Tag]:
    """Tags by normalized key, created when missing (one query for the lot)."""
    keys = {normalize(n): n for n in names if normalize(n)}
    if not keys:
        return {}
    found = {t.key: t for t in db.session.execute(select(Tag).where(Tag.key.in_(list(keys)))).scalars()}
    for key, name in keys.items():
        if key not in found:
            tag = Tag(name=name, key=key)
            db.session.add(tag)
            found[key] = tag
    return found


def set_tags(org: Organization, names: list[str]) -> None:
    tags = tags_by_name(names)
    org.tags = [tags[normalize(n)] for n in names if normalize(n) in tags]


def find_or_create_organization(name: str, *, source: str = "") -> tuple[Organization, bool]:
    """An organization matched by name (case and accents aside), else a new company."""
    name = " ".join((name or "").split())[:200]
    if not name:
        raise ValueError(_("An organization needs a name."))
    org = db.session.execute(
        select(Organization).where(Organization.name_key == normalize(name)).order_by(Organization.id).limit(1)
    ).scalar_one_or_none()
    if org is not None:
        return org, False
    org = Organization(legal_name=name, kind="company", country="")
    db.session.add(org)
    db.session.flush()
    return org, True


def descendants_of(org_id: int) -> set[int]:
    """The ids of an organization's subsidiaries, at any depth."""
    found: set[int] = set()
    frontier = {org_id}
    while frontier:
        children = set(db.session.execute(
            select(Organization.id).where(Organization.parent_id.in_(frontier))).scalars()) - found
        found |= children
        frontier = children
    return found


# -- persons -------------------------------------------------------------------------
PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "job_title", "function", "language")


def apply_person_form(person: Person, form) -> Person:
    """Copy a validated :class:`PersonForm` onto a person; links come from its organization fields."""
    for name in PERSON_FIELDS:
        if name in form._fields:
            value = form[name].data
            setattr(person, name, (value or None) if name == "email" else (value or ""))
    if person.id is None:
        db.session.add(person)
    org_id = form._fields.get("organization_id") and form.organization_id.data
    if org_id:
        link_person(person, org_id, role=form.role.data if "role" in form._fields else "", main=True)
    db.session.flush()
    return person


def link_person(person: Person, organization_id: int, *, role: str = "", main: bool = False) -> PersonOrganization:
    """Link a person to an organization (or update the role of the link)."""
    link = next((ln for ln in person.links if ln.organization_id == organization_id), None)
    if main:
        for other in person.links:
            other.main = False
    if link is None:
        link = PersonOrganization(organization_id=organization_id, role=role or "", main=main or not person.links)
        person.links.append(link)
    else:
        link.role = role or link.role
        link.main = main or link.main
    return link


def unlink_person(person: Person, organization_id: int) -> None:
    link = next((ln for ln in person.links if ln.organization_id == organization_id), None)
    if link is not None:
        person.links.remove(link)
        if link.main and person.links:
            person.links[0].main = True


def find_or_create_person(*, email: str, first_name: str, last_name: str, organization_name: str | None = None,
                          language: str | None = None, source: str = "") -> tuple[int, bool]:
    """See :func:`plugins.crm.api.find_or_create_person`."""
    email = normalize_email(email)
    existing = db.session.execute(select(Person.id).where(Person.email == email)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    first_name = " ".join((first_name or "").split())[:100]
    last_name = " ".join((last_name or "").split())[:100]
    if not last_name:
        raise ValueError(_("A person needs a last name."))
    person = Person(first_name=first_name, last_name=last_name, email=email,
                    language=language if language in ("fr", "en") else "", source=(source or "")[:40])
    db.session.add(person)
    if organization_name and organization_name.strip():
        org, _created = find_or_create_organization(organization_name, source=source)
        person.links.append(PersonOrganization(organization_id=org.id, main=True))
    db.session.flush()
    return person.id, True


# -- consent -------------------------------------------------------------------------
def record_consent(person: Person, purpose: str, status: str, *, method: str = "", at: datetime | None = None,
                   user_id: int | None = None) -> ConsentRecord:
    if purpose not in CONSENT_PURPOSES:
        raise CrmError(_("Unknown consent purpose."))
    if status not in ("granted", "withdrawn"):
        raise CrmError(_("A consent is granted or withdrawn."))
    if person.erased_at is not None and status == "granted":
        raise CrmError(_("This person's data was erased: no consent can be recorded."))
    record = ConsentRecord(person_id=person.id, purpose=purpose, status=status, method=(method or "")[:200],
                           at=at or utcnow(), recorded_by_id=user_id)
    db.session.add(record)
    db.session.flush()
    return record


def consent_state(person_id: int) -> dict[str, ConsentRecord | None]:
    """The latest consent record per purpose (None: never asked)."""
    state: dict[str, ConsentRecord | None] = {p: None for p in CONSENT_PURPOSES}
    for rec in db.session.execute(select(ConsentRecord).where(ConsentRecord.person_id == person_id)
                                  .order_by(ConsentRecord.at, ConsentRecord.id)).scalars():
        state[rec.purpose] = rec
    return state


# -- data subject rights --------------------------------------------------------------
def export_person(person: Person) -> dict:
    """Everything the CRM holds about a person, as JSON-able data (right of access)."""
    consents = db.session.execute(select(ConsentRecord).where(ConsentRecord.person_id == person.id)
                                  .order_by(ConsentRecord.at, ConsentRecord.id)).scalars().all()
    met = db.session.execute(
        select(Interaction.id, Interaction.cluster_id, Interaction.kind, Interaction.date, Interaction.subject)
        .join(InteractionPerson, InteractionPerson.interaction_id == Interaction.id)
        .where(InteractionPerson.person_id == person.id)
        .order_by(Interaction.date).execution_options(all_clusters=True)).all()
    return {
        "id": person.id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "phone": person.phone,
        "job_title": person.job_title,
        "function": person.function,
        "language": person.language,
        "source": person.source,
        "created_at": person.created_at.isoformat(),
        "updated_at": person.updated_at.isoformat() if person.updated_at else None,
        "erased_at": person.erased_at.isoformat() if person.erased_at else None,
        "organizations": [
            {"organization_id": ln.organization_id, "organization": ln.organization.name, "role": ln.role,
             "main": ln.main} for ln in person.links],
        "consents": [
            {"purpose": c.purpose, "status": c.status, "at": c.at.isoformat(), "method": c.method} for c in consents],
        "interactions": [
            {"id": i.id, "cluster_id": i.cluster_id, "kind": i.kind, "date": i.date.isoformat(), "subject": i.subject}
            for i in met],
    }


def erase_person(person: Person, *, user_id: int | None = None) -> None:
    """Anonymize a person (right to erasure) and keep the row, so counts stay right.

    Names, e-mail, phone and job title are replaced; every consent ends withdrawn;
    the links to organizations and the interactions stay (without personal data).
    """
    if person.erased_at is not None:
        raise CrmError(_("This person was already erased."))
    person.first_name = ""
    person.last_name = f"(erased #{person.id})"
    person.email = None
    person.phone = ""
    person.job_title = ""
    person.language = ""
    person.source = ""
    person.erased_at = utcnow()
    for link in person.links:
        link.role = ""
    now = utcnow()
    for purpose in CONSENT_PURPOSES:
        db.session.add(ConsentRecord(person_id=person.id, purpose=purpose, status="withdrawn",
                                     method="erasure", at=now, recorded_by_id=user_id))
    audit("erase", object_type="crm.person", object_id=person.id, summary=f"person #{person.id} erased",
          user_id=user_id)
    db.session.flush()
