"""Domain errors with translatable messages, and the error pages."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    """A rule refused an action; the message is translatable and safe to show."""

    status_code = 400

    def __init__(self, message, field: str | None = None, status_code: int | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field
        if status_code is not None:
            self.status_code = status_code


class NotAllowed(DomainError):
    """The user may not do this."""

    status_code = 403


class NotFound(DomainError):
    """The thing does not exist (or is not visible to this user)."""

    status_code = 404


class Conflict(DomainError):
    """The action conflicts with the current state (already done, phase closed...)."""

    status_code = 409


class TooManyRequests(DomainError):
    """Slow down."""

    status_code = 429


ERROR_TITLES = {
    400: _l("The request could not be understood"),
    403: _l("You do not have access to this page"),
    404: _l("Page not found"),
    405: _l("This action is not allowed here"),
    409: _l("This conflicts with the current state"),
    413: _l("The upload is too large"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong on our side"),
}

ERROR_HINTS = {
    400: _l("Please go back, check what you entered and try again."),
    403: _l(
        "If you think you should have access, sign in with another account or ask an administrator."
    ),
    404: _l("The address may be mistyped, or the page was moved."),
    405: _l("Please go back and use the form on the page."),
    409: _l("Please reload the page to see the current state."),
    413: _l("Please choose a smaller file and try again."),
    429: _l("Please wait a few minutes before trying again."),
    500: _l("The error was logged. Please try again in a moment."),
}


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def render_error(status: int, message: str | None = None):
    """Render the translated error page (or JSON for API clients) with the status code."""
    code = status if status in ERROR_TITLES else (500 if status >= 500 else 400)
    title = str(ERROR_TITLES[code])
    if _wants_json() or request.path.startswith("/api/") or request.path == "/healthz":
        return jsonify(error=title, message=message or ""), status
    return (
        render_template(
            "errors/error.html", status=status, title=title, hint=ERROR_HINTS[code], message=message
        ),
        status,
    )


def register_error_handlers(app: Flask) -> None:
    """Map HTTP errors, CSRF failures and domain errors to translated pages."""

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):
        return render_error(error.code or 500)

    @app.errorhandler(CSRFError)
    def handle_csrf(error: CSRFError):
        return render_error(
            400, str(_l("The form expired or was sent from elsewhere. Please try again."))
        )

    @app.errorhandler(DomainError)
    def handle_domain(error: DomainError):
        return render_error(error.status_code, str(error.message))

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        app.logger.exception("Unhandled error")
        from civic.extensions import db

        db.session.rollback()
        return render_error(500)
