"""Matching: which rows repeat another row of the file, which match a record of the database
(by id, SIREN, SIRET, VAT number or e-mail: to update or skip), which are new; the parents
and employers rows name.  Set-based: one query per batch of keys, whatever the file's size.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from core import db

from ..hierarchy import hierarchy_message, hierarchy_problems
from ..models import Organization, Person
from ..text import normalize
from .report import ImportPlan

BATCH = 5000
ORGANIZATION_KEYS = ("siren", "siret", "vat_number")
PERSON_KEYS = ("email",)


def _lookup(column, values: set) -> dict:
    """Existing records by a key column, one query per batch of keys."""
    out = {}
    values = [v for v in values if v]
    model = column.class_
    for start in range(0, len(values), BATCH):
        chunk = values[start:start + BATCH]
        for ident, value in db.session.execute(select(model.id, column).where(column.in_(chunk))):
            out[value] = ident
    return out


def _in_file_duplicates(plan: ImportPlan, keys: tuple[str, ...]) -> None:
    seen: dict[tuple[str, str], int] = {}
    kept = []
    for line, row in plan.rows:
        bad = False
        for key in keys:
            value = row.get(key)
            if value:
                first = seen.setdefault((key, value), line)
                if first != line:
                    plan.report.add_error(line, plan.column(key), _("Same value as line %(line)s.", line=first))
                    bad = True
        if not bad:
            kept.append((line, row))
    plan.rows = kept


def _classify(plan: ImportPlan, line: int, row: dict, found: dict, keys: tuple[str, ...]) -> None:
    """File a valid row as new, duplicate to update, or duplicate to skip."""
    existing = _resolve(plan, line, row, found, keys)
    if existing is False:
        return
    if existing is None:
        plan.new.append(row)
    elif plan.on_duplicate == "skip":
        plan.report.skipped += 1
    else:
        plan.changed.append((existing, row))


def _resolve(plan: ImportPlan, line: int, row: dict, found: dict[str, dict],
             keys: tuple[str, ...]) -> int | None | bool:
    """The existing record a row matches (by id or a key), None for a new one, False if ambiguous."""
    matches: dict[int, str] = {}
    if row.get("id"):
        if not str(row["id"]).isdigit() or int(row["id"]) not in found["id"]:
            plan.report.add_error(line, plan.column("id"), _("No record has this id."))
            return False
        matches[int(row["id"])] = "id"
    for key in keys:
        value = row.get(key)
        if value and value in found[key]:
            matches.setdefault(found[key][value], key)
    if len(matches) > 1:
        plan.report.add_error(line, "", _("This row matches several records: %(which)s.", which=", ".join(
            f"#{i} ({k})" for i, k in matches.items())))
        return False
    return next(iter(matches), None)


# -- organizations ---------------------------------------------------------------------
def match_organizations(plan: ImportPlan) -> None:
    _in_file_duplicates(plan, ORGANIZATION_KEYS)
    ids = {int(r["id"]) for _l, r in plan.rows if str(r.get("id") or "").isdigit()}
    found = {"id": set(_lookup(Organization.id, ids)) if ids else set()}
    for key in ORGANIZATION_KEYS:
        found[key] = _lookup(getattr(Organization, key), {r.get(key) for _l, r in plan.rows})
    parents = {r["parent_id"] for _l, r in plan.rows if r.get("parent_id")}
    known_parents = set(_lookup(Organization.id, parents)) if parents else set()
    plan.new, plan.changed = [], []
    for line, row in plan.rows:
        if row.get("parent_id") and row["parent_id"] not in known_parents:
            plan.report.add_error(line, plan.column("parent_id"), _("No organization has this id."))
            continue
        row["_line"] = line
        _classify(plan, line, row, found, ORGANIZATION_KEYS)
    if "parent_id" in plan.column_of:
        _check_hierarchy(plan)
    plan.report.created = len(plan.new)
    plan.report.updated = len(plan.changed)


def _check_hierarchy(plan: ImportPlan) -> None:
    """The file's parents, all together with the database's, must leave a tree.

    A row may give a parent to an organization another row moves (``P`` under ``Q`` on
    one line, ``Q`` under ``P`` on another): the check sees every row's parent at once.
    Only the parents that change are checked, so a row about an organization caught
    in a loop written before, leaving its parent as it is, is taken.  New rows cannot
    be anyone's parent (no id yet): only a parent whose hierarchy loops refuses them.
    """
    moves = {oid: row.get("parent_id") or None for oid, row in plan.changed}
    ids, current = list(moves), {}
    for start in range(0, len(ids), BATCH):
        current.update(db.session.execute(select(Organization.id, Organization.parent_id)
                                          .where(Organization.id.in_(ids[start:start + BATCH]))).all())
    check = [oid for oid, parent in moves.items() if parent is not None and parent != current.get(oid)]
    rows = {oid: row for oid, row in plan.changed}
    for index, row in enumerate(plan.new):  # a new row: a negative id of its own
        if row.get("parent_id"):
            moves[-1 - index] = row["parent_id"]
            check.append(-1 - index)
            rows[-1 - index] = row
    problems = hierarchy_problems(moves, check)
    if not problems:
        return
    for oid, problem in sorted(problems.items(), key=lambda item: rows[item[0]]["_line"]):
        row = rows[oid]
        name = row.get("trade_name") or row.get("legal_name") or f"#{oid}"
        plan.report.add_error(row["_line"], plan.column_of["parent_id"], hierarchy_message(problem, name))
    refused = {id(rows[oid]) for oid in problems}
    plan.changed = [(oid, row) for oid, row in plan.changed if id(row) not in refused]
    plan.new = [row for row in plan.new if id(row) not in refused]


# -- persons -----------------------------------------------------------------------------
def match_persons(plan: ImportPlan) -> None:
    from stdnum.eu import vat as stdvat
    from stdnum.fr import siren as stdsiren

    _in_file_duplicates(plan, PERSON_KEYS)
    ids = {int(r["id"]) for _l, r in plan.rows if str(r.get("id") or "").isdigit()}
    found = {"id": set(_lookup(Person.id, ids)) if ids else set(),
             "email": _lookup(Person.email, {r.get("email") for _l, r in plan.rows})}
    # organizations referred to, set-based
    for _line, row in plan.rows:
        if row.get("organization_siren"):
            row["organization_siren"] = stdsiren.compact(row["organization_siren"])
        if row.get("organization_vat"):
            row["organization_vat"] = stdvat.compact(row["organization_vat"]).upper()
    org_ids = set(_lookup(Organization.id, {r["organization_id"] for _l, r in plan.rows if r.get("organization_id")}))
    by_siren = _lookup(Organization.siren, {r.get("organization_siren") for _l, r in plan.rows})
    by_vat = _lookup(Organization.vat_number, {r.get("organization_vat") for _l, r in plan.rows})
    names = sorted({normalize(r["organization"]) for _l, r in plan.rows if r.get("organization")})
    by_name = {}
    for start in range(0, len(names), BATCH):
        keys = names[start:start + BATCH]
        for oid, key in db.session.execute(select(Organization.id, Organization.name_key)
                                           .where(Organization.name_key.in_(keys)).order_by(Organization.id.desc())):
            by_name[key] = oid
    plan.new, plan.changed, plan.new_orgs = [], [], {}
    report = plan.report
    for line, row in plan.rows:
        org_id, ok = None, True
        if row.get("organization_id"):
            if row["organization_id"] not in org_ids:
                report.add_error(line, plan.column_of["organization_id"], _("No organization has this id."))
                ok = False
            org_id = row["organization_id"]
        elif row.get("organization_siren"):
            org_id = by_siren.get(row["organization_siren"])
            if org_id is None:
                report.add_error(line, plan.column_of["organization_siren"], _("No organization has this SIREN."))
                ok = False
        elif row.get("organization_vat"):
            org_id = by_vat.get(row["organization_vat"])
            if org_id is None:
                report.add_error(line, plan.column_of["organization_vat"], _("No organization has this VAT number."))
                ok = False
        elif row.get("organization"):
            key = normalize(row["organization"])
            org_id = by_name.get(key)
            if org_id is None:
                if len(row["organization"]) > 200:
                    report.add_error(line, plan.column_of["organization"], _("At most 200 characters."))
                    ok = False
                plan.new_orgs.setdefault(key, " ".join(row["organization"].split()))
        if not ok:
            continue
        row["_org"] = org_id
        row["_org_key"] = normalize(row["organization"]) if org_id is None and row.get("organization") else None
        _classify(plan, line, row, found, PERSON_KEYS)
    report.created = len(plan.new)
    report.updated = len(plan.changed)
    report.organizations_created = len(plan.new_orgs) if report.ok else 0
