"""A challenge end to end: a team registers on a phone, accepts the terms, downloads registered
data, submits with a licence; a judge scores and locks; staff publish; the team reads its
feedback. Every page visited is checked with axe and at 360 px."""

from __future__ import annotations

import io
import re

from flask_babel import force_locale, gettext
from playwright.sync_api import expect

from civic.challenges import services
from civic.challenges.seeds import move_challenge_to
from tests.challenges.conftest import CSV_TEXT, innovation, make_challenge, make_team  # noqa: F401
from tests.challenges.test_services import dataset_input
from tests.conftest import DEMO_PASSWORD
from tests.e2e.conftest import check_accessibility, check_fits_phone


def t(code, msgid, **kw):
    with force_locale(code):
        return gettext(msgid, **kw)


def sign_in(page, base, email):
    page.goto(base + "/account/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(base + "/")


def visit(page, url):
    page.goto(url)
    check_page(page)


def check_page(page):
    check_accessibility(page)
    check_fits_phone(page)


def test_challenge_cycle_on_a_phone(live_server, browser, app, innovation, make_user):  # noqa: F811
    base = live_server.url
    challenge = make_challenge(innovation.id, "registration", judges_per_submission=1)
    dataset = services.create_dataset(
        innovation.id,
        dataset_input(
            title={"en": "Bus GPS pings"},
            access="registered",
            refinement="synthetic",
            challenge_id=challenge.id,
        ),
        io.BytesIO(CSV_TEXT.encode()),
        "gps-pings.csv",
    )
    judge = make_user(roles=("judge",), email="judge@example.org", display_name="Júlia Judge")
    services.add_judge(innovation.id, challenge.id, judge.id)
    founder = make_user(email="ana@example.org", display_name="Ana Souza", locale="pt_BR")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="pt-BR")
    office = browser.new_context(viewport={"width": 1280, "height": 900})
    chambers = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = phone.new_page()
        page.set_default_timeout(10_000)
        sign_in(page, base, founder.email)

        # The public page: rubric, prizes, dates in the city's time zone, a countdown.
        visit(page, f"{base}/challenges/{challenge.slug}")
        assert page.locator("html").get_attribute("lang") == "pt-BR"
        expect(page.locator(".countdown")).to_be_visible()
        assert page.locator("details.criterion").count() == 3

        # A registered dataset cannot be downloaded before registering.
        visit(page, f"{base}/challenges/datasets/{dataset.id}")
        assert page.locator(".download-box .notice").is_visible()

        # Create a team, then register it, accepting rules and terms (the form says what's
        # missing when the terms box is left unticked).
        visit(page, f"{base}/challenges/{challenge.slug}/register")
        page.locator("main a.button").first.click()
        page.wait_for_url(re.compile(r".*/challenges/teams\?challenge="))
        check_page(page)
        page.locator("#name").fill("Rota Viva")
        page.locator("#org_type").select_option("startup")
        page.locator("#registration_number").fill("12.345.678/0001-90")
        page.locator("#country").select_option("BR")
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_url(re.compile(rf".*/challenges/{challenge.slug}/register$"))
        check_page(page)
        page.locator("#accept_rules").check()
        page.locator("form.stack button[type=submit]").click()
        expect(page.locator("#accept_terms-error")).to_have_text(
            t("pt_BR", "Please accept the data-use terms.")
        )
        check_page(page)
        page.locator("#accept_rules").check()
        page.locator("#accept_terms").check()
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_url(re.compile(rf".*/challenges/{challenge.slug}$"))
        expect(page.locator(".flash-success")).to_have_text(
            t("pt_BR", "Your team is registered. You can now download the registered datasets.")
        )
        check_page(page)

        # Download the registered dataset.
        visit(page, f"{base}/challenges/datasets/{dataset.id}")
        with page.expect_download() as download:
            page.locator(".download-box a.button").click()
        assert download.value.suggested_filename == "gps-pings.csv"
        with open(download.value.path(), encoding="utf-8") as handle:
            assert handle.read() == CSV_TEXT
        assert "S2" in page.locator(".preview").inner_text()  # the preview is now visible

        # Submissions open: submit with a licence (a non-OSI one is refused first).
        move_challenge_to(challenge, "submission")
        visit(page, f"{base}/challenges/{challenge.slug}")
        page.locator("section[aria-labelledby=take-part] a.button").click()
        page.wait_for_url(re.compile(r".*/submit$"))
        check_page(page)
        page.locator("#title").fill("Espaçador de ônibus")
        page.locator("#summary").fill("Diz ao despachante qual ônibus segurar, e por quanto tempo.")
        page.locator("#repository_url").fill("https://git.example.org/rota-viva/espacador")
        page.locator("#licence").fill("CC-BY-NC-4.0")
        page.locator("#demo_url").fill("https://espacador.example.org")
        page.locator("#build_cost").fill("18000")
        page.locator("#yearly_cost").fill("3600")
        page.locator("form.stack button[type=submit]").click()
        expect(page.locator("#licence-error")).to_be_visible()
        assert page.locator("#title").input_value() == "Espaçador de ônibus"
        check_page(page)
        page.locator("#licence").fill("AGPL-3.0-or-later")
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/challenges/submissions/\d+$"))
        submission_url = page.url
        check_page(page)
        assert "AGPL-3.0-or-later" in page.locator("main").inner_text()

        # The deadline passes; staff assign the judge at random.
        move_challenge_to(challenge, "judging")
        desk = office.new_page()
        desk.set_default_timeout(10_000)
        sign_in(desk, base, innovation.email)
        visit(desk, f"{base}/challenges/{challenge.slug}/manage")
        desk.get_by_role("button", name="Assign judges at random").click()
        desk.wait_for_load_state()
        expect(desk.locator(".flash-success")).to_contain_text("1 assignment made.")
        check_page(desk)

        # The judge scores against the anchors, writes feedback and locks.
        bench = chambers.new_page()
        bench.set_default_timeout(10_000)
        sign_in(bench, base, judge.email)
        visit(bench, f"{base}/challenges/judging")
        bench.locator(".item-list a").first.click()
        bench.wait_for_url(re.compile(r".*/challenges/judging/\d+$"))
        check_page(bench)
        for criterion, value in zip(challenge.criteria, (4, 5, 3), strict=True):
            bench.locator(f"#score_{criterion.id}-{value}").check()
            bench.locator(f"#comment_{criterion.id}").fill(f"Comment on {criterion.position}")
        bench.locator("#feedback").fill("Os despachantes gostaram; mostrem o custo por ônibus.")
        bench.get_by_role("button", name="Save and lock").click()
        bench.wait_for_load_state()
        expect(bench.locator("#mine")).to_be_visible()
        check_page(bench)

        # Staff publish the results.
        visit(desk, f"{base}/challenges/{challenge.slug}/results")
        desk.locator("#publish-title ~ form button[type=submit]").click()
        desk.wait_for_load_state()
        expect(desk.locator(".flash-success")).to_contain_text("The results are published")
        check_page(desk)

        # The public results name the judge, and the team reads its feedback and replies.
        visit(page, f"{base}/challenges/{challenge.slug}/results")
        results = page.locator("main").inner_text()
        assert "Espaçador de ônibus" in results and "Júlia Judge" in results
        visit(page, submission_url)
        feedback = page.locator("#feedback-title").locator("..").inner_text()
        assert "Os despachantes gostaram" in feedback and "Comment on 1" in feedback
        assert t("pt_BR", "The judges' feedback") in feedback
        page.locator("#body").fill("Obrigada! Levamos o custo por ônibus na segunda.")
        page.locator("form[action$='/messages'] button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/challenges/submissions/\d+#thread$"))
        assert "Levamos o custo" in page.locator("main").inner_text()
        check_page(page)
    finally:
        phone.close()
        office.close()
        chambers.close()


def test_every_other_challenge_page_is_accessible_on_a_phone(
    live_server,
    browser,
    app,
    innovation,
    make_user,
    make_team,  # noqa: F811
):
    """Staff, judge and team pages not visited above: axe and 360 px on each, without JS errors."""
    from tests.challenges.conftest import judged_challenge, score_all

    base = live_server.url
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=2, judges=3)
    score_all(challenge, subs, panel, [[5, 2], [4, 3], [1, 3]])
    dataset = services.create_dataset(
        innovation.id,
        dataset_input(challenge_id=challenge.id),
        io.BytesIO(CSV_TEXT.encode()),
        "stops.csv",
    )
    problem = services.create_problem(
        innovation.id,
        services.ProblemInput("Buses bunch", "Three at once", "Riders", "Complaints", "1000"),
    )
    services.comment_problem(innovation.id, problem.id, "We have GPS data.")
    owner = subs[0].team.members[0].user
    errors: list[str] = []
    office = browser.new_context(viewport={"width": 390, "height": 844})
    team_context = browser.new_context(viewport={"width": 390, "height": 844})
    judge_context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        for context, who, paths in (
            (
                office,
                innovation.email,
                [
                    "/challenges/",
                    "/challenges/problems",
                    f"/challenges/problems/{problem.id}",
                    "/challenges/problems/new",
                    "/challenges/new",
                    f"/challenges/{challenge.slug}/manage",
                    f"/challenges/{challenge.slug}/edit",
                    f"/challenges/{challenge.slug}/rubric",
                    f"/challenges/{challenge.slug}/prizes",
                    f"/challenges/{challenge.slug}/terms",
                    f"/challenges/{challenge.slug}/results",
                    "/challenges/datasets",
                    "/challenges/datasets/new",
                    f"/challenges/datasets/{dataset.id}",
                    f"/challenges/datasets/{dataset.id}/edit",
                    f"/challenges/submissions/{subs[0].id}",
                ],
            ),
            (
                team_context,
                owner.email,
                [
                    "/challenges/teams",
                    f"/challenges/teams/{subs[0].team_id}",
                    f"/challenges/{challenge.slug}",
                ],
            ),
            (judge_context, panel[0].email, ["/challenges/judging"]),
        ):
            page = context.new_page()
            page.set_default_timeout(10_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page, base, who)
            for path in paths:
                visit(page, base + path)
                assert page.locator("h1").count() == 1, path
        assert errors == []
    finally:
        office.close()
        team_context.close()
        judge_context.close()
