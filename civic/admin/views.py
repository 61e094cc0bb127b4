"""Administration and staff back office: users, roles, departments, districts, codes, audit, jobs."""

from __future__ import annotations

import json

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from civic import jobs
from civic.accounts import services
from civic.admin.forms import (
    ROLE_LABELS,
    CodesForm,
    DepartmentForm,
    DistrictUploadForm,
    UserDepartmentsForm,
    UserRolesForm,
    VerificationForm,
)
from civic.core import audit, geo
from civic.core.auth import admin_required, staff_required
from civic.core.errors import DomainError
from civic.core.forms import choices
from civic.core.i18n import pick_text, translatable
from civic.core.rendering import render

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _district_choices(blank: str | None = None) -> list:
    pairs = [(d.id, pick_text(d.name).text) for d in geo.list_districts()]
    return choices(([(0, blank)] if blank is not None else []) + pairs)


def _department_choices() -> list:
    return choices((d.id, pick_text(d.name).text) for d in services.list_departments())


@bp.get("/")
@staff_required
def index():
    """The back-office start page."""
    return render("admin/index.html")


@bp.get("/users")
@staff_required
def users():
    """Find users by name or e-mail; filter by role."""
    page = services.list_users(
        request.args.get("q", ""),
        request.args.get("role") or None,
        request.args.get("page", 1, type=int),
    )
    return render(
        "admin/users.html",
        fragment="admin/_users_table.html",
        page=page,
        role_labels=ROLE_LABELS,
        q=request.args.get("q", ""),
        role=request.args.get("role", ""),
    )


def _user_forms(user, roles_form=None, departments_form=None, verification_form=None):
    roles_form = roles_form or UserRolesForm(formdata=None, roles=sorted(user.roles))
    departments_form = departments_form or UserDepartmentsForm(
        formdata=None, departments=sorted(user.department_ids)
    )
    departments_form.departments.choices = _department_choices()
    verification_form = verification_form or VerificationForm(
        formdata=None, district=user.verified_district_id or 0
    )
    verification_form.district.choices = _district_choices(_("Not verified"))
    return roles_form, departments_form, verification_form


def _render_user(user, status=200, **forms):
    roles_form, departments_form, verification_form = _user_forms(user, **forms)
    return render(
        "admin/user.html",
        user=user,
        roles_form=roles_form,
        departments_form=departments_form,
        verification_form=verification_form,
        role_labels=ROLE_LABELS,
        status=status,
    )


@bp.get("/users/<int:user_id>")
@staff_required
def user_detail(user_id: int):
    """One user's roles, departments and verification."""
    return _render_user(services.get_user(user_id))


@bp.post("/users/<int:user_id>/roles")
@admin_required
def user_roles(user_id: int):
    """Replace a user's roles."""
    user = services.get_user(user_id)
    form = UserRolesForm()
    if form.validate_on_submit():
        try:
            services.set_roles(current_user.id, user_id, form.roles.data)
        except DomainError as error:
            form.add_domain_error(error)
        else:
            flash(_("Roles saved."), "success")
            return redirect(url_for("admin.user_detail", user_id=user_id))
    return _render_user(user, status=400, roles_form=form)


@bp.post("/users/<int:user_id>/departments")
@admin_required
def user_departments(user_id: int):
    """Replace a staff member's departments."""
    user = services.get_user(user_id)
    form = UserDepartmentsForm()
    form.departments.choices = _department_choices()
    if form.validate_on_submit():
        try:
            services.set_departments(current_user.id, user_id, form.departments.data)
        except DomainError as error:
            form.add_domain_error(error)
        else:
            flash(_("Departments saved."), "success")
            return redirect(url_for("admin.user_detail", user_id=user_id))
    return _render_user(user, status=400, departments_form=form)


@bp.post("/users/<int:user_id>/verification")
@staff_required
def user_verification(user_id: int):
    """Verify a user as a resident of a district, or withdraw it."""
    user = services.get_user(user_id)
    form = VerificationForm()
    form.district.choices = _district_choices(_("Not verified"))
    if form.validate_on_submit() or (form.is_submitted() and form.district.data == 0):
        try:
            services.set_verification(current_user.id, user_id, form.district.data or None)
        except DomainError as error:
            form.add_domain_error(error)
        else:
            flash(_("Verification saved."), "success")
            return redirect(url_for("admin.user_detail", user_id=user_id))
    return _render_user(user, status=400, verification_form=form)


@bp.route("/departments", methods=["GET", "POST"])
@admin_required
def departments():
    """List and add departments."""
    form = DepartmentForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.create_department(
                current_user.id, form.code.data, translatable(form.name.data), form.email.data
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = 400
        else:
            flash(_("Department added."), "success")
            return redirect(url_for("admin.departments"))
    elif form.is_submitted():
        status = 400
    return render(
        "admin/departments.html", form=form, departments=services.list_departments(), status=status
    )


@bp.route("/districts", methods=["GET", "POST"])
@admin_required
def districts():
    """List districts and load them from a GeoJSON file."""
    form = DistrictUploadForm()
    status = 200
    if form.validate_on_submit():
        try:
            data = json.loads(form.geojson.data.read().decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            form.geojson.errors = [_("This file is not valid JSON.")]
            status = 400
        else:
            try:
                loaded = geo.import_districts(data, current_user.id)
            except DomainError as error:
                form.geojson.errors = [str(error.message)]
                status = 400
            else:
                flash(_("%(count)s districts loaded.", count=len(loaded)), "success")
                return redirect(url_for("admin.districts"))
    elif form.is_submitted():
        status = 400
    return render("admin/districts.html", form=form, districts=geo.list_districts(), status=status)


@bp.route("/verification-codes", methods=["GET", "POST"])
@staff_required
def verification_codes():
    """Generate one-time verification codes to print for a service desk."""
    form = CodesForm()
    form.district.choices = _district_choices()
    codes: list[str] = []
    status = 200
    if form.validate_on_submit():
        try:
            codes = services.create_verification_codes(
                current_user.id, form.district.data, form.count.data, form.valid_days.data
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = 400
    elif form.is_submitted():
        status = 400
    district = next((c.label for c in form.district.choices if c.value == form.district.data), "")
    return render(
        "admin/verification_codes.html", form=form, codes=codes, district=district, status=status
    )


@bp.get("/audit")
@admin_required
def audit_log():
    """Recent staff actions."""
    return render(
        "admin/audit.html", events=audit.list_events(request.args.get("limit", 200, type=int))
    )


@bp.get("/jobs")
@staff_required
def job_list():
    """Queued, running, failed and finished background jobs."""
    return render(
        "admin/jobs.html", groups=jobs.list_jobs(), inline=jobs.redis_connection() is None
    )
