"""Subscriptions: an organization subscribes to a service at one of its subscription prices.

A subscription is billed each period of its price (month, quarter, year), in advance, from
its start date: the n-th billing date is :func:`add_periods` ``(start, period, n)``, counted
from the start date each time (never from the previous billing date), so that a day missing
from a shorter month falls on that month's last day and the next months come back to the
start's day: 31 January, 28 (29) February, 31 March, 30 April...

- :func:`create` from a validated :class:`.forms.SubscriptionForm`;
- :func:`advance` records that the next period is billed (the invoicing calls it);
- :func:`end` sets its last day (a subscription that runs its course), :func:`cancel`
  stops it early from a day, with a reason.

``end_date`` is the last day served (a period that starts on it is still billed);
``cancelled_on`` is the first day no longer served (a period starting on it is not).
Operations flush and never commit.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from core import db

from . import charges
from .errors import BillingError
from .models import Price, Service, Subscription

PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}
MAX_AMOUNT = Decimal("9999999999.99")  # what a Numeric(12, 2) column holds


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` months, on the last day of the month when it has fewer days."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_periods(start: date, period: str, n: int) -> date:
    """The start of the ``n``-th period after ``start`` (``n`` = 0: ``start``)."""
    if period not in PERIOD_MONTHS:
        raise ValueError(f"unknown subscription period {period!r}")
    if n < 0:
        raise ValueError("a number of periods cannot be negative")
    return add_months(start, PERIOD_MONTHS[period] * n)


def billing_date(subscription: Subscription, n: int) -> date | None:
    """The ``n``-th billing date (0: the start), or None when the subscription no longer runs then."""
    day = add_periods(subscription.start_date, subscription.period, n)
    if subscription.end_date is not None and day > subscription.end_date:
        return None
    if subscription.cancelled_on is not None and day >= subscription.cancelled_on:
        return None
    return day


def _refresh_next(subscription: Subscription) -> None:
    subscription.next_billing_date = billing_date(subscription, subscription.periods_billed)


def _lock(subscription_id: int) -> Subscription:
    stmt = (select(Subscription).where(Subscription.id == subscription_id)
            .options(lazyload(Subscription.service), lazyload(Subscription.price)))  # FOR UPDATE: no outer join
    sub = db.session.execute(db.locked(stmt).execution_options(populate_existing=True)).scalar_one_or_none()
    if sub is None:
        raise BillingError(_("No such subscription."))
    return sub


def create(form, *, user_id: int | None = None) -> Subscription:
    """A new subscription from a validated :class:`.forms.SubscriptionForm`.

    :raises BillingError: the price is not a subscription price of a service on sale valid
        on the start date, or it is for members only and the organization is not one.
    """
    price = db.session.get(Price, form.price_id.data)
    if price is None or price.mode != "subscription":
        raise BillingError(_("Choose a subscription price."), field="price_id")
    service = db.session.get(Service, price.service_id)
    start = form.start_date.data
    quantity = form.quantity.data if form.quantity.data is not None else 1
    row, charge = charges.charge(service, price, form.organization_id.data, start, quantity=quantity)
    if charge.amount is None or charge.amount > MAX_AMOUNT:
        raise BillingError(_("The amount is too large."), field="quantity")
    sub = Subscription(organization_id=form.organization_id.data, person_id=form.person_id.data,
                       service_id=service.id, price_id=row.id, quantity=quantity, member=charge.member,
                       amount=charge.amount, period=row.period, start_date=start, end_date=form.end_date.data,
                       notes=form.notes.data or "", status="active", periods_billed=0, created_by_id=user_id)
    _refresh_next(sub)
    db.session.add(sub)
    db.session.flush()
    return sub


def _check_running(sub: Subscription, on: date, today: date) -> None:
    if sub.state(today) != "active":
        raise BillingError(_("This subscription is %(status)s already.", status=_status_label(sub.state(today))))
    if on < sub.start_date:
        raise BillingError(_("The subscription starts on %(day)s: choose that day or a later one.",
                             day=format_date(sub.start_date)), field="on")
    if sub.periods_billed:
        last = add_periods(sub.start_date, sub.period, sub.periods_billed - 1)
        if on < last:
            raise BillingError(_("The period from %(day)s is billed already: choose that day or a later one.",
                                 day=format_date(last)), field="on")


def _status_label(status: str) -> str:
    from .models import SUBSCRIPTION_STATUSES

    return str(SUBSCRIPTION_STATUSES.get(status, status)).lower()


def end(subscription: Subscription, on: date, *, today: date) -> Subscription:
    """The subscription runs until ``on`` included (then ends: no period starts after it)."""
    sub = _lock(subscription.id)
    _check_running(sub, on, today)
    sub.end_date = on
    if on < today:
        sub.status = "ended"
    _refresh_next(sub)
    db.session.flush()
    return sub


def cancel(subscription: Subscription, on: date, reason: str, *, today: date) -> Subscription:
    """Stop the subscription from ``on`` (no period starting on it or later is billed), with a reason."""
    sub = _lock(subscription.id)
    _check_running(sub, on, today)
    sub.cancelled_on = on
    sub.cancel_reason = reason
    sub.status = "cancelled"
    _refresh_next(sub)
    db.session.flush()
    return sub


def advance(subscription: Subscription, *, today: date) -> date:
    """Record that the period starting on the next billing date is billed; return that date.

    :raises BillingError: nothing is due any more (ended, cancelled), or not yet.
    """
    sub = _lock(subscription.id)
    due = sub.next_billing_date
    if sub.status != "active" or due is None:
        raise BillingError(_("Nothing more is billed on this subscription."))
    if due > today:
        raise BillingError(_("The next period starts on %(day)s: it is not due yet.", day=format_date(due)))
    sub.periods_billed += 1
    _refresh_next(sub)
    if sub.next_billing_date is None and sub.end_date is not None and sub.end_date < today:
        sub.status = "ended"
    db.session.flush()
    return due
