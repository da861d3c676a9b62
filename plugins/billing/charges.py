"""What one chosen price row charges an organization on a day (quotes and subscriptions).

A quote line or a subscription names the price row staff chose (a service may have several
prices of one mode: a seat and an in-company session, a monthly and a yearly subscription).
The price and the member test are those of :func:`.prices.price_for_organization` on the
day (the member price when the organization is a member of the cluster that day); when the
row it would find for the mode is not the one chosen, the chosen row charges with the same
member test (``plugins.crm.api.is_member`` on the day).  On a later day (a draft issued later) the chosen row's *line*
(same mode, fee tier, unit and period) gives the row valid that day: a price change is a
new row of the line.
"""

from __future__ import annotations

from datetime import date

from flask_babel import format_date
from flask_babel import gettext as _

from core import cluster_by_id
from plugins.crm import api as crm

from . import pricing
from .errors import BillingError
from .models import Price, Service
from .prices import price_for_organization
from .settings import membership_year_start


def row_on(service: Service, price: Price, on: date) -> Price | None:
    """The price of ``price``'s line valid on ``on`` (itself when it is valid then)."""
    if price.valid_on(on):
        return price
    return pricing.applicable_price(service.prices, on, mode=price.mode, fee_tier=price.fee_tier, unit=price.unit,
                                    period=price.period)


def charge(service: Service, price: Price, organization_id: int, on: date, *, quantity=1,
           amount_obtained=None, field: str = "price_id") -> tuple[Price, pricing.Charge]:
    """The row of ``price``'s line valid on ``on`` and what it charges the organization.

    :raises BillingError: the service is not on sale, no price of the line is valid that
        day, or non-members are not offered it (on ``field`` or ``organization_id``).
    """
    if not service.sellable:
        raise BillingError(_("%(name)s is not on sale.", name=service.name), field=field)
    row = row_on(service, price, on)
    if row is None:
        raise BillingError(_("No price of this kind is valid on %(day)s.", day=format_date(on)), field=field)
    applicable = pricing.applicable_price(service.prices, on, mode=row.mode, fee_tier=row.fee_tier)
    try:
        if applicable is not None and applicable.id == row.id:  # the row the mode gives: the platform's answer
            found = price_for_organization(service, organization_id, on, mode=row.mode, fee_tier=row.fee_tier,
                                           quantity=quantity, amount_obtained=amount_obtained)
        else:  # another row of the mode (a monthly and a yearly subscription): the same member test
            found = pricing.charge(row, member=_member(service, organization_id, on), quantity=quantity,
                                   amount_obtained=amount_obtained, on=on,
                                   start_month=membership_year_start(cluster_by_id(service.cluster_id)))
    except pricing.NotOffered:
        raise BillingError(_("This price is for members only, and the organization is not a member on %(day)s.",
                             day=format_date(on)), field="organization_id") from None
    return row, found


def _member(service: Service, organization_id: int, on: date) -> bool:
    return crm.is_member(organization_id, service.cluster_id, on)
