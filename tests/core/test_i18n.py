import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale

from civic.config import LANGUAGES, ROOT, TRANSLATIONS_DIR
from civic.core import i18n


def _catalog(code):
    with (TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=code)


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_catalog_is_complete_and_has_nothing_fuzzy(code):
    catalog = _catalog(code)
    untranslated, fuzzy = [], []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or len(strings) < (catalog.num_plurals if message.pluralizable else 1):
            untranslated.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
    assert not untranslated, f"{code}: {len(untranslated)} untranslated, e.g. {untranslated[:5]}"
    assert not fuzzy, f"{code}: {len(fuzzy)} fuzzy, e.g. {fuzzy[:5]}"


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_translations_keep_their_placeholders(code):
    import re

    pattern = re.compile(r"%\((\w+)\)[sdif]")
    for message in _catalog(code):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(pattern.findall(ids[-1])) | set(pattern.findall(ids[0]))
        for string in strings:
            found = set(pattern.findall(string))
            # A singular form may drop the count ("one file"), but never invent a placeholder.
            assert found <= wanted, f"{code}: {message.id!r} -> {string!r}"
            if not message.pluralizable:
                assert found == wanted, f"{code}: {message.id!r} -> {string!r}"


def test_extraction_finds_nothing_missing_from_the_catalogs(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "-q",
            "extract",
            "-F",
            "pyproject.toml",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-k",
            "lazy_ngettext:1,2",
            "--ignore-dirs",
            ".* __pycache__ node_modules",
            "-o",
            str(pot),
            ".",
        ],
        check=True,
        cwd=ROOT,
    )
    with pot.open("rb") as handle:
        extracted = {m.id for m in read_po(handle) if m.id}
    # The extractor must see the templates and the code: guard against a mapping that finds nothing.
    assert "Sign in" in extracted and "This field is required." in extracted
    for code in LANGUAGES:
        known = {m.id for m in _catalog(code) if m.id}
        missing = extracted - known
        assert not missing, (
            f"{code} lacks {len(missing)} msgids, e.g. {sorted(missing, key=str)[:5]}; run `civic i18n extract && civic i18n update`"
        )


def test_locale_order_user_choice_beats_switch_cookie_header_and_default(app, make_user, auth):
    client = app.test_client()
    # City default with nothing else.
    assert 'lang="en"' in client.get("/").get_data(as_text=True)
    # Accept-Language.
    page = client.get("/", headers={"Accept-Language": "fr-CA,fr;q=0.9"}).get_data(as_text=True)
    assert 'lang="fr"' in page
    # ?lang= beats Accept-Language and is remembered in a cookie.
    page = client.get("/?lang=ko", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert 'lang="ko"' in page
    page = client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert 'lang="ko"' in page
    # A signed-in user's saved choice beats the cookie.
    user = make_user(locale="pt_BR")
    client.post("/account/login", data={"email": user.email, "password": "correct-horse-battery"})
    assert 'lang="pt-BR"' in client.get("/").get_data(as_text=True)
    # A signed-in user's switch becomes their saved choice.
    client.get("/?lang=ar")
    app.extensions["sqlalchemy"].session.refresh(user)
    assert user.locale == "ar"
    page = client.get("/").get_data(as_text=True)
    assert 'lang="ar" dir="rtl"' in page


def test_unknown_lang_is_ignored(client):
    assert 'lang="en" dir="ltr"' in client.get("/?lang=xx").get_data(as_text=True)


def test_switcher_names_each_language_in_itself(client):
    page = client.get("/?lang=de").get_data(as_text=True)
    for name in ("English", "Español", "Português (Brasil)", "한국어", "हिन्दी", "العربية"):
        assert name in page
    assert 'href="/?lang=ar"' in page


MOMENT = datetime(2026, 3, 5, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "code, money, number, date_part",
    [
        ("ko", "R$1,240,000", "1,234,567.5", "2026. 3. 5."),
        ("pt_BR", "R$\xa01.240.000", "1.234.567,5", "5 de mar. de 2026"),
        ("hi", "R$12,40,000", "12,34,567.5", "5 मार्च 2026"),
        ("ar", "\u200f1,240,000\xa0R$", "1,234,567.5", "05\u200f/03\u200f/2026"),
        ("de", "1.240.000\xa0R$", "1.234.567,5", "05.03.2026"),
    ],
)
def test_money_numbers_and_dates_follow_the_locale(app, code, money, number, date_part):
    with app.test_request_context("/"), force_locale(code):
        assert i18n.format_money(1_240_000) == money
        assert i18n.format_number(1234567.5) == number
        formatted = i18n.format_when(MOMENT)
        # 15:30 UTC is 12:30 in the city's time zone (America/Sao_Paulo, UTC-3).
        assert date_part in formatted
        assert "12:30" in formatted or "१२:३०" in formatted


@pytest.mark.parametrize(
    "code, expected",
    [("pt_BR", "R$\xa01.240.000,50"), ("de", "1.240.000,50\xa0R$"), ("hi", "R$12,40,000.50")],
)
def test_amounts_with_cents_keep_them(app, code, expected):
    with app.test_request_context("/"), force_locale(code):
        assert i18n.format_money(Decimal("1240000.50")) == expected


def test_currency_and_time_zone_come_from_the_city(app):
    app.config["CIVIC_CURRENCY"] = "KRW"
    with app.test_request_context("/"), force_locale("ko"):
        assert i18n.format_money(5000) == "₩5,000"


def test_pick_text_falls_back_and_says_which_language(app):
    with app.test_request_context("/"):
        exact = i18n.pick_text({"en": "Park", "fr": "Parc"}, "fr")
        assert (exact.text, exact.is_fallback) == ("Parc", False)
        regional = i18n.pick_text({"pt_BR": "Praça"}, "pt_BR")
        assert regional.text == "Praça"
        fallback = i18n.pick_text({"en": "Park", "es": "Parque"}, "ko")
        assert (fallback.text, fallback.locale, fallback.is_fallback) == ("Park", "en", True)
        assert fallback.language_name == "English"
        only_other = i18n.pick_text({"es": "Parque"}, "ko")
        assert (only_other.text, only_other.locale, only_other.is_fallback) == (
            "Parque",
            "es",
            True,
        )
        assert i18n.pick_text({}, "ko").text == ""


def test_fallback_text_is_marked_in_pages(app):
    from flask import render_template_string

    with app.test_request_context("/?lang=de"):
        html = render_template_string(
            '{% from "_macros/forms.html" import translated %}{{ translated(v) }}',
            v={"en": "Central park"},
        )
    assert '<span lang="en">Central park</span>' in html
    assert "English" in html


def test_translatable_normalises_input(app):
    with app.test_request_context("/"):
        assert i18n.translatable("  Hello ") == {"en": "Hello"}
        assert i18n.translatable({"fr": "Salut", "xx": "?", "de": " "}) == {"fr": "Salut"}


@pytest.mark.parametrize("code", ["ko", "ar", "hi", "pt_BR"])
def test_pages_are_translated(client, code):
    with force_locale(code):
        from flask_babel import gettext

        expected = gettext("Create an account")
    assert expected != "Create an account"
    page = client.get(f"/account/register?lang={code}").get_data(as_text=True)
    assert expected in page


def test_wtforms_messages_are_translated_in_hindi(client):
    with force_locale("hi"):
        from flask_babel import gettext

        expected = gettext("This field is required.")
    assert expected != "This field is required."
    page = client.post("/account/login?lang=hi", data={"email": "", "password": ""})
    assert page.status_code == 400
    assert expected in page.get_data(as_text=True)
