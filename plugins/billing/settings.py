"""Billing's per-cluster settings (the cluster profile page, ``grappe_cluster_settings``).

Settings are stored as JSON: the hourly cost is kept as a decimal *string* ("62.50"), never
a float, and read back as a :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from core import Setting, cluster_setting

HOURLY_COST = "billing.hourly_cost"
YEAR_START = "billing.membership_year_start"
DEFAULT_HOURLY_COST = "60.00"
QUOTE_PREFIX = "billing.quote_prefix"
QUOTE_VALIDITY = "billing.quote_validity_days"
DEFAULT_QUOTE_PREFIX = "Q-"
DEFAULT_QUOTE_VALIDITY = 30


def settings() -> list[Setting]:
    return [
        Setting(HOURLY_COST, _l("Hourly cost of staff (billing)"), lambda: StringField(
            _l("Hourly cost of staff (billing)"), validators=[
                DataRequired(), Length(max=12),
                Regexp(r"^\d{1,7}(\.\d{1,2})?$", message=_l("An amount such as 62.50."))],
            description=_l("What an hour of staff costs the cluster, overheads aside: it values the hours of "
                           "the services' steps.")), default=DEFAULT_HOURLY_COST),
        Setting(YEAR_START, _l("First month of the membership year (billing)"), lambda: IntegerField(
            _l("First month of the membership year (billing)"), validators=[DataRequired(), NumberRange(min=1, max=12)],
            description=_l("1 for January: membership fees are yearly, pro rata from the month of joining.")),
            default=1),
        Setting(QUOTE_PREFIX, _l("Prefix of quote numbers (billing)"), lambda: StringField(
            _l("Prefix of quote numbers (billing)"), validators=[
                Optional(), Length(max=12),
                Regexp(r"^[A-Za-z0-9][A-Za-z0-9_/-]*$", message=_l("Letters, digits, - _ / only, e.g. Q- or AUTO-Q-."))],
            description=_l("Before the year and the number: Q- gives Q-2026-0001. Empty: 2026-0001.")),
            default=DEFAULT_QUOTE_PREFIX),
        Setting(QUOTE_VALIDITY, _l("Days a quote is valid (billing)"), lambda: IntegerField(
            _l("Days a quote is valid (billing)"), validators=[Optional(), NumberRange(min=1, max=365)],
            description=_l("From its issue date, unless the quote gives its own validity date. Empty: 30.")),
            default=DEFAULT_QUOTE_VALIDITY),
    ]


def hourly_cost(cluster=None) -> Decimal:
    """The cluster's hourly cost of staff (the current cluster's by default)."""
    value = cluster_setting(HOURLY_COST, cluster, DEFAULT_HOURLY_COST)
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(DEFAULT_HOURLY_COST)
    return amount if amount.is_finite() and amount >= 0 else Decimal(DEFAULT_HOURLY_COST)


def membership_year_start(cluster=None) -> int:
    """The first month (1-12) of the cluster's membership year."""
    value = cluster_setting(YEAR_START, cluster, 1)
    return value if isinstance(value, int) and 1 <= value <= 12 else 1


def quote_validity_days(cluster=None) -> int:
    """How many days a quote is valid from its issue date, unless it says otherwise."""
    value = cluster_setting(QUOTE_VALIDITY, cluster, DEFAULT_QUOTE_VALIDITY)
    return value if isinstance(value, int) and 1 <= value <= 365 else DEFAULT_QUOTE_VALIDITY
