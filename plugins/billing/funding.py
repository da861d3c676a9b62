"""Third-party payers: which funding schemes a sale is eligible for, and what a scheme pays.

The one place that decides eligibility and takes money from an envelope.

**Eligibility** (:func:`ineligibility`, :func:`eligible_schemes`): a scheme funds a sale
when it co-funds the service, is valid on the day of the sale, and the beneficiary (a CRM
organization) meets every condition the scheme gives (an empty condition takes anyone):

- its size band is one of ``size_bands`` (the CRM's keys: ``10-49``...);
- its sector (a NACE code) starts with one of ``sectors`` (``29`` takes ``29.10Z``);
- its postcode starts with one of ``postcodes``, or with a département of one of
  ``regions`` (:data:`.models.FR_REGIONS`; a region is French: the country must be FR);
- its country is ``country``;
- with ``members_only``, it is a member of the cluster on the day of the sale.

**What a scheme pays** (:func:`payer_part`, pure): the least of

- the share: ``share_rate`` % of the full price, or ``share_amount`` x quantity, never
  more than the full price;
- what is left of the beneficiary's cap (``cap_per_beneficiary`` less what the scheme
  paid for its recorded sales);
- what is left of the envelope (``envelope`` less ``envelope_used``);

rounded to the cent (half up), never negative.  The beneficiary pays the rest, so the two
parts add up to the full price to the cent.

**Race-free** (:func:`fund`): the scheme's row is locked (``db.locked``: ``SELECT ... FOR
UPDATE`` on PostgreSQL, the database's write lock on SQLite) *before* its envelope and the
beneficiary's consumption are read, and the envelope is taken under the same lock, which
the request holds until it commits.  However many sales are recorded at once, the
envelope is never overspent (a check constraint on the row says so too).  When the scheme
can pay nothing more for a sale (envelope used up, or the beneficiary's cap reached) it
does what ``when_exhausted`` says: ``full_price`` (the sale goes on, the beneficiary pays
it all) or ``refuse`` (:class:`FundingRefused`).

Organizations' size band, sector, postcode and country come from the CRM
(:func:`organization_profiles`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Iterable

from flask_babel import gettext as _
from sqlalchemy import func, select

from core import db
from plugins.crm import api as crm

from .errors import BillingError
from .models import FR_REGIONS, FundingScheme, FundingSchemeService, Sale, Service
from .pricing import ZERO, money

__all__ = [
    "FundingRefused", "NotEligible", "OrganizationProfile", "Offer", "consumed", "eligible_schemes", "fund",
    "give_back", "ineligibility", "lock_scheme", "offer", "organization_profile", "organization_profiles",
    "payer_part", "region_prefixes", "save_scheme", "split",
]


class NotEligible(BillingError):
    """The sale is not eligible for this scheme (its message says why)."""


class FundingRefused(BillingError):
    """The scheme can pay nothing more for this sale and refuses it (``when_exhausted="refuse"``)."""


# -- the beneficiary, as the CRM knows it --------------------------------------------------------
OrganizationProfile = crm.OrganizationProfile


def organization_profiles(ids: Iterable[int | None]) -> dict[int, OrganizationProfile]:
    """Profiles of organizations by id (unknown ids are left out): the CRM's contract."""
    return crm.organization_profiles(ids)


def organization_profile(organization_id: int | None) -> OrganizationProfile | None:
    if organization_id is None:
        return None
    return organization_profiles([organization_id]).get(organization_id)


# -- eligibility (pure) ----------------------------------------------------------------------------
def region_prefixes(regions: Iterable[str]) -> tuple[str, ...]:
    """The postcode prefixes (départements) of French regions (unknown codes give nothing)."""
    out: list[str] = []
    for code in regions:
        out.extend(FR_REGIONS.get(code, ("", ()))[1])
    return tuple(out)


def _compact(text: str) -> str:
    return "".join((text or "").split()).upper()


def ineligibility(scheme, *, service_id: int, profile: OrganizationProfile | None, member: bool,
                  on: date) -> list[str]:
    """Why the sale of service ``service_id`` to ``profile`` on ``on`` is not eligible for
    ``scheme`` (translated reasons); an empty list: it is eligible.

    ``scheme`` is any object with the :class:`.models.FundingScheme` attributes (``service_ids``,
    the dates and the conditions): the rule is tested without a database.
    """
    reasons: list[str] = []
    if service_id not in scheme.service_ids:
        reasons.append(_("The scheme does not co-fund this service."))
    if on < scheme.valid_from or (scheme.valid_until is not None and on > scheme.valid_until):
        reasons.append(_("The scheme does not fund sales on that day."))
    if profile is None:
        reasons.append(_("No organization with this id in the CRM."))
        return reasons
    if scheme.size_bands and profile.size_band not in scheme.size_bands:
        reasons.append(_("The organization's size is not one the scheme funds."))
    sector = _compact(profile.sector)
    if scheme.sectors and not (sector and any(sector.startswith(_compact(p)) for p in scheme.sectors)):
        reasons.append(_("The organization's sector is not one the scheme funds."))
    country = _compact(profile.country)
    if scheme.country and country != _compact(scheme.country):
        reasons.append(_("The organization is not in the country the scheme funds."))
    postcode = _compact(profile.postcode)
    places = [_compact(p) for p in scheme.postcodes or ()]
    regional = region_prefixes(scheme.regions or ())
    if places or regional:
        in_place = bool(postcode) and any(postcode.startswith(p) for p in places)
        in_region = bool(postcode) and country in ("", "FR") and any(postcode.startswith(p) for p in regional)
        if not (in_place or in_region):
            reasons.append(_("The organization is not in the places the scheme funds."))
    if scheme.members_only and not member:
        reasons.append(_("The scheme funds members of the cluster only."))
    return reasons


def _service_id(service) -> int:
    return service if isinstance(service, int) else service.id


def _cluster_id(service) -> int:
    if isinstance(service, int):
        row = db.session.execute(select(Service).where(Service.id == service)).scalar_one_or_none()
        if row is None:
            raise BillingError(_("No such service."), field="service_id")
        return row.cluster_id
    return service.cluster_id


def eligible_schemes(service, organization, on: date) -> list[FundingScheme]:
    """The current cluster's schemes that would fund a sale of ``service`` (a row or an id)
    to ``organization`` (a CRM organization id) on ``on``, by id (the order ``auto`` tries
    them in).  Whether their money is left is :func:`offer`'s question."""
    service_id = _service_id(service)
    profile = organization_profile(organization)
    if profile is None:
        return []
    schemes = list(db.session.execute(
        select(FundingScheme).join(FundingSchemeService, FundingSchemeService.scheme_id == FundingScheme.id)
        .where(FundingSchemeService.service_id == service_id, FundingScheme.valid_from <= on,
               (FundingScheme.valid_until.is_(None)) | (FundingScheme.valid_until >= on))
        .order_by(FundingScheme.id)).scalars().unique())
    if not schemes:
        return []
    member = any(s.members_only for s in schemes) and crm.is_member(organization, _cluster_id(service), on)
    return [s for s in schemes if not ineligibility(s, service_id=service_id, profile=profile, member=member, on=on)]


# -- what a scheme pays (pure) -----------------------------------------------------------------
def _amount(value) -> Decimal | None:
    return None if value is None else money(value)


def payer_part(full_amount, quantity, *, share_kind: str, share_rate=None, share_amount=None, cap_left=None,
               envelope_left=None) -> Decimal:
    """What the scheme pays of a sale of ``full_amount`` (``quantity`` units): the least of the
    share, ``cap_left`` and ``envelope_left`` (None: no limit), to the cent, never negative,
    never more than the full amount.

    - ``share_kind="percent"``: ``share_rate`` % of ``full_amount``, rounded half up;
    - ``share_kind="per_unit"``: ``share_amount`` x ``quantity``.

    :raises ValueError: a negative amount, a rate outside 0-100, an unknown kind.
    :raises TypeError: a float.
    """
    full = money(full_amount)
    if full < 0:
        raise ValueError(f"a price cannot be negative: {full}")
    if isinstance(quantity, float):
        raise TypeError("a quantity is never a float")
    quantity = Decimal(quantity)
    if not quantity.is_finite() or quantity < 0:
        raise ValueError(f"a quantity cannot be negative: {quantity}")
    if share_kind == "percent":
        if isinstance(share_rate, float):
            raise TypeError("a rate is never a float")
        rate = Decimal(share_rate if share_rate is not None else 0)
        if not rate.is_finite() or not 0 <= rate <= 100:
            raise ValueError(f"a rate is a percentage from 0 to 100: {rate}")
        share = money(full * rate / 100)
    elif share_kind == "per_unit":
        unit = money(share_amount if share_amount is not None else 0)
        if unit < 0:
            raise ValueError(f"an amount cannot be negative: {unit}")
        share = money(unit * quantity)
    else:
        raise ValueError(f"unknown share kind {share_kind!r}")
    part = min(share, full)
    for limit in (cap_left, envelope_left):
        if limit is not None:
            part = min(part, money(limit))
    return max(part, ZERO)


def split(full_amount, payer) -> tuple[Decimal, Decimal]:
    """``(payer part, beneficiary part)`` of a full amount: they add up to it, to the cent."""
    full, payer = money(full_amount), money(payer)
    if not ZERO <= payer <= full:
        raise ValueError(f"a payer part is from 0 to the full amount: {payer} of {full}")
    return payer, full - payer


def _share(scheme, full_amount, quantity) -> Decimal:
    """The scheme's share of a sale, limits aside."""
    return payer_part(full_amount, quantity, share_kind=scheme.share_kind, share_rate=scheme.share_rate,
                      share_amount=scheme.share_amount)


# -- reading and taking the money ----------------------------------------------------------------
def consumed(scheme_id: int, organization_id: int) -> Decimal:
    """What the scheme paid for the beneficiary's recorded sales (read it under the scheme's lock)."""
    total = db.session.execute(
        select(func.coalesce(func.sum(Sale.payer_amount), 0))
        .where(Sale.scheme_id == scheme_id, Sale.organization_id == organization_id, Sale.status == "recorded")
    ).scalar_one()
    return money(total)


def lock_scheme(scheme_id: int) -> FundingScheme:
    """The current cluster's scheme, its row locked until the transaction ends, read anew.

    :raises NotEligible: no such scheme in this cluster.
    """
    scheme = db.session.execute(
        db.locked(select(FundingScheme).where(FundingScheme.id == scheme_id))
        .execution_options(populate_existing=True)).scalar_one_or_none()
    if scheme is None:
        raise NotEligible(_("No such funding scheme."), field="scheme_id")
    return scheme


@dataclass(frozen=True)
class Offer:
    """What a scheme would pay of one sale, and why not more."""

    scheme: FundingScheme
    share: Decimal  # the share, limits aside
    cap_left: Decimal | None  # what is left of the beneficiary's cap (None: no cap)
    envelope_left: Decimal | None  # what is left of the envelope (None: no envelope)
    payer: Decimal  # what it pays: the least of the three

    @property
    def exhausted(self) -> bool:
        """It can pay nothing of a share it would pay (envelope used up, or the cap reached)."""
        return self.share > 0 and self.payer == 0


def _offer(scheme: FundingScheme, beneficiary: int, full_amount, quantity) -> Offer:
    share = _share(scheme, full_amount, quantity)
    cap_left = None
    if scheme.cap_per_beneficiary is not None:
        cap_left = max(money(scheme.cap_per_beneficiary) - consumed(scheme.id, beneficiary), ZERO)
    envelope_left = None if scheme.envelope is None else max(money(scheme.envelope) - money(scheme.envelope_used), ZERO)
    payer = payer_part(full_amount, quantity, share_kind=scheme.share_kind, share_rate=scheme.share_rate,
                       share_amount=scheme.share_amount, cap_left=cap_left, envelope_left=envelope_left)
    return Offer(scheme=scheme, share=share, cap_left=cap_left, envelope_left=envelope_left, payer=payer)


def _check(scheme: FundingScheme, beneficiary: int, service, on: date) -> None:
    service_id = _service_id(service)
    profile = organization_profile(beneficiary)
    member = scheme.members_only and crm.is_member(beneficiary, _cluster_id(service), on)
    reasons = ineligibility(scheme, service_id=service_id, profile=profile, member=member, on=on)
    if reasons:
        raise NotEligible(_("%(scheme)s: %(why)s", scheme=scheme.name, why=" ".join(reasons)), field="scheme_id")


def offer(scheme, beneficiary: int, service, full_amount, quantity, on: date) -> Offer:
    """What ``scheme`` would pay of a sale now, without taking it (a preview: nothing is
    locked nor written; :func:`fund` decides under the lock).

    :raises NotEligible: the sale is not eligible for the scheme.
    """
    if not isinstance(scheme, FundingScheme):
        scheme = db.session.execute(select(FundingScheme).where(FundingScheme.id == scheme)).scalar_one_or_none()
    if scheme is None:
        raise NotEligible(_("No such funding scheme."), field="scheme_id")
    _check(scheme, beneficiary, service, on)
    return _offer(scheme, beneficiary, full_amount, quantity)


def fund(scheme, beneficiary: int, service, full_amount, quantity, on: date) -> Decimal:
    """Take the scheme's part of a sale from its envelope; return the payer part.

    Locks the scheme's row first, then reads its envelope and what it already paid for the
    beneficiary, and adds the part to ``envelope_used`` under the lock (held until the
    transaction ends: record the sale in the same transaction).  ``scheme``: a row or an
    id; ``beneficiary``: the CRM organization id; ``service``: a row or an id.

    :returns: the payer part, from 0 to ``full_amount`` (0 when the scheme can pay nothing
        more and says ``full_price``).
    :raises NotEligible: the sale is not eligible (checked again under the lock).
    :raises FundingRefused: the scheme can pay nothing more and says ``refuse``.
    """
    scheme = lock_scheme(scheme if isinstance(scheme, int) else scheme.id)
    _check(scheme, beneficiary, service, on)
    found = _offer(scheme, beneficiary, full_amount, quantity)
    if found.exhausted and scheme.when_exhausted == "refuse":
        if found.envelope_left is not None and found.envelope_left == 0:
            why = _("its envelope is used up")
        else:
            why = _("the organization reached its cap")
        raise FundingRefused(_("%(scheme)s can pay nothing more (%(why)s): the sale is refused.",
                               scheme=scheme.name, why=why))
    if found.payer:
        scheme.envelope_used = money(scheme.envelope_used) + found.payer
        db.session.flush()
    return found.payer


def give_back(scheme_id: int, amount) -> FundingScheme:
    """Give a cancelled sale's payer part back to the scheme's envelope (under its lock)."""
    scheme = lock_scheme(scheme_id)
    scheme.envelope_used = max(money(scheme.envelope_used) - money(amount), ZERO)
    db.session.flush()
    return scheme


# -- schemes ---------------------------------------------------------------------------------------
SCHEME_FIELDS = ("payer_id", "name", "reference", "share_kind", "share_rate", "share_amount", "cap_per_beneficiary",
                 "envelope", "size_bands", "sectors", "postcodes", "regions", "country", "members_only", "counterpart",
                 "valid_from", "valid_until", "when_exhausted")
_LISTS = ("size_bands", "sectors", "postcodes", "regions")
_TEXTS = ("reference", "country", "counterpart")


def save_scheme(scheme: FundingScheme | None, form) -> FundingScheme:
    """Create or change a scheme from a validated :class:`.forms.FundingSchemeForm`.

    A change locks the scheme's row first (sales take from its envelope meanwhile); the
    envelope cannot go below what recorded sales took from it.  A change applies to the
    sales recorded from then on; the sales made keep their parts.

    :raises BillingError: the envelope would be below what is used of it.
    """
    if scheme is not None:
        scheme = lock_scheme(scheme.id)
        envelope = form.envelope.data
        if envelope is not None and money(envelope) < money(scheme.envelope_used):
            raise BillingError(_("Sales took %(used)s from this envelope already: it cannot be smaller.",
                                 used=money(scheme.envelope_used)), field="envelope")
    scheme = scheme or FundingScheme(envelope_used=ZERO)
    for name in SCHEME_FIELDS:
        value = form[name].data
        if name in _LISTS:
            value = list(value or [])
        elif name in _TEXTS:
            value = value or ""
        elif name == "members_only":
            value = bool(value)
        setattr(scheme, name, value)
    if scheme.share_kind == "percent":
        scheme.share_amount = None
    else:
        scheme.share_rate = None
    wanted = list(dict.fromkeys(form.service_ids.data or []))
    have = {link.service_id: link for link in scheme.service_links}
    for service_id, link in have.items():
        if service_id not in wanted:
            scheme.service_links.remove(link)
    for service_id in wanted:
        if service_id not in have:
            scheme.service_links.append(FundingSchemeService(service_id=service_id))
    if scheme.id is None:
        db.session.add(scheme)
    db.session.flush()
    return scheme
