"""WTForms' own messages, listed so that Civic's catalogs translate them in all nine languages.

WTForms ships no Hindi, Indonesian or Brazilian Portuguese; BaseForm routes WTForms' gettext
through Civic's catalogs instead, and this function is only read by the extractor.
"""

from flask_babel import gettext as _
from flask_babel import ngettext


def _catalog_entries() -> None:  # pragma: no cover - read by `civic i18n extract`, never run
    _("Field must be equal to %(other_name)s.")
    ngettext(
        "Field must be at least %(min)d character long.",
        "Field must be at least %(min)d characters long.",
        1,
    )
    ngettext(
        "Field cannot be longer than %(max)d character.",
        "Field cannot be longer than %(max)d characters.",
        1,
    )
    ngettext(
        "Field must be exactly %(max)d character long.",
        "Field must be exactly %(max)d characters long.",
        1,
    )
    _("Field must be between %(min)d and %(max)d characters long.")
    _("Number must be at least %(min)s.")
    _("Number must be at most %(max)s.")
    _("Number must be between %(min)s and %(max)s.")
    _("Date must be at least %(min)s.")
    _("Date must be at most %(max)s.")
    _("Date must be between %(min)s and %(max)s.")
    _("This field is required.")
    _("Invalid input.")
    _("Invalid email address.")
    _("Invalid URL.")
    _("Invalid value, must be one of: %(values)s.")
    _("Invalid value, can't be any of: %(values)s.")
    _("This field cannot be edited.")
    _("This field is disabled and cannot have a value.")
    _("Invalid Choice: could not coerce.")
    _("Not a valid choice.")
    _("Invalid choice(s): one or more data inputs could not be coerced.")
    ngettext(
        "'%(value)s' is not a valid choice for this field.",
        "'%(value)s' are not valid choices for this field.",
        1,
    )
    _("Not a valid datetime value.")
    _("Not a valid date value.")
    _("Not a valid time value.")
    _("Not a valid integer value.")
    _("Not a valid decimal value.")
    _("Not a valid float value.")
