"""The base form: CSRF on, WTForms' own messages translated by Civic's catalogs."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import get_translations
from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice


def choices(pairs: Iterable[tuple[object, object]]) -> list[SelectChoice]:
    """(value, label) pairs as WTForms select choices."""
    return [SelectChoice(value, label) for value, label in pairs]


class _CatalogTranslations:
    """WTForms asks for gettext/ngettext; answer from Civic's catalogs (no formatting here:
    WTForms formats the placeholders itself)."""

    def gettext(self, string: str) -> str:
        return get_translations().gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ngettext(singular, plural, n)


class BaseForm(FlaskForm):
    """Every Civic form derives from this."""

    class Meta:
        def get_translations(self, form):
            return _CatalogTranslations()

    def add_domain_error(self, error) -> None:
        """Attach a DomainError's message to its field, or to the form as a whole."""
        field = getattr(self, error.field, None) if error.field else None
        if field is not None:
            field.errors = [*field.errors, str(error.message)]
        else:
            self.form_errors.append(str(error.message))
