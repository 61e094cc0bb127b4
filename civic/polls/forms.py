"""Poll forms: propose, review, vote, answer, comment, moderate, privacy, settings."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField
from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from civic.core.forms import BaseForm, choices
from civic.polls.models import MAX_DAYS, MAX_OPTIONS, MIN_DAYS
from civic.polls.services import (
    ANSWER_STATUS_LABELS,
    GENDER_LABELS,
    HIDE_REASONS,
    REJECTION_REASONS,
)

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp"]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class OptionEntryForm(BaseForm):
    """One option line of the proposal form (a sub-form: the parent carries the CSRF token)."""

    class Meta:
        csrf = False

    label = StringField(_l("Option"), validators=[Optional(), Length(max=200)])
    image = FileField(
        _l("Image (optional)"),
        validators=[
            Optional(),
            FileAllowed(IMAGE_TYPES, _l("Please upload a JPEG, PNG or WebP image.")),
        ],
    )


class ProposeForm(BaseForm):
    question = StringField(
        _l("Question"),
        validators=[DataRequired(), Length(max=200)],
        description=_l(
            "One clear question, for example: Should Rua Central be closed to cars on Sundays?"
        ),
    )
    description = TextAreaField(
        _l("Background"),
        validators=[Optional(), Length(max=4000)],
        description=_l("Optional. Why it matters, what you know, links to sources."),
    )
    # No max_entries: WTForms would silently drop an 11th option; the service refuses it instead.
    options = FieldList(FormField(OptionEntryForm), label=_l("Options"), min_entries=MAX_OPTIONS)
    max_choices = IntegerField(
        _l("How many options may each person choose?"),
        default=1,
        validators=[DataRequired(), NumberRange(min=1, max=MAX_OPTIONS)],
        description=_l("1 for a single choice."),
    )
    districts = MultiCheckboxField(
        _l("Districts that vote"),
        coerce=int,
        validators=[Optional()],
        description=_l("Leave all unticked for a poll of the whole city."),
    )
    duration_days = IntegerField(
        _l("Duration in days"),
        default=14,
        validators=[DataRequired(), NumberRange(min=MIN_DAYS, max=MAX_DAYS)],
        description=_l("From 1 to 30 days, counted from publication."),
    )
    shows_interim_results = BooleanField(
        _l("Show the results to people who have voted before the poll closes"), default=True
    )
    allows_vote_change = BooleanField(
        _l("Voters may change their vote until the poll closes"), default=True
    )


class StaffPollForm(ProposeForm):
    """Staff also choose the audience, threshold and department, and may publish at once."""

    is_official = BooleanField(_l("Publish now as an official poll of the city (no review)"))
    audience = SelectField(
        _l("Who may vote"),
        choices=choices(
            [
                ("verified", _l("Verified residents (of the districts chosen)")),
                ("registered", _l("Everyone with an account (low-stakes questions only)")),
            ]
        ),
        default="verified",
    )
    threshold = IntegerField(
        _l("Participant threshold"),
        validators=[Optional(), NumberRange(min=1)],
        description=_l("Leave empty for the city's default."),
    )
    department = SelectField(_l("Department that answers"), coerce=int, validators=[Optional()])


class ApproveForm(BaseForm):
    department = SelectField(
        _l("Department that answers if the threshold is reached"),
        coerce=int,
        validators=[DataRequired()],
    )
    threshold = IntegerField(
        _l("Participant threshold"),
        validators=[Optional(), NumberRange(min=1)],
        description=_l("Leave empty for the city's default."),
    )


class RejectForm(BaseForm):
    reason = SelectField(
        _l("Reason"), choices=choices(REJECTION_REASONS.items()), validators=[DataRequired()]
    )
    note = TextAreaField(
        _l("Explanation (public)"),
        validators=[DataRequired(), Length(max=2000)],
        description=_l("Shown to the author and on the proposal."),
    )


class ChangesForm(BaseForm):
    note = TextAreaField(
        _l("What should the author change?"), validators=[DataRequired(), Length(max=2000)]
    )


class ThresholdForm(BaseForm):
    threshold = IntegerField(
        _l("Participant threshold"), validators=[DataRequired(), NumberRange(min=1)]
    )


class AnswerForm(BaseForm):
    status = SelectField(
        _l("Status"), choices=choices(ANSWER_STATUS_LABELS.items()), validators=[DataRequired()]
    )
    body = TextAreaField(_l("Answer"), validators=[DataRequired(), Length(max=10000)])


class DepartmentForm(BaseForm):
    department = SelectField(_l("Department"), coerce=int, validators=[DataRequired()])


class CommentForm(BaseForm):
    body = TextAreaField(_l("Your comment"), validators=[DataRequired(), Length(max=2000)])


class ActionForm(BaseForm):
    """A button that only needs the CSRF token (report, withdraw)."""


class ModerateForm(BaseForm):
    action = SelectField(
        _l("Decision"),
        choices=choices([("hide", _l("Hide with a public reason")), ("keep", _l("Keep visible"))]),
    )
    reason = SelectField(
        _l("Reason"), choices=choices(HIDE_REASONS.items()), validators=[Optional()]
    )
    note = TextAreaField(_l("Note (public)"), validators=[Optional(), Length(max=1000)])


class PrivacyForm(BaseForm):
    shares_demographics = BooleanField(_l("Count my age group and gender in poll statistics"))
    birth_year = IntegerField(_l("Year of birth"), validators=[Optional()])
    gender = SelectField(
        _l("Gender"),
        choices=choices([("", _l("Prefer not to say")), *GENDER_LABELS.items()]),
        validators=[Optional()],
    )


class SettingsForm(BaseForm):
    default_threshold = IntegerField(
        _l("Participants that oblige an official answer"),
        validators=[DataRequired(), NumberRange(min=1)],
    )
    answer_days = IntegerField(
        _l("Days the city has to answer"), validators=[DataRequired(), NumberRange(min=1, max=365)]
    )
    max_open_proposals = IntegerField(
        _l("Proposals a resident may have waiting or open at once"),
        validators=[DataRequired(), NumberRange(min=1, max=100)],
    )
    comment_flags_to_hide = IntegerField(
        _l("Reports that hide a comment until staff review it"),
        validators=[DataRequired(), NumberRange(min=1, max=1000)],
    )
