"""Subscriptions: the billing dates per period (month ends: 31 January + 1 month = 28/29
February), creating, billing a period, ending, cancelling, the list's filters, bad input on
every page and endpoint, roles and clusters."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from core import db, today, validate
from plugins.billing import subscriptions
from plugins.billing.errors import BillingError
from plugins.billing.forms import SubscriptionForm
from plugins.billing.models import Subscription

from .conftest import api_client
from .quote_world import acting_as, count, shop  # noqa: F401

D = Decimal
HUGE = 99999999999999999999


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def fresh(ident) -> Subscription:
    db.session.expire_all()
    return db.session.execute(select(Subscription).where(Subscription.id == ident)
                              .execution_options(all_clusters=True)).scalar_one()


def subscribe(shop, organization=None, price=None, **fields) -> Subscription:
    data = {"organization_id": (organization or shop.member).id, "price_id": str((price or shop.monthly).id),
            "start_date": today().isoformat(), **fields}
    with acting_as(shop.cluster):
        sub = subscriptions.create(validate(SubscriptionForm, data=data))
    return fresh(sub.id)


# -- the billing dates ------------------------------------------------------------------------------
def test_month_ends_fall_on_the_last_day_of_shorter_months():
    start = date(2026, 1, 31)
    assert [subscriptions.add_periods(start, "month", n) for n in range(5)] == [
        date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31)]
    assert subscriptions.add_periods(date(2028, 1, 31), "month", 1) == date(2028, 2, 29)  # a leap year
    assert subscriptions.add_periods(date(2028, 2, 29), "year", 1) == date(2029, 2, 28)
    assert subscriptions.add_periods(date(2028, 2, 29), "year", 4) == date(2032, 2, 29)
    assert subscriptions.add_periods(date(2026, 11, 30), "quarter", 1) == date(2027, 2, 28)
    assert subscriptions.add_periods(date(2026, 8, 31), "quarter", 2) == date(2027, 2, 28)
    with pytest.raises(ValueError):
        subscriptions.add_periods(start, "week", 1)
    with pytest.raises(ValueError):
        subscriptions.add_periods(start, "month", -1)


MONTHS = {"month": 1, "quarter": 3, "year": 12}


@given(start=st.dates(min_value=date(1900, 1, 1), max_value=date(2150, 12, 31)),
       period=st.sampled_from(sorted(MONTHS)), n=st.integers(min_value=0, max_value=600))
def test_the_nth_billing_date_is_n_periods_after_the_start_on_its_day_or_the_months_last(start, period, n):
    day = subscriptions.add_periods(start, period, n)
    months = (day.year - start.year) * 12 + day.month - start.month
    assert months == MONTHS[period] * n  # exactly n periods later, in months
    last = calendar.monthrange(day.year, day.month)[1]
    assert day.day == min(start.day, last)  # the start's day, or the last day of a shorter month
    nxt = subscriptions.add_periods(start, period, n + 1)
    assert nxt > day  # strictly later each period, never twice the same date
    assert 28 * MONTHS[period] <= (nxt - day).days <= 31 * MONTHS[period] + 3
    # counted from the start, not from the previous date: a month end comes back after February
    if start.day == 31 and period == "month" and n >= 1:
        back = subscriptions.add_periods(start, period, n)
        assert back.day == calendar.monthrange(back.year, back.month)[1]


@given(start=st.dates(min_value=date(2000, 1, 28), max_value=date(2100, 12, 31)),
       n=st.integers(min_value=0, max_value=48))
def test_the_last_day_of_a_month_stays_a_month_end_only_when_the_start_is_one(start, n):
    day = subscriptions.add_periods(start, "month", n)
    is_end = start.day == calendar.monthrange(start.year, start.month)[1]
    if start.day <= 28:
        assert day.day == start.day
    elif not is_end:
        assert day.day in (start.day, calendar.monthrange(day.year, day.month)[1])


# -- creating, billing, ending, cancelling ----------------------------------------------------------
def test_a_subscription_is_made_on_its_page(app, cluster, shop, staff):
    client = app.test_client(user=staff)
    page = text(client.get(f"/alpha/billing/subscriptions/new?organization_id={shop.member.id}"))
    assert "Online directory listing · Monthly · Month" in page and "Online directory listing · Yearly · Year" in page
    start = date(2027, 1, 31)
    r = client.post("/alpha/billing/subscriptions/new", data={
        "organization_id": shop.member.id, "person_id": shop.contact.id, "price_id": shop.monthly.id,
        "start_date": start.isoformat(), "quantity": "2", "notes": "Premium listing."})
    assert r.status_code == 302, text(r)[-1500:]
    sub = db.session.execute(select(Subscription)).scalar_one()
    assert (sub.cluster_id, sub.service_id, sub.price_id, sub.period) == (cluster.id, shop.listing.id, shop.monthly.id,
                                                                          "month")
    assert (sub.member, sub.amount, sub.quantity, sub.status) == (True, D("40.00"), D("2.00"), "active")
    assert sub.next_billing_date == start and sub.periods_billed == 0
    page = text(client.get(r.headers["Location"]))
    assert "Plastiques du Rhône" in page and "€40.00" in page
    assert "Jan 31, 2027 · Feb 28, 2027 · Mar 31, 2027 · Apr 30, 2027" in page


def test_billing_a_period_moves_the_next_date_from_the_start(app, cluster, shop):
    start = today() - timedelta(days=100)
    sub = subscribe(shop, start_date=start.isoformat())
    dates = []
    with acting_as(cluster):
        while True:
            row = db.session.get(Subscription, sub.id)
            if row.next_billing_date is None or row.next_billing_date > today():
                break
            dates.append(subscriptions.advance(row, today=today()))
    assert dates == [subscriptions.add_periods(start, "month", n) for n in range(len(dates))]
    assert len(dates) >= 3
    sub = fresh(sub.id)
    assert sub.periods_billed == len(dates) and sub.next_billing_date == subscriptions.add_periods(start, "month",
                                                                                                  len(dates))
    with pytest.raises(BillingError, match="not due yet"):
        with acting_as(cluster):
            subscriptions.advance(db.session.get(Subscription, sub.id), today=today())


def test_a_non_member_pays_the_non_member_price_and_a_members_only_price_is_refused(app, cluster, shop):
    assert subscribe(shop, shop.guest).amount == D("40.00")
    with pytest.raises(BillingError) as exc:
        subscribe(shop, shop.guest, shop.yearly)
    assert exc.value.field == "organization_id"


def test_ending_and_cancelling(app, cluster, shop, staff):
    client = app.test_client(user=staff)
    start = today()
    sub = subscribe(shop, start_date=start.isoformat())
    last = subscriptions.add_periods(start, "month", 2)
    r = client.post(f"/alpha/billing/subscriptions/{sub.id}/end", data={"on": last.isoformat()})
    assert r.status_code == 302, text(r)[-1500:]
    sub = fresh(sub.id)
    assert (sub.end_date, sub.status, sub.next_billing_date) == (last, "active", start)  # it runs until then
    assert [subscriptions.billing_date(sub, n) for n in range(4)] == [
        start, subscriptions.add_periods(start, "month", 1), last, None]  # a period starting on its last day counts

    other = subscribe(shop, shop.guest, start_date=start.isoformat())
    r = client.post(f"/alpha/billing/subscriptions/{other.id}/cancel", data={"on": start.isoformat(), "reason": ""})
    assert r.status_code == 400 and "Say why" in text(r)
    r = client.post(f"/alpha/billing/subscriptions/{other.id}/cancel",
                    data={"on": start.isoformat(), "reason": "The company closed its site."})
    assert r.status_code == 302
    other = fresh(other.id)
    assert (other.status, other.cancelled_on, other.cancel_reason, other.next_billing_date) == (
        "cancelled", start, "The company closed its site.", None)
    r = client.post(f"/alpha/billing/subscriptions/{other.id}/end", data={"on": start.isoformat()})
    assert r.status_code == 409 and "cancelled already" in text(r)

    # an end in the past ends it now; a day before the start is refused on its field
    old = subscribe(shop, start_date=(start - timedelta(days=60)).isoformat())
    r = client.post(f"/alpha/billing/subscriptions/{old.id}/end",
                    data={"on": (start - timedelta(days=90)).isoformat()})
    assert r.status_code == 400 and 'id="on-error"' in text(r)
    r = client.post(f"/alpha/billing/subscriptions/{old.id}/end", data={"on": (start - timedelta(days=1)).isoformat()})
    assert r.status_code == 302 and fresh(old.id).status == "ended"


def test_a_period_billed_cannot_be_cancelled_back(app, cluster, shop):
    start = today() - timedelta(days=45)
    sub = subscribe(shop, start_date=start.isoformat())
    with acting_as(cluster):
        subscriptions.advance(db.session.get(Subscription, sub.id), today=today())
        subscriptions.advance(db.session.get(Subscription, sub.id), today=today())
    second = subscriptions.add_periods(start, "month", 1)
    with pytest.raises(BillingError, match="billed already") as exc:
        with acting_as(cluster):
            subscriptions.cancel(db.session.get(Subscription, sub.id), second - timedelta(days=1), "Late",
                                 today=today())
    assert exc.value.field == "on" and fresh(sub.id).status == "active"


def test_the_list_filters_by_status_service_and_due_date(app, cluster, shop, staff, billing):
    client = app.test_client(user=staff)
    base = today()
    due = subscribe(shop, start_date=(base - timedelta(days=3)).isoformat())
    later = subscribe(shop, shop.guest, start_date=(base + timedelta(days=40)).isoformat())
    gone = subscribe(shop, start_date=(base - timedelta(days=90)).isoformat())
    with acting_as(cluster):
        subscriptions.cancel(db.session.get(Subscription, gone.id), base, "Closed", today=base)
    other = billing.service(cluster, "Newsletter", status="on_sale")
    price = billing.price(other, "subscription", member_amount="5", period="month", renewal="automatic")
    news = subscribe(shop, price=price, start_date=base.isoformat())

    def ids(query):
        r = client.get(f"/alpha/billing/subscriptions/?{query}")
        assert r.status_code == 200
        return {int(i) for i in re.findall(r'/alpha/billing/subscriptions/(\d+)"', r.get_data(as_text=True))}

    assert ids("") == {due.id, later.id, gone.id, news.id}
    assert ids("status=active") == {due.id, later.id, news.id}
    assert ids("status=cancelled") == {gone.id}
    assert ids(f"service={other.id}") == {news.id}
    assert ids(f"due_before={base.isoformat()}") == {due.id, news.id}
    api = api_client(app, staff)
    items = api.get(f"/subscriptions?due_before={base.isoformat()}&service={shop.listing.id}").get_json()["items"]
    assert [s["id"] for s in items] == [due.id] and items[0]["amount"] == "20.00"
    assert api.get("/subscriptions?status=cancelled").get_json()["items"][0]["cancel_reason"] == "Closed"


# -- bad input ------------------------------------------------------------------------------------------
BAD = [
    ({"price_id": "{monthly}", "start_date": "{today}"}, "organization_id"),
    ({"organization_id": str(HUGE), "price_id": "{monthly}", "start_date": "{today}"}, "organization_id"),
    ({"organization_id": "{org}", "start_date": "{today}"}, "price_id"),
    ({"organization_id": "{org}", "price_id": str(HUGE), "start_date": "{today}"}, "price_id"),
    ({"organization_id": "{org}", "price_id": "{flat}", "start_date": "{today}"}, "price_id"),  # not a subscription
    ({"organization_id": "{org}", "price_id": "{monthly}"}, "start_date"),
    ({"organization_id": "{org}", "price_id": "{monthly}", "start_date": "1800-01-01"}, "start_date"),
    ({"organization_id": "{org}", "price_id": "{monthly}", "start_date": "2019-12-31"}, "price_id"),  # before the price
    ({"organization_id": "{org}", "price_id": "{monthly}", "start_date": "{today}", "end_date": "2020-01-01"},
     "end_date"),
    ({"organization_id": "{org}", "price_id": "{monthly}", "start_date": "{today}", "quantity": "0"}, "quantity"),
    ({"organization_id": "{org}", "price_id": "{monthly}", "start_date": "{today}", "quantity": "9999999999"},
     "quantity"),
    ({"organization_id": "{org}", "price_id": "{monthly}", "start_date": "{today}", "notes": "a\x00"}, "notes"),
    ({"organization_id": "{org}", "person_id": str(HUGE), "price_id": "{monthly}", "start_date": "{today}"},
     "person_id"),
]


@pytest.mark.parametrize("data,field", BAD)
def test_bad_subscriptions_get_field_errors_and_write_nothing(app, cluster, shop, staff, data, field):
    values = {"{org}": str(shop.member.id), "{monthly}": str(shop.monthly.id),
              "{flat}": str(shop.diagnostic.prices[0].id), "{today}": today().isoformat()}
    data = {k: values.get(v, v) for k, v in data.items()}
    r = app.test_client(user=staff).post("/alpha/billing/subscriptions/new", data=data)
    assert r.status_code == 400, text(r)[-1500:]
    assert f'id="{field}-error"' in text(r)
    r = api_client(app, staff).post("/subscriptions", json=data)
    assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()
    assert count(Subscription) == 0


def test_bad_end_and_cancel_input(app, cluster, shop, staff):
    sub = subscribe(shop)
    client = app.test_client(user=staff)
    api = api_client(app, staff)
    for path, data in ((f"/subscriptions/{sub.id}/end", {"on": "tomorrow"}),
                       (f"/subscriptions/{sub.id}/end", {}),
                       (f"/subscriptions/{sub.id}/cancel", {"on": today().isoformat(), "reason": "x\x00y"}),
                       (f"/subscriptions/{sub.id}/cancel", {"on": "", "reason": "Closed"})):
        assert client.post(f"/alpha/billing{path}", data=data).status_code == 400, (path, data)
        assert api.post(path, json=data).status_code == 422, (path, data)
    assert api.post(f"/subscriptions/{sub.id}/end", json={"on": today().isoformat(), "colour": 1}).status_code == 422
    assert api.get("/subscriptions?due_before=yesterday").status_code == 400
    assert api.get(f"/subscriptions?service={HUGE}").status_code == 400
    assert api.get(f"/subscriptions/{HUGE}").status_code == 404
    assert client.get("/alpha/billing/subscriptions/?status=paused").status_code == 400
    assert client.post(f"/alpha/billing/subscriptions/{HUGE}/cancel", data={"on": "2026-01-01", "reason": "x"}
                       ).status_code == 404
    sub = fresh(sub.id)
    assert (sub.status, sub.end_date, sub.cancelled_on) == ("active", None, None)


def test_the_api_round_trip(app, cluster, shop, manager):
    api = api_client(app, manager)
    r = api.post("/subscriptions", json={"organization_id": shop.member.id, "price_id": shop.yearly.id,
                                         "start_date": "2027-02-28"})
    assert r.status_code == 201, r.get_json()
    sub = r.get_json()
    assert (sub["period"], sub["amount"], sub["next_billing_date"], sub["status"]) == ("year", "200.00", "2027-02-28",
                                                                                       "active")
    r = api.post(f"/subscriptions/{sub['id']}/cancel", json={"on": "2028-02-28", "reason": "Moved abroad"})
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert r.get_json()["next_billing_date"] == "2027-02-28"  # the first year is still billed
    assert api.get(f"/subscriptions/{sub['id']}").get_json()["cancelled_on"] == "2028-02-28"
    r = api.post(f"/subscriptions/{sub['id']}/end", json={"on": "2028-03-01"})
    assert r.status_code == 409


# -- roles and clusters -------------------------------------------------------------------------------
def test_viewers_read_staff_subscribe_and_clusters_are_apart(app, cluster, other_cluster, shop, viewer, factory):
    sub = subscribe(shop)
    reader = app.test_client(user=viewer)
    assert reader.get("/alpha/billing/subscriptions/").status_code == 200
    assert reader.get(f"/alpha/billing/subscriptions/{sub.id}").status_code == 200
    assert "Cancel the subscription" not in text(reader.get(f"/alpha/billing/subscriptions/{sub.id}"))
    assert reader.get("/alpha/billing/subscriptions/new").status_code == 403
    assert reader.post(f"/alpha/billing/subscriptions/{sub.id}/cancel",
                       data={"on": "2026-01-01", "reason": "x"}).status_code == 403
    assert api_client(app, viewer).post("/subscriptions", json={}).status_code == 403
    beta = factory.user("beta@example.org", "manager", other_cluster)
    client = app.test_client(user=beta)
    assert client.get(f"/beta/billing/subscriptions/{sub.id}").status_code == 404
    assert client.post(f"/beta/billing/subscriptions/{sub.id}/end", data={"on": "2030-01-01"}).status_code == 404
    api = api_client(app, beta, slug="beta")
    assert api.get("/subscriptions").get_json()["total"] == 0
    r = api.post("/subscriptions", json={"organization_id": shop.member.id, "price_id": shop.monthly.id,
                                         "start_date": today().isoformat()})
    assert r.status_code == 422 and "price_id" in r.get_json()["errors"]  # alpha's price is not beta's choice
    assert fresh(sub.id).status == "active" and count(Subscription) == 1
