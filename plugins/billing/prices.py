"""Prices: add a price, close one, and the price that applies to an organization on a day.

A price row is never rewritten (:class:`.models.PriceRewrite` guards it): a price change
is a new row.  Two prices of one *line* (same mode, fee tier, unit and period) never
overlap: a new price that starts while the line's current price runs open-ended closes
that one the day before (and records it in ``replaces_id``); any other overlap is
refused.  Closing sets a price's last day, once.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select

from core import cluster_by_id, db
from plugins.crm import api as crm

from . import pricing
from .catalogue import ensure_editable
from .errors import BillingError
from .models import Price, Service
from .settings import membership_year_start


def _lock(service: Service) -> None:
    """Lock the service while its prices are checked and written (two staff adding prices at once)."""
    db.session.execute(db.locked(select(Service.id).where(Service.id == service.id)))


def _line_prices(service: Service) -> list[Price]:
    return list(db.session.execute(
        select(Price).where(Price.service_id == service.id).order_by(Price.valid_from, Price.id)).scalars())


def _overlap(a_from: date, a_until: date | None, b_from: date, b_until: date | None) -> bool:
    return (a_until is None or b_from <= a_until) and (b_until is None or a_from <= b_until)


def add_price(service: Service, form, *, user_id: int | None = None) -> Price:
    """Add a price from a validated :class:`.forms.PriceForm` (the service must not be retired).

    :raises BillingError: it overlaps another price of its line that it cannot follow.
    """
    ensure_editable(service)
    _lock(service)
    terms = form.terms()
    price = Price(service_id=service.id, created_by_id=user_id, **terms)
    followed = None
    for old in _line_prices(service):  # every check before any write
        if old.line != price.line or not _overlap(old.valid_from, old.valid_until, price.valid_from, price.valid_until):
            continue
        if old.valid_until is None and old.valid_from < price.valid_from:
            followed = old  # the new price follows it
            continue
        if old.valid_until is None:
            message = _("A price of this kind is valid from %(start)s on: choose a later start, or close it first.",
                        start=format_date(old.valid_from))
        else:
            message = _("A price of this kind is valid from %(start)s to %(end)s: choose dates outside it.",
                        start=format_date(old.valid_from), end=format_date(old.valid_until))
        raise BillingError(message, field="valid_from")
    if followed is not None:
        followed.valid_until = price.valid_from - timedelta(days=1)
        price.replaces_id = followed.id
    db.session.add(price)
    db.session.flush()
    db.session.expire(service, ["prices"])
    return price


def close_price(price: Price, until: date) -> Price:
    """Set the last day of a price (once; not before its first day)."""
    service = db.session.get(Service, price.service_id)
    _lock(service)
    if price.valid_until is not None:
        raise BillingError(_("This price ends on %(day)s already: add a new price to change it.",
                             day=format_date(price.valid_until)), field="valid_until")
    if until < price.valid_from:
        raise BillingError(_("A price cannot end before it starts (%(day)s).", day=format_date(price.valid_from)),
                           field="valid_until")
    price.valid_until = until
    db.session.flush()
    return price


def current_prices(service: Service, on: date) -> list[Price]:
    return pricing.valid_prices(service.prices, on)


def price_for_organization(service: Service, organization_id: int | None, on: date, *, mode: str,
                           fee_tier: str = "", quantity=1, amount_obtained=None,
                           joined_on: date | None = None) -> pricing.Charge | None:
    """What a service costs an organization on the day of the service, or None (no price then).

    The member price applies when the organization is a member of the service's cluster
    that day (``plugins.crm.api.is_member``).  ``fee_tier`` and ``joined_on`` (the CRM
    membership's, which the caller knows) choose and prorate a membership fee.

    :raises BillingError: the service is not on sale.
    :raises pricing.NotOffered: non-members are not offered it.
    """
    if not service.sellable:
        raise BillingError(_("This service is not on sale."))
    price = pricing.applicable_price(service.prices, on, mode=mode, fee_tier=fee_tier)
    if price is None:
        return None
    member = crm.is_member(organization_id, service.cluster_id, on)
    return pricing.charge(price, member=member, quantity=quantity, amount_obtained=amount_obtained, on=on,
                          joined_on=joined_on,
                          start_month=membership_year_start(cluster_by_id(service.cluster_id)))
