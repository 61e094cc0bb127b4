"""Poll pages: who may use each route, the vote with and without JavaScript, every refusal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from civic.extensions import db
from civic.polls import services
from civic.polls.models import Poll, PollComment, PollParticipation
from tests.polls.conftest import draft, sign_in


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("polls."):
            view = app.view_functions[rule.endpoint]
            method = "POST" if "POST" in rule.methods and "GET" not in rule.methods else "GET"
            url = rule.rule.replace("<int:poll_id>", "1").replace("<int:comment_id>", "1")
            yield rule.endpoint, method, url, getattr(view, "required_roles", None)


STAFF_ENDPOINTS = {
    "polls.staff_dashboard",
    "polls.review_queue",
    "polls.review",
    "polls.approve",
    "polls.reject",
    "polls.request_changes",
    "polls.manage",
    "polls.threshold",
    "polls.answer",
    "polls.agenda_department",
    "polls.comment_queue",
    "polls.moderate",
}
PUBLIC_ENDPOINTS = {
    "polls.index",
    "polls.detail",
    "polls.qr_code",
    "polls.results_json",
    "polls.results_csv",
    "polls.open_data",
}


def test_every_route_declares_who_may_use_it(app):
    for endpoint, _method, _url, roles in _routes(app):
        if endpoint in STAFF_ENDPOINTS:
            assert roles == ("staff",), endpoint
        elif endpoint == "polls.settings":
            assert roles == ("admin",)
        elif endpoint not in PUBLIC_ENDPOINTS:
            # login_required wraps the view; flask-login leaves no attribute, so call it.
            assert app.test_client().open(_url, method=_method).status_code == 302, endpoint


@pytest.mark.parametrize("who", ["anonymous", "resident", "judge"])
def test_staff_routes_refuse_everyone_else(app, make_user, make_poll, who):
    make_poll()
    client = app.test_client()
    if who != "anonymous":
        sign_in(client, make_user(roles=(who,)))
    checked = 0
    for endpoint, method, url, _roles in _routes(app):
        if endpoint not in STAFF_ENDPOINTS | {"polls.settings"}:
            continue
        response = client.open(url, method=method)
        if who == "anonymous":
            assert (
                response.status_code == 302 and "/account/login" in response.headers["Location"]
            ), endpoint
        else:
            assert response.status_code == 403, (endpoint, response.status_code)
        checked += 1
    assert checked == 13


def test_settings_are_for_administrators_only(app, staff, make_user):
    client = app.test_client()
    sign_in(client, staff)
    assert client.get("/polls/staff/settings").status_code == 403
    sign_in(client, make_user(roles=("admin",)))
    response = client.post(
        "/polls/staff/settings",
        data={
            "default_threshold": 500,
            "answer_days": 20,
            "max_open_proposals": 2,
            "comment_flags_to_hide": 4,
        },
    )
    assert response.status_code == 302
    assert services.get_settings().default_threshold == 500
    bad = client.post(
        "/polls/staff/settings",
        data={
            "default_threshold": 0,
            "answer_days": 20,
            "max_open_proposals": 2,
            "comment_flags_to_hide": 4,
        },
    )
    assert bad.status_code == 400 and 'id="default_threshold-error"' in bad.get_data(as_text=True)


def _propose_data(options, **extra):
    data = {
        "question": "Should the pool open at 6?",
        "max_choices": 1,
        "duration_days": 7,
        "shows_interim_results": "y",
    }
    for index, label in enumerate(options):
        data[f"options-{index}-label"] = label
    data.update(extra)
    return data


def test_propose_through_the_form(app, make_user, districts):
    client = app.test_client()
    author = make_user(verified_district=districts["porto"])
    sign_in(client, author)
    page = client.get("/polls/propose").get_data(as_text=True)
    assert page.count('name="options-') >= 20  # ten option lines, each with an image field
    response = client.post(
        "/polls/propose", data=_propose_data(["Yes", "No"], districts=[districts["porto"].id])
    )
    assert response.status_code == 302
    poll = db.session.scalars(select(Poll)).one()
    assert (poll.status, poll.is_citywide, [d.code for d in poll.districts]) == (
        "pending",
        False,
        ["porto"],
    )
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Waiting for review" in detail
    mine = client.get("/polls/mine").get_data(as_text=True)
    assert "Should the pool open at 6?" in mine and "Waiting for review" in mine


@pytest.mark.parametrize("options", [["Only"], [f"O{n}" for n in range(11)]])
def test_proposing_with_one_or_eleven_options_is_refused(app, make_user, districts, options):
    client = app.test_client()
    sign_in(client, make_user(verified_district=districts["porto"]))
    response = client.post("/polls/propose?lang=en", data=_propose_data(options))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Give between 2 and 10 options" in page
    assert 'id="options-error"' in page
    assert 'value="Should the pool open at 6?"' in page  # the form comes back filled
    assert db.session.scalar(select(func.count(Poll.id))) == 0


def test_proposal_refusal_is_translated(app, make_user, districts):
    from flask_babel import force_locale, gettext

    client = app.test_client()
    sign_in(client, make_user(verified_district=districts["porto"], locale="de"))
    page = client.post("/polls/propose", data=_propose_data(["Only"])).get_data(as_text=True)
    with force_locale("de"):
        expected = gettext(
            "Give between %(min)s and %(max)s options (you gave %(count)s).", min=2, max=10, count=1
        )
    assert expected in page


def test_unverified_resident_sees_how_to_get_verified_and_cannot_propose(app, make_user):
    client = app.test_client()
    sign_in(client, make_user())
    assert "Enter a verification code" in client.get("/polls/propose").get_data(as_text=True)
    response = client.post("/polls/propose", data=_propose_data(["Yes", "No"]))
    assert response.status_code == 403
    assert db.session.scalar(select(func.count(Poll.id))) == 0


def test_vote_without_javascript_redirects_and_confirms(app, make_poll, make_user, districts):
    poll = make_poll(options=("Yes", "No"))
    client = app.test_client()
    sign_in(client, make_user(verified_district=districts["porto"]))
    response = client.post(
        f"/polls/{poll.id}/vote", data={"option": poll.options[1].id, "version": 0}
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your vote was counted." in page  # flash and the receipt in the panel
    assert 'id="vote-receipt"' in page
    assert re.search(r"You chose:\s*<strong>No</strong>", page)
    assert "Results so far" in page
    assert "Change my vote" in page


def test_vote_with_htmx_swaps_a_receipt(app, make_poll, make_user, districts):
    poll = make_poll(options=("Yes", "No"))
    client = app.test_client()
    sign_in(client, make_user(verified_district=districts["porto"]))
    response = client.post(
        f"/polls/{poll.id}/vote",
        data={"option": poll.options[0].id, "version": 0},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="vote-panel"')
    assert "<html" not in fragment
    assert 'role="status"' in fragment and "autofocus" in fragment
    assert "Your vote was counted." in fragment
    assert "1 person has voted so far." in fragment
    changed = client.post(
        f"/polls/{poll.id}/vote",
        data={"option": poll.options[1].id, "version": 1},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert "Your vote was changed." in changed


def _refusal(client, url, data, status, text, htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.post(url, data=data, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:400]
    assert text in response.get_data(as_text=True)
    return response


@pytest.mark.parametrize("htmx", [False, True])
def test_every_vote_refusal_is_a_4xx_with_a_message(app, make_poll, make_user, districts, htmx):
    citywide = make_poll(options=("A", "B", "C"))
    porto_only = make_poll(district_ids=[districts["porto"].id])
    closed = make_poll(opened_days_ago=11)
    other = make_poll()
    client = app.test_client()
    centro = make_user(verified_district=districts["centro"])
    sign_in(client, centro)
    url = f"/polls/{citywide.id}/vote"
    _refusal(client, url, {"version": 0}, 400, "Please choose an option.", htmx)
    _refusal(
        client,
        url,
        {"option": [citywide.options[0].id, citywide.options[1].id], "version": 0},
        400,
        "at most 1",
        htmx,
    )
    _refusal(
        client,
        url,
        {"option": other.options[0].id, "version": 0},
        400,
        "not part of this poll",
        htmx,
    )
    _refusal(
        client, url, {"option": "not-a-number", "version": 0}, 400, "Please choose an option.", htmx
    )
    _refusal(
        client,
        f"/polls/{porto_only.id}/vote",
        {"option": porto_only.options[0].id, "version": 0},
        403,
        "for residents of Porto only",
        htmx,
    )
    _refusal(
        client,
        f"/polls/{closed.id}/vote",
        {"option": closed.options[0].id, "version": 0},
        409,
        "This poll has closed",
        htmx,
    )
    assert db.session.scalar(select(func.count(PollParticipation.id))) == 0
    # Voting twice: the second, different vote from a stale form.
    assert (
        client.post(url, data={"option": citywide.options[0].id, "version": 0}).status_code == 302
    )
    _refusal(
        client,
        url,
        {"option": citywide.options[2].id, "version": 0},
        409,
        "You have already voted",
        htmx,
    )
    db.session.expire_all()
    assert [o.vote_count for o in services.get_poll(citywide.id).options] == [1, 0, 0]
    unverified = app.test_client()
    sign_in(unverified, make_user())
    _refusal(
        unverified,
        url,
        {"option": citywide.options[0].id, "version": 0},
        403,
        "Only verified residents",
        htmx,
    )


def test_anonymous_voter_is_sent_to_sign_in(client, make_poll):
    poll = make_poll()
    response = client.post(f"/polls/{poll.id}/vote", data={"option": poll.options[0].id})
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    page = client.get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "Sign in to vote" in page


def test_vote_needs_the_csrf_token(csrf_app, make_user, districts):
    from tests.polls.conftest import draft as make_draft

    staff = make_user(roles=("staff",))
    poll = services.propose_poll(staff.id, make_draft(is_official=True))
    client = csrf_app.test_client()
    sign_in(client, make_user(verified_district=districts["porto"]))
    response = client.post(
        f"/polls/{poll.id}/vote",
        data={"option": poll.options[0].id},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    page = client.get(f"/polls/{poll.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    ok = client.post(
        f"/polls/{poll.id}/vote",
        data={"option": poll.options[0].id, "version": 0, "csrf_token": token},
    )
    assert ok.status_code == 302


def test_poll_page_shows_threshold_clock_answers_share_link_and_qr(
    app, make_poll, make_user, districts, staff
):
    poll = make_poll(threshold=1)
    services.cast_vote(
        make_user(verified_district=districts["porto"]).id, poll.id, [poll.options[0].id]
    )
    page = app.test_client().get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "Official answer due in 30 days" in page
    assert f"http://localhost/polls/{poll.id}" in page
    assert f'src="/polls/{poll.id}/qr.svg"' in page
    services.publish_answer(staff.id, poll.id, "partly_adopted", "We will try it in two streets.")
    page = app.test_client().get(f"/polls/{poll.id}").get_data(as_text=True)
    assert (
        "Answered on time" in page
        and "Partly adopted" in page
        and "We will try it in two streets." in page
    )
    qr = app.test_client().get(f"/polls/{poll.id}/qr.svg")
    assert qr.mimetype == "image/svg+xml" and qr.data.startswith(b"<?xml") and b"<path" in qr.data


def test_results_page_has_a_table_with_bars_and_district_participation(
    app, make_poll, make_user, districts
):
    poll = make_poll(opened_days_ago=12, options=("Trees", "Benches"))
    for n in range(3):
        services.cast_vote(
            make_user(verified_district=districts["porto" if n else "centro"]).id,
            poll.id,
            [poll.options[n % 2].id],
            now=poll.opens_at + timedelta(hours=1),
        )
    page = app.test_client().get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "Final results" in page
    table = page[page.index('<table class="poll-bars">') :]
    table = table[: table.index("</table>")]
    assert re.search(
        r'<span class="poll-bar-label">Trees</span>[^<]*<svg[^>]*>.*?</svg></th>\s*<td class="num">2</td>',
        table,
        re.S,
    )
    assert 'class="poll-bar-fill" width="66.67"' in table
    assert "Participation by district" in page
    assert "style=" not in page  # bars are drawn without inline styles (CSP)
    assert "Open data:" in page


def test_interim_results_hidden_until_voted_or_closed(app, make_poll, make_user, districts):
    poll = make_poll()
    services.cast_vote(
        make_user(verified_district=districts["porto"]).id, poll.id, [poll.options[0].id]
    )
    page = app.test_client().get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "Results so far" not in page and "The results appear here once you have voted." in page
    assert app.test_client().get(f"/polls/{poll.id}/results.json").status_code == 409


def test_index_lists_searches_and_swaps_with_htmx(app, make_poll, make_user, districts):
    make_poll(question="Trees on Rua Azul?")
    make_poll(question="Buses at night?")
    make_poll(question="Old closed one?", opened_days_ago=20)
    client = app.test_client()
    page = client.get("/polls").get_data(as_text=True)
    assert (
        "Trees on Rua Azul?" in page and "Buses at night?" in page and "Old closed one?" not in page
    )
    fragment = client.get("/polls?q=azul", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Trees on Rua Azul?" in fragment and "Buses" not in fragment
    assert "Old closed one?" in client.get("/polls?view=closed").get_data(as_text=True)
    assert "No poll matches." in client.get("/polls?view=agendas").get_data(as_text=True)


def test_staff_review_through_the_pages(app, make_user, districts, staff, departments):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(author.id, draft())
    client = app.test_client()
    sign_in(client, staff)
    assert "Should the park open at night?" in client.get("/polls/staff/review").get_data(
        as_text=True
    )
    bad = client.post(f"/polls/{poll.id}/reject", data={"reason": "unclear", "note": ""})
    assert bad.status_code == 400
    missing = client.post(f"/polls/{poll.id}/approve", data={"department": 0})
    assert missing.status_code == 400
    ok = client.post(
        f"/polls/{poll.id}/approve", data={"department": departments["roads"].id, "threshold": 5}
    )
    assert ok.status_code == 302
    db.session.expire_all()
    assert services.get_poll(poll.id).threshold == 5
    again = client.post(f"/polls/{poll.id}/reject", data={"reason": "unclear", "note": "late"})
    assert again.status_code == 409


def test_author_sees_why_a_proposal_was_rejected(app, make_user, districts, staff):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(author.id, draft())
    services.reject_poll(staff.id, poll.id, "not_city", "The state runs the park.")
    client = app.test_client()
    sign_in(client, author)
    mine = client.get("/polls/mine").get_data(as_text=True)
    assert "The city does not decide this matter" in mine and "The state runs the park." in mine
    assert "was not accepted" in mine  # the notification


def test_answer_and_follow_up_through_the_manage_page(app, make_poll, make_user, districts, staff):
    poll = make_poll(threshold=1)
    services.cast_vote(
        make_user(verified_district=districts["porto"]).id, poll.id, [poll.options[0].id]
    )
    client = app.test_client()
    sign_in(client, staff)
    assert "Publish the official answer" in client.get(f"/polls/{poll.id}/manage").get_data(
        as_text=True
    )
    assert (
        client.post(f"/polls/{poll.id}/answer", data={"status": "adopted", "body": ""}).status_code
        == 400
    )
    assert (
        client.post(f"/polls/{poll.id}/answer", data={"status": "bogus", "body": "x"}).status_code
        == 400
    )
    assert (
        client.post(
            f"/polls/{poll.id}/answer", data={"status": "adopted", "body": "Yes."}
        ).status_code
        == 302
    )
    assert "Publish a follow-up" in client.get(f"/polls/{poll.id}/manage").get_data(as_text=True)
    dashboard = client.get("/polls/staff").get_data(as_text=True)
    assert "No agenda is waiting for an answer." in dashboard and "Answered on time" in dashboard


def test_comment_flag_and_moderation_pages(app, make_poll, make_user, staff):
    poll = make_poll()
    client = app.test_client()
    author = make_user()
    sign_in(client, author)
    assert client.post(f"/polls/{poll.id}/comments", data={"body": ""}).status_code == 400
    assert client.post(f"/polls/{poll.id}/comments", data={"body": "Buy pills"}).status_code == 302
    comment = db.session.scalars(select(PollComment)).one()
    for _ in range(3):
        flagger = app.test_client()
        sign_in(flagger, make_user())
        assert flagger.post(f"/polls/comments/{comment.id}/flag").status_code == 302
    page = client.get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "Buy pills" not in page and "hidden while moderators review" in page
    moderator = app.test_client()
    sign_in(moderator, staff)
    assert "Buy pills" in moderator.get("/polls/staff/comments").get_data(as_text=True)
    assert (
        moderator.post(
            f"/polls/comments/{comment.id}/moderate", data={"action": "hide", "reason": ""}
        ).status_code
        == 400
    )
    assert (
        moderator.post(
            f"/polls/comments/{comment.id}/moderate", data={"action": "hide", "reason": "spam"}
        ).status_code
        == 302
    )
    page = client.get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "hidden by the moderators. Reason: Spam or advertising" in page


def test_privacy_settings_page(app, make_user):
    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    page = client.get("/polls/privacy-settings").get_data(as_text=True)
    assert "never your name" in page and "groups of at least 10 people" in page
    bad = client.post(
        "/polls/privacy-settings", data={"shares_demographics": "y", "birth_year": "1700"}
    )
    assert bad.status_code == 400 and 'id="birth_year-error"' in bad.get_data(as_text=True)
    assert (
        client.post(
            "/polls/privacy-settings",
            data={"shares_demographics": "y", "birth_year": "1990", "gender": "woman"},
        ).status_code
        == 302
    )
    db.session.refresh(user)
    assert (user.shares_demographics, user.birth_year, user.gender) == (True, 1990, "woman")
    assert client.post("/polls/privacy-settings", data={"birth_year": "1990"}).status_code == 302
    db.session.refresh(user)
    assert (user.shares_demographics, user.birth_year, user.gender) == (False, None, None)


def test_open_data_csv_and_json(app, make_poll, make_user, districts):
    poll = make_poll(opened_days_ago=12)
    services.cast_vote(
        make_user(verified_district=districts["porto"]).id,
        poll.id,
        [poll.options[0].id],
        now=poll.opens_at + timedelta(hours=1),
    )
    client = app.test_client()
    data = client.get(f"/polls/{poll.id}/results.json").get_json()
    assert data["participants"] == 1 and data["options"][0]["votes"] == 1
    csv_response = client.get(f"/polls/{poll.id}/results.csv")
    assert csv_response.mimetype == "text/csv"
    assert (
        csv_response.get_data(as_text=True).splitlines()[0]
        == "poll_id,dimension,group,option_position,option_label,count"
    )
    catalogue = client.get("/polls/open-data.json").get_json()
    assert catalogue["polls"][0]["csv"].endswith(f"/polls/{poll.id}/results.csv")
    assert client.get("/polls/99999/results.json").status_code == 404


def test_edit_and_withdraw_pages(app, make_user, districts, staff):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(author.id, draft())
    services.request_changes(staff.id, poll.id, "Which park?")
    client = app.test_client()
    sign_in(client, author)
    page = client.get(f"/polls/{poll.id}/edit").get_data(as_text=True)
    assert "Which park?" in page and 'value="Should the park open at night?"' in page
    response = client.post(
        f"/polls/{poll.id}/edit", data=_propose_data(["North park", "South park"])
    )
    db.session.expire_all()
    assert response.status_code == 302 and services.get_poll(poll.id).status == "pending"
    stranger = app.test_client()
    sign_in(stranger, make_user(verified_district=districts["porto"]))
    assert stranger.get(f"/polls/{poll.id}/edit").status_code == 404
    assert client.post(f"/polls/{poll.id}/withdraw").status_code == 302
    db.session.expire_all()
    assert services.get_poll(poll.id).status == "withdrawn"
    assert client.post(f"/polls/{poll.id}/withdraw").status_code == 409


def test_option_images_are_stored_without_metadata(app, make_user, districts):
    import io

    from PIL import Image

    from civic.core.models import StoredFile

    image = Image.new("RGB", (40, 30), "green")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # camera make
    data = io.BytesIO()
    image.save(data, "JPEG", exif=exif.tobytes())
    client = app.test_client()
    sign_in(client, make_user(verified_district=districts["porto"]))
    form = _propose_data(["Green", "Grey"])
    form["options-0-image"] = (io.BytesIO(data.getvalue()), "green.jpg")
    response = client.post("/polls/propose", data=form, content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.expire_all()
    poll = db.session.scalars(select(Poll)).one()
    assert poll.options[0].image_id is not None and poll.options[1].image_id is None
    stored = db.session.get(StoredFile, poll.options[0].image_id)
    from civic.core.uploads import get_storage

    with get_storage().open(stored.key) as handle:
        assert b"SpyCam" not in handle.read()
    bad = _propose_data(["Green", "Grey"])
    bad["options-1-image"] = (io.BytesIO(b"not an image"), "x.png")
    refused = client.post("/polls/propose", data=bad, content_type="multipart/form-data")
    assert refused.status_code == 400
    assert db.session.scalar(select(func.count(Poll.id))) == 1


def test_deleting_an_account_keeps_its_vote_counted(app, make_poll, make_user, districts):
    from civic.accounts.services import delete_account

    poll = make_poll()
    voter = make_user(verified_district=districts["porto"])
    services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    services.add_comment(voter.id, poll.id, "Mine")
    delete_account(voter.id, "correct-horse-battery")
    db.session.expire_all()
    poll = services.get_poll(poll.id)
    assert poll.participant_count == 1 and poll.options[0].vote_count == 1
    assert services.recount_poll(poll.id).is_exact
    assert db.session.scalars(select(PollParticipation)).one().voter_id is None
    page = app.test_client().get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "Deleted account" in page
