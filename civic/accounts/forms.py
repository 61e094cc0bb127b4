"""Account forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from civic.config import LANGUAGES
from civic.core.forms import BaseForm, choices


def language_choices(blank: bool = True) -> list:
    """Languages named in themselves, for select fields."""
    pairs = [(code, name) for code, name in LANGUAGES.items()]
    return choices(([("", _l("Same as my browser"))] if blank else []) + pairs)


class RegisterForm(BaseForm):
    display_name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=120)],
        description=_l("Shown next to what you publish. You may use a nickname."),
    )
    email = EmailField(
        _l("E-mail address"),
        validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(min=10, max=200)],
        description=_l("At least 10 characters."),
    )
    home_district = SelectField(
        _l("Home district"),
        coerce=int,
        validators=[Optional()],
        description=_l("Optional. Helps us show what happens near you."),
    )
    locale = SelectField(_l("Language"), choices=language_choices(), validators=[Optional()])
    accept_terms = BooleanField(
        _l("I have read how Civic uses my data"), validators=[DataRequired()]
    )


class LoginForm(BaseForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Keep me signed in on this device"))


class ForgotPasswordForm(BaseForm):
    email = EmailField(
        _l("E-mail address"),
        validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)],
    )


class ResetPasswordForm(BaseForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=10, max=200)],
        description=_l("At least 10 characters."),
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )


class ProfileForm(BaseForm):
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    locale = SelectField(_l("Language"), choices=language_choices(), validators=[Optional()])
    home_district = SelectField(_l("Home district"), coerce=int, validators=[Optional()])


class ChangePasswordForm(BaseForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=10, max=200)],
        description=_l("At least 10 characters."),
    )


class RedeemCodeForm(BaseForm):
    code = StringField(
        _l("Verification code"),
        validators=[DataRequired(), Length(min=12, max=20)],
        description=_l("The code printed for you at a service desk, for example ABCD-EFGH-JKLM."),
    )


class DeleteAccountForm(BaseForm):
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired()],
        description=_l("Deleting your account cannot be undone."),
    )
