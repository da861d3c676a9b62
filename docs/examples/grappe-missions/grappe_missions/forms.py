"""The one validation path for a mission: the page, the API and imports use it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Regexp, ValidationError

from core import DecimalField, Form


class MissionForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    country = StringField(_l("Country (ISO code)"),
                          validators=[DataRequired(), Regexp(r"^[A-Za-z]{2}$", message=_l("Two letters, e.g. JP."))])
    starts_on = DateField(_l("First day"), validators=[DataRequired()])
    ends_on = DateField(_l("Last day"), validators=[DataRequired()])
    places = IntegerField(_l("Places"), default=10, validators=[DataRequired(), NumberRange(min=1, max=500)])
    price = DecimalField(_l("Price per company"), places=2, digits=10, default=0,  # Numeric(10, 2)
                         validators=[NumberRange(min=0)])

    def validate_country(self, field):
        field.data = field.data.upper()

    def validate_ends_on(self, field):
        if self.starts_on.data and field.data and field.data < self.starts_on.data:
            raise ValidationError(_l("The last day comes before the first day."))
