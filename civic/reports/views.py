"""Complaint reports: the public map and list, the report form, a page per report, residents'
follow-up, the staff queue, statistics and hotspots, and the administration of categories and
Open311 keys."""

from __future__ import annotations

import json
from datetime import date

from flask import Blueprint, abort, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from civic.core import geo
from civic.core.auth import admin_required, staff_required
from civic.core.errors import DomainError
from civic.core.forms import choices
from civic.core.i18n import current_locale_code, pick_text
from civic.core.rendering import render
from civic.extensions import db
from civic.reports import assets, services, workflow
from civic.reports.forms import (
    DATATYPE_LABELS,
    ApiKeyForm,
    AssignForm,
    BulkForm,
    CategoryForm,
    FilterForm,
    FollowForm,
    HideForm,
    HotspotForm,
    MessageForm,
    NoteForm,
    QuestionForm,
    RecategoriseForm,
    ReopenForm,
    StaffFilterForm,
    StateForm,
    SubscriptionForm,
    SupportForm,
    question_fields,
    report_form_for,
)
from civic.reports.location import parse_bbox
from civic.reports.minimap import build_minimap
from civic.reports.models import Report

bp = Blueprint("reports", __name__, url_prefix="/reports")

ICONS = (
    "pin",
    "pothole",
    "light",
    "bin",
    "spray",
    "noise",
    "tree",
    "water",
    "bus",
    "sidewalk",
    "car",
    "sign",
)


@bp.context_processor
def _helpers():
    return {
        "asset_url": assets.asset_url,
        "state_labels": workflow.STATE_LABELS,
        "state_hints": workflow.STATE_HINTS,
        "reason_labels": workflow.CLOSE_REASON_LABELS,
        "now": services.utcnow(),
    }


# --- Choices and filters ----------------------------------------------------------------------


def _district_choices(blank: str) -> list:
    return choices([(0, blank)] + [(d.id, pick_text(d.name).text) for d in geo.list_districts()])


def _category_choices(blank: str | None, include_inactive: bool = False) -> list:
    pairs = [(c.id, pick_text(c.name).text) for c in services.list_categories(include_inactive)]
    return choices(([(0, blank)] if blank is not None else []) + pairs)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _filters_from_args(form: FilterForm, staff: bool = False) -> services.ReportFilters:
    category = _int_or_none(form.category.data)
    district = _int_or_none(form.district.data)
    values = {
        "category_ids": (category,) if category else (),
        "states": services.state_group(form.state.data or ""),
        "district_ids": (district,) if district else (),
        "date_from": form.date_from.data if not form.date_from.errors else None,
        "date_to": form.date_to.data if not form.date_to.errors else None,
    }
    if staff:
        department = _int_or_none(form.department.data)
        assignee = form.assignee.data or ""
        values.update(
            department_ids=(department,) if department else (),
            assignee_id=current_user.id if assignee == "me" else _int_or_none(assignee),
            is_unassigned=assignee == "none",
            is_overdue=bool(form.overdue.data),
            search=(form.q.data or "").strip(),
        )
    return services.ReportFilters(**values)


def _filter_form(form_class=FilterForm):
    form = form_class(request.args)
    form.category.choices = choices(
        [("", _("Any category"))]
        + [(str(c.id), pick_text(c.name).text) for c in services.list_categories(True)]
    )
    form.district.choices = choices(
        [("", _("Any district"))]
        + [(str(d.id), pick_text(d.name).text) for d in geo.list_districts()]
    )
    form.validate()
    return form


# --- Public pages -------------------------------------------------------------------------------


def _map_settings() -> dict:
    from flask import current_app

    bounds = geo.city_bounds()
    return {
        "data-map-url": url_for("reports.map_data"),
        "data-districts-url": url_for("reports.districts_geojson"),
        "data-tile-url": current_app.config["CIVIC_TILE_URL"],
        "data-bounds": json.dumps(bounds) if bounds else "",
        "data-detail-url": url_for("reports.detail", report_id=0),
        "data-categories": json.dumps(
            {c.id: pick_text(c.name).text for c in services.list_categories(True)},
            ensure_ascii=False,
        ),
        "data-states": json.dumps(
            [str(workflow.STATE_LABELS[s]) for s in workflow.STATES], ensure_ascii=False
        ),
        "data-label-reports": _("reports"),
        "data-label-overdue": _("Overdue"),
        "data-label-zoom": _("Zoom in to see these reports"),
    }


@bp.get("/")
def index():
    """The public map and list of reports, with filters."""
    form = _filter_form()
    filters = _filters_from_args(form)
    page = services.list_reports(filters, request.args.get("page", 1, type=int))
    return render(
        "reports/index.html",
        fragment="reports/_list.html",
        form=form,
        page=page,
        map_settings=_map_settings(),
        query_args={k: v for k, v in request.args.items() if k != "page"},
    )


def _date_arg(value: str | None):
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _map_filters(args) -> services.ReportFilters:
    category = _int_or_none(args.get("category"))
    district = _int_or_none(args.get("district"))
    return services.ReportFilters(
        category_ids=(category,) if category else (),
        states=services.state_group(args.get("state", "")),
        district_ids=(district,) if district else (),
        date_from=_date_arg(args.get("date_from")),
        date_to=_date_arg(args.get("date_to")),
    )


@bp.get("/map.json")
def map_data():
    """Compact map data for a viewport: points when zoomed in, counts per cell otherwise."""
    # Read the filters directly (no form with its lists of choices): this is the hot path.
    bbox = parse_bbox(request.args.get("bbox"))
    zoom = request.args.get("zoom", 13, type=int)
    data = services.map_data(bbox, zoom, _map_filters(request.args))
    response = jsonify(data)
    response.headers["Cache-Control"] = "public, max-age=15"
    return assets.compress_response(response)


@bp.get("/districts.geojson")
def districts_geojson():
    """District outlines for the map (drawn even when map tiles cannot load)."""
    response = jsonify(geo.districts_feature_collection())
    response.mimetype = "application/geo+json"
    response.headers["Cache-Control"] = "public, max-age=300"
    return assets.compress_response(response)


@bp.get("/assets/<name>")
def asset(name: str):
    """Leaflet and the report pages' own script and styles, compressed."""
    return assets.serve_asset(name)


def _new_form_context(category, form, nearby=(), kept_tokens=(), location_error=None, status=200):
    form.district.choices = _district_choices(_("Choose a district"))
    return render(
        "reports/new.html",
        category=category,
        form=form,
        questions=question_fields(form, category),
        nearby=nearby,
        kept_tokens=kept_tokens,
        location_error=location_error,
        map_settings=_map_settings(),
        radius=services.setting("CIVIC_REPORT_DUPLICATE_RADIUS_M"),
        status=status,
    )


def _answers_from_form(category) -> dict:
    answers = {}
    for question in category.questions:
        name = f"q_{question.code}"
        if question.datatype == "multivaluelist":
            answers[question.code] = request.form.getlist(name)
        else:
            answers[question.code] = request.form.get(name, "")
    return answers


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Report a problem: choose a category, then place it, describe it, add photos."""
    code = request.values.get("category", "")
    category = services.get_category_by_code(code) if code else None
    if category is None or not category.is_active:
        return render(
            "reports/choose_category.html",
            categories=services.list_categories(),
            status=404 if code else 200,
        )
    form = report_form_for(category)
    form.category.data = category.code
    if current_user.is_authenticated and not form.is_submitted():
        form.name.data = current_user.display_name
    if not form.is_submitted():
        return _new_form_context(category, form)
    kept_tokens = request.form.getlist("kept_photo")
    if not form.validate_on_submit():
        return _new_form_context(category, form, kept_tokens=kept_tokens, status=400)
    uploads = [f.read() for f in request.files.getlist("photos") if f and f.filename]
    data = services.ReportInput(
        category_id=category.id,
        description=form.description.data,
        latitude=form.latitude.data,
        longitude=form.longitude.data,
        address=form.address.data or "",
        district_id=form.district.data or None,
        answers=_answers_from_form(category),
        photos=uploads,
        kept_file_ids=services.kept_photo_ids(kept_tokens),
        is_name_public=form.is_name_public.data,
        reporter_id=current_user.id if current_user.is_authenticated else None,
        reporter_email=None if current_user.is_authenticated else form.email.data,
        reporter_name=form.name.data or "",
        locale=current_locale_code(),
        skip_duplicate_check=form.confirm_new.data == "1",
    )
    try:
        report = services.submit_report(data)
    except services.PossibleDuplicates as duplicates:
        # Keep the photos so that "this is a new problem" needs no second upload.
        try:
            kept_tokens = kept_tokens + services.keep_photos(
                uploads, current_user.id if current_user.is_authenticated else None
            )
        except DomainError as error:
            form.add_domain_error(error)
            return _new_form_context(
                category, form, kept_tokens=kept_tokens, status=error.status_code
            )
        return _new_form_context(category, form, nearby=duplicates.nearby, kept_tokens=kept_tokens)
    except DomainError as error:
        location_error = None
        if error.field == "location":
            location_error = str(error.message)
        else:
            form.add_domain_error(error)
        return _new_form_context(
            category,
            form,
            kept_tokens=kept_tokens,
            location_error=location_error,
            status=error.status_code,
        )
    if report.is_confirmed:
        flash(
            _("Thank you! Your report #%(id)s has been sent to the city.", id=report.id), "success"
        )
        return redirect(url_for("reports.detail", report_id=report.id))
    return render("reports/check_email.html", email=report.reporter_email, status=202)


@bp.get("/nearby")
def nearby():
    """Open reports of the same kind close to a point (the htmx duplicate check)."""
    category = services.get_category_by_code(request.args.get("category", ""))
    lat = request.args.get("latitude", type=float)
    lon = request.args.get("longitude", type=float)
    found = []
    if category is not None and lat is not None and lon is not None:
        try:
            geo.check_coordinates(lat, lon)
        except DomainError:
            pass
        else:
            found = services.find_nearby(category.id, lat, lon)
    return render("reports/_nearby.html", nearby=found, category=category)


@bp.get("/confirm/<token>")
def confirm(token: str):
    """Publish a report from the link e-mailed to a reporter without an account."""
    report = services.confirm_report(token)
    flash(_("Thank you! Your report #%(id)s is confirmed and public.", id=report.id), "success")
    return redirect(url_for("reports.detail", report_id=report.id))


@bp.get("/support/<token>")
def confirm_support(token: str):
    """Count an e-mail "me too" from its link."""
    report = services.confirm_support(token)
    flash(_("Thank you! You will hear of every change to this report."), "success")
    return redirect(url_for("reports.detail", report_id=report.id))


def _staff_forms(report: Report) -> dict:
    state_form = StateForm(formdata=None)
    assign_form = AssignForm(formdata=None, assignee=report.assignee_id or 0)
    assign_form.assignee.choices = choices(
        [(0, _("Nobody"))]
        + [(u.id, u.display_name) for u in services.list_assignable_staff(report.department_id)]
    )
    category_form = RecategoriseForm(formdata=None, prefix="cat", category=report.category_id)
    category_form.category.choices = _category_choices(None, include_inactive=True)
    return {
        "state_form": state_form,
        "note_form": NoteForm(formdata=None),
        "message_form": MessageForm(formdata=None, prefix="msg"),
        "assign_form": assign_form,
        "category_form": category_form,
        "hide_form": HideForm(formdata=None),
        "next_states": [s for s in workflow.STATES if workflow.can_staff_move(report.state, s)],
    }


def _render_detail(report: Report, status: int = 200, **forms):
    user = current_user if current_user.is_authenticated else None
    is_staff = services.is_staff_for(user, report)
    following, supported = services.follower_state(report.id, user.id if user else None)
    now = services.utcnow()
    context = {
        "report": report,
        "updates": services.visible_updates(report, user),
        "answers": services.answer_labels(report),
        "is_staff": is_staff,
        "is_reporter": bool(user and report.reporter_id == user.id),
        "can_reopen": bool(user and report.reporter_id == user.id)
        and workflow.can_reopen(report.state, report.resolved_at, now),
        "reopen_deadline": workflow.reopen_deadline(report.resolved_at),
        "is_overdue": report.is_overdue(now),
        "following": following,
        "supported": supported,
        "show_photos": is_staff or not report.category.is_sensitive,
        "minimap": build_minimap(
            [(d.id, d.geometry) for d in geo.list_districts()],
            report.district_id,
            report.latitude if is_staff else report.public_latitude,
            report.longitude if is_staff else report.public_longitude,
        ),
        "reopen_form": forms.pop("reopen_form", None) or ReopenForm(formdata=None, prefix="reopen"),
        "support_form": forms.pop("support_form", None) or SupportForm(formdata=None),
        "follow_form": FollowForm(formdata=None),
        "duplicate_of": db.session.get(Report, report.duplicate_of_id)
        if report.duplicate_of_id
        else None,
    }
    if is_staff:
        staff = _staff_forms(report)
        staff.update(forms)
        staff["state_form"].state.choices = [
            c for c in staff["state_form"].state.choices if c.value in staff["next_states"]
        ]
        context.update(staff)
    return render("reports/detail.html", status=status, **context)


@bp.get("/<int:report_id>")
def detail(report_id: int):
    """A report's page: where, what, photos, and the timeline of what the city did."""
    report = services.get_visible_report(report_id, current_user)
    return _render_detail(report)


@bp.post("/<int:report_id>/support")
def support(report_id: int):
    """ "Me too": the problem affects me as well; I follow the report."""
    form = SupportForm()
    report = services.get_visible_report(report_id, current_user)
    if current_user.is_authenticated:
        outcome = services.support_report(report.id, user_id=current_user.id)
    else:
        if not form.validate_on_submit() or not form.email.data:
            if not form.email.errors:
                form.email.errors = [_("Please enter your e-mail address.")]
            return _render_detail(report, status=400, support_form=form)
        try:
            outcome = services.support_report(report.id, email=form.email.data)
        except DomainError as error:
            form.add_domain_error(error)
            return _render_detail(report, status=error.status_code, support_form=form)
    messages = {
        "added": _("Thank you! We counted you, and you will hear of every change."),
        "already": _("You already said this affects you."),
        "confirm": _("Please confirm with the link we sent to your e-mail address."),
    }
    flash(messages[outcome], "success")
    return redirect(url_for("reports.detail", report_id=report.id))


@bp.post("/<int:report_id>/follow")
@login_required
def follow(report_id: int):
    """Follow a report (or stop following it)."""
    report = services.get_visible_report(report_id, current_user)
    form = FollowForm()
    form.validate_on_submit()
    wanted = form.follow.data == "1"
    services.follow_report(report.id, current_user.id, wanted)
    flash(
        _("You follow this report.") if wanted else _("You no longer follow this report."),
        "success",
    )
    return redirect(url_for("reports.detail", report_id=report.id))


@bp.post("/<int:report_id>/reopen")
@login_required
def reopen(report_id: int):
    """The reporter says a fixed problem is not fixed (within 14 days)."""
    report = services.get_visible_report(report_id, current_user)
    form = ReopenForm(prefix="reopen")
    if form.validate_on_submit():
        try:
            services.reopen_report(report.id, form.message.data, user_id=current_user.id)
        except DomainError as error:
            if error.field:
                form.add_domain_error(error)
            else:
                form.message.errors = [*form.message.errors, str(error.message)]
            return _render_detail(report, status=error.status_code, reopen_form=form)
        flash(_("The report is open again; the city has been told."), "success")
        return redirect(url_for("reports.detail", report_id=report.id))
    return _render_detail(report, status=400, reopen_form=form)


@bp.route("/reopen/<token>", methods=["GET", "POST"])
def reopen_by_link(token: str):
    """Reopen from the link e-mailed to a reporter without an account."""
    report = services.check_reopen_token(token)
    form = ReopenForm(prefix="reopen")
    status = 200
    if form.validate_on_submit():
        try:
            services.reopen_report(report.id, form.message.data, token=token)
        except DomainError as error:
            form.message.errors = [*form.message.errors, str(error.message)]
            status = error.status_code
        else:
            flash(_("The report is open again; the city has been told."), "success")
            return redirect(url_for("reports.detail", report_id=report.id))
    elif form.is_submitted():
        status = 400
    return render("reports/reopen.html", report=report, form=form, status=status)


@bp.get("/mine")
@login_required
def mine():
    """Reports I made or follow, with their latest state."""
    return render("reports/mine.html", reports=services.list_my_reports(current_user.id))


@bp.route("/subscriptions", methods=["GET", "POST"])
@login_required
def subscriptions():
    """Daily digests of new reports in a district or a category."""
    form = SubscriptionForm()
    form.district.choices = _district_choices(_("Any district"))
    form.category.choices = _category_choices(_("Any category"))
    status = 200
    if form.validate_on_submit():
        try:
            services.subscribe(
                current_user.id, form.district.data or None, form.category.data or None
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            flash(
                _(
                    "Subscribed. You will get at most one e-mail a day, only when there is something new."
                ),
                "success",
            )
            return redirect(url_for("reports.subscriptions"))
    elif form.is_submitted():
        status = 400
    return render(
        "reports/subscriptions.html",
        form=form,
        subscriptions=services.list_subscriptions(current_user.id),
        status=status,
    )


@bp.post("/subscriptions/<int:subscription_id>/delete")
@login_required
def unsubscribe(subscription_id: int):
    """Stop one subscription."""
    services.unsubscribe(current_user.id, subscription_id)
    flash(_("Subscription removed."), "success")
    return redirect(url_for("reports.subscriptions"))


# --- Staff --------------------------------------------------------------------------------------


def _staff_action(report_id: int, form_name: str, form, action):
    """Run one staff action on a report; on refusal show the report with the form's errors."""
    report = services.get_visible_report(report_id, current_user)
    if not services.is_staff_for(current_user, report):
        abort(403)
    if form.validate_on_submit():
        try:
            action(report)
        except DomainError as error:
            if error.status_code == 403:
                raise
            form.add_domain_error(error)
            return _render_detail(report, status=error.status_code, **{form_name: form})
        flash(_("Saved."), "success")
        return redirect(url_for("reports.detail", report_id=report.id))
    return _render_detail(report, status=400, **{form_name: form})


@bp.post("/<int:report_id>/state")
@staff_required
def change_state(report_id: int):
    """Move a report to another state, with a public message."""
    form = StateForm()

    def action(report):
        if form.state.data == "closed" and form.close_reason.data == "duplicate":
            services.merge_report(
                current_user.id, report.id, form.duplicate_of.data or 0, form.message.data
            )
        else:
            services.change_state(
                current_user.id,
                report.id,
                form.state.data,
                form.message.data,
                close_reason=form.close_reason.data or None,
                duplicate_of_id=form.duplicate_of.data,
                referral=form.referral.data,
            )

    return _staff_action(report_id, "state_form", form, action)


@bp.post("/<int:report_id>/note")
@staff_required
def add_note(report_id: int):
    """An internal note, never public."""
    form = NoteForm()
    return _staff_action(
        report_id,
        "note_form",
        form,
        lambda r: services.add_note(current_user.id, r.id, form.note.data),
    )


@bp.post("/<int:report_id>/message")
@staff_required
def post_message(report_id: int):
    """A public message without a change of state."""
    form = MessageForm(prefix="msg")
    return _staff_action(
        report_id,
        "message_form",
        form,
        lambda r: services.post_message(current_user.id, r.id, form.message.data),
    )


@bp.post("/<int:report_id>/assign")
@staff_required
def assign(report_id: int):
    """Assign the report to a staff member of its department."""
    form = AssignForm()
    report = services.get_visible_report(report_id, current_user)
    form.assignee.choices = choices(
        [(0, _("Nobody"))]
        + [(u.id, u.display_name) for u in services.list_assignable_staff(report.department_id)]
    )
    return _staff_action(
        report_id,
        "assign_form",
        form,
        lambda r: services.assign_report(current_user.id, r.id, form.assignee.data or None),
    )


@bp.post("/<int:report_id>/category")
@staff_required
def recategorise(report_id: int):
    """Move the report to another category (and department)."""
    form = RecategoriseForm(prefix="cat")
    form.category.choices = _category_choices(None, include_inactive=True)
    return _staff_action(
        report_id,
        "category_form",
        form,
        lambda r: services.recategorise(
            current_user.id, r.id, form.category.data, form.message.data or ""
        ),
    )


@bp.post("/<int:report_id>/hide")
@staff_required
def hide(report_id: int):
    """Hide a report from the public with a reason (or show it again)."""
    form = HideForm()
    return _staff_action(
        report_id,
        "hide_form",
        form,
        lambda r: services.set_hidden(
            current_user.id, r.id, form.hidden.data == "1", form.reason.data or ""
        ),
    )


def _queue_context(form, bulk_form, status=200):
    filters = _filters_from_args(form, staff=True)
    sort = form.sort.data or "due"
    page = services.staff_queue(
        current_user.id, filters, sort, request.args.get("page", 1, type=int)
    )
    return render(
        "reports/staff_queue.html",
        fragment="reports/_staff_table.html",
        form=form,
        bulk_form=bulk_form,
        page=page,
        assignees=services.display_names({r.assignee_id for r in page.items if r.assignee_id}),
        query_args={k: v for k, v in request.args.items() if k != "page"},
        status=status,
    )


def _staff_filter_form():
    form = _filter_form(StaffFilterForm)
    departments = services.staff_department_ids(current_user)
    from civic.accounts.services import list_departments

    form.department.choices = choices(
        [("", _("All my departments"))]
        + [
            (str(d.id), pick_text(d.name).text)
            for d in list_departments()
            if departments is None or d.id in departments
        ]
    )
    form.assignee.choices = choices([("", _("Anyone")), ("me", _("Me")), ("none", _("Nobody"))])
    return form


@bp.get("/staff")
@staff_required
def staff_queue():
    """The department queue: filters, sorting, assignment and bulk changes."""
    return _queue_context(_staff_filter_form(), BulkForm(formdata=None))


@bp.post("/staff/bulk")
@staff_required
def bulk():
    """Change the state of several reports at once (all or none)."""
    form = BulkForm()
    if form.validate_on_submit():
        try:
            count = services.bulk_change_state(
                current_user.id,
                form.report_ids.data or [],
                form.state.data,
                form.message.data,
                close_reason=form.close_reason.data or None,
                referral=form.referral.data or None,
            )
        except DomainError as error:
            if error.status_code == 403:
                raise
            form.add_domain_error(error)
            return _queue_context(_staff_filter_form(), form, status=error.status_code)
        flash(ngettext("%(num)s report changed.", "%(num)s reports changed.", count), "success")
        return redirect(url_for("reports.staff_queue"))
    return _queue_context(_staff_filter_form(), form, status=400)


@bp.get("/staff/statistics")
@staff_required
def statistics():
    """Volume, speed and overdue reports."""
    period = request.args.get("period", 90, type=int)
    if period not in (30, 90, 365):
        period = 90
    department = request.args.get("department", type=int)
    stats = services.statistics(current_user.id, period, department)
    from civic.accounts.services import list_departments

    return render(
        "reports/statistics.html",
        stats=stats,
        period=period,
        department=department,
        departments=list_departments(),
        max_week=max((n for _w, n in stats.by_week), default=1),
    )


@bp.route("/staff/hotspots", methods=["GET", "POST"])
@staff_required
def hotspots():
    """Where problems recur: reports binned in H3 hexagons, computed by a job and cached."""
    form = HotspotForm(request.values)
    form.category.choices = choices(
        [("", _("All categories"))]
        + [(str(c.id), pick_text(c.name).text) for c in services.list_categories(True)]
    )
    category_id = _int_or_none(form.category.data)
    period = _int_or_none(form.period.data) or 90
    resolution = _int_or_none(form.resolution.data) or 9
    try:
        result = services.get_hotspots(
            category_id, period, resolution, refresh=request.method == "POST"
        )
    except DomainError as error:
        form.period.errors = [str(error.message)]
        result = None
    cells = (result.cells if result else [])[:50]
    district_names = {}
    for cell in cells:
        district_id = geo.district_id_for_point(*cell["center"])
        district = db.session.get(geo.District, district_id) if district_id else None
        district_names[cell["cell"]] = pick_text(district.name).text if district else ""
    return render(
        "reports/hotspots.html",
        form=form,
        result=result,
        cells=cells,
        district_names=district_names,
        map_settings=_map_settings(),
        hexagons=json.dumps(
            [{"b": c["boundary"], "n": c["count"], "w": c["weeks"]} for c in cells]
        ),
        status=200 if result or request.method == "GET" else 400,
    )


# --- Administration -----------------------------------------------------------------------------


def _category_form(category=None, formdata=None):
    from civic.accounts.services import list_departments

    kwargs = {}
    if category is not None and formdata is None:
        kwargs = {
            "code": category.code,
            "description": pick_text(category.description).text,
            "department": category.department_id,
            "target_days": category.target_days,
            "icon": category.icon,
            "group": category.group,
            "keywords": category.keywords,
            "is_sensitive": category.is_sensitive,
            "is_active": category.is_active,
            "sort_order": category.sort_order,
            **{f"name_{code}": text for code, text in category.name.items()},
        }
    form = (
        CategoryForm(formdata=formdata, **kwargs)
        if formdata is not None
        else CategoryForm(formdata=None, **kwargs)
    )
    form.department.choices = choices((d.id, pick_text(d.name).text) for d in list_departments())
    form.icon.choices = choices((icon, icon) for icon in ICONS)
    return form


def _save_category_from(form, category_id):
    from flask import current_app

    names = {
        key.removeprefix("name_"): field.data
        for key, field in form._fields.items()
        if key.startswith("name_")
    }
    return services.save_category(
        current_user.id,
        category_id,
        code=form.code.data,
        name=names,
        description={current_app.config["CIVIC_DEFAULT_LOCALE"]: form.description.data or ""},
        department_id=form.department.data,
        target_days=form.target_days.data,
        is_sensitive=form.is_sensitive.data,
        icon=form.icon.data or "pin",
        group=form.group.data,
        keywords=form.keywords.data,
        is_active=form.is_active.data,
        sort_order=form.sort_order.data or 0,
    )


@bp.route("/admin/categories", methods=["GET", "POST"])
@admin_required
def admin_categories():
    """Report categories (Open311 services): list and add."""
    form = _category_form(formdata=request.form if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                category = _save_category_from(form, None)
            except DomainError as error:
                form.add_domain_error(error)
                status = 400
            else:
                flash(_("Category saved."), "success")
                return redirect(url_for("reports.admin_category", category_id=category.id))
        else:
            status = 400
    return render(
        "reports/admin_categories.html",
        form=form,
        categories=services.list_categories(include_inactive=True),
        status=status,
    )


@bp.route("/admin/categories/<int:category_id>", methods=["GET", "POST"])
@admin_required
def admin_category(category_id: int):
    """Edit a category and its questions."""
    category = services.get_category(category_id)
    form = _category_form(category, formdata=request.form if request.method == "POST" else None)
    question_form = QuestionForm(formdata=None)
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                _save_category_from(form, category.id)
            except DomainError as error:
                form.add_domain_error(error)
                status = 400
            else:
                flash(_("Category saved."), "success")
                return redirect(url_for("reports.admin_category", category_id=category.id))
        else:
            status = 400
    return render(
        "reports/admin_category.html",
        category=category,
        form=form,
        question_form=question_form,
        datatype_labels=DATATYPE_LABELS,
        status=status,
    )


@bp.post("/admin/categories/<int:category_id>/questions")
@admin_required
def admin_add_question(category_id: int):
    """Add an extra question (an Open311 attribute) to a category."""
    from flask import current_app

    category = services.get_category(category_id)
    question_form = QuestionForm()
    status = 400
    if question_form.validate_on_submit():
        locale = current_app.config["CIVIC_DEFAULT_LOCALE"]
        try:
            services.add_question(
                current_user.id,
                category.id,
                code=question_form.code.data,
                datatype=question_form.datatype.data,
                prompt={locale: question_form.prompt.data},
                help_text={locale: question_form.help_text.data or ""},
                is_required=question_form.is_required.data,
                options=[
                    (key, {locale: label})
                    for key, label in services.parse_options(question_form.options.data or "")
                ],
            )
        except DomainError as error:
            question_form.add_domain_error(error)
            status = error.status_code
        else:
            flash(_("Question added."), "success")
            return redirect(url_for("reports.admin_category", category_id=category.id))
    return render(
        "reports/admin_category.html",
        category=category,
        form=_category_form(category),
        question_form=question_form,
        datatype_labels=DATATYPE_LABELS,
        status=status,
    )


@bp.post("/admin/questions/<int:question_id>/delete")
@admin_required
def admin_delete_question(question_id: int):
    """Remove a question from its category."""
    from civic.reports.models import CategoryQuestion

    question = db.session.get(CategoryQuestion, question_id)
    if question is None:
        abort(404)
    category_id = question.category_id
    services.delete_question(current_user.id, question_id)
    flash(_("Question removed."), "success")
    return redirect(url_for("reports.admin_category", category_id=category_id))


@bp.route("/admin/api-keys", methods=["GET", "POST"])
@admin_required
def admin_api_keys():
    """Issue and revoke Open311 API keys, one per client application."""
    form = ApiKeyForm()
    new_key = None
    status = 200
    if form.validate_on_submit():
        try:
            _client, new_key = services.issue_api_key(
                current_user.id, form.name.data, form.contact_email.data
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = 400
        else:
            form = ApiKeyForm(formdata=None)
    elif form.is_submitted():
        status = 400
    return render(
        "reports/admin_api_keys.html",
        form=form,
        clients=services.list_api_clients(),
        new_key=new_key,
        status=status,
    )


@bp.post("/admin/api-keys/<int:client_id>/revoke")
@admin_required
def admin_revoke_key(client_id: int):
    """Stop a key from working."""
    services.revoke_api_key(current_user.id, client_id)
    flash(_("The key no longer works."), "success")
    return redirect(url_for("reports.admin_api_keys"))


# --- Command line: the daily digest and housekeeping, for cron ---------------------------------


@bp.cli.command("digest")
def digest_command() -> None:
    """Send the daily digests of new reports (run once a day, or more often: it sends at most one
    e-mail per person per day)."""
    import click

    from civic.reports.jobs import send_daily_digests

    click.echo(f"{send_daily_digests()} digests sent.")


@bp.cli.command("purge-unconfirmed")
def purge_command() -> None:
    """Delete anonymous reports whose confirmation link expired unclicked."""
    import click

    click.echo(f"{services.delete_stale_unconfirmed()} unconfirmed reports deleted.")
