"""The rows of filtered lists for the exports (the columns an import reads back).

The files themselves are written by ``core.export_response`` (CSV or XLSX, formulas
neutralized).
"""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import select

from core import db

from . import queries
from .memberships import membership_status_by_org
from .models import Organization, OrganizationTag, Person, PersonOrganization, Tag

ORGANIZATION_COLUMNS = ("id", "legal_name", "trade_name", "siren", "siret", "vat_number", "kind", "sector",
                        "size_band", "street", "postcode", "city", "country", "website", "tags", "parent_id",
                        "membership")
PERSON_COLUMNS = ("id", "first_name", "last_name", "email", "phone", "job_title", "function", "language",
                  "organization_id", "organization", "organization_siren", "role")
_BATCH = 2000


def organization_rows(filter_values: dict) -> Iterator[list]:
    """Rows of the organizations matching a filter, in name order, read in batches (no N+1)."""
    stmt = queries.apply(select(Organization.id), filter_values).order_by(
        Organization.name_key, Organization.id)
    ids = list(db.session.execute(stmt).scalars())
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start:start + _BATCH]
        orgs = {o.id: o for o in db.session.execute(
            select(Organization).where(Organization.id.in_(chunk)).execution_options(populate_existing=False)
        ).scalars()}
        tags: dict[int, list[str]] = {}
        for oid, name in db.session.execute(
                select(OrganizationTag.organization_id, Tag.name).join(Tag, Tag.id == OrganizationTag.tag_id)
                .where(OrganizationTag.organization_id.in_(chunk)).order_by(Tag.key)):
            tags.setdefault(oid, []).append(name)
        statuses = membership_status_by_org(chunk)
        for oid in chunk:
            o = orgs[oid]
            yield [o.id, o.legal_name, o.trade_name, o.siren or "", o.siret or "", o.vat_number or "", o.kind,
                   o.sector, o.size_band, o.street, o.postcode, o.city, o.country, o.website,
                   ", ".join(tags.get(oid, [])), o.parent_id or "", statuses.get(oid, "")]
        db.session.expunge_all()


def person_rows(query: str = "", function: str = "") -> Iterator[list]:
    stmt = queries.person_search(select(Person.id), query or "")
    if function:
        stmt = stmt.where(Person.function == function)
    ids = list(db.session.execute(stmt.order_by(Person.name_key, Person.id)).scalars())
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start:start + _BATCH]
        persons = {p.id: p for p in db.session.execute(
            select(Person.id, Person.first_name, Person.last_name, Person.email, Person.phone, Person.job_title,
                   Person.function, Person.language).where(Person.id.in_(chunk)))}
        main: dict[int, tuple] = {}
        for pid, oid, role, name, trade, siren in db.session.execute(
                select(PersonOrganization.person_id, PersonOrganization.organization_id, PersonOrganization.role,
                       Organization.legal_name, Organization.trade_name, Organization.siren)
                .join(Organization, Organization.id == PersonOrganization.organization_id)
                .where(PersonOrganization.person_id.in_(chunk))
                .order_by(PersonOrganization.person_id, PersonOrganization.main.desc())):
            main.setdefault(pid, (oid, trade or name, siren or "", role))
        for pid in chunk:
            p = persons[pid]
            oid, oname, siren, role = main.get(pid, ("", "", "", ""))
            yield [p.id, p.first_name, p.last_name, p.email or "", p.phone, p.job_title, p.function, p.language,
                   oid, oname, siren, role]

