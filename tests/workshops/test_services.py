"""Workshop rules: sessions, slides in several languages, answers once per phone, reveal,
moderation, CSV uploads, the readiness check and its scores."""

from __future__ import annotations

import contextlib
import json
import threading

import pytest
from sqlalchemy import func, select

from civic.config import LANGUAGES, SEEDS_DIR
from civic.core.errors import Conflict, DomainError, NotAllowed, NotFound
from civic.workshops import services
from civic.workshops.models import WorkshopAnswer
from civic.workshops.services import AnswerInput, SlideInput
from tests.workshops.conftest import answer, device, question


def test_a_session_gets_a_short_unambiguous_code_and_is_found_by_it_as_typed(facilitator):
    session = services.create_session(facilitator.id, {"en": "Budget night"})
    assert len(session.code) == 6
    assert not set(session.code) & set("01ILO")
    typed = " " + session.code.lower()[:3] + "-" + session.code.lower()[3:]
    assert services.get_session_by_code(typed).id == session.id


def test_only_facilitators_build_sessions_and_only_their_own(
    make_user, facilitator, other_facilitator
):
    resident = make_user()
    with pytest.raises(NotAllowed):
        services.create_session(resident.id, {"en": "Mine"})
    session = services.create_session(facilitator.id, {"en": "Mine"})
    with pytest.raises(NotAllowed):
        services.add_slide(
            other_facilitator.id, session.id, SlideInput(kind="text", locale="en", title="x")
        )
    with pytest.raises(NotAllowed):
        services.start_session(other_facilitator.id, session.id)
    admin = make_user(roles=("admin",))
    assert services.add_slide(admin.id, session.id, SlideInput(kind="text", locale="en", title="x"))


def test_slide_text_and_options_are_translatable_one_language_at_a_time(facilitator):
    session = services.create_session(facilitator.id, {"en": "Town hall"})
    slide = services.add_slide(
        facilitator.id, session.id, question("single", "Which park?", "North\nSouth")
    )
    services.update_slide(
        facilitator.id,
        slide.id,
        SlideInput(
            kind="question",
            locale="pt_BR",
            title="Qual parque?",
            question_type="single",
            options_text="Norte\nSul",
        ),
    )
    assert slide.title == {"en": "Which park?", "pt_BR": "Qual parque?"}
    assert [o["label"] for o in slide.options] == [
        {"en": "North", "pt_BR": "Norte"},
        {"en": "South", "pt_BR": "Sul"},
    ]
    keys = [o["key"] for o in slide.options]
    assert len(set(keys)) == 2
    assert services.option_label(slide, keys[1], "pt_BR") == "Sul"
    assert services.option_label(slide, keys[1], "ko") == "South"  # falls back to the default


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            SlideInput(
                kind="question",
                locale="en",
                title="Q",
                question_type="single",
                options_text="Only one",
            ),
            "options",
        ),
        (
            SlideInput(
                kind="question",
                locale="en",
                title="Q",
                question_type="single",
                options_text="Same\nsame",
            ),
            "options",
        ),
        (
            SlideInput(
                kind="question",
                locale="en",
                title="Q",
                question_type="rating",
                options_text="a\nb\nc",
            ),
            "options",
        ),
        (
            SlideInput(kind="question", locale="en", title="Q", question_type="nonsense"),
            "question_type",
        ),
        (SlideInput(kind="question", locale="en", title="", question_type="text"), "title"),
        (SlideInput(kind="data", locale="en", title="Q", chart_source="nope"), "chart_source"),
        (
            SlideInput(
                kind="data",
                locale="en",
                title="Q",
                chart_source="funding_by_district",
                chart_type="line",
            ),
            "chart_type",
        ),
        (
            SlideInput(
                kind="data", locale="en", title="Q", chart_source="budget_results", params={}
            ),
            "budget_id",
        ),
        (SlideInput(kind="text", locale="xx", title="Q"), "locale"),
    ],
)
def test_bad_slides_are_refused_on_the_field_and_nothing_is_saved(facilitator, data, field):
    session = services.create_session(facilitator.id, {"en": "S"})
    with pytest.raises(DomainError) as refused:
        services.add_slide(facilitator.id, session.id, data)
    assert refused.value.field == field
    assert services.get_session(session.id).slides == []


def test_options_cannot_be_added_once_people_answered_but_can_be_reworded(
    live_session, facilitator
):
    slide_id = live_session.ids["single"]
    answer(
        live_session,
        slide_id,
        choices=(services.get_owned_slide(facilitator.id, slide_id).options[0]["key"],),
    )
    with pytest.raises(DomainError):
        services.update_slide(
            facilitator.id, slide_id, question("single", "Q single", "Red\nGreen\nBlue\nPink")
        )
    services.update_slide(
        facilitator.id, slide_id, question("single", "Q single", "Crimson\nGreen\nBlue")
    )
    assert services.get_owned_slide(facilitator.id, slide_id).options[0]["label"]["en"] == "Crimson"
    with pytest.raises(Conflict):
        services.delete_slide(facilitator.id, slide_id)


def test_moving_slides_keeps_positions_unique(facilitator):
    session = services.create_session(facilitator.id, {"en": "S"})
    a = services.add_slide(
        facilitator.id, session.id, SlideInput(kind="text", locale="en", title="A")
    )
    b = services.add_slide(
        facilitator.id, session.id, SlideInput(kind="text", locale="en", title="B")
    )
    services.move_slide(facilitator.id, b.id, -1)
    assert [s.title["en"] for s in services.get_session(session.id).slides] == ["B", "A"]
    services.move_slide(facilitator.id, b.id, -1)  # already first: nothing moves
    assert [s.id for s in services.get_session(session.id).slides] == [b.id, a.id]


def _keys(session, kind):
    return [o["key"] for o in next(s for s in session.slides if s.id == session.ids[kind]).options]


def test_each_question_type_is_recorded_and_counted(live_session, facilitator):
    s = live_session
    red, green, blue = _keys(s, "single")
    for choice in (red, red, blue):
        answer(s, s.ids["single"], choices=(choice,))
    s.is_self_paced = True  # every open question live at once, as in the readiness check
    from civic.extensions import db

    db.session.commit()
    m = _keys(s, "multiple")
    answer(s, s.ids["multiple"], choices=(m[0], m[1]))
    answer(s, s.ids["multiple"], choices=(m[1],))
    answer(s, s.ids["rating"], rating=4)
    answer(s, s.ids["rating"], rating=5)
    answer(s, s.ids["text"], text="More  trees")
    answer(s, s.ids["text"], text="more trees")
    r = _keys(s, "ranking")
    answer(s, s.ids["ranking"], ranks={r[0]: "3", r[1]: "1", r[2]: "2"})

    slides = {k: services.get_owned_slide(facilitator.id, v) for k, v in s.ids.items()}
    single = services.question_results(slides["single"])
    assert single.answers == 3 and dict(single.choices.counts) == {red: 2, green: 0, blue: 1}
    assert dict(services.question_results(slides["multiple"]).choices.counts) == {
        m[0]: 1,
        m[1]: 2,
        m[2]: 0,
    }
    assert services.question_results(slides["rating"]).rating.mean == 4.5
    words = services.question_results(slides["text"]).words
    assert [(w.text, w.count) for w in words] == [("More trees", 2)]
    ranking = services.question_results(slides["ranking"]).ranking
    assert [row.key for row in ranking] == [r[1], r[2], r[0]]


@pytest.mark.parametrize(
    ("kind", "values", "field"),
    [
        ("single", {"choices": ()}, "choice"),
        ("single", {"choices": ("nope",)}, "choice"),
        ("multiple", {"choices": ()}, "choice"),
        ("rating", {"rating": 6}, "rating"),
        ("rating", {}, "rating"),
        ("text", {"text": "   "}, "text"),
        ("text", {"text": "x" * 121}, "text"),
        ("ranking", {"ranks": {}}, "ranks"),
    ],
)
def test_invalid_answers_are_refused_on_the_field(live_session, kind, values, field):
    live_session.is_self_paced = True
    from civic.extensions import db

    db.session.commit()
    if kind == "ranking" and not values["ranks"]:
        keys = _keys(live_session, "ranking")
        values = {"ranks": {keys[0]: "1", keys[1]: "1", keys[2]: "2"}}
    with pytest.raises(DomainError) as refused:
        answer(live_session, live_session.ids[kind], **values)
    assert refused.value.field == field
    assert db.session.scalar(select(func.count(WorkshopAnswer.id))) == 0


def test_over_long_text_says_how_long_it_is(live_session):
    live_session.is_self_paced = True
    from civic.extensions import db

    db.session.commit()
    with pytest.raises(DomainError) as refused:
        answer(live_session, live_session.ids["text"], text="y" * 130)
    assert "120" in str(refused.value.message) and "130" in str(refused.value.message)


def test_a_phone_answers_a_question_once(live_session):
    phone = device()
    red = _keys(live_session, "single")[0]
    answer(live_session, live_session.ids["single"], phone, choices=(red,))
    with pytest.raises(Conflict) as twice:
        answer(live_session, live_session.ids["single"], phone, choices=(red,))
    assert "already answered" in str(twice.value.message)
    assert services.count_answers(live_session.ids["single"]) == 1
    answer(live_session, live_session.ids["single"], device(), choices=(red,))  # another phone may
    assert services.count_answers(live_session.ids["single"]) == 2


def test_only_the_question_on_screen_takes_answers_unless_self_paced(live_session, facilitator):
    with pytest.raises(Conflict) as not_live:
        answer(live_session, live_session.ids["rating"], rating=3)
    assert "not open" in str(not_live.value.message)
    services.go_to_slide(facilitator.id, live_session.id, live_session.ids["rating"])
    answer(live_session, live_session.ids["rating"], rating=3)
    services.set_question_open(facilitator.id, live_session.ids["rating"], False)
    with pytest.raises(Conflict):
        answer(live_session, live_session.ids["rating"], rating=3)
    assert services.count_answers(live_session.ids["rating"]) == 1


def test_unknown_draft_and_closed_sessions_refuse_answers_with_a_reason(live_session, facilitator):
    red = _keys(live_session, "single")[0]
    with pytest.raises(NotFound):
        services.submit_answer(
            "ZZZZZZ", live_session.ids["single"], device(), AnswerInput(choices=(red,))
        )
    with pytest.raises(NotFound):
        answer(live_session, 999_999, choices=(red,))
    draft = services.create_session(facilitator.id, {"en": "Later"})
    with pytest.raises(Conflict) as not_started:
        services.check_joinable(draft)
    assert "not started" in str(not_started.value.message)
    services.close_session(facilitator.id, live_session.id)
    with pytest.raises(Conflict) as ended:
        answer(live_session, live_session.ids["single"], choices=(red,))
    assert "ended" in str(ended.value.message)
    with pytest.raises(DomainError):
        services.submit_answer(
            live_session.code,
            live_session.ids["single"],
            "not-a-device",
            AnswerInput(choices=(red,)),
        )


def test_fifty_concurrent_answers_from_one_phone_leave_one_answer(app, live_session):
    """The unique (question, device) constraint decides the race, not Python."""
    phone = device()
    slide_id, code = live_session.ids["single"], live_session.code
    red = _keys(live_session, "single")[0]
    outcomes: list[str] = []
    barrier = threading.Barrier(10)

    def submit():
        with app.app_context():
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
            try:
                services.submit_answer(code, slide_id, phone, AnswerInput(choices=(red,)))
                outcomes.append("ok")
            except Conflict:
                outcomes.append("conflict")
            finally:
                from civic.extensions import db

                db.session.remove()

    threads = [threading.Thread(target=submit) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes.count("ok") == 1
    assert outcomes.count("conflict") == 49
    assert services.count_answers(slide_id) == 1


def test_concurrent_answers_from_many_phones_are_all_counted(app, live_session):
    slide_id, code = live_session.ids["single"], live_session.code
    keys = _keys(live_session, "single")
    phones = [device() for _ in range(60)]
    errors = []

    def submit(i):
        with app.app_context():
            try:
                services.submit_answer(
                    code, slide_id, phones[i], AnswerInput(choices=(keys[i % 3],))
                )
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                from civic.extensions import db

                db.session.remove()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    results = services.question_results(services.get_session(live_session.id).slides[1])
    assert results.answers == 60
    assert dict(results.choices.counts) == {keys[0]: 20, keys[1]: 20, keys[2]: 20}


def test_results_stay_hidden_until_revealed(live_session, facilitator):
    slide = services.get_owned_slide(facilitator.id, live_session.ids["single"])
    assert slide.is_revealed is False
    services.set_revealed(facilitator.id, slide.id, True)
    assert services.get_owned_slide(facilitator.id, slide.id).is_revealed
    services.set_revealed(facilitator.id, slide.id, False)
    assert not services.get_owned_slide(facilitator.id, slide.id).is_revealed
    text_slide = services.get_owned_slide(facilitator.id, live_session.ids["text"])
    with pytest.raises(Conflict):
        services.set_revealed(facilitator.id, live_session.slides[0].id, True)  # a text slide
    assert text_slide.kind == "question"


def test_a_hidden_text_answer_leaves_the_word_list_but_is_kept(live_session, facilitator):
    services.go_to_slide(facilitator.id, live_session.id, live_session.ids["text"])
    rude = answer(live_session, live_session.ids["text"], text="something rude")
    answer(live_session, live_session.ids["text"], text="benches")
    services.hide_answer(facilitator.id, rude.id)
    slide = services.get_owned_slide(facilitator.id, live_session.ids["text"])
    results = services.question_results(slide)
    assert [w.text for w in results.words] == ["benches"]
    assert results.answers == 2  # counted, never deleted
    services.hide_answer(facilitator.id, rude.id, hidden=False)
    assert len(services.question_results(slide).words) == 2


def test_uploaded_csv_becomes_a_chart(facilitator):
    session = services.create_session(facilitator.id, {"en": "Air"})
    data = b"district;pm10 2019;pm10 2020\nCentro;41,5;40\nPorto;35;36,2\n"
    dataset = services.upload_dataset(facilitator.id, session.id, "Air quality", data)
    slide = services.add_slide(
        facilitator.id,
        session.id,
        SlideInput(
            kind="data",
            locale="en",
            title="PM10",
            chart_source="dataset",
            chart_type="line",
            params={"dataset_id": dataset.id},
        ),
    )
    chart = services.slide_chart(slide)
    assert chart.labels == ("Centro", "Porto")
    assert [s.name for s in chart.series] == ["pm10 2019", "pm10 2020"]
    assert chart.series[0].values == (41.5, 35.0)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("name,value\nCentro,3\n".encode("utf-16"), "UTF-8"),
        ("name,value\nSão Paulo,3\n".encode("latin-1"), "UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV"),
        (b"just one line without a table", "not a CSV"),
        (b"a,b\n1,2,3\n", "Line 2"),
        (b"a,b\nx,y\n", "numbers"),
        (b"", "empty"),
    ],
)
def test_bad_csv_files_are_refused_with_a_reason(facilitator, data, words):
    session = services.create_session(facilitator.id, {"en": "Air"})
    with pytest.raises(DomainError) as refused:
        services.upload_dataset(facilitator.id, session.id, "x", data)
    assert refused.value.field == "file"
    assert words in str(refused.value.message)
    assert services.list_datasets(session.id) == []


def test_the_readiness_check_seed_has_19_statements_in_nine_languages():
    check = json.loads((SEEDS_DIR / "readiness_check.json").read_text(encoding="utf-8"))
    assert [(a["key"], len(a["questions"])) for a in check["areas"]] == [
        ("governing", 10),
        ("managing", 5),
        ("value", 4),
    ]
    texts = [
        check["title"],
        check["intro"],
        check["scores_title"],
        check["scores_caption"],
        *check["scale"].values(),
    ]
    for area in check["areas"]:
        texts += [area["title"], *(q["text"] for q in area["questions"])]
    for text in texts:
        assert set(text) == set(LANGUAGES), text
        assert all(value.strip() for value in text.values())
    # Translations are really translations (not the English copied over).
    for q in check["areas"][0]["questions"]:
        assert len({q["text"][code] for code in LANGUAGES}) == len(LANGUAGES)


def test_readiness_session_scores_per_statement_and_per_area(facilitator):
    session = services.create_readiness_session(facilitator.id)
    questions = [s for s in session.slides if s.kind == "question"]
    assert len(questions) == 19 and session.is_self_paced
    assert {s.question_type for s in questions} == {"rating"}
    assert session.slides[-1].chart_source == "readiness"
    services.start_session(facilitator.id, session.id)
    by_key = {s.item_key: s for s in questions}
    phones = [device(), device(), device()]
    for phone, rating in zip(phones, (1, 3, 5), strict=True):
        services.submit_answer(session.code, by_key["g1"].id, phone, AnswerInput(rating=rating))
    services.submit_answer(session.code, by_key["g2"].id, phones[0], AnswerInput(rating=2))
    services.submit_answer(session.code, by_key["m1"].id, phones[0], AnswerInput(rating=4))
    report = services.readiness_report(services.get_session(session.id))
    questions_by_key = {q.key: q for q in report.scores.questions}
    assert questions_by_key["g1"].mean == 3 and questions_by_key["g1"].answers == 3
    areas = {a.area: a for a in report.scores.areas}
    assert areas["governing"].mean == pytest.approx(2.5)  # (3 + 2) / 2; unrated g3..g10 left out
    assert areas["managing"].mean == 4
    assert areas["value"].mean is None
    chart = services.readiness_chart(services.get_session(session.id))
    assert chart.labels[0] == "Governing data" and chart.series[0].values[:3] == (2.5, 4.0, None)
    data = services.session_results_data(services.get_session(session.id))
    assert data["readiness"]["areas"][0] == {"area": "governing", "mean": 2.5, "statements": 10}
    csv_text = services.session_results_csv(services.get_session(session.id))
    assert "readiness_area,governing,mean,,10,2.5" in csv_text


def test_results_are_published_only_for_sessions_with_questions(facilitator, live_session):
    empty = services.create_session(facilitator.id, {"en": "Talk"})
    services.add_slide(facilitator.id, empty.id, SlideInput(kind="text", locale="en", title="Hi"))
    with pytest.raises(Conflict):
        services.set_results_published(facilitator.id, empty.id, True)
    services.set_results_published(facilitator.id, live_session.id, True)
    assert [s.id for s in services.list_published_sessions()] == [live_session.id]
    services.set_results_published(facilitator.id, live_session.id, False)
    assert services.list_published_sessions() == []


def test_a_session_with_answers_cannot_be_deleted(live_session, facilitator):
    answer(live_session, live_session.ids["single"], choices=(_keys(live_session, "single")[0],))
    with pytest.raises(Conflict):
        services.delete_session(facilitator.id, live_session.id)
    assert services.get_session(live_session.id)
