"""Workshop forms: sessions, slides, CSV uploads, joining by code."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from civic.config import LANGUAGES
from civic.core.forms import BaseForm, choices
from civic.workshops.services import (
    CHART_TYPE_LABELS,
    KIND_LABELS,
    MAX_BODY,
    MAX_TITLE,
    QUESTION_LABELS,
)

PERIOD_LABELS = {
    7: _l("Last 7 days"),
    30: _l("Last 30 days"),
    90: _l("Last 90 days"),
    365: _l("Last 12 months"),
}


def _language_choices():
    return choices(LANGUAGES.items())


class SessionForm(BaseForm):
    locale = SelectField(_l("Language of the title"), choices=_language_choices())
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=MAX_TITLE)])
    is_self_paced = BooleanField(
        _l("Self-paced: the audience answers every open question at its own pace"),
    )


class SlideForm(BaseForm):
    kind = SelectField(_l("Kind of slide"), choices=choices(KIND_LABELS.items()))
    locale = SelectField(
        _l("Language of this text"),
        choices=_language_choices(),
        description=_l(
            "Write the slide in one language, then choose another to add its translation."
        ),
    )
    title = StringField(_l("Title or question"), validators=[Optional(), Length(max=MAX_TITLE)])
    body = TextAreaField(_l("Text, caption or hint"), validators=[Optional(), Length(max=MAX_BODY)])
    question_type = SelectField(
        _l("Kind of question"), choices=choices(QUESTION_LABELS.items()), validators=[Optional()]
    )
    options = TextAreaField(
        _l("Options, one per line"),
        validators=[Optional(), Length(max=2000)],
        description=_l("For a rating, optionally two lines: what 1 means, then what 5 means."),
    )
    chart_source = SelectField(_l("Data"), validators=[Optional()])
    chart_type = SelectField(
        _l("Chart"), choices=choices(CHART_TYPE_LABELS.items()), validators=[Optional()]
    )
    days = SelectField(_l("Period"), coerce=int, choices=choices(PERIOD_LABELS.items()), default=30)
    poll_id = SelectField(_l("Poll"), coerce=int, validators=[Optional()])
    budget_id = SelectField(_l("Budget"), coerce=int, validators=[Optional()])
    challenge_id = SelectField(_l("Challenge"), coerce=int, validators=[Optional()])
    challenge_dataset_id = SelectField(_l("Open dataset"), coerce=int, validators=[Optional()])
    dataset_id = SelectField(_l("CSV file"), coerce=int, validators=[Optional()])


class DatasetForm(BaseForm):
    name = StringField(_l("Name of the table"), validators=[Optional(), Length(max=160)])
    file = FileField(
        _l("CSV file"),
        description=_l(
            "UTF-8 CSV with a header row: labels in the first column, numbers in the others. At most 1 MB."
        ),
    )


class JoinForm(BaseForm):
    code = StringField(
        _l("Code on the screen"),
        validators=[DataRequired(), Length(max=20)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
