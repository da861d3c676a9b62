"""The CRM's HTTP API (blueprint ``crm_api``, mounted at ``/api/v1/<cluster>/crm/``, and
``crm_federation_api``, federation-wide, at ``/api/v1/crm/``).

Bodies are validated by the same forms as the pages (``core.validate``); errors are
``422 {"errors": {field: [messages]}}``.  Organizations and persons are visible to
every cluster's staff; memberships, interactions and segments only to their cluster's.
Thin handlers over the same operations and queries as the pages; the request commits
once at its end (below 400) or rolls back.  (``api.py`` is the CRM's contract for other
plugins, not this.)
"""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from core import ApiBlueprint, ApiError, federation_admin_required, jsonable, requires, today, validate
from core import api_paginate, db, get_or_404, int_arg, job_or_404, json_body

from . import queries
from .competences import competence_usage, give_competence, match, remove_organization_competence, save_competence
from .errors import CrmError
from .forms import (
    CompetenceForm,
    ConsentForm,
    InteractionForm,
    MembershipForm,
    OrganizationCompetenceForm,
    OrganizationFilterForm,
    OrganizationForm,
    PersonForm,
    PersonLinkForm,
    SegmentForm,
)
from .hierarchy import HierarchyError
from .interactions import delete_interaction, followups as followups_of, save_interaction, timeline
from .memberships import delete_membership, save_membership
from .models import MEMBERSHIP_STATUSES, Competence, Interaction, Membership, Organization, Person, Segment
from .organizations import delete_organization, save_organization
from .persons import consent_state, erase_person, export_person, link_person, record_consent, save_person
from .segments import create_segment, delete_segment, person_ids as segment_person_ids

api = ApiBlueprint("crm_api", __name__)
# federation-wide endpoints (no cluster), at /api/v1/crm/: a federation admin's actions
federation_api = ApiBlueprint("crm_federation_api", __name__, federation=True)

_PAGING = ("limit", "offset", "sort")


# -- serializers ---------------------------------------------------------------------
def organization_json(o: Organization) -> dict:
    return {
        "id": o.id, "legal_name": o.legal_name, "trade_name": o.trade_name, "name": o.name, "siren": o.siren,
        "siret": o.siret, "vat_number": o.vat_number, "kind": o.kind, "sector": o.sector, "size_band": o.size_band,
        "street": o.street, "postcode": o.postcode, "city": o.city, "country": o.country, "website": o.website,
        "parent_id": o.parent_id, "tags": [t.name for t in o.tags],
        "created_at": jsonable(o.created_at), "updated_at": jsonable(o.updated_at),
    }


def person_json(p: Person) -> dict:
    return {
        "id": p.id, "first_name": p.first_name, "last_name": p.last_name, "full_name": p.full_name, "email": p.email,
        "phone": p.phone, "job_title": p.job_title, "function": p.function, "language": p.language,
        "erased": p.erased_at is not None,
        "organizations": [{"organization_id": ln.organization_id, "name": ln.organization.name, "role": ln.role,
                           "main": ln.main} for ln in p.links],
    }


def membership_json(m: Membership) -> dict:
    return {"id": m.id, "organization_id": m.organization_id, "status": m.status,
            "start_date": jsonable(m.start_date), "end_date": jsonable(m.end_date), "fee_tier": m.fee_tier,
            "note": m.note, "member_today": m.status == "member" and m.covers(today())}


def interaction_json(i: Interaction) -> dict:
    return {"id": i.id, "organization_id": i.organization_id, "kind": i.kind, "date": jsonable(i.date),
            "author_id": i.author_id, "subject": i.subject, "summary": i.summary,
            "persons": [p.id for p in i.persons], "follow_up_on": jsonable(i.follow_up_on),
            "follow_up_done": i.follow_up_done}


def competence_json(c: Competence) -> dict:
    return {"id": c.id, "name": c.name, "category": c.category, "description": c.description}


def segment_json(s: Segment) -> dict:
    return {"id": s.id, "name": s.name, "filters": s.filters, "created_at": jsonable(s.created_at)}


def _filter_values() -> dict:
    args = request.args.to_dict(flat=True)
    unknown = sorted(set(args) - set(queries.FILTER_KEYS) - set(_PAGING))
    if unknown:
        raise ApiError({name: ["Unknown filter."] for name in unknown}, 400)
    form = OrganizationFilterForm(formdata=request.args)
    if not form.validate():
        raise ApiError({k: [str(m) for m in v] for k, v in form.errors.items()}, 400)
    return form.values


# -- organizations -------------------------------------------------------------------
@api.operation("/organizations", summary="Organizations matching filters (q, kind, sector, size, country, tag, "
               "competence, need, membership)", paginated=True)
def organizations():
    return jsonify(api_paginate(db.session, queries.organizations_select(_filter_values()), organization_json))


@api.operation("/organizations", methods=["POST"], summary="Create an organization", form=OrganizationForm)
@requires("crm.edit")
def organization_create():
    form = validate(OrganizationForm)
    org = _save_organization(Organization(), form)
    return jsonify(organization_json(org)), 201


def _save_organization(org: Organization, form) -> Organization:
    """Save a validated form; a parent the hierarchy refuses is the field's 422."""
    try:
        return save_organization(org, form)
    except HierarchyError as exc:
        raise ApiError({exc.field: [str(exc)]}, 422) from None


@api.operation("/organizations/<int:org_id>", summary="An organization with its persons, this cluster's "
               "memberships, competences and needs")
def organization(org_id: int):
    details = queries.organization_details(get_or_404(Organization, org_id))
    data = organization_json(details.organization)
    data["persons"] = [{"id": p.id, "full_name": p.full_name, "email": p.email, "role": ln.role}
                       for p, ln in details.links]
    data["memberships"] = [membership_json(m) for m in reversed(details.memberships)]  # the earliest first
    data["competences"] = [competence_json(c) for c in details.competences["has"]]
    data["needs"] = [competence_json(c) for c in details.competences["needs"]]
    return jsonify(data)


@api.operation("/organizations/<int:org_id>", methods=["PATCH"], summary="Change an organization",
               form=OrganizationForm)
@requires("crm.edit")
def organization_update(org_id: int):
    org = get_or_404(Organization, org_id)
    form = validate(OrganizationForm, obj=org, partial=True, current_id=org.id)
    _save_organization(org, form)
    return jsonify(organization_json(org))


@api.operation("/organizations/<int:org_id>", methods=["DELETE"],
               summary="Delete an organization no cluster has history with")
@requires("crm.erase")
def organization_delete(org_id: int):
    org = get_or_404(Organization, org_id)
    try:
        delete_organization(org)
    except CrmError as exc:
        raise ApiError({"_": [str(exc)]}, 409)
    return "", 204


@api.operation("/organizations/<int:org_id>/timeline", summary="The organization's timeline in this cluster")
def organization_timeline(org_id: int):
    get_or_404(Organization, org_id)
    rows = timeline("crm.organization", org_id)
    return jsonify({"items": [{"when": jsonable(r["when"]), "kind": r["entry"].kind, "title": r["entry"].title,
                               "plugin": r["entry"].plugin, "url": r["entry"].url, "detail": r["entry"].detail,
                               "interaction_id": r["interaction"].id if r["interaction"] else None}
                              for r in rows]})


@api.operation("/organizations/<int:org_id>/competences", methods=["POST"],
               summary="Give an organization a competence or a need", form=OrganizationCompetenceForm)
@requires("crm.edit")
def organization_competence_add(org_id: int):
    get_or_404(Organization, org_id)
    form = validate(OrganizationCompetenceForm)
    competence, added = give_competence(org_id, form)
    return jsonify({"competence": competence_json(competence), "kind": form.kind.data}), 201 if added else 200


@api.operation("/organizations/<int:org_id>/competences/<int:competence_id>/<kind>", methods=["DELETE"],
               summary="Remove a competence or need from an organization")
@requires("crm.edit")
def organization_competence_remove(org_id: int, competence_id: int, kind: str):
    get_or_404(Organization, org_id)
    if kind not in ("has", "needs"):
        raise ApiError({"kind": ["Must be 'has' or 'needs'."]}, 404)
    remove_organization_competence(org_id, competence_id, kind)
    return "", 204


@api.operation("/organizations/<int:org_id>/matching", summary="Organizations complementing this one, best "
               "first (direction=needs|offers, competence=id)")
def organization_matching(org_id: int):
    get_or_404(Organization, org_id)
    direction = request.args.get("direction", "needs")
    if direction not in ("needs", "offers"):
        raise ApiError({"direction": ["Must be 'needs' or 'offers'."]}, 400)
    results = match(org_id, direction=direction, competence_id=int_arg("competence"))
    return jsonify({"items": [{"organization": {"id": r["organization"].id, "name": r["organization"].name},
                               "overlap": r["overlap"], "competences": r["competences"], "member": r["member"],
                               "last_contact": jsonable(r["last_contact"])} for r in results]})


# -- persons -------------------------------------------------------------------------
@api.operation("/persons", summary="Persons (q: words in names, e-mail, phone)", paginated=True)
def persons():
    return jsonify(api_paginate(db.session, queries.persons_select(request.args.get("q", "")[:200]), person_json))


@api.operation("/persons", methods=["POST"], summary="Create a person", form=PersonForm)
@requires("crm.edit")
def person_create():
    form = validate(PersonForm)
    return jsonify(person_json(save_person(Person(), form))), 201


@api.operation("/persons/<int:person_id>", summary="A person, their organizations and consents")
def person(person_id: int):
    p = get_or_404(Person, person_id)
    data = person_json(p)
    data["consents"] = {purpose: ({"status": rec.status, "at": jsonable(rec.at), "method": rec.method} if rec else None)
                        for purpose, rec in consent_state(p.id).items()}
    return jsonify(data)


@api.operation("/persons/<int:person_id>", methods=["PATCH"], summary="Change a person", form=PersonForm)
@requires("crm.edit")
def person_update(person_id: int):
    p = get_or_404(Person, person_id)
    if p.erased_at is not None:
        raise ApiError({"_": ["This person's data was erased."]}, 409)
    form = validate(PersonForm, obj=p, partial=True, current_id=p.id)
    save_person(p, form)
    return jsonify(person_json(p))


@api.operation("/persons/<int:person_id>/organizations", methods=["POST"],
               summary="Link a person to an organization", form=PersonLinkForm)
@requires("crm.edit")
def person_link(person_id: int):
    p = get_or_404(Person, person_id)
    form = validate(PersonLinkForm)
    link_person(p, form.organization_id.data, role=form.role.data, main=form.main.data)
    return jsonify(person_json(p)), 201


@api.operation("/persons/<int:person_id>/consents", methods=["POST"], summary="Record a consent granted or "
               "withdrawn", form=ConsentForm)
@requires("crm.edit")
def person_consent(person_id: int):
    p = get_or_404(Person, person_id)
    form = validate(ConsentForm)
    try:
        rec = record_consent(p, form.purpose.data, form.status.data, method=form.method.data, on=form.on.data,
                             user_id=current_user.id)
    except CrmError as exc:
        raise ApiError({"status": [str(exc)]}, 409)
    return jsonify({"purpose": rec.purpose, "status": rec.status, "at": jsonable(rec.at), "method": rec.method}), 201


@api.operation("/persons/<int:person_id>/export", summary="A person's shared identity data and this cluster's "
               "records about them")
@requires("crm.erase")
def person_export(person_id: int):
    return jsonify(export_person(get_or_404(Person, person_id)))


@federation_api.operation("/persons/<int:person_id>/subject-access", summary="Everything held about a person in "
                          "every cluster (right of access); federation admins only")
@federation_admin_required
def person_subject_access(person_id: int):
    return jsonify(export_person(get_or_404(Person, person_id), all_clusters=True))


@api.operation("/persons/<int:person_id>/erase", methods=["POST"], summary="Anonymize a person (right to erasure)")
@requires("crm.erase")
def person_erase(person_id: int):
    p = get_or_404(Person, person_id)
    try:
        erase_person(p, user_id=current_user.id)
    except CrmError as exc:
        raise ApiError({"_": [str(exc)]}, 409)
    return jsonify(person_json(p))


# -- memberships (this cluster) ---------------------------------------------------------
@api.operation("/memberships", summary="This cluster's memberships (organization_id, status)", paginated=True)
def memberships():
    status = request.args.get("status", "")
    if status and status not in MEMBERSHIP_STATUSES:
        raise ApiError({"status": [f"One of {', '.join(MEMBERSHIP_STATUSES)}."]}, 400)
    stmt = queries.memberships_select(organization_id=int_arg("organization_id"), status=status)
    return jsonify(api_paginate(db.session, stmt, membership_json))


@api.operation("/memberships", methods=["POST"], summary="Record a membership period in this cluster",
               form=MembershipForm)
@requires("crm.edit")
def membership_create():
    form = validate(MembershipForm)
    return jsonify(membership_json(save_membership(None, form))), 201


@api.operation("/memberships/<int:membership_id>", methods=["PATCH"], summary="Change a membership",
               form=MembershipForm)
@requires("crm.edit")
def membership_update(membership_id: int):
    m = get_or_404(Membership, membership_id)
    form = validate(MembershipForm, obj=m, partial=True)
    save_membership(m, form)
    return jsonify(membership_json(m))


@api.operation("/memberships/<int:membership_id>", methods=["DELETE"], summary="Delete a membership")
@requires("crm.edit")
def membership_delete(membership_id: int):
    delete_membership(get_or_404(Membership, membership_id))
    return "", 204


# -- interactions (this cluster) --------------------------------------------------------
@api.operation("/interactions", summary="This cluster's interactions (organization_id)", paginated=True)
def interactions():
    stmt = queries.interactions_select(organization_id=int_arg("organization_id"))
    return jsonify(api_paginate(db.session, stmt, interaction_json))


@api.operation("/interactions", methods=["POST"], summary="Record a visit, call, meeting, e-mail or note",
               form=InteractionForm)
@requires("crm.edit")
def interaction_create():
    form = validate(InteractionForm)
    return jsonify(interaction_json(save_interaction(None, form, author_id=current_user.id))), 201


@api.operation("/interactions/<int:interaction_id>", summary="An interaction")
def interaction(interaction_id: int):
    return jsonify(interaction_json(get_or_404(Interaction, interaction_id)))


@api.operation("/interactions/<int:interaction_id>", methods=["PATCH"], summary="Change an interaction "
               "(e.g. follow_up_done)", form=InteractionForm)
@requires("crm.edit")
def interaction_update(interaction_id: int):
    i = get_or_404(Interaction, interaction_id)
    body = dict(json_body())
    body.setdefault("persons", [p.id for p in i.persons])
    form = validate(InteractionForm, obj=i, data=body, partial=True)
    save_interaction(i, form, author_id=i.author_id)
    return jsonify(interaction_json(i))


@api.operation("/interactions/<int:interaction_id>", methods=["DELETE"], summary="Delete an interaction")
@requires("crm.edit")
def interaction_delete(interaction_id: int):
    delete_interaction(get_or_404(Interaction, interaction_id))
    return "", 204


@api.operation("/follow-ups", summary="My follow-ups in this cluster, the most urgent first")
def followups():
    include_done = request.args.get("done") in ("1", "true")
    return jsonify({"items": [interaction_json(i) for i in followups_of(current_user.id, include_done=include_done)]})


# -- competences ---------------------------------------------------------------------
@api.operation("/competences", summary="The shared competence vocabulary")
def competences():
    return jsonify({"items": [{**competence_json(c), "organizations_having": has, "organizations_needing": needs}
                              for c, has, needs in competence_usage()]})


@api.operation("/competences", methods=["POST"], summary="Add a competence to the vocabulary", form=CompetenceForm)
@requires("crm.edit")
def competence_create():
    form = validate(CompetenceForm)
    return jsonify(competence_json(save_competence(None, form))), 201


# -- segments (this cluster) -------------------------------------------------------------
@api.operation("/segments", summary="This cluster's saved segments")
def segments():
    return jsonify({"items": [segment_json(s) for s in queries.segment_list()]})


@api.operation("/segments", methods=["POST"], summary="Save a filter as a segment: {name, filters: {...}}",
               form=SegmentForm)
@requires("crm.edit")
def segment_create():
    body = json_body()
    unknown = sorted(set(body) - {"name", "filters"})
    if unknown:
        raise ApiError({k: ["Unknown field."] for k in unknown}, 422)
    filters = body.get("filters") or {}
    if not isinstance(filters, dict):
        raise ApiError({"filters": ["Must be an object."]}, 422)
    form = validate(SegmentForm, data={"name": body.get("name")})
    bad = sorted(set(filters) - set(queries.FILTER_KEYS))
    if bad:
        raise ApiError({f"filters.{k}": ["Unknown filter."] for k in bad}, 422)
    # formdata, not data=: Optional() skips every check of a field without raw input
    ff = OrganizationFilterForm(formdata=MultiDict(
        (k, v if isinstance(v, str) else str(v)) for k, v in filters.items() if v is not None))
    if not ff.validate():
        raise ApiError({f"filters.{k}": [str(m) for m in v] for k, v in ff.errors.items()}, 422)
    segment = create_segment(form.name.data, ff.values, created_by_id=current_user.id)
    return jsonify(segment_json(segment)), 201


@api.operation("/segments/<int:segment_id>/persons", summary="Ids of the persons a segment reaches today")
def segment_persons(segment_id: int):
    return jsonify({"items": segment_person_ids(get_or_404(Segment, segment_id))})


@api.operation("/segments/<int:segment_id>", methods=["DELETE"], summary="Delete a segment")
@requires("crm.edit")
def segment_delete(segment_id: int):
    delete_segment(get_or_404(Segment, segment_id))
    return "", 204


# -- import --------------------------------------------------------------------------
def _import_json(job) -> dict:
    report = (job.result or {}).get("report")
    return {"job_id": job.id, "status": job.status, "dry_run": bool(job.params.get("dry_run")),
            "done": job.done, "total": job.total, "message": job.message, "report": report}


@api.operation("/import", methods=["POST"], summary="Check a CSV or XLSX file (multipart: file, kind, on_duplicate, "
               "delimiter, encoding, mapping); the check runs in the background (poll GET /import/{job_id})")
@requires("crm.import")
def import_check():
    from core import form_errors

    from .forms import ImportForm
    from .importing import ImportRefused, check_upload

    form = ImportForm(meta={"csrf": False})
    if not form.validate_on_submit():
        raise ApiError(form_errors(form), 422)
    try:
        job = check_upload(form, user_id=current_user.id)
    except ImportRefused as exc:
        raise ApiError({"file": [str(exc)]}, 413)
    return jsonify(_import_json(job)), 202  # the job as the jobs service wrote it (its own session)


@api.operation("/import/<int:job_id>", summary="An import or its check: status and report")
@requires("crm.import")
def import_status(job_id: int):
    return jsonify(_import_json(job_or_404(job_id, "crm.import")))


@api.operation("/import/<int:job_id>/run", methods=["POST"], summary="Import a file its check found correct "
               "(all or nothing, in the background)")
@requires("crm.import")
def import_run(job_id: int):
    from .importing import run_checked_import

    job = run_checked_import(job_or_404(job_id, "crm.import"), user_id=current_user.id)
    if job is None:
        raise ApiError({"_": ["This check cannot be imported (already imported, or it found errors)."]}, 409)
    # the job as the jobs service wrote it (its own session); a second call: the same job
    return jsonify(_import_json(job)), 200 if job.existing else 202
