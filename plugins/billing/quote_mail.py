"""The quote mail: a quote sent to its contact with its PDF attached.

Built on the core's mail service: :func:`.quotes.send` queues the ``billing.send_quote``
job after the request commits (``queue_mails(..., after_commit=True)``); the job (made by
``core.mail_job``, declared in ``grappe_jobs``) renders the mail in the contact's language
(``templates/billing/mail/<lang>/quote.txt``), attaches the quote's PDF in that language,
and the core sends it by SMTP or writes it to the outbox (kind ``billing.quote``).
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Iterator

from flask_babel import force_locale, format_date
from babel.numbers import format_currency

from core import mail_job, mail_language, mail_message, render_mail

from .models import Quote
from .quote_queries import quote_sheet

KIND = "billing.quote"
TEMPLATE = "billing/mail/{language}/quote.txt"


def quote_messages(session, cluster, chunk, *, to_email: str, to_name: str = "") -> Iterator[
        tuple[int, EmailMessage | None]]:
    """One mail per quote id of the chunk (None: a quote that is gone or not issued)."""
    from .pdf import quote_document  # fpdf2 only when a quote is mailed, not at start-up

    for quote_id in chunk:
        quote = session.get(Quote, quote_id)  # the job's session is scoped to its cluster
        if quote is None or not quote.number:
            yield quote_id, None
            continue
        sheet = quote_sheet(quote, session)
        language = mail_language(sheet.contact.language if sheet.contact is not None else None, cluster)
        currency = cluster.currency or "EUR"

        def money(amount, language=language, currency=currency):
            return format_currency(amount, currency, locale=language)

        with force_locale(language):
            valid_until = format_date(quote.valid_until) if quote.valid_until else ""
            pdf = quote_document(sheet, cluster=cluster)
        subject, body = render_mail(TEMPLATE, language, quote=quote, cluster=cluster, name=to_name,
                                    total_full=money(quote.total_full), total_payer=money(quote.total_payer),
                                    total_beneficiary=money(quote.total_beneficiary), has_payer=sheet.has_payer,
                                    valid_until=valid_until)
        message = mail_message(cluster, to_name, to_email, subject, body, kind=KIND)
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{quote.number}.pdf")
        yield quote_id, message


send_quote_job = mail_job(quote_messages)
