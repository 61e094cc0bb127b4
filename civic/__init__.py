"""Civic: a city's participation and innovation platform."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from civic.config import STATIC_DIR, TEMPLATES_DIR, load_config


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask application: configuration, extensions, blueprints, CLI, errors."""
    app = Flask(
        __name__,
        template_folder=str(TEMPLATES_DIR),
        static_folder=str(STATIC_DIR),
        instance_relative_config=True,
    )
    app.config.update(load_config(Path(app.instance_path), config))
    _init_extensions(app)
    _register_blueprints(app)
    _register_hooks(app)
    return app


def _init_extensions(app: Flask) -> None:
    from civic.config import MIGRATIONS_DIR
    from civic.core.i18n import select_locale
    from civic.extensions import babel, csrf, db, htmx, login_manager, migrate

    db.init_app(app)
    _tune_sqlite(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from civic.accounts.views import bp as accounts_bp
    from civic.admin.views import bp as admin_bp
    from civic.budgeting.views import bp as budgeting_bp
    from civic.challenges.views import bp as challenges_bp
    from civic.core.views import bp as core_bp
    from civic.opendata.views import bp as opendata_bp
    from civic.polls.views import bp as polls_bp
    from civic.reports.open311 import bp as open311_bp
    from civic.reports.views import bp as reports_bp
    from civic.workshops.views import bp as workshops_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(open311_bp)
    app.register_blueprint(budgeting_bp)
    app.register_blueprint(polls_bp)
    app.register_blueprint(challenges_bp)
    app.register_blueprint(workshops_bp)
    app.register_blueprint(opendata_bp)


def _register_hooks(app: Flask) -> None:
    from civic.accounts.services import init_login
    from civic.cli import register_commands
    from civic.core.errors import register_error_handlers
    from civic.core.i18n import init_i18n
    from civic.core.security import init_security
    from civic.core.templating import init_templating

    init_login(app)
    init_i18n(app)
    init_templating(app)
    init_security(app)
    register_error_handlers(app)
    register_commands(app)


def _tune_sqlite(app: Flask) -> None:
    """SQLite: enforce foreign keys, wait on locks, let readers run beside a writer (WAL)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event

    from civic.extensions import db

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        if ":memory:" not in app.config["SQLALCHEMY_DATABASE_URI"]:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
