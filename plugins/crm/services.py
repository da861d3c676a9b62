"""CRM business operations: what pages, the API, imports and other plugins share.

Views stay thin: they validate with a form from :mod:`.forms` and call these.
Functions add to ``db.session`` and flush when they need ids; the caller commits.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, func, select, text
from sqlalchemy.orm import selectinload

from core import Cluster, audit, cluster_hooks, db, today, utcnow

from .models import (
    CONSENT_PURPOSES,
    Competence,
    ConsentRecord,
    Interaction,
    InteractionPerson,
    Membership,
    Organization,
    OrganizationCompetence,
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
    """Copy a validated :class:`OrganizationForm` onto an organization (new or not).

    The parent goes through :func:`set_parent`: :raises HierarchyError: when it would not
    leave the organizations a tree (the caller rolls back and shows the field's error).
    """
    for name in ORGANIZATION_FIELDS:
        if name in form._fields and name != "parent_id":
            value = form[name].data
            if name in ("siren", "siret", "vat_number"):
                value = value or None
            else:
                value = value if value is not None else ""
            setattr(org, name, value)
    if "parent_id" in form._fields:  # before any query: the hierarchy lock comes before the row's
        set_parent(org, form.parent_id.data)
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
    org.tags = sorted({tags[normalize(n)] for n in names if normalize(n) in tags}, key=lambda t: t.key)


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


# -- the organization hierarchy: a tree ---------------------------------------------------
HIERARCHY_LOCK_KEY = 0x63726D2D6F726773  # b"crm-orgs": the advisory lock of the hierarchy (PostgreSQL)
MAX_HIERARCHY_DEPTH = 100  # ancestors above an organization, at most


class HierarchyError(CrmError):
    """A parent that would not leave the organizations a tree; the message is for ``field``."""

    field = "parent_id"


def lock_hierarchy(session=None) -> None:
    """Serialize changes of the hierarchy until the end of the transaction.

    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback, taken
    before the check, so that two transactions cannot each pass it and together make a
    loop (P under Q, Q under P).  SQLite serializes writers already: the check runs
    after the ``UPDATE``, which holds the write lock (a transaction whose snapshot went
    stale cannot take it: the request runs again, see ``retry_when_sqlite_is_busy``).
    """
    conn = (session or db.session).connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(CAST(:key AS BIGINT))"), {"key": HIERARCHY_LOCK_KEY})


# (org, node, depth): node is org's ancestor at depth (1: the parent).  The walk stops at
# org itself (a loop), at a root, or one level past the bound: a loop written before (of
# which org is no member) cannot make it run forever.
_ANCESTOR_WALK = """
WITH RECURSIVE up(org, node, depth) AS (
    {anchor}
    UNION ALL
    SELECT up.org, o.parent_id, up.depth + 1 FROM up JOIN crm_organization o ON o.id = up.node
    WHERE o.parent_id IS NOT NULL AND up.node <> up.org AND up.depth <= :max_depth
)
SELECT org, MAX(CASE WHEN node = org THEN 1 ELSE 0 END) AS loops, MAX(depth) AS depth FROM up GROUP BY org
"""


def _walk_problems(rows) -> dict[int, str]:
    out = {}
    for org, loops, depth in rows:
        if loops:
            out[org] = "loop"
        elif depth > MAX_HIERARCHY_DEPTH:
            out[org] = "deep"
    return out


def hierarchy_loops(org_ids, session=None) -> dict[int, str]:
    """Organizations not in a tree as the database stands: ``{id: "loop" | "deep"}``.

    ``"loop"``: the organization is its own ancestor (its own parent included);
    ``"deep"``: above it the hierarchy goes more than :data:`MAX_HIERARCHY_DEPTH` levels
    up, or loops (a loop of which it is no member).  One recursive query per 5,000 ids.
    """
    session = session or db.session
    ids = sorted(set(org_ids))
    stmt = text(_ANCESTOR_WALK.format(anchor="SELECT id, parent_id, 1 FROM crm_organization "
                                             "WHERE id IN :ids AND parent_id IS NOT NULL")
                ).bindparams(bindparam("ids", expanding=True))
    out: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        out.update(_walk_problems(session.execute(
            stmt, {"ids": ids[start:start + 5000], "max_depth": MAX_HIERARCHY_DEPTH}).all()))
    return out


def hierarchy_message(problem: str, name: str) -> str:
    """The field-level message of a problem of :func:`hierarchy_loops` (``"self"`` too)."""
    if problem == "self":
        return _("An organization cannot be its own parent.")
    if problem == "loop":
        return _("This would make %(name)s its own ancestor.", name=name)
    return _("Above this parent the hierarchy loops or goes more than %(n)s levels up: choose another parent.",
             n=MAX_HIERARCHY_DEPTH)


def hierarchy_problem(org_id: int | None, parent_id: int | None, *, name: str = "") -> str | None:
    """Why ``parent_id`` cannot become the parent of ``org_id`` (None for a new one), or None.

    A read of the hierarchy as it stands, for the forms' messages: :func:`set_parent`
    checks again, under the lock.
    """
    if parent_id is None:
        return None
    if org_id is not None and parent_id == org_id:
        return hierarchy_message("self", name)
    rows = db.session.execute(text(_ANCESTOR_WALK.format(
        anchor="SELECT CAST(:org AS INTEGER), CAST(:parent AS INTEGER), 1")),
        {"org": org_id or 0, "parent": parent_id, "max_depth": MAX_HIERARCHY_DEPTH}).all()
    problem = _walk_problems(rows).get(org_id or 0)
    return hierarchy_message(problem, name or f"#{org_id or ''}") if problem else None


def hierarchy_problems(moves: dict[int, int | None], check=None) -> dict[int, str]:
    """Organizations that new parents, all given at once, leave outside a tree.

    ``moves`` is ``{organization id: new parent id or None}`` (an import's rows); the
    other organizations keep the parent the database has.  ``check`` limits the answer
    to these ids (default: all of ``moves``).  :returns: ``{id: "self" | "loop" | "deep"}``
    (see :func:`hierarchy_loops`).  The parents above are read in rounds, one query per
    level (and per 5,000 ids).
    """
    known: dict[int, int | None] = {}
    pending = {p for p in moves.values() if p is not None}
    for _level in range(MAX_HIERARCHY_DEPTH + 2):
        need = sorted(x for x in pending if x not in moves and x not in known)
        if not need:
            break
        for start in range(0, len(need), 5000):
            chunk = need[start:start + 5000]
            known.update({x: None for x in chunk})  # an id the database lacks: a root here
            known.update(db.session.execute(select(Organization.id, Organization.parent_id)
                                            .where(Organization.id.in_(chunk))).all())
        pending = {known[x] for x in need if known[x] is not None}
    problems: dict[int, str] = {}
    for org_id in (moves if check is None else check):
        node, depth = moves.get(org_id), 1
        if node == org_id:
            problems[org_id] = "self"
            continue
        while node is not None:
            if node == org_id:
                problems[org_id] = "loop"
                break
            if depth > MAX_HIERARCHY_DEPTH:
                problems[org_id] = "deep"
                break
            node = moves[node] if node in moves else known.get(node)
            depth += 1
    return problems


def set_parent(org: Organization, parent_id: int | None) -> None:
    """Give an organization a parent (or none), keeping the hierarchy a tree.

    The one place pages and the API set a parent (an import checks its whole file with
    :func:`hierarchy_problems`, then writes under the same lock and check).  An
    unchanged parent is not checked, so an organization caught in a loop written before
    stays editable; a parent that breaks the loop is taken.  Otherwise the hierarchy is
    locked, the row written, then the ancestors walked from the organization itself
    (after the write: on SQLite the write lock is held then).

    :raises HierarchyError: self-parent, a loop, too deep; the change is rolled back to
        a savepoint first (the rest of the transaction stays: the caller rolls it back).
    """
    parent_id = parent_id or None
    if org.id is not None and parent_id == org.parent_id:
        return
    if parent_id is None:  # a root: no loop can come of it
        org.parent_id = None
        return
    if org.id is not None and parent_id == org.id:
        raise HierarchyError(hierarchy_message("self", org.name))
    lock_hierarchy()
    name = org.name
    with db.session.begin_nested():  # an exception rolls the savepoint back
        org.parent_id = parent_id
        if org.id is None:
            db.session.add(org)
        db.session.flush()
        problem = hierarchy_loops([org.id]).get(org.id)
        if problem:
            raise HierarchyError(hierarchy_message(problem, name))


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
def export_person(person: Person, *, all_clusters: bool = False) -> dict:
    """What the CRM holds about a person, as JSON-able data (right of access).

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
    met = db.session.execute(
        select(Interaction.id, Interaction.cluster_id, Cluster.slug, Interaction.kind, Interaction.date,
               Interaction.subject)
        .join(InteractionPerson, InteractionPerson.interaction_id == Interaction.id)
        .join(Cluster, Cluster.id == Interaction.cluster_id)
        .where(InteractionPerson.person_id == person.id)
        .order_by(Interaction.date, Interaction.id).execution_options(all_clusters=all_clusters)).all()
    return {
        "scope": "federation" if all_clusters else "cluster",
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
            {"id": i.id, "cluster_id": i.cluster_id, "cluster": i.slug, "kind": i.kind, "date": i.date.isoformat(),
             "subject": i.subject}
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


# -- lists ---------------------------------------------------------------------------
ORGANIZATION_SORTS = {
    "name": (Organization.name_key, Organization.id),
    "city": (Organization.city, Organization.name_key),
    "sector": (Organization.sector, Organization.name_key),
    "created": (Organization.id,),  # ids grow with creation: no index of its own needed
}


DENSE_MATCHES = 1000  # above this many matches, walking the name index with LIKE finds a page sooner


def organization_list(filter_values: dict, cluster_id: int | None, *, sort: str = "name", page: int = 1,
                      per_page: int = 50, count: bool = True):
    """One page of organizations matching a filter, and the total (two queries).

    With a search term the total comes first (from the trigram index on SQLite): a few
    matches are fetched through the index, many by walking the name order until the
    page is full.
    """
    from core import Page

    from . import filters as crm_filters

    key = sort.lstrip("-") if sort.lstrip("-") in ORGANIZATION_SORTS else "name"
    columns = ORGANIZATION_SORTS[key]
    order = [c.desc() for c in columns] if sort.startswith("-") else list(columns)
    page = max(1, page)
    searching = bool(crm_filters.words(filter_values.get("q") or ""))

    def total_count() -> int:
        return db.session.execute(crm_filters.apply(select(func.count(Organization.id)), filter_values,
                                                    cluster_id)).scalar_one()

    total = total_count() if searching and count else None
    scan = searching and key == "name" and (total is None or total > DENSE_MATCHES)
    stmt = crm_filters.apply(select(Organization).options(selectinload(Organization.tags)), filter_values,
                             cluster_id, scan=scan).order_by(*order)
    items = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars().all()
    if total is None:
        if not count:
            total = 0
        elif page == 1 and len(items) < per_page:
            total = len(items)  # the page holds everything: no count query
        else:
            total = total_count()
    return Page(items=list(items), total=total, page=page, per_page=per_page, sort=sort)


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


def person_counts(org_ids: list[int]) -> dict[int, int]:
    if not org_ids:
        return {}
    return dict(db.session.execute(
        select(PersonOrganization.organization_id, func.count())
        .where(PersonOrganization.organization_id.in_(org_ids))
        .group_by(PersonOrganization.organization_id)).all())


PERSON_SORTS = {"name": (Person.name_key, Person.id), "created": (Person.id,)}


def person_list(query: str, *, function: str = "", sort: str = "name", page: int = 1, per_page: int = 50):
    """One page of persons matching words and a function, and the total (as organization_list)."""
    from core import Page

    from . import filters as crm_filters

    def narrow(stmt, scan=False):
        stmt = crm_filters.person_search(stmt, query or "", scan=scan)
        if function:
            stmt = stmt.where(Person.function == function)
        return stmt

    key = sort.lstrip("-") if sort.lstrip("-") in PERSON_SORTS else "name"
    order = [c.desc() for c in PERSON_SORTS[key]] if sort.startswith("-") else list(PERSON_SORTS[key])
    page = max(1, page)
    searching = bool(crm_filters.words(query or ""))
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


# -- memberships and interactions ------------------------------------------------------
def save_membership(membership: Membership | None, form) -> Membership:
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


def followups(author_id: int, *, include_done: bool = False, limit: int = 200) -> list[Interaction]:
    """An author's follow-ups in the current cluster, the most urgent first."""
    from sqlalchemy.orm import joinedload

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


# -- timeline ------------------------------------------------------------------------
def timeline(object_type: str, object_id: int, cluster, *, limit: int = 50) -> list[dict]:
    """This cluster's interactions with a record merged with other plugins' entries, newest first.

    Other plugins answer the core hook ``grappe_timeline_entries`` (only those the
    cluster has enabled, through the subset caller): one hook call for the page.
    """
    from datetime import time
    from flask import url_for
    from sqlalchemy.orm import joinedload

    from core import TimelineEntry

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
    for group in cluster_hooks(cluster).grappe_timeline_entries(
            cluster=cluster, object_type=object_type, object_id=object_id, limit=limit):
        for entry in group or []:
            when = entry.when if entry.when.tzinfo else entry.when.replace(tzinfo=timezone.utc)
            rows.append({"when": when, "entry": entry, "interaction": None})
    rows.sort(key=lambda r: r["when"], reverse=True)
    return rows[:limit]


# -- competences and matching ------------------------------------------------------------
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


def match(org_id: int, *, direction: str = "needs", competence_id: int | None = None, cluster_id: int | None,
          limit: int = 50) -> list[dict]:
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
    from .api import member_ids

    members = member_ids(candidates, cluster_id, today()) if cluster_id is not None else set()
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


# -- misc ----------------------------------------------------------------------------------
def day_start(day: date | None) -> datetime | None:
    """A moment for a consent given on ``day`` (now when it is today or not given)."""
    from datetime import time

    if day is None or day >= today():
        return None
    return datetime.combine(day, time(12), tzinfo=timezone.utc)


def segment_count(segment) -> int:
    from . import filters as crm_filters

    return db.session.execute(crm_filters.apply(select(func.count(Organization.id)), segment.filters or {},
                                                segment.cluster_id)).scalar_one()


def delete_organization(org: Organization) -> None:
    """Delete an organization that no cluster has history with; :raises CrmError: otherwise."""
    from sqlalchemy.exc import IntegrityError

    for model, what in ((Membership, _("memberships")), (Interaction, _("interactions"))):
        used = db.session.execute(select(func.count(model.id)).where(model.organization_id == org.id)
                                  .execution_options(all_clusters=True)).scalar_one()
        if used:
            raise CrmError(_("This organization has %(n)s %(what)s in the federation: it cannot be deleted.",
                             n=used, what=what))
    try:
        with db.session.begin_nested():
            db.session.delete(org)
            db.session.flush()
    except IntegrityError:
        raise CrmError(_("Other modules still refer to this organization: it cannot be deleted.")) from None
