"""Core forms and reusable validators (identifiers, e-mail, time zones).

:class:`Form` is the base of every Grappe form. Its ``Meta.bind_field`` puts one check in
front of every field's validators, so what a client can send is refused with a
field-level message before any other validator, query or write sees it: integers beyond
the 32-bit range of an ``INTEGER`` column, decimals that are not finite or do not fit the
column (:class:`DecimalField` says its ``digits`` and ``places``), control characters and
invalid Unicode (lone surrogates) in text, text without a length limit beyond a default
one, dates outside 1900-2199, and a value that did not parse (which ``DataRequired`` would
otherwise report as "This field is required.").
"""

from __future__ import annotations

import math
import re
from zoneinfo import available_timezones

from babel.numbers import list_currencies
from email_validator import EmailNotValidError
from email_validator import validate_email as _validate_email
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from stdnum import iban as _iban
from stdnum.eu import vat as _vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as _siren
from stdnum.fr import siret as _siret
from datetime import date, datetime
from decimal import Decimal

from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms import DecimalField as _WTFDecimalField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, StopValidation, ValidationError

from .models import ROLES

SLUG_RE = r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$"

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # an INTEGER column on PostgreSQL (ids included)
TEXT_MAX = 1_000  # a single-line text field that declares no Length(max=...)
LONG_TEXT_MAX = 100_000  # a text area that declares none
PASSWORD_MAX = 256  # hashing a megabyte of password is a denial of service
_LINE_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")  # tab allowed
_AREA_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # tab, newlines allowed
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str, multiline: bool = False) -> str | None:
    """Why a text cannot be stored (a control character, invalid Unicode), or None."""
    bad = (_AREA_CONTROL if multiline else _LINE_CONTROL).search(value)
    if bad is None:
        return None
    if _SURROGATE.match(bad.group()):
        return str(_l("Not valid Unicode text."))
    if bad.group() in "\r\n":
        return str(_l("Must be on one line."))
    code = "%04X" % ord(bad.group())
    return str(_l("Contains a control character (U+%(code)s).", code=code))


class DecimalField(_WTFDecimalField):
    """A decimal that fits a ``Numeric(digits, places)`` column (money: the default 12, 2).

    More decimals than ``places`` are refused, not rounded: an amount is never changed
    behind the user's back.
    """

    def __init__(self, label=None, validators=None, places=2, digits=12, **kwargs):
        super().__init__(label, validators, places=places, **kwargs)
        self.digits = digits


def _max_length(field) -> Length | None:
    """The field's tightest ``Length(max=...)`` validator, if it declares one."""
    limits = [v for v in field.validators if isinstance(v, Length) and v.max is not None and v.max >= 0]
    return min(limits, key=lambda v: v.max) if limits else None


def _boundary_check(form, field) -> None:
    """The first validator of every field of a :class:`Form` (see the module docstring)."""
    if field.process_errors and any(str(v).strip() for v in field.raw_data or ()):
        raise StopValidation()  # keep the parse error ("Not a valid date value."); empty: "required"
    data = field.data
    if isinstance(data, str):
        multiline = isinstance(field, TextAreaField)
        length = _max_length(field)
        declared = length.max if length is not None else None
        limit = declared or (LONG_TEXT_MAX if multiline else TEXT_MAX)
        if len(data) > limit:
            if length is not None and length.message:  # the field's own Length message
                raise StopValidation(length.message)
            if declared:  # WTForms' Length message (its catalog)
                raise StopValidation(field.ngettext("Field cannot be longer than %(max)d character.",
                                                    "Field cannot be longer than %(max)d characters.",
                                                    declared) % {"max": declared})
            raise StopValidation(_l("At most %(n)s characters.", n=limit))
        why = text_problem(data, multiline)
        if why:
            raise StopValidation(why)
        return
    values = data if isinstance(data, (list, tuple)) else [data]
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
            raise StopValidation(_l("Out of range (at most %(n)s).", n=INT_MAX))
        if isinstance(value, float) and not math.isfinite(value):
            raise StopValidation(_l("Not a valid number."))
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise StopValidation(_l("Not a valid number."))
            places = field.places if isinstance(getattr(field, "places", None), int) else None
            digits = getattr(field, "digits", 12)
            sign, figures, exponent = value.normalize().as_tuple()
            if places is not None and exponent < -places:
                raise StopValidation(_l("At most %(n)s decimal places.", n=places))
            if len(figures) + exponent > digits - (places or 0):
                raise StopValidation(_l("Too large: at most %(n)s digits before the decimal point.",
                                        n=digits - (places or 0)))
        if isinstance(value, (date, datetime)) and not 1900 <= value.year < 2200:
            raise StopValidation(_l("Not a valid date (years 1900 to 2199)."))
        if isinstance(value, str):
            why = text_problem(value) if len(value) <= TEXT_MAX else str(_l("At most %(n)s characters.", n=TEXT_MAX))
            if why:
                raise StopValidation(why)


class _BoundaryMeta:
    def bind_field(self, form, unbound_field, options):
        field = super().bind_field(form, unbound_field, options)
        field.validators = [_boundary_check, *field.validators]
        return field


class Form(FlaskForm):
    """The base of every Grappe form: Flask-WTF (CSRF) plus the input boundary checks."""

    class Meta(_BoundaryMeta):
        pass


def _stdnum_validator(module, message):
    def check(form, field):
        if field.data:
            try:
                field.data = module.compact(field.data)
                module.validate(field.data)
            except StdnumError:
                raise ValidationError(message)
    return check


siren_validator = _stdnum_validator(_siren, _l("Not a valid SIREN (9 digits with a valid check digit)."))
siret_validator = _stdnum_validator(_siret, _l("Not a valid SIRET (14 digits with a valid check digit)."))
vat_validator = _stdnum_validator(_vat, _l("Not a valid EU VAT number (e.g. FR40303265045)."))
iban_validator = _stdnum_validator(_iban, _l("Not a valid IBAN."))


def email_validator(form, field):
    """Validate and normalize an e-mail address (no DNS lookup)."""
    if field.data:
        try:
            field.data = _validate_email(field.data.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValidationError(str(exc))


def timezone_choices():
    return [(tz, tz) for tz in sorted(available_timezones()) if "/" in tz and not tz.startswith(("Etc/", "SystemV/"))]


def currency_choices():
    return [(c, c) for c in sorted(list_currencies()) if len(c) == 3]


LANGUAGE_CHOICES = [("fr", "Français"), ("en", "English")]


class LoginForm(Form):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    remember = BooleanField(_l("Keep me signed in"))


class ClusterProfileForm(Form):
    """A cluster's name and profile (legal identity, address, locale)."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    legal_name = StringField(_l("Legal name"), validators=[Optional(), Length(max=200)])
    street = StringField(_l("Street"), validators=[Optional(), Length(max=200)])
    postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=20)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=100)])
    country = StringField(_l("Country (ISO code)"), validators=[
        Optional(), Length(max=2, message=_l("Two letters, e.g. FR or AT.")),
        Regexp(r"^[A-Za-z]{2}$", message=_l("Two letters, e.g. FR or AT."))])
    siren = StringField(_l("SIREN"), validators=[Optional(), Length(max=20), siren_validator])
    vat_number = StringField(_l("VAT number"), validators=[Optional(), Length(max=30), vat_validator])
    timezone = SelectField(_l("Time zone"), validators=[DataRequired()])
    currency = SelectField(_l("Currency"), validators=[DataRequired()])
    language = SelectField(_l("Default language"), choices=LANGUAGE_CHOICES)
    logo = FileField(_l("Logo (PNG, JPEG or SVG, at most 512 kB)"), validators=[FileAllowed(["png", "jpg", "jpeg", "svg"])])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()
        self.currency.choices = currency_choices()

    def validate_country(self, field):
        if field.data:
            field.data = field.data.upper()


class ClusterCreateForm(ClusterProfileForm):
    slug = StringField(_l("Slug (in addresses)"), validators=[DataRequired(), Length(max=40), Regexp(SLUG_RE, message=_l("3 to 40 lowercase letters, digits or dashes."))])


class AccountForm(Form):
    """One's own name, language and password (a new password needs the current one)."""

    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    language = SelectField(_l("Language"), choices=[("", _l("From my browser"))] + LANGUAGE_CHOICES)
    current_password = PasswordField(_l("Current password (to set a new one)"), validators=[Length(max=PASSWORD_MAX)])
    new_password = PasswordField(_l("New password"), validators=[Optional(), Length(max=PASSWORD_MAX)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[Length(max=PASSWORD_MAX), EqualTo("new_password", message=_l("The two passwords differ."))])

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._user = user

    def validate_new_password(self, field):
        from .auth import MIN_PASSWORD_LENGTH, check_password, validate_new_password

        if not field.data:
            return
        if len(field.data) < MIN_PASSWORD_LENGTH:
            raise ValidationError(_l("At least %(n)s characters.", n=MIN_PASSWORD_LENGTH))
        why = validate_new_password(field.data, self._user.email if self._user else "")
        if why:
            raise ValidationError(why)
        if self._user is None or not check_password(self._user, self.current_password.data or ""):
            self.current_password.errors.append(_l("Give your current password to set a new one."))
            raise ValidationError(_l("Not changed: the current password is missing or wrong."))


class RoleForm(Form):
    email = EmailField(_l("E-mail of the user"), validators=[DataRequired(), Length(max=254), email_validator])
    role = SelectField(_l("Role"), choices=[(r, r) for r in ROLES] + [("", _l("No access"))])


class ConfirmForm(Form):
    """A form with nothing but its CSRF token (buttons that change state)."""
