"""Participatory budgeting end to end on a phone: propose, review, promote, vote, change, close, results."""

from __future__ import annotations

import re

from flask_babel import force_locale, gettext
from playwright.sync_api import expect

from tests.budgeting.conftest import city, staff  # noqa: F401 - fixtures shared with tests/budgeting
from tests.conftest import DEMO_PASSWORD
from tests.e2e.conftest import check_accessibility, check_fits_phone


def sign_in(page, base, email):
    page.goto(base + "/account/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(base + "/")


def t(code, msgid, **kw):
    with force_locale(code):
        return gettext(msgid, **kw)


def test_budgeting_cycle_on_a_phone(live_server, browser, city, make_user, districts, staff):
    base = live_server.url
    resident = make_user(
        verified_district=districts["porto"], email="rosa@example.org", locale="pt_BR"
    )
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="pt-BR")
    office = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = phone.new_page()
        sign_in(page, base, resident.email)
        # Propose an idea.
        page.goto(f"{base}/budgets/{city.process.slug}")
        check_accessibility(page)
        check_fits_phone(page)
        page.goto(f"{base}/budgets/{city.process.slug}/ideas/new")
        check_accessibility(page)
        page.locator("#title").fill("Bancos na praça do Porto")
        page.locator("#description").fill("Bancos com sombra para os idosos.")
        page.locator("#category").select_option("public_space")
        page.locator("#estimated_cost").fill("120")
        page.locator("#district").select_option(str(districts["porto"].id))
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/budgets/ideas/\d+$"))
        idea_url = page.url
        check_accessibility(page)

        # Staff review it, cost it and put it on the city-wide ballot, then open the vote.
        desk = office.new_page()
        sign_in(desk, base, staff.email)
        desk.goto(idea_url)
        desk.locator("#review-decision-0").check()
        desk.locator("#review-reason").fill("Parks can install them this year.")
        desk.locator("#review-official_cost").fill("150")
        desk.get_by_role("button", name="Save review").click()
        desk.wait_for_url(idea_url)
        desk.locator("#promote-budget").select_option(str(city.knapsack.id))
        desk.get_by_role("button", name="Put on the ballot").click()
        desk.wait_for_url(idea_url)
        assert "On the ballot" in desk.locator("main").inner_text()
        desk.goto(f"{base}/budgets/{city.process.slug}/manage")
        desk.locator("#phase").select_option("voting")
        desk.get_by_role("button", name="Save phase").click()
        desk.wait_for_load_state()

        # The resident sees the public history of their idea.
        page.goto(idea_url)
        history = page.locator(".timeline").inner_text()
        assert "Parks can install them this year." in history

        # Knapsack ballot in Portuguese: the remaining money updates before submitting.
        page.goto(f"{base}/budgets/{city.process.slug}/vote/{city.knapsack.id}")
        assert page.locator("html").get_attribute("lang") == "pt-BR"
        check_accessibility(page)
        check_fits_phone(page)
        summary = page.locator(".ballot-summary .left")
        expect(summary).to_contain_text("R$\xa01.000")
        page.get_by_label("Bancos na praça do Porto").check()
        expect(summary).to_contain_text("R$\xa0850")
        page.get_by_label("City project 500").check()
        page.get_by_label("City project 400").check()
        expect(
            page.locator(".ballot-summary [role=alert]")
        ).to_be_visible()  # over budget, before submitting
        page.get_by_label("City project 400").uncheck()
        expect(summary).to_contain_text("R$\xa0350")
        page.locator("#ballot button[type=submit]").click()
        confirm = t(
            "pt_BR", "Your ballot is saved and counts. You can change it until the vote closes."
        )
        expect(page.locator("#ballot .confirm")).to_have_text(confirm)
        # Change the vote.
        page.get_by_label("City project 500").uncheck()
        page.get_by_label("City project 300").check()
        page.locator("#ballot button[type=submit]").click()
        expect(page.locator("#ballot .confirm")).to_have_text(confirm)
        page.reload()
        assert page.get_by_label("City project 300").is_checked()
        assert not page.get_by_label("City project 500").is_checked()

        # Cumulative ballot for Porto.
        page.goto(f"{base}/budgets/{city.process.slug}/vote/{city.cumulative.id}")
        check_accessibility(page)
        page.get_by_label("Porto project 300").fill("5")
        page.get_by_label("Porto project 200").fill("3")
        page.get_by_label("Porto project 250").press("Tab")
        expect(page.locator(".ballot-summary .left")).to_contain_text("2")
        page.locator("#ballot button[type=submit]").click()
        expect(page.locator("#ballot .confirm")).to_have_text(confirm)

        # Staff close the vote; results are computed (inline job) and published.
        desk.goto(f"{base}/budgets/{city.process.slug}/manage")
        desk.locator("#phase").select_option("results")
        desk.get_by_role("button", name="Save phase").click()
        desk.wait_for_load_state()
        desk.goto(f"{base}/budgets/{city.process.slug}/results/{city.knapsack.id}")
        desk.get_by_role("button", name="Publish the results").click()
        desk.wait_for_load_state()

        page.goto(f"{base}/budgets/{city.process.slug}/results/{city.knapsack.id}")
        check_accessibility(page)
        check_fits_phone(page)
        text = page.locator("main").inner_text()
        assert "Bancos na praça do Porto" in text
        assert t("pt_BR", "Not funded, and why") in text
        assert t("pt_BR", "Recount it yourself") in text
        assert re.search(r"[0-9a-f]{64}", text)
    finally:
        phone.close()
        office.close()


def test_maps_draw_districts_and_projects_without_tiles(
    live_server, page, app, districts, make_user
):
    """The tile server is unreachable here, as it may be in a city: outlines and markers still show."""
    from civic.budgeting import services
    from civic.budgeting.jobs import compute_results
    from civic.budgeting.pbio import import_pb
    from civic.config import SEEDS_DIR

    admin = make_user(roles=("admin", "staff"))
    budget = import_pb(admin.id, (SEEDS_DIR / "budgeting-2026.pb").read_text(), "PV 2026")
    compute_results(budget.id)
    services.publish_results(admin.id, budget.id)
    page.goto(live_server.url + "/budgets/projects")
    expect(page.locator(".map.map-live")).to_be_visible()
    # Six district outlines plus markers or clusters for the funded projects.
    expect(page.locator("path.district-outline")).to_have_count(6, timeout=10_000)
    funded = len([p for p in budget.projects if p.is_funded])
    clusters = page.locator(".leaflet-marker-pane .marker-cluster")
    points = page.locator("path.map-point")
    expect(points.or_(clusters).first).to_be_visible()
    shown = points.count() + sum(int(c) for c in clusters.all_inner_texts())
    assert shown == funded
    # The list alternative is always there.
    assert page.locator(".item-list .item").count() == len(
        [p for p in budget.projects if p.is_funded]
    )
    check_accessibility(page)
    check_fits_phone(page)
