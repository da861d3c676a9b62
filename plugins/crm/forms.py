"""CRM forms: the one validation path for pages, the JSON API and import rows.

The record forms accept ``check_duplicates=False`` (imports match duplicates
set-based instead of refusing them) and ``current_id`` (the record being edited).
"""

from __future__ import annotations

from datetime import date

from flask import has_request_context, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField, FileRequired
from markupsafe import Markup
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget, TextInput

from core import Form, db, today
from core import email_validator, siren_validator, siret_validator, vat_validator

from . import queries
from .competences import vocabulary
from .models import (
    CONSENT_PURPOSES,
    CONSENT_STATUSES,
    INTERACTION_KINDS,
    LANGUAGES,
    MEMBERSHIP_STATUSES,
    ORGANIZATION_KINDS,
    PERSON_FUNCTIONS,
    SIZE_BANDS,
    Competence,
    Organization,
    Person,
)
from .hierarchy import hierarchy_problem
from .nace import NACE_CODE
from .organizations import parse_tags


def _strip(value):
    return " ".join(value.split()) if isinstance(value, str) else value


def _upper(value):
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value):
    return value.strip().lower() if isinstance(value, str) else value


def _website(value):
    value = (value or "").strip()
    if value and "://" not in value:
        value = "https://" + value
    return value


def _choices(mapping: dict, blank: str | None = None) -> list[tuple[str, str]]:
    out = [("", blank)] if blank is not None else []
    return out + [(k, v) for k, v in mapping.items()]


class DuplicateMessage(str):
    """A field error naming the existing record: plain text in JSON, a link in pages."""

    def __new__(cls, text: str, label: str, url: str | None):
        obj = super().__new__(cls, f"{text} {label}" + (f" ({url})" if url else ""))
        obj.text, obj.label, obj.url = text, label, url
        return obj

    def __html__(self):
        if not self.url:
            return Markup("{} {}").format(self.text, self.label)
        return Markup('{} <a href="{}">{}</a>').format(self.text, self.url, self.label)


def _organization_exists(org_id: int) -> bool:
    return db.session.execute(select(Organization.id).where(Organization.id == org_id)).first() is not None


def _url(endpoint: str, **values) -> str | None:
    if not has_request_context():
        return None
    try:
        return url_for(endpoint, **values)
    except Exception:  # noqa: BLE001 - no cluster in this request: no link
        return None


class ChoiceField(SelectField):
    """A select whose value check is a set lookup (imports validate it for every row)."""

    def pre_validate(self, form):
        if not self.validate_choice:
            return
        allowed = self.__dict__.get("_allowed")
        if allowed is None or allowed[0] is not self.choices:
            values = frozenset(str(c[0]) if isinstance(c, (tuple, list)) else str(c) for c in self.choices or [])
            allowed = self._allowed = (self.choices, values)
        if self.data is None or str(self.data) not in allowed[1]:
            raise ValidationError(self.gettext("Not a valid choice."))


class TagListField(SelectMultipleField):
    """Tags as a comma-separated string (pages, imports) or a list of strings (JSON)."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, validate_choice=False, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:  # not in the submitted data: keep the object's tags
            return
        items: list[str] = []
        for value in valuelist:
            items.extend(parse_tags(value))
        self.data = parse_tags(items)

    def process_data(self, value):
        if value is None:
            self.data = []
        elif isinstance(value, str):
            self.data = parse_tags(value)
        else:
            self.data = [getattr(t, "name", t) for t in value]

    def _value(self):
        return ", ".join(self.data or [])


class CheckboxListField(SelectMultipleField):
    """Several ids ticked in a list (persons met); the choices are set by the view."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# -- organizations -------------------------------------------------------------------
class OrganizationForm(Form):
    """An organization's identity, classification and address."""

    legal_name = StringField(_l("Legal name"), validators=[DataRequired(), Length(max=200)], filters=[_strip])
    trade_name = StringField(_l("Trade name"), validators=[Optional(), Length(max=200)], filters=[_strip])
    siren = StringField(_l("SIREN"), validators=[Optional(), Length(max=20), siren_validator],
                        description=_l("9 digits (France); taken from the SIRET when empty."))
    siret = StringField(_l("SIRET"), validators=[Optional(), Length(max=30), siret_validator])
    vat_number = StringField(_l("EU VAT number"), validators=[Optional(), Length(max=30), vat_validator],
                             filters=[_upper])
    kind = ChoiceField(_l("Kind"), choices=_choices(ORGANIZATION_KINDS), default="company")
    sector = StringField(_l("Sector (NACE code)"), filters=[_strip], validators=[
        Optional(), Length(max=10), Regexp(NACE_CODE.pattern, message=_l("A NACE code such as 29 or 29.10 (or 29.10Z)."))],
        description=_l("e.g. 22.29 for plastic products, 29.10 for motor vehicles"))
    size_band = ChoiceField(_l("Employees"), choices=_choices(SIZE_BANDS, ""), default="")
    street = StringField(_l("Street"), validators=[Optional(), Length(max=200)], filters=[_strip])
    postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=20)], filters=[_strip])
    city = StringField(_l("City"), validators=[Optional(), Length(max=100)], filters=[_strip])
    country = StringField(_l("Country"), filters=[_upper], validators=[
        Optional(), Length(max=2, message=_l("Two letters, e.g. FR or AT.")),
        Regexp(r"^[A-Z]{2}$", message=_l("Two letters, e.g. FR or AT."))], default="FR")
    website = StringField(_l("Website"), filters=[_website], validators=[
        Optional(), Length(max=300),
        Regexp(r"^https?://[^\s/$.?#][^\s]*\.[^\s]+$", message=_l("Not a web address (https://example.com)."))])
    parent_id = IntegerField(_l("Parent organization (id)"), validators=[Optional(), NumberRange(min=1)],
                             description=_l("The group this organization belongs to."))
    tags = TagListField(_l("Tags"), description=_l("Separated by commas."))

    def __init__(self, *args, current_id: int | None = None, check_duplicates: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_id = current_id
        self.check_duplicates = check_duplicates

    def _refuse_duplicate(self, field, column, text):
        if not self.check_duplicates or field.errors or not field.data:
            return
        stmt = select(Organization.id, Organization.legal_name, Organization.trade_name).where(column == field.data)
        if self.current_id is not None:
            stmt = stmt.where(Organization.id != self.current_id)
        row = db.session.execute(stmt.limit(1)).first()
        if row is not None:
            raise ValidationError(DuplicateMessage(text, row.trade_name or row.legal_name,
                                                   _url("crm.organization", org_id=row.id)))

    def validate_siren(self, field):
        self._refuse_duplicate(field, Organization.siren, _l("An organization with this SIREN exists already:"))

    def validate_siret(self, field):
        if field.data and not field.errors and self.siren.data and not self.siren.errors \
                and not field.data.startswith(self.siren.data):
            raise ValidationError(_l("This SIRET does not belong to the SIREN given."))
        self._refuse_duplicate(field, Organization.siret, _l("An organization with this SIRET exists already:"))

    def validate_vat_number(self, field):
        self._refuse_duplicate(field, Organization.vat_number,
                               _l("An organization with this VAT number exists already:"))

    def validate_parent_id(self, field):
        if field.data is None or field.errors:
            return
        if self.current_id is not None and field.data == field.object_data:
            return  # unchanged: an organization caught in a loop written before stays editable
        if not self.check_duplicates:  # imports check their lot at once (hierarchy_problems)
            return
        if field.data != self.current_id and not _organization_exists(field.data):
            raise ValidationError(_l("No organization has this id."))
        # what the hierarchy says now; hierarchy.set_parent checks again under its lock
        names = (self._fields.get("trade_name"), self._fields.get("legal_name"))
        problem = hierarchy_problem(self.current_id, field.data,
                                    name=next((f.data for f in names if f is not None and f.data), ""))
        if problem:
            raise ValidationError(problem)

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if ok and self.siret.data and not self.siren.data:
            self.siren.data = self.siret.data[:9]
            try:
                self.validate_siren(self.siren)
            except ValidationError as exc:
                self.siret.errors = list(self.siret.errors) + [exc.args[0]]
                ok = False
        return ok


# -- persons -------------------------------------------------------------------------
class PersonForm(Form):
    """A person's identity and contact details, and their main organization."""

    first_name = StringField(_l("First name"), validators=[Optional(), Length(max=100)], filters=[_strip])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=100)], filters=[_strip])
    email = EmailField(_l("E-mail"), validators=[Optional(), Length(max=254), email_validator], filters=[_lower])
    phone = StringField(_l("Phone"), filters=[_strip], validators=[
        Optional(), Length(max=40),
        Regexp(r"^\+?[0-9 ().\-/]{4,40}$", message=_l("Digits, spaces and + ( ) . - / only."))])
    job_title = StringField(_l("Job title"), validators=[Optional(), Length(max=150)], filters=[_strip])
    function = ChoiceField(_l("Function"), choices=_choices(PERSON_FUNCTIONS, ""), default="")
    language = ChoiceField(_l("Language for mailings"), choices=_choices(LANGUAGES, ""), default="")
    organization_id = IntegerField(_l("Organization (id)"), validators=[Optional(), NumberRange(min=1)])
    role = StringField(_l("Role in the organization"), validators=[Optional(), Length(max=100)], filters=[_strip])

    def __init__(self, *args, current_id: int | None = None, check_duplicates: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_id = current_id
        self.check_duplicates = check_duplicates

    def validate_email(self, field):
        if field.data:
            field.data = field.data.lower()
        if not self.check_duplicates or field.errors or not field.data:
            return
        stmt = select(Person.id, Person.first_name, Person.last_name).where(Person.email == field.data)
        if self.current_id is not None:
            stmt = stmt.where(Person.id != self.current_id)
        row = db.session.execute(stmt.limit(1)).first()
        if row is not None:
            raise ValidationError(DuplicateMessage(_l("A person with this e-mail exists already:"),
                                                   f"{row.first_name} {row.last_name}".strip(),
                                                   _url("crm.person", person_id=row.id)))

    def validate_organization_id(self, field):
        if field.data is not None and not field.errors and self.check_duplicates \
                and not _organization_exists(field.data):
            raise ValidationError(_l("No organization has this id."))


class PersonLinkForm(Form):
    """Link a person to one more organization."""

    organization_id = IntegerField(_l("Organization (id)"), validators=[DataRequired(), NumberRange(min=1)])
    role = StringField(_l("Role"), validators=[Optional(), Length(max=100)], filters=[_strip])
    main = BooleanField(_l("Main organization"))

    def validate_organization_id(self, field):
        if field.data and not _organization_exists(field.data):
            raise ValidationError(_l("No organization has this id."))


class ConsentForm(Form):
    """A consent given or withdrawn: for what, when and how."""

    purpose = ChoiceField(_l("Purpose"), choices=_choices(CONSENT_PURPOSES), validators=[DataRequired()])
    status = ChoiceField(_l("Consent"), choices=_choices(CONSENT_STATUSES), validators=[DataRequired()])
    on = DateField(_l("Date"), validators=[Optional()], description=_l("Today when empty."))
    method = StringField(_l("How"), validators=[DataRequired(), Length(max=200)], filters=[_strip],
                         description=_l("e.g. signed form, e-mail of 3 March, phone call"))

    def validate_on(self, field):
        if field.data and field.data > today():
            raise ValidationError(_l("A consent cannot be dated in the future."))


# -- memberships and interactions ------------------------------------------------------
class MembershipForm(Form):
    """An organization's membership of the current cluster over a period."""

    organization_id = IntegerField(_l("Organization (id)"), validators=[DataRequired(), NumberRange(min=1)])
    status = ChoiceField(_l("Status"), choices=_choices(MEMBERSHIP_STATUSES), validators=[DataRequired()])
    start_date = DateField(_l("Start"), validators=[DataRequired()])
    end_date = DateField(_l("End"), validators=[Optional()])
    fee_tier = StringField(_l("Fee tier"), validators=[Optional(), Length(max=60)], filters=[_strip])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])

    def validate_organization_id(self, field):
        if field.data and not _organization_exists(field.data):
            raise ValidationError(_l("No organization has this id."))

    def validate_end_date(self, field):
        if field.data and self.start_date.data and field.data < self.start_date.data:
            raise ValidationError(_l("The end comes before the start."))


class InteractionForm(Form):
    """A visit, call, meeting, e-mail or note about an organization."""

    organization_id = IntegerField(_l("Organization (id)"), validators=[DataRequired(), NumberRange(min=1)])
    kind = ChoiceField(_l("Kind"), choices=_choices(INTERACTION_KINDS), default="visit")
    date = DateField(_l("Date"), validators=[DataRequired()], default=date.today)
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)], filters=[_strip])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=20000)])
    persons = CheckboxListField(_l("Persons met"), coerce=int, choices=[], validate_choice=False)
    follow_up_on = DateField(_l("Follow up on"), validators=[Optional()])
    follow_up_done = BooleanField(_l("Follow-up done"))

    def validate_organization_id(self, field):
        if field.data and not _organization_exists(field.data):
            raise ValidationError(_l("No organization has this id."))

    def validate_persons(self, field):
        ids = set(field.data or [])
        if ids:
            found = set(db.session.execute(select(Person.id).where(Person.id.in_(ids))).scalars())
            if ids - found:
                raise ValidationError(_l("Unknown person id(s): %(ids)s",
                                         ids=", ".join(str(i) for i in sorted(ids - found))))


class FollowUpForm(Form):
    """Mark a follow-up done (or not)."""

    follow_up_done = BooleanField(_l("Follow-up done"))


# -- competences ---------------------------------------------------------------------
class CompetenceForm(Form):
    """A brick of know-how in the shared vocabulary."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)], filters=[_strip])
    category = StringField(_l("Category"), validators=[Optional(), Length(max=80)], filters=[_strip])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])

    def __init__(self, *args, current_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_id = current_id

    def validate_name(self, field):
        from .text import normalize

        stmt = select(Competence.id).where(Competence.key == normalize(field.data or ""))
        if self.current_id is not None:
            stmt = stmt.where(Competence.id != self.current_id)
        if db.session.execute(stmt).first():
            raise ValidationError(_l("This competence is in the vocabulary already."))


class OrganizationCompetenceForm(Form):
    """Add a competence or a need to an organization (an existing one, or a new name)."""

    competence_id = IntegerField(_l("Competence (id)"), validators=[Optional(), NumberRange(min=1)])
    name = StringField(_l("Or a new competence"), validators=[Optional(), Length(max=120)], filters=[_strip])
    kind = ChoiceField(_l("As"), choices=[("has", _l("a competence")), ("needs", _l("a need"))], default="has")

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if ok and not self.competence_id.data and not self.name.data:
            self.competence_id.errors = [_l("Choose a competence or name a new one.")]
            return False
        if ok and self.competence_id.data and db.session.get(Competence, self.competence_id.data) is None:
            self.competence_id.errors = [_l("No competence has this id.")]
            return False
        return ok


# -- filters and segments ---------------------------------------------------------------
class OrganizationFilterForm(Form):
    """The filters of the organization list (query string), also saved as segments."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)])
    kind = ChoiceField(_l("Kind"), choices=_choices(ORGANIZATION_KINDS, _l("any")), default="")
    sector = StringField(_l("Sector"), validators=[
        Optional(), Length(max=10), Regexp(r"^\d{1,2}(\.\d{0,2}[A-Z]?)?$", message=_l("A NACE code or its start, e.g. 29 or 22.2."))])
    size = ChoiceField(_l("Employees"), choices=_choices(SIZE_BANDS, _l("any")), default="")
    country = StringField(_l("Country"), filters=[_upper], validators=[
        Optional(), Length(max=2, message=_l("Two letters, e.g. FR or AT.")),
        Regexp(r"^[A-Z]{2}$", message=_l("Two letters, e.g. FR or AT."))])
    tag = StringField(_l("Tag"), validators=[Optional(), Length(max=60)])
    competence = ChoiceField(_l("Competence"), choices=[], default="", validate_choice=True)
    need = ChoiceField(_l("Need"), choices=[], default="", validate_choice=True)
    membership = ChoiceField(_l("Membership here"), default="", choices=[
        ("", _l("any")), ("member", _l("Member")), ("prospect", _l("Prospect")), ("former", _l("Former member")),
        ("none", _l("Never a member"))])

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("meta", {"csrf": False})
        super().__init__(*args, **kwargs)
        choices = [("", _l("any"))] + [(str(cid), name) for cid, name in vocabulary()]
        self.competence.choices = choices
        self.need.choices = choices

    @property
    def values(self) -> dict:
        """The filters as a plain dict (what a segment stores)."""
        return queries.clean({name: self[name].data for name in queries.FILTER_KEYS})


class SegmentForm(Form):
    """Save the current filters under a name."""

    name = StringField(_l("Segment name"), validators=[DataRequired(), Length(max=120)], filters=[_strip])

    def validate_name(self, field):
        from .models import Segment

        # Segment is cluster-scoped: this looks in the current cluster only
        if db.session.execute(select(Segment.id).where(Segment.name == field.data)).first():
            raise ValidationError(_l("This cluster has a segment with this name already."))


class ImportForm(Form):
    """Upload a CSV or XLSX file of organizations or persons."""

    file = FileField(_l("File (CSV or XLSX, at most 50 MB)"), validators=[
        FileRequired(_l("Choose a file.")),
        FileAllowed(["csv", "txt", "xlsx"], _l("A CSV (.csv, .txt) or Excel (.xlsx) file."))])
    kind = ChoiceField(_l("The file holds"), choices=[("organizations", _l("organizations")),
                                                      ("persons", _l("persons"))])
    on_duplicate = ChoiceField(_l("When a row matches an existing record"), choices=[
        ("update", _l("update the record")), ("skip", _l("skip the row"))],
        description=_l("Organizations match by SIREN, SIRET, VAT number or id; persons by e-mail or id."))
    delimiter = ChoiceField(_l("CSV delimiter"), choices=[("", _l("detect")), (",", _l("comma")),
                                                          (";", _l("semicolon")), ("tab", _l("tab"))], default="")
    encoding = ChoiceField(_l("CSV encoding"), choices=[("", _l("detect (UTF-8, else Latin-1)")),
                                                        ("utf-8", "UTF-8"), ("latin-1", "Latin-1 / ISO-8859-1"),
                                                        ("cp1252", "Windows-1252")], default="")
    mapping = TextAreaField(_l("Column mapping (optional)"), validators=[Optional(), Length(max=5000)],
                            description=_l("One per line: “column in the file = field”, e.g. “Dénomination = "
                                           "legal_name”, for columns whose names are not recognized."))

    def validate_mapping(self, field):
        from .importing.reading import ORGANIZATION_ALIASES, PERSON_ALIASES

        fields = ORGANIZATION_ALIASES if self.kind.data == "organizations" else PERSON_ALIASES
        self.mapping_dict = {}
        for number, line in enumerate((field.data or "").splitlines(), 1):
            if not line.strip():
                continue
            column, sep, name = line.rpartition("=")
            if not sep or not column.strip():
                raise ValidationError(_l("Line %(n)s: write “column = field”.", n=number))
            if name.strip() not in fields:
                raise ValidationError(_l("Line %(n)s: unknown field “%(f)s” (one of: %(all)s).", n=number,
                                         f=name.strip(), all=", ".join(fields)))
            self.mapping_dict[column.strip()] = name.strip()
