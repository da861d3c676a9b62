"""Billing's HTTP API (blueprint ``billing_api``, mounted at ``/api/v1/<cluster>/billing/``):
ranges, services, their steps and experts, prices, and the price an organization pays.

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
from .errors import BillingError
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
