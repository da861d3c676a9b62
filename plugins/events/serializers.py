"""What the events API returns: pydantic response models.

Each model is the one serializer of its record: the API's handlers produce it with
``core.serialize(Model, obj, **extra)`` (an ORM row, a dataclass of :mod:`.reports` or
:mod:`.registrations`, or a dict), and the OpenAPI document describes it (``response=`` on
each operation of :mod:`.http_api`).  Date-times are ISO 8601 with their offset
(``IsoDateTime``: ``+00:00``); amounts are strings with their decimals (``"25.00"``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer, WithJsonSchema, computed_field

from core import IsoDateTime, ResponseModel

from . import queries
from .models import EVENT_KINDS, EVENT_STATUSES, REGISTRATION_SOURCES, REGISTRATION_STATUSES


def _decimal_text(value: Decimal) -> str:
    return str(value)


#: An amount written as ``core.jsonable`` writes a Decimal: its text, every decimal kept
#: (``"25.00"``), never a JSON number.
Amount = Annotated[
    Decimal,
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
                   mode="serialization"),
]



def _one_of(choices) -> str:
    return "one of: " + ", ".join(choices)


_COUNTS = "registrations by status (statuses without any are left out)"


# -- events ------------------------------------------------------------------------------------------------
class EventOut(ResponseModel):
    """An event of this cluster, with its registration counts and seats."""

    id: int
    title: str
    description: str
    kind: str = Field(description=_one_of(EVENT_KINDS))
    status: str = Field(description=_one_of(EVENT_STATUSES))
    starts_at: IsoDateTime
    ends_at: IsoDateTime
    timezone: str = Field(description="the cluster's time zone (IANA name), in which the event's times are shown")
    venue: str
    online_url: str
    capacity: int | None = Field(description="the number of seats (null: no limit)")
    registration_deadline: IsoDateTime | None
    member_price: Amount
    non_member_price: Amount
    currency: str = Field(description="the cluster's currency (ISO 4217)")
    organizer_id: int | None
    topic_ids: list[int] = Field(description="the ids of its topics (CRM competences)")
    public_url: str = Field(description="the event's public page (registration form)")
    ics_url: str = Field(description="the event as an iCalendar file")
    counts: dict[str, int] = Field(description=_COUNTS)

    @computed_field(description="seats held: registered, attended and no-show")
    @property
    def seats_taken(self) -> int:
        return queries.seats_taken(self.counts)

    @computed_field(description="free seats (null: no capacity)")
    @property
    def seats_left(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.seats_taken)


# -- registrations -----------------------------------------------------------------------------------------
class RegistrationOut(ResponseModel):
    """A CRM person's registration for an event (or invitation to it)."""

    id: int
    event_id: int
    person_id: int
    person_name: str | None = Field(description="the person's full name (null: not found in the CRM)")
    email: str | None
    organization_id: int | None = Field(description="the organization the person came for")
    organization_name: str | None
    status: str = Field(description=_one_of(REGISTRATION_STATUSES))
    source: str = Field(description=_one_of(REGISTRATION_SOURCES))
    member_price: bool = Field(description="the member price applies (a member organization on the event's day)")
    price: Amount | None = Field(description="the price due (null: none set)")
    registered_at: IsoDateTime | None
    invited_at: IsoDateTime | None
    cancelled_at: IsoDateTime | None
    attended_at: IsoDateTime | None


class RegistrationChangeOut(RegistrationOut):
    """A registration after a change of status, and who the freed seats went to."""

    promoted: list[int] = Field(description="the ids of the registrations moved from the waitlist to a seat")


class BulkRegistrationItemOut(ResponseModel):
    """What registering one person of a list did."""

    registration_id: int
    person_id: int
    status: str
    previous: str | None = Field(description="the status before (null: a new registration)")
    changed: bool


class BulkRegistrationOut(ResponseModel):
    """What registering a list of persons did, in the order of the list."""

    items: list[BulkRegistrationItemOut]

    @computed_field(description="persons newly given a seat")
    @property
    def registered(self) -> int:
        return sum(1 for o in self.items if o.changed and o.status == "registered")

    @computed_field(description="persons newly put on the waitlist")
    @property
    def waitlisted(self) -> int:
        return sum(1 for o in self.items if o.changed and o.status == "waitlisted")

    @computed_field(description="persons whose registration did not change")
    @property
    def unchanged(self) -> int:
        return sum(1 for o in self.items if not o.changed)


class InvitationJobOut(ResponseModel):
    """The background job sending invitations (follow it at ``job_url``)."""

    job_id: int = Field(validation_alias="id")
    status: str = Field(description="queued, running, done or failed")
    job_url: str = Field(description="the job's progress: GET /api/v1/<cluster>/core/jobs/<id>")


# -- reports -----------------------------------------------------------------------------------------------
class EventReportOut(ResponseModel):
    """An event's figures: participants are registered or attended people, members those who came
    for an organization that was a member of the cluster on the event's date."""

    event_id: int
    title: str
    capacity: int | None
    counts: dict[str, int] = Field(description="registrations by status (every status)")
    registrations: int = Field(description="seats held: registered, attended and no-show")
    participants: int = Field(description="registered and attended")
    attended: int
    no_show: int
    waitlisted: int
    members: int = Field(description="participants who came for a member organization")
    non_members: int
    organizations: int = Field(description="distinct organizations of the participants")
    revenue_expected: Amount = Field(description="the prices of the seats held")
    currency: str
    attendance_rate: float | None = Field(description="attended / (attended + no-show); null before check-in")


class ReportLineOut(ResponseModel):
    """A line of a year's breakdown: a month (``YYYY-MM``) or an event kind."""

    key: str
    events: int
    participants: int
    members: int
    non_members: int


class TopEventOut(ResponseModel):
    """One of the year's most attended events."""

    id: int
    title: str
    starts_at: IsoDateTime
    participants: int


class YearReportOut(ResponseModel):
    """The cluster's figures for a calendar year (of its time zone); drafts and cancelled
    events are not counted."""

    year: int
    events: int
    cancelled_events: int
    registrations: int
    participants: int
    attended: int
    no_show: int
    members: int
    non_members: int
    persons: int = Field(description="distinct participants")
    organizations: int = Field(description="distinct organizations of the participants (companies reached)")
    member_organizations: int
    by_month: list[ReportLineOut] = Field(description="the twelve months, January first")
    by_kind: list[ReportLineOut] = Field(description="the kinds of the events held")
    top_events: list[TopEventOut] = Field(description="the ten most attended events, the most attended first")
