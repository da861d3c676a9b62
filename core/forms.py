"""Core forms and reusable validators (identifiers, e-mail, time zones)."""

from __future__ import annotations

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
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from .models import ROLES

SLUG_RE = r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$"


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


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Keep me signed in"))


class ClusterProfileForm(FlaskForm):
    """A cluster's name and profile (legal identity, address, locale)."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    legal_name = StringField(_l("Legal name"), validators=[Optional(), Length(max=200)])
    street = StringField(_l("Street"), validators=[Optional(), Length(max=200)])
    postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=20)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=100)])
    country = StringField(_l("Country (ISO code)"), validators=[Optional(), Regexp(r"^[A-Za-z]{2}$", message=_l("Two letters, e.g. FR or AT."))])
    siren = StringField(_l("SIREN"), validators=[Optional(), siren_validator])
    vat_number = StringField(_l("VAT number"), validators=[Optional(), vat_validator])
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
    slug = StringField(_l("Slug (in addresses)"), validators=[DataRequired(), Regexp(SLUG_RE, message=_l("3 to 40 lowercase letters, digits or dashes."))])


class AccountForm(FlaskForm):
    """One's own name, language and password (a new password needs the current one)."""

    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    language = SelectField(_l("Language"), choices=[("", _l("From my browser"))] + LANGUAGE_CHOICES)
    current_password = PasswordField(_l("Current password (to set a new one)"))
    new_password = PasswordField(_l("New password"), validators=[Optional()])
    confirm = PasswordField(_l("Repeat the new password"), validators=[EqualTo("new_password", message=_l("The two passwords differ."))])

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


class RoleForm(FlaskForm):
    email = EmailField(_l("E-mail of the user"), validators=[DataRequired(), email_validator])
    role = SelectField(_l("Role"), choices=[(r, r) for r in ROLES] + [("", _l("No access"))])


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token (buttons that change state)."""
