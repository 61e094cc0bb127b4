"""What every template can use: navigation, languages, the active user's language switch."""

from __future__ import annotations

from flask import Flask, has_request_context, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from civic.config import LANGUAGES
from civic.core.i18n import _normalise

# Modules add their entry here when they register; endpoints that do not exist yet are skipped.
NAV_ITEMS = [
    ("budgeting.index", _l("Budgets")),
    ("polls.index", _l("Polls")),
    ("reports.index", _l("Report a problem")),
    ("challenges.index", _l("Challenges")),
    ("opendata.index", _l("Open data")),
    ("workshops.join", _l("Join a workshop")),
]


def _save_language_switch():
    """A signed-in user's ?lang= switch becomes their saved preference."""
    chosen = _normalise(request.args.get("lang"))
    if chosen and current_user.is_authenticated and current_user.locale != chosen:
        from civic.accounts.services import set_locale

        set_locale(current_user.id, chosen)


def _url_with_lang(code: str) -> str:
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    from urllib.parse import urlencode

    return f"{request.path}?{urlencode(args, doseq=True)}"


class _LanguageLinks:
    """(code, name, this page in that language) for the switcher, computed when iterated."""

    def __iter__(self):
        return iter([(code, name, _url_with_lang(code)) for code, name in LANGUAGES.items()])


def init_templating(app: Flask) -> None:
    """Context for base.html and template settings."""
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.before_request(_save_language_switch)

    @app.context_processor
    def inject_shell():
        if not has_request_context():  # e-mails rendered by background jobs
            return {"city_name": app.config["CIVIC_CITY_NAME"]}
        nav = [(endpoint, label) for endpoint, label in NAV_ITEMS if endpoint in app.view_functions]
        return {
            "nav_items": nav,
            # Built only when a page's shell lists them (fragments never do).
            "language_links": _LanguageLinks(),
            "city_name": app.config["CIVIC_CITY_NAME"],
        }
