"""Events tables: events, their topics and registrations.

Events, their topics and registrations belong to one cluster (:class:`core.ClusterScoped`).  Persons,
organizations and competences are the CRM's: they are referenced by table name only.

The registration status machine lives here, in :data:`TRANSITIONS`, and is enforced on
the model itself (:meth:`Registration._check_status`): whatever code path sets a
status, a move the machine does not allow raises :class:`TransitionError`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from core import Base, ClusterScoped, UTCDateTime, utcnow

EVENT_KINDS = {
    "conference": _l("Conference"),
    "workshop": _l("Workshop"),
    "company_visit": _l("Company visit"),
    "trade_fair": _l("Trade fair"),
    "webinar": _l("Webinar"),
    "networking": _l("Networking"),
}

EVENT_STATUSES = {
    "draft": _l("Draft"),
    "open": _l("Open"),
    "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
    "done": _l("Done"),
}

#: event status -> the statuses it may move to
EVENT_TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"open", "cancelled"}),
    "open": frozenset({"closed", "cancelled", "done"}),
    "closed": frozenset({"open", "cancelled", "done"}),
    "cancelled": frozenset(),
    "done": frozenset({"closed"}),
}

REGISTRATION_STATUSES = {
    "invited": _l("Invited"),
    "registered": _l("Registered"),
    "waitlisted": _l("Waitlisted"),
    "cancelled": _l("Cancelled"),
    "attended": _l("Attended"),
    "no_show": _l("No-show"),
}

#: registration status -> the statuses it may move to (the one place this is decided)
TRANSITIONS: dict[str, frozenset[str]] = {
    "invited": frozenset({"registered", "waitlisted", "cancelled"}),
    "registered": frozenset({"cancelled", "attended", "no_show"}),
    "waitlisted": frozenset({"registered", "cancelled"}),
    "cancelled": frozenset({"registered", "waitlisted"}),
    "attended": frozenset({"registered", "no_show"}),
    "no_show": frozenset({"attended", "registered"}),
}
#: statuses a new registration may start in
INITIAL_STATUSES = frozenset({"invited", "registered", "waitlisted"})
#: statuses that hold a seat (counted against the capacity)
SEAT_STATUSES = ("registered", "attended", "no_show")
#: statuses of someone who is coming or wants to (a repeated registration changes nothing)
ACTIVE_STATUSES = ("registered", "waitlisted", "attended", "no_show")

REGISTRATION_SOURCES = {
    "staff": _l("Staff"),
    "public": _l("Public page"),
    "invitation": _l("Invitation"),
    "import": _l("Import"),
    "api": _l("API"),
}


class TransitionError(ValueError):
    """A status change the status machine does not allow; the message says why."""


def can_transition(old: str | None, new: str) -> bool:
    if old is None:
        return new in INITIAL_STATUSES
    return old == new or new in TRANSITIONS.get(old, frozenset())


class Money(TypeDecorator):
    """A decimal amount with two places, stored as integer cents (exact on every database)."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return int((Decimal(value) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return (Decimal(value) / 100).quantize(Decimal("0.01"))


class Event(ClusterScoped, Base):
    """An event a cluster organizes: a conference, a workshop, a company visit..."""

    __tablename__ = "events_event"
    __audited__ = True
    __audit_exclude__ = ("updated_at", "sequence")
    __table_args__ = (
        Index("ix_events_event_cluster_starts", "cluster_id", "starts_at"),
        Index("ix_events_event_cluster_status_starts", "cluster_id", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="conference")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    venue: Mapped[str] = mapped_column(String(300), default="")
    online_url: Mapped[str] = mapped_column(String(500), default="")
    capacity: Mapped[int | None] = mapped_column(Integer, default=None)
    registration_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    member_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    non_member_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    organizer_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), default=None, index=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # iCalendar SEQUENCE, bumped on each change
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    topics: Mapped[list["EventTopic"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by=lambda: EventTopic.competence_id)

    @property
    def topic_ids(self) -> list[int]:
        return [t.competence_id for t in self.topics]

    @property
    def is_free(self) -> bool:
        return not self.member_price and not self.non_member_price

    @property
    def audit_label(self) -> str:
        return f"event #{self.id}: {self.title}"

    def registration_open(self, now: datetime | None = None) -> bool:
        """Can the public register now (open, before the deadline, not started)?"""
        now = now or utcnow()
        if self.status != "open":
            return False
        if self.registration_deadline is not None and now > self.registration_deadline:
            return False
        return now < self.ends_at

    def __str__(self) -> str:
        return self.title


class EventTopic(ClusterScoped, Base):
    """A topic of an event, from the CRM's competence vocabulary (its event's cluster's row:
    scoped and purged with it)."""

    __tablename__ = "events_event_topic"

    event_id: Mapped[int] = mapped_column(ForeignKey("events_event.id", ondelete="CASCADE"), primary_key=True)
    competence_id: Mapped[int] = mapped_column(
        ForeignKey("crm_competence.id", ondelete="CASCADE"), primary_key=True, index=True)


class Registration(ClusterScoped, Base):
    """A CRM person's registration for an event (or invitation to it)."""

    __tablename__ = "events_registration"
    __audited__ = True
    __audit_exclude__ = ("updated_at", "reminded_at", "invited_at")
    __table_args__ = (
        UniqueConstraint("event_id", "person_id", name="uq_events_registration_event_person"),
        Index("ix_events_registration_event_status", "event_id", "status", "registered_at"),
        Index("ix_events_registration_event_registered", "event_id", "registered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events_event.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("crm_person.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_organization.id", ondelete="SET NULL"), default=None, index=True)
    status: Mapped[str] = mapped_column(String(12))
    source: Mapped[str] = mapped_column(String(12), default="staff")
    member_price: Mapped[bool] = mapped_column(Boolean, default=False)
    price: Mapped[Decimal | None] = mapped_column(Money, default=None)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship(lazy="raise")

    @validates("status")
    def _check_status(self, _key, new: str) -> str:
        if new not in REGISTRATION_STATUSES:
            raise TransitionError(_("Unknown registration status '%(status)s'.", status=new))
        old = self.status
        if not can_transition(old, new):
            if old is None:
                raise TransitionError(_("A registration cannot start as '%(status)s'.",
                                        status=REGISTRATION_STATUSES[new]))
            raise TransitionError(_("A registration cannot go from '%(old)s' to '%(new)s'.",
                                    old=REGISTRATION_STATUSES[old], new=REGISTRATION_STATUSES[new]))
        return new

    @property
    def holds_seat(self) -> bool:
        return self.status in SEAT_STATUSES

    @property
    def audit_label(self) -> str:
        return f"registration #{self.id} of person #{self.person_id} to event #{self.event_id}: {self.status}"

    def __str__(self) -> str:
        return self.audit_label
