"""Billing's per-cluster settings (the cluster profile page, ``grappe_cluster_settings``).

Settings are stored as JSON: the hourly cost is kept as a decimal *string* ("62.50"), never
a float, and read back as a :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Regexp

from core import Setting, cluster_setting

HOURLY_COST = "billing.hourly_cost"
YEAR_START = "billing.membership_year_start"
DEFAULT_HOURLY_COST = "60.00"


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
