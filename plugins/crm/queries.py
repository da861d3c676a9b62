"""The CRM's queries: the organization filters, the search, the lists, the organization's page.

What the pages, the JSON API, the exports, the segments and other plugins' reads share.

A filter is a plain dict (stored as JSON in a segment) with these optional keys:
``q`` (words, matched case- and accent-insensitively), ``kind``, ``sector`` (a NACE
code or its prefix), ``size``, ``country``, ``tag`` (a tag name), ``competence`` and
``need`` (competence ids), ``membership`` (``member``, ``prospect``, ``former`` or
``none``, in the current cluster: the core scopes memberships to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Integer, Select, and_, column, func, or_, select, text
from sqlalchemy.orm import joinedload, lazyload, selectinload

from core import Page, db, today

from .competences import organization_competences
from .memberships import members_on, membership_status
from .models import (
    Competence,
    Interaction,
    Membership,
    Organization,
    OrganizationCompetence,
    OrganizationTag,
    Person,
    PersonOrganization,
    Segment,
    Tag,
)
from .text import like_pattern, normalize

FILTER_KEYS = ("q", "kind", "sector", "size", "country", "tag", "competence", "need", "membership")
MEMBERSHIP_FILTERS = ("member", "prospect", "former", "none")


def clean(filters: dict | None) -> dict:
    """Keep the known, non-empty keys (values as strings)."""
    out = {}
    for key in FILTER_KEYS:
        value = (filters or {}).get(key)
        if value not in (None, ""):
            out[key] = str(value).strip()
    return {k: v for k, v in out.items() if v}


def words(query: str) -> list[str]:
    return normalize(query).split()[:8]


def match_words(column, query: str):
    """``column LIKE '%w%'`` for every word of the query (all must match)."""
    return and_(*(column.like(like_pattern(w), escape="\\") for w in words(query)))


def fts_table(model) -> str:
    """The SQLite trigram index of a model's ``search`` column (crm_0003, crm_0004)."""
    return f"fts_{model.__tablename__}"


def fts_ready(model=Organization) -> bool:
    """Does this SQLite database have the model's trigram index?"""
    ready = current_app.extensions.setdefault("crm.fts", set())
    if model.__tablename__ in ready:
        return True
    if db.engine.dialect.name != "sqlite":
        return False
    found = db.session.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"),
                               {"n": fts_table(model)}).first() is not None
    if found:  # remembered once true (a database is migrated, never unmigrated, under a running app)
        ready.add(model.__tablename__)
    return found


def fts_insert_trigger(model) -> str:
    """The trigger that indexes new rows (the same as in the migrations)."""
    table = model.__tablename__
    return (f"CREATE TRIGGER {table}_fts_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts_table(model)}(rowid, search) VALUES (new.id, new.search); END")


def text_clause(model, query: str, *, scan: bool = False):
    """Rows of ``model`` (organizations, persons) whose search text holds every word of the query.

    On SQLite with the trigram index, words of three letters or more are looked up in
    it (no table scan); ``scan=True`` asks for the plain ``LIKE`` instead, which is the
    better plan when most rows match and the page walks the name index.  On PostgreSQL,
    ``LIKE`` is served by the pg_trgm index.
    """
    ws = words(query)
    if scan or not fts_ready(model):
        return match_words(model.search, query)
    long_words = [w for w in ws if len(w) >= 3]
    clauses = [model.search.like(like_pattern(w), escape="\\") for w in ws if len(w) < 3]
    if long_words:
        table = fts_table(model)
        expression = " AND ".join('"' + w.replace('"', '""') + '"' for w in long_words)
        matching = text(f"SELECT rowid FROM {table} WHERE {table} MATCH :fts_terms").bindparams(
            fts_terms=expression).columns(column("rowid", Integer))
        clauses.append(model.id.in_(matching))
    return and_(*clauses)


def organization_text_clause(query: str, *, scan: bool = False):
    return text_clause(Organization, query, scan=scan)


def apply(stmt: Select, filters: dict, *, scan: bool = False) -> Select:
    """Narrow a select over :class:`Organization` by a filter dict.

    Conditions on other tables are ``id IN (subquery)``: the database computes each
    subquery once, instead of probing it for every organization.  The membership
    conditions are the current cluster's (the core scopes the subqueries).
    """
    f = clean(filters)
    if f.get("q") and words(f["q"]):
        stmt = stmt.where(organization_text_clause(f["q"], scan=scan))
    if f.get("kind"):
        stmt = stmt.where(Organization.kind == f["kind"])
    if f.get("sector"):
        code = f["sector"]
        stmt = stmt.where(or_(Organization.sector == code, Organization.sector.like(like_pattern(code)[1:], escape="\\")))
    if f.get("size"):
        stmt = stmt.where(Organization.size_band == f["size"])
    if f.get("country"):
        stmt = stmt.where(Organization.country == f["country"].upper())
    if f.get("tag"):
        stmt = stmt.where(Organization.id.in_(
            select(OrganizationTag.organization_id).join(Tag, Tag.id == OrganizationTag.tag_id)
            .where(Tag.key == normalize(f["tag"]))))
    for key, kind in (("competence", "has"), ("need", "needs")):
        if f.get(key, "").isdigit():
            stmt = stmt.where(Organization.id.in_(select(OrganizationCompetence.organization_id).where(
                OrganizationCompetence.competence_id == int(f[key]), OrganizationCompetence.kind == kind)))
    status = f.get("membership")
    if status:
        on_day = today()
        members = members_on(on_day)
        in_cluster = select(Membership.organization_id)
        if status == "member":
            stmt = stmt.where(Organization.id.in_(members))
        elif status == "prospect":
            stmt = stmt.where(Organization.id.in_(in_cluster.where(
                Membership.status == "prospect", or_(Membership.end_date.is_(None), Membership.end_date >= on_day))),
                Organization.id.not_in(members))
        elif status == "former":
            stmt = stmt.where(Organization.id.in_(in_cluster.where(Membership.status.in_(("member", "former")))),
                              Organization.id.not_in(members))
        elif status == "none":
            stmt = stmt.where(Organization.id.not_in(in_cluster))
    return stmt


def person_search(stmt: Select, query: str, *, scan: bool = False) -> Select:
    if words(query):
        stmt = stmt.where(text_clause(Person, query, scan=scan))
    return stmt


def organization_ids(filters: dict) -> Select:
    """A select of the ids of the organizations matching a filter (for subqueries)."""
    return apply(select(Organization.id), filters)


# -- lists ---------------------------------------------------------------------------
ORGANIZATION_SORTS = {
    "name": (Organization.name_key, Organization.id),
    "city": (Organization.city, Organization.name_key),
    "sector": (Organization.sector, Organization.name_key),
    "created": (Organization.id,),  # ids grow with creation: no index of its own needed
}


DENSE_MATCHES = 1000  # above this many matches, walking the name index with LIKE finds a page sooner


def organization_list(filter_values: dict, *, sort: str = "name", page: int = 1, per_page: int = 50,
                      count: bool = True) -> Page:
    """One page of organizations matching a filter, and the total (two queries).

    With a search term the total comes first (from the trigram index on SQLite): a few
    matches are fetched through the index, many by walking the name order until the
    page is full.
    """
    key = sort.lstrip("-") if sort.lstrip("-") in ORGANIZATION_SORTS else "name"
    columns = ORGANIZATION_SORTS[key]
    order = [c.desc() for c in columns] if sort.startswith("-") else list(columns)
    page = max(1, page)
    searching = bool(words(filter_values.get("q") or ""))

    def total_count() -> int:
        return db.session.execute(apply(select(func.count(Organization.id)), filter_values)).scalar_one()

    total = total_count() if searching and count else None
    scan = searching and key == "name" and (total is None or total > DENSE_MATCHES)
    stmt = apply(select(Organization).options(selectinload(Organization.tags)), filter_values,
                 scan=scan).order_by(*order)
    items = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars().all()
    if total is None:
        if not count:
            total = 0
        elif page == 1 and len(items) < per_page:
            total = len(items)  # the page holds everything: no count query
        else:
            total = total_count()
    return Page(items=list(items), total=total, page=page, per_page=per_page, sort=sort)


def person_counts(org_ids: list[int]) -> dict[int, int]:
    if not org_ids:
        return {}
    return dict(db.session.execute(
        select(PersonOrganization.organization_id, func.count())
        .where(PersonOrganization.organization_id.in_(org_ids))
        .group_by(PersonOrganization.organization_id)).all())


PERSON_SORTS = {"name": (Person.name_key, Person.id), "created": (Person.id,)}


def person_list(query: str, *, function: str = "", sort: str = "name", page: int = 1, per_page: int = 50) -> Page:
    """One page of persons matching words and a function, and the total (as organization_list)."""

    def narrow(stmt, scan=False):
        stmt = person_search(stmt, query or "", scan=scan)
        if function:
            stmt = stmt.where(Person.function == function)
        return stmt

    key = sort.lstrip("-") if sort.lstrip("-") in PERSON_SORTS else "name"
    order = [c.desc() for c in PERSON_SORTS[key]] if sort.startswith("-") else list(PERSON_SORTS[key])
    page = max(1, page)
    searching = bool(words(query or ""))
    total = db.session.execute(narrow(select(func.count(Person.id)))).scalar_one() if searching else None
    scan = searching and key == "name" and total > DENSE_MATCHES
    items = db.session.execute(narrow(select(Person), scan=scan).options(
        selectinload(Person.links).joinedload(PersonOrganization.organization)).order_by(*order)
        .limit(per_page).offset((page - 1) * per_page)).scalars().all()
    if total is None:
        if page == 1 and len(items) < per_page:
            total = len(items)
        else:
            total = db.session.execute(narrow(select(func.count(Person.id)))).scalar_one()
    return Page(items=list(items), total=total, page=page, per_page=per_page, sort=sort)



def organizations_select(filters: dict) -> Select:
    """The organizations matching a filter, by name, with their tags (the API's paginated list)."""
    return apply(select(Organization).options(selectinload(Organization.tags)), filters).order_by(
        Organization.name_key, Organization.id)


def persons_select(query: str) -> Select:
    """The persons matching words, by name, with their organizations (the API's paginated list)."""
    return person_search(select(Person), query).options(
        selectinload(Person.links).joinedload(PersonOrganization.organization)).order_by(Person.name_key, Person.id)


def memberships_select(*, organization_id: int | None = None, status: str = "") -> Select:
    """The current cluster's memberships, the latest first (of one organization, of one status)."""
    stmt = select(Membership).order_by(Membership.start_date.desc(), Membership.id)
    if organization_id is not None:
        stmt = stmt.where(Membership.organization_id == organization_id)
    if status:
        stmt = stmt.where(Membership.status == status)
    return stmt


def interactions_select(*, organization_id: int | None = None) -> Select:
    """The current cluster's interactions, the latest first (with one organization)."""
    stmt = select(Interaction).order_by(Interaction.date.desc(), Interaction.id.desc())
    if organization_id is not None:
        stmt = stmt.where(Interaction.organization_id == organization_id)
    return stmt


def segment_list() -> list[Segment]:
    """The current cluster's saved segments, by name (with who saved them)."""
    return list(db.session.execute(select(Segment).options(joinedload(Segment.created_by))
                                   .order_by(Segment.name)).scalars())


# -- the organization's page -------------------------------------------------------------
def organization_persons(org_id: int) -> list[tuple[Person, PersonOrganization]]:
    """An organization's persons, by name, with their link (role, main)."""
    return list(db.session.execute(
        select(Person, PersonOrganization).join(PersonOrganization, PersonOrganization.person_id == Person.id)
        .options(lazyload(PersonOrganization.organization))  # the page's own organization: loaded already
        .where(PersonOrganization.organization_id == org_id).order_by(Person.name_key)).all())


@dataclass
class OrganizationDetails:
    """An organization as its page shows it and the API returns it (:func:`organization_details`)."""

    organization: Organization
    links: list[tuple[Person, PersonOrganization]]  # its persons, by name
    parent: Organization | None
    subsidiaries: list  # rows (id, legal_name, trade_name), by name
    memberships: list[Membership]  # the current cluster's periods, the latest first
    competences: dict[str, list[Competence]]  # "has" and "needs", by name

    @property
    def persons(self) -> list[Person]:
        return [p for p, _link in self.links]

    @property
    def status_here(self) -> str | None:
        """The organization's membership status in the current cluster today."""
        return membership_status(self.memberships)


def organization_details(org: Organization) -> OrganizationDetails:
    """The data of an organization's page (and of the API's organization): five queries."""
    parent = db.session.get(Organization, org.parent_id) if org.parent_id else None
    subsidiaries = db.session.execute(select(Organization.id, Organization.legal_name, Organization.trade_name)
                                      .where(Organization.parent_id == org.id)
                                      .order_by(Organization.name_key)).all()
    memberships = db.session.execute(select(Membership).where(Membership.organization_id == org.id)
                                     .order_by(Membership.start_date.desc(), Membership.id.desc())).scalars().all()
    return OrganizationDetails(organization=org, links=organization_persons(org.id), parent=parent,
                               subsidiaries=list(subsidiaries), memberships=list(memberships),
                               competences=organization_competences(org.id))


def search(query: str, limit: int) -> tuple[list[Organization], list[Person]]:
    """The organizations and the persons (not erased) a search box's words find, by name."""
    if not words(query):
        return [], []
    orgs = db.session.execute(apply(select(Organization), {"q": query}).order_by(Organization.name_key)
                              .limit(limit)).scalars().all()
    persons = db.session.execute(person_search(select(Person), query).where(Person.erased_at.is_(None))
                                 .options(selectinload(Person.links).joinedload(PersonOrganization.organization))
                                 .order_by(Person.name_key).limit(limit)).scalars().all()
    return list(orgs), list(persons)
