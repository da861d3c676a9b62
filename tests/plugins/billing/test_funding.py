"""Funding schemes: the payer part (pure, with hypothesis) and eligibility (size band, sector,
postcode and region, country, membership, validity dates, services)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.billing import funding
from plugins.billing.funding import OrganizationProfile, ineligibility, payer_part, split
from plugins.billing.pricing import money

CENTS = st.integers(min_value=0, max_value=10**9).map(lambda c: Decimal(c) / 100)
RATES = st.integers(min_value=0, max_value=10000).map(lambda c: Decimal(c) / 100)
QUANTITIES = st.integers(min_value=1, max_value=10**6).map(lambda c: Decimal(c) / 100)


# -- the payer part --------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(full=CENTS, quantity=QUANTITIES, kind=st.sampled_from(["percent", "per_unit"]), rate=RATES, unit=CENTS,
       cap_left=st.none() | CENTS, envelope_left=st.none() | CENTS)
def test_the_payer_part_is_the_least_of_share_cap_and_envelope(full, quantity, kind, rate, unit, cap_left,
                                                               envelope_left):
    payer = payer_part(full, quantity, share_kind=kind, share_rate=rate, share_amount=unit, cap_left=cap_left,
                       envelope_left=envelope_left)
    share = money(full * rate / 100) if kind == "percent" else money(unit * quantity)
    assert payer == money(payer)  # to the cent
    assert Decimal(0) <= payer <= full
    assert payer <= share
    assert cap_left is None or payer <= cap_left
    assert envelope_left is None or payer <= envelope_left
    assert payer == min(x for x in (share, full, cap_left, envelope_left) if x is not None)
    mine, theirs = split(full, payer)
    assert mine == payer and theirs >= 0 and mine + theirs == full  # the parts add up, to the cent


@settings(max_examples=200, deadline=None)
@given(full=CENTS, payer=CENTS)
def test_split_refuses_a_payer_part_outside_the_price(full, payer):
    if payer <= full:
        a, b = split(full, payer)
        assert a + b == full and a >= 0 and b >= 0
    else:
        with pytest.raises(ValueError):
            split(full, payer)


def test_the_payer_part_rounds_half_up_and_refuses_floats():
    assert payer_part("0.05", 1, share_kind="percent", share_rate="50") == Decimal("0.03")  # 0.025 -> 0.03
    assert payer_part("1500", 1, share_kind="percent", share_rate="50") == Decimal("750.00")
    assert payer_part("1500", 1, share_kind="percent", share_rate="50", cap_left="400") == Decimal("400.00")
    assert payer_part("1500", 1, share_kind="percent", share_rate="50", envelope_left="0") == Decimal("0.00")
    assert payer_part("650", 3, share_kind="per_unit", share_amount="300") == Decimal("650.00")  # never above the price
    for bad in ({"share_rate": 0.5}, ):
        with pytest.raises(TypeError):
            payer_part("100", 1, share_kind="percent", **bad)
    with pytest.raises(TypeError):
        payer_part(100.0, 1, share_kind="percent", share_rate="5")
    with pytest.raises(ValueError):
        payer_part("100", 1, share_kind="percent", share_rate="101")
    with pytest.raises(ValueError):
        payer_part("-1", 1, share_kind="percent", share_rate="5")
    with pytest.raises(ValueError):
        payer_part("100", 1, share_kind="gift")


# -- eligibility (pure) ---------------------------------------------------------------------------
@dataclass
class Scheme:
    service_ids: list = field(default_factory=lambda: [7])
    valid_from: date = date(2026, 1, 1)
    valid_until: date | None = date(2026, 12, 31)
    size_bands: list = field(default_factory=list)
    sectors: list = field(default_factory=list)
    postcodes: list = field(default_factory=list)
    regions: list = field(default_factory=list)
    country: str = ""
    members_only: bool = False


SME = OrganizationProfile(id=1, size_band="10-49", sector="22.29Z", postcode="69100", country="FR")
ON = date(2026, 3, 2)


def reasons(scheme, profile=SME, *, member=True, on=ON, service_id=7):
    return ineligibility(scheme, service_id=service_id, profile=profile, member=member, on=on)


def test_an_open_scheme_takes_anyone_for_its_services_while_valid(app):
    assert reasons(Scheme()) == []
    assert reasons(Scheme(), service_id=8) == ["The scheme does not co-fund this service."]
    assert reasons(Scheme(), on=date(2025, 12, 31)) == ["The scheme does not fund sales on that day."]
    assert reasons(Scheme(), on=date(2027, 1, 1)) == ["The scheme does not fund sales on that day."]
    assert reasons(Scheme(valid_until=None), on=date(2040, 1, 1)) == []
    assert reasons(Scheme(), on=date(2026, 12, 31)) == [] and reasons(Scheme(), on=date(2026, 1, 1)) == []
    assert reasons(Scheme(), profile=None) == ["No organization with this id in the CRM."]


def test_size_band_sector_and_membership(app):
    assert reasons(Scheme(size_bands=["10-49", "50-249"])) == []
    assert reasons(Scheme(size_bands=["50-249"])) == ["The organization's size is not one the scheme funds."]
    no_size = OrganizationProfile(id=2, sector="22.29", postcode="69100", country="FR")
    assert reasons(Scheme(size_bands=["10-49"]), no_size) == ["The organization's size is not one the scheme funds."]
    assert reasons(Scheme(sectors=["22"])) == [] and reasons(Scheme(sectors=["22.2"])) == []
    assert reasons(Scheme(sectors=["29", "22.29"])) == []
    assert reasons(Scheme(sectors=["29.10"])) == ["The organization's sector is not one the scheme funds."]
    assert reasons(Scheme(sectors=["2"]), OrganizationProfile(id=3)) == [
        "The organization's sector is not one the scheme funds."]  # no sector known: not eligible
    assert reasons(Scheme(members_only=True), member=False) == ["The scheme funds members of the cluster only."]
    assert reasons(Scheme(members_only=True), member=True) == []


def test_postcodes_regions_and_country(app):
    assert reasons(Scheme(postcodes=["69"])) == [] and reasons(Scheme(postcodes=["38", "691"])) == []
    assert reasons(Scheme(postcodes=["38"])) == ["The organization is not in the places the scheme funds."]
    assert reasons(Scheme(regions=["ARA"])) == []  # 69 is in Auvergne-Rhône-Alpes
    assert reasons(Scheme(regions=["IDF"])) == ["The organization is not in the places the scheme funds."]
    assert reasons(Scheme(regions=["IDF"], postcodes=["69100"])) == []  # a place or a region
    linz = OrganizationProfile(id=4, size_band="10-49", postcode="4020", country="AT")
    assert reasons(Scheme(regions=["NAQ"]), linz) == [  # 40 is the Landes, but Linz is not in France
        "The organization is not in the places the scheme funds."]
    assert reasons(Scheme(country="AT", postcodes=["4"]), linz) == []
    assert reasons(Scheme(country="AT"), SME) == ["The organization is not in the country the scheme funds."]
    assert reasons(Scheme(postcodes=["69"]), OrganizationProfile(id=5)) == [
        "The organization is not in the places the scheme funds."]
    corsica = OrganizationProfile(id=6, postcode="20000", country="FR")
    assert reasons(Scheme(regions=["COR"]), corsica) == []
    assert funding.region_prefixes(["ARA", "nope"])[:2] == ("01", "03")


PROFILES = st.builds(OrganizationProfile, id=st.just(1), size_band=st.sampled_from(["", "1-9", "10-49", "50-249"]),
                     sector=st.sampled_from(["", "22.29Z", "29.10", "84.13"]),
                     postcode=st.sampled_from(["", "69100", "38000", "75001", "4020"]),
                     country=st.sampled_from(["", "FR", "AT"]))
SCHEMES = st.builds(Scheme, size_bands=st.lists(st.sampled_from(["1-9", "10-49", "50-249"]), max_size=2),
                    sectors=st.lists(st.sampled_from(["22", "29.1", "84"]), max_size=2),
                    postcodes=st.lists(st.sampled_from(["69", "38000", "4"]), max_size=2),
                    regions=st.lists(st.sampled_from(["ARA", "IDF"]), max_size=1),
                    country=st.sampled_from(["", "FR", "AT"]), members_only=st.booleans(),
                    valid_until=st.none() | st.just(date(2026, 6, 30)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scheme=SCHEMES, profile=PROFILES, member=st.booleans(), days=st.integers(min_value=-400, max_value=400))
def test_eligible_exactly_when_every_condition_holds(app, scheme, profile, member, days):
    on = ON + timedelta(days=days)
    found = reasons(scheme, profile, member=member, on=on)
    prefixes = list(scheme.postcodes) + ([p for p in funding.region_prefixes(scheme.regions)]
                                         if profile.country in ("", "FR") else [])
    expected = (scheme.valid_from <= on and (scheme.valid_until is None or on <= scheme.valid_until)
                and (not scheme.size_bands or profile.size_band in scheme.size_bands)
                and (not scheme.sectors or (profile.sector and any(profile.sector.startswith(s)
                                                                    for s in scheme.sectors)))
                and (not scheme.country or profile.country == scheme.country)
                and (not (scheme.postcodes or scheme.regions)
                     or (profile.postcode and any(profile.postcode.startswith(p) for p in prefixes)))
                and (member or not scheme.members_only))
    assert (found == []) == bool(expected), found
