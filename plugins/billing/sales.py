"""One-off sales: record a sale at the price that applies, with a third-party payer's part; cancel one.

A sale is priced by :func:`.prices.price_for_organization` on the day of the service (the
member price when the organization is a member of the cluster that day), then split
between a funding scheme and the beneficiary by :func:`.funding.fund`, which takes the
scheme's part from its envelope under the scheme's row lock.  The parts always add up to
the full price, to the cent, and neither is negative.  Cancelling a sale gives the
scheme's part back to its envelope.

Operations flush, never commit: the request (job, command) commits, and holds the locks
until then.  :func:`preview_sale` computes the same figures without locking nor writing
(the new sale page shows them before the sale is confirmed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import select

from core import cluster_by_id, db, utcnow
from plugins.crm import api as crm

from . import funding, pricing
from .errors import BillingError
from .models import PRICING_MODES, SALE_MODES, FundingScheme, Price, Sale, Service
from .prices import price_for_organization
from .pricing import ZERO, money

__all__ = ["AUTO", "Priced", "SalePreview", "billable_sales", "cancel_sale", "preview_sale", "price_sale",
           "record_sale"]

AUTO = "auto"  # scheme_id="auto": the first eligible scheme (by id) that pays something
MAX_AMOUNT = Decimal("9999999999.99")  # what a Numeric(12, 2) column holds


def _scoped(model, ident):
    """The current cluster's row with this id, or None: a scoped SELECT, never the identity map
    (which may hold a row another cluster's query read)."""
    if isinstance(ident, bool) or not isinstance(ident, int):
        return None
    return db.session.execute(select(model).where(model.id == ident)).scalar_one_or_none()


@dataclass(frozen=True)
class Priced:
    """A sale priced, before its split: the price row, the member test, the amounts."""

    service: Service
    price: Price
    mode: str
    member: bool
    quantity: Decimal
    unit_price: Decimal
    full_amount: Decimal
    amount_obtained: Decimal | None


def _quantity(value) -> Decimal:
    if isinstance(value, float):
        raise TypeError("a quantity is never a float: pass a Decimal, an int or a string")
    try:
        quantity = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise BillingError(_("Not a valid number."), field="quantity") from None
    if not quantity.is_finite() or quantity <= 0:
        raise BillingError(_("The quantity must be more than 0."), field="quantity")
    if quantity != quantity.quantize(pricing.CENT) or quantity > MAX_AMOUNT:
        raise BillingError(_("At most two decimal places, and at most 10 digits before the point."), field="quantity")
    return quantity


def _sale_mode(service: Service, on: date, mode: str | None) -> str:
    if mode is not None:
        if mode not in SALE_MODES:
            raise BillingError(_("A one-off sale is not made in this pricing mode."), field="mode")
        return mode
    modes = sorted({p.mode for p in pricing.valid_prices(service.prices, on) if p.mode in SALE_MODES})
    if not modes:
        raise BillingError(_("No price of this service is valid on that day."), field="sold_on")
    if len(modes) > 1:
        raise BillingError(_("This service has several prices that day: choose the pricing mode (%(modes)s).",
                             modes=", ".join(str(PRICING_MODES[m]) for m in modes)), field="mode")
    return modes[0]


def price_sale(service_id: int, organization_id: int, *, on: date, quantity=1, mode: str | None = None,
               amount_obtained=None, unit_price=None) -> Priced:
    """The price of a sale (no split yet): see :func:`record_sale` for the arguments.

    :raises BillingError: on the field concerned (``service_id``, ``organization_id``, ``mode``,
        ``quantity``, ``amount_obtained``, ``unit_price``, ``sold_on``).
    """
    service = _scoped(Service, service_id)
    if service is None:
        raise BillingError(_("No such service."), field="service_id")
    if not service.sellable:
        raise BillingError(_("This service is not on sale."), field="service_id")
    if not isinstance(organization_id, int) or not crm.organization_names([organization_id]):
        raise BillingError(_("No organization with this id in the CRM."), field="organization_id")
    quantity = _quantity(quantity)
    mode = _sale_mode(service, on, mode)
    if pricing.applicable_price(service.prices, on, mode=mode) is None:
        raise BillingError(_("No price of this mode is valid on that day."), field="mode")
    if mode == "success_fee":
        if amount_obtained is None:
            raise BillingError(_("Give the amount obtained: the success fee is a share of it."),
                               field="amount_obtained")
        if quantity != 1:
            raise BillingError(_("A success fee is sold once (quantity 1)."), field="quantity")
    elif amount_obtained is not None:
        raise BillingError(_("Only a success fee uses the amount obtained."), field="amount_obtained")
    if mode == "quote":
        if unit_price is None:
            raise BillingError(_("Give the unit price agreed: a quote is priced case by case."), field="unit_price")
    elif unit_price is not None:
        raise BillingError(_("Only a sale on quote takes a unit price: the others use the catalogue's."),
                           field="unit_price")
    obtained = None if amount_obtained is None else money(amount_obtained)
    if obtained is not None and obtained < 0:
        raise BillingError(_("An amount cannot be negative."), field="amount_obtained")
    try:
        charge = price_for_organization(service, organization_id, on, mode=mode, quantity=quantity,
                                        amount_obtained=obtained)
    except pricing.NotOffered:
        raise BillingError(_("This price is for members only, and the organization is not a member on that day."),
                           field="organization_id") from None
    except BillingError as exc:
        raise BillingError(str(exc), field=exc.field or "service_id") from None
    if charge is None:
        raise BillingError(_("No price of this mode is valid on that day."), field="mode")
    price = next(p for p in service.prices if p.id == charge.price_id)
    if mode == "quote":
        unit = money(unit_price)
        if unit < 0:
            raise BillingError(_("An amount cannot be negative."), field="unit_price")
        full = money(unit * quantity)
    elif mode == "success_fee":
        full = charge.amount
        unit = full
    else:
        full = charge.amount
        unit = money(price.member_amount if charge.member else price.non_member_amount)
    if full > MAX_AMOUNT:
        raise BillingError(_("The amount is too large."), field="quantity")
    return Priced(service=service, price=price, mode=mode, member=charge.member, quantity=quantity, unit_price=unit,
                  full_amount=full, amount_obtained=obtained)


def _scheme_arg(scheme_id):
    if scheme_id in (None, "", "none"):
        return None
    if scheme_id == AUTO:
        return AUTO
    if isinstance(scheme_id, bool) or not isinstance(scheme_id, int):
        raise BillingError(_("Choose a funding scheme, auto or none."), field="scheme_id")
    return scheme_id


@dataclass
class SalePreview:
    """A sale's figures before it is recorded: what :func:`preview_sale` returns."""

    priced: Priced
    scheme: FundingScheme | None  # the scheme that would pay (None: none)
    payer_amount: Decimal
    beneficiary_amount: Decimal
    eligible: list[funding.Offer] = field(default_factory=list)  # every eligible scheme and its offer
    refused: str | None = None  # why the sale would be refused (a scheme says refuse), else None

    @property
    def full_amount(self) -> Decimal:
        return self.priced.full_amount


def _check_person(person_id) -> None:
    if person_id is not None and (isinstance(person_id, bool) or not isinstance(person_id, int)
                                  or crm.get_person(person_id) is None):
        raise BillingError(_("No person with this id in the CRM."), field="person_id")


def preview_sale(service_id: int, organization_id: int, *, on: date, quantity=1, person_id: int | None = None,
                 mode: str | None = None, amount_obtained=None, scheme_id=AUTO, unit_price=None) -> SalePreview:
    """The figures :func:`record_sale` would record now: the price, the scheme, the parts.

    Nothing is locked nor written: two previews may show money that only one sale gets.

    :raises BillingError: as :func:`record_sale` (a refusal is reported in ``refused``).
    """
    priced = price_sale(service_id, organization_id, on=on, quantity=quantity, mode=mode,
                        amount_obtained=amount_obtained, unit_price=unit_price)
    _check_person(person_id)
    choice = _scheme_arg(scheme_id)
    offers = [funding.offer(s, organization_id, priced.service, priced.full_amount, priced.quantity, on)
              for s in funding.eligible_schemes(priced.service, organization_id, on)]
    chosen: funding.Offer | None = None
    refused = None
    if choice == AUTO:
        chosen = next((o for o in offers if o.payer > 0), None)
        if chosen is None:
            refusing = next((o for o in offers if o.exhausted and o.scheme.when_exhausted == "refuse"), None)
            if refusing is not None:
                refused = _("%(scheme)s can pay nothing more: the sale would be refused.", scheme=refusing.scheme.name)
    elif choice is not None:
        chosen = funding.offer(choice, organization_id, priced.service, priced.full_amount, priced.quantity, on)
        if chosen.exhausted and chosen.scheme.when_exhausted == "refuse":
            refused = _("%(scheme)s can pay nothing more: the sale would be refused.", scheme=chosen.scheme.name)
    payer = chosen.payer if chosen is not None else ZERO
    payer, rest = funding.split(priced.full_amount, payer)
    scheme = chosen.scheme if chosen is not None and payer > 0 else None
    return SalePreview(priced=priced, scheme=scheme, payer_amount=payer, beneficiary_amount=rest, eligible=offers,
                       refused=refused)


def record_sale(service_id: int, organization_id: int, *, on: date, quantity=1, person_id: int | None = None,
                mode: str | None = None, amount_obtained=None, scheme_id=None, quote_line_id: int | None = None,
                unit_price=None, description: str = "", user_id: int | None = None) -> Sale:
    """Record a one-off sale of a service of the current cluster; return the :class:`.models.Sale`.

    Stable entry point (quotes call it for each catalogue line of an accepted quote).

    :param service_id: the service (of the current cluster, on sale).
    :param organization_id: the buyer, a CRM organization: the beneficiary of any funding.
    :param on: the day of the service: the price valid that day applies, at the member price
        when the organization is a member of the cluster that day.
    :param quantity: units, uses or periods (a ``Decimal``, an ``int`` or a string; more than 0,
        two places at most); 1 for a success fee.
    :param person_id: the CRM person it is for (optional).
    :param mode: the pricing mode (``catalogue``, ``pay_per_use``, ``flat_fee``, ``success_fee``,
        ``quote``, ``subscription``); None: the one mode the service has a price in that day.
    :param amount_obtained: for a success fee (required then, refused otherwise).
    :param scheme_id: None (no third-party payer), ``"auto"`` (the first eligible scheme, by
        id, that can pay something; none: the full price, unless an eligible scheme that
        can pay nothing more says ``refuse``), or a scheme's id (it must be eligible).
    :param quote_line_id: the accepted quote's line the sale comes from (kept on the sale).
    :param unit_price: the unit price agreed, for a price in mode ``quote`` only (required then).
    :param description: for the invoice; default: the service's name and the price's label.
    :param user_id: who records it.
    :raises BillingError: the input is refused (``field`` names the argument: ``service_id``,
        ``organization_id``, ``person_id``, ``mode``, ``quantity``, ``amount_obtained``,
        ``unit_price``, ``scheme_id``, ``sold_on``).
    :raises funding.FundingRefused: the scheme can pay nothing more and refuses the sale
        (a :class:`BillingError` without a field).
    """
    priced = price_sale(service_id, organization_id, on=on, quantity=quantity, mode=mode,
                        amount_obtained=amount_obtained, unit_price=unit_price)
    _check_person(person_id)
    choice = _scheme_arg(scheme_id)
    scheme, payer = None, ZERO
    if choice == AUTO:
        refusal: funding.FundingRefused | None = None
        for candidate in funding.eligible_schemes(priced.service, organization_id, on):
            try:
                part = funding.fund(candidate.id, organization_id, priced.service, priced.full_amount,
                                    priced.quantity, on)
            except funding.FundingRefused as exc:
                refusal = refusal or exc
                continue
            except funding.NotEligible:  # changed since it was listed
                continue
            if part > 0:
                scheme, payer = _scoped(FundingScheme, candidate.id), part
                break
        if scheme is None and refusal is not None:
            raise refusal
    elif choice is not None:
        part = funding.fund(choice, organization_id, priced.service, priced.full_amount, priced.quantity, on)
        if part > 0:
            scheme, payer = _scoped(FundingScheme, choice), part
    payer, rest = funding.split(priced.full_amount, payer)
    service = priced.service
    cluster = cluster_by_id(service.cluster_id)
    label = " · ".join(x for x in (service.name, priced.price.label) if x)
    sale = Sale(
        service_id=service.id, price_id=priced.price.id, organization_id=organization_id, person_id=person_id,
        sold_on=on, mode=priced.mode, quantity=priced.quantity, unit_price=priced.unit_price, member=priced.member,
        amount_obtained=priced.amount_obtained, full_amount=priced.full_amount, payer_amount=payer,
        beneficiary_amount=rest, scheme_id=scheme.id if scheme is not None else None,
        payer_id=scheme.payer_id if scheme is not None else None, status="recorded",
        description=(description or label)[:300], currency=((cluster.currency if cluster else "") or "EUR")[:3],
        vat_category=service.vat_category, vat_rate=service.vat_rate, quote_line_id=quote_line_id,
        created_by_id=user_id)
    db.session.add(sale)
    db.session.flush()
    return sale


def lock_sale(sale_id: int) -> Sale:
    """The current cluster's sale, its row locked until the transaction ends, read anew."""
    sale = db.session.execute(
        db.locked(select(Sale).where(Sale.id == sale_id)).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if sale is None:
        raise BillingError(_("No such sale."))
    return sale


def cancel_sale(sale, *, reason: str = "", user_id: int | None = None) -> Sale:
    """Cancel a recorded sale (a row or an id): the scheme's part goes back to its envelope.

    :raises BillingError: the sale is cancelled already.
    """
    sale = lock_sale(sale if isinstance(sale, int) else sale.id)
    if sale.status != "recorded":
        raise BillingError(_("This sale is cancelled already."))
    if sale.scheme_id is not None and sale.payer_amount:
        funding.give_back(sale.scheme_id, sale.payer_amount)
    sale.status = "cancelled"
    sale.cancelled_at = utcnow()
    sale.cancelled_by_id = user_id
    sale.cancel_reason = (reason or "")[:300]
    db.session.flush()
    return sale


def billable_sales(since: date, until: date) -> list[dict]:
    """The current cluster's recorded sales of a period (days included) as invoice lines, in
    the shape of the ``billing_billable_items`` hook: one line for the beneficiary's part
    (``source_id`` ``"sale:<id>"``) and one for the payer's (``"sale:<id>:payer"``, its
    ``organization_id`` the payer), each when not zero."""
    rows = db.session.execute(
        select(Sale).where(Sale.status == "recorded", Sale.sold_on >= since, Sale.sold_on <= until)
        .order_by(Sale.sold_on, Sale.id)).scalars()
    out = []
    for sale in rows:
        base = {"source": "billing", "person_id": sale.person_id, "description": sale.description,
                "currency": sale.currency, "date": sale.sold_on, "member_price": sale.member}
        if sale.beneficiary_amount:
            out.append({**base, "source_id": sale.source_id, "organization_id": sale.organization_id,
                        "amount": sale.beneficiary_amount})
        if sale.payer_amount:
            out.append({**base, "source_id": f"{sale.source_id}:payer", "organization_id": sale.payer_id,
                        "person_id": None, "amount": sale.payer_amount})
    return out
