"""Billing forms: the one validation path for the pages and the JSON API.

The service form follows the headings of the service checklist (docs/billing.md): its
``SECTIONS`` say which fields each heading holds, and the page renders them in that order.
A price form checks what each pricing mode needs, and refuses what a mode does not use.
"""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget, TextArea, TextInput

from core import DecimalField, Form, db
from plugins.crm import api as crm

from .models import (
    COMPANY_FUNCTIONS,
    COST_BEHAVIOURS,
    PRICING_MODES,
    RENEWALS,
    REVENUE_FAMILIES,
    SIZE_BANDS,
    SUBSCRIPTION_PERIODS,
    VAT_CATEGORIES,
    VAT_WITHOUT_RATE,
    Range,
    Service,
)
from .models import FR_REGIONS, SALE_MODES, SALE_STATUSES, SHARE_KINDS, WHEN_EXHAUSTED, FundingScheme
from .models import QUOTE_STATUSES, SUBSCRIPTION_STATUSES, Price  # slice 2b
from wtforms.validators import InputRequired  # slice 2b
from core import email_validator, today  # slice 2b

TEXT = 5000  # a description field of the checklist
NACE_CODE = r"^\d{2}(\.\d{1,2}[A-Z]?)?$"  # as the CRM's sector of an organization: 29, 29.1, 29.10, 29.10Z
CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def _strip(value):
    return " ".join(value.split()) if isinstance(value, str) else value


def _choices(mapping: dict, blank: str | None = None) -> list[tuple[str, str]]:
    return ([("", blank)] if blank is not None else []) + list(mapping.items())


def _optional_id(value):
    """A select's value as an id, ``None`` for its empty choice."""
    if value in (None, "", "None"):
        return None
    return int(value)


def _text(label, description=None, max_length=TEXT):
    return TextAreaField(label, validators=[Optional(), Length(max=max_length)], filters=[_tidy],
                         description=description)


def _tidy(value):
    return value.strip() if isinstance(value, str) else value


def _amount(label, description=None, digits=12):
    return DecimalField(label, places=2, digits=digits, validators=[Optional(), NumberRange(min=0)],
                        description=description)


class LinesField(SelectMultipleField):
    """A list of short texts: one per line in a page's text area, a list of strings in JSON."""

    widget = TextArea()
    separator = "\n"

    def __init__(self, label=None, validators=None, *, max_items=30, max_length=300, **kwargs):
        super().__init__(label, validators, validate_choice=False, **kwargs)
        self.max_items, self.max_length = max_items, max_length
        self.openapi_schema = {"type": "array", "maxItems": max_items,
                               "items": {"type": "string", "maxLength": max_length}}

    def _split(self, value: str) -> list[str]:
        parts = value.splitlines() if self.separator == "\n" else value.split(self.separator)
        return [" ".join(p.split()) for p in parts if p.strip()]

    def process_formdata(self, valuelist):
        items: list[str] = []
        for value in valuelist:
            items.extend(self._split(value))
        self.data = list(dict.fromkeys(items))

    def process_data(self, value):
        self.data = list(value or [])

    def _value(self):
        joiner = "\n" if self.separator == "\n" else f"{self.separator} "
        return joiner.join(self.data or [])

    def pre_validate(self, form):
        if len(self.data or []) > self.max_items:
            raise ValidationError(_l("At most %(n)s items.", n=self.max_items))
        for item in self.data or []:
            if len(item) > self.max_length:
                raise ValidationError(_l("Each item has at most %(n)s characters.", n=self.max_length))


class NaceCodesField(LinesField):
    """NACE codes (as the CRM's sector of an organization), separated by commas."""

    widget = TextInput()
    separator = ","

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, max_items=40, max_length=10, **kwargs)
        self.openapi_schema["items"]["pattern"] = NACE_CODE

    def _split(self, value: str) -> list[str]:
        return [p.strip().upper() for p in value.split(",") if p.strip()]

    def pre_validate(self, form):
        super().pre_validate(form)
        bad = [code for code in self.data or [] if not re.match(NACE_CODE, code)]
        if bad:
            raise ValidationError(_l("Not a NACE code: %(codes)s (e.g. 29 or 29.10).", codes=", ".join(bad[:5])))


def _checkboxes(label, mapping, description=None):
    return SelectMultipleField(label, choices=list(mapping.items()), description=description,
                               widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())


def range_choices() -> list[tuple[str, str]]:
    """The current cluster's ranges as select choices (the core scopes the query)."""
    rows = db.session.execute(select(Range.id, Range.name).order_by(Range.name)).all()
    return [("", _l("No range"))] + [(str(rid), name) for rid, name in rows]


# -- ranges ----------------------------------------------------------------------------------
class RangeForm(Form):
    """A range: services sharing relational work, information and experts."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)], filters=[_strip])
    description = _text(_l("Description"))
    shared_relations = _text(_l("Relational work shared"),
                             _l("The contacts, visits and follow-up that serve every service of the range."))
    shared_information = _text(_l("Information shared"), _l("What the services learn and reuse from one another."))
    shared_experts = _text(_l("Experts shared"), _l("The network of experts the services call on."))

    def __init__(self, *args, current_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_id = current_id

    def validate_name(self, field):
        stmt = select(Range.id).where(Range.name == field.data)  # scoped: this cluster's ranges
        if self.current_id is not None:
            stmt = stmt.where(Range.id != self.current_id)
        if db.session.execute(stmt.limit(1)).first() is not None:
            raise ValidationError(_l("This cluster has a range with this name already."))


# -- services ----------------------------------------------------------------------------------
class ServiceForm(Form):
    """A service of the catalogue, in the sections of the service checklist."""

    SECTIONS = (
        (_l("The service"), ("name", "code", "range_id", "status", "revenue_family")),
        (_l("1. Value delivered"), ("problem", "solution", "service_rendered", "direct_gain", "indirect_gains")),
        (_l("Target and prerequisites"), ("size_bands", "sectors", "functions", "target_traits", "prerequisites")),
        (_l("2. Process: coordination and volume"),
         ("unit", "coordination_hours", "coordination_cost", "planned_volume")),
        (_l("3. Competences and network"), ("inhouse_competences", "downstream_competences")),
        (_l("4. Design"), ("promise", "tools", "deliverables", "duration", "calendar", "evaluation_questions",
                           "relationship_after")),
        (_l("5. Tax"), ("vat_category", "vat_rate")),
    )

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)], filters=[_strip])
    code = StringField(_l("Code"), filters=[_strip], validators=[
        Optional(), Length(max=30), Regexp(CODE, message=_l("Letters, digits, dots, dashes and underscores."))],
        description=_l("A short reference, e.g. DIAG-ENERGY."))
    range_id = SelectField(_l("Range"), coerce=_optional_id, validate_choice=True)
    status = SelectField(_l("Status"), choices=[("draft", _l("Draft")), ("on_sale", _l("On sale"))],
                         default="draft", description=_l("Retire a service with its own button: it keeps its history."))
    revenue_family = SelectField(_l("Revenue family"), choices=_choices(REVENUE_FAMILIES), default="other",
                                 description=_l("Where its revenue counts in the self-financing figures."))
    # 1. value
    problem = _text(_l("Problem solved"))
    solution = _text(_l("Solution"))
    service_rendered = _text(_l("Concrete service rendered"), _l("What the user gets, concrete and measurable."))
    direct_gain = _text(_l("Direct gain for the user"), _l("Margin, turnover, savings."))
    indirect_gains = _text(_l("Indirect gains"), _l("Image, strategy, network."))
    # target
    size_bands = _checkboxes(_l("Company sizes"), SIZE_BANDS)
    sectors = NaceCodesField(_l("Sectors (NACE codes)"), description=_l("Separated by commas, e.g. 22, 29.10."))
    functions = _checkboxes(_l("Functions in the company"), COMPANY_FUNCTIONS)
    target_traits = _text(_l("Specific traits of the target"))
    prerequisites = _text(_l("Prerequisites"), _l("What the user must have for the service to be useful."))
    # 2. process
    unit = StringField(_l("Unit delivered"), validators=[Optional(), Length(max=60)], filters=[_strip],
                       description=_l("What one unit is, e.g. one diagnostic, one trainee, one year of membership."))
    coordination_hours = _amount(_l("Coordination hours per unit"),
                                 _l("Steering the steps and managing the experts, valued at the hourly cost."), digits=8)
    coordination_cost = _amount(_l("Other coordination cost per unit"))
    planned_volume = IntegerField(_l("Planned volume (units a year)"),
                                  validators=[Optional(), NumberRange(min=1, max=1_000_000)],
                                  description=_l("Spreads the fixed costs over the units in the unit cost."))
    # 3. competences and network
    inhouse_competences = SelectMultipleField(_l("In-house technical competences"), coerce=int,
                                              description=_l("From the CRM's competence vocabulary."))
    downstream_competences = LinesField(_l("Downstream relational competences"), max_items=20, max_length=200,
                                        description=_l("Understanding the user, evaluating satisfaction: one per line."))
    # 4. design
    promise = _text(_l("Promise"), _l("Clear, bounded, tangible."))
    tools = _text(_l("Tools handed to the user"))
    deliverables = _text(_l("Deliverables"))
    duration = StringField(_l("Duration"), validators=[Optional(), Length(max=200)], filters=[_strip],
                           description=_l("e.g. three half-days over two months."))
    calendar = _text(_l("Calendar"))
    evaluation_questions = LinesField(_l("Joint evaluation questions"), max_items=30, max_length=300,
                                      description=_l("The formal end of the service, asked with the user: one per line."))
    relationship_after = _text(_l("The relationship afterwards"))
    # 5. tax
    vat_category = SelectField(_l("VAT category"), choices=_choices(VAT_CATEGORIES), default="standard")
    vat_rate = DecimalField(_l("VAT rate (%)"), places=2, digits=5, default=Decimal("20.00"),
                            validators=[Optional(), NumberRange(min=0, max=100)])

    def __init__(self, *args, current_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_id = current_id
        self.range_id.choices = range_choices()
        self.inhouse_competences.choices = crm.competence_choices()

    def sections(self):
        """``(heading, [bound fields])`` in the order of the checklist."""
        return [(heading, [self[name] for name in names]) for heading, names in self.SECTIONS]

    def validate_code(self, field):
        if not field.data:
            return
        stmt = select(Service.id).where(Service.code == field.data)  # scoped: this cluster's services
        if self.current_id is not None:
            stmt = stmt.where(Service.id != self.current_id)
        if db.session.execute(stmt.limit(1)).first() is not None:
            raise ValidationError(_l("Another service of this cluster has this code."))

    def validate_vat_rate(self, field):
        if self.vat_category.data in VAT_WITHOUT_RATE and field.data:
            if not field.raw_data:  # not given (the default rate): this category has none
                field.data = Decimal("0.00")
                return
            raise ValidationError(_l("This VAT category has no rate: leave it at 0."))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        rate = self.vat_rate
        if self.vat_category.data in ("standard", "reduced") and rate.data is None and not rate.errors:
            rate.errors = [*rate.errors, _l("Give the VAT rate of this category.")]
            return False
        return ok


# -- steps -------------------------------------------------------------------------------------
class StepForm(Form):
    """A step of a service's process and its production cost."""

    name = StringField(_l("Step"), validators=[DataRequired(), Length(max=200)], filters=[_strip])
    operations = _text(_l("Operations"))
    competences = SelectMultipleField(_l("Competences needed"), coerce=int,
                                      description=_l("From the CRM's competence vocabulary."))
    resources = _text(_l("Resources used"), _l("Information, knowledge, expertise."))
    value_brick = _text(_l("Brick of value added"))
    cost_behaviour = SelectField(_l("Cost"), choices=_choices(COST_BEHAVIOURS), default="per_unit",
                                 description=_l("Spent for each unit delivered, or once a year whatever the volume."))
    purchases = _amount(_l("Purchases"))
    staff_hours = _amount(_l("Staff hours"), _l("Valued at the cluster's hourly cost."), digits=8)
    external_fees = _amount(_l("External fees"))
    overheads = _amount(_l("Share of overheads"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.competences.choices = crm.competence_choices()


class StepOrderForm(Form):
    """The steps of a service in their new order (every step, each once)."""

    step_ids = SelectMultipleField(_l("Steps in order"), coerce=int, validate_choice=False,
                                   validators=[DataRequired()])


class MoveStepForm(Form):
    direction = SelectField(_l("Direction"), choices=[("up", _l("Up")), ("down", _l("Down"))],
                            validators=[DataRequired()])


class ExpertForm(Form):
    """An external expert of a service: a CRM person or organization (or both)."""

    person_id = IntegerField(_l("Person (id)"), validators=[Optional(), NumberRange(min=1)])
    organization_id = IntegerField(_l("Organization (id)"), validators=[Optional(), NumberRange(min=1)])
    role = StringField(_l("Called for"), validators=[Optional(), Length(max=200)], filters=[_strip])

    def validate_person_id(self, field):
        if field.data is not None and crm.get_person(field.data) is None:
            raise ValidationError(_l("No person with this id in the CRM."))

    def validate_organization_id(self, field):
        if field.data is not None and not crm.organization_names([field.data]):
            raise ValidationError(_l("No organization with this id in the CRM."))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if ok and self.person_id.data is None and self.organization_id.data is None:
            self.person_id.errors = [*self.person_id.errors, _l("Give a person or an organization.")]
            return False
        return ok


class CopyServiceForm(Form):
    name = StringField(_l("Name of the new service"), validators=[Optional(), Length(max=200)], filters=[_strip])


# -- prices ------------------------------------------------------------------------------------
# which fields each pricing mode uses (besides mode, label, valid_from, valid_until)
MODE_FIELDS = {
    "catalogue": {"unit", "member_amount", "non_member_amount"},
    "pay_per_use": {"unit", "member_amount", "non_member_amount"},
    "flat_fee": {"member_amount", "non_member_amount"},
    "subscription": {"member_amount", "non_member_amount", "period", "renewal"},
    "quote": set(),
    "success_fee": {"member_rate", "non_member_rate", "floor_amount", "cap_amount"},
    "membership_fee": {"member_amount", "fee_tier", "pro_rata"},
}
MODE_REQUIRED = {
    "catalogue": ("unit", "member_amount"),
    "pay_per_use": ("unit", "member_amount"),
    "flat_fee": ("member_amount",),
    "subscription": ("member_amount", "period", "renewal"),
    "quote": (),
    "success_fee": ("member_rate",),
    "membership_fee": ("member_amount",),
}
TERMS = ("unit", "member_amount", "non_member_amount", "period", "renewal", "member_rate", "non_member_rate",
         "floor_amount", "cap_amount", "fee_tier", "pro_rata")


def _rate(label):
    return DecimalField(label, places=2, digits=5, validators=[Optional(), NumberRange(min=0, max=100)])


class PriceForm(Form):
    """A new price of a service: its pricing mode and the terms this mode uses."""

    mode = SelectField(_l("Pricing mode"), choices=_choices(PRICING_MODES), validators=[DataRequired()])
    label = StringField(_l("Label"), validators=[Optional(), Length(max=120)], filters=[_strip],
                        description=_l("e.g. Seat, In-company session, Tier A."))
    unit = StringField(_l("Unit"), validators=[Optional(), Length(max=60)], filters=[_strip],
                       description=_l("Catalogue price and pay per use: per what, e.g. hour, diagnostic."))
    member_amount = _amount(_l("Member price (excl. VAT)"))
    non_member_amount = _amount(_l("Non-member price (excl. VAT)"), _l("Empty: members only."))
    period = SelectField(_l("Subscription period"), choices=_choices(SUBSCRIPTION_PERIODS, ""), default="")
    renewal = SelectField(_l("Renewal"), choices=_choices(RENEWALS, ""), default="")
    member_rate = _rate(_l("Success fee, members (%)"))
    non_member_rate = _rate(_l("Success fee, non-members (%)"))
    floor_amount = _amount(_l("Success fee floor"))
    cap_amount = _amount(_l("Success fee cap"))
    fee_tier = StringField(_l("Membership fee tier"), validators=[Optional(), Length(max=60)], filters=[_strip],
                           description=_l("As on the CRM's memberships; empty: any tier."))
    pro_rata = BooleanField(_l("Pro rata for a member joining during the year"))
    valid_from = DateField(_l("Valid from"), validators=[DataRequired()])
    valid_until = DateField(_l("Valid until"), validators=[Optional()], description=_l("Empty: until further notice."))

    def validate_valid_until(self, field):
        if field.data and self.valid_from.data and field.data < self.valid_from.data:
            raise ValidationError(_l("The end comes before the start."))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        mode = self.mode.data
        if mode not in MODE_FIELDS:
            return ok
        used = MODE_FIELDS[mode]
        for name in TERMS:
            fld = self[name]
            given = fld.data not in (None, "", False, [])
            if given and name not in used and not fld.errors:
                fld.errors = [*fld.errors, _l("Not used by this pricing mode.")]
                ok = False
        for name in MODE_REQUIRED[mode]:
            fld = self[name]
            if fld.data in (None, "") and not fld.errors:
                fld.errors = [*fld.errors, _l("Required for this pricing mode.")]
                ok = False
        low, high = self.floor_amount.data, self.cap_amount.data
        if low is not None and high is not None and low > high and not self.cap_amount.errors:
            self.cap_amount.errors = [*self.cap_amount.errors, _l("The cap is below the floor.")]
            ok = False
        return ok

    def terms(self) -> dict:
        """The validated terms of the mode (the others empty), as the price row stores them."""
        used = MODE_FIELDS[self.mode.data]
        empty = {"unit": "", "period": "", "renewal": "", "fee_tier": "", "pro_rata": False}
        return {name: (self[name].data if name in used else empty.get(name))
                for name in TERMS} | {"mode": self.mode.data, "label": self.label.data or "",
                                      "valid_from": self.valid_from.data, "valid_until": self.valid_until.data}


class ClosePriceForm(Form):
    """The last day a price is valid (set once)."""

    valid_until = DateField(_l("Last day of validity"), validators=[DataRequired()])


class ChargeForm(Form):
    """What a service costs an organization (query string of the API's ``/charge``)."""

    KEYS = ("organization_id", "on", "mode", "fee_tier", "joined_on", "quantity", "amount_obtained")

    organization_id = IntegerField(_l("Organization (id)"), validators=[Optional(), NumberRange(min=1)])
    on = DateField(_l("Day of the service"), validators=[DataRequired()])
    mode = SelectField(_l("Pricing mode"), choices=_choices(PRICING_MODES), validators=[DataRequired()])
    fee_tier = StringField(_l("Membership fee tier"), validators=[Optional(), Length(max=60)], filters=[_strip])
    joined_on = DateField(_l("Joined on"), validators=[Optional()])
    quantity = DecimalField(_l("Quantity"), places=2, digits=12, validators=[Optional(), NumberRange(min=0)])
    amount_obtained = _amount(_l("Amount obtained"))


# -- filters -----------------------------------------------------------------------------------
class CatalogueFilterForm(Form):
    """The filters of the catalogue (query string): range, status, revenue family, search."""

    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)])
    range = SelectField(_l("Range"), coerce=_optional_id, validate_choice=True)
    status = SelectField(_l("Status"), default="", choices=[
        ("", _l("any")), ("draft", _l("Draft")), ("on_sale", _l("On sale")), ("retired", _l("Retired"))])
    family = SelectField(_l("Revenue family"), choices=_choices(REVENUE_FAMILIES, _l("any")), default="")

    KEYS = ("q", "range", "status", "family")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("meta", {"csrf": False})
        super().__init__(*args, **kwargs)
        self.range.choices = [("", _l("any"))] + range_choices()[1:]

    @property
    def values(self) -> dict:
        """The filters given, as a plain dict."""
        return {name: self[name].data for name in self.KEYS if self[name].data not in (None, "")}


# -- slice 2a: funding schemes (third-party payers) and one-off sales ---------------------------
POSTCODE_PREFIX = r"^[0-9A-Z]{1,10}$"


class PostcodesField(LinesField):
    """Postcode prefixes (``69``, ``38000``), separated by commas."""

    widget = TextInput()
    separator = ","

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, max_items=200, max_length=10, **kwargs)
        self.openapi_schema["items"]["pattern"] = POSTCODE_PREFIX

    def _split(self, value: str) -> list[str]:
        return ["".join(p.split()).upper() for p in value.split(",") if p.strip()]

    def pre_validate(self, form):
        super().pre_validate(form)
        bad = [code for code in self.data or [] if not re.match(POSTCODE_PREFIX, code)]
        if bad:
            raise ValidationError(_l("Not a postcode or the start of one: %(codes)s (e.g. 69 or 38000).",
                                     codes=", ".join(bad[:5])))


def service_choices(on_sale: bool = False) -> list[tuple[int, str]]:
    """The current cluster's services as ``(id, name)`` choices, by name (on sale only, or all)."""
    stmt = select(Service.id, Service.name, Service.code).order_by(Service.name, Service.id)
    if on_sale:
        stmt = stmt.where(Service.status == "on_sale")
    return [(sid, f"{name} ({code})" if code else name) for sid, name, code in db.session.execute(stmt)]


def scheme_choices() -> list[tuple[int, str]]:
    """The current cluster's funding schemes as ``(id, name)`` choices, by name."""
    rows = db.session.execute(select(FundingScheme.id, FundingScheme.name).order_by(FundingScheme.name,
                                                                                     FundingScheme.id))
    return [(sid, name) for sid, name in rows]


def _organization_exists(form, field):
    if field.data is not None and not crm.organization_names([field.data]):
        raise ValidationError(_l("No organization with this id in the CRM."))


def _person_exists(form, field):
    if field.data is not None and crm.get_person(field.data) is None:
        raise ValidationError(_l("No person with this id in the CRM."))


class FundingSchemeForm(Form):
    """A third-party payer's funding scheme: the payer, the services, the share and its
    limits, who is eligible, the counterpart, the validity."""

    SECTIONS = (
        (_l("The scheme and its payer"), ("name", "payer_id", "reference", "service_ids")),
        (_l("What it pays"), ("share_kind", "share_rate", "share_amount", "cap_per_beneficiary", "envelope",
                              "when_exhausted")),
        (_l("Who is eligible"), ("size_bands", "sectors", "postcodes", "regions", "country", "members_only")),
        (_l("Counterpart and validity"), ("counterpart", "valid_from", "valid_until")),
    )

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)], filters=[_strip])
    payer_id = IntegerField(_l("Payer (organization id)"), validators=[DataRequired(), NumberRange(min=1),
                                                                        _organization_exists],
                            description=_l("The CRM organization that pays: a region, an agency, an OPCO."))
    reference = StringField(_l("Agreement number"), validators=[Optional(), Length(max=60)], filters=[_strip])
    service_ids = SelectMultipleField(_l("Services it co-funds"), coerce=int, validators=[DataRequired()],
                                      widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    share_kind = SelectField(_l("Share"), choices=_choices(SHARE_KINDS), default="percent")
    share_rate = _rate(_l("Share of the price (%)"))
    share_amount = _amount(_l("Amount per unit sold"), _l("Never more than the price."))
    cap_per_beneficiary = _amount(_l("Cap per beneficiary"),
                                  _l("The most it pays for one organization over the scheme's life. Empty: no cap."))
    envelope = _amount(_l("Envelope"), _l("The most it pays in all. Empty: no limit."))
    when_exhausted = SelectField(_l("When it can pay nothing more"), choices=_choices(WHEN_EXHAUSTED),
                                 default="full_price",
                                 description=_l("The envelope is used up, or the organization reached its cap."))
    size_bands = _checkboxes(_l("Company sizes"), SIZE_BANDS, _l("None ticked: any size."))
    sectors = NaceCodesField(_l("Sectors (NACE codes or their start)"),
                             description=_l("Separated by commas: 29 takes 29.10. Empty: any sector."))
    postcodes = PostcodesField(_l("Postcodes (or their start)"),
                               description=_l("Separated by commas: 69 takes 69001. Empty: anywhere."))
    regions = _checkboxes(_l("French regions"), {code: label for code, (label, _deps) in FR_REGIONS.items()},
                          _l("Their départements' postcodes, in France."))
    country = StringField(_l("Country (ISO code)"), filters=[_strip, lambda v: v.upper() if isinstance(v, str) else v],
                          validators=[Optional(), Length(max=2), Regexp(r"^[A-Z]{2}$", message=_l("Two letters, e.g. FR."))],
                          description=_l("Empty: any country."))
    members_only = BooleanField(_l("Members of the cluster only (on the day of the sale)"))
    counterpart = _text(_l("Counterpart expected from the beneficiary"),
                        _l("Information, actions: what the beneficiary gives in return."))
    valid_from = DateField(_l("Funds sales from"), validators=[DataRequired()])
    valid_until = DateField(_l("Funds sales until"), validators=[Optional()], description=_l("Empty: until further notice."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.service_ids.choices = service_choices()

    def sections(self):
        return [(heading, [self[name] for name in names]) for heading, names in self.SECTIONS]

    def validate_valid_until(self, field):
        if field.data and self.valid_from.data and field.data < self.valid_from.data:
            raise ValidationError(_l("The end comes before the start."))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        kind = self.share_kind.data
        needed, unused = {"percent": ("share_rate", "share_amount"),
                          "per_unit": ("share_amount", "share_rate")}.get(kind, (None, None))
        if needed is not None:
            if self[needed].data is None and not self[needed].errors:
                self[needed].errors = [*self[needed].errors, _l("Required for this share.")]
                ok = False
            if self[unused].data is not None and not self[unused].errors:
                self[unused].errors = [*self[unused].errors, _l("Not used by this share.")]
                ok = False
        if self.regions.data and self.country.data not in (None, "", "FR") and not self.regions.errors:
            self.regions.errors = [*self.regions.errors, _l("French regions are in France: leave the country "
                                                             "empty or FR.")]
            ok = False
        return ok


def _scheme_choice(value):
    return "" if value is None else str(value)


class SaleForm(Form):
    """A one-off sale: the service, the buyer, the day, the quantity, and who pays a part."""

    service_id = SelectField(_l("Service"), coerce=_optional_id, validators=[DataRequired()])
    organization_id = IntegerField(_l("Organization (id)"), validators=[DataRequired(), NumberRange(min=1),
                                                                        _organization_exists],
                                   description=_l("The buyer, a CRM organization: the beneficiary of any funding."))
    person_id = IntegerField(_l("Person (id)"), validators=[Optional(), NumberRange(min=1), _person_exists])
    sold_on = DateField(_l("Day of the service"), validators=[DataRequired()],
                        description=_l("The price valid that day applies, at the member price for a member then."))
    mode = SelectField(_l("Pricing mode"), default="", choices=[("", _l("The service's price that day"))] + [
        (m, PRICING_MODES[m]) for m in SALE_MODES])
    quantity = DecimalField(_l("Quantity"), places=2, digits=12, default=Decimal("1"), validators=[Optional()],
                            description=_l("Units, uses or periods; 1 for a success fee."))
    amount_obtained = _amount(_l("Amount obtained"), _l("For a success fee: the fee is a share of it."))
    unit_price = _amount(_l("Unit price agreed"), _l("For a service on quote only."))
    scheme_id = SelectField(_l("Third-party payer"), coerce=_scheme_choice, default="auto",
                            description=_l("Auto: the first eligible scheme that can still pay."))
    description = StringField(_l("Description for the invoice"), validators=[Optional(), Length(max=300)],
                              filters=[_strip], description=_l("Empty: the service's name and the price's label."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.service_id.choices = [("", "")] + [(str(i), n) for i, n in service_choices(on_sale=True)]
        self.scheme_id.choices = [("auto", _l("Auto: an eligible scheme")), ("none", _l("None: the full price"))] + [
            (str(i), n) for i, n in scheme_choices()]

    def validate_quantity(self, field):
        if field.data is not None and field.data <= 0:
            raise ValidationError(_l("The quantity must be more than 0."))

    @property
    def scheme(self):
        """``"auto"``, None (no payer) or a scheme's id, as :func:`.sales.record_sale` takes it."""
        value = self.scheme_id.data or "auto"
        if value == "none":
            return None
        return "auto" if value == "auto" else int(value)

    def sale_arguments(self) -> dict:
        """The validated sale as :func:`.sales.record_sale`'s keyword arguments (service and organization aside)."""
        return {"on": self.sold_on.data, "quantity": self.quantity.data if self.quantity.data is not None else 1,
                "person_id": self.person_id.data, "mode": self.mode.data or None,
                "amount_obtained": self.amount_obtained.data, "unit_price": self.unit_price.data,
                "scheme_id": self.scheme}


class CancelSaleForm(Form):
    """Cancel a sale: the scheme's part goes back to its envelope."""

    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=300)], filters=[_strip])


class PeriodForm(Form):
    """A period (query string): from one day to another, both included."""

    KEYS = ("since", "until")

    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("meta", {"csrf": False})
        super().__init__(*args, **kwargs)

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end comes before the start."))


class SaleFilterForm(PeriodForm):
    """The filters of the sales list (query string): service, organization, scheme, status, period."""

    KEYS = ("service", "organization", "scheme", "status", "since", "until")

    service = SelectField(_l("Service"), coerce=_optional_id, validate_choice=True)
    organization = IntegerField(_l("Organization (id)"), validators=[Optional(), NumberRange(min=1)])
    scheme = SelectField(_l("Funding scheme"), coerce=_optional_id, validate_choice=True)
    status = SelectField(_l("Status"), default="", choices=[("", _l("any"))] + list(SALE_STATUSES.items()))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.service.choices = [("", _l("any"))] + [(str(i), n) for i, n in service_choices()]
        self.scheme.choices = [("", _l("any"))] + [(str(i), n) for i, n in scheme_choices()]

    @property
    def values(self) -> dict:
        """The filters given, as a plain dict."""
        return {name: self[name].data for name in self.KEYS if self[name].data not in (None, "")}


__all__ = [
    "CatalogueFilterForm", "ChargeForm", "ClosePriceForm", "CopyServiceForm", "ExpertForm", "MODE_FIELDS",
    "MoveStepForm", "PriceForm", "RangeForm", "ServiceForm", "StepForm", "StepOrderForm",
    "CancelSaleForm", "FundingSchemeForm", "PeriodForm", "SaleFilterForm", "SaleForm",
]


# -- slice 2b: quotes and subscriptions ---------------------------------------------------------
def _positive_quantity(form, field):
    if field.data is not None and field.data <= 0:
        raise ValidationError(_l("The quantity must be more than 0."))


def _quantity_field(description=None):
    return DecimalField(_l("Quantity"), places=2, digits=12, default=Decimal("1"),
                        validators=[Optional(), _positive_quantity], description=description)


class QuoteForm(Form):
    """A quote's heading: who it is for, its subject, its validity, its notes (a draft only)."""

    organization_id = IntegerField(_l("Organization (id)"), validators=[DataRequired(), NumberRange(min=1),
                                                                        _organization_exists],
                                   description=_l("The CRM organization the quote is for."))
    person_id = IntegerField(_l("Contact (person id)"), validators=[Optional(), NumberRange(min=1), _person_exists],
                             description=_l("The person it is addressed to: sending mails it to them."))
    title = StringField(_l("Subject"), validators=[Optional(), Length(max=200)], filters=[_strip])
    valid_until = DateField(_l("Valid until"), validators=[Optional()],
                            description=_l("Empty: the cluster's number of days from the issue date."))
    notes = _text(_l("Notes"), _l("Printed on the quote."))

    def validate_valid_until(self, field):
        if field.data and field.data < today():
            raise ValidationError(_l("This day is past."))


class QuoteLineForm(Form):
    """A line of a quote from the catalogue: a service on sale, in one pricing mode."""

    service_id = SelectField(_l("Service"), coerce=_optional_id, validators=[DataRequired()])
    mode = SelectField(_l("Pricing mode"), default="", choices=[("", _l("The service's price that day"))] + [
        (m, PRICING_MODES[m]) for m in SALE_MODES])
    quantity = _quantity_field(_l("Units, uses or periods; 1 for a success fee."))
    amount_obtained = _amount(_l("Amount obtained"), _l("For a success fee: the fee is a share of it."))
    unit_price = _amount(_l("Unit price agreed"), _l("For a service on quote only."))
    scheme_id = SelectField(_l("Third-party payer"), coerce=_scheme_choice, default="auto",
                            description=_l("An estimate on the quote: the payer's part is taken when it is accepted."))
    description = StringField(_l("Description"), validators=[Optional(), Length(max=300)], filters=[_strip],
                              description=_l("Empty: the service's name and the price's label."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.service_id.choices = [("", "")] + [(str(i), n) for i, n in service_choices(on_sale=True)]
        self.scheme_id.choices = [("auto", _l("Auto: an eligible scheme")), ("none", _l("None: the full price"))] + [
            (str(i), n) for i, n in scheme_choices()]

    @property
    def scheme(self):
        """``"auto"``, None (no payer) or a scheme's id."""
        value = self.scheme_id.data or "auto"
        if value == "none":
            return None
        return "auto" if value == "auto" else int(value)


class FreeLineForm(Form):
    """A free line of a quote: what the catalogue does not hold (no third-party payer)."""

    description = StringField(_l("Description"), validators=[DataRequired(), Length(max=300)], filters=[_strip])
    quantity = _quantity_field()
    unit_price = DecimalField(_l("Unit price (excl. VAT)"), places=2, digits=12,
                              validators=[InputRequired(), NumberRange(min=0)])


class SendQuoteForm(Form):
    """Where to mail a quote: the address given, else its contact's."""

    email = StringField(_l("E-mail address"), validators=[Optional(), Length(max=254), email_validator],
                        filters=[_strip], description=_l("Empty: the contact's address."))


class RefuseQuoteForm(Form):
    reason = _text(_l("Reason"), max_length=1000)


class QuoteFilterForm(PeriodForm):
    """The filters of the quotes list (query string): status, organization, issue period."""

    KEYS = ("status", "organization", "since", "until")

    status = SelectField(_l("Status"), default="", choices=[("", _l("any"))] + list(QUOTE_STATUSES.items()))
    organization = IntegerField(_l("Organization (id)"), validators=[Optional(), NumberRange(min=1)])

    @property
    def values(self) -> dict:
        return {name: self[name].data for name in self.KEYS if self[name].data not in (None, "")}


def subscription_price_choices() -> list[tuple[str, str]]:
    """The subscription prices of the services on sale that have not ended, as choices."""
    rows = db.session.execute(
        select(Price, Service.name).join(Service, Service.id == Price.service_id)
        .where(Price.mode == "subscription", Service.status == "on_sale",
               (Price.valid_until.is_(None)) | (Price.valid_until >= today()))
        .order_by(Service.name, Price.period, Price.valid_from, Price.id)).all()
    out = []
    for price, name in rows:
        label = " · ".join(x for x in (name, price.label, str(SUBSCRIPTION_PERIODS.get(price.period, price.period)))
                           if x)
        out.append((str(price.id), label))
    return out


class SubscriptionForm(Form):
    """A new subscription: the organization, the service's subscription price, the dates."""

    organization_id = IntegerField(_l("Organization (id)"), validators=[DataRequired(), NumberRange(min=1),
                                                                        _organization_exists])
    person_id = IntegerField(_l("Contact (person id)"), validators=[Optional(), NumberRange(min=1), _person_exists])
    price_id = SelectField(_l("Subscription"), coerce=_optional_id, validators=[DataRequired()],
                           description=_l("A subscription price of a service on sale: it says the period."))
    start_date = DateField(_l("Start"), validators=[DataRequired()],
                           description=_l("The first period is billed that day, the next ones a period later each."))
    end_date = DateField(_l("Last day"), validators=[Optional()], description=_l("Empty: until it is ended or cancelled."))
    quantity = _quantity_field(_l("Units subscribed, e.g. listings or seats."))
    notes = _text(_l("Notes"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.price_id.choices = [("", "")] + subscription_price_choices()

    def validate_end_date(self, field):
        if field.data and self.start_date.data and field.data < self.start_date.data:
            raise ValidationError(_l("The end comes before the start."))


class EndSubscriptionForm(Form):
    on = DateField(_l("Last day"), validators=[DataRequired()],
                   description=_l("The last day served: no period starts after it."))


class CancelSubscriptionForm(Form):
    on = DateField(_l("Cancelled from"), validators=[DataRequired()],
                   description=_l("The first day no longer served: no period starts on it or later."))
    reason = TextAreaField(_l("Reason"), filters=[_tidy], validators=[
        DataRequired(message=_l("Say why the subscription is cancelled.")), Length(max=1000)])


class SubscriptionFilterForm(Form):
    """The filters of the subscriptions list (query string): status, service, due before a day."""

    KEYS = ("status", "service", "due_before")

    status = SelectField(_l("Status"), default="", choices=[("", _l("any"))] + list(SUBSCRIPTION_STATUSES.items()))
    service = SelectField(_l("Service"), coerce=_optional_id, validate_choice=True)
    due_before = DateField(_l("Due by"), validators=[Optional()],
                           description=_l("Active subscriptions whose next billing date is on or before that day."))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("meta", {"csrf": False})
        super().__init__(*args, **kwargs)
        self.service.choices = [("", _l("any"))] + [(str(i), n) for i, n in service_choices()]

    @property
    def values(self) -> dict:
        return {name: self[name].data for name in self.KEYS if self[name].data not in (None, "")}


__all__ += [
    "CancelSubscriptionForm", "EndSubscriptionForm", "FreeLineForm", "QuoteFilterForm", "QuoteForm", "QuoteLineForm",
    "RefuseQuoteForm", "SendQuoteForm", "SubscriptionFilterForm", "SubscriptionForm",
]
