"""Configuration: defaults, then the environment (DATABASE_URL, REDIS_URL, SECRET_KEY, CIVIC_*)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"
TRANSLATIONS_DIR = ROOT / "translations"
SEEDS_DIR = ROOT / "seeds"
MIGRATIONS_DIR = ROOT / "migrations"

# Each language named in itself, as the switcher shows it.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "pt_BR": "Português (Brasil)",
    "fr": "Français",
    "de": "Deutsch",
    "ko": "한국어",
    "id": "Bahasa Indonesia",
    "hi": "हिन्दी",
    "ar": "العربية",
}
RTL_LANGUAGES = frozenset({"ar"})

_INSECURE_SECRETS = frozenset({"", "dev", "change-me", "changeme", "secret"})


class ConfigError(RuntimeError):
    """The configuration cannot run safely."""


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _instance_secret(instance_path: Path) -> str:
    """Read the secret key kept in instance/, generating it on first use."""
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _normalise_db_url(url: str) -> str:
    """Point plain postgres URLs at the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_config(instance_path: Path, overrides: dict | None = None) -> dict:
    """Build the configuration mapping from defaults, the environment and overrides."""
    env = os.environ
    overrides = overrides or {}
    production = env.get("CIVIC_ENV", "development") == "production"
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'civic.sqlite3'}"
    config = {
        "ENV_NAME": "production" if production else "development",
        "DEBUG": _env_bool("CIVIC_DEBUG", False),
        "SECRET_KEY": env.get("SECRET_KEY", ""),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": env.get("REDIS_URL", ""),
        "CIVIC_CITY_NAME": env.get("CIVIC_CITY_NAME", "Porto Verde"),
        "CIVIC_DEFAULT_LOCALE": env.get("CIVIC_DEFAULT_LOCALE", "en"),
        "CIVIC_CURRENCY": env.get("CIVIC_CURRENCY", "BRL"),
        "CIVIC_TIMEZONE": env.get("CIVIC_TIMEZONE", "America/Sao_Paulo"),
        "CIVIC_UPLOAD_FOLDER": env.get("CIVIC_UPLOAD_FOLDER", str(instance_path / "uploads")),
        "CIVIC_UPLOAD_MAX_BYTES": _env_int("CIVIC_UPLOAD_MAX_BYTES", 10 * 1024 * 1024),
        "CIVIC_IMAGE_MAX_PIXELS": _env_int("CIVIC_IMAGE_MAX_PIXELS", 40_000_000),
        "CIVIC_REQUEST_MAX_BYTES": _env_int("CIVIC_REQUEST_MAX_BYTES", 32 * 1024 * 1024),
        "CIVIC_MAIL_SENDER": env.get("CIVIC_MAIL_SENDER", "civic@localhost"),
        "CIVIC_SMTP_HOST": env.get("CIVIC_SMTP_HOST", ""),
        "CIVIC_SMTP_PORT": _env_int("CIVIC_SMTP_PORT", 587),
        "CIVIC_SMTP_USER": env.get("CIVIC_SMTP_USER", ""),
        "CIVIC_SMTP_PASSWORD": env.get("CIVIC_SMTP_PASSWORD", ""),
        "CIVIC_SMTP_STARTTLS": _env_bool("CIVIC_SMTP_STARTTLS", True),
        "CIVIC_LOGIN_MAX_FAILURES": _env_int("CIVIC_LOGIN_MAX_FAILURES", 5),
        "CIVIC_LOGIN_WINDOW_MINUTES": _env_int("CIVIC_LOGIN_WINDOW_MINUTES", 15),
        "CIVIC_TILE_URL": env.get(
            "CIVIC_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        ),
        "CIVIC_JOB_RETRIES": _env_int("CIVIC_JOB_RETRIES", 3),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_TRANSLATION_DIRECTORIES": str(TRANSLATIONS_DIR),
    }
    config.update(overrides)
    config["BABEL_DEFAULT_LOCALE"] = config["CIVIC_DEFAULT_LOCALE"]
    config["BABEL_DEFAULT_TIMEZONE"] = config["CIVIC_TIMEZONE"]
    config["MAX_CONTENT_LENGTH"] = config["CIVIC_REQUEST_MAX_BYTES"]
    if not config["SECRET_KEY"]:
        if production:
            raise ConfigError("SECRET_KEY must be set to a long random value in production.")
        config["SECRET_KEY"] = _instance_secret(instance_path)
    check_production_safety(config)
    return config


def check_production_safety(config: dict) -> None:
    """Refuse to run production with debug on or without a real secret."""
    if config["ENV_NAME"] != "production":
        return
    if config.get("DEBUG"):
        raise ConfigError("Refusing to start: debug mode is on in production.")
    secret = config.get("SECRET_KEY", "")
    if secret.lower() in _INSECURE_SECRETS or len(secret) < 32:
        raise ConfigError("Refusing to start: SECRET_KEY must be at least 32 random characters.")
