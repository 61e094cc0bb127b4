"""Challenge forms; labels are lazy so each request shows them in its language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from civic.challenges import services
from civic.challenges.models import (
    ACCESS_LEVELS,
    AUTHORSHIP,
    COLLECTION,
    DIMENSIONS,
    DYNAMICS,
    FILE_KINDS,
    FORMAT_KINDS,
    PERSONALISATION,
    REFINEMENT,
    STATISTICAL_KINDS,
    TEAM_TYPES,
    UPDATE_FREQUENCIES,
)
from civic.core.forms import BaseForm, choices


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _pairs(keys, labels):
    return choices((k, labels[k]) for k in keys)


class ProblemForm(BaseForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=160)])
    what_goes_wrong = TextAreaField(
        _l("What goes wrong"),
        validators=[DataRequired(), Length(max=5000)],
        description=_l("Describe the problem as you meet it in your work."),
    )
    who_is_affected = TextAreaField(
        _l("Who is affected"), validators=[DataRequired(), Length(max=3000)]
    )
    cost_today = TextAreaField(
        _l("What it costs today"),
        validators=[DataRequired(), Length(max=3000)],
        description=_l("Money, staff time, delays, complaints…"),
    )
    yearly_cost = StringField(
        _l("Estimated yearly cost"),
        validators=[Optional(), Length(max=30)],
        description=_l("Optional, in the city's currency."),
    )
    data_available = TextAreaField(
        _l("What data exists"),
        validators=[Optional(), Length(max=3000)],
        description=_l("Systems, spreadsheets, sensors, paper records…"),
    )


class CommentForm(BaseForm):
    body = TextAreaField(_l("Comment"), validators=[DataRequired(), Length(max=5000)])


class PrizeForm(Form):
    class Meta:
        def get_translations(self, form):
            return BaseForm.Meta.get_translations(self, form)

    amount = StringField(_l("Amount"), validators=[Optional(), Length(max=30)])
    description = StringField(_l("What it includes"), validators=[Optional(), Length(max=300)])


class ChallengeForm(BaseForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=160)])
    problem_statement = TextAreaField(
        _l("Problem statement"), validators=[DataRequired(), Length(max=20000)]
    )
    expected_outcome = TextAreaField(
        _l("Expected outcome"), validators=[DataRequired(), Length(max=20000)]
    )
    eligibility = TextAreaField(
        _l("Who may take part"),
        validators=[Optional(), Length(max=5000)],
        description=_l("Shown to teams, e.g. micro and small companies registered in Brazil."),
    )
    eligible_types = MultiCheckboxField(
        _l("Eligible kinds of team"), choices=_pairs(TEAM_TYPES, services.TEAM_TYPE_LABELS)
    )
    eligible_countries = StringField(
        _l("Eligible countries"),
        validators=[Optional(), Length(max=200)],
        description=_l("Two-letter codes separated by commas (BR, AR); empty for any country."),
    )
    requirements = TextAreaField(
        _l("Requirements"),
        validators=[Optional(), Length(max=5000)],
        description=_l("An OSI-approved open-source licence is always required."),
    )
    requires_demo = BooleanField(_l("A working prototype (demo address) is required"))
    requires_cost_estimate = BooleanField(
        _l("A cost estimate (build and yearly operation) is required")
    )
    possible_contract = BooleanField(_l("The winner may be offered a contract"))
    contract_note = TextAreaField(
        _l("About the contract"), validators=[Optional(), Length(max=3000)]
    )
    registration_opens_at = DateTimeLocalField(
        _l("Registration opens"), validators=[DataRequired()]
    )
    submission_opens_at = DateTimeLocalField(_l("Submissions open"), validators=[DataRequired()])
    submission_closes_at = DateTimeLocalField(
        _l("Submission deadline"), validators=[DataRequired()]
    )
    results_due_at = DateTimeLocalField(_l("Results expected"), validators=[DataRequired()])
    method = SelectField(
        _l("How scores are combined"),
        choices=_pairs(services.METHOD_LABELS, services.METHOD_LABELS),
        default="z",
    )
    judges_per_submission = IntegerField(
        _l("Judges per submission"), default=3, validators=[NumberRange(1, 10)]
    )
    consensus_threshold = IntegerField(
        _l("Disagreement that needs a consensus note (points of 100)"),
        default=30,
        validators=[NumberRange(1, 100)],
    )
    problems = MultiCheckboxField(_l("Problems from the bank"), coerce=int)
    terms = TextAreaField(
        _l("Rules and data-use terms"),
        validators=[Optional(), Length(max=20000)],
        description=_l("Version 1. Later changes make a new version that teams accept again."),
    )
    reason = TextAreaField(
        _l("Reason for the change"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Required once the challenge is published; shown publicly."),
    )


class RubricCriterionForm(Form):
    class Meta:
        def get_translations(self, form):
            return BaseForm.Meta.get_translations(self, form)

    name = StringField(_l("Criterion"), validators=[Optional(), Length(max=120)])
    weight = IntegerField(_l("Weight"), validators=[Optional(), NumberRange(1, 100)])
    anchor_0 = StringField(_l("What a 0 looks like"), validators=[Optional(), Length(max=300)])
    anchor_1 = StringField(_l("What a 1 looks like"), validators=[Optional(), Length(max=300)])
    anchor_2 = StringField(_l("What a 2 looks like"), validators=[Optional(), Length(max=300)])
    anchor_3 = StringField(_l("What a 3 looks like"), validators=[Optional(), Length(max=300)])
    anchor_4 = StringField(_l("What a 4 looks like"), validators=[Optional(), Length(max=300)])
    anchor_5 = StringField(_l("What a 5 looks like"), validators=[Optional(), Length(max=300)])


class PrizesForm(BaseForm):
    prizes = FieldList(FormField(PrizeForm), min_entries=5, max_entries=5)
    reason = TextAreaField(
        _l("Reason for the change"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Required once the challenge is published; shown publicly."),
    )


class RubricForm(BaseForm):
    criteria = FieldList(FormField(RubricCriterionForm), min_entries=6, max_entries=6)
    reason = TextAreaField(
        _l("Reason for the change"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Required once the challenge is published; shown publicly."),
    )


class TermsForm(BaseForm):
    text = TextAreaField(
        _l("New version of the rules and data-use terms"),
        validators=[DataRequired(), Length(max=20000)],
    )
    note = StringField(_l("What changed"), validators=[DataRequired(), Length(max=2000)])


class DatasetForm(BaseForm):
    file = FileField(_l("File"))
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=160)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    file_kind = SelectField(
        _l("File type"),
        choices=_pairs(FILE_KINDS, services.FILE_KIND_LABELS),
        description=_l("Checked against the content: a file that is not what it says is refused."),
    )
    licence = StringField(
        _l("Licence"),
        validators=[DataRequired(), Length(max=60)],
        description=_l("An SPDX identifier, e.g. CC-BY-4.0 or ODbL-1.0."),
    )
    update_frequency = SelectField(
        _l("Update frequency"), choices=_pairs(UPDATE_FREQUENCIES, services.FREQUENCY_LABELS)
    )
    challenge = SelectField(_l("Challenge"), coerce=int)
    access = RadioField(_l("Access"), choices=_pairs(ACCESS_LEVELS, services.ACCESS_LABELS))
    personalisation = SelectField(
        _l("Personal data"),
        choices=_pairs(PERSONALISATION, services.PERSONALISATION_LABELS),
        description=_l("Personal data can never be open."),
    )
    collection = SelectField(
        _l("Collection"), choices=_pairs(COLLECTION, services.COLLECTION_LABELS)
    )
    authorship = SelectField(
        _l("Authorship"), choices=_pairs(AUTHORSHIP, services.AUTHORSHIP_LABELS)
    )
    format_kind = SelectField(_l("Format"), choices=_pairs(FORMAT_KINDS, services.FORMAT_LABELS))
    refinement = SelectField(
        _l("Refinement"), choices=_pairs(REFINEMENT, services.REFINEMENT_LABELS)
    )
    dimensions = MultiCheckboxField(
        _l("Dimensions"), choices=_pairs(DIMENSIONS, services.DIMENSION_LABELS)
    )
    statistical_kind = SelectField(
        _l("Statistical kind"), choices=_pairs(STATISTICAL_KINDS, services.STATISTICAL_LABELS)
    )
    dynamics = SelectField(_l("Dynamics"), choices=_pairs(DYNAMICS, services.DYNAMICS_LABELS))


class TeamForm(BaseForm):
    name = StringField(
        _l("Team or organisation name"), validators=[DataRequired(), Length(max=120)]
    )
    org_type = SelectField(_l("Kind"), choices=_pairs(TEAM_TYPES, services.TEAM_TYPE_LABELS))
    registration_number = StringField(
        _l("Registration number"),
        validators=[Optional(), Length(max=60)],
        description=_l("Companies: the official registration number (e.g. CNPJ)."),
    )
    country = SelectField(_l("Country"))


class InviteForm(BaseForm):
    email = StringField(
        _l("E-mail address"),
        validators=[Optional(), Length(max=254)],
        description=_l("Leave empty to make a link you can share yourself."),
    )


class RegisterForm(BaseForm):
    team = SelectField(_l("Team"), coerce=int)
    accept_rules = BooleanField(_l("Our team accepts the challenge's rules"))
    accept_terms = BooleanField(_l("Our team accepts the data-use terms (this version)"))


class AcceptTermsForm(BaseForm):
    accept_terms = BooleanField(_l("Our team accepts this version of the data-use terms"))


class SubmissionForm(BaseForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=160)])
    summary = TextAreaField(
        _l("Summary"),
        validators=[DataRequired(), Length(max=20000)],
        description=_l("What it does, for whom, and how the city would maintain it."),
    )
    repository_url = StringField(
        _l("Public repository"),
        validators=[DataRequired(), Length(max=300)],
        description=_l("https:// address of the source code."),
    )
    licence = StringField(
        _l("Licence (SPDX identifier)"),
        validators=[DataRequired(), Length(max=60)],
        description=_l("Must be OSI-approved, e.g. MIT, Apache-2.0, AGPL-3.0-or-later."),
    )
    demo_url = StringField(_l("Demo address"), validators=[Optional(), Length(max=300)])
    video_url = StringField(_l("Video address"), validators=[Optional(), Length(max=300)])
    build_cost = StringField(_l("Cost to build"), validators=[Optional(), Length(max=30)])
    yearly_cost = StringField(_l("Cost to run per year"), validators=[Optional(), Length(max=30)])
    members = MultiCheckboxField(_l("Team members who worked on it"), coerce=int)
    archive = FileField(_l("Source archive (optional)"))


class ConflictForm(BaseForm):
    reason = TextAreaField(
        _l("Why you have a conflict of interest"),
        validators=[DataRequired(), Length(max=2000)],
        description=_l("Only city staff see this. Another judge takes your place."),
    )


class ReasonForm(BaseForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class ConsensusForm(BaseForm):
    note = TextAreaField(
        _l("Consensus note"),
        validators=[DataRequired(), Length(max=5000)],
        description=_l("How the panel resolved the disagreement; published with the results."),
    )


class PublishForm(BaseForm):
    method_note = TextAreaField(
        _l("Why the published method stands"),
        validators=[Optional(), Length(max=5000)],
        description=_l("Required when the top places differ between methods; published."),
    )


class PanelForm(BaseForm):
    judge = SelectField(_l("Judge"), coerce=int)


class AssignForm(BaseForm):
    judge = SelectField(_l("Add a judge"), coerce=int)


class MessageForm(BaseForm):
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=5000)])


class QuestionForm(BaseForm):
    body = TextAreaField(
        _l("Your question"),
        validators=[DataRequired(), Length(max=3000)],
        description=_l("About the problem, the rules or the data. Answers are public."),
    )


class AnswerForm(BaseForm):
    answer = TextAreaField(_l("Answer"), validators=[DataRequired(), Length(max=5000)])


class ConfirmForm(BaseForm):
    """A button-only form (CSRF token)."""

    confirm = HiddenField(default="1")


def score_form(criteria, from_request: bool = True, **data):
    """A form with a 0–5 choice and a comment per criterion, the team feedback and the action."""

    class ScoreForm(BaseForm):
        feedback = TextAreaField(
            _l("Feedback for the team"),
            validators=[Optional(), Length(max=10000)],
            description=_l("Compiled with the other judges' feedback and shown to the team."),
        )

    for criterion in criteria:
        anchors = criterion.anchors or {}
        setattr(
            ScoreForm,
            f"score_{criterion.id}",
            RadioField(
                services.pick_text(criterion.name).text,
                choices=choices(
                    (str(s), f"{s} · {services.pick_text(anchors.get(str(s))).text}")
                    for s in range(6)
                ),
                validators=[Optional()],
            ),
        )
        setattr(
            ScoreForm,
            f"comment_{criterion.id}",
            TextAreaField(_l("Comment"), validators=[Optional(), Length(max=5000)]),
        )
    return ScoreForm(**data) if from_request else ScoreForm(formdata=None, **data)
