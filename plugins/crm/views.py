"""CRM pages (blueprint ``crm``, mounted at ``/<cluster>/crm/``, and ``crm_federation``, the
federation admin's pages at ``/admin/crm/``): thin handlers over services."""

from __future__ import annotations


from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, lazyload

from core import ClusterBlueprint, can, db, export_response, federation_admin_required, requires, today
from core import ConfirmForm, get_or_404, int_arg, page_arg

from . import services
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
    PersonOrganization,
    Segment,
)
from .nace import sector_label

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




def _get_or_404(model, ident):
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def _scoped_or_404(model, ident):
    """A cluster-owned record of the current cluster (the query is scoped by the core)."""
    obj = db.session.execute(select(model).where(model.id == ident)).scalar_one_or_none()
    if obj is None:
        abort(404)
    return obj


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
    page = services.organization_list(form.values, g.cluster.id, sort=sort, page=page_arg())
    ids = [o.id for o in page.items]
    return render_template("crm/organizations.html", form=form, page=page, sort=sort,
                           statuses=services.membership_status_by_org(ids), counts=services.person_counts(ids),
                           segment_form=SegmentForm(), filters=form.values)


@bp.route("/organizations/suggest")
def organization_suggest():
    """Names for the organization pickers (JSON): ``[{"id": 1, "name": "..."}]``."""
    form = OrganizationFilterForm(formdata=request.args)
    if not form.validate() or not form.values.get("q"):
        return jsonify([])
    page = services.organization_list({"q": form.values["q"]}, g.cluster.id, page=1, per_page=15, count=False)
    return jsonify([{"id": o.id, "name": o.display_name, "city": o.city} for o in page.items])


@bp.route("/organizations/new", methods=["GET", "POST"])
@requires("crm.edit")
def organization_new():
    form = OrganizationForm()
    if form.validate_on_submit() and (org := _saved(Organization(), form)) is not None:
        flash(_("%(name)s is recorded.", name=org.name), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    return render_template("crm/organization_form.html", form=form, org=None), 400 if form.errors else 200


def _saved(org: Organization, form: OrganizationForm) -> Organization | None:
    """Save a validated form and commit; None, with the field's error on the form, when the hierarchy refuses."""
    try:
        services.apply_organization_form(org, form)
    except services.HierarchyError as exc:
        db.session.rollback()
        form[exc.field].errors = list(form[exc.field].errors) + [str(exc)]
        return None
    db.session.commit()
    return org


@bp.route("/organizations/<int:org_id>")
def organization(org_id: int):
    org = _get_or_404(Organization, org_id)
    return _render_organization(org)


def _interaction_form(org: Organization, persons: list[Person], formdata=None) -> InteractionForm:
    form = InteractionForm(formdata=formdata, organization_id=org.id) if formdata is not None \
        else InteractionForm(organization_id=org.id)
    form.persons.choices = [(p.id, p.full_name) for p in persons if p.erased_at is None]
    return form


def _org_persons(org_id: int) -> list[tuple[Person, PersonOrganization]]:
    return list(db.session.execute(
        select(Person, PersonOrganization).join(PersonOrganization, PersonOrganization.person_id == Person.id)
        .options(lazyload(PersonOrganization.organization))  # the page's own organization: loaded already
        .where(PersonOrganization.organization_id == org_id).order_by(Person.name_key)).all())


def _render_organization(org: Organization, *, interaction_form=None, membership_form=None,
                         competence_form=None, status: int = 200):
    links = _org_persons(org.id)
    persons = [p for p, _ln in links]
    parent = db.session.get(Organization, org.parent_id) if org.parent_id else None
    subsidiaries = db.session.execute(select(Organization.id, Organization.legal_name, Organization.trade_name)
                                      .where(Organization.parent_id == org.id)
                                      .order_by(Organization.name_key)).all()
    memberships = db.session.execute(select(Membership).where(Membership.organization_id == org.id)
                                     .order_by(Membership.start_date.desc())).scalars().all()
    if interaction_form is None:
        interaction_form = _interaction_form(org, persons)
    if membership_form is None:
        membership_form = MembershipForm(organization_id=org.id, formdata=None)
        membership_form.start_date.data = today()
    return render_template(
        "crm/organization.html", org=org, links=links, parent=parent, subsidiaries=subsidiaries,
        memberships=memberships, competences=services.organization_competences(org.id),
        timeline=services.timeline("crm.organization", org.id, g.cluster),
        interaction_form=interaction_form, membership_form=membership_form,
        competence_form=competence_form or OrganizationCompetenceForm(formdata=None),
        vocabulary=db.session.execute(select(Competence.id, Competence.name).order_by(Competence.key)).all(),
        status_here=services.membership_status(memberships),
    ), status


@bp.route("/organizations/<int:org_id>/edit", methods=["GET", "POST"])
@requires("crm.edit")
def organization_edit(org_id: int):
    org = _get_or_404(Organization, org_id)
    form = OrganizationForm(obj=org, current_id=org.id)
    if form.validate_on_submit() and _saved(org, form) is not None:
        flash(_("%(name)s is saved.", name=org.name), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    return render_template("crm/organization_form.html", form=form, org=org), 400 if form.errors else 200


@bp.route("/organizations/<int:org_id>/delete", methods=["POST"])
@requires("crm.erase")
def organization_delete(org_id: int):
    org = _get_or_404(Organization, org_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.delete_organization(org)
    except services.CrmError as exc:
        flash(str(exc), "error")
        return redirect(url_for("crm.organization", org_id=org.id))
    db.session.commit()
    flash(_("The organization is deleted."), "success")
    return redirect(url_for("crm.organizations"))


@bp.route("/organizations/<int:org_id>/interactions", methods=["POST"])
@requires("crm.edit")
def interaction_new(org_id: int):
    org = _get_or_404(Organization, org_id)
    persons = [p for p, _ln in _org_persons(org.id)]
    form = _interaction_form(org, persons, formdata=request.form)
    form.organization_id.data = org.id
    if form.validate_on_submit() and form.organization_id.data == org.id:
        interaction = services.save_interaction(None, form, author_id=current_user.id)
        db.session.commit()
        flash(_("%(kind)s recorded.", kind=INTERACTION_KINDS[interaction.kind]), "success")
        return redirect(url_for("crm.organization", org_id=org.id) + "#timeline")
    return _render_organization(org, interaction_form=form, status=400)


@bp.route("/interactions/<int:interaction_id>/edit", methods=["GET", "POST"])
@requires("crm.edit")
def interaction_edit(interaction_id: int):
    interaction = _scoped_or_404(Interaction, interaction_id)
    org = _get_or_404(Organization, interaction.organization_id)
    persons = [p for p, _ln in _org_persons(org.id)]
    extra = [p for p in interaction.persons if p.id not in {q.id for q in persons}]
    if request.method == "POST":
        form = _interaction_form(org, persons + extra, formdata=request.form)
        form.organization_id.data = org.id
    else:
        form = InteractionForm(obj=interaction)
        form.persons.choices = [(p.id, p.full_name) for p in persons + extra]
        form.persons.data = [p.id for p in interaction.persons]
    if request.method == "POST" and request.form.get("delete") and form.validate_on_submit():
        db.session.delete(interaction)
        db.session.commit()
        flash(_("The interaction is deleted."), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    if form.validate_on_submit():
        services.save_interaction(interaction, form, author_id=current_user.id)
        db.session.commit()
        flash(_("The interaction is saved."), "success")
        return redirect(url_for("crm.organization", org_id=org.id) + "#timeline")
    return render_template("crm/interaction_form.html", form=form, org=org, interaction=interaction), \
        400 if form.errors else 200


@bp.route("/interactions/<int:interaction_id>/follow-up", methods=["POST"])
@requires("crm.edit")
def interaction_followup(interaction_id: int):
    interaction = _scoped_or_404(Interaction, interaction_id)
    form = FollowUpForm()
    if not form.validate_on_submit():
        abort(400)
    interaction.follow_up_done = bool(form.follow_up_done.data)
    db.session.commit()
    flash(_("Follow-up marked done.") if interaction.follow_up_done else _("Follow-up reopened."), "success")
    if request.form.get("next_page") == "org":
        return redirect(url_for("crm.organization", org_id=interaction.organization_id) + "#timeline")
    return redirect(url_for("crm.followups"))


@bp.route("/follow-ups")
def followups():
    include_done = request.args.get("done") == "1"
    items = services.followups(current_user.id, include_done=include_done)
    return render_template("crm/followups.html", items=items, include_done=include_done, today=today(),
                           form=FollowUpForm())


@bp.route("/organizations/<int:org_id>/memberships", methods=["POST"])
@requires("crm.edit")
def membership_new(org_id: int):
    org = _get_or_404(Organization, org_id)
    form = MembershipForm()
    form.organization_id.data = org.id
    if form.validate_on_submit():
        services.save_membership(None, form)
        db.session.commit()
        flash(_("The membership is recorded."), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    return _render_organization(org, membership_form=form, status=400)


@bp.route("/memberships/<int:membership_id>/edit", methods=["GET", "POST"])
@requires("crm.edit")
def membership_edit(membership_id: int):
    membership = _scoped_or_404(Membership, membership_id)
    org = _get_or_404(Organization, membership.organization_id)
    form = MembershipForm(obj=membership)
    form.organization_id.data = org.id
    if request.method == "POST" and request.form.get("delete") and form.validate_on_submit():
        db.session.delete(membership)
        db.session.commit()
        flash(_("The membership is deleted."), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    if form.validate_on_submit():
        services.save_membership(membership, form)
        db.session.commit()
        flash(_("The membership is saved."), "success")
        return redirect(url_for("crm.organization", org_id=org.id))
    return render_template("crm/membership_form.html", form=form, org=org, membership=membership), \
        400 if form.errors else 200


@bp.route("/organizations/<int:org_id>/competences", methods=["POST"])
@requires("crm.edit")
def organization_competence_add(org_id: int):
    org = _get_or_404(Organization, org_id)
    form = OrganizationCompetenceForm()
    if form.validate_on_submit():
        competence = db.session.get(Competence, form.competence_id.data) if form.competence_id.data \
            else services.find_or_create_competence(form.name.data)
        services.add_organization_competence(org.id, competence.id, form.kind.data)
        db.session.commit()
        return redirect(url_for("crm.organization", org_id=org.id) + "#competences")
    return _render_organization(org, competence_form=form, status=400)


@bp.route("/organizations/<int:org_id>/competences/<int:competence_id>/<kind>/delete", methods=["POST"])
@requires("crm.edit")
def organization_competence_remove(org_id: int, competence_id: int, kind: str):
    _get_or_404(Organization, org_id)
    if kind not in ("has", "needs") or not ConfirmForm().validate_on_submit():
        abort(400)
    services.remove_organization_competence(org_id, competence_id, kind)
    db.session.commit()
    return redirect(url_for("crm.organization", org_id=org_id) + "#competences")


# -- persons -------------------------------------------------------------------------
@bp.route("/persons/")
def persons():
    query = request.args.get("q", "").strip()[:200]
    function = request.args.get("function", "")
    if function not in PERSON_FUNCTIONS:
        function = ""
    sort = request.args.get("sort", "name")
    page = services.person_list(query, function=function, sort=sort, page=page_arg())
    return render_template("crm/persons.html", page=page, query=query, function=function, sort=sort)


@bp.route("/persons/new", methods=["GET", "POST"])
@requires("crm.edit")
def person_new():
    form = PersonForm()
    if request.method == "GET":
        form.organization_id.data = int_arg("organization_id")
    org = db.session.get(Organization, form.organization_id.data) if form.organization_id.data else None
    if form.validate_on_submit():
        person = services.apply_person_form(Person(), form)
        db.session.commit()
        flash(_("%(name)s is recorded.", name=person.full_name), "success")
        if org is not None and request.form.get("back") == "org":
            return redirect(url_for("crm.organization", org_id=org.id))
        return redirect(url_for("crm.person", person_id=person.id))
    return render_template("crm/person_form.html", form=form, person=None, org=org), 400 if form.errors else 200


@bp.route("/persons/<int:person_id>")
def person(person_id: int):
    person = _get_or_404(Person, person_id)
    return _render_person(person)


def _render_person(person: Person, *, consent_form=None, link_form=None, status: int = 200):
    return render_template(
        "crm/person.html", person=person, consents=services.consent_state(person.id),
        consent_form=consent_form or ConsentForm(formdata=None), link_form=link_form or PersonLinkForm(formdata=None),
        timeline=services.timeline("crm.person", person.id, g.cluster),
    ), status


@bp.route("/persons/<int:person_id>/edit", methods=["GET", "POST"])
@requires("crm.edit")
def person_edit(person_id: int):
    person = _get_or_404(Person, person_id)
    if person.erased_at is not None:
        flash(_("This person's data was erased."), "error")
        return redirect(url_for("crm.person", person_id=person.id))
    form = PersonForm(obj=person, current_id=person.id)
    if request.method == "GET":
        main = next((ln for ln in person.links if ln.main), None)
        form.organization_id.data = main.organization_id if main else None
        form.role.data = main.role if main else ""
    if form.validate_on_submit():
        services.apply_person_form(person, form)
        db.session.commit()
        flash(_("%(name)s is saved.", name=person.full_name), "success")
        return redirect(url_for("crm.person", person_id=person.id))
    org = db.session.get(Organization, form.organization_id.data) if form.organization_id.data else None
    return render_template("crm/person_form.html", form=form, person=person, org=org), 400 if form.errors else 200


@bp.route("/persons/<int:person_id>/consents", methods=["POST"])
@requires("crm.edit")
def person_consent(person_id: int):
    person = _get_or_404(Person, person_id)
    form = ConsentForm()
    if form.validate_on_submit():
        try:
            services.record_consent(person, form.purpose.data, form.status.data, method=form.method.data,
                                    at=services.day_start(form.on.data), user_id=current_user.id)
        except services.CrmError as exc:
            form.status.errors = [str(exc)]
        else:
            db.session.commit()
            flash(_("The consent is recorded."), "success")
            return redirect(url_for("crm.person", person_id=person.id) + "#consent")
    return _render_person(person, consent_form=form, status=400)


@bp.route("/persons/<int:person_id>/organizations", methods=["POST"])
@requires("crm.edit")
def person_link(person_id: int):
    person = _get_or_404(Person, person_id)
    form = PersonLinkForm()
    if form.validate_on_submit():
        services.link_person(person, form.organization_id.data, role=form.role.data, main=form.main.data)
        db.session.commit()
        return redirect(url_for("crm.person", person_id=person.id))
    return _render_person(person, link_form=form, status=400)


@bp.route("/persons/<int:person_id>/organizations/<int:org_id>/delete", methods=["POST"])
@requires("crm.edit")
def person_unlink(person_id: int, org_id: int):
    person = _get_or_404(Person, person_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.unlink_person(person, org_id)
    db.session.commit()
    return redirect(url_for("crm.person", person_id=person.id))


@bp.route("/persons/<int:person_id>/export.json")
@requires("crm.erase")
def person_export(person_id: int):
    """The shared identity data and this cluster's records about a person."""
    person = _get_or_404(Person, person_id)
    response = jsonify(services.export_person(person))
    response.headers["Content-Disposition"] = f'attachment; filename="person-{person.id}-{g.cluster.slug}.json"'
    return response


@federation_bp.route("/persons/<int:person_id>/subject-access.json")
@federation_admin_required
def person_subject_access(person_id: int):
    """Everything held about a person in every cluster (right of access, GDPR art. 15)."""
    person = _get_or_404(Person, person_id)
    response = jsonify(services.export_person(person, all_clusters=True))
    response.headers["Content-Disposition"] = f'attachment; filename="person-{person.id}-subject-access.json"'
    return response


@bp.route("/persons/<int:person_id>/erase", methods=["POST"])
@requires("crm.erase")
def person_erase(person_id: int):
    person = _get_or_404(Person, person_id)
    if not ConfirmForm().validate_on_submit() or request.form.get("confirm") != "erase":
        flash(_("Tick the confirmation to erase this person's data."), "error")
        return redirect(url_for("crm.person", person_id=person.id))
    try:
        services.erase_person(person, user_id=current_user.id)
    except services.CrmError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
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
            segment = Segment(name=form.name.data, filters=filters_form.values, created_by_id=current_user.id)
            db.session.add(segment)
            db.session.commit()
            flash(_("Segment “%(name)s” saved.", name=segment.name), "success")
            return redirect(url_for("crm.segments"))
        for field in filters_form:
            for error in field.errors:
                form.name.errors = list(form.name.errors) + [f"{field.label.text}: {error}"]
    items = db.session.execute(select(Segment).options(joinedload(Segment.created_by))
                               .order_by(Segment.name)).scalars().all()
    counts = {s.id: services.segment_count(s) for s in items}
    return render_template("crm/segments.html", items=items, form=form, counts=counts), \
        400 if form.errors else 200


@bp.route("/segments/<int:segment_id>/delete", methods=["POST"])
@requires("crm.edit")
def segment_delete(segment_id: int):
    segment = _scoped_or_404(Segment, segment_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    db.session.delete(segment)
    db.session.commit()
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
            competence = services.save_competence(None, form)
            db.session.commit()
            flash(_("“%(name)s” added to the vocabulary.", name=competence.name), "success")
            return redirect(url_for("crm.competences"))
    rows = services.competence_usage()
    return render_template("crm/competences.html", rows=rows, form=form), 400 if form.errors else 200


@bp.route("/competences/<int:competence_id>/edit", methods=["GET", "POST"])
@requires("crm.edit")
def competence_edit(competence_id: int):
    competence = _get_or_404(Competence, competence_id)
    form = CompetenceForm(obj=competence, current_id=competence.id)
    if form.validate_on_submit():
        services.save_competence(competence, form)
        db.session.commit()
        flash(_("“%(name)s” is saved.", name=competence.name), "success")
        return redirect(url_for("crm.competences"))
    return render_template("crm/competence_form.html", form=form, competence=competence), \
        400 if form.errors else 200


@bp.route("/organizations/<int:org_id>/matching")
def matching(org_id: int):
    org = _get_or_404(Organization, org_id)
    direction = request.args.get("direction", "needs")
    if direction not in ("needs", "offers"):
        direction = "needs"
    competence_id = int_arg("competence")
    mine = services.organization_competences(org.id)
    results = services.match(org.id, direction=direction, competence_id=competence_id, cluster_id=g.cluster.id)
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
                            exporting.organization_rows(form.values, g.cluster.id), "organizations")


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
def _import_job_or_404(job_id: int):
    from core import Job

    job = get_or_404(Job, job_id)
    if job.name != "crm.import":
        abort(404)
    return job


@bp.route("/import", methods=["GET", "POST"])
@requires("crm.import")
def import_page():
    from .forms import ImportForm
    from .importing import ImportRefused, check_upload

    form = ImportForm()
    if form.validate_on_submit():
        try:
            job = check_upload(form, cluster_id=g.cluster.id, user_id=current_user.id)
        except ImportRefused as exc:
            form.file.errors = [str(exc)]
            return render_template("crm/import.html", form=form), 413
        return redirect(url_for("crm.import_report", job_id=job.id))
    return render_template("crm/import.html", form=form), 400 if form.errors else 200


@bp.route("/import/<int:job_id>")
@requires("crm.import")
def import_report(job_id: int):
    from .importing import ImportReport

    job = _import_job_or_404(job_id)
    report = None
    if job.status == "done" and job.result and "report" in job.result:
        report = ImportReport.from_dict(job.result["report"])
    return render_template("crm/import_report.html", job=job, report=report, params=job.params,
                           form=ConfirmForm())


@bp.route("/import/<int:job_id>/run", methods=["POST"])
@requires("crm.import")
def import_run(job_id: int):
    from .importing import run_checked_import

    job = _import_job_or_404(job_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    new = run_checked_import(job, cluster_id=g.cluster.id, user_id=current_user.id)
    if new is None:
        flash(_("This check cannot be imported (already imported, or it found errors): upload the file again."),
              "error")
        return redirect(url_for("crm.import_page"))
    if new.existing:  # a second "Import now": the file's import was started already
        flash(_("This file's import was started already: here it is."), "info")
    return redirect(url_for("crm.import_report", job_id=new.id))
