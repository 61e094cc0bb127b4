"""The base form: CSRF on, WTForms' own messages in the active locale."""

from __future__ import annotations

from flask_babel import get_locale
from flask_wtf import FlaskForm


class BaseForm(FlaskForm):
    """Every Civic form derives from this."""

    class Meta:
        @property
        def locales(self):
            locale = get_locale()
            return [str(locale).replace("_", "-"), str(locale).split("_")[0]] if locale else []

    def add_domain_error(self, error) -> None:
        """Attach a DomainError's message to its field, or to the form as a whole."""
        field = getattr(self, error.field, None) if error.field else None
        if field is not None:
            field.errors = [*field.errors, str(error.message)]
        else:
            self.form_errors.append(str(error.message))
