"""Events forms: the one validation path for pages and the JSON API.

Dates and times are typed in the cluster's time zone (``2026-12-03T09:00``); an ISO
value with an offset (``2026-12-03T08:00:00Z``) is taken as it is.  Form data are
aware UTC datetimes.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import URL, DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import DateTimeLocalInput

from core import DecimalField, Form, cluster_users, email_validator

from .models import EVENT_KINDS, EVENT_STATUSES, REGISTRATION_STATUSES


def _strip(value):
    return " ".join(value.split()) if isinstance(value, str) else value


def _optional_int(value):
    if value in (None, ""):
        return None
    return int(value)


class LocalDateTimeField(Field):
    """A date and time in the cluster's time zone; ``data`` is an aware UTC datetime."""

    widget = DateTimeLocalInput()
    openapi_schema = {"type": "string", "format": "date-time",
                      "description": "RFC 3339; without an offset, in the cluster's time zone."}

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, **kwargs)

    @staticmethod
    def _tz():
        cluster = g.get("cluster")
        return cluster.zone if cluster is not None else timezone.utc

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        if isinstance(self.data, datetime):
            return self.data.astimezone(self._tz()).strftime("%Y-%m-%dT%H:%M")
        return ""

    def process_formdata(self, valuelist):
        if not valuelist:
            return  # absent: keep the object's value (as WTForms' own fields do)
        if not valuelist[0].strip():
            self.data = None
            return
        text = valuelist[0].strip().replace(" ", "T", 1)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            self.data = None
            raise ValueError(_("Not a valid date and time (YYYY-MM-DDTHH:MM)."))
        if value.tzinfo is None:
            value = value.replace(tzinfo=self._tz())
        if not 1900 < value.year < 2200:
            self.data = None
            raise ValueError(_("Not a valid date and time (YYYY-MM-DDTHH:MM)."))
        self.data = value.astimezone(timezone.utc)


class EventForm(Form):
    """An event: what, when, where, how many seats, at what price."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)], filters=[_strip])
    kind = SelectField(_l("Type"), choices=list(EVENT_KINDS.items()), default="conference")
    starts_at = LocalDateTimeField(_l("Starts"), validators=[InputRequired()])
    ends_at = LocalDateTimeField(_l("Ends"), validators=[InputRequired()])
    venue = StringField(_l("Venue address"), validators=[Optional(), Length(max=300)], filters=[_strip])
    online_url = URLField(_l("Online link"), validators=[Optional(), URL(message=_l("Not a valid web address.")),
                                                         Length(max=500)])
    capacity = IntegerField(_l("Seats"), validators=[Optional(), NumberRange(min=1, max=100000)],
                            description=_l("Leave empty for no limit."))
    registration_deadline = LocalDateTimeField(_l("Registration deadline"), validators=[Optional()],
                                               description=_l("Leave empty: registrations stay open until the event ends."))
    member_price = DecimalField(_l("Price for members"), places=2,
                                validators=[Optional(), NumberRange(min=0, max=1000000)], default=Decimal("0"))
    non_member_price = DecimalField(_l("Price for non-members"), places=2,
                                    validators=[Optional(), NumberRange(min=0, max=1000000)], default=Decimal("0"))
    organizer_id = SelectField(_l("Organizer"), coerce=_optional_int, validate_choice=True)
    topic_ids = SelectMultipleField(_l("Topics"), coerce=int, validate_choice=True,
                                 description=_l("From the CRM's competence vocabulary."))
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.organizer_id.choices = [("", "—")] + organizer_choices()
        self.topic_ids.choices = topic_choices()

    def validate_ends_at(self, field):
        if field.data and self.starts_at.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("The end must come after the start."))

    def validate_registration_deadline(self, field):
        if field.data and self.ends_at.data and field.data > self.ends_at.data:
            raise ValidationError(_l("The deadline must not come after the end of the event."))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if not self.venue.data and not self.online_url.data and not self.online_url.errors:
            self.venue.errors = list(self.venue.errors) + [_("Give a venue address or an online link.")]
            ok = False
        return ok


def organizer_choices() -> list[tuple[int, str]]:
    """The active users with a role in the current cluster (the core's look-up), by name."""
    cluster = g.get("cluster")
    if cluster is None:
        return []
    return [(user.id, user.label) for user in cluster_users(cluster.id)]


def topic_choices() -> list[tuple[int, str]]:
    from plugins.crm import api as crm

    try:
        return crm.competence_choices()
    except Exception:  # noqa: BLE001 - outside an app context (documentation builds)
        return []


class EventStatusForm(Form):
    status = SelectField(_l("Status"), choices=list(EVENT_STATUSES.items()), validators=[DataRequired()])


class RegistrationForm(Form):
    """Register a CRM person (staff, API)."""

    person_id = IntegerField(_l("Person"), validators=[InputRequired(), NumberRange(min=1)])
    organization_id = IntegerField(_l("Organization (default: the person's main one)"),
                                   validators=[Optional(), NumberRange(min=1)])
    no_mail = BooleanField(_l("Do not send the confirmation e-mail"))

    def validate_person_id(self, field):
        from plugins.crm import api as crm

        if field.errors or field.data is None:
            return
        person = crm.get_person(field.data)
        if person is None or person.erased:
            raise ValidationError(_l("No such person in the CRM."))

    def validate_organization_id(self, field):
        from plugins.crm import api as crm

        if not field.errors and field.data is not None and not crm.organization_names([field.data]):
            raise ValidationError(_l("No such organization in the CRM."))


class PersonIdsField(SelectMultipleField):
    """Person ids: a JSON list, checkboxes, or a text of ids separated by spaces, commas or lines."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, coerce=int, validate_choice=False, **kwargs)
        self.invalid: list[str] = []

    def process_formdata(self, valuelist):
        self.data, self.invalid = [], []
        for value in valuelist:
            for token in re.split(r"[\s,;]+", str(value)):
                token = token.strip().lstrip("#")
                if not token:
                    continue
                if token.isdigit() and 0 < int(token) < 2 ** 31:
                    self.data.append(int(token))
                else:
                    self.invalid.append(token)

    def pre_validate(self, form):
        if self.invalid:
            raise ValidationError(_("Not a person id: %(values)s.", values=", ".join(self.invalid[:10])))


class BulkRegistrationForm(Form):
    """Register several CRM persons at once (staff page, API): all of them, or none."""

    MAX = 5000

    person_ids = PersonIdsField(_l("Persons (ids)"))
    no_mail = BooleanField(_l("Do not send the confirmation e-mails"))

    def validate_person_ids(self, field):
        from plugins.crm import api as crm

        if field.errors:
            return
        if not field.data:
            raise ValidationError(_l("Choose at least one person."))
        if len(set(field.data)) > self.MAX:
            raise ValidationError(_l("At most %(n)s persons at once.", n=self.MAX))
        found = crm.get_persons(set(field.data))
        missing = [pid for pid in dict.fromkeys(field.data) if pid not in found or found[pid].erased]
        if missing:
            raise ValidationError(_l("No such person in the CRM: %(ids)s.",
                                     ids=", ".join(f"#{i}" for i in missing[:10])))


class RegistrationStatusForm(Form):
    status = SelectField(_l("Status"), choices=list(REGISTRATION_STATUSES.items()), validators=[DataRequired()])
    no_mail = BooleanField(_l("Do not send an e-mail"))


class InvitationForm(Form):
    """Invite a CRM segment or hand-picked persons (consent is checked when sending)."""

    segment_id = SelectField(_l("Segment"), coerce=_optional_int, validate_choice=True)
    person_ids = SelectMultipleField(_l("Persons"), coerce=int, validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from plugins.crm import api as crm

        cluster = g.get("cluster")
        segments = crm.list_segments(cluster.id) if cluster is not None else []
        self.segment_id.choices = [("", "—")] + [(sid, name) for sid, name in segments]

    def validate(self, extra_validators=None):
        if not super().validate(extra_validators):
            return False
        if bool(self.segment_id.data) == bool(self.person_ids.data):
            self.segment_id.errors.append(_l("Choose a segment, or pick persons, not both."))
            return False
        if self.person_ids.data:
            from plugins.crm import api as crm

            if len(self.person_ids.data) > 20000:
                self.person_ids.errors.append(_l("At most 20,000 persons at once."))
                return False
            found = crm.get_persons(self.person_ids.data)
            missing = [pid for pid in self.person_ids.data if pid not in found]
            if missing:
                self.person_ids.errors.append(
                    _l("No such person in the CRM: %(ids)s.", ids=", ".join(map(str, missing[:10]))))
                return False
        return True


def _lower(value):
    return value.strip().lower() if isinstance(value, str) else value


class PublicRegistrationForm(Form):
    """The public registration page (no login); ``website`` is a honeypot left empty by people."""

    first_name = StringField(_l("First name"), validators=[DataRequired(), Length(max=100)], filters=[_strip])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=100)], filters=[_strip])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254), email_validator], filters=[_lower])
    organization = StringField(_l("Organization"), validators=[Optional(), Length(max=200)], filters=[_strip])
    website = StringField(_l("Leave this field empty"), validators=[Optional(), Length(max=200)])
