"""A workshop in a browser: one presenter, two phones joining by code in two languages, answers
counted live on the screen, results revealed with the keyboard, the next question followed."""

from __future__ import annotations

import re

from flask_babel import force_locale, gettext
from playwright.sync_api import expect

from civic.workshops import services
from civic.workshops.services import SlideInput
from tests.conftest import DEMO_PASSWORD
from tests.e2e.conftest import check_accessibility, check_fits_phone


def t(code, msgid, **kw):
    with force_locale(code):
        return gettext(msgid, **kw)


def _session(facilitator):
    session = services.create_session(
        facilitator.id, {"en": "Streets workshop", "es": "Taller de calles"}
    )
    services.add_slide(
        facilitator.id,
        session.id,
        SlideInput(kind="text", locale="en", title="Welcome", body="Thanks for coming."),
    )
    choice = services.add_slide(
        facilitator.id,
        session.id,
        SlideInput(
            kind="question",
            locale="en",
            title="What should come first?",
            question_type="single",
            options_text="Trees\nBenches\nLights",
        ),
    )
    services.update_slide(
        facilitator.id,
        choice.id,
        SlideInput(
            kind="question",
            locale="es",
            title="¿Qué debería ir primero?",
            question_type="single",
            options_text="Árboles\nBancos\nLuces",
        ),
    )
    words = services.add_slide(
        facilitator.id,
        session.id,
        SlideInput(
            kind="question", locale="en", title="One word for your street", question_type="text"
        ),
    )
    services.update_slide(
        facilitator.id,
        words.id,
        SlideInput(
            kind="question", locale="es", title="Una palabra para tu calle", question_type="text"
        ),
    )
    services.start_session(facilitator.id, session.id)
    services.go_to_slide(facilitator.id, session.id, choice.id)
    return services.get_session(session.id), choice, words


def _count(page) -> str:
    return page.locator("#live-results .count-number").inner_text()


def test_presenter_and_two_phones_in_two_languages(live_server, browser, make_user):
    base = live_server.url
    facilitator = make_user(roles=("facilitator",), email="fac@example.org")
    session, choice, words = _session(facilitator)
    screen = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    phone_en = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    phone_es = browser.new_context(viewport={"width": 390, "height": 844}, locale="es-ES")
    try:
        presenter = screen.new_page()
        presenter.set_default_timeout(10_000)
        presenter.goto(base + "/account/login")
        presenter.locator("#email").fill(facilitator.email)
        presenter.locator("#password").fill(DEMO_PASSWORD)
        presenter.locator("form.stack button[type=submit]").click()
        presenter.wait_for_url(base + "/")
        presenter.goto(f"{base}/workshops/{session.id}/present")
        expect(presenter.locator("h1")).to_have_text("What should come first?")
        expect(presenter.locator(".join-code-big")).to_have_text(session.code)
        assert presenter.locator("img.join-qr").evaluate(
            "img => img.complete && img.naturalWidth > 0"
        )
        assert _count(presenter) == "0"
        check_accessibility(presenter)
        check_fits_phone(presenter)

        # An English phone joins by typing the code.
        a = phone_en.new_page()
        a.set_default_timeout(10_000)
        a.goto(base + "/w")
        check_accessibility(a)
        check_fits_phone(a)
        a.locator("#code").fill(session.code.lower())
        a.locator("form.stack button[type=submit]").click()
        a.wait_for_url(f"{base}/w/{session.code}")
        expect(a.locator(".question-text")).to_have_text("What should come first?")
        check_accessibility(a)
        check_fits_phone(a)
        a.get_by_label("Benches").check()
        a.locator(".answer-submit").click()
        expect(a.locator(".flash-success")).to_be_visible()
        check_accessibility(a)
        check_fits_phone(a)

        # A Spanish phone opens the address from the QR code and reads the question in Spanish.
        b = phone_es.new_page()
        b.set_default_timeout(10_000)
        b.goto(f"{base}/w/{session.code}")
        assert b.locator("html").get_attribute("lang") == "es"
        expect(b.locator(".question-text")).to_have_text("¿Qué debería ir primero?")
        expect(b.locator(".answer-submit")).to_have_text(t("es", "Send my answer"))
        check_accessibility(b)
        check_fits_phone(b)
        b.get_by_label("Bancos").check()
        b.locator(".answer-submit").click()
        expect(b.locator(".flash-success")).to_have_text(
            t("es", "Thank you! Your answer is recorded.")
        )

        # The screen counts both without a reload; the results stay hidden until revealed.
        expect(presenter.locator("#live-results .count-number")).to_have_text("2", timeout=10_000)
        expect(presenter.locator(".results-hidden")).to_be_visible()
        presenter.locator("body").press("r")
        expect(presenter.locator("#live-results svg")).to_be_visible()
        table = presenter.locator("#live-results table").text_content()
        assert re.search(r"Benches\s*2\b", table)
        check_accessibility(presenter)

        # The phone that answered is not offered the question again.
        a.goto(f"{base}/w/{session.code}")
        expect(a.locator(".confirm")).to_be_visible()

        # The arrow key moves the room to the next question; the phones follow by themselves.
        presenter.locator("body").press("ArrowRight")
        presenter.wait_for_url(re.compile(rf".*/workshops/{session.id}/present\?slide={words.id}$"))
        expect(presenter.locator("h1")).to_have_text("One word for your street")
        expect(b.locator("#answer-text")).to_be_visible(timeout=15_000)
        expect(b.locator(".question-text")).to_have_text("Una palabra para tu calle")
        check_accessibility(b)
        check_fits_phone(b)
        b.locator("#answer-text").fill("Sombra")
        b.locator(".answer-submit").click()
        expect(b.locator(".flash-success")).to_be_visible()
        expect(presenter.locator("#live-results .count-number")).to_have_text("1", timeout=10_000)
        check_accessibility(presenter)
    finally:
        screen.close()
        phone_en.close()
        phone_es.close()
    assert services.count_answers(choice.id) == 2
    assert services.count_answers(words.id) == 1
