"""Public pages (no login): registration with double opt-in, invitation, cancellation, iCalendar.

A visitor fills the form; nothing is recorded yet: a signed link is mailed to the
address given, and following it (then pressing *Confirm*) matches or creates the CRM
person and takes the seat.  Links always lead to a page with a button, so a mail
scanner that follows links never registers or cancels anyone.
"""

from __future__ import annotations

from flask import Response, abort, current_app, g, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from core import (
    BadToken, ConfirmForm, can, db, get_or_404, mail_language, public, rate_limit, rate_setting, sign, unsign, utcnow,
)
from plugins.crm import api as crm

from . import mail, queries, registrations
from .errors import EventsError
from .forms import PublicRegistrationForm
from .models import Event, Registration
from .views import bp


def _visible_event(event_id: int) -> Event:
    """An event the public may see: any status but draft (staff of the cluster see drafts too)."""
    event = get_or_404(Event, event_id)
    if event.status == "draft" and not (current_user.is_authenticated and can(current_user, "events.view")):
        abort(404)
    return event


def _language() -> str:
    return mail_language(str(get_locale() or ""), g.cluster)


def _message(title: str, text: str, status: int, event=None):
    return render_template("events/public_message.html", title=title, text=text, event=event), status


@bp.route("/public/<int:event_id>", methods=["GET", "POST"])
@public
def public_event(event_id: int):
    event = _visible_event(event_id)
    form = PublicRegistrationForm()
    status = 200
    if request.method == "POST":
        if not event.registration_open():
            return _message(_("Registrations are closed"),
                            _("Registrations for this event are closed."), 409, event)
        if form.validate_on_submit():
            if form.website.data:
                # a bot filled the hidden field: answer as if all went well, do nothing
                current_app.logger.info("events: honeypot filled on the public page of event %s", event.id)
                return render_template("events/public_sent.html", event=event, email=form.email.data)
            refused = rate_limit([
                ("events.ip", request.remote_addr or "?", *rate_setting("EVENTS_RATE_PER_IP", "20/3600")),
                ("events.email", form.email.data, *rate_setting("EVENTS_RATE_PER_EMAIL", "3/3600")),
            ])
            if refused:
                form.email.errors = list(form.email.errors) + [
                    _("Too many registrations from here in a short time. Please try again later.")]
                return render_template("events/public_event.html", event=event, form=form,
                                       seats_left=queries.seats_left(event)), 429
            mail.queue_confirm_request(event, email=form.email.data,
                                       first_name=form.first_name.data, last_name=form.last_name.data,
                                       organization=form.organization.data or "", language=_language())
            return render_template("events/public_sent.html", event=event, email=form.email.data)
        status = 400
    return render_template("events/public_event.html", event=event, form=form,
                           seats_left=queries.seats_left(event)), status


def _read(purpose: str, token: str):
    """The data of an ``events.<purpose>`` link (None when it cannot be trusted)."""
    max_age = mail.CONFIRM_LINK_MAX_AGE if purpose == "confirm" else None
    try:
        return unsign(f"events.{purpose}", token, max_age=max_age)
    except BadToken:
        return None


def _done(event, outcome, person_name: str):
    cancel_url = None
    if outcome.status in ("registered", "waitlisted"):
        cancel_url = url_for("events.public_cancel", token=sign("events.cancel", {"r": outcome.registration_id}))
    return render_template("events/public_done.html", event=event, outcome=outcome, name=person_name,
                           cancel_url=cancel_url)


@bp.route("/public/confirm/<token>", methods=["GET", "POST"])
@public
def public_confirm(token: str):
    """The double opt-in link: confirm, and only then is the person recorded and the seat taken."""
    data = _read("confirm", token)
    if not isinstance(data, dict) or not str(data.get("e", "")).isdigit() or not data.get("m"):
        return _message(_("This link does not work"),
                        _("The link is damaged or has expired (it works for three days). Please register again."), 400)
    event = _visible_event(int(data["e"]))
    name = f"{data.get('f', '')} {data.get('l', '')}".strip()
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        if not event.registration_open():
            return _message(_("Registrations are closed"), _("Registrations for this event are closed."), 409, event)
        try:
            outcome = registrations.confirm_public_registration(event.id, data)
        except (ValueError, EventsError) as exc:  # a 409: the person the CRM matched or made is rolled back too
            return _message(_("Your registration could not be recorded"), str(exc), 409, event)
        return _done(event, outcome, name)
    return render_template("events/public_confirm.html", event=event, form=form, name=name, email=data["m"],
                           organization=data.get("o", ""))


def _registration_from(purpose: str, token: str) -> Registration | None:
    """The current cluster's registration a signed link names (None: a bad link, another cluster's)."""
    data = _read(purpose, token)
    if not isinstance(data, dict) or not isinstance(data.get("r"), int):
        return None
    return db.session.execute(select(Registration).where(Registration.id == data["r"])).scalar_one_or_none()


@bp.route("/public/cancel/<token>", methods=["GET", "POST"])
@public
def public_cancel(token: str):
    """The cancel link of a registration (mailed with every confirmation)."""
    reg = _registration_from("cancel", token)
    if reg is None:
        return _message(_("This link does not work"),
                        _("The link is damaged, or the registration no longer exists."), 404)
    event = _visible_event(reg.event_id)
    person = crm.get_person(reg.person_id)
    name = person.full_name if person else ""
    if reg.status == "cancelled":
        return _message(_("Registration cancelled"), _("Your registration is cancelled."), 200, event)
    if reg.status not in ("registered", "waitlisted") or event.status in ("done", "cancelled") \
            or event.ends_at <= utcnow():
        return _message(_("Nothing to cancel"), _("This registration can no longer be cancelled online."), 409, event)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            registrations.cancel(reg.id)
        except EventsError as exc:
            return _message(_("Nothing to cancel"), str(exc), 409, event)
        return _message(_("Registration cancelled"),
                        _("Your registration is cancelled; a confirmation is on its way by e-mail."), 200, event)
    return render_template("events/public_cancel.html", event=event, form=form, name=name, reg=reg)


@bp.route("/public/accept/<token>", methods=["GET", "POST"])
@public
def public_accept(token: str):
    """The link of an invitation: register in one click (the address is proven by the mail)."""
    reg = _registration_from("accept", token)
    if reg is None:
        return _message(_("This link does not work"),
                        _("The link is damaged, or the invitation no longer exists."), 404)
    event = _visible_event(reg.event_id)
    person = crm.get_person(reg.person_id)
    if person is None or person.erased:
        abort(404)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        if not event.registration_open():
            return _message(_("Registrations are closed"), _("Registrations for this event are closed."), 409, event)
        try:
            outcome = registrations.register(event.id, reg.person_id, source="invitation", public=True)
        except EventsError as exc:
            return _message(_("Your registration could not be recorded"), str(exc), 409, event)
        return _done(event, outcome, person.full_name)
    return render_template("events/public_accept.html", event=event, form=form, name=person.full_name, reg=reg,
                           is_open=event.registration_open(), seats_left=queries.seats_left(event))


# -- iCalendar ----------------------------------------------------------------------------------------------
@bp.route("/<int:event_id>.ics")
@public
def event_ics(event_id: int):
    event = _visible_event(event_id)
    from . import ics  # icalendar loads when a calendar is asked for, not at start-up

    body = ics.event_calendar(event, g.cluster)
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'attachment; filename="event-{event.id}.ics"'})


@bp.route("/feed.ics")
@public
def feed_ics():
    from . import ics

    body = ics.feed_calendar(g.cluster, queries.feed_events())
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'inline; filename="{g.cluster.slug}-events.ics"'})
