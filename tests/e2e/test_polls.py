"""Agenda polls on a phone: a resident proposes, staff approve, three residents vote (one
without JavaScript, one in Korean), and the results and the answer clock show."""

from __future__ import annotations

import re

from flask_babel import force_locale, gettext
from playwright.sync_api import expect

from civic.core.models import Department
from civic.extensions import db
from tests.conftest import DEMO_PASSWORD
from tests.e2e.conftest import PHONE, check_accessibility, check_fits_phone


def expected_text(code: str, msgid: str) -> str:
    with force_locale(code):
        return gettext(msgid)


def check(page) -> None:
    check_accessibility(page)
    check_fits_phone(page)


def sign_in(page, url: str, email: str) -> None:
    page.goto(url + "/account/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(url + "/")


def test_propose_approve_vote_in_three_ways_and_see_results_and_the_clock(
    live_server, browser, page, make_user, districts
):
    url = live_server.url
    roads = Department(code="roads", name={"en": "Roads and Transport", "ko": "도로교통과"})
    db.session.add(roads)
    db.session.commit()
    author = make_user(email="rosa@example.org", verified_district=districts["porto"])
    staff = make_user(roles=("staff",), email="sergio@example.org")
    voters = [
        make_user(email="ana@example.org", verified_district=districts["porto"]),
        make_user(email="bruno@example.org", verified_district=districts["centro"]),
        make_user(email="minji@example.org", verified_district=districts["centro"], locale="ko"),
    ]

    # A resident proposes a poll from her phone.
    sign_in(page, url, author.email)
    page.get_by_role("link", name="Polls").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Polls")
    check(page)
    page.get_by_role("link", name="Propose a poll").click()
    check(page)
    page.get_by_label("Question").fill("Should Rua Central be closed to cars on Sundays?")
    page.get_by_label("Option 1", exact=True).fill("Every Sunday")
    page.get_by_label("Option 2", exact=True).fill("One Sunday a month")
    page.get_by_label("Option 3 (optional)", exact=True).fill("Never")
    page.get_by_label("Duration in days").fill("14")
    page.get_by_role("button", name="Send the proposal").click()
    expect(page.locator(".flashes")).to_contain_text("sent to city staff for review")
    expect(page.locator("#review-state")).to_have_text("Waiting for review")
    check(page)
    page.get_by_role("button", name="Sign out").click()

    # Staff approve it, with a threshold of three participants for the demonstration.
    sign_in(page, url, staff.email)
    page.goto(url + "/polls/staff")
    check(page)
    page.get_by_role("link", name="1 proposal to review").click()
    check(page)
    page.get_by_role("link", name="Should Rua Central be closed to cars on Sundays?").click()
    check(page)
    page.get_by_label("Department that answers if the threshold is reached").select_option(
        label="Roads and Transport"
    )
    page.get_by_label("Participant threshold").fill("3")
    page.get_by_role("button", name="Approve and publish").click()
    expect(page.locator(".flashes")).to_contain_text("The poll is published.")
    page.get_by_role("button", name="Sign out").click()

    # Voter 1: JavaScript on; the vote swaps in a receipt without a page load.
    sign_in(page, url, voters[0].email)
    page.goto(url + "/polls")
    page.get_by_role("link", name="Should Rua Central be closed to cars on Sundays?").click()
    check(page)
    poll_url = page.url
    # Voting with nothing chosen: the refusal (a 400) replaces the panel, next to the form.
    page.get_by_role("button", name="Vote", exact=True).click()
    expect(page.locator("#vote-error")).to_have_text("Please choose an option.")
    expect(page.locator("#vote-error")).to_be_focused()
    page.get_by_text("Every Sunday", exact=True).click()
    page.evaluate("window.__notReloaded = true")
    page.get_by_role("button", name="Vote", exact=True).click()
    receipt = page.locator("#vote-receipt")
    expect(receipt).to_contain_text("Your vote was counted.")
    expect(receipt).to_contain_text("You chose: Every Sunday")
    assert page.evaluate("window.__notReloaded") is True  # an htmx swap, not a reload
    expect(page.locator("#vote-receipt")).to_be_focused()
    expect(page.locator("#vote-panel table.poll-bars")).to_contain_text("Every Sunday")
    check(page)

    # Voter 2: no JavaScript at all; the plain form posts and the page confirms.
    plain = browser.new_context(viewport=PHONE, locale="en-US", java_script_enabled=False)
    plain_page = plain.new_page()
    sign_in(plain_page, url, voters[1].email)
    plain_page.goto(poll_url)
    plain_page.get_by_text("One Sunday a month", exact=True).click()
    plain_page.get_by_role("button", name="Vote", exact=True).click()
    plain_page.wait_for_load_state()
    expect(plain_page.locator(".flashes")).to_contain_text("Your vote was counted.")
    expect(plain_page.locator("#vote-receipt")).to_contain_text("You chose: One Sunday a month")
    plain.close()

    # Voter 3 uses Civic in Korean.
    korean = browser.new_context(viewport=PHONE, locale="ko-KR")
    korean_page = korean.new_page()
    sign_in(korean_page, url, voters[2].email)
    korean_page.goto(poll_url)
    assert korean_page.locator("html").get_attribute("lang") == "ko"
    check(korean_page)
    korean_page.get_by_text("Every Sunday", exact=True).click()
    korean_page.locator("form.poll-vote-form button[type=submit]").click()
    korean_receipt = korean_page.locator("#vote-receipt .poll-receipt-title")
    expect(korean_receipt).to_be_visible()
    korean_text = korean_receipt.inner_text().replace("✓", "").strip()
    check(korean_page)
    korean.close()

    # Three participants reached the threshold: results and the public clock show.
    page.goto(poll_url)
    results = page.locator("#vote-panel table.poll-bars")
    expect(results.locator("caption")).to_have_text("3 participants")
    expect(results.locator("tbody tr").first).to_contain_text(re.compile(r"Every Sunday\s*2"))
    expect(page.locator(".poll-clock")).to_have_text(re.compile(r"Official answer due in 30 days"))
    expect(page.locator("#threshold-title")).to_have_text("Official answer")
    check(page)

    # Checked last so that every step above runs even before the catalogs are translated.
    wanted = expected_text("ko", "Your vote was counted.")
    assert wanted != "Your vote was counted.", (
        "'Your vote was counted.' is not translated into ko yet"
    )
    assert korean_text == wanted


def test_every_poll_page_is_accessible_and_fits_a_phone(live_server, page, make_user, districts):
    from datetime import timedelta

    from civic.accounts.models import DepartmentMember
    from civic.polls import services

    url = live_server.url
    roads = Department(code="roads", name={"en": "Roads and Transport"})
    db.session.add(roads)
    db.session.commit()
    admin = make_user(roles=("admin", "staff"), email="boss@example.org")
    admin.department_rows = [DepartmentMember(department_id=roads.id)]
    db.session.commit()

    def official(question, threshold=1000, days_ago=0):
        draft = services.PollDraft(
            question=question,
            options=[services.OptionDraft(label) for label in ("Yes", "No", "Only on Sundays")],
            is_official=True,
            threshold=threshold,
            department_id=roads.id,
            duration_days=10,
        )
        return services.propose_poll(
            admin.id, draft, now=services.utcnow() - timedelta(days=days_ago)
        )

    closed = official("Should buses run all night?", days_ago=12)
    for n in range(30):  # 20 share (two groups of 10), 10 do not: nothing derivable
        voter = make_user(verified_district=districts["porto" if n % 2 else "centro"])
        if n < 20:
            services.set_demographics(
                voter.id, True, 1990 if n % 2 else 1960, "woman" if n < 10 else "man"
            )
        services.cast_vote(
            voter.id,
            closed.id,
            [closed.options[n % 3].id],
            now=closed.opens_at + timedelta(hours=n + 1),
        )
    agenda = official("Should Rua Azul get a cycle lane?", threshold=1)
    services.cast_vote(
        make_user(verified_district=districts["porto"]).id, agenda.id, [agenda.options[0].id]
    )
    services.publish_answer(admin.id, agenda.id, "under_study", "We are measuring the traffic.")
    comment = services.add_comment(make_user().id, agenda.id, "Ridiculous idea, idiots.")
    for _ in range(3):
        services.flag_comment(make_user().id, comment.id)
    author = make_user(email="author@example.org", verified_district=districts["porto"])
    pending = services.propose_poll(
        author.id,
        services.PollDraft(
            question="A bench?", options=[services.OptionDraft("Yes"), services.OptionDraft("No")]
        ),
    )
    services.reject_poll(admin.id, pending.id, "unclear", "Which bench?")

    sign_in(page, url, admin.email)
    for path in (
        "/polls?view=closed",
        "/polls?view=agendas",
        f"/polls/{closed.id}",
        f"/polls/{agenda.id}",
        f"/polls/{agenda.id}/manage",
        "/polls/staff",
        "/polls/staff/review",
        "/polls/staff/comments",
        "/polls/staff/settings",
        "/polls/propose",
        "/polls/privacy-settings",
    ):
        page.goto(url + path)
        assert page.locator("h1").count() == 1, path
        check(page)
    page.goto(url + f"/polls/{closed.id}")
    expect(page.locator("#age_band-title")).to_be_visible()
    assert page.locator("section[aria-labelledby=age_band-title] table.poll-bars").count() == 2
    assert page.locator("section[aria-labelledby=gender-title] table.poll-bars").count() == 2
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, url, author.email)
    page.goto(url + "/polls/mine")
    expect(page.locator("main")).to_contain_text("Which bench?")
    check(page)
    # Right to left: the page mirrors and still fits.
    page.goto(url + f"/polls/{closed.id}?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
    check(page)
