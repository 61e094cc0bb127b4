import io
import re
from decimal import Decimal

import pytest

from civic.budgeting import services
from civic.budgeting.models import Ballot, Idea
from civic.extensions import db
from tests.budgeting.conftest import open_vote

PASSWORD = "correct-horse-battery"


def login(client, user):
    assert (
        client.post("/account/login", data={"email": user.email, "password": PASSWORD}).status_code
        == 302
    )


def test_public_pages_show_the_process_and_budgets(client, city):
    page = client.get("/budgets/").get_data(as_text=True)
    assert "Decide 2027" in page and "Ideas" in page
    page = client.get(f"/budgets/{city.process.slug}").get_data(as_text=True)
    assert "City" in page and "Porto" in page
    assert "for residents of Porto" in page
    assert "Share out 10 points among the projects, at most 5 per project." in page


def test_propose_idea_with_bad_cost_keeps_the_form(client, city, make_user):
    login(client, make_user())
    response = client.post(
        f"/budgets/{city.process.slug}/ideas/new",
        data={
            "title": "Shade trees",
            "description": "Along the avenue",
            "category": "environment",
            "estimated_cost": "-300",
            "district": 0,
        },
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'value="Shade trees"' in page and "Along the avenue" in page
    assert 'id="estimated_cost-error"' in page
    assert db.session.query(Idea).count() == 0


def test_propose_idea_with_photo_strips_metadata(client, city, make_user, districts):
    from tests.core.test_uploads import assert_no_metadata, jpeg_with_gps

    login(client, make_user())
    response = client.post(
        f"/budgets/{city.process.slug}/ideas/new",
        data={
            "title": "Mural",
            "description": "Paint the wall",
            "category": "culture",
            "estimated_cost": "1 500",
            "district": districts["centro"].id,
            "photo": (io.BytesIO(jpeg_with_gps()), "wall.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    idea = db.session.query(Idea).one()
    assert idea.estimated_cost == Decimal("1500.00") and idea.district.code == "centro"
    served = client.get(f"/files/{idea.photo.key}")
    served.get_data()
    served.close()
    assert_no_metadata(served.data)


def test_support_with_htmx_confirms_without_reload(client, city, make_user):
    author, fan = make_user(), make_user()
    idea = services.submit_idea(
        author.id, city.process.id, services.IdeaInput("Bench", "A bench", "public_space", "50")
    )
    login(client, fan)
    response = client.post(f"/budgets/ideas/{idea.id}/support", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body  # a fragment
    assert "Thank you, your support counts." in body
    assert "1 resident supports this idea." in body
    assert "Withdraw my support" in body


def test_knapsack_ballot_without_js_refuses_over_budget_and_keeps_choices(
    client, city, make_user, districts
):
    open_vote(city)
    login(client, make_user(verified_district=districts["centro"]))
    url = f"/budgets/{city.process.slug}/vote/{city.knapsack.id}"
    page = client.get(url).get_data(as_text=True)
    assert "R$1,000 left" in page
    codes = {p.cost: p.code for p in city.knapsack.projects}
    chosen = [codes[Decimal(400)], codes[Decimal(300)], codes[Decimal(500)]]
    response = client.post(url, data={"project": chosen})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "more than the budget" in page
    assert "-R$200 left" in page
    for code in chosen:
        assert re.search(rf'value="{code}" checked', page)
    assert db.session.query(Ballot).count() == 0
    ok = client.post(url, data={"project": chosen[:2]})
    assert ok.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Your ballot is saved and counts" in page
    assert "R$300 left" in page


def test_htmx_check_shows_what_is_left_before_submitting(client, city, make_user, districts):
    open_vote(city)
    login(client, make_user(verified_district=districts["centro"]))
    codes = {p.cost: p.code for p in city.knapsack.projects}
    response = client.post(
        f"/budgets/{city.process.slug}/vote/{city.knapsack.id}/check",
        data={"project": [codes[Decimal(400)]]},
        headers={"HX-Request": "true"},
    )
    assert "R$600 left" in response.get_data(as_text=True)
    assert db.session.query(Ballot).count() == 0


def test_htmx_vote_swaps_in_a_confirmation(client, city, make_user, districts):
    open_vote(city)
    login(client, make_user(verified_district=districts["porto"]))
    code = city.cumulative.projects[0].code
    response = client.post(
        f"/budgets/{city.process.slug}/vote/{city.cumulative.id}",
        data={f"points-{code}": "4"},
        headers={"HX-Request": "true"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "Your ballot is saved and counts" in body
    assert "6 points left" in body


def test_ineligible_voter_gets_403_and_an_explanation(client, city, make_user, districts):
    open_vote(city)
    login(client, make_user(verified_district=districts["centro"]))
    url = f"/budgets/{city.process.slug}/vote/{city.cumulative.id}"
    assert "This budget is for residents of Porto." in client.get(url).get_data(as_text=True)
    code = city.cumulative.projects[0].code
    response = client.post(url, data={f"points-{code}": "2"})
    assert response.status_code == 403
    assert db.session.query(Ballot).count() == 0


def test_vote_needs_sign_in(client, city):
    open_vote(city)
    response = client.get(f"/budgets/{city.process.slug}/vote/{city.knapsack.id}")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_paper_ballot_number_reused_is_refused(client, city, staff):
    open_vote(city)
    login(client, staff)
    url = f"/budgets/{city.process.slug}/paper/{city.knapsack.id}"
    code = city.knapsack.projects[0].code
    assert client.post(url, data={"paper_number": "D-1", "project": [code]}).status_code == 302
    again = client.post(url, data={"paper_number": "D-1", "project": [code]})
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert "already been entered" in page and 'value="D-1"' in page


def test_staff_add_a_project_and_bad_cost_keeps_the_form(client, city, staff):
    login(client, staff)
    url = f"/budgets/{city.process.slug}/projects"
    data = {
        "project-budget": city.knapsack.id,
        "project-title": "Fountain",
        "project-category": "public_space",
        "project-cost": "-10",
        "project-district": 0,
    }
    bad = client.post(url, data=data)
    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    assert 'value="Fountain"' in page and 'id="project-cost-error"' in page
    ok = client.post(url, data={**data, "project-cost": "90"})
    assert ok.status_code == 302
    assert [p.title for p in city.knapsack.projects][-1] == {"en": "Fountain"}


STAFF_ROUTES = [
    ("POST", "/budgets/{slug}/projects"),
    ("GET", "/budgets/manage/new"),
    ("GET", "/budgets/{slug}/manage"),
    ("POST", "/budgets/{slug}/budgets"),
    ("POST", "/budgets/{slug}/phase"),
    ("GET", "/budgets/{slug}/paper/{knapsack}"),
    ("POST", "/budgets/ideas/{idea}/review"),
    ("POST", "/budgets/ideas/{idea}/merge"),
    ("POST", "/budgets/ideas/{idea}/promote"),
    ("POST", "/budgets/results/{knapsack}/compute"),
    ("POST", "/budgets/results/{knapsack}/publish"),
    ("POST", "/budgets/projects/1/update"),
    ("GET", "/budgets/import"),
]


@pytest.mark.parametrize("role", ["resident", "judge", "facilitator", "team_member"])
def test_staff_routes_refuse_other_roles(client, city, make_user, districts, role):
    idea = services.submit_idea(
        make_user().id, city.process.id, services.IdeaInput("T", "D", "culture", "5")
    )
    login(client, make_user(roles=(role,), verified_district=districts["centro"]))
    for method, pattern in STAFF_ROUTES:
        url = pattern.format(slug=city.process.slug, knapsack=city.knapsack.id, idea=idea.id)
        assert client.open(url, method=method).status_code == 403, url


def test_staff_routes_send_anonymous_to_sign_in(client, city):
    for method, pattern in STAFF_ROUTES:
        url = pattern.format(slug=city.process.slug, knapsack=city.knapsack.id, idea=1)
        response = client.open(url, method=method)
        assert response.status_code == 302 and "/account/login" in response.headers["Location"], url


def test_import_is_admin_only_and_reports_the_bad_line(client, make_user):
    staff = make_user(roles=("staff",))
    login(client, staff)
    assert client.get("/budgets/import").status_code == 403
    client.post("/account/logout")
    login(client, make_user(roles=("admin",)))
    bad = "META\nkey;value\nbudget;100\nvote_type;approval\nPROJECTS\nproject_id;cost\n1;lots\nVOTES\nvoter_id;vote\n1;1\n"
    response = client.post(
        "/budgets/import",
        data={"file": (io.BytesIO(bad.encode()), "bad.pb")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "line 7" in response.get_data(as_text=True)


def test_import_pb_computes_results_like_the_cli(client, make_user, tmp_path):
    from civic.budgeting.pabulib import recount
    from civic.config import SEEDS_DIR

    admin = make_user(roles=("admin", "staff"))
    login(client, admin)
    data = (SEEDS_DIR / "budgeting-2026.pb").read_bytes()
    response = client.post(
        "/budgets/import",
        data={"file": (io.BytesIO(data), "pv.pb")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    from civic.budgeting.models import Budget, ResultSet

    budget = db.session.query(Budget).one()
    result = db.session.query(ResultSet).one()
    expected = recount(SEEDS_DIR / "budgeting-2026.pb", budget.rule)
    assert sorted(result.outcome["selected"]) == expected["selected"]
    assert result.voters == expected["voters"] == 650
    services.publish_results(admin.id, budget.id)
    page = client.get(f"/budgets/{budget.process.slug}/results/{budget.id}").get_data(as_text=True)
    assert result.pb_sha256 in page
    # The published file recounts to the same result.
    pb = client.get(f"/budgets/results/{budget.id}.pb")
    path = tmp_path / "r.pb"
    path.write_bytes(pb.data)
    import hashlib

    assert hashlib.sha256(pb.data).hexdigest() == result.pb_sha256
    assert recount(path, budget.rule)["selected"] == expected["selected"]


def test_results_page_explains_unfunded_projects_and_compares_with_greedy(client, make_user):
    from civic.budgeting.jobs import compute_results
    from civic.budgeting.pbio import import_pb
    from civic.config import SEEDS_DIR

    admin = make_user(roles=("admin", "staff"))
    budget = import_pb(admin.id, (SEEDS_DIR / "budgeting-2026.pb").read_text(), "PV 2026")
    budget.rule = "mes-add1-greedy"
    db.session.commit()
    compute_results(budget.id)
    assert client.get(f"/budgets/{budget.process.slug}/results/{budget.id}").status_code == 404
    services.publish_results(admin.id, budget.id)
    page = client.get(f"/budgets/{budget.process.slug}/results/{budget.id}").get_data(as_text=True)
    # MES funds district projects that greedy would not; greedy would fund A2 (bike lanes).
    assert "Compared with counting by most votes" in page
    greedy_part = page.split("would have funded instead")[1].split("and not these projects")[0]
    assert "Bike lanes on Avenida Central" in greedy_part
    assert "Its supporters had" in page
