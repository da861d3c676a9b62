"""Billing pages (blueprint ``billing``, mounted at ``/<cluster>/billing/``): the catalogue,
a service's page with its computed costs, the edit pages, the ranges, the PDF sheet.

Thin handlers: a form validates, an operation (:mod:`.catalogue`, :mod:`.prices`) writes
and flushes, :mod:`.queries` reads; the request commits once at its end (below 400) or
rolls back.  Reading needs ``billing.view``; changing the catalogue ``billing.catalogue``.
"""

from __future__ import annotations

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_currency, format_date, format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from core import ClusterBlueprint, ConfirmForm, can, get_or_404, page_arg, requires, today

from . import catalogue, prices, queries
from .errors import BillingError
from .forms import (
    CatalogueFilterForm,
    ClosePriceForm,
    CopyServiceForm,
    ExpertForm,
    MoveStepForm,
    PriceForm,
    RangeForm,
    ServiceForm,
    StepForm,
)
from .models import (
    COMPANY_FUNCTIONS,
    COST_BEHAVIOURS,
    PRICING_MODES,
    RENEWALS,
    REVENUE_FAMILIES,
    SERVICE_STATUSES,
    SIZE_BANDS,
    SUBSCRIPTION_PERIODS,
    VAT_CATEGORIES,
    Price,
    Range,
    Service,
    ServiceExpert,
    ServiceStep,
)

bp = ClusterBlueprint("billing", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")


def _labels(mapping: dict) -> dict:
    return {key: str(label) for key, label in mapping.items()}


@bp.context_processor
def _context():
    cluster = g.get("cluster")  # None on an error page answered before the cluster is known
    currency = (cluster.currency if cluster is not None else "") or "EUR"

    def money(amount):
        return "" if amount is None else format_currency(amount, currency)

    def number(value):
        return "" if value is None else format_decimal(value)

    return {
        "STATUSES": _labels(SERVICE_STATUSES), "FAMILIES": _labels(REVENUE_FAMILIES),
        "MODES": _labels(PRICING_MODES), "VAT": _labels(VAT_CATEGORIES), "SIZES": _labels(SIZE_BANDS),
        "FUNCTIONS": _labels(COMPANY_FUNCTIONS), "BEHAVIOURS": _labels(COST_BEHAVIOURS),
        "PERIODS": _labels(SUBSCRIPTION_PERIODS), "RENEWALS": _labels(RENEWALS),
        "can_edit": can(current_user, "billing.catalogue"), "money": money, "number": number,
    }


def _status(form) -> int:
    return 400 if form.errors else 200


def _refused(exc: BillingError, form=None):
    """A refusal: on the form's field when it names one (None), else a flash (the caller redirects)."""
    if form is not None and exc.field and exc.field in form:
        form[exc.field].errors = [*form[exc.field].errors, str(exc)]
        return None
    flash(str(exc), "error")
    return None


@bp.route("/")
@requires("billing.view")
def index():
    return redirect(url_for("billing.services"))


# -- the catalogue --------------------------------------------------------------------------------
@bp.route("/services/")
@requires("billing.view")
def services():
    form = CatalogueFilterForm(formdata=request.args)
    if not form.validate():
        return render_template("billing/services.html", form=form, page=None, sort="name"), 400
    sort = request.args.get("sort", "name")
    page = queries.catalogue_page(form.values, page=page_arg(), sort=sort)
    return render_template("billing/services.html", form=form, page=page, sort=sort)


@bp.route("/services/new", methods=["GET", "POST"])
@requires("billing.catalogue")
def service_new():
    form = ServiceForm()
    if form.validate_on_submit():
        service = catalogue.save_service(None, form)
        flash(_("%(name)s is in the catalogue.", name=service.name), "success")
        return redirect(url_for("billing.service", service_id=service.id))
    return render_template("billing/service_form.html", form=form, service=None), _status(form)


@bp.route("/services/<int:service_id>")
@requires("billing.view")
def service(service_id: int):
    return _render_service(get_or_404(Service, service_id))


def _render_service(service: Service, *, step_form=None, expert_form=None, status: int = 200):
    sheet = queries.service_sheet(service, today())
    return render_template(
        "billing/service.html", service=service, sheet=sheet, costs=sheet.costs,
        step_form=step_form or StepForm(formdata=None), expert_form=expert_form or ExpertForm(formdata=None),
        close_form=ClosePriceForm(formdata=None), confirm=ConfirmForm(), copy_form=CopyServiceForm(formdata=None),
        today=today()), status


@bp.route("/services/<int:service_id>/edit", methods=["GET", "POST"])
@requires("billing.catalogue")
def service_edit(service_id: int):
    service = get_or_404(Service, service_id)
    if service.status == "retired":
        flash(_("This service is retired: it keeps its history and cannot change. Copy it to start a new one."),
              "error")
        return redirect(url_for("billing.service", service_id=service.id))
    form = ServiceForm(obj=service, current_id=service.id)
    if request.method == "GET":
        form.inhouse_competences.data = service.competence_ids
    if form.validate_on_submit():
        catalogue.save_service(service, form)
        flash(_("%(name)s is saved.", name=service.name), "success")
        return redirect(url_for("billing.service", service_id=service.id))
    return render_template("billing/service_form.html", form=form, service=service), _status(form)


@bp.route("/services/<int:service_id>/copy", methods=["POST"])
@requires("billing.catalogue")
def service_copy(service_id: int):
    service = get_or_404(Service, service_id)
    form = CopyServiceForm()
    if not form.validate_on_submit():
        flash(_("The copy was not made: %(why)s", why="; ".join(m for ms in form.errors.values() for m in ms)),
              "error")
        return _render_service(service, status=400)
    copy = catalogue.copy_service(service, on=today(), name=form.name.data)
    flash(_("%(name)s starts from a copy: a draft to complete.", name=copy.name), "success")
    return redirect(url_for("billing.service", service_id=copy.id))


@bp.route("/services/<int:service_id>/retire", methods=["POST"])
@requires("billing.catalogue")
def service_retire(service_id: int):
    service = get_or_404(Service, service_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        catalogue.retire_service(service, on=today())
    except BillingError as exc:
        _refused(exc)
        return redirect(url_for("billing.service", service_id=service.id))
    flash(_("%(name)s is retired: it keeps its history and can no longer be sold.", name=service.name), "success")
    return redirect(url_for("billing.service", service_id=service.id))


@bp.route("/services/<int:service_id>/sheet.pdf")
@requires("billing.view")
def service_sheet_pdf(service_id: int):
    from .pdf import service_sheet

    service = get_or_404(Service, service_id)
    data = service_sheet(queries.service_sheet(service, today()), cluster=g.cluster, on=today())
    filename = f"service-{service.code or service.id}.pdf"
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})


# -- steps ----------------------------------------------------------------------------------------
@bp.route("/services/<int:service_id>/steps", methods=["POST"])
@requires("billing.catalogue")
def step_new(service_id: int):
    service = get_or_404(Service, service_id)
    form = StepForm()
    if form.validate_on_submit():
        try:
            step = catalogue.add_step(service, form)
        except BillingError as exc:
            _refused(exc)
            return redirect(url_for("billing.service", service_id=service.id))
        flash(_("Step %(name)s added.", name=step.name), "success")
        return redirect(url_for("billing.service", service_id=service.id) + "#process")
    return _render_service(service, step_form=form, status=400)


@bp.route("/steps/<int:step_id>/edit", methods=["GET", "POST"])
@requires("billing.catalogue")
def step_edit(step_id: int):
    step = get_or_404(ServiceStep, step_id)
    service = step.service
    form = StepForm(obj=step)
    if request.method == "GET":
        form.competences.data = step.competence_ids
    if form.validate_on_submit():
        try:
            catalogue.update_step(step, form)
        except BillingError as exc:
            _refused(exc)
            return redirect(url_for("billing.service", service_id=service.id))
        flash(_("Step %(name)s saved.", name=step.name), "success")
        return redirect(url_for("billing.service", service_id=service.id) + "#process")
    return render_template("billing/step_form.html", form=form, step=step, service=service), _status(form)


@bp.route("/steps/<int:step_id>/move", methods=["POST"])
@requires("billing.catalogue")
def step_move(step_id: int):
    step = get_or_404(ServiceStep, step_id)
    form = MoveStepForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        catalogue.move_step(step, form.direction.data)
    except BillingError as exc:
        _refused(exc)
        return redirect(url_for("billing.service", service_id=step.service_id))
    return redirect(url_for("billing.service", service_id=step.service_id) + "#process")


@bp.route("/steps/<int:step_id>/delete", methods=["POST"])
@requires("billing.catalogue")
def step_delete(step_id: int):
    step = get_or_404(ServiceStep, step_id)
    service_id = step.service_id
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        catalogue.remove_step(step)
    except BillingError as exc:
        _refused(exc)
        return redirect(url_for("billing.service", service_id=service_id))
    flash(_("The step is removed."), "success")
    return redirect(url_for("billing.service", service_id=service_id) + "#process")


# -- experts --------------------------------------------------------------------------------------
@bp.route("/services/<int:service_id>/experts", methods=["POST"])
@requires("billing.catalogue")
def expert_new(service_id: int):
    service = get_or_404(Service, service_id)
    form = ExpertForm()
    if form.validate_on_submit():
        try:
            catalogue.add_expert(service, form)
        except BillingError as exc:
            _refused(exc)
            return redirect(url_for("billing.service", service_id=service.id))
        flash(_("Expert added."), "success")
        return redirect(url_for("billing.service", service_id=service.id) + "#network")
    return _render_service(service, expert_form=form, status=400)


@bp.route("/experts/<int:expert_id>/delete", methods=["POST"])
@requires("billing.catalogue")
def expert_delete(expert_id: int):
    expert = get_or_404(ServiceExpert, expert_id)
    service_id = expert.service_id
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        catalogue.remove_expert(expert)
    except BillingError as exc:
        _refused(exc)
        return redirect(url_for("billing.service", service_id=service_id))
    flash(_("The expert is removed from the service."), "success")
    return redirect(url_for("billing.service", service_id=service_id) + "#network")


# -- prices ---------------------------------------------------------------------------------------
@bp.route("/services/<int:service_id>/prices/new", methods=["GET", "POST"])
@requires("billing.catalogue")
def price_new(service_id: int):
    service = get_or_404(Service, service_id)
    if service.status == "retired":
        flash(_("This service is retired: it keeps its history and cannot change. Copy it to start a new one."),
              "error")
        return redirect(url_for("billing.service", service_id=service.id))
    form = PriceForm()
    if request.method == "GET":
        form.valid_from.data = today()
    if form.validate_on_submit():
        try:
            price = prices.add_price(service, form, user_id=current_user.id)
        except BillingError as exc:
            _refused(exc, form)
        else:
            flash(_("The price is added: %(mode)s.", mode=PRICING_MODES[price.mode]), "success")
            return redirect(url_for("billing.service", service_id=service.id) + "#prices")
    return render_template("billing/price_form.html", form=form, service=service), _status(form)


@bp.route("/prices/<int:price_id>/close", methods=["POST"])
@requires("billing.catalogue")
def price_close(price_id: int):
    price = get_or_404(Price, price_id)
    form = ClosePriceForm()
    if not form.validate_on_submit():
        flash(_("Give the last day of validity."), "error")
        return _render_service(get_or_404(Service, price.service_id), status=400)
    try:
        prices.close_price(price, form.valid_until.data)
    except BillingError as exc:
        _refused(exc)
        return redirect(url_for("billing.service", service_id=price.service_id) + "#prices")
    flash(_("The price ends on %(day)s.", day=format_date(form.valid_until.data)), "success")
    return redirect(url_for("billing.service", service_id=price.service_id) + "#prices")


# -- ranges ---------------------------------------------------------------------------------------
@bp.route("/ranges/")
@requires("billing.view")
def ranges():
    return render_template("billing/ranges.html", ranges=queries.ranges(), confirm=ConfirmForm())


@bp.route("/ranges/new", methods=["GET", "POST"])
@requires("billing.catalogue")
def range_new():
    form = RangeForm()
    if form.validate_on_submit():
        range_ = catalogue.save_range(None, form)
        flash(_("Range %(name)s created.", name=range_.name), "success")
        return redirect(url_for("billing.ranges"))
    return render_template("billing/range_form.html", form=form, range=None), _status(form)


@bp.route("/ranges/<int:range_id>/edit", methods=["GET", "POST"])
@requires("billing.catalogue")
def range_edit(range_id: int):
    range_ = get_or_404(Range, range_id)
    form = RangeForm(obj=range_, current_id=range_.id)
    if form.validate_on_submit():
        catalogue.save_range(range_, form)
        flash(_("Range %(name)s saved.", name=range_.name), "success")
        return redirect(url_for("billing.ranges"))
    return render_template("billing/range_form.html", form=form, range=range_), _status(form)


@bp.route("/ranges/<int:range_id>/delete", methods=["POST"])
@requires("billing.catalogue")
def range_delete(range_id: int):
    range_ = get_or_404(Range, range_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        catalogue.delete_range(range_)
    except BillingError as exc:
        _refused(exc)
        return redirect(url_for("billing.ranges"))
    flash(_("The range is deleted."), "success")
    return redirect(url_for("billing.ranges"))
