"""Organization filters: what the list page, the API, exports and segments share.

A filter is a plain dict (stored as JSON in a segment) with these optional keys:
``q`` (words, matched case- and accent-insensitively), ``kind``, ``sector`` (a NACE
code or its prefix), ``size``, ``country``, ``tag`` (a tag name), ``competence`` and
``need`` (competence ids), ``membership`` (``member``, ``prospect``, ``former`` or
``none``, in the cluster the filter is applied for).
"""

from __future__ import annotations

from datetime import date

from flask import current_app
from sqlalchemy import Integer, Select, and_, column, or_, select, text

from core import db, today

from .models import Membership, Organization, OrganizationCompetence, OrganizationTag, Person, Tag
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


def member_ids_select(cluster_id: int, on: date | None = None) -> Select:
    """The ids of the organizations that are members of a cluster on a day."""
    on = on or today()
    return select(Membership.organization_id).where(
        Membership.cluster_id == cluster_id,
        Membership.status == "member",
        Membership.start_date <= on,
        or_(Membership.end_date.is_(None), Membership.end_date >= on),
    )


def apply(stmt: Select, filters: dict, cluster_id: int | None, *, scan: bool = False) -> Select:
    """Narrow a select over :class:`Organization` by a filter dict.

    Conditions on other tables are ``id IN (subquery)``: the database computes each
    subquery once, instead of probing it for every organization.
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
    if status and cluster_id is not None:
        on_day = today()
        members = member_ids_select(cluster_id, on_day)
        in_cluster = select(Membership.organization_id).where(Membership.cluster_id == cluster_id)
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


def organization_ids(filters: dict, cluster_id: int | None) -> Select:
    """A select of the ids of the organizations matching a filter (for subqueries)."""
    return apply(select(Organization.id), filters, cluster_id)
