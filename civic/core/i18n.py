"""Locale choice, locale-aware formatting, and translatable content (text per locale)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.numbers import format_currency, format_decimal, format_percent
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import format_date, format_datetime, get_locale
from flask_login import current_user

from civic.config import LANGUAGES, RTL_LANGUAGES

LOCALE_COOKIE = "civic_lang"


def supported_locales() -> list[str]:
    """Locale codes Civic is translated into."""
    return list(LANGUAGES)


def _normalise(code: str | None) -> str | None:
    """Map 'pt-br', 'pt_BR', 'PT' and the like onto a supported locale code."""
    if not code:
        return None
    code = code.replace("-", "_").strip()
    for supported in LANGUAGES:
        if supported.lower() == code.lower():
            return supported
    base = code.split("_")[0].lower()
    for supported in LANGUAGES:
        if supported.split("_")[0].lower() == base:
            return supported
    return None


def select_locale() -> str:
    """The user's saved choice, then ?lang= (remembered in a cookie), then Accept-Language,
    then the city default."""
    if not has_request_context():
        return current_app.config["CIVIC_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and _normalise(current_user.locale):
        return _normalise(current_user.locale)
    switched = _normalise(request.args.get("lang"))
    if switched:
        g.switch_locale = switched
        return switched
    remembered = _normalise(request.cookies.get(LOCALE_COOKIE))
    if remembered:
        return remembered
    for code, _quality in request.accept_languages:
        matched = _normalise(code)
        if matched:
            return matched
    return current_app.config["CIVIC_DEFAULT_LOCALE"]


def remember_locale_switch(response):
    """Keep a ?lang= choice in a cookie for the next requests."""
    chosen = g.get("switch_locale")
    if chosen:
        response.set_cookie(
            LOCALE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response


def current_locale_code() -> str:
    """The active locale as a string such as 'pt_BR'."""
    return str(get_locale() or current_app.config["CIVIC_DEFAULT_LOCALE"])


def text_direction(locale_code: str | None = None) -> str:
    """'rtl' for right-to-left languages, else 'ltr'."""
    return "rtl" if (locale_code or current_locale_code()) in RTL_LANGUAGES else "ltr"


def html_lang(locale_code: str | None = None) -> str:
    """A BCP 47 tag for the lang attribute ('pt-BR')."""
    return (locale_code or current_locale_code()).replace("_", "-")


def format_money(amount: int | float | Decimal, currency: str | None = None) -> str:
    """Money in the city's currency, formatted for the active locale; whole amounts without cents."""
    currency = currency or current_app.config["CIVIC_CURRENCY"]
    locale = Locale.parse(current_locale_code())
    value = Decimal(str(amount))
    if value == value.to_integral_value():
        # Budgets run to millions: "R$ 1.240.000" reads better than "R$ 1.240.000,00".
        pattern = re.sub(r"\.0+", "", locale.currency_formats["standard"].pattern)
        return format_currency(value, currency, format=pattern, locale=locale, currency_digits=False)
    return format_currency(value, currency, locale=locale)


def format_number(value: int | float | Decimal) -> str:
    """A number with the active locale's digits grouping and decimal sign."""
    return format_decimal(value, locale=current_locale_code())


def format_share(value: float) -> str:
    """A ratio (0.25) as a locale percentage (25 %)."""
    return format_percent(value, locale=current_locale_code())


def format_when(value: datetime | date | None, style: str = "medium") -> str:
    """A date or datetime in the city's time zone and the active locale."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_datetime(value, style)
    return format_date(value, style)


def language_name(code: str) -> str:
    """A language named in itself ('Deutsch')."""
    return LANGUAGES.get(code) or Locale.parse(code).get_display_name(code) or code


@dataclass(frozen=True)
class LocalizedText:
    """Text chosen for the reader, with the locale it is actually written in."""

    text: str
    locale: str
    is_fallback: bool

    def __str__(self) -> str:
        return self.text

    @property
    def lang(self) -> str:
        return html_lang(self.locale)

    @property
    def language_name(self) -> str:
        return language_name(self.locale)


def pick_text(
    texts: dict[str, str] | None, locale_code: str | None = None, default: str | None = None
) -> LocalizedText:
    """Choose the reader's locale from translatable content, falling back to the city default,
    then to any language present."""
    texts = {k: v for k, v in (texts or {}).items() if v}
    wanted = locale_code or current_locale_code()
    fallback = default or current_app.config["CIVIC_DEFAULT_LOCALE"]
    if wanted in texts:
        return LocalizedText(texts[wanted], wanted, False)
    base = wanted.split("_")[0]
    for code, text in texts.items():
        if code.split("_")[0] == base:
            return LocalizedText(text, code, False)
    if fallback in texts:
        return LocalizedText(texts[fallback], fallback, True)
    if texts:
        code = sorted(texts)[0]
        return LocalizedText(texts[code], code, True)
    return LocalizedText("", wanted, False)


def translatable(value: str | dict[str, str] | None, locale_code: str | None = None) -> dict:
    """Normalise input into the stored {locale: text} form."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: v.strip() for k, v in value.items() if k in LANGUAGES and v and v.strip()}
    return {locale_code or current_app.config["CIVIC_DEFAULT_LOCALE"]: value.strip()}


def init_i18n(app: Flask) -> None:
    """Register template helpers for locales and formatting."""
    app.after_request(remember_locale_switch)
    app.jinja_env.filters.update(
        money=format_money,
        number=format_number,
        share=format_share,
        when=format_when,
        tr=pick_text,
    )
    app.jinja_env.globals.update(
        LANGUAGES=LANGUAGES,
        text_direction=text_direction,
        html_lang=html_lang,
        current_locale_code=current_locale_code,
    )
