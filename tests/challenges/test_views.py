"""Challenge pages: who may use every route, what the pages say, refusals that keep the form,
downloads with Range and logging, scoring forms, results and feedback."""

from __future__ import annotations

import io

import pytest

from civic.challenges import services
from civic.challenges.models import (
    Dataset,
    DatasetDownload,
    JudgeAssignment,
    Submission,
    TeamMember,
)
from civic.challenges.seeds import dates_for_phase, move_challenge_to
from civic.extensions import db
from tests.challenges.conftest import (
    judged_challenge,
    login,
    make_challenge,
    registered,
    score_all,
)
from tests.challenges.test_services import CSV, dataset_input


@pytest.fixture
def world(app, innovation, roads_staff, admin, make_user, make_team):
    """A judged challenge with results to publish, datasets of every access level, a problem,
    a question and a team with an invitation; ids for every route parameter."""
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=2, judges=3)
    score_all(challenge, subs, panel)
    datasets = {
        access: services.create_dataset(
            roads_staff.id,
            dataset_input(access=access, challenge_id=challenge.id),
            io.BytesIO(CSV),
            f"{access}.csv",
        )
        for access in ("open", "registered", "closed")
    }
    problem = services.create_problem(
        roads_staff.id, services.ProblemInput("Bunching", "Buses bunch", "Riders", "Complaints")
    )
    owner = (
        db.session.query(TeamMember).filter_by(team_id=subs[0].team_id, is_owner=True).one().user
    )
    token = "no-such-invitation"  # the team is frozen while judged: no new invitations
    registration = services.get_registration(challenge.id, subs[0].team_id)
    assignment = db.session.query(JudgeAssignment).filter_by(judge_id=panel[0].id).first()
    params = {
        "slug": challenge.slug,
        "question_id": 1,
        "dataset_id": datasets["closed"].id,
        "problem_id": problem.id,
        "user_id": panel[0].id,
        "submission_id": subs[0].id,
        "assignment_id": assignment.id,
        "team_id": subs[0].team_id,
        "invite_id": 1,
        "token": token,
        "registration_id": registration.id,
        "number": 1,
    }
    return {
        "challenge": challenge,
        "subs": subs,
        "panel": panel,
        "datasets": datasets,
        "owner": owner,
        "params": params,
        "innovation": innovation,
        "roads": roads_staff,
        "admin": admin,
    }


def routes(app, params):
    """(endpoint, method, url, required roles) for every challenges route."""
    import re

    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("challenges."):
            continue
        view = app.view_functions[rule.endpoint]
        method = "POST" if "POST" in rule.methods and "GET" not in rule.methods else "GET"
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(params[m.group(1)]), rule.rule)
        yield rule.endpoint, method, url, getattr(view, "required_roles", None)


PUBLIC = {
    "challenges.index",
    "challenges.detail",
    "challenges.results",
    "challenges.results_csv",
    "challenges.datasets",
    "challenges.dataset",
    "challenges.download",
}
INNOVATION_ONLY = {
    "challenges.answer",
    "challenges.new_challenge",
    "challenges.edit_challenge",
    "challenges.rubric",
    "challenges.prizes",
    "challenges.terms",
    "challenges.publish",
    "challenges.manage",
    "challenges.add_to_panel",
    "challenges.remove_from_panel",
    "challenges.assign",
    "challenges.assign_one",
    "challenges.unassign",
    "challenges.consensus",
    "challenges.publish_results",
}
TEAM_ONLY = {
    "challenges.team",
    "challenges.edit_team",
    "challenges.invite",
    "challenges.remove_member",
    "challenges.make_owner",
    "challenges.accept_terms",
    "challenges.submit",
    "challenges.submission",
    "challenges.message",
    "challenges.archive",
}


def test_every_route_is_public_or_declares_who_may_use_it(app, world):
    found = list(routes(app, world["params"]))
    assert len(found) >= 45
    for endpoint, _method, _url, roles in found:
        assert (
            endpoint in PUBLIC
            or roles
            or endpoint
            in TEAM_ONLY
            | {
                "challenges.ask",
                "challenges.teams",
                "challenges.revoke_invite",
                "challenges.accept_invite",
                "challenges.register",
            }
        ), endpoint


def test_anonymous_visitors_are_sent_to_sign_in(app, world):
    client = app.test_client()
    checked = 0
    for endpoint, method, url, _roles in routes(app, world["params"]):
        if endpoint in PUBLIC:
            continue
        response = client.open(url, method=method)
        assert response.status_code == 302, (endpoint, response.status_code)
        assert "/account/login" in response.headers["Location"], endpoint
        checked += 1
    assert checked >= 38


@pytest.mark.parametrize("who", ["resident", "team_member", "judge", "facilitator"])
def test_non_staff_get_403_on_staff_routes(app, world, make_user, who):
    client = login(app.test_client(), make_user(roles=(who,)))
    checked = 0
    for endpoint, method, url, roles in routes(app, world["params"]):
        if roles and who not in roles:
            response = client.open(url, method=method)
            assert response.status_code == 403, (endpoint, response.status_code)
            checked += 1
    assert checked >= 20


def test_staff_outside_the_innovation_team_get_403_on_challenge_building(app, world):
    client = login(app.test_client(), world["roads"])
    for endpoint, method, url, _roles in routes(app, world["params"]):
        if endpoint in INNOVATION_ONLY or endpoint == "challenges.reopen":
            response = client.open(url, method=method)
            assert response.status_code == 403, (endpoint, response.status_code)


def test_innovation_staff_cannot_reopen_scores(app, world):
    client = login(app.test_client(), world["innovation"])
    url = f"/challenges/assignments/{world['params']['assignment_id']}/reopen"
    assert client.post(url, data={"reason": "x"}).status_code == 403


def test_people_outside_a_team_get_403_on_its_pages(app, world, make_user, make_team):
    _team, outsider, _ = make_team()
    client = login(app.test_client(), outsider)
    for endpoint, method, url, _roles in routes(app, world["params"]):
        if endpoint in TEAM_ONLY:
            response = client.open(url, method=method)
            assert response.status_code == 403, (endpoint, response.status_code)


def test_judges_only_open_their_own_assignments(app, world):
    other = world["panel"][1]
    mine = db.session.query(JudgeAssignment).filter_by(judge_id=world["panel"][0].id).first()
    client = login(app.test_client(), other)
    assert client.get(f"/challenges/judging/{mine.id}").status_code == 403
    assert (
        client.post(f"/challenges/judging/{mine.id}/conflict", data={"reason": "x"}).status_code
        == 403
    )


def test_admin_reaches_every_staff_page(app, world):
    client = login(app.test_client(), world["admin"])
    for endpoint, method, url, roles in routes(app, world["params"]):
        if method == "GET" and roles and endpoint not in ("challenges.score",):
            assert client.get(url).status_code == 200, endpoint


# -- Public pages --------------------------------------------------------------------------------


def test_challenge_page_shows_rules_prizes_dates_rubric_and_judges(
    app, client, innovation, make_user
):
    challenge = make_challenge(innovation.id, "registration", prizes=(60000, 25000))
    judge = make_user(roles=("judge",), display_name="Júlia Judge")
    services.add_judge(innovation.id, challenge.id, judge.id)
    page = client.get(f"/challenges/{challenge.slug}").get_data(as_text=True)
    assert "Buses on time" in page and "Buses bunch up." in page
    assert "R$60,000" in page and "R$25,000" in page
    assert "Brasilia" in page  # the city's time zone, named
    assert "hours left" in page and 'data-countdown="' in page
    assert "Criterion 1" in page and "weight 50 %" in page and "C1 looks like 5" in page
    assert "normalised scores (z-scores)" in page
    assert "Júlia Judge" in page
    assert "Use the data for this challenge only." in page  # the terms, version 1
    assert "Register a team" in page


def test_drafts_are_hidden_from_the_public(app, client, innovation):
    challenge = services.create_challenge(
        innovation.id,
        services.ChallengeInput(
            title={"en": "Secret"},
            problem_statement={"en": "x"},
            expected_outcome={"en": "y"},
            eligibility={},
            requirements={},
            **dates_for_phase("announced"),
        ),
        {"en": "t"},
    )
    assert client.get(f"/challenges/{challenge.slug}").status_code == 404
    assert "Secret" not in client.get("/challenges/").get_data(as_text=True)
    login(client, innovation)
    assert client.get(f"/challenges/{challenge.slug}").status_code == 200


# -- Datasets ------------------------------------------------------------------------------------


def test_bad_dataset_upload_keeps_the_form_and_saves_nothing(app, client, roads_staff):
    login(client, roads_staff)
    data = {
        "title": "Complaints with names",
        "file_kind": "csv",
        "licence": "CC-BY-4.0",
        "update_frequency": "never",
        "challenge": 0,
        "access": "open",
        "personalisation": "personal",
        "collection": "manual",
        "authorship": "official_bodies",
        "format_kind": "open",
        "refinement": "raw",
        "statistical_kind": "qualitative",
        "dynamics": "static",
        "file": (io.BytesIO(CSV), "complaints.csv"),
    }
    response = client.post(
        "/challenges/datasets/new", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="access-error"' in page and "Personal data can never be open" in page
    assert 'value="Complaints with names"' in page
    assert db.session.query(Dataset).count() == 0


def test_dataset_upload_through_the_form(app, client, roads_staff):
    login(client, roads_staff)
    response = client.post(
        "/challenges/datasets/new",
        data={
            "title": "Stops",
            "file_kind": "csv",
            "licence": "cc-by-4.0",
            "update_frequency": "never",
            "challenge": 0,
            "access": "open",
            "personalisation": "not_personal",
            "collection": "machine",
            "authorship": "official_bodies",
            "format_kind": "open",
            "refinement": "processed",
            "dimensions": ["spatial_2d"],
            "statistical_kind": "quantitative",
            "dynamics": "static",
            "file": (io.BytesIO(CSV), "stops.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    dataset = db.session.query(Dataset).one()
    assert dataset.licence == "CC-BY-4.0" and dataset.title == {"en": "Stops"}
    page = client.get(f"/challenges/datasets/{dataset.id}").get_data(as_text=True)
    assert "Decimal number" in page and "Centro" in page  # column types and preview


def test_open_downloads_stream_with_range_and_are_logged(app, client, roads_staff):
    dataset = services.create_dataset(roads_staff.id, dataset_input(), io.BytesIO(CSV), "stops.csv")
    url = f"/challenges/datasets/{dataset.id}/download"
    with client.get(url) as full:
        assert full.status_code == 200 and full.data == CSV
        assert full.headers["Accept-Ranges"] == "bytes"
        assert "attachment" in full.headers["Content-Disposition"]
    with client.get(url, headers={"Range": "bytes=8-11"}) as part:
        assert part.status_code == 206 and part.data == CSV[8:12]
        assert part.headers["Content-Range"] == f"bytes 8-11/{len(CSV)}"
    with client.get(url, headers={"Range": "bytes=9999-"}) as bad:
        assert bad.status_code == 416
    rows = db.session.query(DatasetDownload).order_by(DatasetDownload.id).all()
    assert [r.byte_range for r in rows[:2]] == [None, "bytes=8-11"]
    assert all(r.user_id is None for r in rows)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 302),
        ("resident", 403),
        ("team_unregistered", 403),
        ("team_registered", 200),
        ("team_old_terms", 403),
        ("judge_on_panel", 200),
        ("judge_elsewhere", 403),
        ("staff", 200),
        ("admin", 200),
    ],
)
def test_registered_dataset_download_for_every_role(
    app, challenge, roads_staff, make_user, make_team, innovation, who, status
):
    from tests.challenges.test_services import person_for

    dataset = services.create_dataset(
        roads_staff.id,
        dataset_input(access="registered", challenge_id=challenge.id),
        io.BytesIO(CSV),
        "pings.csv",
    )
    user = person_for(who, challenge, make_user, make_team, innovation)
    client = app.test_client()
    if user is not None:
        login(client, user)
    with client.get(f"/challenges/datasets/{dataset.id}/download") as response:
        assert response.status_code == status, who
        body = response.get_data(as_text=True)
    logged = db.session.query(DatasetDownload).all()
    if status == 200:
        assert body.encode() == CSV and len(logged) == 1 and logged[0].user_id == user.id
        if who == "team_registered":
            assert logged[0].terms_version == 1 and logged[0].team_id
    else:
        assert logged == []
    if who == "team_old_terms":
        assert "must accept them again" in body
    if who == "team_registered":
        page = client.get(f"/challenges/datasets/{dataset.id}").get_data(as_text=True)
        assert "Preview (first 20 rows)" in page and "Centro" in page


def test_closed_dataset_pages_are_for_staff(app, roads_staff, make_user):
    dataset = services.create_dataset(
        roads_staff.id, dataset_input(access="closed"), io.BytesIO(CSV), "c.csv"
    )
    client = app.test_client()
    assert client.get(f"/challenges/datasets/{dataset.id}").status_code == 302
    login(client, make_user())
    assert client.get(f"/challenges/datasets/{dataset.id}").status_code == 403
    assert "Stops" not in client.get("/challenges/datasets").get_data(as_text=True)


# -- Teams, registration, submissions ----------------------------------------------------------


def test_team_registers_through_the_form(app, client, challenge, make_user):
    user = make_user()
    login(client, user)
    response = client.post(
        "/challenges/teams",
        data={
            "name": "Rota Viva",
            "org_type": "startup",
            "registration_number": "1",
            "country": "BR",
        },
    )
    assert response.status_code == 302
    team = services.list_my_teams(user.id)[0]
    response = client.post(
        f"/challenges/{challenge.slug}/register", data={"team": team.id, "accept_rules": "y"}
    )
    assert response.status_code == 400
    assert 'id="accept_terms-error"' in response.get_data(as_text=True)
    response = client.post(
        f"/challenges/{challenge.slug}/register",
        data={"team": team.id, "accept_rules": "y", "accept_terms": "y"},
    )
    assert response.status_code == 302
    assert services.get_registration(challenge.id, team.id).acceptances[0].version == 1


def test_invitation_link_through_the_pages(app, make_team, make_user):
    team, owner, _ = make_team()
    owner_client = login(app.test_client(), owner)
    page = owner_client.post(f"/challenges/teams/{team.id}/invites", data={"email": ""}).get_data(
        as_text=True
    )
    link = page.split("/challenges/invites/")[1].split("<")[0]
    friend = make_user(display_name="Fran Friend")
    friend_client = login(app.test_client(), friend)
    assert "Join the team" in friend_client.get(f"/challenges/invites/{link}").get_data(
        as_text=True
    )
    assert friend_client.post(f"/challenges/invites/{link}").status_code == 302
    assert "Fran Friend" in owner_client.get(f"/challenges/teams/{team.id}").get_data(as_text=True)
    again = login(app.test_client(), make_user()).post(f"/challenges/invites/{link}")
    assert again.status_code == 409


def test_bad_submission_keeps_the_form_and_saves_nothing(app, client, challenge, make_team):
    team, owner, _ = registered(challenge, make_team)
    move_challenge_to(challenge, "submission")
    login(client, owner)
    response = client.post(
        f"/challenges/{challenge.slug}/teams/{team.id}/submit",
        data={
            "title": "Bus spacer",
            "summary": "Keeps buses apart",
            "repository_url": "http://git.example.org/team/app",
            "licence": "MIT",
            "demo_url": "https://demo.example.org",
            "build_cost": "100",
            "yearly_cost": "10",
            "members": [owner.id],
        },
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="repository_url-error"' in page and "must start with https://" in page
    assert 'value="Bus spacer"' in page and "Keeps buses apart" in page
    assert db.session.query(Submission).count() == 0


def test_submission_form_refuses_a_non_osi_licence_and_accepts_a_good_one(
    app, client, challenge, make_team
):
    team, owner, _ = registered(challenge, make_team)
    move_challenge_to(challenge, "submission")
    login(client, owner)
    data = {
        "title": "Bus spacer",
        "summary": "Keeps buses apart",
        "repository_url": "https://git.example.org/team/app",
        "licence": "CC-BY-NC-4.0",
        "demo_url": "https://demo.example.org",
        "build_cost": "100",
        "yearly_cost": "10",
        "members": [owner.id],
    }
    url = f"/challenges/{challenge.slug}/teams/{team.id}/submit"
    response = client.post(url, data=data)
    assert response.status_code == 400 and 'id="licence-error"' in response.get_data(as_text=True)
    response = client.post(url, data={**data, "licence": "Apache-2.0"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Apache-2.0" in page and "Version 1 received at" in page


def test_late_submission_page_says_the_server_time(app, client, challenge, make_team):
    team, owner, _ = registered(challenge, make_team)
    move_challenge_to(challenge, "judging")
    login(client, owner)
    response = client.post(
        f"/challenges/{challenge.slug}/teams/{team.id}/submit",
        data={
            "title": "Late",
            "summary": "x",
            "repository_url": "https://git.example.org/a/b",
            "licence": "MIT",
            "demo_url": "https://d.example.org",
            "build_cost": "1",
            "yearly_cost": "1",
            "members": [owner.id],
        },
    )
    assert response.status_code == 409
    assert "The server received this at" in response.get_data(as_text=True)


# -- Judging ---------------------------------------------------------------------------------


def test_scoring_through_the_form(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=1, judges=3)
    judge = panel[0]
    row = db.session.query(JudgeAssignment).filter_by(judge_id=judge.id).one()
    client = login(app.test_client(), judge)
    criteria = challenge.criteria
    url = f"/challenges/judging/{row.id}"
    page = client.get(url).get_data(as_text=True)
    assert "C1 looks like 5" in page and "Judge 1" not in page
    bad = {f"score_{c.id}": "7" for c in criteria}
    response = client.post(url, data={**bad, "feedback": "Nice", "action": "save"})
    assert response.status_code == 400 and db.session.query(services.JudgeScore).count() == 0
    scores = {f"score_{c.id}": "4" for c in criteria}
    response = client.post(url, data={**scores, "feedback": "", "action": "lock"})
    assert response.status_code == 400
    assert "Write feedback for the team before locking." in response.get_data(as_text=True)
    response = client.post(
        url, data={**scores, "feedback": "Useful for the depot", "action": "lock"}
    )
    assert response.status_code == 302
    services.save_scores(panel[1].id, subs[0].id, {c.id: 2 for c in criteria}, {}, "ok", lock=True)
    page = client.get(url).get_data(as_text=True)
    assert "Your locked scores" in page and "Judge 1" in page
    assert panel[1].display_name not in page  # anonymised


def test_results_page_and_feedback_after_publication(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=2, judges=3)
    score_all(challenge, subs, panel, [[5, 3], [4, 3], [4, 3]])
    public = app.test_client()
    assert public.get(f"/challenges/{challenge.slug}/results").status_code == 404
    assert public.get(f"/challenges/{challenge.slug}/results.csv").status_code == 404
    staff = login(app.test_client(), innovation)
    assert staff.post(f"/challenges/{challenge.slug}/results/publish").status_code == 302
    page = public.get(f"/challenges/{challenge.slug}/results").get_data(as_text=True)
    assert "Ranked by: Weighted mean of each judge" in page
    assert "Prize 1: R$1,000" in page and "Criterion 1" in page
    assert all(j.display_name in page for j in panel)
    assert "which judge gave which score is not" in page
    csv_text = public.get(f"/challenges/{challenge.slug}/results.csv").get_data(as_text=True)
    assert csv_text.startswith("rank,submission,team") and panel[0].display_name not in csv_text
    assert public.get(f"/challenges/{challenge.slug}/results.csv?judges=1").status_code == 403
    owner = db.session.query(TeamMember).filter_by(team_id=subs[0].team_id).first().user
    team_client = login(app.test_client(), owner)
    page = team_client.get(f"/challenges/submissions/{subs[0].id}").get_data(as_text=True)
    assert "Results and feedback" in page and "Feedback from judge 0 for submission 0" in page
    assert (
        team_client.post(
            f"/challenges/submissions/{subs[0].id}/messages", data={"body": "Thank you!"}
        ).status_code
        == 302
    )
    assert "Thank you!" in staff.get(f"/challenges/submissions/{subs[0].id}").get_data(as_text=True)


def test_forms_need_the_csrf_token(csrf_app, make_user):
    user = make_user()
    client = csrf_app.test_client()
    client.post("/account/login", data={"email": user.email, "password": "correct-horse-battery"})
    response = client.post(
        "/challenges/teams",
        data={"name": "X", "org_type": "startup", "registration_number": "1", "country": "BR"},
    )
    assert response.status_code == 400 and services.list_my_teams(user.id) == []


def test_results_say_which_rule_broke_a_tie(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=2, judges=3)
    score_all(challenge, subs, panel)  # every sheet 3 everywhere: a perfect tie
    staff = login(app.test_client(), innovation)
    page = staff.get(f"/challenges/{challenge.slug}/results").get_data(as_text=True)
    assert "Preview: not published" in page
    assert "tie broken by the earlier submission" in page
    assert page.index(f'id="s{subs[0].id}"') < page.index(f'id="s{subs[1].id}"')
