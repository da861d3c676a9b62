"""Testing helpers for billing and the plugins that depend on it (test code only).

Catalogue records for a test, written by billing's own operations (:mod:`.catalogue`,
:mod:`.prices`) from its forms, as the pages and the JSON API write them, as the given
cluster (``db.for_cluster``).  The values are written as given, not validated (a test may
need what a form would refuse); a field the form does not have raises ``TypeError``.
Each factory commits, so that what it made is visible to the test client's requests.

In a plugin's ``tests/conftest.py``::

    pytest_plugins = ["core.testing", "plugins.crm.testing", "plugins.billing.testing"]

    def test_a_diagnostic_costs_members_less(app, factory, billing):
        lyon = factory.cluster("lyon", modules=("billing",))
        diagnostic = billing.service(lyon, "Energy diagnostic", status="on_sale")
        billing.step(diagnostic, "Site visit", staff_hours="7", external_fees="600")
        billing.price(diagnostic, "flat_fee", member_amount="1500", non_member_amount="2400")
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core import db

from . import catalogue, prices
from .forms import PriceForm, RangeForm, ServiceForm, StepForm
from .models import Price, Range, Service, ServiceStep

__all__ = ["BillingFactory", "billing", "funding_scheme", "price", "range_", "sale", "service", "step"]


def _id(record) -> int | None:
    if record is None:
        return None
    return record if isinstance(record, int) else record.id


def _form(form_class, values: dict, what: str):
    """A ``form_class`` holding ``values`` as given (its defaults elsewhere), not validated."""
    form = form_class(formdata=None, meta={"csrf": False})
    unknown = sorted(set(values) - set(form._fields))
    if unknown:
        raise TypeError(f"plugins.billing.testing.{what}: no field {', '.join(unknown)} "
                        f"(the fields of {form_class.__name__}: {', '.join(form._fields)})")
    for name, value in values.items():
        if name in _DECIMALS and value is not None and not isinstance(value, Decimal):
            value = Decimal(str(value))
        form[name].data = value
    return form


_DECIMALS = {"vat_rate", "coordination_hours", "coordination_cost", "purchases", "staff_hours", "external_fees",
             "overheads", "member_amount", "non_member_amount", "member_rate", "non_member_rate", "floor_amount",
             "cap_amount"}


def range_(cluster, name: str = "Projects and innovation", **fields) -> Range:
    """A range of ``cluster`` (model or id), from a ``RangeForm``."""
    with db.for_cluster(_id(cluster)):
        record = catalogue.save_range(None, _form(RangeForm, {"name": name, **fields}, "range_"))
    db.session.commit()
    return record


def service(cluster, name: str = "Energy diagnostic", **fields) -> Service:
    """A service of ``cluster`` (model or id), from a ``ServiceForm``: a draft by default.

    ``fields`` are the form's (``status``, ``revenue_family``, ``range_id``, ``problem``,
    ``planned_volume``, ``coordination_hours``, ``inhouse_competences``...).
    """
    with db.for_cluster(_id(cluster)):
        record = catalogue.save_service(None, _form(ServiceForm, {"name": name, **fields}, "service"))
    db.session.commit()
    return record


def step(service, name: str = "Site visit", **fields) -> ServiceStep:
    """A step at the end of ``service``'s process, from a ``StepForm`` (``staff_hours``,
    ``purchases``, ``external_fees``, ``overheads``, ``cost_behaviour``, ``competences``...)."""
    with db.for_cluster(service.cluster_id):
        record = catalogue.add_step(db.session.get(Service, service.id), _form(StepForm, {"name": name, **fields}, "step"))
    db.session.commit()
    return record


def price(service, mode: str = "flat_fee", *, valid_from: date = date(2020, 1, 1), **fields) -> Price:
    """A price of ``service``, from a ``PriceForm`` (``member_amount``, ``non_member_amount``,
    ``unit``, ``period``, ``renewal``, rates, ``fee_tier``, ``pro_rata``, ``valid_until``...)."""
    data = {"mode": mode, "valid_from": valid_from, **fields}
    with db.for_cluster(service.cluster_id):
        record = prices.add_price(db.session.get(Service, service.id), _form(PriceForm, data, "price"))
    db.session.commit()
    return record


def funding_scheme(cluster, payer, services, *, name: str = "Regional diagnostic scheme", share_rate="50",
                   valid_from: date = date(2020, 1, 1), **fields):
    """A funding scheme of ``cluster`` paid by ``payer`` (a CRM organization, model or id) for
    ``services`` (models or ids), from a ``FundingSchemeForm``: 50 % of the price by default.

    ``fields`` are the form's (``share_kind``, ``share_amount``, ``cap_per_beneficiary``,
    ``envelope``, ``size_bands``, ``sectors``, ``postcodes``, ``regions``, ``country``,
    ``members_only``, ``counterpart``, ``valid_until``, ``when_exhausted``, ``reference``).
    """
    from . import funding
    from .forms import FundingSchemeForm

    data = {"name": name, "payer_id": _id(payer), "service_ids": [_id(s) for s in services], "share_kind": "percent",
            "share_rate": share_rate, "valid_from": valid_from, "when_exhausted": "full_price", **fields}
    if data["share_kind"] == "per_unit" and "share_rate" not in fields:
        data["share_rate"] = None
    for key in ("share_rate", "share_amount", "cap_per_beneficiary", "envelope"):
        if data.get(key) is not None and not isinstance(data[key], Decimal):
            data[key] = Decimal(str(data[key]))
    with db.for_cluster(_id(cluster)):
        form = _form(FundingSchemeForm, data, "funding_scheme")
        record = funding.save_scheme(None, form)
    db.session.commit()
    return record


def sale(service, organization, *, on: date = date(2026, 3, 2), **arguments):
    """A sale of ``service`` to ``organization`` (model or id) on ``on``, by
    :func:`.sales.record_sale` (``quantity``, ``mode``, ``scheme_id`` ("auto", an id),
    ``amount_obtained``, ``unit_price``, ``person_id``...), as the service's cluster."""
    from . import sales

    with db.for_cluster(service.cluster_id):
        record = sales.record_sale(service.id, _id(organization), on=on, **arguments)
    db.session.commit()
    return record


class BillingFactory:
    """The factories above as methods: the ``billing`` fixture (``billing.service(lyon, "Diagnostic")``)."""

    range = staticmethod(range_)
    service = staticmethod(service)
    step = staticmethod(step)
    price = staticmethod(price)
    funding_scheme = staticmethod(funding_scheme)
    sale = staticmethod(sale)


@pytest.fixture
def billing(app) -> BillingFactory:
    """The billing factories (``pytest_plugins = [..., "plugins.billing.testing"]``)."""
    return BillingFactory()
