"""Workshop pages: who may use them, the audience's plain-form flow, the presenter's live view."""

from __future__ import annotations

import io
import re

import pytest
from flask_babel import force_locale
from flask_babel import gettext as _

from civic.workshops import services
from civic.workshops.views import DEVICE_COOKIE
from tests.workshops.conftest import answer

FACILITATOR_ROUTES = [
    ("get", "/workshops/"),
    ("post", "/workshops/new"),
    ("post", "/workshops/readiness"),
    ("get", "/workshops/{sid}"),
    ("post", "/workshops/{sid}/settings"),
    ("post", "/workshops/{sid}/slides"),
    ("get", "/workshops/slides/{slide}/edit"),
    ("post", "/workshops/slides/{slide}/move"),
    ("post", "/workshops/slides/{slide}/delete"),
    ("post", "/workshops/{sid}/datasets"),
    ("post", "/workshops/{sid}/start"),
    ("post", "/workshops/{sid}/close"),
    ("post", "/workshops/{sid}/publish"),
    ("post", "/workshops/{sid}/delete"),
    ("get", "/workshops/{sid}/present"),
    ("post", "/workshops/{sid}/goto"),
    ("get", "/workshops/slides/{slide}/live"),
    ("post", "/workshops/slides/{slide}/reveal"),
    ("post", "/workshops/slides/{slide}/open"),
    ("get", "/workshops/slides/{slide}/chart.svg"),
    ("get", "/workshops/slides/{slide}/chart.csv"),
    ("get", "/workshops/{sid}/results"),
    ("get", "/workshops/{sid}/results.csv"),
    ("get", "/workshops/{sid}/results.json"),
    ("get", "/workshops/{sid}/qr.svg"),
    ("get", "/workshops/{sid}/events"),
]


@pytest.mark.parametrize(("method", "path"), FACILITATOR_ROUTES)
def test_facilitator_pages_refuse_anonymous_residents_and_other_facilitators(
    client, auth, make_user, live_session, other_facilitator, method, path
):
    url = path.format(sid=live_session.id, slide=live_session.ids["single"])
    anonymous = getattr(client, method)(url)
    assert anonymous.status_code == 302 and "/account/login" in anonymous.headers["Location"]
    resident = make_user(email="resident@example.org")
    auth.login(resident)
    assert getattr(client, method)(url).status_code == 403
    auth.logout()
    if "{sid}" in path or "{slide}" in path:
        auth.login(other_facilitator)
        assert getattr(client, method)(url).status_code == 403


def test_hiding_an_answer_is_for_the_sessions_facilitator_only(
    client, auth, live_session, facilitator, other_facilitator
):
    services.go_to_slide(facilitator.id, live_session.id, live_session.ids["text"])
    given = answer(live_session, live_session.ids["text"], text="hello")
    auth.login(other_facilitator)
    assert (
        client.post(f"/workshops/answers/{given.id}/hide", data={"hidden": "1"}).status_code == 403
    )
    auth.logout()
    auth.login(facilitator)
    assert (
        client.post(f"/workshops/answers/{given.id}/hide", data={"hidden": "1"}).status_code == 302
    )
    assert (
        services.question_results(
            services.get_owned_slide(facilitator.id, live_session.ids["text"])
        ).words
        == ()
    )


def _phone(app):
    return app.test_client()


def test_a_phone_joins_by_code_answers_once_and_gets_a_clear_message_the_second_time(
    app, live_session
):
    phone = _phone(app)
    joined = phone.post("/w", data={"code": live_session.code.lower()})
    assert joined.status_code == 302 and joined.headers["Location"].endswith(
        f"/w/{live_session.code}"
    )
    page = phone.get(f"/w/{live_session.code}")
    assert page.status_code == 200
    assert DEVICE_COOKIE in page.headers.get("Set-Cookie", "")
    html = page.get_data(as_text=True)
    assert "Q single" in html and 'name="choice"' in html
    key = re.search(r'name="choice" value="(\w+)"', html).group(1)
    sent = phone.post(f"/w/{live_session.code}/{live_session.ids['single']}", data={"choice": key})
    assert sent.status_code == 302
    after = phone.get(f"/w/{live_session.code}").get_data(as_text=True)
    assert "Your answer is recorded" in after and 'name="choice"' not in after
    again = phone.post(f"/w/{live_session.code}/{live_session.ids['single']}", data={"choice": key})
    assert again.status_code == 409
    assert "already answered this question from this phone" in again.get_data(as_text=True)
    assert services.count_answers(live_session.ids["single"]) == 1
    other = _phone(app)
    other.get(f"/w/{live_session.code}")
    assert (
        other.post(
            f"/w/{live_session.code}/{live_session.ids['single']}", data={"choice": key}
        ).status_code
        == 302
    )
    assert services.count_answers(live_session.ids["single"]) == 2


def test_a_forged_device_cookie_gets_a_new_device(app, live_session):
    phone = _phone(app)
    phone.set_cookie(DEVICE_COOKIE, "forged-value", path="/w")
    response = phone.get(f"/w/{live_session.code}")
    assert DEVICE_COOKIE in response.headers.get("Set-Cookie", "")


def test_the_audience_reads_the_question_in_its_own_language(app, live_session, facilitator):
    services.update_slide(
        facilitator.id,
        live_session.ids["single"],
        services.SlideInput(
            kind="question",
            locale="ko",
            title="어느 색?",
            question_type="single",
            options_text="빨강\n초록\n파랑",
        ),
    )
    phone = app.test_client()
    html = phone.get(
        f"/w/{live_session.code}", headers={"Accept-Language": "ko-KR,ko;q=0.9"}
    ).get_data(as_text=True)
    assert "어느 색?" in html and "빨강" in html and 'lang="ko"' in html
    english = app.test_client().get(f"/w/{live_session.code}").get_data(as_text=True)
    assert "Q single" in english and "빨강" not in english


def test_an_over_long_text_answer_comes_back_in_the_form_with_the_reason(
    app, live_session, facilitator
):
    services.go_to_slide(facilitator.id, live_session.id, live_session.ids["text"])
    phone = _phone(app)
    phone.get(f"/w/{live_session.code}")
    long_text = "Benches " * 20
    response = phone.post(
        f"/w/{live_session.code}/{live_session.ids['text']}", data={"text": long_text}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Please keep your answer to 120 characters" in html
    assert long_text.strip() in html  # nothing lost: the text is still in the box
    assert 'aria-invalid="true"' in html
    assert services.count_answers(live_session.ids["text"]) == 0


def test_answering_a_question_that_is_not_live_is_refused_with_a_message(app, live_session):
    phone = _phone(app)
    phone.get(f"/w/{live_session.code}")
    response = phone.post(
        f"/w/{live_session.code}/{live_session.ids['rating']}", data={"rating": "3"}
    )
    assert response.status_code == 409
    assert "This question is not open for answers right now." in response.get_data(as_text=True)


def test_unknown_and_closed_sessions_say_so(app, live_session, facilitator):
    phone = _phone(app)
    unknown = phone.get("/w/ZZZZZZ")
    assert unknown.status_code == 404
    assert "No session has this code" in unknown.get_data(as_text=True)
    assert 'value="ZZZZZZ"' in unknown.get_data(as_text=True)  # the code stays in the box
    wrong = phone.post("/w", data={"code": "nope"})
    assert wrong.status_code == 404 and "No session has this code" in wrong.get_data(as_text=True)
    services.close_session(facilitator.id, live_session.id)
    closed = phone.get(f"/w/{live_session.code}")
    assert closed.status_code == 409 and "This session has ended" in closed.get_data(as_text=True)
    late = phone.post(f"/w/{live_session.code}/{live_session.ids['single']}", data={"choice": "o1"})
    assert late.status_code == 409 and "This session has ended" in late.get_data(as_text=True)


def test_messages_are_translated_for_the_phones_language(app, live_session, facilitator):
    services.close_session(facilitator.id, live_session.id)
    html = app.test_client().get(f"/w/{live_session.code}?lang=es").get_data(as_text=True)
    with force_locale("es"):
        expected = _("This session has ended. Thank you for taking part!")
    assert expected in html


def test_presenter_sees_live_counts_and_results_only_after_reveal(
    client, auth, live_session, facilitator
):
    auth.login(facilitator)
    slide_id = live_session.ids["single"]
    keys = [o["key"] for o in services.get_owned_slide(facilitator.id, slide_id).options]
    for key in (keys[0], keys[0], keys[1]):
        answer(live_session, slide_id, choices=(key,))
    page = client.get(f"/workshops/{live_session.id}/present").get_data(as_text=True)
    assert live_session.code in page and "qr.svg" in page
    assert 'data-count="3"' in page
    assert "Results are hidden until you reveal them." in page
    assert "<svg" not in page  # no chart before the reveal
    fragment = client.get(f"/workshops/slides/{slide_id}/live", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith("<section")
    revealed = client.post(
        f"/workshops/slides/{slide_id}/reveal",
        data={"revealed": "1"},
        headers={"HX-Request": "true"},
    )
    html = revealed.get_data(as_text=True)
    assert "<svg" in html and "<table>" in html  # the chart and its data table
    answer(live_session, slide_id, choices=(keys[2],))
    assert 'data-count="4"' in client.get(f"/workshops/slides/{slide_id}/live").get_data(
        as_text=True
    )
    csv_text = client.get(f"/workshops/slides/{slide_id}/chart.csv").get_data(as_text=True)
    assert csv_text.splitlines()[1:] == ["Red,2.0", "Green,1.0", "Blue,1.0"]
    svg = client.get(f"/workshops/slides/{slide_id}/chart.svg")
    assert svg.mimetype == "image/svg+xml" and b"<title" in svg.data


def test_qr_code_is_an_svg_of_the_join_address(client, auth, live_session, facilitator):
    auth.login(facilitator)
    response = client.get(f"/workshops/{live_session.id}/qr.svg")
    assert response.mimetype == "image/svg+xml"
    assert response.data.lstrip().startswith(b"<?xml") or b"<svg" in response.data[:200]
    assert b"<path" in response.data


def test_presenter_moves_the_room_to_the_next_slide(client, auth, live_session, facilitator):
    auth.login(facilitator)
    response = client.post(
        f"/workshops/{live_session.id}/goto", data={"slide_id": live_session.ids["rating"]}
    )
    assert response.status_code == 302
    from civic.extensions import db

    db.session.expire_all()
    assert services.get_session(live_session.id).current_slide_id == live_session.ids["rating"]
    phone = client.application.test_client()
    html = phone.get(f"/w/{live_session.code}").get_data(as_text=True)
    assert "Q rating" in html and 'name="rating"' in html


def test_the_audience_poll_asks_for_a_reload_only_when_the_screen_changed(
    app, live_session, facilitator
):
    phone = _phone(app)
    html = phone.get(f"/w/{live_session.code}").get_data(as_text=True)
    poll_url = re.search(r'hx-get="([^"]+/poll[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "HX-Refresh" not in phone.get(poll_url).headers
    services.go_to_slide(facilitator.id, live_session.id, live_session.ids["rating"])
    assert phone.get(poll_url).headers.get("HX-Refresh") == "true"


def test_facilitator_builds_a_session_through_the_forms(client, auth, facilitator):
    auth.login(facilitator)
    created = client.post("/workshops/new", data={"title": "Budget night", "locale": "en"})
    assert created.status_code == 302
    sid = int(created.headers["Location"].rstrip("/").split("/")[-1])
    added = client.post(
        f"/workshops/{sid}/slides",
        data={
            "kind": "question",
            "locale": "en",
            "title": "Pick one",
            "question_type": "single",
            "options": "A\nB",
            "days": "30",
        },
    )
    assert added.status_code == 302
    slide = services.get_session(sid).slides[0]
    assert slide.question_type == "single" and len(slide.options) == 2
    translated = client.post(
        f"/workshops/slides/{slide.id}/edit",
        data={
            "kind": "question",
            "locale": "fr",
            "title": "Choisissez",
            "question_type": "single",
            "options": "A\nB",
            "days": "30",
        },
    )
    assert translated.status_code == 302
    from civic.extensions import db

    db.session.expire_all()
    assert services.get_session(sid).slides[0].title == {"en": "Pick one", "fr": "Choisissez"}
    french = client.get(f"/workshops/slides/{slide.id}/edit?locale=fr").get_data(as_text=True)
    assert 'value="Choisissez"' in french and '<option selected value="fr">' in french
    english = client.get(f"/workshops/slides/{slide.id}/edit?locale=xx").get_data(as_text=True)
    assert 'value="Pick one"' in english
    bad = client.post(
        f"/workshops/{sid}/slides",
        data={
            "kind": "question",
            "locale": "en",
            "title": "Keep me",
            "question_type": "single",
            "options": "Only",
            "days": "30",
        },
    )
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "Please give at least two options" in html and 'value="Keep me"' in html
    db.session.expire_all()
    assert len(services.get_session(sid).slides) == 1


def test_a_csv_in_the_wrong_encoding_is_refused_next_to_the_field(client, auth, facilitator):
    auth.login(facilitator)
    session = services.create_session(facilitator.id, {"en": "Air"})
    data = {
        "name": "Air quality 2020",
        "file": (io.BytesIO("bairro;pm10\nSão João;40\n".encode("latin-1")), "air.csv"),
    }
    response = client.post(
        f"/workshops/{session.id}/datasets", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The file is not UTF-8 text" in html and 'value="Air quality 2020"' in html
    good = {"name": "Air", "file": (io.BytesIO("bairro;pm10\nSão João;40\n".encode()), "air.csv")}
    assert (
        client.post(
            f"/workshops/{session.id}/datasets", data=good, content_type="multipart/form-data"
        ).status_code
        == 302
    )
    assert [d.name for d in services.list_datasets(session.id)] == ["Air"]


def test_readiness_check_from_the_button_and_its_results_page(client, auth, facilitator):
    auth.login(facilitator)
    response = client.post("/workshops/readiness")
    sid = int(response.headers["Location"].rstrip("/").split("/")[-1])
    session = services.get_session(sid)
    assert len([s for s in session.slides if s.kind == "question"]) == 19
    client.post(f"/workshops/{sid}/start")
    from civic.extensions import db

    db.session.expire_all()
    g1 = next(s for s in session.slides if s.item_key == "g1")
    answer(session, g1.id, rating=4)
    page = client.get(f"/workshops/{sid}/results").get_data(as_text=True)
    assert "Data readiness scores" in page and "Governing data" in page and "4" in page
    exported = client.get(f"/workshops/{sid}/results.json").get_json()
    assert exported["readiness"]["areas"][0]["mean"] == 4.0


def test_published_results_are_public_and_unpublished_ones_are_not(
    app, client, auth, live_session, facilitator
):
    anonymous = app.test_client()
    assert anonymous.get(f"/workshops/published/{live_session.id}").status_code == 404
    auth.login(facilitator)
    client.post(f"/workshops/{live_session.id}/publish", data={"published": "1"})
    page = anonymous.get(f"/workshops/published/{live_session.id}")
    assert page.status_code == 200 and "Q single" in page.get_data(as_text=True)
    assert (
        anonymous.get(
            f"/workshops/published/slides/{live_session.ids['single']}/chart.csv"
        ).status_code
        == 200
    )


@pytest.mark.redis
def test_with_redis_the_presenter_hears_answers_as_server_sent_events(
    queue, live_session, facilitator
):
    client = queue.flask_app.test_client()
    from tests.conftest import Auth

    Auth(client).login(facilitator)
    page = client.get(f"/workshops/{live_session.id}/present").get_data(as_text=True)
    assert f'data-events-url="/workshops/{live_session.id}/events"' in page
    assert 'hx-trigger="every 10s, workshop-update from:body"' in page
    response = client.get(f"/workshops/{live_session.id}/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    first = next(chunks)
    assert (first.decode() if isinstance(first, bytes) else first).startswith("retry:")
    key = services.get_owned_slide(facilitator.id, live_session.ids["single"]).options[0]["key"]
    answer(live_session, live_session.ids["single"], choices=(key,))
    event = next(chunks)
    assert 'event: update\ndata: "results"' in (
        event.decode() if isinstance(event, bytes) else event
    )
    response.close()


PUBLIC_ENDPOINTS = {
    "workshops.join",
    "workshops.audience",
    "workshops.audience_poll",
    "workshops.answer",
    "workshops.public_results",
    "workshops.public_chart",
}


def test_every_other_workshops_route_is_for_facilitators(app):
    endpoints = {
        r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("workshops.")
    }
    assert endpoints >= PUBLIC_ENDPOINTS
    for endpoint in endpoints - PUBLIC_ENDPOINTS:
        assert getattr(app.view_functions[endpoint], "required_roles", None) == ("facilitator",), (
            endpoint
        )
    tested = {path for _m, path in FACILITATOR_ROUTES}
    assert len(tested) + 1 >= len(endpoints - PUBLIC_ENDPOINTS)  # + hide_answer, tested apart
