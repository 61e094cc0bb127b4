"""Administration forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    EmailField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from civic.core.forms import BaseForm, choices

ROLE_LABELS = {
    "resident": _l("Resident"),
    "team_member": _l("Team member"),
    "staff": _l("Staff"),
    "judge": _l("Judge"),
    "facilitator": _l("Facilitator"),
    "admin": _l("Administrator"),
}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserRolesForm(BaseForm):
    roles = MultiCheckboxField(_l("Roles"), choices=choices(ROLE_LABELS.items()))


class UserDepartmentsForm(BaseForm):
    departments = MultiCheckboxField(_l("Departments"), coerce=int)


class VerificationForm(BaseForm):
    district = SelectField(
        _l("Verified resident of"),
        coerce=int,
        description=_l("Choose “Not verified” to withdraw the verification."),
    )


class DepartmentForm(BaseForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(
        _l("Contact e-mail"), validators=[Optional(), Email(check_deliverability=False)]
    )


class DistrictUploadForm(BaseForm):
    geojson = FileField(
        _l("GeoJSON file"),
        validators=[FileRequired()],
        description=_l(
            "A FeatureCollection of Polygons or MultiPolygons, each with a 'code' and a 'name' "
            "(or name_en, name_es...) property."
        ),
    )


class CodesForm(BaseForm):
    district = SelectField(_l("District"), coerce=int, validators=[DataRequired()])
    count = IntegerField(
        _l("Number of codes"), default=20, validators=[DataRequired(), NumberRange(1, 500)]
    )
    valid_days = IntegerField(
        _l("Valid for (days)"), default=30, validators=[DataRequired(), NumberRange(1, 365)]
    )
