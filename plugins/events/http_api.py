"""The events HTTP API (blueprint ``events_api``, mounted at ``/api/v1/<cluster>/events/``).

Bodies are validated by the same forms as the pages (``core.validate``), lists come from
the same queries (:mod:`.queries`), changes go through the same operations
(:mod:`.services`, :mod:`.registrations`).  Thin handlers; the request commits once at
its end (below 400) or rolls back.  Every answer is a model of :mod:`.serializers`
(``response=`` on the operation: the OpenAPI document describes it, with the statuses
the handler answers).  (``api.py`` is the events' contract for other plugins, not this.)
"""

from __future__ import annotations

from flask import g, jsonify, request, url_for

from core import ApiBlueprint, ApiError, api_paginate, db, get_or_404, requires, serialize, validate
from plugins.crm import api as crm

from . import queries, registrations, reports, services
from .errors import EventsError
from .forms import BulkRegistrationForm, EventForm, EventStatusForm, InvitationForm, RegistrationForm, RegistrationStatusForm
from .models import Event, Registration
from .serializers import (
    BulkRegistrationOut,
    EventOut,
    EventReportOut,
    InvitationJobOut,
    RegistrationChangeOut,
    RegistrationOut,
    YearReportOut,
)

api = ApiBlueprint("events_api", __name__)


def _event_or_404(event_id: int) -> Event:
    return get_or_404(Event, event_id, "No such event.")


def _refused(exc: EventsError, status: int = 409):
    return ApiError({exc.field: [str(exc)]}, status)


def _event(event: Event, counts: dict[str, int] | None = None) -> dict:
    """An event as :class:`.serializers.EventOut`, with its counts (default: read now)."""
    if counts is None:
        counts = queries.status_counts([event.id])[event.id]
    return serialize(EventOut, event, counts=counts, timezone=g.cluster.timezone, currency=g.cluster.currency,
                     public_url=url_for("events.public_event", event_id=event.id, _external=True),
                     ics_url=url_for("events.event_ics", event_id=event.id, _external=True))


def _registration(reg: Registration, person=None, organization_name: str | None = None, model=RegistrationOut,
                  **extra) -> dict:
    """A registration as :class:`.serializers.RegistrationOut`, with its person's name and address."""
    return serialize(model, reg, person_name=person.full_name if person else None,
                     email=person.email if person else None, organization_name=organization_name, **extra)


def _registration_by_id(registration_id: int, model=RegistrationOut, **extra) -> dict:
    reg = get_or_404(Registration, registration_id, "No such registration.")
    person = crm.get_person(reg.person_id)
    names = crm.organization_names([reg.organization_id])
    return _registration(reg, person, names.get(reg.organization_id), model=model, **extra)


# -- events ------------------------------------------------------------------------------------------------
@api.operation("/events", summary="List events (filters: q, status, kind, period=upcoming|past|all, year)",
               paginated=True, response=EventOut)
def api_events():
    stmt, _filters, errors = queries.event_filters(request.args)
    if errors:
        raise ApiError({"_query": errors}, 400)
    result = api_paginate(db.session, stmt, lambda e: e)
    counts = queries.status_counts(e.id for e in result["items"])
    result["items"] = [_event(e, counts[e.id]) for e in result["items"]]
    return jsonify(result)


@api.operation("/events", methods=["POST"], summary="Create an event (as a draft)", form=EventForm,
               response=EventOut)
@requires("events.manage")
def api_event_create():
    form = validate(EventForm)
    event = services.save_event(None, form)
    return jsonify(_event(event, {})), 201


@api.operation("/events/<int:event_id>", summary="An event, with its registration counts", response=EventOut)
def api_event(event_id: int):
    return jsonify(_event(_event_or_404(event_id)))


@api.operation("/events/<int:event_id>", methods=["PATCH"], summary="Change an event (fields absent are kept)",
               form=EventForm, response=EventOut)
@requires("events.manage")
def api_event_update(event_id: int):
    event = _event_or_404(event_id)
    form = validate(EventForm, obj=event, partial=True)
    return jsonify(_event(services.save_event(event, form)))


@api.operation("/events/<int:event_id>", methods=["DELETE"], summary="Delete an event that has no registration",
               errors=(409,))
@requires("events.delete")
def api_event_delete(event_id: int):
    event = _event_or_404(event_id)
    try:
        services.delete_event(event)
    except EventsError as exc:
        raise _refused(exc)
    return "", 204


@api.operation("/events/<int:event_id>/status", methods=["POST"],
               summary="Move an event to another status (a cancelled event mails its registrants)",
               form=EventStatusForm, response=EventOut, status=200, errors=(409,))
@requires("events.manage")
def api_event_status(event_id: int):
    event = _event_or_404(event_id)
    form = validate(EventStatusForm)
    try:
        event = services.change_event_status(event, form.status.data)
    except EventsError as exc:
        raise _refused(exc)
    return jsonify(_event(event))


# -- registrations ------------------------------------------------------------------------------------------
@api.operation("/events/<int:event_id>/registrations",
               summary="An event's registrations (filters: status, q; sort=registered|-registered|status)",
               paginated=True, response=RegistrationOut)
def api_registrations(event_id: int):
    event = _event_or_404(event_id)
    stmt, _filters, errors = queries.registration_filters(event, request.args)
    if errors:
        raise ApiError({"_query": errors}, 400)
    result = api_paginate(db.session, stmt, lambda r: r)
    persons = crm.get_persons(r.person_id for r in result["items"])
    orgs = crm.organization_names(r.organization_id for r in result["items"])
    result["items"] = [_registration(r, persons.get(r.person_id), orgs.get(r.organization_id))
                       for r in result["items"]]
    return jsonify(result)


@api.operation("/events/<int:event_id>/registrations", methods=["POST"],
               summary="Register a CRM person: a seat if one is free, else the waitlist (201; 200 if they had "
                       "a registration already: it is answered as it is now)",
               form=RegistrationForm, response=RegistrationOut, status=(201, 200), errors=(409,))
@requires("events.manage")
def api_register(event_id: int):
    event = _event_or_404(event_id)
    form = validate(RegistrationForm)
    try:
        outcome = registrations.register(event.id, form.person_id.data, source="api",
                                         organization_id=form.organization_id.data, notify=not form.no_mail.data)
    except EventsError as exc:
        raise _refused(exc)
    return jsonify(_registration_by_id(outcome.registration_id)), 201 if outcome.previous is None else 200


@api.operation("/events/<int:event_id>/registrations/bulk", methods=["POST"],
               summary="Register a list of CRM persons in one go: seats in list order, the rest waitlisted; "
                       "all or none", form=BulkRegistrationForm, response=BulkRegistrationOut, status=200,
               errors=(409,))
@requires("events.manage")
def api_register_many(event_id: int):
    event = _event_or_404(event_id)
    form = validate(BulkRegistrationForm)
    try:
        outcomes = registrations.register_many(event.id, form.person_ids.data, source="api",
                                               notify=not form.no_mail.data)
    except EventsError as exc:
        raise _refused(exc)
    return jsonify(serialize(BulkRegistrationOut, {"items": outcomes}))


@api.operation("/registrations/<int:registration_id>", summary="A registration", response=RegistrationOut)
def api_registration(registration_id: int):
    return jsonify(_registration_by_id(registration_id))


@api.operation("/registrations/<int:registration_id>/status", methods=["POST"],
               summary="Change a registration's status (cancel, check in...); the status machine applies",
               form=RegistrationStatusForm, response=RegistrationChangeOut, status=200, errors=(409,))
@requires("events.manage")
def api_registration_status(registration_id: int):
    form = validate(RegistrationStatusForm)
    try:
        outcome = registrations.change_status(registration_id, form.status.data, notify=not form.no_mail.data)
    except EventsError as exc:
        raise _refused(exc, 404 if exc.field == "registration_id" else 409)
    return jsonify(_registration_by_id(outcome.registration_id, RegistrationChangeOut,
                                       promoted=list(outcome.promoted)))


@api.operation("/events/<int:event_id>/invitations", methods=["POST"],
               summary="Invite a segment or persons (a background job; consent respected)", form=InvitationForm,
               response=InvitationJobOut, status=202, errors=(409,))
@requires("events.manage")
def api_invite(event_id: int):
    event = _event_or_404(event_id)
    form = validate(InvitationForm)
    try:
        job = services.invite(event, segment_id=form.segment_id.data, person_ids=form.person_ids.data)
    except EventsError as exc:
        raise _refused(exc)
    return jsonify(serialize(InvitationJobOut, job,
                             job_url=url_for("core_api.api_job", job_id=job.id, _external=True))), 202


# -- reports ----------------------------------------------------------------------------------------------------
@api.operation("/events/<int:event_id>/report", summary="An event's figures: statuses, members and non-members",
               response=EventReportOut)
def api_event_report(event_id: int):
    event = _event_or_404(event_id)
    return jsonify(serialize(EventReportOut, reports.event_report(event)))


@api.operation("/reports/<int:year>", summary="The cluster's figures for a year: events, participants, companies",
               response=YearReportOut, errors=(400,))
def api_year_report(year: int):
    if not 1900 < year < 2200:
        raise ApiError({"year": ["Not a plausible year."]}, 400)
    return jsonify(serialize(YearReportOut, reports.year_report(year)))
