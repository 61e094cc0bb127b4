"""Challenge pages: problem bank, challenges, datasets, teams, submissions, judging, results."""

from __future__ import annotations

from datetime import UTC, datetime

from babel import Locale
from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from civic.challenges import files, services
from civic.challenges.cli import import_dataset_command
from civic.challenges.forms import (
    AcceptTermsForm,
    AnswerForm,
    AssignForm,
    ChallengeForm,
    CommentForm,
    ConfirmForm,
    ConflictForm,
    ConsensusForm,
    DatasetForm,
    InviteForm,
    MessageForm,
    PanelForm,
    PrizesForm,
    ProblemForm,
    PublishForm,
    QuestionForm,
    ReasonForm,
    RegisterForm,
    RubricForm,
    SubmissionForm,
    TeamForm,
    TermsForm,
    score_form,
)
from civic.challenges.models import TEAM_TYPES
from civic.config import LANGUAGES
from civic.core.auth import admin_required, roles_required, staff_required
from civic.core.errors import DomainError, NotAllowed
from civic.core.forms import choices
from civic.core.i18n import current_locale_code, format_when, pick_text
from civic.core.rendering import render
from civic.core.time import utcnow

bp = Blueprint("challenges", __name__, url_prefix="/challenges")
bp.cli.add_command(import_dataset_command)


@bp.context_processor
def _helpers():
    return {
        "phase_of": services.current_phase,
        "phase_labels": services.PHASE_LABELS,
        "method_labels": services.METHOD_LABELS,
        "method_short": services.METHOD_SHORT,
        "team_type_labels": services.TEAM_TYPE_LABELS,
        "access_short": services.ACCESS_SHORT,
        "access_labels": services.ACCESS_LABELS,
        "city_zone": services.city_timezone_name,
        "next_deadline": services.next_deadline,
        "countdown": countdown,
        "is_innovation": services.is_innovation_team(_viewer()),
        "is_staff_user": services.is_staff(_viewer()),
        "country_name": _country_name,
        "change_labels": services.CHANGE_LABELS,
        "tie_labels": services.TIE_LABELS,
    }


# -- Helpers ------------------------------------------------------------------------------------


def _viewer():
    return current_user if current_user.is_authenticated else None


def _require_innovation() -> None:
    if not services.is_innovation_team(_viewer()):
        abort(403)


def _aware(value: datetime | None) -> datetime | None:
    """A datetime-local value (the city's time) as aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=get_timezone()).astimezone(UTC)


def _local(value: datetime | None) -> datetime | None:
    """An aware UTC datetime as the city's wall-clock time, for datetime-local inputs."""
    return value.astimezone(get_timezone()).replace(tzinfo=None) if value else None


def countdown(target: datetime | None) -> str:
    """'3 days left', '5 hours left', '12 minutes left' until target (server time)."""
    if target is None:
        return ""
    seconds = (target - utcnow()).total_seconds()
    if seconds <= 0:
        return _("Closed")
    if seconds >= 86400:
        days = int(seconds // 86400)
        return ngettext_("%(num)s day left", "%(num)s days left", days)
    if seconds >= 3600:
        hours = int(seconds // 3600)
        return ngettext_("%(num)s hour left", "%(num)s hours left", hours)
    minutes = max(1, int(seconds // 60))
    return ngettext_("%(num)s minute left", "%(num)s minutes left", minutes)


def ngettext_(singular: str, plural: str, num: int) -> str:
    from flask_babel import ngettext

    return ngettext(singular, plural, num)


def _country_name(code: str) -> str:
    try:
        return Locale.parse(current_locale_code()).territories.get(code, code)
    except (ValueError, LookupError):
        return code


def _country_choices():
    territories = Locale.parse(current_locale_code()).territories
    codes = sorted(
        (c for c in Locale("en").territories if len(c) == 2 and c.isalpha()),
        key=lambda c: territories.get(c, c),
    )
    return choices([("", _("Choose a country"))] + [(c, territories.get(c, c)) for c in codes])


def _text_locale() -> str:
    wanted = request.values.get("text_locale")
    return wanted if wanted in LANGUAGES else current_locale_code()


def _merge(existing: dict[str, str] | None, locale: str, text: str | None) -> dict[str, str]:
    """Put one language's text into translatable content, keeping the other languages."""
    merged = dict(existing or {})
    if text and text.strip():
        merged[locale] = text.strip()
    else:
        merged.pop(locale, None)
    return merged


def _fail(form, error: DomainError) -> int:
    form.add_domain_error(error)
    return error.status_code


def _file(field):
    data = field.data
    if data and getattr(data, "filename", ""):
        return data
    return None


# -- Public pages -------------------------------------------------------------------------------


@bp.get("/")
def index():
    """Challenges: what the city wants solved, with phases and deadlines."""
    return render("challenges/index.html", challenges=services.list_challenges(_viewer()))


@bp.get("/<slug>")
def detail(slug: str):
    """A challenge: problem, rules, prizes, phases, rubric, data, judges, questions."""
    challenge = services.get_challenge(slug, _viewer())
    mine = services.my_registrations(current_user.id, challenge.id) if _viewer() else []
    submissions = {r.id: services.team_submission(challenge.id, r.team_id) for r in mine}
    return render(
        "challenges/detail.html",
        challenge=challenge,
        phase=services.current_phase(challenge),
        terms=services.current_terms(challenge),
        changes=services.list_changes(challenge.id),
        datasets=services.list_datasets(_viewer(), challenge.id),
        panel=services.list_panel(challenge.id),
        questions=services.list_questions(challenge.id),
        question_form=QuestionForm(formdata=None),
        registrations=mine,
        submissions=submissions,
        has_current_terms=services.has_current_terms,
        result=services.get_result(challenge.id),
        locked=services.is_rubric_locked(challenge),
        archive_limit=services.archive_max_bytes(),
    )


@bp.post("/<slug>/questions")
@login_required
def ask(slug: str):
    """Ask a public question about the challenge or its data."""
    challenge = services.get_challenge(slug, _viewer())
    form = QuestionForm()
    if form.validate_on_submit():
        try:
            services.ask_question(current_user.id, challenge.id, form.body.data)
        except DomainError as error:
            flash(str(error.message), "error")
        else:
            flash(_("Thank you. The innovation team will answer publicly."), "success")
    else:
        flash(_("Please write your question."), "error")
    return redirect(url_for("challenges.detail", slug=slug) + "#questions")


@bp.post("/questions/<int:question_id>/answer")
@staff_required
def answer(question_id: int):
    """The innovation team answers a question publicly."""
    _require_innovation()
    form = AnswerForm()
    question = services.get_question(question_id)
    challenge = services.get_challenge_by_id(question.challenge_id)
    if form.validate_on_submit():
        services.answer_question(current_user.id, question_id, form.answer.data)
        flash(_("Answer published."), "success")
    else:
        flash(_("Please write the answer."), "error")
    return redirect(url_for("challenges.manage", slug=challenge.slug) + "#questions")


@bp.get("/<slug>/results")
def results(slug: str):
    """The published ranking with per-criterion scores, method, prizes, flags and how they were
    resolved; staff preview it (with the flags to resolve) before publishing."""
    challenge = services.get_challenge(slug, _viewer())
    result = services.get_result(challenge.id)
    preview = None
    innovation = services.is_innovation_team(_viewer())
    if result is None:
        if not innovation:
            return render("challenges/results_pending.html", challenge=challenge, status=404)
        preview = services.serialise_outcome(services.compute_outcome(challenge.id))
    outcome = result.outcome if result else preview
    method = result.method if result else challenge.method
    submissions = {s.id: s for s in services.list_submissions(challenge.id)}
    return render(
        "challenges/results.html",
        challenge=challenge,
        result=result,
        outcome=outcome,
        method=method,
        ranking=outcome["rankings"][method],
        submissions=submissions,
        versions={sid: services.judged_version(s) for sid, s in submissions.items()},
        prizes={p.awarded_submission_id: p for p in challenge.prizes if p.awarded_submission_id},
        panel=services.list_panel(challenge.id),
        progress=services.judging_progress(challenge.id),
        consensus_forms={
            sid: ConsensusForm(formdata=None, prefix=f"c{sid}") for sid in submissions
        },
        publish_form=PublishForm(formdata=None),
        phase=services.current_phase(challenge),
    )


@bp.get("/<slug>/results.csv")
def results_csv(slug: str):
    """Scores as CSV: public once published; staff add ?judges=1 for every judge's sheet."""
    challenge = services.get_challenge(slug, _viewer())
    innovation = services.is_innovation_team(_viewer())
    if services.get_result(challenge.id) is None and not innovation:
        abort(404)
    include_judges = request.args.get("judges") == "1"
    if include_judges and not innovation:
        abort(403)
    return Response(
        services.scores_csv(challenge.id, include_judges=include_judges),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename=civic-challenge-{challenge.slug}-scores.csv"
        },
    )


# -- Datasets -----------------------------------------------------------------------------------


@bp.get("/datasets")
def datasets():
    """The catalogue: open data for anyone, registered data for teams, closed for staff."""
    return render("challenges/datasets.html", datasets=services.list_datasets(_viewer()))


@bp.get("/datasets/<int:dataset_id>")
def dataset(dataset_id: int):
    """A dataset's metadata and profile (the preview only for those who may download it)."""
    item = services.get_dataset(dataset_id)
    access = services.dataset_access(_viewer(), item)
    if item.access == "closed" and not access.allowed:
        if access.needs_login:
            return current_app.login_manager.unauthorized()
        abort(403)
    return render(
        "challenges/dataset.html",
        dataset=item,
        access=access,
        downloads=services.count_downloads(item.id) if services.is_staff(_viewer()) else None,
        labels=_dataset_labels(),
    )


def _dataset_labels():
    return {
        "collection": services.COLLECTION_LABELS,
        "personalisation": services.PERSONALISATION_LABELS,
        "authorship": services.AUTHORSHIP_LABELS,
        "format_kind": services.FORMAT_LABELS,
        "refinement": services.REFINEMENT_LABELS,
        "dimensions": services.DIMENSION_LABELS,
        "statistical_kind": services.STATISTICAL_LABELS,
        "dynamics": services.DYNAMICS_LABELS,
        "update_frequency": services.FREQUENCY_LABELS,
        "file_kind": services.FILE_KIND_LABELS,
        "profile_errors": services.PROFILE_ERRORS,
        "column_types": services.COLUMN_TYPE_LABELS,
    }


@bp.route("/datasets/<int:dataset_id>/download", methods=["GET", "HEAD"])
def download(dataset_id: int):
    """Stream the file (HTTP Range supported) to those the access rule allows; log it."""
    item = services.get_dataset(dataset_id)
    access = services.dataset_access(_viewer(), item)
    if not access.allowed:
        if access.needs_login:
            return current_app.login_manager.unauthorized()
        raise NotAllowed(access.reason)
    if not files.exists(item.storage_key):
        abort(404)
    try:
        response = files.stream_response(
            item.storage_key, item.filename, item.content_type, etag=item.sha256
        )
    except RequestedRangeNotSatisfiable:
        raise
    if request.method == "GET":
        services.record_download(item, _viewer(), access, request.headers.get("Range"))
    return response


def _upload_limit() -> int:
    """The largest dataset the web form takes: the request limit caps the dataset limit.
    Larger files go in with `civic challenges import-dataset`."""
    request_limit = current_app.config.get("MAX_CONTENT_LENGTH") or services.dataset_max_bytes()
    return min(services.dataset_max_bytes(), request_limit)


def _dataset_form(form: DatasetForm) -> DatasetForm:
    form.challenge.choices = choices(
        [(0, _("No challenge"))]
        + [(c.id, pick_text(c.title).text) for c in services.list_challenges(_viewer())]
    )
    return form


def _dataset_input(form: DatasetForm, existing=None) -> services.DatasetInput:
    locale = _text_locale()
    return services.DatasetInput(
        title=_merge(existing.title if existing else None, locale, form.title.data),
        description=_merge(
            existing.description if existing else None, locale, form.description.data
        ),
        file_kind=form.file_kind.data,
        licence=form.licence.data,
        update_frequency=form.update_frequency.data,
        access=form.access.data or "",
        collection=form.collection.data,
        personalisation=form.personalisation.data,
        authorship=form.authorship.data,
        format_kind=form.format_kind.data,
        refinement=form.refinement.data,
        dimensions=tuple(form.dimensions.data or ()),
        statistical_kind=form.statistical_kind.data,
        dynamics=form.dynamics.data,
        challenge_id=form.challenge.data or None,
    )


@bp.route("/datasets/new", methods=["GET", "POST"])
@staff_required
def new_dataset():
    """Staff publish a dataset with its classification metadata."""
    form = _dataset_form(DatasetForm())
    status = 200
    if form.validate_on_submit():
        upload = _file(form.file)
        try:
            item = services.create_dataset(
                current_user.id,
                _dataset_input(form),
                upload.stream if upload else None,
                upload.filename if upload else "",
            )
        except DomainError as error:
            status = _fail(form, error)
        else:
            flash(_("Dataset published. Its profile is being computed."), "success")
            return redirect(url_for("challenges.dataset", dataset_id=item.id))
    elif form.is_submitted():
        status = 400
    return render(
        "challenges/dataset_form.html",
        form=form,
        status=status,
        max_bytes=_upload_limit(),
        item=None,
    )


@bp.route("/datasets/<int:dataset_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_dataset(dataset_id: int):
    """Staff correct a dataset's metadata."""
    item = services.get_dataset(dataset_id)
    locale = _text_locale()
    if request.method == "GET":
        form = DatasetForm(
            formdata=None,
            obj=item,
            title=item.title.get(locale, ""),
            description=item.description.get(locale, ""),
            challenge=item.challenge_id or 0,
        )
    else:
        form = DatasetForm()
    _dataset_form(form)
    del form.file
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.update_dataset(current_user.id, item.id, _dataset_input(form, item))
        except DomainError as error:
            status = _fail(form, error)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("challenges.dataset", dataset_id=item.id))
    elif form.is_submitted():
        status = 400
    return render(
        "challenges/dataset_form.html", form=form, status=status, item=item, text_locale=locale
    )


@bp.post("/datasets/<int:dataset_id>/profile")
@staff_required
def reprofile(dataset_id: int):
    """Staff run the profiling job again."""
    from civic.challenges.jobs import profile_dataset
    from civic.jobs import enqueue

    item = services.get_dataset(dataset_id)
    enqueue(profile_dataset, item.id)
    flash(_("The profile is being computed."), "info")
    return redirect(url_for("challenges.dataset", dataset_id=item.id))


# -- Problem bank (staff) -----------------------------------------------------------------------


@bp.get("/problems")
@staff_required
def problems():
    """The problem bank: what staff meet in their work, most supported first."""
    items = services.list_problems(request.args.get("state") or None)
    return render(
        "challenges/problems.html",
        problems=items,
        names=services.user_names(p.author_id for p in items),
    )


@bp.route("/problems/new", methods=["GET", "POST"])
@staff_required
def new_problem():
    """Record a problem from your work."""
    form = ProblemForm()
    status = 200
    if form.validate_on_submit():
        try:
            problem = services.create_problem(
                current_user.id,
                services.ProblemInput(
                    form.title.data,
                    form.what_goes_wrong.data,
                    form.who_is_affected.data,
                    form.cost_today.data,
                    form.yearly_cost.data,
                    form.data_available.data or "",
                ),
            )
        except DomainError as error:
            status = _fail(form, error)
        else:
            flash(_("Problem recorded. Colleagues can now support and comment on it."), "success")
            return redirect(url_for("challenges.problem", problem_id=problem.id))
    elif form.is_submitted():
        status = 400
    return render("challenges/problem_form.html", form=form, status=status)


@bp.get("/problems/<int:problem_id>")
@staff_required
def problem(problem_id: int, comment_form=None, status: int = 200):
    """A problem, its supporters, comments and the challenges that took it up."""
    item = services.get_problem(problem_id)
    return render(
        "challenges/problem.html",
        problem=item,
        supported=services.has_supported_problem(current_user.id, item.id),
        comment_form=comment_form or CommentForm(formdata=None),
        names=services.user_names([item.author_id] + [c.author_id for c in item.comments]),
        status=status,
    )


@bp.post("/problems/<int:problem_id>/support")
@staff_required
def support_problem(problem_id: int):
    """Support a problem, or take support back."""
    services.support_problem(current_user.id, problem_id, request.form.get("action") != "withdraw")
    flash(_("Saved."), "success")
    return redirect(url_for("challenges.problem", problem_id=problem_id))


@bp.post("/problems/<int:problem_id>/comments")
@staff_required
def comment_problem(problem_id: int):
    """Comment on a problem."""
    form = CommentForm()
    if form.validate_on_submit():
        try:
            services.comment_problem(current_user.id, problem_id, form.body.data)
        except DomainError as error:
            return problem(problem_id, comment_form=form, status=_fail(form, error))
        return redirect(url_for("challenges.problem", problem_id=problem_id) + "#comments")
    return problem(problem_id, comment_form=form, status=400)


# -- Building a challenge (innovation team) -----------------------------------------------------


def _challenge_form(form: ChallengeForm) -> ChallengeForm:
    form.problems.choices = choices((p.id, p.title) for p in services.list_problems())
    return form


def _challenge_input(form: ChallengeForm, existing=None) -> services.ChallengeInput:
    locale = _text_locale()

    def merged(attr: str, field) -> dict[str, str]:
        return _merge(getattr(existing, attr) if existing else None, locale, field.data)

    countries = tuple(
        c.strip().upper()
        for c in (form.eligible_countries.data or "").replace(";", ",").split(",")
        if c.strip()
    )
    return services.ChallengeInput(
        title=merged("title", form.title),
        problem_statement=merged("problem_statement", form.problem_statement),
        expected_outcome=merged("expected_outcome", form.expected_outcome),
        eligibility=merged("eligibility", form.eligibility),
        requirements=merged("requirements", form.requirements),
        registration_opens_at=_aware(form.registration_opens_at.data),
        submission_opens_at=_aware(form.submission_opens_at.data),
        submission_closes_at=_aware(form.submission_closes_at.data),
        results_due_at=_aware(form.results_due_at.data),
        eligible_types=tuple(form.eligible_types.data or ()),
        eligible_countries=countries,
        requires_demo=form.requires_demo.data,
        requires_cost_estimate=form.requires_cost_estimate.data,
        possible_contract=form.possible_contract.data,
        contract_note=merged("contract_note", form.contract_note),
        method=form.method.data,
        judges_per_submission=form.judges_per_submission.data or 3,
        consensus_threshold=form.consensus_threshold.data or 30,
        problem_ids=tuple(form.problems.data or ()),
    )


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def new_challenge():
    """The innovation team turns problems from the bank into a challenge."""
    _require_innovation()
    if request.method == "GET":
        problem_ids = [int(p) for p in request.args.getlist("problem") if p.isdigit()]
        form = ChallengeForm(
            formdata=None,
            problems=problem_ids,
            eligible_types=list(TEAM_TYPES),
            requires_demo=True,
            requires_cost_estimate=True,
        )
    else:
        form = ChallengeForm()
    _challenge_form(form)
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                challenge = services.create_challenge(
                    current_user.id,
                    _challenge_input(form),
                    {_text_locale(): form.terms.data or ""},
                )
            except DomainError as error:
                status = _fail(form, error)
            else:
                flash(
                    _("Challenge drafted. Now set its rubric and prizes, then publish it."),
                    "success",
                )
                return redirect(url_for("challenges.manage", slug=challenge.slug))
        else:
            status = 400
    return render(
        "challenges/challenge_form.html",
        form=form,
        status=status,
        challenge=None,
        text_locale=_text_locale(),
    )


@bp.route("/<slug>/edit", methods=["GET", "POST"])
@staff_required
def edit_challenge(slug: str):
    """Change a challenge's texts, rules and dates (recorded publicly once published)."""
    _require_innovation()
    challenge = services.get_challenge(slug, _viewer())
    locale = _text_locale()
    if request.method == "GET":
        form = ChallengeForm(
            formdata=None,
            obj=challenge,
            title=challenge.title.get(locale, ""),
            problem_statement=challenge.problem_statement.get(locale, ""),
            expected_outcome=challenge.expected_outcome.get(locale, ""),
            eligibility=challenge.eligibility.get(locale, ""),
            requirements=challenge.requirements.get(locale, ""),
            contract_note=challenge.contract_note.get(locale, ""),
            eligible_countries=", ".join(challenge.eligible_countries),
            registration_opens_at=_local(challenge.registration_opens_at),
            submission_opens_at=_local(challenge.submission_opens_at),
            submission_closes_at=_local(challenge.submission_closes_at),
            results_due_at=_local(challenge.results_due_at),
            problems=[link.problem_id for link in challenge.problem_links],
        )
    else:
        form = ChallengeForm()
    _challenge_form(form)
    del form.terms
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                services.update_challenge(
                    current_user.id,
                    challenge.id,
                    _challenge_input(form, challenge),
                    form.reason.data or "",
                )
            except DomainError as error:
                status = _fail(form, error)
            else:
                flash(_("Saved."), "success")
                return redirect(url_for("challenges.manage", slug=challenge.slug))
        else:
            status = 400
    return render(
        "challenges/challenge_form.html",
        form=form,
        status=status,
        challenge=challenge,
        text_locale=locale,
    )


@bp.route("/<slug>/rubric", methods=["GET", "POST"])
@staff_required
def rubric(slug: str):
    """Set the rubric: 3–6 criteria, weights summing to 100, anchors for 0…5."""
    _require_innovation()
    challenge = services.get_challenge(slug, _viewer())
    locale = _text_locale()
    if request.method == "GET":
        rows = [
            {
                "name": c.name.get(locale, ""),
                "weight": c.weight,
                **{f"anchor_{s}": (c.anchors.get(str(s)) or {}).get(locale, "") for s in range(6)},
            }
            for c in challenge.criteria
        ]
        form = RubricForm(formdata=None, data={"criteria": rows})
        while len(form.criteria) < 6:
            form.criteria.append_entry()
    else:
        form = RubricForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            existing = list(challenge.criteria)
            items = []
            for index, entry in enumerate(form.criteria):
                row = entry.form
                if not (row.name.data or "").strip() and not row.weight.data:
                    continue
                before = existing[index] if index < len(existing) else None
                items.append(
                    services.CriterionInput(
                        name=_merge(before.name if before else None, locale, row.name.data),
                        weight=row.weight.data or 0,
                        anchors={
                            str(s): _merge(
                                (before.anchors.get(str(s)) if before else None),
                                locale,
                                getattr(row, f"anchor_{s}").data,
                            )
                            for s in range(6)
                        },
                    )
                )
            try:
                services.set_rubric(current_user.id, challenge.id, items, form.reason.data or "")
            except DomainError as error:
                if error.field == "criteria":
                    error.field = None  # about the rubric as a whole: shown above the rows
                status = _fail(form, error)
            else:
                flash(_("Rubric saved."), "success")
                return redirect(url_for("challenges.manage", slug=challenge.slug))
        else:
            status = 400
    return render(
        "challenges/rubric_form.html",
        form=form,
        challenge=challenge,
        status=status,
        locked=services.is_rubric_locked(challenge),
        text_locale=locale,
    )


@bp.route("/<slug>/prizes", methods=["GET", "POST"])
@staff_required
def prizes(slug: str):
    """Set the prizes (amounts in the city's currency)."""
    _require_innovation()
    challenge = services.get_challenge(slug, _viewer())
    locale = _text_locale()
    if request.method == "GET":
        rows = [
            {"amount": str(p.amount), "description": p.description.get(locale, "")}
            for p in challenge.prizes
        ]
        form = PrizesForm(formdata=None, data={"prizes": rows})
        while len(form.prizes) < 5:
            form.prizes.append_entry()
    else:
        form = PrizesForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            existing = list(challenge.prizes)
            items = []
            for index, entry in enumerate(form.prizes):
                row = entry.form
                if not (row.amount.data or "").strip():
                    continue
                before = existing[index] if index < len(existing) else None
                items.append(
                    services.PrizeInput(
                        row.amount.data,
                        _merge(
                            before.description if before else None, locale, row.description.data
                        ),
                    )
                )
            try:
                services.set_prizes(current_user.id, challenge.id, items, form.reason.data or "")
            except DomainError as error:
                if error.field == "prizes":
                    error.field = None
                status = _fail(form, error)
            else:
                flash(_("Prizes saved."), "success")
                return redirect(url_for("challenges.manage", slug=challenge.slug))
        else:
            status = 400
    return render(
        "challenges/prizes_form.html",
        form=form,
        challenge=challenge,
        status=status,
        text_locale=locale,
    )


@bp.route("/<slug>/terms", methods=["GET", "POST"])
@staff_required
def terms(slug: str):
    """Publish a new version of the rules and data-use terms."""
    _require_innovation()
    challenge = services.get_challenge(slug, _viewer())
    form = TermsForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.add_terms_version(
                current_user.id, challenge.id, {_text_locale(): form.text.data}, form.note.data
            )
        except DomainError as error:
            status = _fail(form, error)
        else:
            flash(_("New version published. Teams must accept it again."), "success")
            return redirect(url_for("challenges.manage", slug=challenge.slug))
    elif form.is_submitted():
        status = 400
    return render("challenges/terms_form.html", form=form, challenge=challenge, status=status)


@bp.post("/<slug>/publish")
@staff_required
def publish(slug: str):
    """Announce the challenge."""
    _require_innovation()
    challenge = services.get_challenge(slug, _viewer())
    try:
        services.publish_challenge(current_user.id, challenge.id)
    except DomainError as error:
        if error.status_code == 403:
            raise
        flash(str(error.message), "error")
    else:
        flash(_("The challenge is published."), "success")
    return redirect(url_for("challenges.manage", slug=slug))


def _manage_context(challenge, panel_form=None):
    panel = services.list_panel(challenge.id)
    candidates = [u for u in services.list_judge_candidates() if u not in panel]
    panel_form = panel_form or PanelForm(formdata=None)
    panel_form.judge.choices = choices((u.id, u.display_name) for u in candidates)
    submissions = services.list_submissions(challenge.id)
    assignments = services.list_assignments(challenge.id)
    by_submission: dict[int, list] = {}
    for row in assignments:
        by_submission.setdefault(row.submission_id, []).append(row)
    assign_forms = {}
    for submission in submissions:
        taken = {
            a.judge_id
            for a in by_submission.get(submission.id, [])
            if a.state in ("assigned", "conflict")
        }
        form = AssignForm(formdata=None, prefix=f"s{submission.id}")
        form.judge.choices = choices((u.id, u.display_name) for u in panel if u.id not in taken)
        assign_forms[submission.id] = form
    return {
        "challenge": challenge,
        "phase": services.current_phase(challenge),
        "registrations": services.list_registrations(challenge.id),
        "submissions": submissions,
        "versions": {s.id: services.judged_version(s) for s in submissions},
        "panel": panel,
        "panel_form": panel_form,
        "assignments": by_submission,
        "assign_forms": assign_forms,
        "progress": services.judging_progress(challenge.id),
        "questions": services.list_questions(challenge.id, include_unanswered=True),
        "answer_form": AnswerForm(formdata=None),
        "changes": services.list_changes(challenge.id, include_private=True),
        "datasets": services.list_datasets(_viewer(), challenge.id),
        "locked": services.is_rubric_locked(challenge),
        "reopen_form": ReasonForm(formdata=None),
        "confirm_form": ConfirmForm(formdata=None),
        "has_current_terms": services.has_current_terms,
    }


@bp.get("/<slug>/manage")
@staff_required
def manage(slug: str):
    """The innovation team's overview: setup, registrations, judges, assignments, progress."""
    _require_innovation()
    return render(
        "challenges/manage.html", **_manage_context(services.get_challenge(slug, _viewer()))
    )


@bp.post("/<slug>/panel")
@staff_required
def add_to_panel(slug: str):
    """Put a judge on the panel."""
    challenge = services.get_challenge(slug, _viewer())
    _require_innovation()
    form = PanelForm()
    form.judge.choices = choices((u.id, u.display_name) for u in services.list_judge_candidates())
    if form.validate_on_submit():
        try:
            services.add_judge(current_user.id, challenge.id, form.judge.data)
        except DomainError as error:
            return render(
                "challenges/manage.html",
                status=_fail(form, error),
                **_manage_context(challenge, form),
            )
        flash(_("Judge added to the panel."), "success")
        return redirect(url_for("challenges.manage", slug=slug) + "#judges")
    return render("challenges/manage.html", status=400, **_manage_context(challenge, form))


@bp.post("/<slug>/panel/<int:user_id>/remove")
@staff_required
def remove_from_panel(slug: str, user_id: int):
    """Take a judge off the panel."""
    _require_innovation()
    challenge = services.get_challenge(slug, _viewer())
    try:
        services.remove_judge(current_user.id, challenge.id, user_id)
    except DomainError as error:
        if error.status_code == 403:
            raise
        flash(str(error.message), "error")
    else:
        flash(_("Judge removed from the panel."), "success")
    return redirect(url_for("challenges.manage", slug=slug) + "#judges")


@bp.post("/<slug>/assign")
@staff_required
def assign(slug: str):
    """Make the balanced random assignment."""
    _require_innovation()
    challenge = services.get_challenge(slug, _viewer())
    try:
        plan = services.assign_judges(current_user.id, challenge.id)
    except DomainError as error:
        if error.status_code == 403:
            raise
        flash(str(error.message), "error")
    else:
        flash(
            ngettext_("%(num)s assignment made.", "%(num)s assignments made.", len(plan.pairs)),
            "success",
        )
        if plan.short:
            flash(
                ngettext_(
                    "%(num)s submission has fewer judges than wanted: the panel is too small or conflicted.",
                    "%(num)s submissions have fewer judges than wanted: the panel is too small or conflicted.",
                    len(plan.short),
                ),
                "warning",
            )
    return redirect(url_for("challenges.manage", slug=slug) + "#assignments")


@bp.post("/submissions/<int:submission_id>/assign")
@staff_required
def assign_one(submission_id: int):
    """Assign one judge to a submission by hand."""
    _require_innovation()
    submission = services.get_submission(submission_id)
    form = AssignForm(prefix=f"s{submission.id}")
    form.judge.choices = choices(
        (u.id, u.display_name) for u in services.list_panel(submission.challenge_id)
    )
    if form.validate_on_submit():
        try:
            services.assign_judge(current_user.id, submission.id, form.judge.data)
        except DomainError as error:
            if error.status_code == 403:
                raise
            flash(str(error.message), "error")
        else:
            flash(_("Judge assigned."), "success")
    return redirect(url_for("challenges.manage", slug=submission.challenge.slug) + "#assignments")


@bp.post("/assignments/<int:assignment_id>/remove")
@staff_required
def unassign(assignment_id: int):
    """Take a judge off a submission (reassignment)."""
    _require_innovation()
    row = services.get_assignment(assignment_id)
    try:
        services.remove_assignment(current_user.id, row.id)
    except DomainError as error:
        if error.status_code == 403:
            raise
        flash(str(error.message), "error")
    else:
        flash(_("The judge was taken off this submission."), "success")
    return redirect(
        url_for("challenges.manage", slug=row.submission.challenge.slug) + "#assignments"
    )


@bp.post("/assignments/<int:assignment_id>/reopen")
@admin_required
def reopen(assignment_id: int):
    """An administrator reopens locked scores, with a logged reason."""
    row = services.get_assignment(assignment_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            services.reopen_scores(current_user.id, row.id, form.reason.data)
        except DomainError as error:
            flash(str(error.message), "error")
        else:
            flash(
                _("The scores are reopened; the judge can change and lock them again."), "success"
            )
    else:
        flash(_("Please give the reason for reopening."), "error")
    return redirect(
        url_for("challenges.manage", slug=row.submission.challenge.slug) + "#assignments"
    )


@bp.post("/submissions/<int:submission_id>/consensus")
@staff_required
def consensus(submission_id: int):
    """Record the panel's consensus note for a flagged submission."""
    _require_innovation()
    submission = services.get_submission(submission_id)
    form = ConsensusForm(prefix=f"c{submission.id}")
    if form.validate_on_submit():
        try:
            services.record_consensus(current_user.id, submission.id, form.note.data)
        except DomainError as error:
            if error.status_code == 403:
                raise
            flash(str(error.message), "error")
        else:
            flash(_("Consensus note recorded."), "success")
    else:
        flash(_("Please write the panel's consensus note."), "error")
    return redirect(
        url_for("challenges.results", slug=submission.challenge.slug) + f"#s{submission.id}"
    )


@bp.post("/<slug>/results/publish")
@staff_required
def publish_results(slug: str):
    """Publish the results, award the prizes and tell the teams."""
    _require_innovation()
    challenge = services.get_challenge(slug, _viewer())
    form = PublishForm()
    form.validate_on_submit()
    try:
        services.publish_results(current_user.id, challenge.id, form.method_note.data or "")
    except DomainError as error:
        if error.status_code == 403:
            raise
        flash(str(error.message), "error")
    else:
        flash(_("The results are published and the teams can read their feedback."), "success")
    return redirect(url_for("challenges.results", slug=slug))


# -- Teams --------------------------------------------------------------------------------------


@bp.route("/teams", methods=["GET", "POST"])
@login_required
def teams():
    """My teams, and a form to create one."""
    form = TeamForm()
    form.country.choices = _country_choices()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                team = services.create_team(
                    current_user.id,
                    form.name.data,
                    form.org_type.data,
                    form.registration_number.data,
                    form.country.data,
                )
            except DomainError as error:
                status = _fail(form, error)
            else:
                flash(_("Team created. Invite your colleagues."), "success")
                next_slug = request.args.get("challenge")
                if next_slug:
                    return redirect(url_for("challenges.register", slug=next_slug))
                return redirect(url_for("challenges.team", team_id=team.id))
        else:
            status = 400
    return render(
        "challenges/teams.html",
        form=form,
        teams=services.list_my_teams(current_user.id),
        status=status,
    )


def _team_context(team, **forms):
    edit = forms.get("edit") or TeamForm(formdata=None, obj=team)
    edit.country.choices = _country_choices()
    registrations = services.list_team_registrations(team.id)
    return {
        "team": team,
        "me": services.membership(current_user.id, team.id),
        "invites": services.list_invites(team.id),
        "invite_form": forms.get("invite") or InviteForm(formdata=None),
        "edit_form": edit,
        "registrations": registrations,
        "submissions": {
            r.id: services.team_submission(r.challenge_id, team.id) for r in registrations
        },
        "has_current_terms": services.has_current_terms,
        "frozen": services.is_team_frozen(team.id),
        "new_link": forms.get("new_link"),
        "confirm_form": ConfirmForm(formdata=None),
    }


@bp.get("/teams/<int:team_id>")
@login_required
def team(team_id: int):
    """A team: members, invitations, registrations and submissions (members and staff)."""
    item = services.get_team(team_id)
    if services.membership(current_user.id, item.id) is None and not services.is_staff(
        current_user
    ):
        abort(403)
    return render("challenges/team.html", **_team_context(item))


@bp.post("/teams/<int:team_id>/edit")
@login_required
def edit_team(team_id: int):
    """Owners rename or correct the team."""
    if services.membership(current_user.id, team_id) is None:
        abort(403)
    item = services.get_team(team_id)
    form = TeamForm()
    form.country.choices = _country_choices()
    status = 400
    if form.validate_on_submit():
        try:
            services.update_team(
                current_user.id,
                item.id,
                form.name.data,
                form.org_type.data,
                form.registration_number.data,
                form.country.data,
            )
        except DomainError as error:
            if error.status_code == 403:
                raise
            status = _fail(form, error)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("challenges.team", team_id=item.id))
    return render("challenges/team.html", status=status, **_team_context(item, edit=form))


@bp.post("/teams/<int:team_id>/invites")
@login_required
def invite(team_id: int):
    """Owners invite by e-mail, or make a link to share."""
    if services.membership(current_user.id, team_id) is None:
        abort(403)
    item = services.get_team(team_id)
    form = InviteForm()
    status = 400
    if form.validate_on_submit():
        try:
            invitation, token = services.invite_member(current_user.id, item.id, form.email.data)
        except DomainError as error:
            if error.status_code == 403:
                raise
            status = _fail(form, error)
        else:
            link = url_for("challenges.accept_invite", token=token, _external=True)
            if invitation.email:
                flash(_("Invitation sent to %(email)s.", email=invitation.email), "success")
            return render("challenges/team.html", **_team_context(item, new_link=link))
    return render("challenges/team.html", status=status, **_team_context(item, invite=form))


@bp.post("/invites/<int:invite_id>/revoke")
@login_required
def revoke_invite(invite_id: int):
    """Withdraw an unused invitation."""
    invitation = services.revoke_invite(current_user.id, invite_id)
    flash(_("Invitation withdrawn."), "success")
    return redirect(url_for("challenges.team", team_id=invitation.team_id))


@bp.route("/invites/<token>", methods=["GET", "POST"])
@login_required
def accept_invite(token: str):
    """Join a team from an invitation."""
    invitation = services.get_invite(token)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            joined = services.accept_invite(current_user.id, token)
        except DomainError as error:
            flash(str(error.message), "error")
            return render(
                "challenges/invite.html",
                invitation=invitation,
                team=services.get_team(invitation.team_id),
                form=form,
                status=error.status_code,
            )
        flash(_("Welcome to %(team)s.", team=joined.name), "success")
        return redirect(url_for("challenges.team", team_id=joined.id))
    return render(
        "challenges/invite.html",
        invitation=invitation,
        team=services.get_team(invitation.team_id),
        form=form,
    )


@bp.post("/teams/<int:team_id>/members/<int:user_id>/remove")
@login_required
def remove_member(team_id: int, user_id: int):
    """Owners remove a member; a member leaves."""
    try:
        services.remove_member(current_user.id, team_id, user_id)
    except DomainError as error:
        if error.status_code == 403:
            raise
        flash(str(error.message), "error")
        return redirect(url_for("challenges.team", team_id=team_id))
    if user_id == current_user.id:
        flash(_("You left the team."), "success")
        return redirect(url_for("challenges.teams"))
    flash(_("Member removed."), "success")
    return redirect(url_for("challenges.team", team_id=team_id))


@bp.post("/teams/<int:team_id>/members/<int:user_id>/owner")
@login_required
def make_owner(team_id: int, user_id: int):
    """Make a member an owner."""
    services.make_owner(current_user.id, team_id, user_id)
    flash(_("Saved."), "success")
    return redirect(url_for("challenges.team", team_id=team_id))


@bp.route("/<slug>/register", methods=["GET", "POST"])
@login_required
def register(slug: str):
    """Register a team: eligibility checked, rules and current data terms accepted."""
    challenge = services.get_challenge(slug, _viewer())
    my_teams = services.list_my_teams(current_user.id)
    form = RegisterForm()
    form.team.choices = choices((t.id, t.name) for t in my_teams)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.register_team(
                    current_user.id,
                    form.team.data,
                    challenge.id,
                    form.accept_rules.data,
                    form.accept_terms.data,
                )
            except DomainError as error:
                status = _fail(form, error)
            else:
                flash(
                    _("Your team is registered. You can now download the registered datasets."),
                    "success",
                )
                return redirect(url_for("challenges.detail", slug=slug))
        else:
            status = 400
    return render(
        "challenges/register.html",
        form=form,
        challenge=challenge,
        teams=my_teams,
        terms=services.current_terms(challenge),
        phase=services.current_phase(challenge),
        status=status,
    )


@bp.post("/registrations/<int:registration_id>/terms")
@login_required
def accept_terms(registration_id: int):
    """Accept the current version of the terms for one's team."""
    registration = services.get_registration_by_id(registration_id)
    if services.membership(current_user.id, registration.team_id) is None:
        abort(403)
    form = AcceptTermsForm()
    if form.validate_on_submit() and form.accept_terms.data:
        services.accept_terms(current_user.id, registration.id)
        flash(_("Thank you. Your team accepted the current terms."), "success")
    else:
        flash(_("Please accept the data-use terms."), "error")
    return redirect(url_for("challenges.detail", slug=registration.challenge.slug) + "#terms")


# -- Submissions --------------------------------------------------------------------------------


@bp.route("/<slug>/teams/<int:team_id>/submit", methods=["GET", "POST"])
@login_required
def submit(slug: str, team_id: int):
    """Submit or revise before the deadline; every version is kept."""
    challenge = services.get_challenge(slug, _viewer())
    item = services.get_team(team_id)
    if services.membership(current_user.id, item.id) is None:
        abort(403)
    submission = services.team_submission(challenge.id, item.id)
    latest = submission.versions[-1] if submission and submission.versions else None
    if request.method == "GET":
        data = {"members": [m.user_id for m in item.members]}
        if latest:
            data.update(
                title=latest.title,
                summary=latest.summary,
                repository_url=latest.repository_url,
                licence=latest.licence,
                demo_url=latest.demo_url,
                video_url=latest.video_url,
                build_cost=str(latest.build_cost) if latest.build_cost is not None else "",
                yearly_cost=str(latest.yearly_cost) if latest.yearly_cost is not None else "",
                members=[m["id"] for m in latest.members],
            )
        form = SubmissionForm(formdata=None, **data)
    else:
        form = SubmissionForm()
    form.members.choices = choices((m.user_id, m.user.display_name) for m in item.members)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            upload = _file(form.archive)
            try:
                version = services.submit(
                    current_user.id,
                    challenge.id,
                    item.id,
                    services.SubmissionInput(
                        title=form.title.data,
                        summary=form.summary.data,
                        repository_url=form.repository_url.data,
                        licence=form.licence.data,
                        demo_url=form.demo_url.data,
                        video_url=form.video_url.data,
                        build_cost=form.build_cost.data,
                        yearly_cost=form.yearly_cost.data,
                        member_ids=tuple(form.members.data or ()),
                        archive=upload.stream if upload else None,
                        archive_name=upload.filename if upload else None,
                    ),
                )
            except DomainError as error:
                status = _fail(form, error)
            else:
                flash(
                    _(
                        "Version %(number)s received at %(time)s. You can revise it until the deadline.",
                        number=version.number,
                        time=format_when(version.created_at, "long"),
                    ),
                    "success",
                )
                return redirect(
                    url_for("challenges.submission", submission_id=version.submission_id)
                )
        else:
            status = 400
    return render(
        "challenges/submit.html",
        form=form,
        challenge=challenge,
        team=item,
        submission=submission,
        phase=services.current_phase(challenge),
        archive_limit=services.archive_max_bytes(),
        status=status,
    )


@bp.get("/submissions/<int:submission_id>")
@login_required
def submission(submission_id: int, message_form=None, status: int = 200):
    """A submission: its versions, checks, results and feedback, and the feedback thread."""
    item = services.get_submission(submission_id)
    if not services.can_view_submission(current_user, item):
        abort(403)
    feedback = (
        services.team_feedback(current_user, item)
        if services.get_result(item.challenge_id)
        else None
    )
    return render(
        "challenges/submission.html",
        submission=item,
        challenge=item.challenge,
        judged=services.judged_version(item),
        feedback=feedback,
        thread=services.list_messages(item.id)
        if services.can_use_thread(current_user, item)
        else None,
        message_form=message_form or MessageForm(formdata=None),
        names=services.user_names(m.author_id for m in services.list_messages(item.id)),
        archive_problems=services.ARCHIVE_PROBLEMS,
        licence_labels=services.LICENCE_CHECK_LABELS,
        is_member=services.membership(current_user.id, item.team_id) is not None,
        phase=services.current_phase(item.challenge),
        status=status,
    )


@bp.post("/submissions/<int:submission_id>/messages")
@login_required
def message(submission_id: int):
    """Write in a submission's feedback thread (team and city staff)."""
    item = services.get_submission(submission_id)
    if not services.can_use_thread(current_user, item):
        abort(403)
    form = MessageForm()
    if form.validate_on_submit():
        try:
            services.post_message(current_user.id, item.id, form.body.data)
        except DomainError as error:
            return submission(submission_id, message_form=form, status=_fail(form, error))
        return redirect(url_for("challenges.submission", submission_id=item.id) + "#thread")
    return submission(submission_id, message_form=form, status=400)


@bp.get("/submissions/<int:submission_id>/versions/<int:number>/archive")
@login_required
def archive(submission_id: int, number: int):
    """Download a version's source archive (team, staff, assigned judges)."""
    item = services.get_submission(submission_id)
    if not services.can_view_submission(current_user, item):
        abort(403)
    version = next((v for v in item.versions if v.number == number), None)
    if version is None or not version.archive_key or not files.exists(version.archive_key):
        abort(404)
    return files.stream_response(
        version.archive_key,
        version.archive_name or "source",
        "application/octet-stream",
        etag=version.archive_sha256,
    )


# -- Judging ------------------------------------------------------------------------------------


@bp.get("/judging")
@roles_required("judge")
def judging():
    """A judge's assignments and progress."""
    rows = services.list_my_assignments(current_user.id)
    return render("challenges/judging.html", assignments=rows, judged=services.judged_version)


def _score_context(row, form, conflict_form=None):
    challenge = row.submission.challenge
    panel = None
    if row.locked_at is not None and row.state == "assigned":
        panel = services.panel_view(current_user.id, row.submission_id)
    return {
        "assignment": row,
        "submission": row.submission,
        "challenge": challenge,
        "version": services.judged_version(row.submission),
        "form": form,
        "conflict_form": conflict_form or ConflictForm(formdata=None),
        "panel": panel,
        "phase": services.current_phase(challenge),
        "licence_labels": services.LICENCE_CHECK_LABELS,
        "archive_problems": services.ARCHIVE_PROBLEMS,
    }


def _own_assignment(assignment_id: int):
    row = services.get_assignment(assignment_id)
    if row.judge_id != current_user.id:
        abort(403)
    return row


@bp.route("/judging/<int:assignment_id>", methods=["GET", "POST"])
@roles_required("judge")
def score(assignment_id: int):
    """Score each criterion 0–5 against the anchors, with comments; write feedback; lock."""
    row = _own_assignment(assignment_id)
    if row.state == "conflict":
        return render("challenges/score.html", status=200, **_score_context(row, None))
    criteria = row.submission.challenge.criteria
    status = 200
    if request.method == "GET":
        existing = services.my_scores(current_user.id, row.submission_id)
        data = {"feedback": row.feedback or ""}
        for c in criteria:
            if c.id in existing:
                data[f"score_{c.id}"] = str(existing[c.id].value)
                data[f"comment_{c.id}"] = existing[c.id].comment
        form = score_form(criteria, from_request=False, **data)
    else:
        form = score_form(criteria)
        if form.validate_on_submit():
            values = {}
            for c in criteria:
                raw = getattr(form, f"score_{c.id}").data
                values[c.id] = int(raw) if raw not in (None, "", "None") else None
            comments = {c.id: getattr(form, f"comment_{c.id}").data or "" for c in criteria}
            lock = request.form.get("action") == "lock"
            try:
                services.save_scores(
                    current_user.id,
                    row.submission_id,
                    values,
                    comments,
                    form.feedback.data or "",
                    lock=lock,
                )
            except DomainError as error:
                status = _fail(form, error)
            else:
                flash(
                    _("Scores locked.")
                    if lock
                    else _("Draft saved. Lock the scores when you are done."),
                    "success",
                )
                return redirect(url_for("challenges.score", assignment_id=row.id))
        else:
            status = 400
    return render("challenges/score.html", status=status, **_score_context(row, form))


@bp.post("/judging/<int:assignment_id>/conflict")
@roles_required("judge")
def conflict(assignment_id: int):
    """Declare a conflict of interest: another judge is assigned."""
    row = _own_assignment(assignment_id)
    form = ConflictForm()
    status = 400
    if form.validate_on_submit():
        try:
            services.declare_conflict(current_user.id, row.id, form.reason.data)
        except DomainError as error:
            status = _fail(form, error)
        else:
            flash(_("Conflict of interest recorded. Another judge takes your place."), "success")
            return redirect(url_for("challenges.judging"))
    criteria = row.submission.challenge.criteria
    return render(
        "challenges/score.html",
        status=status,
        **_score_context(row, score_form(criteria, from_request=False), form),
    )
