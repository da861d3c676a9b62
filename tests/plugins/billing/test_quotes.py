"""Quotes: drafts without a number, numbering per cluster and year (10 issues at once give 10
consecutive numbers), lines from the catalogue with the payer's part as an estimate, free
lines, accepting (sales), refusing, expiry, the mail with its PDF, bad input on every page and
endpoint, roles and clusters."""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from core import db, today, validate
from core.models import Cluster, ClusterSetting, Job
from plugins.billing import numbering, quotes
from plugins.billing.errors import BillingError
from plugins.billing.forms import QuoteForm, QuoteLineForm
from plugins.billing.models import BillingCounter, FundingScheme, Quote, QuoteLine, Sale

from .conftest import api_client
from .quote_world import acting_as, committed, count, shop  # noqa: F401

D = Decimal
YEAR = None  # set per test from the cluster's today


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def year() -> int:
    return today().year


def new_draft(cluster, organization, person=None, **fields) -> Quote:
    """A draft quote written by billing's operation from its form, as ``cluster``."""
    data = {"organization_id": organization.id, **({"person_id": person.id} if person else {}), **fields}
    with acting_as(cluster):
        quote = quotes.create_draft(validate(QuoteForm, data=data))
    return quote


def add_line(quote, service, **fields) -> QuoteLine:
    cluster = db.session.get(Cluster, quote.cluster_id)
    with acting_as(cluster):
        form = validate(QuoteLineForm, data={"service_id": str(service.id), **fields})
        line = quotes.add_catalogue_line(db.session.get(Quote, quote.id), form, today=today())
    return line


def fresh(model, ident):
    db.session.expire_all()
    return db.session.execute(select(model).where(model.id == ident).execution_options(all_clusters=True)).scalar_one()


@pytest.fixture
def staff_client(app, staff):
    return app.test_client(user=staff)


# -- drafts, lines, the estimate ------------------------------------------------------------------
def test_a_draft_is_built_on_its_page_and_has_no_number(app, cluster, shop, staff_client):
    r = staff_client.get(f"/alpha/billing/quotes/new?organization_id={shop.member.id}")
    assert r.status_code == 200 and f'value="{shop.member.id}"' in text(r)
    r = staff_client.post("/alpha/billing/quotes/new", data={
        "organization_id": shop.member.id, "person_id": shop.contact.id, "title": "Energy plan 2027",
        "notes": "Two sites.\nVisits in January."})
    assert r.status_code == 302, text(r)[-1500:]
    quote = db.session.execute(select(Quote)).scalar_one()
    assert (quote.number, quote.issue_date, quote.status, quote.cluster_id) == (None, None, "draft", cluster.id)
    page = text(staff_client.get(r.headers["Location"]))
    assert "Draft quote #" in page and "Plastiques du Rhône" in page and "Claire Martin" in page

    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/lines", data={
        "service_id": shop.diagnostic.id, "quantity": "2", "scheme_id": "auto"})
    assert r.status_code == 302, text(r)[-1500:]
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/lines", data={
        "service_id": shop.training.id, "quantity": "3", "scheme_id": "none", "description": "Lean, three trainees"})
    assert r.status_code == 302, text(r)[-1500:]
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/free-lines", data={
        "description": "Travel to the second site", "quantity": "1", "unit_price": "120.50"})
    assert r.status_code == 302, text(r)[-1500:]
    quote = fresh(Quote, quote.id)
    diag, lean, travel = quote.lines
    assert (diag.mode, diag.member, diag.unit_price, diag.full_amount) == ("flat_fee", True, D("1500.00"), D("3000.00"))
    assert (diag.payer_amount, diag.beneficiary_amount, diag.funding_scheme_id) == (D("1500.00"), D("1500.00"),
                                                                                     shop.scheme.id)
    assert diag.price_id == shop.diagnostic.prices[0].id and diag.description == "Energy diagnostic · Diagnostic"
    assert (lean.full_amount, lean.payer_amount, lean.description) == (D("1950.00"), D("0.00"), "Lean, three trainees")
    assert (travel.service_id, travel.full_amount, travel.beneficiary_amount) == (None, D("120.50"), D("120.50"))
    assert (quote.total_full, quote.total_payer, quote.total_beneficiary) == (D("5070.50"), D("1500.00"),
                                                                            D("3570.50"))
    # an estimate: nothing is taken from the scheme's envelope
    assert fresh(FundingScheme, shop.scheme.id).envelope_used == D("0.00")
    page = text(staff_client.get(f"/alpha/billing/quotes/{quote.id}"))
    assert "Regional energy scheme" in page and "€5,070.50" in page and "€1,500.00" in page
    pdf = staff_client.get(f"/alpha/billing/quotes/{quote.id}/quote.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert committed(BillingCounter) == 0  # a draft takes no number

    # a line is removed, the totals follow
    r = staff_client.post(f"/alpha/billing/quote-lines/{travel.id}/delete")
    assert r.status_code == 302
    quote = fresh(Quote, quote.id)
    assert [line.position for line in quote.lines] == [1, 2] and quote.total_full == D("4950.00")


def test_a_non_member_pays_the_non_member_price_and_a_member_only_price_is_refused(app, cluster, shop, billing):
    quote = new_draft(cluster, shop.guest)
    line = add_line(quote, shop.diagnostic, scheme_id="none")
    assert (line.member, line.full_amount) == (False, D("2400.00"))
    club = billing.service(cluster, "Members' club", status="on_sale")
    billing.price(club, "flat_fee", member_amount="90")
    with pytest.raises(BillingError) as exc:
        add_line(quote, club)
    assert exc.value.field == "organization_id" and "members only" in str(exc.value)


def test_changing_the_organization_of_a_draft_prices_it_again(app, cluster, shop, staff_client):
    quote = new_draft(cluster, shop.member)
    add_line(quote, shop.diagnostic, scheme_id="none")
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/edit", data={"organization_id": shop.guest.id})
    assert r.status_code == 302, text(r)[-1500:]
    quote = fresh(Quote, quote.id)
    assert (quote.lines[0].member, quote.total_full) == (False, D("2400.00"))


# -- numbering --------------------------------------------------------------------------------------
def test_issuing_numbers_quotes_per_cluster_and_year(app, cluster, other_cluster, shop, billing, crm):
    first, second = new_draft(cluster, shop.member), new_draft(cluster, shop.member)
    for quote in (first, second):
        add_line(quote, shop.diagnostic)
    with acting_as(cluster):
        quotes.issue(db.session.get(Quote, second.id), today=today())
        quotes.issue(db.session.get(Quote, first.id), today=today())
    y = year()
    assert fresh(Quote, second.id).number == f"Q-{y}-0001" and fresh(Quote, first.id).number == f"Q-{y}-0002"
    issued = fresh(Quote, first.id)
    assert (issued.status, issued.issue_date, issued.valid_until) == ("sent", today(), today() + timedelta(days=30))

    # another cluster has its own sequence, and its own prefix
    db.session.add(ClusterSetting(cluster_id=other_cluster.id, key="billing.quote_prefix", value="BETA-"))
    db.session.commit()
    theirs = billing.service(other_cluster, "Diagnostic", status="on_sale")
    billing.price(theirs, "flat_fee", member_amount="100", non_member_amount="200")
    quote = new_draft(other_cluster, shop.member)
    add_line(quote, theirs)
    with acting_as(other_cluster):
        quotes.issue(db.session.get(Quote, quote.id), today=today())
    assert fresh(Quote, quote.id).number == f"BETA-{y}-0001"

    # each year its own sequence (the counter is per cluster, series and year)
    with acting_as(cluster):
        assert numbering.next_number("quote", y + 1, cluster) == (1, f"Q-{y + 1}-0001")
        assert numbering.next_number("quote", y, cluster) == (3, f"Q-{y}-0003")
    counters = db.session.execute(select(BillingCounter.cluster_id, BillingCounter.year, BillingCounter.last_number)
                                  .execution_options(all_clusters=True).order_by(BillingCounter.id)).all()
    assert sorted(counters) == sorted([(cluster.id, y, 3), (other_cluster.id, y, 1), (cluster.id, y + 1, 1)])


def test_a_refused_issue_takes_no_number(app, cluster, shop):
    empty = new_draft(cluster, shop.member)
    with pytest.raises(BillingError, match="Add a line"):
        with acting_as(cluster):
            quotes.issue(db.session.get(Quote, empty.id), today=today())
    ok = new_draft(cluster, shop.member)
    add_line(ok, shop.diagnostic)
    with acting_as(cluster):
        quotes.issue(db.session.get(Quote, ok.id), today=today())
    assert fresh(Quote, ok.id).number == f"Q-{year()}-0001" and fresh(Quote, empty.id).number is None


def _issue_all_at_once(app, cluster_id: int, quote_ids: list[int]) -> tuple[list[str], list[str]]:
    """Issue each quote in a thread of its own, all at once, each as a request of the cluster
    (its own session, scoped, committed at the end)."""
    barrier = threading.Barrier(len(quote_ids))
    numbers, errors = [], []
    lock = threading.Lock()

    def worker(quote_id):
        with app.app_context():
            cluster = db.session.get(Cluster, cluster_id)
            day = cluster.today()
            db.session.commit()  # give the connection back while waiting at the barrier
            try:
                barrier.wait(timeout=30)
                with acting_as(cluster):
                    quote = quotes.issue(db.session.get(Quote, quote_id), today=day)
                    number = quote.number
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                with lock:
                    errors.append(repr(exc))
            else:
                with lock:
                    numbers.append(number)

    threads = [threading.Thread(target=worker, args=(qid,)) for qid in quote_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return numbers, errors


def test_ten_quotes_issued_at_once_get_ten_consecutive_numbers(app, cluster, shop):
    """Never a gap, never a duplicate, whatever the interleaving (SQLite and PostgreSQL)."""
    ids = []
    for _ in range(10):
        quote = new_draft(cluster, shop.member)
        add_line(quote, shop.training, quantity="1", scheme_id="none")
        ids.append(quote.id)
    numbers, errors = _issue_all_at_once(app, cluster.id, ids)
    assert errors == []
    y = year()
    assert sorted(numbers) == [f"Q-{y}-{n:04d}" for n in range(1, 11)]
    db.session.expire_all()
    stored = db.session.execute(select(Quote.number).execution_options(all_clusters=True)).scalars().all()
    assert sorted(stored) == sorted(numbers)
    counter = db.session.execute(select(BillingCounter).execution_options(all_clusters=True)).scalar_one()
    assert (counter.year, counter.last_number) == (y, 10)


def test_the_same_draft_issued_twice_at_once_gets_one_number(app, cluster, shop):
    quote = new_draft(cluster, shop.member)
    add_line(quote, shop.diagnostic)
    numbers, errors = _issue_all_at_once(app, cluster.id, [quote.id] * 4)
    assert numbers == [f"Q-{year()}-0001"] and len(errors) == 3
    assert all("only a draft changes" in e for e in errors)
    counter = db.session.execute(select(BillingCounter).execution_options(all_clusters=True)).scalar_one()
    assert counter.last_number == 1


# -- the client's answer -----------------------------------------------------------------------------
def _sent(cluster, shop, **line) -> Quote:
    quote = new_draft(cluster, shop.member, shop.contact, title="Diagnostic")
    add_line(quote, shop.diagnostic, **({"scheme_id": "auto"} | line))
    with acting_as(cluster):
        quotes.issue(db.session.get(Quote, quote.id), today=today())
    return fresh(Quote, quote.id)


def test_an_accepted_quote_becomes_sales_and_takes_the_payers_part(app, cluster, shop, staff_client):
    quote = new_draft(cluster, shop.member, shop.contact)
    add_line(quote, shop.diagnostic, scheme_id="auto")
    add_line(quote, shop.training, quantity="2", scheme_id="none")
    staff_client.post(f"/alpha/billing/quotes/{quote.id}/free-lines", data={"description": "Travel",
                                                                           "unit_price": "80"})
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/issue")
    assert r.status_code == 302, text(r)[-1500:]
    assert fresh(FundingScheme, shop.scheme.id).envelope_used == D("0.00")
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/accept")
    assert r.status_code == 302, text(r)[-1500:]
    assert "2 sales recorded" in text(staff_client.get(r.headers["Location"]))
    quote = fresh(Quote, quote.id)
    assert (quote.status, quote.decided_on) == ("accepted", today())
    sales_ = db.session.execute(select(Sale).order_by(Sale.id)).scalars().all()
    diag, lean = sales_
    assert [s.quote_line_id for s in sales_] == [quote.lines[0].id, quote.lines[1].id]  # the free line is no sale
    assert (diag.full_amount, diag.payer_amount, diag.beneficiary_amount, diag.scheme_id) == (
        D("1500.00"), D("750.00"), D("750.00"), shop.scheme.id)
    assert (lean.quantity, lean.full_amount, lean.payer_amount) == (D("2.00"), D("1300.00"), D("0.00"))
    assert all(s.sold_on == quote.issue_date and s.person_id == shop.contact.id for s in sales_)
    assert fresh(FundingScheme, shop.scheme.id).envelope_used == D("750.00")  # taken now
    # accepted once: never again
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/accept")
    assert r.status_code == 409 and "accepted" in text(r)
    assert count(Sale) == 2


def test_an_acceptance_a_scheme_refuses_records_no_sale(app, cluster, shop, billing, staff_client):
    with acting_as(cluster):
        scheme = db.session.get(FundingScheme, shop.scheme.id)
        scheme.when_exhausted = "refuse"
    quote = _sent(cluster, shop, scheme_id=str(shop.scheme.id))
    add_training = new_draft(cluster, shop.member)  # another quote, untouched
    with acting_as(cluster):  # the envelope is used up meanwhile
        db.session.execute(update(FundingScheme).where(FundingScheme.id == shop.scheme.id)
                           .values(envelope_used=D("10000.00")))
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/accept")
    assert r.status_code == 409 and "cannot be accepted" in text(r) and "can pay nothing more" in text(r)
    assert count(Sale) == 0 and fresh(Quote, quote.id).status == "sent"
    assert fresh(Quote, add_training.id).status == "draft"


def test_a_refused_quote_keeps_its_reason_and_is_not_accepted(app, cluster, shop, staff_client):
    quote = _sent(cluster, shop)
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/refuse", data={"reason": "Too expensive this year."})
    assert r.status_code == 302
    quote = fresh(Quote, quote.id)
    assert (quote.status, quote.refusal_reason, quote.decided_on) == ("refused", "Too expensive this year.", today())
    assert staff_client.post(f"/alpha/billing/quotes/{quote.id}/accept").status_code == 409
    assert count(Sale) == 0
    assert "Too expensive this year." in text(staff_client.get(f"/alpha/billing/quotes/{quote.id}"))


def test_an_expired_quote_cannot_be_accepted(app, cluster, shop, staff_client, manager):
    quote = _sent(cluster, shop)
    past = today() - timedelta(days=40)
    with acting_as(cluster):  # issued 40 days ago, valid 30 days
        db.session.execute(update(Quote).where(Quote.id == quote.id)
                           .values(issue_date=past, valid_until=past + timedelta(days=30)))
    page = text(staff_client.get(f"/alpha/billing/quotes/{quote.id}"))
    assert "Expired" in page and "Accepted by the client" not in page
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/accept")
    assert r.status_code == 409 and "expired on" in text(r)
    assert count(Sale) == 0 and fresh(Quote, quote.id).status == "sent"
    listing = text(staff_client.get("/alpha/billing/quotes/?status=expired"))
    assert quote.number in listing
    assert quote.number not in text(staff_client.get("/alpha/billing/quotes/?status=sent"))
    api = api_client(app, manager)
    assert api.get(f"/quotes/{quote.id}").get_json()["status"] == "expired"
    r = api.post(f"/quotes/{quote.id}/accept")
    assert r.status_code == 409 and "expired" in r.get_json()["errors"]["_"][0]


# -- mail ----------------------------------------------------------------------------------------------
def test_sending_a_draft_issues_it_and_mails_its_pdf_after_the_commit(app, cluster, shop, staff_client, outbox):
    quote = new_draft(cluster, shop.member, shop.contact, title="Energy plan")
    add_line(quote, shop.diagnostic, scheme_id="auto")
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/send", data={"email": ""})
    assert r.status_code == 302, text(r)[-1500:]
    quote = fresh(Quote, quote.id)
    assert (quote.number, quote.status, quote.sent_to) == (f"Q-{year()}-0001", "sent", "claire@plastiques.example")
    (mail,) = outbox.mails("billing.quote")
    assert mail["To"] == "Claire Martin <claire@plastiques.example>" and quote.number in mail["Subject"]
    assert "Alpha Cluster" in mail["From"]
    body = mail.get_body(("plain",)).get_content()  # the contact's language unknown: the cluster's (French)
    assert "Prix total : 1\u202f500,00\u00a0€" in body and "750,00\u00a0€" in body
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == f"{quote.number}.pdf"
    assert attachment.get_content().startswith(b"%PDF")
    # sent again, to another address
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/send", data={"email": "buyer@plastiques.example"})
    assert r.status_code == 302 and len(outbox.mails("billing.quote")) == 2
    assert fresh(Quote, quote.id).number == quote.number


def test_an_english_speaking_contact_gets_the_quote_in_english(app, cluster, shop, crm, outbox):
    person = crm.person("Huber", "Anna", organization=shop.member, email="anna@plastiques.example", language="en")
    quote = new_draft(cluster, shop.member, person)
    add_line(quote, shop.training, scheme_id="none")
    with acting_as(cluster):
        quotes.send(db.session.get(Quote, quote.id), today=today())
    (mail,) = outbox.mails("billing.quote")
    body = mail.get_body(("plain",)).get_content()
    assert mail["Subject"].startswith("Quote Q-") and "Full price: €650.00" in body


def test_a_quote_without_an_address_is_not_sent_nor_numbered(app, cluster, shop, staff_client, outbox):
    quote = new_draft(cluster, shop.member)  # no contact
    add_line(quote, shop.diagnostic)
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/send", data={"email": ""})
    assert r.status_code == 400 and "give an address" in text(r)
    assert fresh(Quote, quote.id).number is None and committed(BillingCounter) == 0
    assert outbox.mails() == [] and committed(Job) == 0
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/send", data={"email": "not an address"})
    assert r.status_code == 400 and fresh(Quote, quote.id).status == "draft"


def test_a_rolled_back_send_mails_nobody(app, cluster, shop, outbox):
    quote = new_draft(cluster, shop.member, shop.contact)
    add_line(quote, shop.diagnostic)
    with db.for_cluster(cluster.id):
        quotes.send(db.session.get(Quote, quote.id), today=today())
    db.session.rollback()
    assert outbox.mails() == [] and fresh(Quote, quote.id).number is None and committed(BillingCounter) == 0


# -- bad input -----------------------------------------------------------------------------------------
HUGE = 99999999999999999999
BAD_QUOTES = [
    ({}, "organization_id"),
    ({"organization_id": "abc"}, "organization_id"),
    ({"organization_id": str(HUGE)}, "organization_id"),
    ({"organization_id": "2147483647"}, "organization_id"),  # no such organization
    ({"organization_id": "{org}", "person_id": str(HUGE)}, "person_id"),
    ({"organization_id": "{org}", "title": "Energy\x00plan"}, "title"),
    ({"organization_id": "{org}", "title": "x" * 201}, "title"),
    ({"organization_id": "{org}", "valid_until": "2020-01-01"}, "valid_until"),
    ({"organization_id": "{org}", "valid_until": "31/12/2099"}, "valid_until"),
    ({"organization_id": "{org}", "notes": "a\x00b"}, "notes"),
]


@pytest.mark.parametrize("data,field", BAD_QUOTES)
def test_bad_quotes_get_field_errors_and_write_nothing(app, cluster, shop, staff_client, manager, data, field):
    data = {k: v.replace("{org}", str(shop.member.id)) for k, v in data.items()}
    r = staff_client.post("/alpha/billing/quotes/new", data=data)
    assert r.status_code == 400, text(r)[-800:]
    assert 'class="errors"' in text(r) and f'id="{field}-error"' in text(r)
    api = api_client(app, manager)
    r = api.post("/quotes", json=data)
    assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()
    assert count(Quote) == 0


BAD_LINES = [
    ({}, "service_id"),
    ({"service_id": str(HUGE)}, "service_id"),
    ({"service_id": "nope"}, "service_id"),
    ({"service_id": "{diag}", "quantity": "0"}, "quantity"),
    ({"service_id": "{diag}", "quantity": "-2"}, "quantity"),
    ({"service_id": "{diag}", "quantity": "1.234"}, "quantity"),
    ({"service_id": "{diag}", "quantity": "1e400"}, "quantity"),
    ({"service_id": "{diag}", "mode": "membership_fee"}, "mode"),
    ({"service_id": "{diag}", "mode": "catalogue"}, "mode"),  # no catalogue price: refused by pricing
    ({"service_id": "{diag}", "scheme_id": str(HUGE)}, "scheme_id"),
    ({"service_id": "{diag}", "unit_price": "10"}, "unit_price"),  # only for a service on quote
    ({"service_id": "{diag}", "amount_obtained": "1000"}, "amount_obtained"),  # only for a success fee
    ({"service_id": "{diag}", "description": "a\x00b"}, "description"),
    ({"service_id": "{diag}", "quantity": "99999999999"}, "quantity"),
]


@pytest.mark.parametrize("data,field", BAD_LINES)
def test_bad_lines_get_field_errors_and_write_nothing(app, cluster, shop, staff_client, manager, data, field):
    quote = new_draft(cluster, shop.member)
    data = {k: v.replace("{diag}", str(shop.diagnostic.id)) for k, v in data.items()}
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/lines", data=data)
    assert r.status_code == 400, text(r)[-1500:]
    assert f'id="{field}-error"' in text(r)
    api = api_client(app, manager)
    r = api.post(f"/quotes/{quote.id}/lines", json=data)
    assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()
    assert count(QuoteLine) == 0 and fresh(Quote, quote.id).total_full == 0


@pytest.mark.parametrize("data,field", [
    ({"unit_price": "10"}, "description"),
    ({"description": "Travel"}, "unit_price"),
    ({"description": "Travel", "unit_price": "-1"}, "unit_price"),
    ({"description": "Travel", "unit_price": "1.001"}, "unit_price"),
    ({"description": "Travel", "unit_price": "NaN"}, "unit_price"),
    ({"description": "Travel\x00", "unit_price": "1"}, "description"),
    ({"description": "Travel", "unit_price": "1", "quantity": "0"}, "quantity"),
    ({"description": "Travel", "unit_price": "9999999999", "quantity": "9999"}, "quantity"),
])
def test_bad_free_lines_get_field_errors_and_write_nothing(app, cluster, shop, staff_client, manager, data, field):
    quote = new_draft(cluster, shop.member)
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/free-lines", data=data)
    assert r.status_code == 400, text(r)[-1500:]
    assert f'id="{field}-error"' in text(r)
    r = api_client(app, manager).post(f"/quotes/{quote.id}/free-lines", json=data)
    assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()
    assert count(QuoteLine) == 0


def test_the_api_refuses_unknown_fields_and_bad_queries(app, cluster, shop, manager):
    api = api_client(app, manager)
    r = api.post("/quotes", json={"organization_id": shop.member.id, "number": "Q-2026-9999"})
    assert r.status_code == 422 and r.get_json()["errors"]["number"] == ["Unknown field."]
    assert api.post("/quotes", data="not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert api.get("/quotes?status=lost").status_code == 400
    assert api.get("/quotes?since=2026-13-01").status_code == 400
    assert api.get(f"/quotes?organization={HUGE}").status_code == 400
    assert api.get("/quotes?colour=red").status_code == 400
    assert api.get(f"/quotes/{HUGE}").status_code == 404
    assert api.post(f"/quotes/{HUGE}/issue").status_code == 404
    r = api.post("/quotes", json={"organization_id": shop.member.id, "title": "Plan"})
    quote_id = r.get_json()["id"]
    r = api.post(f"/quotes/{quote_id}/refuse", json={"reason": "x\x00"})
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    r = api.post(f"/quotes/{quote_id}/send", json={"email": "nobody"})
    assert r.status_code == 422 and "email" in r.get_json()["errors"]
    assert count(Quote) == 1 and fresh(Quote, quote_id).status == "draft"


def test_bad_filters_on_the_list_page_are_a_400(app, cluster, staff_client):
    assert staff_client.get("/alpha/billing/quotes/?status=lost").status_code == 400
    assert staff_client.get(f"/alpha/billing/quotes/?organization={HUGE}").status_code == 400
    assert staff_client.get("/alpha/billing/quotes/?since=2026-02-30").status_code == 400
    assert staff_client.get("/alpha/billing/quotes/?since=2026-03-01&until=2026-02-01").status_code == 400
    assert staff_client.get("/alpha/billing/quotes/?page=99999999999999").status_code == 200
    assert staff_client.get(f"/alpha/billing/quotes/{HUGE}").status_code == 404
    assert staff_client.get(f"/alpha/billing/quotes/{HUGE}/quote.pdf").status_code == 404


def test_an_issued_quote_does_not_change(app, cluster, shop, staff_client, manager):
    quote = _sent(cluster, shop)
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/lines", data={"service_id": shop.training.id})
    assert r.status_code == 409 and "only a draft changes" in text(r)
    assert staff_client.post(f"/alpha/billing/quote-lines/{quote.lines[0].id}/delete").status_code == 409
    assert staff_client.get(f"/alpha/billing/quotes/{quote.id}/edit").status_code == 302
    api = api_client(app, manager)
    assert api.patch(f"/quotes/{quote.id}", json={"title": "Changed"}).status_code == 409
    assert api.post(f"/quotes/{quote.id}/issue").status_code == 409
    assert api.delete(f"/quote-lines/{quote.lines[0].id}").status_code == 409
    after = fresh(Quote, quote.id)
    assert (after.title, len(after.lines), after.total_full) == ("Diagnostic", 1, quote.total_full)


# -- the API ---------------------------------------------------------------------------------------------
def test_a_round_trip_through_the_api(app, cluster, shop, manager, outbox):
    api = api_client(app, manager)
    r = api.post("/quotes", json={"organization_id": shop.member.id, "person_id": shop.contact.id, "title": "Plan"})
    assert r.status_code == 201, r.get_json()
    quote = r.get_json()
    assert (quote["number"], quote["status"], quote["lines"], quote["total_full"]) == (None, "draft", [], "0.00")
    r = api.post(f"/quotes/{quote['id']}/lines", json={"service_id": shop.diagnostic.id, "scheme_id": "auto"})
    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["full_amount"], r.get_json()["payer_amount"]) == ("1500.00", "750.00")
    r = api.post(f"/quotes/{quote['id']}/free-lines", json={"description": "Travel", "unit_price": "99.90",
                                                            "quantity": 2})
    assert r.status_code == 201 and r.get_json()["full_amount"] == "199.80"
    r = api.patch(f"/quotes/{quote['id']}", json={"title": "Energy plan"})
    assert r.status_code == 200 and r.get_json()["title"] == "Energy plan" and len(r.get_json()["lines"]) == 2
    r = api.post(f"/quotes/{quote['id']}/send", json={})
    assert r.status_code == 200, r.get_json()
    sent = r.get_json()
    assert sent["number"] == f"Q-{year()}-0001" and sent["status"] == "sent" and sent["total_payer"] == "750.00"
    assert len(outbox.mails("billing.quote")) == 1
    listing = api.get("/quotes?status=sent").get_json()
    assert listing["total"] == 1 and listing["items"][0]["number"] == sent["number"]
    assert api.get(f"/quotes?organization={shop.guest.id}").get_json()["total"] == 0
    r = api.post(f"/quotes/{quote['id']}/accept")
    assert r.status_code == 200, r.get_json()
    accepted = r.get_json()
    assert accepted["quote"]["status"] == "accepted" and len(accepted["sale_ids"]) == 1
    sale = db.session.get(Sale, accepted["sale_ids"][0])
    assert sale.quote_line_id == sent["lines"][0]["id"] and sale.payer_amount == D("750.00")


# -- roles and clusters ----------------------------------------------------------------------------------
def test_viewers_read_and_staff_sell(app, cluster, shop, viewer, staff, factory):
    quote = _sent(cluster, shop)
    reader = app.test_client(user=viewer)
    for path in ("/alpha/billing/quotes/", f"/alpha/billing/quotes/{quote.id}",
                 f"/alpha/billing/quotes/{quote.id}/quote.pdf"):
        assert reader.get(path).status_code == 200, path
    page = text(reader.get(f"/alpha/billing/quotes/{quote.id}"))
    assert "Accepted by the client" not in page and "New quote" not in text(reader.get("/alpha/billing/quotes/"))
    assert reader.get("/alpha/billing/quotes/new").status_code == 403
    for path in ("/quotes/new", f"/quotes/{quote.id}/accept", f"/quotes/{quote.id}/refuse",
                 f"/quotes/{quote.id}/send", f"/quotes/{quote.id}/lines"):
        assert reader.post(f"/alpha/billing{path}").status_code == 403, path
    api = api_client(app, viewer)
    assert api.get("/quotes").status_code == 200
    assert api.post(f"/quotes/{quote.id}/accept").status_code == 403
    assert api.post("/quotes", json={"organization_id": shop.member.id}).status_code == 403
    outsider = factory.user("out@example.org", "staff", factory.cluster("gamma", modules=("crm", "billing")))
    assert app.test_client(user=outsider).get(f"/alpha/billing/quotes/{quote.id}").status_code == 403
    assert count(Sale) == 0 and fresh(Quote, quote.id).status == "sent"
    # staff (billing.sell is a staff permission) answer for the client
    assert app.test_client(user=staff).post(f"/alpha/billing/quotes/{quote.id}/accept").status_code == 302


def test_a_cluster_never_reaches_another_clusters_quotes(app, cluster, other_cluster, shop, factory, crm):
    quote = _sent(cluster, shop)
    beta_manager = factory.user("beta@example.org", "manager", other_cluster)
    client = app.test_client(user=beta_manager)
    assert client.get(f"/beta/billing/quotes/{quote.id}").status_code == 404
    assert client.get(f"/beta/billing/quotes/{quote.id}/quote.pdf").status_code == 404
    assert client.post(f"/beta/billing/quotes/{quote.id}/accept").status_code == 404
    assert client.post(f"/beta/billing/quote-lines/{quote.lines[0].id}/delete").status_code == 404
    assert quote.number not in text(client.get("/beta/billing/quotes/"))
    api = api_client(app, beta_manager, slug="beta")
    assert api.get(f"/quotes/{quote.id}").status_code == 404 and api.get("/quotes").get_json()["total"] == 0
    assert api.post(f"/quotes/{quote.id}/refuse", json={}).status_code == 404
    # a draft of beta cannot take alpha's services
    r = api.post("/quotes", json={"organization_id": shop.member.id})
    theirs = r.get_json()["id"]
    r = api.post(f"/quotes/{theirs}/lines", json={"service_id": shop.diagnostic.id})
    assert r.status_code == 422 and "service_id" in r.get_json()["errors"]
    # a module not enabled: 404
    crm_only = factory.cluster("delta", modules=("crm",))
    delta = factory.user("delta@example.org", "admin", crm_only)
    assert app.test_client(user=delta).get("/delta/billing/quotes/").status_code == 404
    assert count(Sale) == 0


# -- demo data -------------------------------------------------------------------------------------------
def test_demo_data_has_quotes_and_subscriptions(app, factory, crm):
    import random

    from plugins.billing.demo import create_demo_data
    from plugins.billing.models import Subscription

    plastics = factory.cluster("plastics", modules=("crm", "billing"))
    crm.organization("Région Auvergne-Rhône-Alpes", kind="public_body", postcode="69002")
    for i, name in enumerate(("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand")):
        org = crm.organization(f"{name} Industries", size_band="10-49", postcode="69100")
        if i % 2 == 0:
            crm.membership(org, plastics)
        crm.person(name, "Alex", organization=org, email=f"{name.lower()}@example.org")
    db.session.commit()
    create_demo_data([plastics], random.Random(3))
    rows = db.session.execute(select(Quote).execution_options(all_clusters=True).order_by(Quote.id)).scalars().all()
    assert sorted(q.status for q in rows) == ["accepted", "draft", "refused", "sent"]
    accepted = next(q for q in rows if q.status == "accepted")
    made = db.session.execute(select(Sale).where(Sale.quote_line_id.in_([line.id for line in accepted.lines]))
                              .execution_options(all_clusters=True)).scalars().all()
    assert len(made) == len(accepted.lines) >= 2 and accepted.lines[0].member
    assert all(q.number for q in rows if q.status != "draft")
    subs = db.session.execute(select(Subscription).execution_options(all_clusters=True)).scalars().all()
    assert len(subs) == 4 and sorted(s.status for s in subs).count("cancelled") == 1
    client = app.test_client(user=factory.user("boss@example.org", "manager", plastics))
    for q in rows:
        assert client.get(f"/plastics/billing/quotes/{q.id}").status_code == 200
        assert client.get(f"/plastics/billing/quotes/{q.id}/quote.pdf").data.startswith(b"%PDF")
    for s in subs:
        assert client.get(f"/plastics/billing/subscriptions/{s.id}").status_code == 200


# -- generated requests -------------------------------------------------------------------------------
def test_generated_requests_to_quotes_and_subscriptions_never_get_a_server_error(app, cluster, shop, manager):
    """Schemathesis on the quote and subscription operations, with real quotes, lines and
    subscriptions half of the time (tests/plugins/billing/test_api.py runs the others)."""

    from core.auth import new_api_token
    from core.testing.fuzz import fuzz_operations
    from plugins.billing import subscriptions
    from plugins.billing.forms import SubscriptionForm

    draft = new_draft(cluster, shop.member, shop.contact)
    line = add_line(draft, shop.diagnostic, scheme_id="auto")
    sent = _sent(cluster, shop)
    with acting_as(cluster):
        sub = subscriptions.create(validate(SubscriptionForm, data={
            "organization_id": shop.member.id, "price_id": str(shop.monthly.id), "start_date": today().isoformat()}))
    ids = {"quote_id": [draft.id, sent.id], "line_id": [line.id], "subscription_id": [sub.id]}
    token = new_api_token(manager)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    operations, failures = fuzz_operations(app, headers=headers, path=r"/billing/(quotes|quote-lines|subscriptions)", ids=ids)
    assert operations >= 16, operations
    assert not failures, "\n\n".join(f"{label}\n{why}" for label, why in failures.items())


def test_a_french_user_sees_quotes_and_subscriptions_in_french(app, cluster, shop, factory):
    quote = _sent(cluster, shop)
    client = app.test_client(user=factory.user("fr@example.org", "staff", cluster, language="fr"))
    listing = text(client.get("/alpha/billing/quotes/"))
    assert "Nouveau devis" in listing and "1 devis" in listing and "Envoyé" in listing
    page = text(client.get(f"/alpha/billing/quotes/{quote.id}"))
    assert "Accepté par le client" in page and "Tiers payeur" in page and "Envoyer le devis" in page
    r = client.post("/alpha/billing/quotes/new", data={"organization_id": "abc"})
    assert r.status_code == 400
    assert "Nouvel abonnement" in text(client.get("/alpha/billing/subscriptions/"))
    r = client.post(f"/alpha/billing/quotes/{quote.id}/lines", data={"service_id": shop.training.id})
    assert r.status_code == 409 and "seul un brouillon se modifie" in text(r)


def test_issuing_prices_the_lines_on_the_day_and_a_refusal_leaves_the_draft_as_it_was(app, cluster, shop, billing):
    quote = new_draft(cluster, shop.member)
    first_price = add_line(quote, shop.diagnostic, scheme_id="none").price_id
    add_line(quote, shop.training, scheme_id="none")
    billing.price(shop.diagnostic, "flat_fee", member_amount="1800", non_member_amount="2600", label="Diagnostic",
                  valid_from=today())  # the diagnostic's price changes today; the draft was priced before
    from plugins.billing import catalogue
    from plugins.billing.models import Service

    with acting_as(cluster):
        catalogue.retire_service(db.session.get(Service, shop.training.id), on=today() - timedelta(days=1))
    with pytest.raises(BillingError, match="Line 2"):
        with db.for_cluster(cluster.id):
            quotes.issue(db.session.get(Quote, quote.id), today=today())
    db.session.commit()  # what a command would commit after the refusal: nothing changed
    draft = fresh(Quote, quote.id)
    assert (draft.status, draft.number, draft.lines[0].full_amount) == ("draft", None, D("1500.00"))
    assert committed(BillingCounter) == 0
    with acting_as(cluster):
        quotes.remove_line(db.session.get(QuoteLine, draft.lines[1].id))
        quotes.issue(db.session.get(Quote, quote.id), today=today())
    issued = fresh(Quote, quote.id)
    assert (issued.number, issued.lines[0].full_amount, issued.total_full) == (f"Q-{year()}-0001", D("1800.00"),
                                                                             D("1800.00"))
    assert issued.lines[0].price_id != first_price  # the row valid on the issue day


def test_a_total_too_large_for_its_column_is_refused(app, cluster, shop, staff_client, manager):
    quote = new_draft(cluster, shop.member)
    big = {"description": "Plant", "unit_price": "9000000000", "quantity": "1"}
    assert staff_client.post(f"/alpha/billing/quotes/{quote.id}/free-lines", data=big).status_code == 302
    r = staff_client.post(f"/alpha/billing/quotes/{quote.id}/free-lines", data=big)
    assert r.status_code == 400 and "too large" in text(r)
    r = api_client(app, manager).post(f"/quotes/{quote.id}/free-lines", json=big)
    assert r.status_code == 422 and "too large" in r.get_json()["errors"]["quantity"][0]
    assert count(QuoteLine) == 1 and fresh(Quote, quote.id).total_full == D("9000000000.00")
