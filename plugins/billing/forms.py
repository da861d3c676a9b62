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


__all__ = [
    "CatalogueFilterForm", "ChargeForm", "ClosePriceForm", "CopyServiceForm", "ExpertForm", "MODE_FIELDS",
    "MoveStepForm", "PriceForm", "RangeForm", "ServiceForm", "StepForm", "StepOrderForm",
]
