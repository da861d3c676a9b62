"""Writing: the plan of a checked file, with bulk ``INSERT``s and ``UPDATE``s in the session's
transaction, under the write lock, all or nothing.

The check read the database in its own time (maybe for minutes): the write takes the write
lock, reads again under it what the check's decisions rest on (the hierarchy) and refuses
rows that went wrong meanwhile (:class:`RowsRefused`).  It flushes; the caller's boundary
(the job, the command) commits.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import delete, func, select, text, update

from core import audit, db, utcnow

from ..hierarchy import hierarchy_loops, hierarchy_message, lock_hierarchy
from ..models import (
    Organization,
    OrganizationTag,
    Person,
    PersonOrganization,
    Tag,
    organization_search_text,
    person_search_text,
)
from ..organizations import tags_by_name
from ..queries import fts_insert_trigger, fts_ready, fts_table
from ..text import normalize
from .report import ImportPlan, RowsRefused

BATCH = 5000


class BulkWriter:
    """Bulk inserts in the session's transaction, which it makes hold the write lock."""

    def __init__(self):
        db.write_lock()  # a stale reading transaction restarts and waits (core.database)
        self._next_id: dict[str, int] = {}

    def insert_rows(self, model, rows: list[dict]) -> list[int]:
        """Insert rows with one ``executemany`` and return their new ids, in order.

        The ids are allocated first (SQLite: after the largest, under the write lock the
        transaction holds; PostgreSQL: from the table's sequence), so no ``RETURNING``
        is needed: it doubles the cost of a bulk insert on SQLite.
        """
        if not rows:
            return []
        table = model.__table__
        conn = db.session.connection()
        if conn.dialect.name == "postgresql":
            ids = list(conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) "
                                         "FROM generate_series(1, :n)"), {"t": table.name, "n": len(rows)}).scalars())
        else:
            start = self._next_id.get(table.name)
            if start is None:
                start = (conn.execute(select(func.max(table.c.id))).scalar() or 0) + 1
            ids = list(range(start, start + len(rows)))
            self._next_id[table.name] = start + len(rows)
        for ident, row in zip(ids, rows):
            row["id"] = ident
        conn.execute(table.insert(), rows)
        return ids

    @contextmanager
    def indexed_after(self, model):
        """Bulk-insert rows of ``model``, then index them for search in one statement.

        On SQLite the per-row trigger that feeds the trigram index costs six times a
        single ``INSERT ... SELECT``: it is dropped for the bulk insert and recreated,
        inside the same transaction (which holds the write lock, so no other writer
        can miss it; a failure rolls everything back, trigger included).
        """
        if not fts_ready(model):
            yield
            return
        table = model.__tablename__
        conn = db.session.connection()
        first = (conn.execute(select(func.max(model.id))).scalar() or 0) + 1
        conn.exec_driver_sql(f"DROP TRIGGER {table}_fts_insert")
        yield
        conn.exec_driver_sql(f"INSERT INTO {fts_table(model)}(rowid, search) SELECT id, search FROM {table} "
                             f"WHERE id >= ?", (first,))
        conn.exec_driver_sql(fts_insert_trigger(model))

    def insert_links(self, model, rows: list[dict]) -> None:
        conn = db.session.connection()
        for start in range(0, len(rows), BATCH):
            conn.execute(model.__table__.insert(), rows[start:start + BATCH])


# -- organizations -----------------------------------------------------------------------
def _organization_values(plan: ImportPlan, row: dict) -> dict:
    out = {}
    for name in ("legal_name", "trade_name", "siren", "siret", "vat_number", "kind", "sector", "size_band",
                 "street", "postcode", "city", "country", "website", "parent_id"):
        if name in plan.column_of or name == "legal_name" or (name == "siren" and row.get("siren")):
            value = row.get(name)
            out[name] = (value or None) if name in ("siren", "siret", "vat_number", "parent_id") else (value or "")
    if not out.get("country") and "country" not in plan.column_of:
        out.pop("country", None)
        if row.get("vat_number"):  # a VAT number says the country
            prefix = row["vat_number"][:2]
            out["country"] = "GR" if prefix == "EL" else prefix
    return out


def write_organizations(plan: ImportPlan, user_id: int | None) -> None:
    writer = BulkWriter()
    session = db.session
    moved: dict[int, dict] = {}
    if "parent_id" in plan.column_of and plan.changed:
        # the file was checked in another transaction: under the lock, the parents that
        # change now are checked again once written (another writer may have moved one)
        lock_hierarchy(session)
        ids = [oid for oid, _r in plan.changed]
        before: dict[int, int | None] = {}
        for start in range(0, len(ids), BATCH):
            before.update(session.execute(select(Organization.id, Organization.parent_id)
                                          .where(Organization.id.in_(ids[start:start + BATCH]))).all())
        moved = {oid: row for oid, row in plan.changed
                 if row.get("parent_id") and row["parent_id"] != before.get(oid)}
    now = utcnow()
    has_tags = "tags" in plan.column_of
    all_tags = sorted({t for _r in plan.new + [r for _i, r in plan.changed] for t in (_r.get("tags") or [])})
    tags = tags_by_name(all_tags) if has_tags else {}
    session.flush()
    tag_rows = []
    with writer.indexed_after(Organization):
        for start in range(0, len(plan.new), BATCH):
            chunk = plan.new[start:start + BATCH]
            params = []
            for row in chunk:
                values = {"kind": "company", "country": "FR", "trade_name": "", "siren": None, "sector": "",
                          "size_band": "", "street": "", "postcode": "", "city": "", "website": "",
                          "siret": None, "vat_number": None, "parent_id": None, **_organization_values(plan, row)}
                name = values["trade_name"] or values["legal_name"]
                values["name_key"] = normalize(name)[:200]
                values["search"] = organization_search_text(
                    values["legal_name"], values["trade_name"], values["siren"], values["siret"],
                    values["vat_number"], values["postcode"], values["city"], row.get("tags") or [])
                values["created_at"] = values["updated_at"] = now
                params.append(values)
            new_ids = writer.insert_rows(Organization, params)
            for oid, row in zip(new_ids, chunk):
                for tag in row.get("tags") or []:
                    tag_rows.append({"organization_id": oid, "tag_id": tags[normalize(tag)].id})
    if plan.changed:
        current = {}
        changed_ids = [i for i, _r in plan.changed]
        for start in range(0, len(changed_ids), BATCH):
            for org in session.execute(select(Organization.id, Organization.legal_name, Organization.trade_name,
                                              Organization.siren, Organization.siret, Organization.vat_number,
                                              Organization.postcode, Organization.city)
                                       .where(Organization.id.in_(changed_ids[start:start + BATCH]))):
                current[org.id] = org._asdict()
        existing_tags: dict[int, list[str]] = {}
        if not has_tags:
            for start in range(0, len(changed_ids), BATCH):
                for oid, tname in session.execute(
                        select(OrganizationTag.organization_id, Tag.name).join(Tag, Tag.id == OrganizationTag.tag_id)
                        .where(OrganizationTag.organization_id.in_(changed_ids[start:start + BATCH]))):
                    existing_tags.setdefault(oid, []).append(tname)
        params = []
        for oid, row in plan.changed:
            values = {**current[oid], **_organization_values(plan, row)}
            values["id"] = oid
            values["name_key"] = normalize(values["trade_name"] or values["legal_name"])[:200]
            tag_names = row.get("tags") or [] if has_tags else existing_tags.get(oid, [])
            values["search"] = organization_search_text(
                values["legal_name"], values["trade_name"], values["siren"], values["siret"],
                values["vat_number"], values["postcode"], values["city"], tag_names)
            values["updated_at"] = now
            params.append(values)
        for start in range(0, len(params), BATCH):
            session.execute(update(Organization), params[start:start + BATCH])
        if has_tags:
            for start in range(0, len(changed_ids), BATCH):
                session.execute(delete(OrganizationTag).where(
                    OrganizationTag.organization_id.in_(changed_ids[start:start + BATCH])))
            for oid, row in plan.changed:
                for tag in row.get("tags") or []:
                    tag_rows.append({"organization_id": oid, "tag_id": tags[normalize(tag)].id})
    writer.insert_links(OrganizationTag, tag_rows)
    problems = hierarchy_loops(moved, session) if moved else {}
    if problems:
        raise RowsRefused([(moved[oid]["_line"], plan.column_of["parent_id"], hierarchy_message(
            problem, moved[oid].get("trade_name") or moved[oid].get("legal_name") or f"#{oid}"))
            for oid, problem in sorted(problems.items(), key=lambda item: moved[item[0]]["_line"])])
    audit("import", object_type="crm.organization", user_id=user_id, session=session,
          summary=f"organizations imported from {plan.report.filename or 'a file'}: "
                  f"{plan.report.created} created, {plan.report.updated} updated, {plan.report.skipped} skipped")


# -- persons ---------------------------------------------------------------------------
PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "job_title", "function", "language")


def _person_values(plan: ImportPlan, row: dict) -> dict:
    out = {}
    for name in PERSON_FIELDS:
        if name in plan.column_of or name == "last_name":
            value = row.get(name)
            out[name] = (value or None) if name == "email" else (value or "")
    return out


def write_persons(plan: ImportPlan, user_id: int | None) -> None:
    writer = BulkWriter()
    session = db.session
    now = utcnow()
    org_by_key: dict[str, int] = {}
    if plan.new_orgs:
        keys = list(plan.new_orgs)
        with writer.indexed_after(Organization):
            for start in range(0, len(keys), BATCH):
                chunk = keys[start:start + BATCH]
                params = [{"legal_name": plan.new_orgs[k][:200], "name_key": k[:200], "kind": "company",
                           "country": "", "created_at": now, "updated_at": now,
                           "search": organization_search_text(plan.new_orgs[k], "", None, None, None, "", "", [])}
                          for k in chunk]
                ids = writer.insert_rows(Organization, params)
                org_by_key.update(zip(chunk, ids))
    links = []
    with writer.indexed_after(Person):
        for start in range(0, len(plan.new), BATCH):
            chunk = plan.new[start:start + BATCH]
            params = []
            for row in chunk:
                values = {"first_name": "", "phone": "", "job_title": "", "function": "", "language": "",
                          "email": None, **_person_values(plan, row)}
                values["name_key"] = normalize(values["last_name"], values["first_name"])[:200]
                values["search"] = person_search_text(values["first_name"], values["last_name"],
                                                      values["email"], values["phone"])
                values["source"] = "import"
                values["created_at"] = values["updated_at"] = now
                params.append(values)
            ids = writer.insert_rows(Person, params)
            for pid, row in zip(ids, chunk):
                org_id = row["_org"] or (org_by_key.get(row["_org_key"]) if row.get("_org_key") else None)
                if org_id:
                    links.append({"person_id": pid, "organization_id": org_id, "role": row.get("role") or "",
                                  "main": True})
    if plan.changed:
        current = {}
        changed_ids = [i for i, _r in plan.changed]
        for start in range(0, len(changed_ids), BATCH):
            for p in session.execute(select(Person.id, Person.first_name, Person.last_name, Person.email,
                                            Person.phone).where(Person.id.in_(changed_ids[start:start + BATCH]))):
                current[p.id] = p._asdict()
        existing_links = set()
        for start in range(0, len(changed_ids), BATCH):
            existing_links.update(session.execute(
                select(PersonOrganization.person_id, PersonOrganization.organization_id)
                .where(PersonOrganization.person_id.in_(changed_ids[start:start + BATCH]))).all())
        params = []
        for pid, row in plan.changed:
            values = {**current[pid], **_person_values(plan, row), "id": pid, "updated_at": now}
            values["name_key"] = normalize(values["last_name"], values["first_name"])[:200]
            values["search"] = person_search_text(values["first_name"], values["last_name"], values["email"],
                                                  values["phone"])
            params.append(values)
            org_id = row["_org"] or (org_by_key.get(row["_org_key"]) if row.get("_org_key") else None)
            if org_id and (pid, org_id) not in existing_links:
                has_any = any(p == pid for p, _o in existing_links)
                links.append({"person_id": pid, "organization_id": org_id, "role": row.get("role") or "",
                              "main": not has_any})
        for start in range(0, len(params), BATCH):
            session.execute(update(Person), params[start:start + BATCH])
    writer.insert_links(PersonOrganization, links)
    audit("import", object_type="crm.person", user_id=user_id, session=session,
          summary=f"persons imported from {plan.report.filename or 'a file'}: {plan.report.created} created, "
                  f"{plan.report.updated} updated, {plan.report.skipped} skipped, "
                  f"{plan.report.organizations_created} organizations created")
