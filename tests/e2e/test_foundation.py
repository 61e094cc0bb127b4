"""A new resident's first minutes, in a phone-sized Chromium."""

from __future__ import annotations

import re

from flask_babel import force_locale, gettext
from playwright.sync_api import expect

from tests.conftest import DEMO_PASSWORD
from tests.e2e.conftest import check_accessibility, check_fits_phone


def translated(code: str, msgid: str) -> str:
    with force_locale(code):
        text = gettext(msgid)
    assert text != msgid or code == "en", f"{msgid!r} is not translated into {code}"
    return text


def test_register_log_out_and_log_in(live_server, page, districts):
    page.goto(live_server.url + "/")
    check_accessibility(page)
    check_fits_phone(page)
    page.get_by_role("link", name="Create an account").first.click()
    check_accessibility(page)
    check_fits_phone(page)
    page.get_by_label("Name").fill("Rosa")
    page.get_by_label("E-mail address").fill("rosa@example.org")
    page.get_by_label("Password").fill("a long password")
    page.get_by_label("Home district").select_option(label="Porto")
    page.get_by_label("I have read how Civic uses my data").check()
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url(live_server.url + "/")
    assert "Welcome to Civic, Rosa!" in page.locator(".flashes").inner_text()
    check_accessibility(page)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("E-mail address").fill("rosa@example.org")
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + "/")
    assert page.get_by_role("link", name="My account").is_visible()
    page.get_by_role("link", name="My account").click()
    check_accessibility(page)
    check_fits_phone(page)


def test_switch_to_korean_and_to_arabic(live_server, page):
    page.goto(live_server.url + "/account/login")
    page.locator(".lang-switch summary").click()
    page.get_by_role("link", name="한국어").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "ko"
    assert page.locator("html").get_attribute("dir") == "ltr"
    assert page.get_by_role("heading", level=1).inner_text() == translated("ko", "Sign in")
    check_accessibility(page)
    # The choice is remembered on the next page.
    page.goto(live_server.url + "/account/register")
    assert page.locator("html").get_attribute("lang") == "ko"

    page.locator(".lang-switch summary").click()
    page.get_by_role("link", name="العربية").click()
    page.wait_for_load_state()
    html = page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl")
    assert page.get_by_role("heading", level=1).inner_text() == translated(
        "ar", "Create an account"
    )
    # The layout really mirrors: the brand sits on the right, the language menu on the left.
    brand = page.locator(".brand").bounding_box()
    switch = page.locator(".lang-switch summary").bounding_box()
    assert brand["x"] > switch["x"]
    assert brand["x"] + brand["width"] > 390 / 2
    label = page.locator("label[for=email]").bounding_box()
    assert label["x"] + label["width"] > 390 - 40  # labels start at the right edge
    check_accessibility(page)
    check_fits_phone(page)


def test_bad_value_shows_error_next_to_the_field_and_keeps_the_rest(live_server, page):
    page.goto(live_server.url + "/account/register?lang=es")
    page.locator("#display_name").fill("Marta")
    page.locator("#email").fill("marta-at-example")
    page.locator("#password").fill("a long password")
    page.locator("#accept_terms").check()
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_load_state()
    error = page.locator("#email-error")
    assert error.is_visible()
    assert error.inner_text() == translated("es", "Invalid email address.")
    email = page.locator("#email")
    assert "email-error" in email.get_attribute("aria-describedby")
    assert email.get_attribute("aria-invalid") == "true"
    # Next to the field: the error sits between the label and the input.
    label_box = page.locator("label[for=email]").bounding_box()
    error_box = error.bounding_box()
    input_box = email.bounding_box()
    assert label_box["y"] < error_box["y"] < input_box["y"]
    assert input_box["y"] - (error_box["y"] + error_box["height"]) < 40
    # Everything else kept.
    assert page.locator("#display_name").input_value() == "Marta"
    assert email.input_value() == "marta-at-example"
    assert page.locator("#accept_terms").is_checked()
    check_accessibility(page)


def test_demo_admin_back_office_is_accessible(live_server, page, make_user, districts):
    admin = make_user(roles=("admin", "staff"), email="boss@example.org")
    page.goto(live_server.url + "/account/login")
    page.get_by_label("E-mail address").fill(admin.email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + "/")
    for path in (
        "/admin/",
        "/admin/users",
        f"/admin/users/{admin.id}",
        "/admin/verification-codes",
        "/admin/districts",
    ):
        page.goto(live_server.url + path)
        assert page.locator("h1").count() == 1
        check_accessibility(page)
    # The user search filters as you type (htmx), with no page load.
    page.goto(live_server.url + "/admin/users")
    page.locator("#q").fill("nobody-matches-this")
    expect(page.locator("#users-table p")).to_have_text(re.compile(r"^0\b"))
    assert page.locator("#users-table tbody tr").count() == 0
    page.locator("#q").fill("boss@")
    expect(page.locator("#users-table tbody tr")).to_have_count(1)
