"""CRM pages (blueprint ``crm``, mounted at ``/<cluster>/crm/``, and ``crm_federation``, the
federation admin's pages at ``/admin/crm/``): thin handlers over the operations
(:mod:`.organizations`, :mod:`.persons`, :mod:`.memberships`, :mod:`.interactions`,
:mod:`.competences`, :mod:`.segments`) and :mod:`.queries`.

A handler validates with a form, calls an operation (which flushes) and answers; the
request commits once at its end (below 400) or rolls back (core.database's
``request_transaction``): nothing here commits.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core import ClusterBlueprint, ConfirmForm, can, export_response, federation_admin_required, get_or_404
from core import db, int_arg, job_or_404, page_arg, requires, serialize, today

from . import interactions, memberships, queries
from .competences import (
    competence_usage,
    give_competence,
    match,
    organization_competences,
    remove_organization_competence,
    save_competence,
    vocabulary,
)
from .errors import CrmError
from .forms import (
    CompetenceForm,
    ConsentForm,
    FollowUpForm,
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
from .models import (
    CONSENT_PURPOSES,
    INTERACTION_KINDS,
    MEMBERSHIP_STATUSES,
    ORGANIZATION_KINDS,
    PERSON_FUNCTIONS,
    SIZE_BANDS,
    Competence,
    Interaction,
    Membership,
    Organization,
    Person,
    Segment,
)
from .nace import sector_label
from .organizations import delete_organization, save_organization
from .persons import consent_state, erase_person, export_person, link_person, record_consent, save_person, unlink_person
from .segments import create_segment, delete_segment, segment_count
from .serializers import OrganizationSuggestionOut

bp = ClusterBlueprint("crm", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")
# federation-wide pages (no cluster): a federation admin's actions on the shared CRM
federation_bp = Blueprint("crm_federation", __name__, url_prefix="/admin/crm")


@bp.app_template_filter("crm_sector")
def _sector_filter(code):
    return sector_label(code)


class _Labels(dict):
    """Translated labels of a vocabulary, each translated once per request (not once per row)."""

    def __init__(self, lazy: dict):
        super().__init__()
        self._lazy = lazy

    def __missing__(self, key):
        value = self[key] = str(self._lazy[key])
        return value

    def get(self, key, default=None):
        return self[key] if key in self._lazy else default

    def items(self):
        return [(k, self[k]) for k in self._lazy]

    def __iter__(self):
        return iter(self._lazy)

    def __contains__(self, key):
        return key in self._lazy


@bp.context_processor
def _labels():
    return {
        "ORGANIZATION_KINDS": _Labels(ORGANIZATION_KINDS), "SIZE_BANDS": _Labels(SIZE_BANDS),
        "MEMBERSHIP_STATUSES": _Labels(MEMBERSHIP_STATUSES), "INTERACTION_KINDS": _Labels(INTERACTION_KINDS),
        "PERSON_FUNCTIONS": _Labels(PERSON_FUNCTIONS), "CONSENT_PURPOSES": _Labels(CONSENT_PURPOSES),
        "can_edit": can(current_user, "crm.edit"), "can_erase": can(current_user, "crm.erase"), "today": today(),
    }


@bp.route("/")
def index():
    return redirect(url_for("crm.organizations"))


# -- organizations -------------------------------------------------------------------
def _filter_form() -> OrganizationFilterForm:
    return OrganizationFilterForm(formdata=request.args)


@bp.route("/organizations/")
def organizations():
    form = _filter_form()
    if not form.validate():
        return render_template("crm/organizations.html", form=form, page=None, statuses={}, counts={},
                               segment_form=SegmentForm()), 400
    sort = request.args.get("sort", "name")
    page = queries.organization_list(form.values, sort=sort, page=page_arg())
    ids = [o.id for o in page.items]
    return render_template("crm/organizations.html", form=form, page=page, sort=sort,
                           statuses=memberships.membership_status_by_org(ids), counts=queries.person_counts(ids),
                           segment_form=SegmentForm(), filters=form.values)


@bp.route("/organizations/suggest")
def organization_suggest():
    """Names for the organization pickers (JSON): ``[{"id": 1, "name": "..."}]``."""
    form = OrganizationFilterForm(formdata=request.args)
    if not form.validate() or not form.values.get("q"):
        return jsonify([])
    page = queries.organization_list({"q": form.values["q"]}, page=1, per_page=15, count=False)
    return jsonify([serialize(OrganizationSuggestionOut, o) for o in page.items])


@bp.route("/organizations/new", methods=["GET", "POST"])
@requires("crm.edit")
def organization_new():
    form = OrganizationForm()
    if form.validate_on_submit() and (org := _saved(Organization(), form)) is not None:
        flash(_("%(name)s is recorded.", name=org.name), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    return render_template("crm/organization_form.html", form=form, org=None), 400 if form.errors else 200


def _saved(org: Organization, form: OrganizationForm) -> Organization | None:
    """Save a validated form; None, with the field's error on the form, when the hierarchy refuses."""
    try:
        return save_organization(org, form)
    except HierarchyError as exc:
        form[exc.field].errors = list(form[exc.field].errors) + [str(exc)]
        return None


@bp.route("/organizations/<int:org_id>")
def organization(org_id: int):
    return _render_organization(get_or_404(Organization, org_id))


def _interaction_form(persons: list[Person], formdata=None, **data) -> InteractionForm:
    form = InteractionForm(formdata=formdata, **data) if formdata is not None else InteractionForm(**data)
    form.persons.choices = [(p.id, p.full_name) for p in persons if p.erased_at is None]
    return form


def _render_organization(org: Organization, *, interaction_form=None, membership_form=None,
                         competence_form=None, status: int = 200):
    details = queries.organization_details(org)
    if interaction_form is None:
        interaction_form = _interaction_form(details.persons, organization_id=org.id)
    if membership_form is None:
        membership_form = MembershipForm(organization_id=org.id, formdata=None)
        membership_form.start_date.data = today()
    return render_template(
        "crm/organization.html", org=org, links=details.links, parent=details.parent,
        subsidiaries=details.subsidiaries, memberships=details.memberships, competences=details.competences,
        timeline=interactions.timeline("crm.organization", org.id),
        interaction_form=interaction_form, membership_form=membership_form,
        competence_form=competence_form or OrganizationCompetenceForm(formdata=None),
        vocabulary=vocabulary(), status_here=details.status_here,
    ), status


@bp.route("/organizations/<int:org_id>/edit", methods=["GET", "POST"])
@requires("crm.edit")
def organization_edit(org_id: int):
    org = get_or_404(Organization, org_id)
    form = OrganizationForm(obj=org, current_id=org.id)
    if form.validate_on_submit() and _saved(org, form) is not None:
        flash(_("%(name)s is saved.", name=org.name), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    return render_template("crm/organization_form.html", form=form, org=org), 400 if form.errors else 200


@bp.route("/organizations/<int:org_id>/delete", methods=["POST"])
@requires("crm.erase")
def organization_delete(org_id: int):
    org = get_or_404(Organization, org_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        delete_organization(org)
    except CrmError as exc:
        flash(str(exc), "error")
        return redirect(url_for("crm.organization", org_id=org.id))
    flash(_("The organization is deleted."), "success")
    return redirect(url_for("crm.organizations"))


@bp.route("/organizations/<int:org_id>/interactions", methods=["POST"])
@requires("crm.edit")
def interaction_new(org_id: int):
    org = get_or_404(Organization, org_id)
    persons = [p for p, _ln in queries.organization_persons(org.id)]
    form = _interaction_form(persons, formdata=request.form, organization_id=org.id)
    form.organization_id.data = org.id
    if form.validate_on_submit() and form.organization_id.data == org.id:
        interaction = interactions.save_interaction(None, form, author_id=current_user.id)
        flash(_("%(kind)s recorded.", kind=INTERACTION_KINDS[interaction.kind]), "success")
        return redirect(url_for("crm.organization", org_id=org.id) + "#timeline")
    return _render_organization(org, interaction_form=form, status=400)


@bp.route("/interactions/<int:interaction_id>/edit", methods=["GET", "POST"])
@requires("crm.edit")
def interaction_edit(interaction_id: int):
    interaction = get_or_404(Interaction, interaction_id)
    org = get_or_404(Organization, interaction.organization_id)
    persons = [p for p, _ln in queries.organization_persons(org.id)]
    extra = [p for p in interaction.persons if p.id not in {q.id for q in persons}]
    if request.method == "POST":
        form = _interaction_form(persons + extra, formdata=request.form, organization_id=org.id)
        form.organization_id.data = org.id
    else:
        form = InteractionForm(obj=interaction)
        form.persons.choices = [(p.id, p.full_name) for p in persons + extra]
        form.persons.data = [p.id for p in interaction.persons]
    if request.method == "POST" and request.form.get("delete") and form.validate_on_submit():
        interactions.delete_interaction(interaction)
        flash(_("The interaction is deleted."), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    if form.validate_on_submit():
        interactions.save_interaction(interaction, form, author_id=current_user.id)
        flash(_("The interaction is saved."), "success")
        return redirect(url_for("crm.organization", org_id=org.id) + "#timeline")
    return render_template("crm/interaction_form.html", form=form, org=org, interaction=interaction), \
        400 if form.errors else 200


@bp.route("/interactions/<int:interaction_id>/follow-up", methods=["POST"])
@requires("crm.edit")
def interaction_followup(interaction_id: int):
    interaction = get_or_404(Interaction, interaction_id)
    form = FollowUpForm()
    if not form.validate_on_submit():
        abort(400)
    interactions.set_follow_up_done(interaction, form.follow_up_done.data)
    flash(_("Follow-up marked done.") if interaction.follow_up_done else _("Follow-up reopened."), "success")
    if request.form.get("next_page") == "org":
        return redirect(url_for("crm.organization", org_id=interaction.organization_id) + "#timeline")
    return redirect(url_for("crm.followups"))


@bp.route("/follow-ups")
def followups():
    include_done = request.args.get("done") == "1"
    items = interactions.followups(current_user.id, include_done=include_done)
    return render_template("crm/followups.html", items=items, include_done=include_done, today=today(),
                           form=FollowUpForm())


@bp.route("/organizations/<int:org_id>/memberships", methods=["POST"])
@requires("crm.edit")
def membership_new(org_id: int):
    org = get_or_404(Organization, org_id)
    form = MembershipForm()
    form.organization_id.data = org.id
    if form.validate_on_submit():
        memberships.save_membership(None, form)
        flash(_("The membership is recorded."), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    return _render_organization(org, membership_form=form, status=400)


@bp.route("/memberships/<int:membership_id>/edit", methods=["GET", "POST"])
@requires("crm.edit")
def membership_edit(membership_id: int):
    membership = get_or_404(Membership, membership_id)
    org = get_or_404(Organization, membership.organization_id)
    form = MembershipForm(obj=membership)
    form.organization_id.data = org.id
    if request.method == "POST" and request.form.get("delete") and form.validate_on_submit():
        memberships.delete_membership(membership)
        flash(_("The membership is deleted."), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    if form.validate_on_submit():
        memberships.save_membership(membership, form)
        flash(_("The membership is saved."), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    return render_template("crm/membership_form.html", form=form, org=org, membership=membership), \
        400 if form.errors else 200


@bp.route("/organizations/<int:org_id>/competences", methods=["POST"])
@requires("crm.edit")
def organization_competence_add(org_id: int):
    org = get_or_404(Organization, org_id)
    form = OrganizationCompetenceForm()
    if form.validate_on_submit():
        give_competence(org.id, form)
        return redirect(url_for("crm.organization", org_id=org.id) + "#competences")
    return _render_organization(org, competence_form=form, status=400)


@bp.route("/organizations/<int:org_id>/competences/<int:competence_id>/<kind>/delete", methods=["POST"])
@requires("crm.edit")
def organization_competence_remove(org_id: int, competence_id: int, kind: str):
    get_or_404(Organization, org_id)
    if kind not in ("has", "needs") or not ConfirmForm().validate_on_submit():
        abort(400)
    remove_organization_competence(org_id, competence_id, kind)
    return redirect(url_for("crm.organization", org_id=org_id) + "#competences")


# -- persons -------------------------------------------------------------------------
@bp.route("/persons/")
def persons():
    query = request.args.get("q", "").strip()[:200]
    function = request.args.get("function", "")
    if function not in PERSON_FUNCTIONS:
        function = ""
    sort = request.args.get("sort", "name")
    page = queries.person_list(query, function=function, sort=sort, page=page_arg())
    return render_template("crm/persons.html", page=page, query=query, function=function, sort=sort)


@bp.route("/persons/new", methods=["GET", "POST"])
@requires("crm.edit")
def person_new():
    form = PersonForm()
    if request.method == "GET":
        form.organization_id.data = int_arg("organization_id")
    org = db.session.get(Organization, form.organization_id.data) if form.organization_id.data else None
    if form.validate_on_submit():
        person = save_person(Person(), form)
        flash(_("%(name)s is recorded.", name=person.full_name), "success")
        if org is not None and request.form.get("back") == "org":
            return redirect(url_for("crm.organization", org_id=org.id))
        return redirect(url_for("crm.person", person_id=person.id))
    return render_template("crm/person_form.html", form=form, person=None, org=org), 400 if form.errors else 200


@bp.route("/persons/<int:person_id>")
def person(person_id: int):
    return _render_person(get_or_404(Person, person_id))


def _render_person(person: Person, *, consent_form=None, link_form=None, status: int = 200):
    return render_template(
        "crm/person.html", person=person, consents=consent_state(person.id),
        consent_form=consent_form or ConsentForm(formdata=None), link_form=link_form or PersonLinkForm(formdata=None),
        timeline=interactions.timeline("crm.person", person.id),
    ), status


@bp.route("/persons/<int:person_id>/edit", methods=["GET", "POST"])
@requires("crm.edit")
def person_edit(person_id: int):
    person = get_or_404(Person, person_id)
    if person.erased_at is not None:
        flash(_("This person's data was erased."), "error")
        return redirect(url_for("crm.person", person_id=person.id))
    form = PersonForm(obj=person, current_id=person.id)
    if request.method == "GET":
        main = next((ln for ln in person.links if ln.main), None)
        form.organization_id.data = main.organization_id if main else None
        form.role.data = main.role if main else ""
    if form.validate_on_submit():
        save_person(person, form)
        flash(_("%(name)s is saved.", name=person.full_name), "success")
        return redirect(url_for("crm.person", person_id=person.id))
    org = db.session.get(Organization, form.organization_id.data) if form.organization_id.data else None
    return render_template("crm/person_form.html", form=form, person=person, org=org), 400 if form.errors else 200


@bp.route("/persons/<int:person_id>/consents", methods=["POST"])
@requires("crm.edit")
def person_consent(person_id: int):
    person = get_or_404(Person, person_id)
    form = ConsentForm()
    if form.validate_on_submit():
        try:
            record_consent(person, form.purpose.data, form.status.data, method=form.method.data,
                                       on=form.on.data, user_id=current_user.id)
        except CrmError as exc:
            form.status.errors = [str(exc)]
        else:
            flash(_("The consent is recorded."), "success")
            return redirect(url_for("crm.person", person_id=person.id) + "#consent")
    return _render_person(person, consent_form=form, status=400)


@bp.route("/persons/<int:person_id>/organizations", methods=["POST"])
@requires("crm.edit")
def person_link(person_id: int):
    person = get_or_404(Person, person_id)
    form = PersonLinkForm()
    if form.validate_on_submit():
        link_person(person, form.organization_id.data, role=form.role.data, main=form.main.data)
        return redirect(url_for("crm.person", person_id=person.id))
    return _render_person(person, link_form=form, status=400)


@bp.route("/persons/<int:person_id>/organizations/<int:org_id>/delete", methods=["POST"])
@requires("crm.edit")
def person_unlink(person_id: int, org_id: int):
    person = get_or_404(Person, person_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    unlink_person(person, org_id)
    return redirect(url_for("crm.person", person_id=person.id))


@bp.route("/persons/<int:person_id>/export.json")
@requires("crm.erase")
def person_export(person_id: int):
    """The shared identity data and this cluster's records about a person."""
    person = get_or_404(Person, person_id)
    response = jsonify(export_person(person))
    response.headers["Content-Disposition"] = f'attachment; filename="person-{person.id}-{g.cluster.slug}.json"'
    return response


@federation_bp.route("/persons/<int:person_id>/subject-access.json")
@federation_admin_required
def person_subject_access(person_id: int):
    """Everything held about a person in every cluster (right of access, GDPR art. 15)."""
    person = get_or_404(Person, person_id)
    response = jsonify(export_person(person, all_clusters=True))
    response.headers["Content-Disposition"] = f'attachment; filename="person-{person.id}-subject-access.json"'
    return response


@bp.route("/persons/<int:person_id>/erase", methods=["POST"])
@requires("crm.erase")
def person_erase(person_id: int):
    person = get_or_404(Person, person_id)
    if not ConfirmForm().validate_on_submit() or request.form.get("confirm") != "erase":
        flash(_("Tick the confirmation to erase this person's data."), "error")
        return redirect(url_for("crm.person", person_id=person.id))
    try:
        erase_person(person, user_id=current_user.id)
    except CrmError as exc:
        flash(str(exc), "error")
    else:
        flash(_("The person's data is erased; the record stays, anonymous, for the counts."), "success")
    return redirect(url_for("crm.person", person_id=person.id))


# -- segments ------------------------------------------------------------------------
@bp.route("/segments/", methods=["GET", "POST"])
def segments():
    form = SegmentForm()
    if request.method == "POST":
        if not can(current_user, "crm.edit"):
            abort(403)
        filters_form = OrganizationFilterForm(formdata=request.form)
        if form.validate_on_submit() and filters_form.validate():
            segment = create_segment(form.name.data, filters_form.values, created_by_id=current_user.id)
            flash(_("Segment “%(name)s” saved.", name=segment.name), "success")
            return redirect(url_for("crm.segments"))
        for field in filters_form:
            for error in field.errors:
                form.name.errors = list(form.name.errors) + [f"{field.label.text}: {error}"]
    items = queries.segment_list()
    counts = {s.id: segment_count(s) for s in items}
    return render_template("crm/segments.html", items=items, form=form, counts=counts), \
        400 if form.errors else 200


@bp.route("/segments/<int:segment_id>/delete", methods=["POST"])
@requires("crm.edit")
def segment_delete(segment_id: int):
    segment = get_or_404(Segment, segment_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    delete_segment(segment)
    flash(_("Segment deleted."), "success")
    return redirect(url_for("crm.segments"))


# -- competences and matching ---------------------------------------------------------
@bp.route("/competences/", methods=["GET", "POST"])
def competences():
    form = CompetenceForm()
    if request.method == "POST":
        if not can(current_user, "crm.edit"):
            abort(403)
        if form.validate_on_submit():
            competence = save_competence(None, form)
            flash(_("“%(name)s” added to the vocabulary.", name=competence.name), "success")
            return redirect(url_for("crm.competences"))
    rows = competence_usage()
    return render_template("crm/competences.html", rows=rows, form=form), 400 if form.errors else 200


@bp.route("/competences/<int:competence_id>/edit", methods=["GET", "POST"])
@requires("crm.edit")
def competence_edit(competence_id: int):
    competence = get_or_404(Competence, competence_id)
    form = CompetenceForm(obj=competence, current_id=competence.id)
    if form.validate_on_submit():
        save_competence(competence, form)
        flash(_("“%(name)s” is saved.", name=competence.name), "success")
        return redirect(url_for("crm.competences"))
    return render_template("crm/competence_form.html", form=form, competence=competence), \
        400 if form.errors else 200


@bp.route("/organizations/<int:org_id>/matching")
def matching(org_id: int):
    org = get_or_404(Organization, org_id)
    direction = request.args.get("direction", "needs")
    if direction not in ("needs", "offers"):
        direction = "needs"
    competence_id = int_arg("competence")
    mine = organization_competences(org.id)
    results = match(org.id, direction=direction, competence_id=competence_id)
    return render_template("crm/matching.html", org=org, direction=direction, competence_id=competence_id,
                           mine=mine, results=results)


# -- exports -------------------------------------------------------------------------
def _export_response(fmt: str, header, rows, name: str):
    return export_response(fmt, header, rows, filename=f"{name}-{today().isoformat()}", sheet=name)


@bp.route("/organizations/export.<fmt>")
def organizations_export(fmt: str):
    from . import exporting

    if fmt not in ("csv", "xlsx"):
        abort(404)
    form = _filter_form()
    if not form.validate():
        abort(400, _("Invalid filters: %(errors)s", errors="; ".join(
            f"{k}: {', '.join(map(str, v))}" for k, v in form.errors.items())))
    return _export_response(fmt, exporting.ORGANIZATION_COLUMNS,
                            exporting.organization_rows(form.values), "organizations")


@bp.route("/persons/export.<fmt>")
def persons_export(fmt: str):
    from . import exporting

    if fmt not in ("csv", "xlsx"):
        abort(404)
    function = request.args.get("function", "")
    return _export_response(fmt, exporting.PERSON_COLUMNS,
                            exporting.person_rows(request.args.get("q", "").strip()[:200],
                                                  function if function in PERSON_FUNCTIONS else ""), "persons")


# -- import ----------------------------------------------------------------------------
@bp.route("/import", methods=["GET", "POST"])
@requires("crm.import")
def import_page():
    from .forms import ImportForm
    from .importing import ImportRefused, check_upload

    form = ImportForm()
    if form.validate_on_submit():
        try:
            job = check_upload(form, user_id=current_user.id)
        except ImportRefused as exc:
            form.file.errors = [str(exc)]
            return render_template("crm/import.html", form=form), 413
        return redirect(url_for("crm.import_report", job_id=job.id))
    return render_template("crm/import.html", form=form), 400 if form.errors else 200


@bp.route("/import/<int:job_id>")
@requires("crm.import")
def import_report(job_id: int):
    from .importing import ImportReport

    job = job_or_404(job_id, "crm.import")
    report = None
    if job.status == "done" and job.result and "report" in job.result:
        report = ImportReport.from_dict(job.result["report"])
    return render_template("crm/import_report.html", job=job, report=report, params=job.params,
                           form=ConfirmForm())


@bp.route("/import/<int:job_id>/run", methods=["POST"])
@requires("crm.import")
def import_run(job_id: int):
    from .importing import run_checked_import

    job = job_or_404(job_id, "crm.import")
    if not ConfirmForm().validate_on_submit():
        abort(400)
    new = run_checked_import(job, user_id=current_user.id)
    if new is None:
        flash(_("This check cannot be imported (already imported, or it found errors): upload the file again."),
              "error")
        return redirect(url_for("crm.import_page"))
    if new.existing:  # a second "Import now": the file's import was started already
        flash(_("This file's import was started already: here it is."), "info")
    return redirect(url_for("crm.import_report", job_id=new.id))
