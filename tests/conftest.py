"""Fixtures shared by every test: app, db, client, auth, queue, and the make_user factory.

The suite runs against DATABASE_URL when it is set (PostgreSQL in CI) and a fresh SQLite file
otherwise. The schema is built once per run by the real migrations, so every run also proves
that `civic db upgrade` works from empty on that database.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, inspect, text
from werkzeug.security import generate_password_hash

from civic import create_app
from civic.config import SEEDS_DIR
from civic.extensions import db as _db

DEMO_PASSWORD = "correct-horse-battery"
_PASSWORD_HASH = generate_password_hash(DEMO_PASSWORD)
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _reset_database(url: str) -> None:
    """Start from an empty database: drop everything, including alembic_version."""
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        from civic.config import _normalise_db_url

        url = _normalise_db_url(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    _reset_database(url)
    return url


@pytest.fixture(scope="session")
def base_config(database_url, tmp_path_factory) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "REDIS_URL": "",
        "CIVIC_UPLOAD_FOLDER": str(tmp_path_factory.mktemp("uploads")),
        "SERVER_NAME": None,
    }


@pytest.fixture(scope="session")
def _schema(base_config):
    """Build the schema with the migrations, once."""
    from flask_migrate import upgrade

    app = create_app(base_config)
    with app.app_context():
        upgrade(revision="heads")
        _db.engine.dispose()
    return True


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, as in production.

    Tests keep an app context open to use the database; without this, requests would share
    that context's `g` (and so flask-login's and flask-babel's per-request caches)."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


def _make_app(config: dict):
    app = create_app(config)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def app(base_config, _schema):
    app = _make_app(dict(base_config))
    with app.app_context():
        yield app
        _db.session.remove()
        _truncate_all()
        _db.engine.dispose()
        from civic.core import geo

        geo._index_cache.clear()


def _truncate_all() -> None:
    # Only tables that exist: a model without its migration is reported once, by
    # tests/core/test_migrations.py, instead of breaking every test's clean-up.
    existing = set(inspect(_db.engine).get_table_names())
    tables = [t.name for t in reversed(_db.metadata.sorted_tables) if t.name in existing]
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    f"TRUNCATE {', '.join(chr(34) + t + chr(34) for t in tables)} RESTART IDENTITY CASCADE"
                )
            )
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def csrf_app(base_config, _schema):
    """The app with CSRF protection on, as in production."""
    app = _make_app({**base_config, "WTF_CSRF_ENABLED": True})
    with app.app_context():
        yield app
        _db.session.remove()
        _truncate_all()
        _db.engine.dispose()


@pytest.fixture
def districts(app):
    """The demo city's six districts, loaded through core.geo."""
    from civic.core import geo

    data = json.loads((SEEDS_DIR / "districts.geojson").read_text(encoding="utf-8"))
    return {d.code: d for d in geo.import_districts(data)}


@pytest.fixture
def make_user(app):
    """Factory: make_user(email=..., roles=(...), verified_district=District, **overrides)."""
    from civic.accounts.models import User, UserRole

    counter = {"n": 0}

    def factory(roles=("resident",), verified_district=None, **overrides):
        counter["n"] += 1
        fields = {
            "email": f"user{counter['n']}@example.org",
            "display_name": f"User {counter['n']}",
            "password_hash": _PASSWORD_HASH,
        }
        fields.update(overrides)
        user = User(**fields)
        user.role_rows = [UserRole(role=r) for r in roles]
        if verified_district is not None:
            user.verification_level = "verified"
            user.verified_district_id = verified_district.id
        _db.session.add(user)
        _db.session.commit()
        return user

    return factory


class Auth:
    """Sign a test client in and out through the real login form."""

    def __init__(self, client):
        self.client = client

    def login(self, user_or_email, password: str = DEMO_PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        response = self.client.post("/account/login", data={"email": email, "password": password})
        assert response.status_code == 302, response.data[:500]
        return response

    def logout(self):
        return self.client.post("/account/logout")


@pytest.fixture
def auth(client):
    return Auth(client)


def redis_url() -> str | None:
    """A reachable Redis for job tests: REDIS_URL or the local default."""
    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return None
    return url


@pytest.fixture
def queue(app, base_config):
    """An app whose jobs go through a real Redis; drained by an rq burst worker with work().

    Its app context sits on top of the `app` fixture's, so both share one database and the
    code under test enqueues on Redis."""
    url = redis_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("Redis is required in CI and is not reachable")
        pytest.skip("no Redis reachable at REDIS_URL or 127.0.0.1:6379 (CI runs this test)")
    from redis import Redis

    # A database of its own so the test never touches a real queue.
    test_url = re.sub(r"/\d+$", "", url) + "/13"
    Redis.from_url(test_url).flushdb()
    app = _make_app({**base_config, "REDIS_URL": test_url})
    with app.app_context():
        from civic import jobs

        class Queue:
            flask_app = app

            @staticmethod
            def work() -> None:
                worker = jobs.make_worker_class()(
                    [jobs.get_queue()], connection=jobs.redis_connection()
                )
                worker.work(burst=True, with_scheduler=False)

            @staticmethod
            def rq_queue():
                return jobs.get_queue()

        yield Queue
        Redis.from_url(test_url).flushdb()
        _db.session.remove()
        _db.engine.dispose()
        jobs.redis_connection().close()


def shared_path(*parts: str) -> Path:
    """A path in ../shared, skipping the test with a reason when it is absent (a user's clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: ../shared is only present in the project's CI")
    return path
