"""The catalogue's operations: ranges, services, their steps and experts; copy and retire.

Operations act on the current cluster's records (the core scopes and stamps them), take
validated forms, flush and never commit: the request, job or command commits.  A retired
service keeps its history (steps, prices) and can neither be changed nor sold; copying it
is how a new service starts from it.
"""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select

from core import db

from .errors import BillingError
from .models import PRICE_TERMS, VAT_WITHOUT_RATE, Price, Range, Service, ServiceCompetence, ServiceExpert, ServiceStep, StepCompetence

SERVICE_FIELDS = (
    "name", "range_id", "status", "revenue_family", "vat_category", "vat_rate",
    "problem", "solution", "service_rendered", "direct_gain", "indirect_gains",
    "size_bands", "sectors", "functions", "target_traits", "prerequisites",
    "unit", "coordination_hours", "coordination_cost", "planned_volume",
    "downstream_competences",
    "promise", "tools", "deliverables", "duration", "calendar", "evaluation_questions", "relationship_after",
)
STEP_FIELDS = ("name", "operations", "resources", "value_brick", "cost_behaviour", "purchases", "staff_hours",
               "external_fees", "overheads")
_ZERO_WHEN_EMPTY = {"coordination_hours", "coordination_cost", "purchases", "staff_hours", "external_fees",
                    "overheads", "vat_rate"}
_LISTS = {"size_bands", "sectors", "functions", "downstream_competences", "evaluation_questions"}


def _value(form, name):
    data = form[name].data
    if name in _LISTS:
        return list(data or [])
    if data is None and name in _ZERO_WHEN_EMPTY:
        return 0
    if data is None and name not in ("range_id", "planned_volume"):
        return ""
    return data


# -- ranges -------------------------------------------------------------------------------------
def save_range(range_: Range | None, form) -> Range:
    """Create or change a range from a validated :class:`.forms.RangeForm`."""
    range_ = range_ or Range()
    for name in ("name", "description", "shared_relations", "shared_information", "shared_experts"):
        setattr(range_, name, form[name].data or "")
    if range_.id is None:
        db.session.add(range_)
    db.session.flush()
    return range_


def delete_range(range_: Range) -> None:
    """Delete a range that no service belongs to."""
    used = db.session.execute(select(func.count(Service.id)).where(Service.range_id == range_.id)).scalar_one()
    if used:
        raise BillingError(_("%(n)s services belong to this range: move them first.", n=used))
    db.session.delete(range_)
    db.session.flush()


# -- services -----------------------------------------------------------------------------------
def ensure_editable(service: Service) -> None:
    if service.status == "retired":
        raise BillingError(_("This service is retired: it keeps its history and cannot change. Copy it to "
                             "start a new one."))


def save_service(service: Service | None, form) -> Service:
    """Create or change a service from a validated :class:`.forms.ServiceForm`."""
    if service is not None:
        ensure_editable(service)
    service = service or Service()
    for name in SERVICE_FIELDS:
        setattr(service, name, _value(form, name))
    service.code = form.code.data or None
    if service.vat_category in VAT_WITHOUT_RATE:
        service.vat_rate = 0
    if service.id is None:
        db.session.add(service)
        db.session.flush()
    _set_competences(service, form.inhouse_competences.data or [])
    db.session.flush()
    return service


def _set_competences(owner, competence_ids, link_class=ServiceCompetence, key="service_id") -> None:
    wanted = set(competence_ids)
    for link in list(owner.competence_links):
        if link.competence_id not in wanted:
            owner.competence_links.remove(link)
    have = {link.competence_id for link in owner.competence_links}
    for competence_id in sorted(wanted - have):
        owner.competence_links.append(link_class(**{key: owner.id, "competence_id": competence_id}))


def copy_service(service: Service, *, on: date, name: str | None = None) -> Service:
    """A new draft service starting from ``service``: its description, steps, competences,
    experts, and the prices valid on ``on`` (as new prices valid from that day, open-ended)."""
    copy = Service(name=(name or _("%(name)s (copy)", name=service.name))[:200], code=None, status="draft",
                   copied_from_id=service.id)
    for name_ in SERVICE_FIELDS:
        if name_ not in ("name", "status"):
            value = getattr(service, name_)
            setattr(copy, name_, list(value) if isinstance(value, list) else value)
    db.session.add(copy)
    db.session.flush()
    for link in service.competence_links:
        copy.competence_links.append(ServiceCompetence(service_id=copy.id, competence_id=link.competence_id))
    for step in service.steps:
        new = ServiceStep(service_id=copy.id, position=step.position,
                          **{f: getattr(step, f) for f in STEP_FIELDS})
        db.session.add(new)
        db.session.flush()
        for link in step.competence_links:
            new.competence_links.append(StepCompetence(step_id=new.id, competence_id=link.competence_id))
    for expert in service.experts:
        db.session.add(ServiceExpert(service_id=copy.id, person_id=expert.person_id,
                                     organization_id=expert.organization_id, role=expert.role))
    for price in service.prices:
        if price.valid_on(on):
            db.session.add(Price(service_id=copy.id, valid_from=on, valid_until=None,
                                 **{c: getattr(price, c) for c in PRICE_TERMS}))
    db.session.flush()
    db.session.expire(copy, ["steps", "prices", "experts", "competence_links"])
    return copy


def retire_service(service: Service, *, on: date) -> Service:
    """Retire a service on ``on``: it cannot be sold any more; its open prices end that day
    (or on their first day, for a price that had not started)."""
    if service.status == "retired":
        raise BillingError(_("This service is retired already."))
    service.status = "retired"
    service.retired_on = on
    for price in service.prices:
        if price.valid_until is None:
            price.valid_until = max(on, price.valid_from)
    db.session.flush()
    return service


# -- steps --------------------------------------------------------------------------------------
def add_step(service: Service, form) -> ServiceStep:
    """Add a step at the end of a service's process, from a validated :class:`.forms.StepForm`."""
    ensure_editable(service)
    last = max((s.position for s in service.steps), default=0)
    step = ServiceStep(service_id=service.id, position=last + 1)
    _fill_step(step, form)
    db.session.add(step)
    db.session.flush()
    _set_competences(step, form.competences.data or [], StepCompetence, "step_id")
    db.session.flush()
    db.session.expire(service, ["steps"])
    return step


def _fill_step(step: ServiceStep, form) -> None:
    for name in STEP_FIELDS:
        setattr(step, name, _value(form, name))


def update_step(step: ServiceStep, form) -> ServiceStep:
    ensure_editable(step.service)
    _fill_step(step, form)
    _set_competences(step, form.competences.data or [], StepCompetence, "step_id")
    db.session.flush()
    return step


def _renumber(steps: list[ServiceStep]) -> None:
    for position, step in enumerate(steps, start=1):
        if step.position != position:
            step.position = position


def move_step(step: ServiceStep, direction: str) -> None:
    """Move a step one place up or down in its service's process."""
    service = step.service
    ensure_editable(service)
    steps = list(service.steps)
    index = steps.index(step)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(steps):
        steps[index], steps[other] = steps[other], steps[index]
    _renumber(steps)
    db.session.flush()


def reorder_steps(service: Service, step_ids: list[int]) -> None:
    """Put a service's steps in this order: ``step_ids`` holds each of its steps once."""
    ensure_editable(service)
    by_id = {s.id: s for s in service.steps}
    if sorted(step_ids) != sorted(by_id) or len(set(step_ids)) != len(step_ids):
        raise BillingError(_("Give every step of the service once, in the new order."), field="step_ids")
    _renumber([by_id[i] for i in step_ids])
    db.session.flush()
    db.session.expire(service, ["steps"])


def remove_step(step: ServiceStep) -> None:
    service = step.service
    ensure_editable(service)
    db.session.delete(step)
    db.session.flush()
    db.session.expire(service, ["steps"])
    _renumber(list(service.steps))
    db.session.flush()


# -- experts ------------------------------------------------------------------------------------
def add_expert(service: Service, form) -> ServiceExpert:
    """Link an external expert (a CRM person or organization) to a service."""
    ensure_editable(service)
    expert = ServiceExpert(service_id=service.id, person_id=form.person_id.data,
                           organization_id=form.organization_id.data, role=form.role.data or "")
    db.session.add(expert)
    db.session.flush()
    db.session.expire(service, ["experts"])
    return expert


def remove_expert(expert: ServiceExpert) -> None:
    service = db.session.get(Service, expert.service_id)
    ensure_editable(service)
    db.session.delete(expert)
    db.session.flush()
    db.session.expire(service, ["experts"])
