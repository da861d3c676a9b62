"""The events JSON API (``/api/v1/<cluster>/events/...``): the same forms and services as the pages."""

from __future__ import annotations

from flask import g, jsonify, request, url_for
from sqlalchemy import select

from core import ApiError, api_paginate, db, jsonable, requires, validate
from plugins.crm import api as crm

from . import reports, services
from .forms import BulkRegistrationForm, EventForm, EventStatusForm, InvitationForm, RegistrationForm, RegistrationStatusForm
from .models import Event, Registration
from .services import EventsError
from .views import api, event_filters, registration_filters


def _event_or_404(event_id: int) -> Event:
    event = services.get_event(event_id, g.cluster)
    if event is None:
        raise ApiError({"_": ["No such event."]}, 404)
    return event


def _refused(exc: EventsError, status: int = 409):
    return ApiError({exc.field: [str(exc)]}, status)


def event_json(event: Event, counts: dict[str, int] | None = None) -> dict:
    out = {
        "id": event.id,
        "title": event.title,
        "description": event.description,
        "kind": event.kind,
        "status": event.status,
        "starts_at": jsonable(event.starts_at),
        "ends_at": jsonable(event.ends_at),
        "timezone": g.cluster.timezone,
        "venue": event.venue,
        "online_url": event.online_url,
        "capacity": event.capacity,
        "registration_deadline": jsonable(event.registration_deadline),
        "member_price": jsonable(event.member_price),
        "non_member_price": jsonable(event.non_member_price),
        "currency": g.cluster.currency,
        "organizer_id": event.organizer_id,
        "topic_ids": event.topic_ids,
        "public_url": url_for("events.public_event", event_id=event.id, _external=True),
        "ics_url": url_for("events.event_ics", event_id=event.id, _external=True),
    }
    if counts is not None:
        taken = services.seats_taken(counts)
        out["counts"] = counts
        out["seats_taken"] = taken
        out["seats_left"] = None if event.capacity is None else max(0, event.capacity - taken)
    return out


def registration_json(reg: Registration, person=None, organization_name: str | None = None) -> dict:
    return {
        "id": reg.id,
        "event_id": reg.event_id,
        "person_id": reg.person_id,
        "person_name": person.full_name if person else None,
        "email": person.email if person else None,
        "organization_id": reg.organization_id,
        "organization_name": organization_name,
        "status": reg.status,
        "source": reg.source,
        "member_price": reg.member_price,
        "price": jsonable(reg.price),
        "registered_at": jsonable(reg.registered_at),
        "invited_at": jsonable(reg.invited_at),
        "cancelled_at": jsonable(reg.cancelled_at),
        "attended_at": jsonable(reg.attended_at),
    }


def _registration_json_by_id(registration_id: int) -> dict:
    reg = db.session.execute(
        select(Registration).where(Registration.id == registration_id, Registration.cluster_id == g.cluster.id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    person = crm.get_person(reg.person_id)
    names = crm.organization_names([reg.organization_id])
    return registration_json(reg, person, names.get(reg.organization_id))


# -- events ------------------------------------------------------------------------------------------------
@api.operation("/events", summary="List events (filters: q, status, kind, period=upcoming|past|all, year)",
               paginated=True)
def api_events():
    stmt, _filters, errors = event_filters(request.args)
    if errors:
        raise ApiError({"_query": errors}, 400)
    result = api_paginate(db.session, stmt, lambda e: e)
    counts = services.status_counts(e.id for e in result["items"])
    result["items"] = [event_json(e, counts[e.id]) for e in result["items"]]
    return jsonify(result)


@api.operation("/events", methods=["POST"], summary="Create an event (as a draft)", form=EventForm)
@requires("events.manage")
def api_event_create():
    form = validate(EventForm)
    event = services.save_event(None, form, cluster=g.cluster)
    return jsonify(event_json(event, {})), 201


@api.operation("/events/<int:event_id>", summary="An event, with its registration counts")
def api_event(event_id: int):
    event = _event_or_404(event_id)
    return jsonify(event_json(event, services.status_counts([event.id])[event.id]))


@api.operation("/events/<int:event_id>", methods=["PATCH"], summary="Change an event (fields absent are kept)",
               form=EventForm)
@requires("events.manage")
def api_event_update(event_id: int):
    event = _event_or_404(event_id)
    form = validate(EventForm, obj=event, partial=True)
    services.save_event(event, form, cluster=g.cluster)
    return jsonify(event_json(event, services.status_counts([event.id])[event.id]))


@api.operation("/events/<int:event_id>", methods=["DELETE"], summary="Delete an event that has no registration")
@requires("events.delete")
def api_event_delete(event_id: int):
    event = _event_or_404(event_id)
    try:
        services.delete_event(event)
    except EventsError as exc:
        db.session.rollback()
        raise _refused(exc)
    return "", 204


@api.operation("/events/<int:event_id>/status", methods=["POST"],
               summary="Move an event to another status (a cancelled event mails its registrants)",
               form=EventStatusForm)
@requires("events.manage")
def api_event_status(event_id: int):
    event = _event_or_404(event_id)
    form = validate(EventStatusForm)
    try:
        services.change_event_status(event, form.status.data, cluster=g.cluster)
    except EventsError as exc:
        db.session.rollback()
        raise _refused(exc)
    return jsonify(event_json(event, services.status_counts([event.id])[event.id]))


# -- registrations ------------------------------------------------------------------------------------------
@api.operation("/events/<int:event_id>/registrations",
               summary="An event's registrations (filters: status, q; sort=registered|-registered|status)",
               paginated=True)
def api_registrations(event_id: int):
    event = _event_or_404(event_id)
    stmt, _filters, errors = registration_filters(event, request.args)
    if errors:
        raise ApiError({"_query": errors}, 400)
    result = api_paginate(db.session, stmt, lambda r: r)
    persons = crm.get_persons(r.person_id for r in result["items"])
    orgs = crm.organization_names(r.organization_id for r in result["items"])
    result["items"] = [registration_json(r, persons.get(r.person_id), orgs.get(r.organization_id))
                       for r in result["items"]]
    return jsonify(result)


@api.operation("/events/<int:event_id>/registrations", methods=["POST"],
               summary="Register a CRM person: a seat if one is free, else the waitlist", form=RegistrationForm)
@requires("events.manage")
def api_register(event_id: int):
    event = _event_or_404(event_id)
    form = validate(RegistrationForm)
    try:
        outcome = services.register(event.id, form.person_id.data, cluster=g.cluster, source="api",
                                    organization_id=form.organization_id.data, notify=not form.no_mail.data)
    except EventsError as exc:
        raise _refused(exc)
    return jsonify(_registration_json_by_id(outcome.registration_id)), 201 if outcome.previous is None else 200


@api.operation("/events/<int:event_id>/registrations/bulk", methods=["POST"],
               summary="Register a list of CRM persons in one go: seats in list order, the rest waitlisted; "
                       "all or none", form=BulkRegistrationForm)
@requires("events.manage")
def api_register_many(event_id: int):
    event = _event_or_404(event_id)
    form = validate(BulkRegistrationForm)
    try:
        outcomes = services.register_many(event.id, form.person_ids.data, cluster=g.cluster, source="api",
                                          notify=not form.no_mail.data)
    except EventsError as exc:
        raise _refused(exc)
    items = [{"registration_id": o.registration_id, "person_id": o.person_id, "status": o.status,
              "previous": o.previous, "changed": o.changed} for o in outcomes]
    return jsonify({"items": items,
                    "registered": sum(1 for o in outcomes if o.changed and o.status == "registered"),
                    "waitlisted": sum(1 for o in outcomes if o.changed and o.status == "waitlisted"),
                    "unchanged": sum(1 for o in outcomes if not o.changed)}), 200


@api.operation("/registrations/<int:registration_id>", summary="A registration")
def api_registration(registration_id: int):
    exists = db.session.execute(select(Registration.id).where(
        Registration.id == registration_id, Registration.cluster_id == g.cluster.id)).first()
    if exists is None:
        raise ApiError({"_": ["No such registration."]}, 404)
    return jsonify(_registration_json_by_id(registration_id))


@api.operation("/registrations/<int:registration_id>/status", methods=["POST"],
               summary="Change a registration's status (cancel, check in...); the status machine applies",
               form=RegistrationStatusForm)
@requires("events.manage")
def api_registration_status(registration_id: int):
    form = validate(RegistrationStatusForm)
    try:
        outcome = services.change_status(registration_id, form.status.data, cluster=g.cluster,
                                         notify=not form.no_mail.data)
    except EventsError as exc:
        raise _refused(exc, 404 if exc.field == "registration_id" else 409)
    body = _registration_json_by_id(outcome.registration_id)
    body["promoted"] = list(outcome.promoted)
    return jsonify(body)


@api.operation("/events/<int:event_id>/invitations", methods=["POST"],
               summary="Invite a segment or persons (a background job; consent respected)", form=InvitationForm)
@requires("events.manage")
def api_invite(event_id: int):
    event = _event_or_404(event_id)
    form = validate(InvitationForm)
    try:
        job = services.invite(event, cluster=g.cluster, segment_id=form.segment_id.data,
                              person_ids=form.person_ids.data)
    except EventsError as exc:
        raise _refused(exc)
    return jsonify({"job_id": job.id, "status": job.status,
                    "job_url": url_for("core_api.api_job", job_id=job.id, _external=True)}), 202


# -- reports ----------------------------------------------------------------------------------------------------
@api.operation("/events/<int:event_id>/report", summary="An event's figures: statuses, members and non-members")
def api_event_report(event_id: int):
    event = _event_or_404(event_id)
    return jsonify(reports.event_report(event, g.cluster).as_dict())


@api.operation("/reports/<int:year>", summary="The cluster's figures for a year: events, participants, companies")
def api_year_report(year: int):
    if not 1900 < year < 2200:
        raise ApiError({"year": ["Not a plausible year."]}, 400)
    return jsonify(reports.year_report(g.cluster, year).as_dict())
