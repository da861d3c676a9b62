"""Check-in at the door (a page made for a phone), the attendee list and badges as PDF, reports.

Thin handlers: the lists come from :mod:`.queries`, the check-in from :mod:`.registrations`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from core import ConfirmForm, get_or_404, requires, today
from plugins.crm import api as crm

from . import display, queries, registrations, reports
from .errors import EventsError
from .forms import RegistrationStatusForm
from .models import REGISTRATION_STATUSES, SEAT_STATUSES, Event, Registration
from .views import bp

if TYPE_CHECKING:
    from . import pdf


@bp.route("/<int:event_id>/checkin")
@requires("events.checkin")
def checkin(event_id: int):
    event = get_or_404(Event, event_id)
    q = (request.args.get("q") or "").strip()[:100]
    found = queries.checkin_list(event, q)
    return render_template("events/checkin.html", event=event, rows=found.rows, orgs=found.orgs, q=q,
                           total=found.total, attended=found.attended, remaining=found.remaining, form=ConfirmForm())


@bp.route("/<int:event_id>/checkin/<int:registration_id>", methods=["POST"])
@requires("events.checkin")
def checkin_mark(event_id: int, registration_id: int):
    event = get_or_404(Event, event_id)
    form = RegistrationStatusForm()
    back = url_for("events.checkin", event_id=event.id, q=request.form.get("q") or None) + f"#r{registration_id}"
    if not form.validate_on_submit() or form.status.data not in ("attended", "registered", "no_show"):
        flash(_("Choose attended, no-show or back to registered."), "error")
        return redirect(back), 303
    get_or_404(Registration, registration_id, event_id=event.id)
    try:
        registrations.change_status(registration_id, form.status.data, notify=False)
    except EventsError as exc:
        flash(str(exc), "error")
        return redirect(back), 303
    return redirect(back)


@bp.route("/<int:event_id>/checkin/finish", methods=["POST"])
@requires("events.checkin")
def checkin_finish(event_id: int):
    """Close the check-in: everyone not checked in becomes a no-show, and the event is done."""
    event = get_or_404(Event, event_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        count = registrations.finish_checkin(event.id)
    except EventsError as exc:
        flash(str(exc), "error")
        return redirect(url_for("events.checkin", event_id=event.id)), 303
    flash(_("Check-in closed: %(n)s no-show(s). The event is done.", n=count), "success")
    return redirect(url_for("events.event", event_id=event.id))


def _attendees(event: Event, statuses: tuple[str, ...]) -> list[pdf.Attendee]:
    from . import pdf  # fpdf2 loads when a PDF is asked for, not at start-up

    rows = [(r, p) for r, p in queries.seat_holders(event) if r.status in statuses]
    orgs = crm.organization_names(r.organization_id for r, _p in rows)
    return [pdf.Attendee(name=p.full_name if p and not p.erased else f"#{r.person_id}",
                         organization=orgs.get(r.organization_id, "") or (p.organization_name if p else ""),
                         status=str(REGISTRATION_STATUSES[r.status]), member=r.member_price)
            for r, p in rows]


def _pdf(body: bytes, name: str) -> Response:
    return Response(body, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.route("/<int:event_id>/attendees.pdf")
def attendees_pdf(event_id: int):
    event = get_or_404(Event, event_id)
    locale = str(get_locale() or "en")
    subtitle = " · ".join(x for x in (display.when(event, g.cluster, locale), event.venue or event.online_url,
                                      g.cluster.name) if x)
    labels = {"name": _("Name"), "organization": _("Organization"), "status": _("Status"),
              "signature": _("Signature"), "empty": _("Nobody is registered.")}
    from . import pdf

    body = pdf.attendee_list(event.title, subtitle, labels, _attendees(event, SEAT_STATUSES))
    return _pdf(body, f"attendees-{event.id}.pdf")


@bp.route("/<int:event_id>/badges.pdf")
def badges_pdf(event_id: int):
    event = get_or_404(Event, event_id)
    locale = str(get_locale() or "en")
    line = " · ".join(x for x in (display.day(event.starts_at, g.cluster, locale), g.cluster.name) if x)
    from . import pdf

    body = pdf.badges(event.title, line, _attendees(event, ("registered", "attended")))
    return _pdf(body, f"badges-{event.id}.pdf")


@bp.route("/<int:event_id>/report")
def event_report(event_id: int):
    event = get_or_404(Event, event_id)
    return render_template("events/event_report.html", event=event, report=reports.event_report(event))


@bp.route("/reports")
def year_report():
    years = reports.years_with_events()
    current = today().year
    raw = request.args.get("year", "")
    status = 200
    try:
        year = int(raw) if raw else (current if current in years or not years else years[0])
        if not 1900 < year < 2200:
            raise ValueError
    except ValueError:
        flash(_("Not a year: '%(value)s'.", value=raw[:20]), "error")
        year, status = current, 400
    return render_template("events/year_report.html", report=reports.year_report(year), years=years,
                           year=year), status
