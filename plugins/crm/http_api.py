"""The CRM's HTTP API (blueprint ``crm_api``, mounted at ``/api/v1/<cluster>/crm/``, and
``crm_federation_api``, federation-wide, at ``/api/v1/crm/``).

Bodies are validated by the same forms as the pages (``core.validate``); errors are
``422 {"errors": {field: [messages]}}``.  Every answer is a model of :mod:`.serializers`
(``response=`` on the operation: the OpenAPI document describes it).  Organizations and
persons are visible to every cluster's staff; memberships, interactions and segments only
to their cluster's.
Thin handlers over the same operations and queries as the pages; the request commits
once at its end (below 400) or rolls back.  (``api.py`` is the CRM's contract for other
plugins, not this.)
"""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from core import ApiBlueprint, ApiError, federation_admin_required, requires, serialize, validate
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
from .models import MEMBERSHIP_STATUSES, Interaction, Membership, Organization, Person, Segment
from .organizations import delete_organization, save_organization
from .persons import consent_state, erase_person, export_person, link_person, record_consent, save_person
from .segments import create_segment, delete_segment, person_ids as segment_person_ids
from .serializers import (
    CompetenceOut,
    CompetenceUsageListOut,
    CompetenceUsageOut,
    ConsentOut,
    ImportJobOut,
    InteractionListOut,
    InteractionOut,
    MatchListOut,
    MembershipOut,
    OrganizationCompetenceOut,
    OrganizationDetailOut,
    OrganizationOut,
    PersonDetailOut,
    PersonExportOut,
    PersonOut,
    SegmentListOut,
    SegmentOut,
    SegmentPersonsOut,
    TimelineEntryOut,
    TimelineOut,
)

api = ApiBlueprint("crm_api", __name__)
# federation-wide endpoints (no cluster), at /api/v1/crm/: a federation admin's actions
federation_api = ApiBlueprint("crm_federation_api", __name__, federation=True)

_PAGING = ("limit", "offset", "sort")


def _out(model):
    """The serializer of a list's items (``api_paginate``)."""
    return lambda obj: serialize(model, obj)


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
               "competence, need, membership)", paginated=True, response=OrganizationOut)
def organizations():
    return jsonify(api_paginate(db.session, queries.organizations_select(_filter_values()), _out(OrganizationOut)))


@api.operation("/organizations", methods=["POST"], summary="Create an organization", form=OrganizationForm,
               response=OrganizationOut)
@requires("crm.edit")
def organization_create():
    form = validate(OrganizationForm)
    org = _save_organization(Organization(), form)
    return jsonify(serialize(OrganizationOut, org)), 201


def _save_organization(org: Organization, form) -> Organization:
    """Save a validated form; a parent the hierarchy refuses is the field's 422."""
    try:
        return save_organization(org, form)
    except HierarchyError as exc:
        raise ApiError({exc.field: [str(exc)]}, 422) from None


@api.operation("/organizations/<int:org_id>", summary="An organization with its persons, this cluster's "
               "memberships, competences and needs", response=OrganizationDetailOut)
def organization(org_id: int):
    details = queries.organization_details(get_or_404(Organization, org_id))
    return jsonify(serialize(
        OrganizationDetailOut, details.organization,
        persons=[{"id": p.id, "full_name": p.full_name, "email": p.email, "role": ln.role} for p, ln in details.links],
        memberships=list(reversed(details.memberships)),  # the earliest first
        competences=details.competences["has"], needs=details.competences["needs"]))


@api.operation("/organizations/<int:org_id>", methods=["PATCH"], summary="Change an organization",
               form=OrganizationForm, response=OrganizationOut)
@requires("crm.edit")
def organization_update(org_id: int):
    org = get_or_404(Organization, org_id)
    form = validate(OrganizationForm, obj=org, partial=True, current_id=org.id)
    _save_organization(org, form)
    return jsonify(serialize(OrganizationOut, org))


@api.operation("/organizations/<int:org_id>", methods=["DELETE"],
               summary="Delete an organization no cluster has history with", errors=(409,))
@requires("crm.erase")
def organization_delete(org_id: int):
    org = get_or_404(Organization, org_id)
    try:
        delete_organization(org)
    except CrmError as exc:
        raise ApiError({"_": [str(exc)]}, 409)
    return "", 204


@api.operation("/organizations/<int:org_id>/timeline", summary="The organization's timeline in this cluster",
               response=TimelineOut)
def organization_timeline(org_id: int):
    get_or_404(Organization, org_id)
    rows = timeline("crm.organization", org_id)
    return jsonify({"items": [
        serialize(TimelineEntryOut, r["entry"], when=r["when"],
                  interaction_id=r["interaction"].id if r["interaction"] else None) for r in rows]})


@api.operation("/organizations/<int:org_id>/competences", methods=["POST"],
               summary="Give an organization a competence or a need (201; 200 if it had it already)",
               form=OrganizationCompetenceForm, response=OrganizationCompetenceOut, status=(201, 200))
@requires("crm.edit")
def organization_competence_add(org_id: int):
    get_or_404(Organization, org_id)
    form = validate(OrganizationCompetenceForm)
    competence, added = give_competence(org_id, form)
    return jsonify(serialize(OrganizationCompetenceOut, {"competence": competence, "kind": form.kind.data})), \
        201 if added else 200


@api.operation("/organizations/<int:org_id>/competences/<int:competence_id>/<kind>", methods=["DELETE"],
               summary="Remove a competence or need from an organization (kind: has or needs)")
@requires("crm.edit")
def organization_competence_remove(org_id: int, competence_id: int, kind: str):
    get_or_404(Organization, org_id)
    if kind not in ("has", "needs"):
        raise ApiError({"kind": ["Must be 'has' or 'needs'."]}, 404)
    remove_organization_competence(org_id, competence_id, kind)
    return "", 204


@api.operation("/organizations/<int:org_id>/matching", summary="Organizations complementing this one, best "
               "first (direction=needs|offers, competence=id)", response=MatchListOut, errors=(400,))
def organization_matching(org_id: int):
    get_or_404(Organization, org_id)
    direction = request.args.get("direction", "needs")
    if direction not in ("needs", "offers"):
        raise ApiError({"direction": ["Must be 'needs' or 'offers'."]}, 400)
    results = match(org_id, direction=direction, competence_id=int_arg("competence"))
    return jsonify(serialize(MatchListOut, {"items": results}))


# -- persons -------------------------------------------------------------------------
@api.operation("/persons", summary="Persons (q: words in names, e-mail, phone)", paginated=True,
               response=PersonOut)
def persons():
    stmt = queries.persons_select(request.args.get("q", "")[:200])
    return jsonify(api_paginate(db.session, stmt, _out(PersonOut)))


@api.operation("/persons", methods=["POST"], summary="Create a person", form=PersonForm, response=PersonOut)
@requires("crm.edit")
def person_create():
    form = validate(PersonForm)
    return jsonify(serialize(PersonOut, save_person(Person(), form))), 201


@api.operation("/persons/<int:person_id>", summary="A person, their organizations and consents",
               response=PersonDetailOut)
def person(person_id: int):
    p = get_or_404(Person, person_id)
    return jsonify(serialize(PersonDetailOut, p, consents=consent_state(p.id)))


@api.operation("/persons/<int:person_id>", methods=["PATCH"], summary="Change a person", form=PersonForm,
               response=PersonOut, errors=(409,))
@requires("crm.edit")
def person_update(person_id: int):
    p = get_or_404(Person, person_id)
    if p.erased_at is not None:
        raise ApiError({"_": ["This person's data was erased."]}, 409)
    form = validate(PersonForm, obj=p, partial=True, current_id=p.id)
    save_person(p, form)
    return jsonify(serialize(PersonOut, p))


@api.operation("/persons/<int:person_id>/organizations", methods=["POST"],
               summary="Link a person to an organization", form=PersonLinkForm, response=PersonOut)
@requires("crm.edit")
def person_link(person_id: int):
    p = get_or_404(Person, person_id)
    form = validate(PersonLinkForm)
    link_person(p, form.organization_id.data, role=form.role.data, main=form.main.data)
    return jsonify(serialize(PersonOut, p)), 201


@api.operation("/persons/<int:person_id>/consents", methods=["POST"], summary="Record a consent granted or "
               "withdrawn", form=ConsentForm, response=ConsentOut, errors=(409,))
@requires("crm.edit")
def person_consent(person_id: int):
    p = get_or_404(Person, person_id)
    form = validate(ConsentForm)
    try:
        rec = record_consent(p, form.purpose.data, form.status.data, method=form.method.data, on=form.on.data,
                             user_id=current_user.id)
    except CrmError as exc:
        raise ApiError({"status": [str(exc)]}, 409)
    return jsonify(serialize(ConsentOut, rec)), 201


@api.operation("/persons/<int:person_id>/export", summary="A person's shared identity data and this cluster's "
               "records about them", response=PersonExportOut)
@requires("crm.erase")
def person_export(person_id: int):
    return jsonify(export_person(get_or_404(Person, person_id)))


@federation_api.operation("/persons/<int:person_id>/subject-access", summary="Everything held about a person in "
                          "every cluster (right of access); federation admins only", response=PersonExportOut)
@federation_admin_required
def person_subject_access(person_id: int):
    return jsonify(export_person(get_or_404(Person, person_id), all_clusters=True))


@api.operation("/persons/<int:person_id>/erase", methods=["POST"], summary="Anonymize a person (right to erasure)",
               response=PersonOut, errors=(409,))
@requires("crm.erase")
def person_erase(person_id: int):
    p = get_or_404(Person, person_id)
    try:
        erase_person(p, user_id=current_user.id)
    except CrmError as exc:
        raise ApiError({"_": [str(exc)]}, 409)
    return jsonify(serialize(PersonOut, p))


# -- memberships (this cluster) ---------------------------------------------------------
@api.operation("/memberships", summary="This cluster's memberships (organization_id, status)", paginated=True,
               response=MembershipOut)
def memberships():
    status = request.args.get("status", "")
    if status and status not in MEMBERSHIP_STATUSES:
        raise ApiError({"status": [f"One of {', '.join(MEMBERSHIP_STATUSES)}."]}, 400)
    stmt = queries.memberships_select(organization_id=int_arg("organization_id"), status=status)
    return jsonify(api_paginate(db.session, stmt, _out(MembershipOut)))


@api.operation("/memberships", methods=["POST"], summary="Record a membership period in this cluster",
               form=MembershipForm, response=MembershipOut)
@requires("crm.edit")
def membership_create():
    form = validate(MembershipForm)
    return jsonify(serialize(MembershipOut, save_membership(None, form))), 201


@api.operation("/memberships/<int:membership_id>", methods=["PATCH"], summary="Change a membership",
               form=MembershipForm, response=MembershipOut)
@requires("crm.edit")
def membership_update(membership_id: int):
    m = get_or_404(Membership, membership_id)
    form = validate(MembershipForm, obj=m, partial=True)
    save_membership(m, form)
    return jsonify(serialize(MembershipOut, m))


@api.operation("/memberships/<int:membership_id>", methods=["DELETE"], summary="Delete a membership")
@requires("crm.edit")
def membership_delete(membership_id: int):
    delete_membership(get_or_404(Membership, membership_id))
    return "", 204


# -- interactions (this cluster) --------------------------------------------------------
@api.operation("/interactions", summary="This cluster's interactions (organization_id)", paginated=True,
               response=InteractionOut)
def interactions():
    stmt = queries.interactions_select(organization_id=int_arg("organization_id"))
    return jsonify(api_paginate(db.session, stmt, _out(InteractionOut)))


@api.operation("/interactions", methods=["POST"], summary="Record a visit, call, meeting, e-mail or note",
               form=InteractionForm, response=InteractionOut)
@requires("crm.edit")
def interaction_create():
    form = validate(InteractionForm)
    return jsonify(serialize(InteractionOut, save_interaction(None, form, author_id=current_user.id))), 201


@api.operation("/interactions/<int:interaction_id>", summary="An interaction", response=InteractionOut)
def interaction(interaction_id: int):
    return jsonify(serialize(InteractionOut, get_or_404(Interaction, interaction_id)))


@api.operation("/interactions/<int:interaction_id>", methods=["PATCH"], summary="Change an interaction "
               "(e.g. follow_up_done)", form=InteractionForm, response=InteractionOut)
@requires("crm.edit")
def interaction_update(interaction_id: int):
    i = get_or_404(Interaction, interaction_id)
    body = dict(json_body())
    body.setdefault("persons", [p.id for p in i.persons])
    form = validate(InteractionForm, obj=i, data=body, partial=True)
    save_interaction(i, form, author_id=i.author_id)
    return jsonify(serialize(InteractionOut, i))


@api.operation("/interactions/<int:interaction_id>", methods=["DELETE"], summary="Delete an interaction")
@requires("crm.edit")
def interaction_delete(interaction_id: int):
    delete_interaction(get_or_404(Interaction, interaction_id))
    return "", 204


@api.operation("/follow-ups", summary="My follow-ups in this cluster, the most urgent first (done=1: the "
               "done ones too)", response=InteractionListOut)
def followups():
    include_done = request.args.get("done") in ("1", "true")
    return jsonify(serialize(InteractionListOut, {"items": followups_of(current_user.id, include_done=include_done)}))


# -- competences ---------------------------------------------------------------------
@api.operation("/competences", summary="The shared competence vocabulary", response=CompetenceUsageListOut)
def competences():
    return jsonify({"items": [
        serialize(CompetenceUsageOut, c, organizations_having=has, organizations_needing=needs)
        for c, has, needs in competence_usage()]})


@api.operation("/competences", methods=["POST"], summary="Add a competence to the vocabulary", form=CompetenceForm,
               response=CompetenceOut)
@requires("crm.edit")
def competence_create():
    form = validate(CompetenceForm)
    return jsonify(serialize(CompetenceOut, save_competence(None, form))), 201


# -- segments (this cluster) -------------------------------------------------------------
@api.operation("/segments", summary="This cluster's saved segments", response=SegmentListOut)
def segments():
    return jsonify(serialize(SegmentListOut, {"items": queries.segment_list()}))


@api.operation("/segments", methods=["POST"], summary="Save a filter as a segment: {name, filters: {...}}",
               form=SegmentForm, response=SegmentOut)
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
    return jsonify(serialize(SegmentOut, segment)), 201


@api.operation("/segments/<int:segment_id>/persons", summary="Ids of the persons a segment reaches today",
               response=SegmentPersonsOut)
def segment_persons(segment_id: int):
    return jsonify(serialize(SegmentPersonsOut, {"items": segment_person_ids(get_or_404(Segment, segment_id))}))


@api.operation("/segments/<int:segment_id>", methods=["DELETE"], summary="Delete a segment")
@requires("crm.edit")
def segment_delete(segment_id: int):
    delete_segment(get_or_404(Segment, segment_id))
    return "", 204


# -- import --------------------------------------------------------------------------
def _import_out(job) -> dict:
    return serialize(ImportJobOut, job, dry_run=bool((job.params or {}).get("dry_run")),
                     report=(job.result or {}).get("report"))


@api.operation("/import", methods=["POST"], summary="Check a CSV or XLSX file (multipart: file, kind, on_duplicate, "
               "delimiter, encoding, mapping); the check runs in the background (poll GET /import/{job_id})",
               response=ImportJobOut, status=202, errors=(413, 422))
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
    return jsonify(_import_out(job)), 202  # the job as the jobs service wrote it (its own session)


@api.operation("/import/<int:job_id>", summary="An import or its check: status and report", response=ImportJobOut)
@requires("crm.import")
def import_status(job_id: int):
    return jsonify(_import_out(job_or_404(job_id, "crm.import")))


@api.operation("/import/<int:job_id>/run", methods=["POST"], summary="Import a file its check found correct "
               "(all or nothing, in the background; 200 with the import already started, on a second call)",
               response=ImportJobOut, status=(202, 200), errors=(409,))
@requires("crm.import")
def import_run(job_id: int):
    from .importing import run_checked_import

    job = run_checked_import(job_or_404(job_id, "crm.import"), user_id=current_user.id)
    if job is None:
        raise ApiError({"_": ["This check cannot be imported (already imported, or it found errors)."]}, 409)
    # the job as the jobs service wrote it (its own session); a second call: the same job
    return jsonify(_import_out(job)), 200 if job.existing else 202
