"""Budgeting forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from civic.budgeting.models import PROJECT_STATUSES, RESULT_RULES
from civic.budgeting.services import (
    BALLOT_TYPE_LABELS,
    CATEGORIES,
    PHASE_LABELS,
    RULE_LABELS,
    STATUS_LABELS,
)
from civic.core.forms import BaseForm, choices

PHOTO_HINT = _l("Optional. JPEG, PNG or WebP. Location and camera details are removed.")


class ProcessForm(BaseForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=160)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    ideas_start = DateTimeLocalField(_l("Ideas open"), validators=[Optional()])
    review_start = DateTimeLocalField(_l("Review starts"), validators=[Optional()])
    voting_start = DateTimeLocalField(_l("Voting opens"), validators=[Optional()])
    voting_end = DateTimeLocalField(_l("Voting closes"), validators=[Optional()])
    implementation_start = DateTimeLocalField(_l("Implementation starts"), validators=[Optional()])


class BudgetForm(BaseForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=160)])
    district = SelectField(
        _l("Who votes"), coerce=int, description=_l("City-wide: any verified resident.")
    )
    amount = StringField(_l("Amount"), validators=[DataRequired(), Length(max=30)])
    ballot_type = SelectField(
        _l("Ballot"),
        choices=choices(
            (key, label if key != "k_approval" else _l("Choose up to k projects"))
            for key, label in BALLOT_TYPE_LABELS.items()
        ),
    )
    max_choices = IntegerField(
        _l("k: most projects a voter may choose or rank"),
        validators=[Optional(), NumberRange(1, 100)],
    )
    points_total = IntegerField(
        _l("Points per voter"), validators=[Optional(), NumberRange(1, 1000)]
    )
    points_per_project = IntegerField(
        _l("Most points per project"), validators=[Optional(), NumberRange(1, 1000)]
    )
    min_share = IntegerField(
        _l("Minimum share of the budget a ballot must spend (%)"),
        validators=[Optional(), NumberRange(0, 100)],
    )
    rule = SelectField(
        _l("How winners are chosen"),
        choices=choices((key, RULE_LABELS[key]) for key in RESULT_RULES),
        default="mes-add1-greedy",
    )


class ProjectForm(BaseForm):
    budget = SelectField(_l("Budget"), coerce=int)
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=160)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    category = SelectField(_l("Category"), choices=choices(CATEGORIES.items()))
    cost = StringField(_l("Cost"), validators=[DataRequired(), Length(max=30)])
    district = SelectField(_l("District"), coerce=int, validators=[Optional()])


class PhaseForm(BaseForm):
    phase = SelectField(
        _l("Phase"),
        choices=choices([("", _l("Follow the dates")), *PHASE_LABELS.items()]),
        validators=[Optional()],
    )


class IdeaForm(BaseForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=160)])
    description = TextAreaField(
        _l("Description"),
        validators=[DataRequired(), Length(max=5000)],
        description=_l("What should be done, where, and who would benefit?"),
    )
    category = SelectField(_l("Category"), choices=choices(CATEGORIES.items()))
    estimated_cost = StringField(
        _l("Estimated cost"),
        validators=[DataRequired(), Length(max=30)],
        description=_l("Your best guess in the city's currency; staff will check it."),
    )
    district = SelectField(_l("District"), coerce=int, validators=[Optional()])
    address = StringField(_l("Address or landmark"), validators=[Optional(), Length(max=200)])
    latitude = StringField(
        _l("Latitude"),
        validators=[Optional(), Length(max=20)],
        description=_l("Optional, e.g. -22.95"),
    )
    longitude = StringField(
        _l("Longitude"),
        validators=[Optional(), Length(max=20)],
        description=_l("Optional, e.g. -46.63"),
    )
    photo = FileField(_l("Photo"), description=PHOTO_HINT)


class ReviewForm(BaseForm):
    decision = RadioField(
        _l("Decision"),
        choices=choices([("feasible", _l("Feasible")), ("unfeasible", _l("Not feasible"))]),
        validators=[DataRequired()],
    )
    reason = TextAreaField(
        _l("Public reason"),
        validators=[DataRequired(), Length(max=3000)],
        description=_l("Shown to the author and the public."),
    )
    official_cost = StringField(
        _l("Official cost"),
        validators=[Optional(), Length(max=30)],
        description=_l("Required when the idea is feasible."),
    )


class MergeForm(BaseForm):
    into = IntegerField(_l("Merge into idea number"), validators=[DataRequired()])
    reason = StringField(_l("Public note"), validators=[Optional(), Length(max=500)])


class PromoteForm(BaseForm):
    budget = SelectField(_l("Put on the ballot of"), coerce=int)


class PaperNumberForm(BaseForm):
    paper_number = StringField(
        _l("Paper ballot number"),
        validators=[DataRequired(), Length(max=40)],
        description=_l("The number printed on the ballot. Each number can be entered once."),
    )


class ProjectUpdateForm(BaseForm):
    status = SelectField(
        _l("Status"),
        choices=choices((s, STATUS_LABELS[s]) for s in PROJECT_STATUSES if s != "proposed"),
    )
    progress = IntegerField(_l("Progress (%)"), default=0, validators=[NumberRange(0, 100)])
    message = TextAreaField(_l("What changed"), validators=[DataRequired(), Length(max=3000)])
    photo = FileField(_l("Photo"), description=PHOTO_HINT)


class ImportForm(BaseForm):
    file = FileField(_l("Pabulib file (.pb)"))
    title = StringField(_l("Title"), validators=[Optional(), Length(max=160)])
