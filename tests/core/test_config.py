import pytest

from civic import create_app
from civic.config import ConfigError, load_config


def test_embedded_defaults_use_sqlite_in_instance_and_inline_jobs(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CIVIC_ENV"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'civic.sqlite3'}"
    assert config["REDIS_URL"] == ""
    assert len(config["SECRET_KEY"]) >= 32


def test_secret_key_is_generated_once_into_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("CIVIC_ENV", raising=False)
    first = load_config(tmp_path)["SECRET_KEY"]
    second = load_config(tmp_path)["SECRET_KEY"]
    assert first == second
    assert (tmp_path / "secret_key").read_text().strip() == first
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_environment_overlay(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    monkeypatch.setenv("CIVIC_CITY_NAME", "Seoul")
    monkeypatch.setenv("CIVIC_CURRENCY", "KRW")
    monkeypatch.setenv("CIVIC_UPLOAD_MAX_BYTES", "1234")
    config = load_config(tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert config["CIVIC_CITY_NAME"] == "Seoul"
    assert config["CIVIC_CURRENCY"] == "KRW"
    assert config["CIVIC_UPLOAD_MAX_BYTES"] == 1234


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "change-me"}, "at least 32"),
        ({"SECRET_KEY": "x" * 40, "CIVIC_DEBUG": "1"}, "debug"),
    ],
)
def test_production_refuses_unsafe_settings(tmp_path, monkeypatch, env, message):
    monkeypatch.setenv("CIVIC_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


def test_production_cookies_are_secure(tmp_path, monkeypatch):
    monkeypatch.setenv("CIVIC_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    config = load_config(tmp_path)
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_create_app_wires_folders_outside_the_package():
    app = create_app({"SECRET_KEY": "k" * 40, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.template_folder.endswith("/templates")
    assert not app.template_folder.endswith("civic/templates")
    assert app.static_folder.endswith("/static")
