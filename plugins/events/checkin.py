"""Check-in at the door (a page made for a phone), the attendee list and badges as PDF."""

from __future__ import annotations

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from core import ConfirmForm, db, requires
from plugins.crm import api as crm

from . import display, pdf, services
from .forms import RegistrationStatusForm
from .models import REGISTRATION_STATUSES, SEAT_STATUSES, Event, Registration
from .services import EventsError
from .views import _event_or_404, bp


def seat_holders(event: Event) -> list[tuple[Registration, object]]:
    """Registrations holding a seat with their persons, by last name (one CRM call)."""
    regs = db.session.execute(
        select(Registration).where(Registration.event_id == event.id, Registration.status.in_(SEAT_STATUSES))
    ).scalars().all()
    persons = crm.get_persons(r.person_id for r in regs)
    rows = [(r, persons.get(r.person_id)) for r in regs]
    rows.sort(key=lambda rp: (display.fold(rp[1].last_name if rp[1] else ""),
                              display.fold(rp[1].first_name if rp[1] else ""), rp[0].id))
    return rows


@bp.route("/<int:event_id>/checkin")
@requires("events.checkin")
def checkin(event_id: int):
    event = _event_or_404(event_id)
    q = (request.args.get("q") or "").strip()[:100]
    rows = seat_holders(event)
    orgs = crm.organization_names(r.organization_id for r, _p in rows)
    total = len(rows)
    attended = sum(1 for r, _p in rows if r.status == "attended")
    remaining = sum(1 for r, _p in rows if r.status == "registered")
    if q:
        words = display.fold(q).split()
        rows = [(r, p) for r, p in rows
                if p and all(w in display.fold(f"{p.full_name} {p.email} {orgs.get(r.organization_id, '')}")
                             for w in words)]
    return render_template("events/checkin.html", event=event, rows=rows, orgs=orgs, q=q, total=total,
                           attended=attended, remaining=remaining, form=ConfirmForm())


@bp.route("/<int:event_id>/checkin/<int:registration_id>", methods=["POST"])
@requires("events.checkin")
def checkin_mark(event_id: int, registration_id: int):
    event = _event_or_404(event_id)
    form = RegistrationStatusForm()
    back = url_for("events.checkin", event_id=event.id, q=request.form.get("q") or None) + f"#r{registration_id}"
    if not form.validate_on_submit() or form.status.data not in ("attended", "registered", "no_show"):
        flash(_("Choose attended, no-show or back to registered."), "error")
        return redirect(back), 303
    reg_event = db.session.execute(
        select(Registration.event_id).where(Registration.id == registration_id, Registration.cluster_id == g.cluster.id)
    ).scalar_one_or_none()
    if reg_event != event.id:
        abort(404)
    try:
        services.change_status(registration_id, form.status.data, cluster=g.cluster, notify=False)
    except EventsError as exc:
        flash(str(exc), "error")
        return redirect(back), 303
    return redirect(back)


@bp.route("/<int:event_id>/checkin/finish", methods=["POST"])
@requires("events.checkin")
def checkin_finish(event_id: int):
    """Close the check-in: everyone not checked in becomes a no-show, and the event is done."""
    event = _event_or_404(event_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        count = services.mark_no_shows(event.id, cluster=g.cluster)
    except EventsError as exc:
        flash(str(exc), "error")
        return redirect(url_for("events.checkin", event_id=event.id)), 303
    db.session.expire_all()
    event = _event_or_404(event_id)
    if event.status in ("open", "closed"):
        services.change_event_status(event, "done", cluster=g.cluster)
    flash(_("Check-in closed: %(n)s no-show(s). The event is done.", n=count), "success")
    return redirect(url_for("events.event", event_id=event.id))


def _attendees(event: Event, statuses: tuple[str, ...]) -> list[pdf.Attendee]:
    rows = [(r, p) for r, p in seat_holders(event) if r.status in statuses]
    orgs = crm.organization_names(r.organization_id for r, _p in rows)
    return [pdf.Attendee(name=p.full_name if p and not p.erased else f"#{r.person_id}",
                         organization=orgs.get(r.organization_id, "") or (p.organization_name if p else ""),
                         status=str(REGISTRATION_STATUSES[r.status]), member=r.member_price)
            for r, p in rows]


def _pdf(body: bytes, name: str) -> Response:
    return Response(body, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.route("/<int:event_id>/attendees.pdf")
def attendees_pdf(event_id: int):
    event = _event_or_404(event_id)
    locale = str(get_locale() or "en")
    subtitle = " · ".join(x for x in (display.when(event, g.cluster, locale), event.venue or event.online_url,
                                      g.cluster.name) if x)
    labels = {"name": _("Name"), "organization": _("Organization"), "status": _("Status"),
              "signature": _("Signature"), "empty": _("Nobody is registered.")}
    body = pdf.attendee_list(event.title, subtitle, labels, _attendees(event, SEAT_STATUSES))
    return _pdf(body, f"attendees-{event.id}.pdf")


@bp.route("/<int:event_id>/badges.pdf")
def badges_pdf(event_id: int):
    event = _event_or_404(event_id)
    locale = str(get_locale() or "en")
    line = " · ".join(x for x in (display.day(event.starts_at, g.cluster, locale), g.cluster.name) if x)
    body = pdf.badges(event.title, line, _attendees(event, ("registered", "attended")))
    return _pdf(body, f"badges-{event.id}.pdf")


@bp.route("/<int:event_id>/report")
def event_report(event_id: int):
    from . import reports

    event = _event_or_404(event_id)
    return render_template("events/event_report.html", event=event, report=reports.event_report(event, g.cluster))


@bp.route("/reports")
def year_report():
    from datetime import datetime

    from . import reports

    years = reports.years_with_events(g.cluster)
    current = datetime.now(g.cluster.zone).year
    raw = request.args.get("year", "")
    status = 200
    try:
        year = int(raw) if raw else (current if current in years or not years else years[0])
        if not 1900 < year < 2200:
            raise ValueError
    except ValueError:
        flash(_("Not a year: '%(value)s'.", value=raw[:20]), "error")
        year, status = current, 400
    return render_template("events/year_report.html", report=reports.year_report(g.cluster, year), years=years,
                           year=year), status
