"""Billing's HTTP API (blueprint ``billing_api``, mounted at ``/api/v1/<cluster>/billing/``):
ranges, services, their steps and experts, prices, and the price an organization pays;
funding schemes of third-party payers, one-off sales (recorded, previewed, cancelled) and a
service's business model (:mod:`.funding`, :mod:`.sales`, :mod:`.reports`).

Bodies are validated by the same forms as the pages (``core.validate``); errors are
``422 {"errors": {field: [messages]}}``; a rule the record's state refuses (a retired
service, a closed price) is a 409.  Thin handlers over :mod:`.catalogue`, :mod:`.prices`
and :mod:`.queries`; what they return is declared in :mod:`.serializers`.  The request
commits once at its end (below 400) or rolls back.
"""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select

from core import ApiBlueprint, ApiError, api_paginate, db, get_or_404, requires, serialize, today, validate

from . import catalogue, prices, queries
from . import funding, reports, sales
from .errors import BillingError
from .forms import CancelSaleForm, FundingSchemeForm, PeriodForm, SaleFilterForm, SaleForm
from .models import FundingScheme, Sale
from .serializers import (
    BusinessModelOut,
    FundingSchemeDetailOut,
    FundingSchemeOut,
    SaleOut,
    SalePreviewOut,
    business_data,
    preview_data,
    scheme_data,
    scheme_detail_data,
)
from .forms import (
    CatalogueFilterForm,
    ChargeForm,
    ClosePriceForm,
    CopyServiceForm,
    ExpertForm,
    PriceForm,
    RangeForm,
    ServiceForm,
    StepForm,
    StepOrderForm,
)
from .models import Price, Range, Service, ServiceExpert, ServiceStep
from .pricing import NotOffered
from .serializers import (
    ChargeOut,
    ExpertOut,
    PriceListOut,
    PriceOut,
    RangeOut,
    ServiceDetailOut,
    ServiceOut,
    StepListOut,
    StepOut,
    prices_data,
    service_data,
    service_detail_data,
    steps_data,
)

api = ApiBlueprint("billing_api", __name__)
_PAGING = ("limit", "offset")


def _refused(exc: BillingError):
    """A refusal of an operation as the API's error: on its field (422), or the record's state (409)."""
    if exc.field:
        return ApiError({exc.field: [str(exc)]}, 422)
    return ApiError({"_": [str(exc)]}, 409)


def _query(form_class, known: tuple[str, ...]):
    """A query string validated by a form; unknown or bad parameters are a 400."""
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        raise ApiError({name: ["Unknown parameter."] for name in unknown}, 400)
    form = form_class(formdata=request.args, meta={"csrf": False})
    if not form.validate():
        raise ApiError({k: [str(m) for m in v] for k, v in form.errors.items()}, 400)
    return form


def _detail(service: Service) -> dict:
    return serialize(ServiceDetailOut, service_detail_data(queries.service_sheet(service, today())))


# -- ranges --------------------------------------------------------------------------------------
@api.operation("/ranges", summary="This cluster's ranges of services", paginated=True, response=RangeOut)
@requires("billing.view")
def ranges():
    stmt = select(Range).order_by(Range.name, Range.id)
    return jsonify(api_paginate(db.session, stmt, lambda r: serialize(RangeOut, r)))


@api.operation("/ranges", methods=["POST"], summary="Create a range", form=RangeForm, response=RangeOut)
@requires("billing.catalogue")
def range_create():
    form = validate(RangeForm)
    return jsonify(serialize(RangeOut, catalogue.save_range(None, form))), 201


@api.operation("/ranges/<int:range_id>", summary="A range", response=RangeOut)
@requires("billing.view")
def range_detail(range_id: int):
    return jsonify(serialize(RangeOut, get_or_404(Range, range_id)))


@api.operation("/ranges/<int:range_id>", methods=["PATCH"], summary="Change a range", form=RangeForm,
               response=RangeOut)
@requires("billing.catalogue")
def range_update(range_id: int):
    range_ = get_or_404(Range, range_id)
    form = validate(RangeForm, obj=range_, partial=True, current_id=range_.id)
    return jsonify(serialize(RangeOut, catalogue.save_range(range_, form)))


@api.operation("/ranges/<int:range_id>", methods=["DELETE"], summary="Delete a range no service belongs to",
               errors=(409,))
@requires("billing.catalogue")
def range_delete(range_id: int):
    try:
        catalogue.delete_range(get_or_404(Range, range_id))
    except BillingError as exc:
        raise _refused(exc) from None
    return "", 204


# -- services ------------------------------------------------------------------------------------
@api.operation("/services", summary="The catalogue's services matching filters (q, range, status, family)",
               paginated=True, response=ServiceOut)
@requires("billing.view")
def services():
    form = _query(CatalogueFilterForm, CatalogueFilterForm.KEYS + _PAGING)
    stmt = queries.catalogue_select(form.values)
    return jsonify(api_paginate(db.session, stmt, lambda s: serialize(ServiceOut, service_data(s))))


@api.operation("/services", methods=["POST"], summary="Add a service to the catalogue", form=ServiceForm,
               response=ServiceDetailOut)
@requires("billing.catalogue")
def service_create():
    form = validate(ServiceForm)
    return jsonify(_detail(catalogue.save_service(None, form))), 201


@api.operation("/services/<int:service_id>", summary="A service with its steps, experts, prices (margins, "
               "break-even) and unit cost", response=ServiceDetailOut)
@requires("billing.view")
def service_detail(service_id: int):
    return jsonify(_detail(get_or_404(Service, service_id)))


@api.operation("/services/<int:service_id>", methods=["PATCH"], summary="Change a service (not a retired one)",
               form=ServiceForm, response=ServiceDetailOut, errors=(409,))
@requires("billing.catalogue")
def service_update(service_id: int):
    service = get_or_404(Service, service_id)
    try:
        catalogue.ensure_editable(service)
    except BillingError as exc:
        raise _refused(exc) from None
    form = validate(ServiceForm, obj=service, partial=True, current_id=service.id,
                    inhouse_competences=service.competence_ids)
    catalogue.save_service(service, form)
    return jsonify(_detail(service))


@api.operation("/services/<int:service_id>/copy", methods=["POST"], summary="Start a new draft service from a "
               "copy of this one (steps, experts, the prices valid today)", form=CopyServiceForm,
               response=ServiceDetailOut)
@requires("billing.catalogue")
def service_copy(service_id: int):
    service = get_or_404(Service, service_id)
    form = validate(CopyServiceForm)
    return jsonify(_detail(catalogue.copy_service(service, on=today(), name=form.name.data))), 201


@api.operation("/services/<int:service_id>/retire", methods=["POST"], summary="Retire a service: it keeps its "
               "history and can no longer be sold; its open prices end today", response=ServiceDetailOut,
               errors=(409,))
@requires("billing.catalogue")
def service_retire(service_id: int):
    service = get_or_404(Service, service_id)
    try:
        catalogue.retire_service(service, on=today())
    except BillingError as exc:
        raise _refused(exc) from None
    return jsonify(_detail(service))


@api.operation("/services/<int:service_id>/charge", summary="What the service costs an organization on a day "
               "(organization_id, on, mode; fee_tier, joined_on, quantity, amount_obtained)", response=ChargeOut,
               errors=(400, 409))
@requires("billing.view")
def service_charge(service_id: int):
    service = get_or_404(Service, service_id)
    form = _query(ChargeForm, ChargeForm.KEYS)
    try:
        charge = prices.price_for_organization(
            service, form.organization_id.data, form.on.data, mode=form.mode.data, fee_tier=form.fee_tier.data or "",
            quantity=form.quantity.data if form.quantity.data is not None else 1,
            amount_obtained=form.amount_obtained.data, joined_on=form.joined_on.data)
    except BillingError as exc:
        raise _refused(exc) from None
    except NotOffered:
        raise ApiError({"organization_id": ["This price is for members only."]}, 409) from None
    if charge is None:
        raise ApiError({"mode": ["No price of this mode is valid on that day."]}, 404)
    return jsonify(serialize(ChargeOut, charge))


# -- steps ---------------------------------------------------------------------------------------
@api.operation("/services/<int:service_id>/steps", summary="A service's steps in order, with their cost",
               response=StepListOut)
@requires("billing.view")
def steps(service_id: int):
    service = get_or_404(Service, service_id)
    return jsonify(serialize(StepListOut, steps_data(queries.service_sheet(service, today()))))


@api.operation("/services/<int:service_id>/steps", methods=["POST"], summary="Add a step at the end of the "
               "service's process", form=StepForm, response=StepOut, errors=(409,))
@requires("billing.catalogue")
def step_create(service_id: int):
    service = get_or_404(Service, service_id)
    form = validate(StepForm)
    try:
        step = catalogue.add_step(service, form)
    except BillingError as exc:
        raise _refused(exc) from None
    return jsonify(serialize(StepOut, step)), 201


@api.operation("/services/<int:service_id>/steps/order", methods=["PUT"], summary="Put the service's steps in a "
               "new order (every step id once)", form=StepOrderForm, response=StepListOut, errors=(409,))
@requires("billing.catalogue")
def steps_reorder(service_id: int):
    service = get_or_404(Service, service_id)
    form = validate(StepOrderForm)
    try:
        catalogue.reorder_steps(service, form.step_ids.data)
    except BillingError as exc:
        raise _refused(exc) from None
    return jsonify(serialize(StepListOut, steps_data(queries.service_sheet(service, today()))))


@api.operation("/steps/<int:step_id>", methods=["PATCH"], summary="Change a step", form=StepForm,
               response=StepOut, errors=(409,))
@requires("billing.catalogue")
def step_update(step_id: int):
    step = get_or_404(ServiceStep, step_id)
    form = validate(StepForm, obj=step, partial=True, competences=step.competence_ids)
    try:
        catalogue.update_step(step, form)
    except BillingError as exc:
        raise _refused(exc) from None
    return jsonify(serialize(StepOut, step))


@api.operation("/steps/<int:step_id>", methods=["DELETE"], summary="Remove a step", errors=(409,))
@requires("billing.catalogue")
def step_delete(step_id: int):
    try:
        catalogue.remove_step(get_or_404(ServiceStep, step_id))
    except BillingError as exc:
        raise _refused(exc) from None
    return "", 204


# -- experts -------------------------------------------------------------------------------------
@api.operation("/services/<int:service_id>/experts", methods=["POST"], summary="Link an external expert (a CRM "
               "person or organization) to a service", form=ExpertForm, response=ExpertOut, errors=(409,))
@requires("billing.catalogue")
def expert_create(service_id: int):
    service = get_or_404(Service, service_id)
    form = validate(ExpertForm)
    try:
        expert = catalogue.add_expert(service, form)
    except BillingError as exc:
        raise _refused(exc) from None
    return jsonify(serialize(ExpertOut, expert)), 201


@api.operation("/experts/<int:expert_id>", methods=["DELETE"], summary="Remove an expert from a service",
               errors=(409,))
@requires("billing.catalogue")
def expert_delete(expert_id: int):
    try:
        catalogue.remove_expert(get_or_404(ServiceExpert, expert_id))
    except BillingError as exc:
        raise _refused(exc) from None
    return "", 204


# -- prices --------------------------------------------------------------------------------------
@api.operation("/services/<int:service_id>/prices", summary="A service's prices (past, current, future) with "
               "their margins and break-even volumes", response=PriceListOut)
@requires("billing.view")
def service_prices(service_id: int):
    service = get_or_404(Service, service_id)
    return jsonify(serialize(PriceListOut, prices_data(queries.service_sheet(service, today()))))


@api.operation("/services/<int:service_id>/prices", methods=["POST"], summary="Add a price (a price change is a "
               "new price: it closes the current one of its kind the day before)", form=PriceForm,
               response=PriceOut, errors=(409,))
@requires("billing.catalogue")
def price_create(service_id: int):
    service = get_or_404(Service, service_id)
    form = validate(PriceForm)
    try:
        price = prices.add_price(service, form, user_id=current_user.id)
    except BillingError as exc:
        raise _refused(exc) from None
    return jsonify(serialize(PriceOut, price)), 201


@api.operation("/prices/<int:price_id>", summary="A price", response=PriceOut)
@requires("billing.view")
def price_detail(price_id: int):
    return jsonify(serialize(PriceOut, get_or_404(Price, price_id)))


@api.operation("/prices/<int:price_id>/close", methods=["POST"], summary="Set the last day of a price (once)",
               form=ClosePriceForm, response=PriceOut, status=200, errors=(409,))
@requires("billing.catalogue")
def price_close(price_id: int):
    price = get_or_404(Price, price_id)
    form = validate(ClosePriceForm)
    try:
        prices.close_price(price, form.valid_until.data)
    except BillingError as exc:
        raise ApiError({"valid_until": [str(exc)]}, 409 if price.valid_until is not None else 422) from None
    return jsonify(serialize(PriceOut, price))


# -- slice 2a: funding schemes (third-party payers) and one-off sales -----------------------------
def _this_year() -> tuple:
    day = today()
    return day.replace(month=1, day=1), day.replace(month=12, day=31)


def _sale_refused(exc: BillingError):
    """A sale refused: on its field (422), or by a scheme / the sale's state (409)."""
    if isinstance(exc, funding.FundingRefused) or not exc.field:
        return ApiError({"_": [str(exc)]}, 409)
    return ApiError({exc.field: [str(exc)]}, 422)


@api.operation("/funding-schemes", summary="This cluster's funding schemes (third-party payers)", paginated=True,
               response=FundingSchemeOut)
@requires("billing.view")
def funding_schemes():
    stmt = select(FundingScheme).order_by(FundingScheme.name, FundingScheme.id)
    return jsonify(api_paginate(db.session, stmt, lambda s: serialize(FundingSchemeOut, scheme_data(s))))


@api.operation("/funding-schemes", methods=["POST"], summary="Create a funding scheme: its payer, the services it "
               "co-funds, its share, cap, envelope, eligibility and validity", form=FundingSchemeForm,
               response=FundingSchemeOut)
@requires("billing.payers")
def funding_scheme_create():
    form = validate(FundingSchemeForm)
    return jsonify(serialize(FundingSchemeOut, scheme_data(funding.save_scheme(None, form)))), 201


@api.operation("/funding-schemes/<int:scheme_id>", summary="A funding scheme and what its money bought "
               "(beneficiaries, services, totals; since, until)", response=FundingSchemeDetailOut)
@requires("billing.view")
def funding_scheme_detail(scheme_id: int):
    scheme = get_or_404(FundingScheme, scheme_id)
    period = _query(PeriodForm, PeriodForm.KEYS)
    report = reports.scheme_report(scheme, period.since.data, period.until.data)
    return jsonify(serialize(FundingSchemeDetailOut, scheme_detail_data(report)))


@api.operation("/funding-schemes/<int:scheme_id>", methods=["PATCH"], summary="Change a funding scheme (from the "
               "next sale on; its envelope never below what is used)", form=FundingSchemeForm,
               response=FundingSchemeOut)
@requires("billing.payers")
def funding_scheme_update(scheme_id: int):
    scheme = get_or_404(FundingScheme, scheme_id)
    form = validate(FundingSchemeForm, obj=scheme, partial=True)
    try:
        scheme = funding.save_scheme(scheme, form)
    except BillingError as exc:
        raise _refused(exc) from None
    return jsonify(serialize(FundingSchemeOut, scheme_data(scheme)))


@api.operation("/sales", summary="This cluster's one-off sales (service, organization, scheme, status, since, "
               "until)", paginated=True, response=SaleOut)
@requires("billing.view")
def sales_list():
    form = _query(SaleFilterForm, SaleFilterForm.KEYS + _PAGING)
    stmt = reports.sales_select(form.values)
    return jsonify(api_paginate(db.session, stmt, lambda s: serialize(SaleOut, s)))


def _sale_call(form, fn, **extra):
    try:
        return fn(form.service_id.data, form.organization_id.data, **form.sale_arguments(), **extra)
    except BillingError as exc:
        raise _sale_refused(exc) from None


@api.operation("/sales", methods=["POST"], summary="Record a one-off sale at the price of its day; a funding "
               "scheme pays its part (scheme_id: auto, none or an id)", form=SaleForm, response=SaleOut,
               errors=(409,))
@requires("billing.sell")
def sale_create():
    form = validate(SaleForm)
    sale = _sale_call(form, sales.record_sale, description=form.description.data or "", user_id=current_user.id)
    return jsonify(serialize(SaleOut, sale)), 201


@api.operation("/sales/preview", methods=["POST"], summary="What a sale would be if recorded now: the full price, "
               "the payer's part, the beneficiary's (nothing is recorded nor reserved)", form=SaleForm,
               response=SalePreviewOut, status=200, errors=(409,))
@requires("billing.sell")
def sale_preview():
    form = validate(SaleForm)
    return jsonify(serialize(SalePreviewOut, preview_data(_sale_call(form, sales.preview_sale))))


@api.operation("/sales/<int:sale_id>", summary="A sale", response=SaleOut)
@requires("billing.view")
def sale_detail(sale_id: int):
    return jsonify(serialize(SaleOut, get_or_404(Sale, sale_id)))


@api.operation("/sales/<int:sale_id>/cancel", methods=["POST"], summary="Cancel a sale: the scheme's part goes back "
               "to its envelope", form=CancelSaleForm, response=SaleOut, status=200, errors=(409,))
@requires("billing.sell")
def sale_cancel(sale_id: int):
    sale = get_or_404(Sale, sale_id)
    form = validate(CancelSaleForm)
    try:
        sale = sales.cancel_sale(sale, reason=form.reason.data or "", user_id=current_user.id)
    except BillingError as exc:
        raise ApiError({"_": [str(exc)]}, 409) from None
    return jsonify(serialize(SaleOut, sale))


@api.operation("/services/<int:service_id>/business", summary="A service's business model over a period (since, "
               "until; default this year): units sold, revenue, payer funding, production cost, margin",
               response=BusinessModelOut)
@requires("billing.view")
def service_business(service_id: int):
    service = get_or_404(Service, service_id)
    period = _query(PeriodForm, PeriodForm.KEYS)
    first, last = _this_year()
    model = reports.business_model(service, period.since.data or first, period.until.data or last)
    return jsonify(serialize(BusinessModelOut, business_data(model)))


# -- slice 2b: quotes and subscriptions ---------------------------------------------------------
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
from .models import Quote, QuoteLine, Subscription  # noqa: E402
from .serializers import (  # noqa: E402
    QuoteAcceptedOut,
    QuoteDetailOut,
    QuoteLineOut,
    QuoteOut,
    SubscriptionOut,
    quote_data,
    subscription_data,
)


def _refused_in(exc: BillingError, form=None):
    """A refusal: on the request's field when the form has it (422), else the record's state (409)."""
    if form is not None and exc.field and exc.field in form:
        return ApiError({exc.field: [str(exc)]}, 422)
    return ApiError({"_": [str(exc)]}, 409)


def _quote(quote: Quote) -> dict:
    return serialize(QuoteDetailOut, quote_data(quote, today()))


@api.operation("/quotes", summary="This cluster's quotes, newest first (status on today, organization, since and "
               "until on the issue date)", paginated=True, response=QuoteOut)
@requires("billing.view")
def quotes():
    form = _query(QuoteFilterForm, QuoteFilterForm.KEYS + _PAGING)
    day = today()
    stmt = quote_queries.quotes_select(form.values, day)
    return jsonify(api_paginate(db.session, stmt, lambda q: serialize(QuoteOut, quote_data(q, day, lines=False))))


@api.operation("/quotes", methods=["POST"], summary="Start a draft quote for an organization (no number until it "
               "is issued)", form=QuoteForm, response=QuoteDetailOut)
@requires("billing.sell")
def quote_create():
    form = validate(QuoteForm)
    return jsonify(_quote(quote_ops.create_draft(form, user_id=current_user.id))), 201


@api.operation("/quotes/<int:quote_id>", summary="A quote with its lines (full price, payer part, beneficiary part)",
               response=QuoteDetailOut)
@requires("billing.view")
def quote_detail(quote_id: int):
    return jsonify(_quote(get_or_404(Quote, quote_id)))


@api.operation("/quotes/<int:quote_id>", methods=["PATCH"], summary="Change a draft quote (another organization "
               "prices its lines again)", form=QuoteForm, response=QuoteDetailOut, errors=(409,))
@requires("billing.sell")
def quote_update(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    try:
        quote_ops.ensure_draft(quote)
    except BillingError as exc:
        raise _refused_in(exc) from None
    form = validate(QuoteForm, obj=quote, partial=True)
    try:
        quote_ops.update_draft(quote, form, today=today())
    except BillingError as exc:
        raise _refused_in(exc, form) from None
    return jsonify(_quote(quote))


@api.operation("/quotes/<int:quote_id>/lines", methods=["POST"], summary="Add a service of the catalogue to a draft "
               "quote, priced on the quote's day with the payer's part estimated (nothing is reserved)",
               form=QuoteLineForm, response=QuoteLineOut, errors=(409,))
@requires("billing.sell")
def quote_line_create(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    form = validate(QuoteLineForm)
    try:
        line = quote_ops.add_catalogue_line(quote, form, today=today())
    except BillingError as exc:
        raise _refused_in(exc, form) from None
    return jsonify(serialize(QuoteLineOut, line)), 201


@api.operation("/quotes/<int:quote_id>/free-lines", methods=["POST"], summary="Add a free line (description, "
               "quantity, unit price) to a draft quote", form=FreeLineForm, response=QuoteLineOut, errors=(409,))
@requires("billing.sell")
def quote_free_line_create(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    form = validate(FreeLineForm)
    try:
        line = quote_ops.add_free_line(quote, form)
    except BillingError as exc:
        raise _refused_in(exc, form) from None
    return jsonify(serialize(QuoteLineOut, line)), 201


@api.operation("/quote-lines/<int:line_id>", methods=["DELETE"], summary="Remove a line of a draft quote",
               errors=(409,))
@requires("billing.sell")
def quote_line_delete(line_id: int):
    line = get_or_404(QuoteLine, line_id)
    try:
        quote_ops.remove_line(line)
    except BillingError as exc:
        raise _refused_in(exc) from None
    return "", 204


@api.operation("/quotes/<int:quote_id>/issue", methods=["POST"], summary="Issue a draft quote: its number (no gap, "
               "no repeat), today's date, its lines priced today, its validity", response=QuoteDetailOut,
               errors=(409,))
@requires("billing.sell")
def quote_issue(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    try:
        quote_ops.issue(quote, today=today())
    except BillingError as exc:
        raise _refused_in(exc) from None
    return jsonify(_quote(quote))


@api.operation("/quotes/<int:quote_id>/send", methods=["POST"], summary="Mail the quote with its PDF to its contact "
               "or to an address (a draft is issued first); the mail leaves once the request commits",
               form=SendQuoteForm, response=QuoteDetailOut, status=200, errors=(409,))
@requires("billing.sell")
def quote_send(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    form = validate(SendQuoteForm)
    try:
        quote_ops.send(quote, today=today(), email=form.email.data or None)
    except BillingError as exc:
        raise _refused_in(exc, form) from None
    return jsonify(_quote(quote))


@api.operation("/quotes/<int:quote_id>/accept", methods=["POST"], summary="The client accepts a sent quote: each "
               "catalogue line becomes a sale (the payer's part taken from its envelope); not an expired one",
               response=QuoteAcceptedOut, errors=(409,))
@requires("billing.sell")
def quote_accept(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    try:
        made = quote_ops.accept(quote, today=today(), user_id=current_user.id)
    except BillingError as exc:
        raise _refused_in(exc) from None
    return jsonify(serialize(QuoteAcceptedOut, {"quote": quote_data(quote, today()),
                                                "sale_ids": [sale.id for sale in made]}))


@api.operation("/quotes/<int:quote_id>/refuse", methods=["POST"], summary="The client refuses a sent quote",
               form=RefuseQuoteForm, response=QuoteDetailOut, status=200, errors=(409,))
@requires("billing.sell")
def quote_refuse(quote_id: int):
    quote = get_or_404(Quote, quote_id)
    form = validate(RefuseQuoteForm)
    try:
        quote_ops.refuse(quote, today=today(), reason=form.reason.data or "")
    except BillingError as exc:
        raise _refused_in(exc) from None
    return jsonify(_quote(quote))


@api.operation("/subscriptions", summary="This cluster's subscriptions by next billing date (status on today, "
               "service, due_before)", paginated=True, response=SubscriptionOut)
@requires("billing.view")
def subscriptions():
    form = _query(SubscriptionFilterForm, SubscriptionFilterForm.KEYS + _PAGING)
    day = today()
    stmt = quote_queries.subscriptions_select(form.values, day)
    return jsonify(api_paginate(db.session, stmt, lambda s: serialize(SubscriptionOut, subscription_data(s, day))))


@api.operation("/subscriptions", methods=["POST"], summary="Subscribe an organization to a service at one of its "
               "subscription prices (billed each period from the start date)", form=SubscriptionForm,
               response=SubscriptionOut, errors=(409,))
@requires("billing.sell")
def subscription_create():
    form = validate(SubscriptionForm)
    try:
        sub = subscription_ops.create(form, user_id=current_user.id)
    except BillingError as exc:
        raise _refused_in(exc, form) from None
    return jsonify(serialize(SubscriptionOut, subscription_data(sub, today()))), 201


@api.operation("/subscriptions/<int:subscription_id>", summary="A subscription", response=SubscriptionOut)
@requires("billing.view")
def subscription_detail(subscription_id: int):
    return jsonify(serialize(SubscriptionOut, subscription_data(get_or_404(Subscription, subscription_id), today())))


@api.operation("/subscriptions/<int:subscription_id>/end", methods=["POST"], summary="Set the last day of a "
               "subscription (no period starts after it)", form=EndSubscriptionForm, response=SubscriptionOut,
               status=200, errors=(409,))
@requires("billing.sell")
def subscription_end(subscription_id: int):
    sub = get_or_404(Subscription, subscription_id)
    form = validate(EndSubscriptionForm)
    try:
        sub = subscription_ops.end(sub, form.on.data, today=today())
    except BillingError as exc:
        raise _refused_in(exc, form) from None
    return jsonify(serialize(SubscriptionOut, subscription_data(sub, today())))


@api.operation("/subscriptions/<int:subscription_id>/cancel", methods=["POST"], summary="Cancel a subscription from "
               "a day, with a reason (no period starts on it or later)", form=CancelSubscriptionForm,
               response=SubscriptionOut, status=200, errors=(409,))
@requires("billing.sell")
def subscription_cancel(subscription_id: int):
    sub = get_or_404(Subscription, subscription_id)
    form = validate(CancelSubscriptionForm)
    try:
        sub = subscription_ops.cancel(sub, form.on.data, form.reason.data, today=today())
    except BillingError as exc:
        raise _refused_in(exc, form) from None
    return jsonify(serialize(SubscriptionOut, subscription_data(sub, today())))
