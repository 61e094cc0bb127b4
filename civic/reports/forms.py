"""Report forms: the resident's report (with each category's own questions), staff actions,
filters, subscriptions and the administration of categories and API keys."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FloatField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from civic.config import LANGUAGES
from civic.core.forms import BaseForm, choices
from civic.core.i18n import pick_text
from civic.reports.models import MAX_DESCRIPTION, Category
from civic.reports.workflow import CLOSE_REASON_LABELS, STATE_LABELS, STATES

STATE_FILTERS = [
    ("", _l("Any state")),
    ("open", _l("Open (not fixed yet)")),
    *[(state, STATE_LABELS[state]) for state in STATES],
]
DATATYPE_LABELS = {
    "string": _l("Short text"),
    "text": _l("Long text"),
    "number": _l("Number"),
    "datetime": _l("Date"),
    "singlevaluelist": _l("One choice from a list"),
    "multivaluelist": _l("Several choices from a list"),
}
SORT_LABELS = {
    "due": _l("Due first"),
    "newest": _l("Newest first"),
    "oldest": _l("Oldest first"),
    "updated": _l("Recently changed"),
    "supporters": _l("Most “me too”"),
}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ReportForm(BaseForm):
    category = HiddenField()
    latitude = FloatField(
        _l("Latitude"),
        validators=[Optional(), NumberRange(-90, 90)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    longitude = FloatField(
        _l("Longitude"),
        validators=[Optional(), NumberRange(-180, 180)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    address = StringField(
        _l("Address or landmark"),
        validators=[Optional(), Length(max=300)],
        description=_l("For example “Praça da Matriz” or “Rua das Flores 120, near the bakery”."),
    )
    district = SelectField(
        _l("District"),
        coerce=int,
        validators=[Optional()],
        description=_l("Without a map: choose the district and describe the place above."),
        # The service refuses an unknown district; the choices are only needed to draw the form.
        validate_choice=False,
    )
    description = TextAreaField(
        _l("What is the problem?"),
        validators=[DataRequired(), Length(max=MAX_DESCRIPTION)],
        description=_l("Say what you see and exactly where, e.g. “deep pothole in the bus lane”."),
        render_kw={"rows": 5},
    )
    photos = MultipleFileField(
        _l("Photos (up to 3)"),
        description=_l(
            "JPEG, PNG or WebP. We remove the hidden location, camera and time data before "
            "anything is stored."
        ),
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )
    is_name_public = BooleanField(_l("Show my name on the public report"), default=False)
    name = StringField(_l("Your name"), validators=[Optional(), Length(max=120)])
    email = EmailField(
        _l("Your e-mail address"),
        validators=[Optional(), Email(check_deliverability=False), Length(max=254)],
        description=_l(
            "We send you a link to confirm the report; it goes public after you click it. "
            "Your e-mail is never shown publicly."
        ),
    )
    confirm_new = HiddenField(default="")


def _question_field(question):
    label = pick_text(question.prompt).text
    hint = pick_text(question.help_text).text or None
    validators = [Optional()]
    options = [(o["key"], pick_text(o["name"]).text) for o in question.options]
    if question.datatype == "text":
        return TextAreaField(label, validators=validators, description=hint, render_kw={"rows": 3})
    if question.datatype == "number":
        return StringField(
            label, validators=validators, description=hint, render_kw={"inputmode": "decimal"}
        )
    if question.datatype == "datetime":
        return StringField(
            label, validators=validators, description=hint, render_kw={"type": "date"}
        )
    if question.datatype == "singlevaluelist":
        return SelectField(
            label,
            choices=choices([("", _l("Choose…")), *options]),
            validators=validators,
            description=hint,
            validate_choice=False,
        )
    if question.datatype == "multivaluelist":
        return MultiCheckboxField(
            label,
            choices=choices(options),
            validators=validators,
            description=hint,
            validate_choice=False,
        )
    return StringField(label, validators=[Optional(), Length(max=300)], description=hint)


def report_form_for(category: Category | None, **kwargs) -> ReportForm:
    """The report form with the category's own questions as fields named q_<code>."""
    if category is None or not category.questions:
        return ReportForm(**kwargs)

    class CategoryReportForm(ReportForm):
        pass

    for question in category.questions:
        setattr(CategoryReportForm, f"q_{question.code}", _question_field(question))
    form = CategoryReportForm(**kwargs)
    for question in category.questions:
        getattr(form, f"q_{question.code}").flags.required = question.is_required
    return form


def question_fields(form: ReportForm, category: Category | None) -> list:
    """The form's question fields in the category's order."""
    if category is None:
        return []
    return [
        getattr(form, f"q_{q.code}") for q in category.questions if hasattr(form, f"q_{q.code}")
    ]


class StateForm(BaseForm):
    state = SelectField(_l("New state"), choices=choices((s, STATE_LABELS[s]) for s in STATES))
    message = TextAreaField(
        _l("Public message"),
        validators=[DataRequired(), Length(max=4000)],
        description=_l("The reporter and everyone following the report read this."),
        render_kw={"rows": 3},
    )
    close_reason = SelectField(
        _l("Reason for closing"),
        choices=choices([("", _l("Not closing")), *CLOSE_REASON_LABELS.items()]),
        validators=[Optional()],
    )
    duplicate_of = IntegerField(
        _l("Duplicate of report number"), validators=[Optional(), NumberRange(min=1)]
    )
    referral = TextAreaField(
        _l("Who handles it instead"),
        validators=[Optional(), Length(max=2000)],
        description=_l("For example the state roads agency, with their phone number or website."),
        render_kw={"rows": 2},
    )


class NoteForm(BaseForm):
    note = TextAreaField(
        _l("Internal note"),
        validators=[DataRequired(), Length(max=4000)],
        description=_l("Only staff see notes."),
        render_kw={"rows": 3},
    )


class MessageForm(BaseForm):
    message = TextAreaField(
        _l("Public message"), validators=[DataRequired(), Length(max=4000)], render_kw={"rows": 3}
    )


class AssignForm(BaseForm):
    assignee = SelectField(_l("Assigned to"), coerce=int, validators=[Optional()])


class RecategoriseForm(BaseForm):
    category = SelectField(_l("Category"), coerce=int, validators=[DataRequired()])
    message = TextAreaField(
        _l("Public message"), validators=[Optional(), Length(max=4000)], render_kw={"rows": 2}
    )


class HideForm(BaseForm):
    reason = TextAreaField(
        _l("Reason shown to the public"),
        validators=[Optional(), Length(max=1000)],
        render_kw={"rows": 2},
    )
    hidden = HiddenField(default="1")


class ReopenForm(BaseForm):
    message = TextAreaField(
        _l("What is still wrong?"),
        validators=[DataRequired(), Length(max=4000)],
        render_kw={"rows": 3},
    )


class SupportForm(BaseForm):
    email = EmailField(
        _l("Your e-mail address"),
        validators=[Optional(), Email(check_deliverability=False), Length(max=254)],
        description=_l("We send a link to confirm; then you hear of every change."),
    )


class FollowForm(BaseForm):
    follow = HiddenField(default="1")


class BulkForm(BaseForm):
    report_ids = MultiCheckboxField(_l("Reports"), coerce=int, validate_choice=False)
    state = SelectField(_l("New state"), choices=choices((s, STATE_LABELS[s]) for s in STATES))
    message = TextAreaField(
        _l("Public message"), validators=[DataRequired(), Length(max=4000)], render_kw={"rows": 2}
    )
    close_reason = SelectField(
        _l("Reason for closing"),
        choices=choices(
            [
                ("", _l("Not closing")),
                ("not_responsible", CLOSE_REASON_LABELS["not_responsible"]),
                ("cannot_find", CLOSE_REASON_LABELS["cannot_find"]),
            ]
        ),
        validators=[Optional()],
    )
    referral = StringField(_l("Who handles it instead"), validators=[Optional(), Length(max=2000)])


class FilterForm(BaseForm):
    class Meta:
        csrf = False

    category = SelectField(_l("Category"), validators=[Optional()], validate_choice=False)
    state = SelectField(
        _l("State"), choices=choices(STATE_FILTERS), validators=[Optional()], validate_choice=False
    )
    district = SelectField(_l("District"), validators=[Optional()], validate_choice=False)
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])


class StaffFilterForm(FilterForm):
    department = SelectField(_l("Department"), validators=[Optional()], validate_choice=False)
    assignee = SelectField(_l("Assigned to"), validators=[Optional()], validate_choice=False)
    overdue = BooleanField(_l("Overdue only"))
    q = StringField(_l("Number or words"), validators=[Optional(), Length(max=100)])
    sort = SelectField(
        _l("Sort"),
        choices=choices(SORT_LABELS.items()),
        validators=[Optional()],
        validate_choice=False,
    )


class SubscriptionForm(BaseForm):
    district = SelectField(_l("District"), coerce=int, validators=[Optional()])
    category = SelectField(_l("Category"), coerce=int, validators=[Optional()])


def name_fields() -> dict[str, StringField]:
    """One name field per language (name_en, name_es...) for translatable names."""
    return {
        f"name_{code}": StringField(language, validators=[Optional(), Length(max=120)])
        for code, language in LANGUAGES.items()
    }


class _CategoryFormBase(BaseForm):
    code = StringField(
        _l("Code (Open311 service code)"),
        validators=[DataRequired(), Length(max=40)],
        description=_l(
            "Lower-case letters, digits, '-' or '_'. Apps use it; do not change it later."
        ),
    )
    description = TextAreaField(
        _l("Description"), validators=[Optional(), Length(max=1000)], render_kw={"rows": 2}
    )
    department = SelectField(_l("Responsible department"), coerce=int, validators=[DataRequired()])
    target_days = IntegerField(
        _l("Target resolution time (days)"),
        default=7,
        validators=[DataRequired(), NumberRange(1, 365)],
    )
    icon = SelectField(_l("Icon"), validators=[Optional()], validate_choice=False)
    group = StringField(_l("Group"), validators=[Optional(), Length(max=60)])
    keywords = StringField(
        _l("Keywords (comma-separated)"), validators=[Optional(), Length(max=300)]
    )
    is_sensitive = BooleanField(
        _l("Sensitive: show the location only to about 100 m publicly, and hide the photos")
    )
    is_active = BooleanField(_l("Residents can choose this category"), default=True)
    sort_order = IntegerField(_l("Position in the list"), default=0, validators=[Optional()])


CategoryForm = type("CategoryForm", (_CategoryFormBase,), name_fields())


class QuestionForm(BaseForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    datatype = SelectField(_l("Answer type"), choices=choices(DATATYPE_LABELS.items()))
    prompt = StringField(_l("Question"), validators=[DataRequired(), Length(max=300)])
    help_text = StringField(_l("Help text"), validators=[Optional(), Length(max=300)])
    is_required = BooleanField(_l("An answer is required"))
    options = TextAreaField(
        _l("Options (one per line, “key: label”)"),
        validators=[Optional(), Length(max=3000)],
        render_kw={"rows": 4},
    )


class ApiKeyForm(BaseForm):
    name = StringField(_l("Application name"), validators=[DataRequired(), Length(max=120)])
    contact_email = EmailField(
        _l("Contact e-mail"),
        validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)],
    )


class HotspotForm(BaseForm):
    class Meta:
        csrf = False

    category = SelectField(_l("Category"), validators=[Optional()], validate_choice=False)
    period = SelectField(
        _l("Period"),
        choices=choices(
            [("30", _l("Last 30 days")), ("90", _l("Last 90 days")), ("365", _l("Last 12 months"))]
        ),
        default="90",
        validate_choice=False,
    )
    resolution = SelectField(
        _l("Hexagon size"),
        choices=choices(
            [
                ("8", _l("Large (about 0.7 km²)")),
                ("9", _l("Medium (about 0.1 km²)")),
                ("10", _l("Small (about 0.015 km²)")),
            ]
        ),
        default="9",
        validate_choice=False,
    )
