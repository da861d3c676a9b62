"""Persons: record and change them, link them to organizations, their consents, and the data
subject's rights (export, erasure).

Persons are shared by the federation; what a cluster records about them (interactions)
is that cluster's.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import select

from core import audit, cluster_slugs, db, serialize, today, utcnow

from .errors import CrmError
from .models import CONSENT_PURPOSES, ConsentRecord, Interaction, InteractionPerson, Person, PersonOrganization
from .organizations import find_or_create_organization
from .serializers import PersonExportOut

PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "job_title", "function", "language")


def normalize_email(value: str) -> str:
    """Validate an e-mail address and return it lowercased; :raises ValueError:."""
    try:
        return validate_email((value or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def save_person(person: Person, form) -> Person:
    """Copy a validated :class:`PersonForm` onto a person and flush; links come from its organization fields."""
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
    db.session.flush()
    return link


def unlink_person(person: Person, organization_id: int) -> None:
    link = next((ln for ln in person.links if ln.organization_id == organization_id), None)
    if link is not None:
        person.links.remove(link)
        if link.main and person.links:
            person.links[0].main = True
        db.session.flush()


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
def record_consent(person: Person, purpose: str, status: str, *, method: str = "", on: date | None = None,
                   user_id: int | None = None) -> ConsentRecord:
    """Record a consent granted or withdrawn, given ``on`` a day (a past day: at noon; else now).

    :raises CrmError: an unknown purpose or status, or a consent granted by an erased person.
    """
    if purpose not in CONSENT_PURPOSES:
        raise CrmError(_("Unknown consent purpose."))
    if status not in ("granted", "withdrawn"):
        raise CrmError(_("A consent is granted or withdrawn."))
    if person.erased_at is not None and status == "granted":
        raise CrmError(_("This person's data was erased: no consent can be recorded."))
    at = datetime.combine(on, time(12), tzinfo=timezone.utc) if on is not None and on < today() else utcnow()
    record = ConsentRecord(person_id=person.id, purpose=purpose, status=status, method=(method or "")[:200],
                           at=at, recorded_by_id=user_id)
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
def export_person(person: Person, *, all_clusters: bool = False) -> dict:
    """What the CRM holds about a person, as JSON-able data (right of access): a
    :class:`~.serializers.PersonExportOut`.

    A cluster's export (the default, in a cluster's request or job) holds the shared
    identity data (the person, their organizations, their consents, all federation-wide)
    and that cluster's own records only: the core scopes the interactions to the current
    cluster.  ``all_clusters=True`` is the full subject-access export, every cluster's
    records included: a federation admin's action (GDPR art. 15).
    """
    if not all_clusters and db.session.info.get("cluster_id") is None:
        raise RuntimeError("a cluster's export of a person needs a current cluster (or all_clusters=True)")
    consents = db.session.execute(select(ConsentRecord).where(ConsentRecord.person_id == person.id)
                                  .order_by(ConsentRecord.at, ConsentRecord.id)).scalars().all()
    slugs = cluster_slugs()
    met = [{"id": row.id, "cluster_id": row.cluster_id, "slug": slugs.get(row.cluster_id, ""), "kind": row.kind,
            "date": row.date, "subject": row.subject}
           for row in db.session.execute(
               select(Interaction.id, Interaction.cluster_id, Interaction.kind, Interaction.date, Interaction.subject)
               .join(InteractionPerson, InteractionPerson.interaction_id == Interaction.id)
               .where(InteractionPerson.person_id == person.id)
               .order_by(Interaction.date, Interaction.id).execution_options(all_clusters=all_clusters))]
    return serialize(PersonExportOut, person, scope="federation" if all_clusters else "cluster",
                     consents=consents, interactions=met)


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

