"""Billing pages (blueprint ``billing``, mounted at ``/<cluster>/billing/``): the catalogue,
a service's page with its computed costs, the edit pages, the ranges, the PDF sheet.

Thin handlers: a form validates, an operation (:mod:`.catalogue`, :mod:`.prices`) writes
and flushes, :mod:`.queries` reads; the request commits once at its end (below 400) or
rolls back.  Reading needs ``billing.view``; changing the catalogue ``billing.catalogue``;
recording and cancelling sales ``billing.sell``; funding schemes ``billing.payers``.
"""

from __future__ import annotations

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_currency, format_date, format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from core import ClusterBlueprint, ConfirmForm, can, get_or_404, page_arg, requires, today

from plugins.crm import api as crm

from . import catalogue, prices, queries
from . import funding, reports, sales
from .errors import BillingError
from .forms import CancelSaleForm, FundingSchemeForm, PeriodForm, SaleFilterForm, SaleForm
from .models import FR_REGIONS, SALE_STATUSES, SHARE_KINDS, WHEN_EXHAUSTED, FundingScheme, Sale
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


# -- slice 2a: funding schemes (third-party payers) and one-off sales -----------------------------
@bp.context_processor
def _funding_context():
    return {"SHARE_KINDS": _labels(SHARE_KINDS), "WHEN_EXHAUSTED": _labels(WHEN_EXHAUSTED),
            "SALE_STATUSES": _labels(SALE_STATUSES),
            "REGIONS": {code: str(label) for code, (label, _deps) in FR_REGIONS.items()},
            "can_sell": can(current_user, "billing.sell"), "can_payers": can(current_user, "billing.payers")}


def _this_year():
    day = today()
    return day.replace(month=1, day=1), day.replace(month=12, day=31)


@bp.route("/funding/")
@requires("billing.view")
def funding_schemes():
    return render_template("billing/funding_schemes.html", schemes=reports.schemes_with_payers(), today=today())


@bp.route("/funding/new", methods=["GET", "POST"])
@requires("billing.payers")
def funding_scheme_new():
    form = FundingSchemeForm()
    if request.method == "GET":
        form.valid_from.data = today()
    if form.validate_on_submit():
        scheme = funding.save_scheme(None, form)
        flash(_("Funding scheme %(name)s created.", name=scheme.name), "success")
        return redirect(url_for("billing.funding_scheme", scheme_id=scheme.id))
    return render_template("billing/funding_scheme_form.html", form=form, scheme=None), _status(form)


@bp.route("/funding/<int:scheme_id>")
@requires("billing.view")
def funding_scheme(scheme_id: int):
    scheme = get_or_404(FundingScheme, scheme_id)
    period = PeriodForm(formdata=request.args)
    if not period.validate():
        report = reports.scheme_report(scheme)
        return render_template("billing/funding_scheme.html", report=report, period=period), 400
    report = reports.scheme_report(scheme, period.since.data, period.until.data)
    return render_template("billing/funding_scheme.html", report=report, period=period)


@bp.route("/funding/<int:scheme_id>/edit", methods=["GET", "POST"])
@requires("billing.payers")
def funding_scheme_edit(scheme_id: int):
    scheme = get_or_404(FundingScheme, scheme_id)
    form = FundingSchemeForm(obj=scheme)
    if form.validate_on_submit():
        try:
            funding.save_scheme(scheme, form)
        except BillingError as exc:
            _refused(exc, form)
        else:
            flash(_("Funding scheme %(name)s saved.", name=scheme.name), "success")
            return redirect(url_for("billing.funding_scheme", scheme_id=scheme.id))
    return render_template("billing/funding_scheme_form.html", form=form, scheme=scheme), _status(form)


@bp.route("/sales/")
@requires("billing.view")
def sales_list():
    form = SaleFilterForm(formdata=request.args)
    if not form.validate():
        return render_template("billing/sale_list.html", form=form, page=None, totals=None, names={},
                               sort=""), 400
    sort = request.args.get("sort", "")
    page = reports.sales_page(form.values, page=page_arg(), sort=sort)
    return render_template("billing/sale_list.html", form=form, page=page, totals=reports.sales_totals(form.values),
                           names=reports.names(page.items), sort=sort)


@bp.route("/sales/new", methods=["GET", "POST"])
@requires("billing.sell")
def sale_new():
    form = SaleForm()
    preview = None
    if request.method == "GET":
        form.sold_on.data = today()
        for name in ("service_id", "organization_id", "person_id"):
            value = request.args.get(name, "")
            if value.isdigit() and len(value) < 10:
                form[name].data = int(value)
    elif form.validate_on_submit():
        args = form.sale_arguments()
        try:
            if request.form.get("action") == "confirm":
                sale = sales.record_sale(form.service_id.data, form.organization_id.data, **args,
                                         description=form.description.data or "", user_id=current_user.id)
                flash(_("The sale is recorded: %(amount)s, of which %(payer)s paid by a third party.",
                        amount=format_currency(sale.full_amount, sale.currency),
                        payer=format_currency(sale.payer_amount, sale.currency)), "success")
                return redirect(url_for("billing.sale", sale_id=sale.id))
            preview = sales.preview_sale(form.service_id.data, form.organization_id.data, **args)
        except BillingError as exc:
            _refused(exc, form)
            if not exc.field or exc.field not in form:
                return render_template("billing/sale_form.html", form=form, preview=None, names={}), 409
    names = {}
    if preview is not None:
        names = {"organization": crm.organization_names([form.organization_id.data]).get(form.organization_id.data, ""),
                 "payers": crm.organization_names(o.scheme.payer_id for o in preview.eligible)}
    return render_template("billing/sale_form.html", form=form, preview=preview, names=names), _status(form)


@bp.route("/sales/<int:sale_id>")
@requires("billing.view")
def sale(sale_id: int):
    record = get_or_404(Sale, sale_id)
    return render_template("billing/sale_detail.html", sale=record, names=reports.names([record]),
                           cancel_form=CancelSaleForm(formdata=None))


@bp.route("/sales/<int:sale_id>/cancel", methods=["POST"])
@requires("billing.sell")
def sale_cancel(sale_id: int):
    record = get_or_404(Sale, sale_id)
    form = CancelSaleForm()
    if not form.validate_on_submit():
        flash(_("The sale was not cancelled: %(why)s", why="; ".join(str(m) for ms in form.errors.values() for m in ms)),
              "error")
        return render_template("billing/sale_detail.html", sale=record, names=reports.names([record]),
                               cancel_form=form), 400
    try:
        sales.cancel_sale(record, reason=form.reason.data or "", user_id=current_user.id)
    except BillingError as exc:
        _refused(exc)
        return redirect(url_for("billing.sale", sale_id=sale_id))
    flash(_("The sale is cancelled; the third-party payer's part is back in its envelope."), "success")
    return redirect(url_for("billing.sale", sale_id=sale_id))


@bp.route("/services/<int:service_id>/business")
@requires("billing.view")
def service_business(service_id: int):
    service = get_or_404(Service, service_id)
    period = PeriodForm(formdata=request.args)
    first, last = _this_year()
    if not period.validate():
        return render_template("billing/sale_business.html", service=service, period=period, model=None), 400
    model = reports.business_model(service, period.since.data or first, period.until.data or last)
    return render_template("billing/sale_business.html", service=service, period=period, model=model)


# -- slice 2b: quotes and subscriptions ---------------------------------------------------------
from flask_babel import ngettext  # noqa: E402

from . import quote_queries  # noqa: E402
from . import quotes as quote_ops  # noqa: E402
from . import subscriptions as subscription_ops  # noqa: E402
from .forms import (  # noqa: E402
    CancelSubscriptionForm,
    EndSubscriptionForm,
    FreeLineForm,
    QuoteFilterForm,
    QuoteForm,
    QuoteLineForm,
    RefuseQuoteForm,
    SendQuoteForm,
    SubscriptionFilterForm,
    SubscriptionForm,
)
from .models import QUOTE_STATUSES, SUBSCRIPTION_STATUSES, Quote, QuoteLine, Subscription  # noqa: E402


@bp.context_processor
def _selling_context():
    return {"QUOTE_STATUSES": _labels(QUOTE_STATUSES), "SUBSCRIPTION_STATUSES": _labels(SUBSCRIPTION_STATUSES),
            "may_sell": can(current_user, "billing.sell")}


def _field_or_flash(exc: BillingError, *forms) -> bool:
    """Put a refusal on the field it names in one of the forms (True), else flash it (False)."""
    for form in forms:
        if form is not None and exc.field and exc.field in form:
            form[exc.field].errors = [*form[exc.field].errors, str(exc)]
            return True
    flash(str(exc), "error")
    return False


def _prefill(form, *names) -> None:
    for name in names:
        value = request.args.get(name, "")
        if value.isdigit() and len(value) < 10:
            form[name].data = int(value)


@bp.route("/quotes/")
@requires("billing.view")
def quotes():
    form = QuoteFilterForm(formdata=request.args)
    if not form.validate():
        return render_template("billing/quote_list.html", form=form, page=None, names={}, sort="",
                               today=today()), 400
    sort = request.args.get("sort", "")
    page = quote_queries.quotes_page(form.values, today(), page=page_arg(), sort=sort)
    return render_template("billing/quote_list.html", form=form, page=page, sort=sort, today=today(),
                           names=quote_queries.organization_names(page.items))


@bp.route("/quotes/new", methods=["GET", "POST"])
@requires("billing.sell")
def quote_new():
    form = QuoteForm()
    if request.method == "GET":
        _prefill(form, "organization_id", "person_id")
    if form.validate_on_submit():
        quote = quote_ops.create_draft(form, user_id=current_user.id)
        flash(_("The draft quote is saved: add its lines."), "success")
        return redirect(url_for("billing.quote", quote_id=quote.id))
    return render_template("billing/quote_form.html", form=form, quote=None), _status(form)


def _render_quote(quote: Quote, *, line_form=None, free_form=None, send_form=None, refuse_form=None,
                  status: int = 200):
    sheet = quote_queries.quote_sheet(quote)
    if send_form is None:
        send_form = SendQuoteForm(formdata=None)
        if sheet.contact is not None and not sheet.contact.erased:
            send_form.email.data = sheet.contact.email
    return render_template(
        "billing/quote_detail.html", quote=quote, sheet=sheet, state=quote.state(today()), today=today(),
        line_form=line_form or QuoteLineForm(formdata=None), free_form=free_form or FreeLineForm(formdata=None),
        send_form=send_form, refuse_form=refuse_form or RefuseQuoteForm(formdata=None)), status


@bp.route("/quotes/<int:quote_id>")
@requires("billing.view")
def quote(quote_id: int):
    return _render_quote(get_or_404(Quote, quote_id))


@bp.route("/quotes/<int:quote_id>/edit", methods=["GET", "POST"])
@requires("billing.sell")
def quote_edit(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    if quote.status != "draft":
        flash(_("Only a draft changes: this quote is issued."), "error")
        return redirect(url_for("billing.quote", quote_id=quote.id))
    form = QuoteForm(obj=quote)
    if form.validate_on_submit():
        try:
            quote_ops.update_draft(quote, form, today=today())
        except BillingError as exc:
            if not _field_or_flash(exc, form):
                form.organization_id.errors = [*form.organization_id.errors, str(exc)]
        else:
            flash(_("The draft quote is saved."), "success")
            return redirect(url_for("billing.quote", quote_id=quote.id))
    return render_template("billing/quote_form.html", form=form, quote=quote), _status(form)


@bp.route("/quotes/<int:quote_id>/lines", methods=["POST"])
@requires("billing.sell")
def quote_line_new(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    form = QuoteLineForm()
    if form.validate_on_submit():
        try:
            line = quote_ops.add_catalogue_line(quote, form, today=today())
        except BillingError as exc:
            _field_or_flash(exc, form)
            return _render_quote(quote, line_form=form, status=409 if not form.errors else 400)
        flash(_("Line added: %(what)s.", what=line.description), "success")
        return redirect(url_for("billing.quote", quote_id=quote.id) + "#lines")
    return _render_quote(quote, line_form=form, status=400)


@bp.route("/quotes/<int:quote_id>/free-lines", methods=["POST"])
@requires("billing.sell")
def quote_free_line_new(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    form = FreeLineForm()
    if form.validate_on_submit():
        try:
            line = quote_ops.add_free_line(quote, form)
        except BillingError as exc:
            _field_or_flash(exc, form)
            return _render_quote(quote, free_form=form, status=409 if not form.errors else 400)
        flash(_("Line added: %(what)s.", what=line.description), "success")
        return redirect(url_for("billing.quote", quote_id=quote.id) + "#lines")
    return _render_quote(quote, free_form=form, status=400)


@bp.route("/quote-lines/<int:line_id>/delete", methods=["POST"])
@requires("billing.sell")
def quote_line_delete(line_id: int):
    line = get_or_404(QuoteLine, line_id)
    quote = get_or_404(Quote, line.quote_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        quote_ops.remove_line(line)
    except BillingError as exc:
        flash(str(exc), "error")
        return _render_quote(quote, status=409)
    flash(_("The line is removed."), "success")
    return redirect(url_for("billing.quote", quote_id=quote.id) + "#lines")


def _quote_action(quote_id: int, action, done_message):
    """A button of the quote's page: the operation, then back to the page (a refusal: 409, nothing written)."""
    quote = get_or_404(Quote, quote_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        result = action(quote)
    except BillingError as exc:
        flash(str(exc), "error")
        return _render_quote(quote, status=409)
    flash(done_message(quote, result), "success")
    return redirect(url_for("billing.quote", quote_id=quote.id))


@bp.route("/quotes/<int:quote_id>/issue", methods=["POST"])
@requires("billing.sell")
def quote_issue(quote_id: int):
    return _quote_action(quote_id, lambda q: quote_ops.issue(q, today=today()),
                         lambda q, r: _("Quote %(number)s is issued.", number=r.number))


@bp.route("/quotes/<int:quote_id>/accept", methods=["POST"])
@requires("billing.sell")
def quote_accept(quote_id: int):
    return _quote_action(quote_id, lambda q: quote_ops.accept(q, today=today(), user_id=current_user.id),
                         lambda q, made: ngettext("Quote %(number)s is accepted: %(num)s sale recorded.",
                                                  "Quote %(number)s is accepted: %(num)s sales recorded.",
                                                  len(made), number=q.number))


@bp.route("/quotes/<int:quote_id>/send", methods=["POST"])
@requires("billing.sell")
def quote_send(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    form = SendQuoteForm()
    if not form.validate_on_submit():
        return _render_quote(quote, send_form=form, status=400)
    try:
        quote_ops.send(quote, today=today(), email=form.email.data or None)
    except BillingError as exc:
        _field_or_flash(exc, form)
        return _render_quote(quote, send_form=form, status=409 if not form.errors else 400)
    flash(_("Quote %(number)s goes to %(address)s, with its PDF.", number=quote.number, address=quote.sent_to),
          "success")
    return redirect(url_for("billing.quote", quote_id=quote.id))


@bp.route("/quotes/<int:quote_id>/refuse", methods=["POST"])
@requires("billing.sell")
def quote_refuse(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    form = RefuseQuoteForm()
    if not form.validate_on_submit():
        return _render_quote(quote, refuse_form=form, status=400)
    try:
        quote_ops.refuse(quote, today=today(), reason=form.reason.data or "")
    except BillingError as exc:
        flash(str(exc), "error")
        return _render_quote(quote, refuse_form=form, status=409)
    flash(_("Quote %(number)s is refused.", number=quote.number), "success")
    return redirect(url_for("billing.quote", quote_id=quote.id))


@bp.route("/quotes/<int:quote_id>/quote.pdf")
@requires("billing.view")
def quote_pdf(quote_id: int):
    from .pdf import quote_document

    quote = get_or_404(Quote, quote_id)
    data = quote_document(quote_queries.quote_sheet(quote), cluster=g.cluster)
    filename = f"{quote.number or 'draft-%s' % quote.id}.pdf"
    return Response(data, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{filename}"'})


@bp.route("/subscriptions/")
@requires("billing.view")
def subscriptions():
    form = SubscriptionFilterForm(formdata=request.args)
    if not form.validate():
        return render_template("billing/subscription_list.html", form=form, page=None, names={}, sort="",
                               today=today()), 400
    sort = request.args.get("sort", "")
    page = quote_queries.subscriptions_page(form.values, today(), page=page_arg(), sort=sort)
    return render_template("billing/subscription_list.html", form=form, page=page, sort=sort, today=today(),
                           names=quote_queries.organization_names(page.items))


@bp.route("/subscriptions/new", methods=["GET", "POST"])
@requires("billing.sell")
def subscription_new():
    form = SubscriptionForm()
    if request.method == "GET":
        form.start_date.data = today()
        _prefill(form, "organization_id", "person_id")
    if form.validate_on_submit():
        try:
            sub = subscription_ops.create(form, user_id=current_user.id)
        except BillingError as exc:
            if not _field_or_flash(exc, form):
                return render_template("billing/subscription_form.html", form=form), 409
        else:
            flash(_("The subscription is recorded: first billed on %(day)s.",
                    day=format_date(sub.next_billing_date) if sub.next_billing_date else "–"), "success")
            return redirect(url_for("billing.subscription", subscription_id=sub.id))
    return render_template("billing/subscription_form.html", form=form), _status(form)


def _render_subscription(sub: Subscription, *, end_form=None, cancel_form=None, status: int = 200):
    names = quote_queries.organization_names([sub])
    contact = crm.get_person(sub.person_id) if sub.person_id else None
    if end_form is None:
        end_form = EndSubscriptionForm(formdata=None)
        end_form.on.data = today()
    if cancel_form is None:
        cancel_form = CancelSubscriptionForm(formdata=None)
        cancel_form.on.data = today()
    upcoming = [d for d in (subscription_ops.billing_date(sub, sub.periods_billed + i) for i in range(4)) if d]
    return render_template("billing/subscription_detail.html", sub=sub, names=names, contact=contact,
                           state=sub.state(today()), upcoming=upcoming, end_form=end_form,
                           cancel_form=cancel_form), status


@bp.route("/subscriptions/<int:subscription_id>")
@requires("billing.view")
def subscription(subscription_id: int):
    return _render_subscription(get_or_404(Subscription, subscription_id))


@bp.route("/subscriptions/<int:subscription_id>/end", methods=["POST"])
@requires("billing.sell")
def subscription_end(subscription_id: int):
    sub = get_or_404(Subscription, subscription_id)
    form = EndSubscriptionForm()
    if not form.validate_on_submit():
        return _render_subscription(sub, end_form=form, status=400)
    try:
        subscription_ops.end(sub, form.on.data, today=today())
    except BillingError as exc:
        _field_or_flash(exc, form)
        return _render_subscription(sub, end_form=form, status=409 if not form.errors else 400)
    flash(_("The subscription ends on %(day)s.", day=format_date(form.on.data)), "success")
    return redirect(url_for("billing.subscription", subscription_id=sub.id))


@bp.route("/subscriptions/<int:subscription_id>/cancel", methods=["POST"])
@requires("billing.sell")
def subscription_cancel(subscription_id: int):
    sub = get_or_404(Subscription, subscription_id)
    form = CancelSubscriptionForm()
    if not form.validate_on_submit():
        return _render_subscription(sub, cancel_form=form, status=400)
    try:
        subscription_ops.cancel(sub, form.on.data, form.reason.data, today=today())
    except BillingError as exc:
        _field_or_flash(exc, form)
        return _render_subscription(sub, cancel_form=form, status=409 if not form.errors else 400)
    flash(_("The subscription is cancelled from %(day)s.", day=format_date(form.on.data)), "success")
    return redirect(url_for("billing.subscription", subscription_id=sub.id))
