"""The public dashboard and its kiosk mode: figures from public data, links to their sources."""

from __future__ import annotations

import re

import pytest

from civic.opendata import stats
from civic.opendata.dashboard import available_panels


def test_dashboard_shows_each_panel_with_figures_and_a_link_to_its_source(client, city):
    response = client.get("/dashboard")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Budget funding by district" in html
    assert "/budgets/" in html  # the funding panel links to budgeting
    if stats.reports_available():
        assert "Reports this week" in html and "/reports/" in html
        assert re.search(
            r'<span class="figure">3</span> <span class="figure-label">reports this week', html
        )
        assert "median days to resolve a report" in html
    if stats.polls_available():
        assert "Open polls and participation" in html
        assert f"/polls/{city.open_poll_id}" in html and "1 participant" in html
    if stats.challenges_available():
        assert "Challenges and their state" in html
        from civic.challenges import services as challenges

        challenge = challenges.get_challenge_by_id(city.challenge_id)
        assert challenge.title["en"] in html
        assert str(challenges.PHASE_LABELS["results"]) in html
    else:
        assert "Challenges and their state" not in html


def test_funding_panel_adds_up_funded_projects_of_published_results(client, city):
    csv_text = client.get("/dashboard/funding.csv").get_data(as_text=True)
    lines = csv_text.strip().splitlines()
    assert lines[0] == "District,Funded"
    total = sum(float(line.rsplit(",", 1)[1]) for line in lines[1:])
    assert total == pytest.approx(100.0)  # projects 9 and 10 of the tiny election, 50 each


def test_kiosk_rotates_full_screen_panels_without_login_or_scripts(client, city):
    panels = [p.key for p in available_panels()]
    first = client.get("/dashboard/kiosk")
    html = first.get_data(as_text=True)
    assert first.status_code == 200
    assert f'<meta http-equiv="refresh" content="15;url=/dashboard/kiosk/{panels[1]}">' in html
    assert "<script" not in html and "Sign in" not in html
    last = client.get(f"/dashboard/kiosk/{panels[-1]}?seconds=30").get_data(as_text=True)
    assert f'content="30;url=/dashboard/kiosk/{panels[0]}?seconds=30"' in last
    assert client.get("/dashboard/kiosk/nope").status_code == 404


def test_panel_charts_download_as_svg_and_csv(client, city):
    svg = client.get("/dashboard/funding.svg")
    assert svg.mimetype == "image/svg+xml" and b"<title" in svg.data
    assert "attachment" in svg.headers["Content-Disposition"]
    assert client.get("/dashboard/nope.svg").status_code == 404


def test_dashboard_works_for_an_empty_city(client, app):
    html = client.get("/dashboard").get_data(as_text=True)
    assert "No budget result is published yet." in html
