"""Sign-up, sign-in, password reset, profile, verification code, data export, deletion."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from civic.accounts import services
from civic.accounts.forms import (
    ChangePasswordForm,
    DeleteAccountForm,
    ForgotPasswordForm,
    LoginForm,
    ProfileForm,
    RedeemCodeForm,
    RegisterForm,
    ResetPasswordForm,
)
from civic.core.errors import DomainError
from civic.core.forms import choices
from civic.core.geo import list_districts
from civic.core.i18n import pick_text
from civic.core.rendering import render
from civic.core.urls import safe_next_url

bp = Blueprint("accounts", __name__, url_prefix="/account")


def _district_choices(blank_label: str) -> list:
    return choices([(0, blank_label)] + [(d.id, pick_text(d.name).text) for d in list_districts()])


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create a resident account."""
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = RegisterForm()
    form.home_district.choices = _district_choices(_("Not now"))
    status = 200
    if form.validate_on_submit():
        try:
            user = services.register_user(
                form.email.data,
                form.password.data,
                form.display_name.data,
                form.locale.data or None,
                form.home_district.data or None,
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = 400
        else:
            login_user(user)
            flash(
                _("Welcome to Civic, %(name)s! Your account is ready.", name=user.display_name),
                "success",
            )
            return redirect(url_for("core.home"))
    elif form.is_submitted():
        status = 400
    return render("accounts/register.html", form=form, status=status)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.email.data, form.password.data, request.remote_addr or "unknown"
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            login_user(user, remember=form.remember.data)
            flash(_("You are signed in."), "success")
            return redirect(safe_next_url(request.args.get("next")) or url_for("core.home"))
    elif form.is_submitted():
        status = 400
    return render("accounts/login.html", form=form, status=status)


@bp.post("/logout")
@login_required
def logout():
    """Sign out."""
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("core.home"))


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    """Ask for a password reset link by e-mail."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        flash(
            _(
                "If an account exists for this address, we have sent it a link to reset the password."
            ),
            "info",
        )
        return redirect(url_for("accounts.login"))
    return render(
        "accounts/forgot_password.html", form=form, status=400 if form.is_submitted() else 200
    )


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password from an e-mailed link."""
    form = ResetPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data)
        except DomainError as error:
            form.add_domain_error(error)
            status = 400
        else:
            flash(_("Your password has been changed. Please sign in."), "success")
            return redirect(url_for("accounts.login"))
    elif form.is_submitted():
        status = 400
    return render("accounts/reset_password.html", form=form, status=status)


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Name, language, home district; links to verification, export and deletion."""
    form = ProfileForm(obj=current_user)
    form.home_district.choices = _district_choices(_("Not set"))
    if not form.is_submitted():
        form.locale.data = current_user.locale or ""
        form.home_district.data = current_user.home_district_id or 0
    status = 200
    if form.validate_on_submit():
        try:
            services.update_profile(
                current_user.id,
                form.display_name.data,
                form.locale.data or None,
                form.home_district.data or None,
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = 400
        else:
            flash(_("Your profile has been saved."), "success")
            return redirect(url_for("accounts.profile"))
    elif form.is_submitted():
        status = 400
    return render(
        "accounts/profile.html",
        form=form,
        password_form=ChangePasswordForm(formdata=None),
        code_form=RedeemCodeForm(formdata=None),
        status=status,
    )


@bp.post("/password")
@login_required
def change_password():
    """Change the password (signs out other sessions)."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            user = services.change_password(
                current_user.id, form.current_password.data, form.password.data
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            login_user(user)
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("accounts.profile"))
    profile_form = ProfileForm(formdata=None, obj=current_user)
    profile_form.home_district.choices = _district_choices(_("Not set"))
    return render(
        "accounts/profile.html",
        form=profile_form,
        password_form=form,
        code_form=RedeemCodeForm(formdata=None),
        status=400,
    )


@bp.route("/verify", methods=["GET", "POST"])
@login_required
def redeem_code():
    """Redeem a service-desk verification code."""
    form = RedeemCodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.redeem_verification_code(current_user.id, form.code.data)
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            flash(
                _(
                    "You are now verified as a resident of %(district)s.",
                    district=pick_text(user.verified_district.name).text,
                ),
                "success",
            )
            return redirect(url_for("accounts.profile"))
    elif form.is_submitted():
        status = 400
    return render("accounts/verify.html", form=form, status=status)


@bp.get("/export")
@login_required
def export_data():
    """Download everything Civic holds about me, as JSON."""
    response = jsonify(services.export_user_data(current_user.id))
    response.headers["Content-Disposition"] = "attachment; filename=civic-my-data.json"
    return response


@bp.route("/delete", methods=["GET", "POST"])
@login_required
def delete_account():
    """Delete my account after confirming with my password."""
    form = DeleteAccountForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.delete_account(current_user.id, form.password.data)
        except DomainError as error:
            form.add_domain_error(error)
            status = 400
        else:
            logout_user()
            flash(_("Your account has been deleted."), "info")
            return redirect(url_for("core.home"))
    elif form.is_submitted():
        status = 400
    return render("accounts/delete.html", form=form, status=status)
