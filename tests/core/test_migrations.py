from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

from civic import create_app
from civic.extensions import db


def test_migrations_match_the_models(app):
    """The schema the migrations built (once, from empty, for this run) equals the models."""
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_upgrade_from_empty_and_downgrade_on_a_fresh_database(tmp_path, base_config):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    app = create_app({**base_config, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"user", "user_role", "district", "audit_event", "alembic_version"} <= tables
        downgrade(revision="base")
        assert inspect(db.engine).get_table_names() == ["alembic_version"]
        db.engine.dispose()
    create_engine(url).dispose()


def test_constraint_names_follow_the_convention(app):
    inspector = inspect(db.engine)
    uniques = {u["name"] for u in inspector.get_unique_constraints("user_role")}
    assert "uq_user_role_user_id_role" in uniques
