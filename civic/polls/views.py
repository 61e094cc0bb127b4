"""Poll pages: finding, proposing, voting, results, answers, comments; the staff back office."""

from __future__ import annotations

import io

import click
from flask import Blueprint, Response, flash, jsonify, redirect, request, session, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required

from civic.accounts.services import list_departments
from civic.core.auth import admin_required, staff_required
from civic.core.errors import DomainError, NotAllowed
from civic.core.forms import choices
from civic.core.geo import list_districts
from civic.core.i18n import current_locale_code, pick_text
from civic.core.rendering import render
from civic.core.time import utcnow
from civic.extensions import db, htmx
from civic.polls import services, voting
from civic.polls.forms import (
    ActionForm,
    AnswerForm,
    ApproveForm,
    ChangesForm,
    CommentForm,
    DepartmentForm,
    ModerateForm,
    PrivacyForm,
    ProposeForm,
    RejectForm,
    SettingsForm,
    StaffPollForm,
    ThresholdForm,
)

bp = Blueprint("polls", __name__, url_prefix="/polls")

LABELS = {
    "answer_status": services.ANSWER_STATUS_LABELS,
    "rejection": services.REJECTION_REASONS,
    "hide": services.HIDE_REASONS,
    "age_band": services.AGE_BAND_LABELS,
    "gender": services.GENDER_LABELS,
    "status": services.STATUS_LABELS,
}


@bp.app_template_filter("poll_day")
def poll_day(value) -> str:
    """A date (of a UTC datetime, in the city's time zone) for the active locale."""
    return format_date(value, "medium") if value else ""


def _district_choices() -> list:
    return choices((d.id, pick_text(d.name).text) for d in list_districts())


def _department_choices(blank: str | None = None) -> list:
    pairs = [(d.id, pick_text(d.name).text) for d in list_departments()]
    return choices(([(0, blank)] if blank is not None else []) + pairs)


def _viewer():
    return current_user if current_user.is_authenticated else None


def _my_district_id() -> int | None:
    if not current_user.is_authenticated:
        return None
    return current_user.verified_district_id or current_user.home_district_id


# ---------------------------------------------------------------- finding polls


@bp.get("")
def index():
    """Open polls (most participants, ending soon, newest), closed polls, official agendas."""
    view = request.args.get("view", "open")
    sort = request.args.get("sort", "popular")
    search = request.args.get("q", "")[:100]
    mine = request.args.get("district") == "mine"
    district_id = _my_district_id() if mine else None
    result = services.list_polls(
        view, sort, search, district_id, request.args.get("page", 1, type=int)
    )
    return render(
        "polls/index.html",
        fragment="polls/_list.html",
        result=result,
        view=view if view in services.VIEWS else "open",
        sort=sort if sort in services.SORTS else "popular",
        q=search,
        mine=mine,
        has_district=_my_district_id() is not None,
        now=utcnow(),
        clock=services.get_clock,
    )


def _detail_context(page: services.PollPage, **extra) -> dict:
    poll = page.poll
    share_url = url_for("polls.detail", poll_id=poll.id, _external=True)
    context = {
        "page": page,
        "poll": poll,
        "labels": LABELS,
        "share_url": share_url,
        "comment_form": extra.pop("comment_form", None) or CommentForm(formdata=None),
        "flag_form": ActionForm(formdata=None),
    }
    context.update(extra)
    return context


@bp.get("/<int:poll_id>")
def detail(poll_id: int):
    """The poll: question, vote, results when visible, threshold and answer, share, comments."""
    page = services.poll_page(poll_id, _viewer())
    return render("polls/detail.html", **_detail_context(page))


@bp.get("/<int:poll_id>/qr.svg")
def qr_code(poll_id: int):
    """A QR code of the poll's share link, as SVG."""
    import qrcode
    import qrcode.image.svg

    poll = services.get_visible_poll(poll_id, _viewer())
    image = qrcode.make(
        url_for("polls.detail", poll_id=poll.id, _external=True),
        image_factory=qrcode.image.svg.SvgPathFillImage,
        border=2,
    )
    out = io.BytesIO()
    image.save(out)
    response = Response(out.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.post("/<int:poll_id>/vote")
def vote(poll_id: int):
    """Vote or change a vote: an htmx swap of the vote panel, or a plain form and redirect.

    The CSRF token is checked for every POST by CSRFProtect; the choices are checked by the
    service against the poll's own options, so the form is read directly. A plain first vote
    on PostgreSQL takes the hot path (civic/polls/voting.py); anything else, the general one."""
    options = request.form.getlist("option", type=int)
    version = request.form.get("version", 0, type=int)
    hot = version == 0 and db.engine.dialect.name == "postgresql"
    if hot:
        receipt = voting.vote_from_session(poll_id, session.get("_user_id"), options, utcnow())
        if receipt is not None:
            return _voted(poll_id, receipt)
    return _vote(poll_id, options, version, hot_path=not hot)


@login_required
def _vote(poll_id: int, options: list[int], version: int, hot_path: bool):
    receipt = None
    error = None
    status = 200
    try:
        receipt = services.cast_vote(current_user.id, poll_id, options, version, hot_path=hot_path)
    except DomainError as exc:
        error, status = str(exc.message), exc.status_code
    if receipt is not None:
        return _voted(poll_id, receipt)
    page = services.poll_page(poll_id, current_user, with_details=not htmx)
    return render(
        "polls/detail.html",
        fragment="polls/_vote.html",
        status=status,
        **_detail_context(page, vote_error=error),
    )


def _voted(poll_id: int, receipt: services.VoteReceipt):
    if not htmx:
        flash(_vote_message(receipt.outcome), "success")
        return redirect(url_for("polls.detail", poll_id=poll_id, voted=1) + "#vote-panel")
    page = services.vote_panel_page(receipt, current_user)
    return render("polls/_vote.html", page=page, poll=page.poll, receipt=receipt)


def _vote_message(outcome: str) -> str:
    return {
        "counted": _("Your vote was counted."),
        "changed": _("Your vote was changed. Only your new choice counts."),
        "unchanged": _("Your vote was already counted. Nothing changed."),
    }[outcome]


@bp.get("/<int:poll_id>/results.json")
def results_json(poll_id: int):
    """A closed poll's aggregate results as JSON (open data)."""
    response = jsonify(services.results_data(poll_id))
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/<int:poll_id>/results.csv")
def results_csv(poll_id: int):
    """A closed poll's aggregate results as CSV (open data)."""
    return Response(
        services.results_csv(poll_id),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename=civic-poll-{poll_id}-results.csv",
            "Access-Control-Allow-Origin": "*",
        },
    )


@bp.get("/open-data.json")
def open_data():
    """Every closed poll with links to its results."""
    response = jsonify(polls=services.list_open_data())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


# ---------------------------------------------------------------- proposing


def _propose_form(formdata=True, **kwargs):
    is_staff = current_user.has_role("staff")
    cls = StaffPollForm if is_staff else ProposeForm
    form = cls(**kwargs) if formdata else cls(formdata=None, **kwargs)
    form.districts.choices = _district_choices()
    if is_staff:
        form.department.choices = _department_choices(_("Choose when approving"))
    return form


def _draft_from(form, existing=None) -> services.PollDraft:
    old_options = list(existing.options) if existing is not None else []
    options = []
    for index, entry in enumerate(form.options.entries):
        upload = entry.form.image.data
        data = upload.read() if upload and getattr(upload, "filename", "") else None
        image_id = old_options[index].image_id if index < len(old_options) and not data else None
        options.append(services.OptionDraft(entry.form.label.data or "", data, image_id))
    staff = isinstance(form, StaffPollForm)
    return services.PollDraft(
        question=form.question.data or "",
        description=form.description.data or "",
        options=options,
        max_choices=form.max_choices.data,
        district_ids=list(form.districts.data or []),
        duration_days=form.duration_days.data,
        shows_interim_results=form.shows_interim_results.data,
        allows_vote_change=form.allows_vote_change.data,
        locale=current_locale_code(),
        is_official=staff and form.is_official.data,
        audience=form.audience.data if staff else "verified",
        threshold=form.threshold.data if staff else None,
        department_id=(form.department.data or None) if staff else None,
    )


@bp.route("/propose", methods=["GET", "POST"])
@login_required
def propose():
    """A verified resident proposes a poll; staff may publish an official poll at once."""
    form = _propose_form()
    status = 200
    if form.validate_on_submit():
        try:
            poll = services.propose_poll(current_user.id, _draft_from(form))
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            if poll.status == "published":
                flash(_("Your poll is published and open for votes."), "success")
            else:
                flash(
                    _(
                        "Thank you! Your proposal was sent to city staff for review. You can follow it under My proposals."
                    ),
                    "success",
                )
            return redirect(url_for("polls.detail", poll_id=poll.id))
    elif form.is_submitted():
        status = 400
    return render(
        "polls/propose.html",
        form=form,
        editing=None,
        open_count=services.count_open_proposals(current_user.id),
        limit=services.get_settings().max_open_proposals,
        status=status,
    )


@bp.route("/<int:poll_id>/edit", methods=["GET", "POST"])
@login_required
def edit(poll_id: int):
    """The author changes a proposal that is waiting for review or was sent back."""
    poll = services.get_visible_poll(poll_id, current_user)
    if poll.author_id != current_user.id:
        raise NotAllowed(_("Only the author can change this proposal."))
    if poll.status not in ("pending", "changes_requested"):
        flash(
            _("This poll is published: its question and options can no longer change."), "warning"
        )
        return redirect(url_for("polls.detail", poll_id=poll.id))
    form = ProposeForm() if request.method == "POST" else ProposeForm(formdata=None)
    form.districts.choices = _district_choices()
    if request.method == "GET":
        form.question.data = pick_text(poll.question).text
        form.description.data = pick_text(poll.description).text
        for entry, option in zip(form.options.entries, poll.options, strict=False):
            entry.form.label.data = pick_text(option.label).text
        form.max_choices.data = poll.max_choices
        form.districts.data = [d.id for d in poll.districts]
        form.duration_days.data = poll.duration_days
        form.shows_interim_results.data = poll.shows_interim_results
        form.allows_vote_change.data = poll.allows_vote_change
    status = 200
    if form.validate_on_submit():
        try:
            services.update_proposal(current_user.id, poll.id, _draft_from(form, poll))
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            flash(
                _("Your changes were saved and the proposal is back in the review queue."),
                "success",
            )
            return redirect(url_for("polls.detail", poll_id=poll.id))
    elif form.is_submitted():
        status = 400
    return render(
        "polls/propose.html", form=form, editing=poll, status=status, open_count=None, limit=None
    )


@bp.post("/<int:poll_id>/withdraw")
@login_required
def withdraw(poll_id: int):
    """The author withdraws a proposal before publication."""
    if ActionForm().validate_on_submit():
        services.withdraw_proposal(current_user.id, poll_id)
        flash(_("Your proposal was withdrawn."), "info")
    return redirect(url_for("polls.mine"))


@bp.get("/mine")
@login_required
def mine():
    """My proposals with their state and the reasons given, and my notifications."""
    notifications = services.list_notifications(current_user.id)
    unread = {n.id for n in notifications if n.read_at is None}
    services.mark_notifications_read(current_user.id)
    return render(
        "polls/mine.html",
        polls=services.list_my_proposals(current_user.id),
        notifications=notifications,
        unread=unread,
        labels=LABELS,
        withdraw_form=ActionForm(formdata=None),
        open_count=services.count_open_proposals(current_user.id),
        limit=services.get_settings().max_open_proposals,
    )


@bp.route("/privacy-settings", methods=["GET", "POST"])
@login_required
def privacy_settings():
    """Whether to share age group and gender for poll statistics (optional, off by default)."""
    form = (
        PrivacyForm() if request.method == "POST" else PrivacyForm(formdata=None, obj=current_user)
    )
    status = 200
    if form.validate_on_submit():
        try:
            services.set_demographics(
                current_user.id,
                form.shares_demographics.data,
                form.birth_year.data,
                form.gender.data or None,
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            flash(_("Your privacy settings for polls were saved."), "success")
            return redirect(url_for("polls.privacy_settings"))
    elif form.is_submitted():
        status = 400
    return render(
        "polls/privacy.html", form=form, status=status, minimum=services.tally.MIN_GROUP_SIZE
    )


# ---------------------------------------------------------------- comments


@bp.post("/<int:poll_id>/comments")
@login_required
def comment(poll_id: int):
    """Add a comment to a poll."""
    form = CommentForm()
    if form.validate_on_submit():
        try:
            services.add_comment(current_user.id, poll_id, form.body.data)
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            flash(_("Your comment was published."), "success")
            return redirect(url_for("polls.detail", poll_id=poll_id) + "#comments")
    else:
        status = 400
    page = services.poll_page(poll_id, current_user)
    return render("polls/detail.html", status=status, **_detail_context(page, comment_form=form))


@bp.post("/comments/<int:comment_id>/flag")
@login_required
def flag(comment_id: int):
    """Report a comment to the moderators."""
    comment = services.get_comment(comment_id)
    if ActionForm().validate_on_submit():
        services.flag_comment(current_user.id, comment_id)
        flash(_("Thank you. The comment was reported to the moderators."), "info")
    return redirect(url_for("polls.detail", poll_id=comment.poll_id) + f"#comment-{comment_id}")


# ---------------------------------------------------------------- staff


@bp.get("/staff")
@staff_required
def staff_dashboard():
    """Agendas awaiting answers (overdue first), the review queue and reported comments."""
    only_mine = request.args.get("mine") == "1"
    awaiting, answered = services.list_staff_agendas(
        department_ids=current_user.department_ids if only_mine else None
    )
    return render(
        "polls/staff/dashboard.html",
        awaiting=awaiting,
        answered=answered,
        only_mine=only_mine,
        review_count=len(services.list_review_queue()),
        flagged_count=len(services.list_flagged_comments()),
    )


@bp.get("/staff/review")
@staff_required
def review_queue():
    """Proposals waiting for review, oldest first."""
    return render("polls/staff/review_queue.html", polls=services.list_review_queue())


def _review_forms(approve=None, reject=None, changes=None) -> dict:
    approve = approve or ApproveForm(formdata=None)
    approve.department.choices = _department_choices()
    return {
        "approve_form": approve,
        "reject_form": reject or RejectForm(formdata=None),
        "changes_form": changes or ChangesForm(formdata=None),
    }


@bp.get("/<int:poll_id>/review")
@staff_required
def review(poll_id: int):
    """One proposal with the three decisions: approve, ask for changes, reject."""
    poll = services.get_poll(poll_id)
    return render("polls/staff/review.html", poll=poll, labels=LABELS, **_review_forms())


def _after_review(poll_id: int, form, decide, key: str, message: str):
    if form.validate_on_submit():
        try:
            decide()
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            flash(message, "success")
            return redirect(url_for("polls.review_queue"))
    else:
        status = 400
    poll = services.get_poll(poll_id)
    return render(
        "polls/staff/review.html",
        poll=poll,
        labels=LABELS,
        status=status,
        **_review_forms(**{key: form}),
    )


@bp.post("/<int:poll_id>/approve")
@staff_required
def approve(poll_id: int):
    """Publish a proposal."""
    form = ApproveForm()
    form.department.choices = _department_choices()
    return _after_review(
        poll_id,
        form,
        lambda: services.approve_poll(
            current_user.id, poll_id, form.department.data, form.threshold.data
        ),
        "approve",
        _("The poll is published."),
    )


@bp.post("/<int:poll_id>/reject")
@staff_required
def reject(poll_id: int):
    """Refuse a proposal with a public reason."""
    form = RejectForm()
    return _after_review(
        poll_id,
        form,
        lambda: services.reject_poll(current_user.id, poll_id, form.reason.data, form.note.data),
        "reject",
        _("The proposal was not accepted; the author has been told why."),
    )


@bp.post("/<int:poll_id>/request-changes")
@staff_required
def request_changes(poll_id: int):
    """Send a proposal back to its author."""
    form = ChangesForm()
    return _after_review(
        poll_id,
        form,
        lambda: services.request_changes(current_user.id, poll_id, form.note.data),
        "changes",
        _("The proposal was sent back to its author with your note."),
    )


def _manage_forms(poll, threshold=None, answer=None, department=None) -> dict:
    threshold = threshold or ThresholdForm(formdata=None, threshold=poll.threshold)
    department = department or DepartmentForm(
        formdata=None, department=poll.agenda.department_id if poll.agenda else poll.department_id
    )
    department.department.choices = _department_choices()
    return {
        "threshold_form": threshold,
        "answer_form": answer or AnswerForm(formdata=None),
        "department_form": department,
    }


def _render_manage(poll_id: int, status: int = 200, **forms):
    poll = services.get_poll(poll_id)
    now = utcnow()
    return render(
        "polls/staff/manage.html",
        poll=poll,
        now=now,
        clock=services.get_clock(poll.agenda, now) if poll.agenda else None,
        labels=LABELS,
        status=status,
        **_manage_forms(poll, **forms),
    )


@bp.get("/<int:poll_id>/manage")
@staff_required
def manage(poll_id: int):
    """Staff page of a published poll: threshold, department, official answer and follow-ups."""
    return _render_manage(poll_id)


def _manage_post(poll_id: int, form, act, key: str, message: str):
    if form.validate_on_submit():
        try:
            act()
        except DomainError as error:
            form.add_domain_error(error)
            return _render_manage(poll_id, error.status_code, **{key: form})
        flash(message, "success")
        return redirect(url_for("polls.manage", poll_id=poll_id))
    return _render_manage(poll_id, 400, **{key: form})


@bp.post("/<int:poll_id>/threshold")
@staff_required
def threshold(poll_id: int):
    """Override the participant threshold of an open poll."""
    form = ThresholdForm()
    return _manage_post(
        poll_id,
        form,
        lambda: services.set_threshold(current_user.id, poll_id, form.threshold.data),
        "threshold",
        _("The threshold was saved."),
    )


@bp.post("/<int:poll_id>/answer")
@staff_required
def answer(poll_id: int):
    """Publish the official answer or a follow-up; voters are notified."""
    form = AnswerForm()
    return _manage_post(
        poll_id,
        form,
        lambda: services.publish_answer(
            current_user.id, poll_id, form.status.data, form.body.data, current_locale_code()
        ),
        "answer",
        _("The answer is published and the voters are being notified."),
    )


@bp.post("/<int:poll_id>/agenda-department")
@staff_required
def agenda_department(poll_id: int):
    """Hand an agenda to another department."""
    form = DepartmentForm()
    form.department.choices = _department_choices()
    return _manage_post(
        poll_id,
        form,
        lambda: services.reassign_agenda(current_user.id, poll_id, form.department.data),
        "department",
        _("The agenda was assigned to the department."),
    )


@bp.get("/staff/comments")
@staff_required
def comment_queue():
    """Reported comments waiting for a decision; hidden-by-reports first."""
    return render(
        "polls/staff/comments.html",
        comments=services.list_flagged_comments(),
        form=ModerateForm(formdata=None),
        labels=LABELS,
    )


@bp.post("/comments/<int:comment_id>/moderate")
@staff_required
def moderate(comment_id: int):
    """Hide a comment with a public reason, or keep it visible."""
    form = ModerateForm()
    status = 400
    if form.validate_on_submit():
        try:
            services.moderate_comment(
                current_user.id, comment_id, form.action.data, form.reason.data, form.note.data
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            flash(_("Decision saved."), "success")
            return redirect(url_for("polls.comment_queue"))
    return render(
        "polls/staff/comments.html",
        comments=services.list_flagged_comments(),
        form=form,
        failed_id=comment_id,
        labels=LABELS,
        status=status,
    )


@bp.route("/staff/settings", methods=["GET", "POST"])
@admin_required
def settings():
    """The city's poll rules: default threshold, answer period, proposal and report limits."""
    current = services.get_settings()
    form = SettingsForm() if request.method == "POST" else SettingsForm(formdata=None, obj=current)
    status = 200
    if form.validate_on_submit():
        try:
            services.update_settings(
                current_user.id,
                form.default_threshold.data,
                form.answer_days.data,
                form.max_open_proposals.data,
                form.comment_flags_to_hide.data,
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            flash(_("Poll settings saved."), "success")
            return redirect(url_for("polls.settings"))
    elif form.is_submitted():
        status = 400
    return render("polls/staff/settings.html", form=form, status=status)


# ---------------------------------------------------------------- commands (`civic polls ...`)


@bp.cli.command("seal-closed")
def seal_closed_command() -> None:
    """Delete the pseudonym keys of polls past their closing time (run from cron)."""
    click.echo(f"{services.seal_closed_polls()} poll(s) sealed.")


@bp.cli.command("recount")
@click.argument("poll_id", type=int)
@click.option(
    "--repair", is_flag=True, help="Rebuild the counters from the ballots if they differ."
)
def recount_command(poll_id: int, repair: bool) -> None:
    """Count a poll's ballots again and compare them with its counters."""
    recount = services.recount_poll(poll_id, repair=repair)
    click.echo(
        f"participants {recount.participations} (counter {recount.participants_counter}), "
        f"ballots {recount.ballots}; per option {recount.ballot_counts} "
        f"(counters {recount.counters}): {'exact' if recount.is_exact else 'DIFFERENT'}"
    )
    if not recount.is_exact and not repair:
        raise SystemExit(1)
