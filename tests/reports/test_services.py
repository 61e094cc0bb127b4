"""Report services: routing, validation, duplicates, anonymity, workflow, reopening, merging,
bulk changes, notifications, statistics and concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from civic.core.errors import Conflict, DomainError, NotAllowed, TooManyRequests
from civic.core.geo import GeoError
from civic.core.models import OutboxMessage, StoredFile
from civic.core.time import utcnow
from civic.extensions import db
from civic.reports import services
from civic.reports.models import Report, ReportFollower, ReportUpdate
from tests.reports.conftest import CENTRO, OUTSIDE, PORTO, RIBEIRA


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- Routing --------------------------------------------------------------------------------


def test_district_by_point_and_department_by_category(submit, districts, departments):
    pothole = submit(at=PORTO)
    noise = submit("noise", at=RIBEIRA)
    assert pothole.district_id == districts["porto"].id
    assert pothole.department_id == departments["roads"].id
    assert noise.district_id == districts["ribeira"].id
    assert noise.department_id == departments["parks"].id


@pytest.mark.parametrize("lon, code", [(-46.6460, "centro"), (-46.6450, "porto")])
def test_points_either_side_of_a_boundary_go_to_the_right_district(submit, districts, lon, code):
    report = submit(at=(-22.99, lon))
    assert report.district_id == districts[code].id


def test_a_place_outside_the_city_is_refused_and_nothing_is_stored(submit):
    with pytest.raises(GeoError) as error:
        submit(at=OUTSIDE)
    assert "outside" in str(error.value.message)
    assert error.value.field == "location"
    assert count(Report) == 0


@pytest.mark.parametrize("lat, lon", [(91, 0), (0, 181), (float("nan"), 0)])
def test_coordinates_out_of_range_are_refused(submit, lat, lon):
    with pytest.raises(GeoError):
        submit(at=(lat, lon))
    assert count(Report) == 0


def test_a_landmark_or_a_district_can_stand_in_for_coordinates(submit, districts):
    by_landmark = submit(at=(None, None), address="Near praca da matriz, by the church")
    assert by_landmark.district_id == districts["centro"].id
    assert not by_landmark.is_location_approximate
    by_district = submit(
        at=(None, None), district_id=districts["ribeira"].id, address="Behind the school"
    )
    assert by_district.district_id == districts["ribeira"].id
    assert by_district.is_location_approximate
    with pytest.raises(GeoError):
        submit(at=(None, None), address="Nowhere street 999")
    with pytest.raises(GeoError):
        submit(at=(None, None))


# --- Validation ---------------------------------------------------------------------------


def test_unknown_or_inactive_category_is_refused(submit, categories):
    with pytest.raises(DomainError) as error:
        submit(category_id=999_999)
    assert error.value.field == "category"
    categories["tree"].is_active = False
    db.session.commit()
    with pytest.raises(DomainError):
        submit("tree")


@pytest.mark.parametrize(
    "description, message",
    [
        ("", "describe"),
        ("<script>alert(1)</script> broken light", "plain text"),
        ("See <a href='x'>here</a>", "plain text"),
        ("x" * 4001, "4000"),
    ],
)
def test_bad_descriptions_are_refused(submit, description, message):
    with pytest.raises(DomainError) as error:
        submit(description=description)
    assert error.value.field == "description"
    assert message in str(error.value.message)
    assert count(Report) == 0


def test_plain_text_with_angle_brackets_is_fine(submit):
    report = submit(description="Hole is 3 < 5 metres from the stop -> please fix")
    assert "3 < 5" in report.description


@pytest.mark.parametrize(
    "answers, field",
    [
        ({}, "q_size"),
        ({"size": "huge"}, "q_size"),
        ({"size": "small", "depth": "deep"}, "q_depth"),
        ({"size": "small", "seen": "yesterday"}, "q_seen"),
        ({"size": "small", "lanes": ["bus", "tram"]}, "q_lanes"),
    ],
)
def test_answers_are_checked_against_the_questions(submit, answers, field):
    with pytest.raises(DomainError) as error:
        submit(answers=answers)
    assert error.value.field == field
    assert count(Report) == 0


def test_good_answers_are_stored_cleaned(submit):
    report = submit(
        answers={
            "size": "small",
            "depth": "12,5",
            "seen": "2026-11-20",
            "lanes": ["bus", "cycle"],
            "other": "x",
        }
    )
    assert report.answers == {
        "size": "small",
        "depth": 12.5,
        "seen": "2026-11-20",
        "lanes": ["bus", "cycle"],
    }


def test_unknown_answers_are_refused_when_asked(submit):
    with pytest.raises(DomainError) as error:
        submit(answers={"size": "small", "colour": "red"}, reject_unknown_answers=True)
    assert error.value.field == "q_colour"


def test_fake_and_oversized_images_are_refused_and_nothing_is_stored(app, submit):
    with pytest.raises(DomainError) as error:
        submit(photos=[b"this is text, not a jpeg"])
    assert error.value.field == "photos"
    app.config["CIVIC_UPLOAD_MAX_BYTES"] = 10
    from tests.reports.conftest import jpeg_with_gps

    with pytest.raises(DomainError):
        submit(photos=[jpeg_with_gps()])
    with pytest.raises(DomainError):
        submit(photos=[b"x", b"y", b"z", b"w"])
    assert count(Report) == 0 and count(StoredFile) == 0


def test_a_decompression_bomb_is_refused(app, submit):
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (8000, 8000)).save(out, "PNG", optimize=True)
    app.config["CIVIC_IMAGE_MAX_PIXELS"] = 10_000_000
    with pytest.raises(DomainError) as error:
        submit(photos=[out.getvalue()])
    assert "pixels" in str(error.value.message)
    assert count(Report) == 0


# --- Duplicates ---------------------------------------------------------------------------


def test_open_reports_of_the_same_kind_nearby_are_suggested(submit):
    first = submit()
    with pytest.raises(services.PossibleDuplicates) as error:
        submit(at=(CENTRO[0] + 0.0002, CENTRO[1]), skip_duplicate_check=False)  # ~22 m north
    assert [n.report.id for n in error.value.nearby] == [first.id]
    assert 15 < error.value.nearby[0].distance_m < 30
    # Another kind of problem, or farther than 50 m, or "this is new": no suggestion.
    submit("streetlight", skip_duplicate_check=False)
    submit(at=(CENTRO[0] + 0.0006, CENTRO[1]), skip_duplicate_check=False)
    submit(at=(CENTRO[0] + 0.0002, CENTRO[1]), skip_duplicate_check=True)
    assert count(Report) == 4


def test_the_radius_is_configurable_and_closed_reports_are_not_suggested(app, submit, make_staff):
    first = submit()
    app.config["CIVIC_REPORT_DUPLICATE_RADIUS_M"] = 10
    assert services.find_nearby(first.category_id, CENTRO[0] + 0.0002, CENTRO[1]) == []
    app.config["CIVIC_REPORT_DUPLICATE_RADIUS_M"] = 50
    assert len(services.find_nearby(first.category_id, CENTRO[0] + 0.0002, CENTRO[1])) == 1
    staff = make_staff("roads")
    services.change_state(staff.id, first.id, "resolved", "Fixed.")
    assert services.find_nearby(first.category_id, CENTRO[0] + 0.0002, CENTRO[1]) == []


def test_me_too_counts_each_person_once_and_makes_them_follow(submit, make_user):
    report = submit()
    neighbour = make_user()
    assert services.support_report(report.id, user_id=neighbour.id) == "added"
    assert services.support_report(report.id, user_id=neighbour.id) == "already"
    db.session.refresh(report)
    assert report.supporter_count == 1
    assert services.follower_state(report.id, neighbour.id) == (True, True)
    with pytest.raises(Conflict):
        services.support_report(report.id, user_id=report.reporter_id)


def test_me_too_without_an_account_counts_after_the_e_mail_link(app, submit):
    report = submit()
    with app.test_request_context("/"):
        assert services.support_report(report.id, email="Neighbour@Example.org") == "confirm"
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.recipient == "neighbour@example.org")
    )
    token = message.body.split("/reports/support/")[1].split()[0]
    db.session.refresh(report)
    assert report.supporter_count == 0
    services.confirm_support(token)
    services.confirm_support(token)
    db.session.refresh(report)
    assert report.supporter_count == 1


def test_concurrent_me_too_from_one_person_counts_once(app, submit, make_user):
    report = submit()
    neighbour = make_user()
    report_id, user_id = report.id, neighbour.id
    db.session.commit()
    barrier = threading.Barrier(4)
    outcomes = []

    def click():
        with app.app_context():
            barrier.wait()
            try:
                outcomes.append(services.support_report(report_id, user_id=user_id))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    assert sorted(outcomes).count("added") == 1
    assert db.session.get(Report, report_id).supporter_count == 1
    assert count(ReportFollower) == 1  # the neighbour; the reporter hears through reporter_id


# --- Anonymous reporting --------------------------------------------------------------------


def test_a_report_without_an_account_goes_public_after_the_e_mail_link(app, submit):
    with app.test_request_context("/"):
        report = submit(reporter_email="Ana@Example.org", reporter_name="Ana", locale="es")
    assert not report.is_public
    assert services.list_reports(services.ReportFilters()).total == 0
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.recipient == "ana@example.org")
    )
    assert message is not None and f"#{report.id}" in message.subject
    token = message.body.split("/reports/confirm/")[1].split()[0]
    services.confirm_report(token)
    services.confirm_report(token)  # twice changes nothing
    db.session.refresh(report)
    assert report.is_public and report.confirmed_at is not None
    assert services.list_reports(services.ReportFilters()).total == 1
    assert [u.kind for u in report.updates] == ["created", "confirmed"]
    with pytest.raises(DomainError):
        services.confirm_report(token + "x")


def test_anonymous_reports_need_an_e_mail_and_are_rate_limited(app, submit):
    with pytest.raises(DomainError) as error:
        submit(reporter_email=None, reporter_id=None)
    assert error.value.field == "email"
    with app.test_request_context("/"):
        for i in range(5):
            submit(reporter_email="spam@example.org", at=(CENTRO[0] + i * 0.001, CENTRO[1]))
        with pytest.raises(TooManyRequests):
            submit(reporter_email="spam@example.org")
    assert count(Report) == 5


# --- Privacy of sensitive categories ------------------------------------------------------


def test_sensitive_reports_are_public_only_to_about_100_m(submit):
    report = submit("noise", at=(-22.98123, -46.67456))
    assert (report.latitude, report.longitude) == (-22.98123, -46.67456)
    assert (report.public_latitude, report.public_longitude) != (report.latitude, report.longitude)
    from civic.core.geo import distance_m

    assert (
        distance_m(
            report.latitude, report.longitude, report.public_latitude, report.public_longitude
        )
        <= 75
    )
    data = services.map_data(None, 18, services.ReportFilters())
    assert data["points"][0][1:3] == [report.public_latitude, report.public_longitude]
    plain = submit("tree", at=(-22.98123, -46.67456))
    assert (plain.public_latitude, plain.public_longitude) == (plain.latitude, plain.longitude)


# --- Workflow -------------------------------------------------------------------------------


def test_state_changes_carry_a_public_message_and_set_the_times(submit, make_staff):
    report = submit()
    staff = make_staff("roads")
    services.change_state(staff.id, report.id, "acknowledged", "We will look at it this week.")
    services.change_state(staff.id, report.id, "resolved", "Filled with asphalt.")
    db.session.refresh(report)
    assert report.state == "resolved"
    assert report.acknowledged_at is not None and report.resolved_at is not None
    assert report.status_notes == "Filled with asphalt."
    states = [(u.kind, u.to_state, u.body) for u in report.updates if u.kind == "state"]
    assert states == [
        ("state", "acknowledged", "We will look at it this week."),
        ("state", "resolved", "Filled with asphalt."),
    ]
    with pytest.raises(DomainError) as error:
        services.change_state(staff.id, report.id, "in_progress", "  ")
    assert error.value.field == "message"


def test_refused_transitions(submit, make_staff):
    report = submit()
    staff = make_staff("roads")
    with pytest.raises(Conflict):
        services.change_state(staff.id, report.id, "new", "Back to new")
    with pytest.raises(DomainError) as error:
        services.change_state(staff.id, report.id, "closed", "Closing")
    assert error.value.field == "close_reason"
    with pytest.raises(DomainError) as error:
        services.change_state(
            staff.id, report.id, "closed", "Not ours", close_reason="not_responsible"
        )
    assert error.value.field == "referral"
    with pytest.raises(DomainError) as error:
        services.change_state(
            staff.id,
            report.id,
            "closed",
            "Dup",
            close_reason="duplicate",
            duplicate_of_id=report.id,
        )
    assert error.value.field == "duplicate_of"
    services.change_state(
        staff.id,
        report.id,
        "closed",
        "This is a state road.",
        close_reason="not_responsible",
        referral="State roads agency, 0800 000",
    )
    db.session.refresh(report)
    assert (report.state, report.close_reason, report.referral) == (
        "closed",
        "not_responsible",
        "State roads agency, 0800 000",
    )


def test_staff_of_another_department_cannot_change_a_report(submit, make_staff):
    report = submit()
    parks = make_staff("parks")
    for action in (
        lambda: services.change_state(parks.id, report.id, "acknowledged", "Mine now"),
        lambda: services.add_note(parks.id, report.id, "note"),
        lambda: services.post_message(parks.id, report.id, "hello"),
        lambda: services.assign_report(parks.id, report.id, parks.id),
        lambda: services.set_hidden(parks.id, report.id, True, "spam"),
    ):
        with pytest.raises(NotAllowed):
            action()
    db.session.refresh(report)
    assert report.state == "new" and len(report.updates) == 1


def test_internal_notes_are_for_the_department_only(submit, make_staff, make_user):
    report = submit()
    staff = make_staff("roads")
    services.add_note(staff.id, report.id, "Crew B knows this street.")
    public = services.visible_updates(report, None)
    assert [u.kind for u in public] == ["created"]
    assert [u.kind for u in services.visible_updates(report, staff)] == ["created", "note"]
    assert [u.kind for u in services.visible_updates(report, make_user())] == ["created"]
    assert [u.kind for u in services.visible_updates(report, make_staff("parks"))] == ["created"]


def test_assignment_only_to_staff_of_the_department(submit, make_staff):
    report = submit()
    lead, crew, parks = make_staff("roads"), make_staff("roads"), make_staff("parks")
    services.assign_report(lead.id, report.id, crew.id)
    assert report.assignee_id == crew.id
    with pytest.raises(DomainError):
        services.assign_report(lead.id, report.id, parks.id)


def test_reporter_reopens_within_14_days_only(submit, make_staff, make_user):
    report = submit()
    staff = make_staff("roads")
    resolved_at = utcnow() - timedelta(days=13)
    services.change_state(staff.id, report.id, "resolved", "Fixed", now=resolved_at)
    with pytest.raises(NotAllowed):
        services.reopen_report(report.id, "Still broken", user_id=make_user().id)
    services.reopen_report(report.id, "Still a hole there", user_id=report.reporter_id)
    db.session.refresh(report)
    assert (report.state, report.reopen_count, report.resolved_at) == ("new", 1, None)
    assert report.updates[-1].kind == "reopened"
    with pytest.raises(Conflict):
        services.reopen_report(report.id, "again", user_id=report.reporter_id)
    services.change_state(
        staff.id, report.id, "resolved", "Fixed again", now=utcnow() - timedelta(days=15)
    )
    with pytest.raises(Conflict) as error:
        services.reopen_report(report.id, "Still broken", user_id=report.reporter_id)
    assert "14 days" in str(error.value.message)
    db.session.refresh(report)
    assert report.state == "resolved"


def test_a_reporter_without_an_account_reopens_with_the_e_mailed_link(app, submit, make_staff):
    with app.test_request_context("/"):
        report = submit(reporter_email="ana@example.org")
        services.confirm_report(services.report_confirm_token(report))
        staff = make_staff("roads")
        services.change_state(staff.id, report.id, "resolved", "Fixed")
        token = services.reopen_link_token(report)
    services.reopen_report(report.id, "Not fixed at all", token=token)
    db.session.refresh(report)
    assert report.state == "new"


def test_merge_keeps_both_histories_and_moves_followers(submit, make_staff, make_user):
    first = submit()
    second = submit(reporter_id=make_user().id)
    staff = make_staff("roads")
    services.merge_report(staff.id, second.id, first.id)
    db.session.refresh(first)
    db.session.refresh(second)
    assert (second.state, second.close_reason, second.duplicate_of_id) == (
        "closed",
        "duplicate",
        first.id,
    )
    assert first.updates[-1].kind == "merged" and first.updates[-1].data["from"] == second.id
    followers = set(
        db.session.scalars(
            select(ReportFollower.user_id).where(ReportFollower.report_id == first.id)
        )
    )
    assert second.reporter_id in followers  # the first reporter hears through reporter_id
    assert first.supporter_count == 1


def test_bulk_change_is_all_or_nothing(submit, make_staff):
    roads_reports = [submit(at=(CENTRO[0] + i * 0.001, CENTRO[1])) for i in range(3)]
    parks_report = submit("tree")
    staff = make_staff("roads")
    with pytest.raises(NotAllowed):
        services.bulk_change_state(
            staff.id,
            [r.id for r in roads_reports] + [parks_report.id],
            "acknowledged",
            "On our list",
        )
    assert db.session.scalar(select(func.count()).where(Report.state != "new")) == 0
    changed = services.bulk_change_state(
        staff.id, [r.id for r in roads_reports], "acknowledged", "On our list"
    )
    assert changed == 3
    assert db.session.scalar(select(func.count()).where(Report.state == "acknowledged")) == 3
    with pytest.raises(DomainError):
        services.bulk_change_state(staff.id, [roads_reports[0].id], "acknowledged", "again")


def test_two_staff_changing_the_same_report_at_once_one_wins(app, submit, make_staff):
    report = submit()
    a, b = make_staff("roads"), make_staff("roads")
    ids = (report.id, a.id, b.id)
    db.session.commit()
    barrier = threading.Barrier(2)
    results = []

    def change(actor_id, state):
        with app.app_context():
            barrier.wait()
            try:
                services.change_state(actor_id, ids[0], state, f"to {state}")
                results.append("ok")
            except Conflict:
                results.append("conflict")
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=change, args=(ids[1], "resolved")),
        threading.Thread(target=change, args=(ids[2], "in_progress")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    report = db.session.get(Report, ids[0])
    state_updates = [u for u in report.updates if u.kind == "state"]
    # Either one wins and the other is told, or they ran one after the other and both are valid moves.
    assert len(state_updates) == results.count("ok")
    assert report.state == state_updates[-1].to_state


# --- Notifications --------------------------------------------------------------------------


def test_followers_hear_of_public_changes_in_their_language(app, submit, make_staff, make_user):
    reporter = make_user(email="ko@example.org", locale="ko")
    report = submit(reporter_id=reporter.id)
    follower = make_user(email="fan@example.org", locale="es")
    services.support_report(report.id, user_id=follower.id)
    staff = make_staff("roads", email="crew@example.org")
    with app.test_request_context("/"):
        services.add_note(staff.id, report.id, "internal only")
        assert count(OutboxMessage) == 0
        services.change_state(staff.id, report.id, "resolved", "Fixed today.")
    recipients = set(db.session.scalars(select(OutboxMessage.recipient)))
    assert recipients == {"ko@example.org", "fan@example.org"}
    body = db.session.scalar(
        select(OutboxMessage.body).where(OutboxMessage.recipient == "fan@example.org")
    )
    assert "Fixed today." in body and f"/reports/{report.id}" in body
    # The job is safe to run twice.
    from civic.reports.jobs import notify_followers

    update = db.session.scalar(select(ReportUpdate).where(ReportUpdate.kind == "state"))
    assert notify_followers(update.id) == 0
    assert count(OutboxMessage) == 2


def test_daily_digest_at_most_once_a_day_and_never_empty(
    app, submit, make_user, districts, categories
):
    from civic.reports.jobs import send_daily_digests

    subscriber = make_user(email="sub@example.org")
    services.subscribe(subscriber.id, districts["centro"].id, None)
    services.subscribe(subscriber.id, None, categories["noise"].id)
    with pytest.raises(Conflict):
        services.subscribe(subscriber.id, districts["centro"].id, None)
    with app.test_request_context("/"):
        assert send_daily_digests() == 0  # nothing new: no e-mail
        submit(at=CENTRO)
        submit("noise", at=RIBEIRA)
        submit(at=PORTO)  # neither subscription
        assert send_daily_digests() == 1
        body = db.session.scalar(
            select(OutboxMessage.body).where(OutboxMessage.recipient == "sub@example.org")
        )
        assert body.count("/reports/") >= 2
        submit("tree", at=(CENTRO[0] + 0.001, CENTRO[1]))
        assert send_daily_digests() == 0  # already sent today
        assert send_daily_digests(now=utcnow() + timedelta(days=1)) == 1
    assert (
        db.session.scalar(select(func.count()).where(OutboxMessage.recipient == "sub@example.org"))
        == 2
    )


# --- Lists, map, statistics -----------------------------------------------------------------


def test_filters_and_public_visibility(app, submit, categories, districts, make_staff):
    submit(at=CENTRO)
    submit("tree", at=RIBEIRA)
    with app.test_request_context("/"):
        submit(reporter_email="x@example.org", at=PORTO)  # unconfirmed
    hidden = submit(at=(CENTRO[0] + 0.002, CENTRO[1]))
    services.set_hidden(make_staff("roads").id, hidden.id, True, "Duplicate spam")
    everything = services.list_reports(services.ReportFilters())
    assert everything.total == 2
    by_category = services.list_reports(
        services.ReportFilters(category_ids=(categories["tree"].id,))
    )
    assert [r.category_id for r in by_category.items] == [categories["tree"].id]
    by_district = services.list_reports(
        services.ReportFilters(district_ids=(districts["centro"].id,))
    )
    assert by_district.total == 1
    assert services.list_reports(services.ReportFilters(states=("resolved",))).total == 0
    today = utcnow().date()
    assert (
        services.list_reports(
            services.ReportFilters(date_from=today - timedelta(days=1), date_to=today)
        ).total
        == 2
    )
    assert (
        services.list_reports(services.ReportFilters(date_to=today - timedelta(days=2))).total == 0
    )


@pytest.fixture(params=["index", "sql"])
def map_source(request, app):
    """Both ways of answering the map: the in-memory index and the database's aggregation."""
    app.config["CIVIC_REPORT_MAP_INDEX"] = 1 if request.param == "index" else 0
    return request.param


def test_map_data_points_when_zoomed_in_and_exact_counts_when_zoomed_out(app, submit, map_source):
    for i in range(5):
        submit(at=(CENTRO[0] + i * 0.0005, CENTRO[1]))
    submit(at=RIBEIRA)
    points = services.map_data(None, 16, services.ReportFilters())
    assert points["mode"] == "points" and len(points["points"]) == 6
    clusters = services.map_data(None, 11, services.ReportFilters())
    assert clusters["mode"] == "clusters"
    assert sorted(c[0] for c in clusters["clusters"]) == [1, 5]
    single = next(c for c in clusters["clusters"] if c[0] == 1)
    assert single[3] == max(
        r.id for r in db.session.scalars(select(Report)) if r.latitude == RIBEIRA[0]
    )
    bbox = (CENTRO[0] - 0.01, CENTRO[1] - 0.01, CENTRO[0] + 0.01, CENTRO[1] + 0.01)
    assert services.map_data(bbox, 16, services.ReportFilters())["total"] == 5
    app.config["CIVIC_REPORT_MAP_MAX_POINTS"] = 3
    assert services.map_data(None, 16, services.ReportFilters())["mode"] == "clusters"


def test_map_data_follows_every_change(app, submit, make_staff, categories, map_source):
    first = submit()
    new_only = services.ReportFilters(states=("new",))
    assert services.map_data(None, 16, new_only)["total"] == 1
    staff = make_staff("roads")
    services.change_state(staff.id, first.id, "acknowledged", "Seen")
    assert services.map_data(None, 16, new_only)["total"] == 0
    second = submit(at=PORTO)
    assert services.map_data(None, 16, services.ReportFilters())["total"] == 2
    services.set_hidden(staff.id, second.id, True, "Spam")
    assert services.map_data(None, 16, services.ReportFilters())["total"] == 1
    services.recategorise(staff.id, first.id, categories["streetlight"].id)
    by_category = services.ReportFilters(category_ids=(categories["streetlight"].id,))
    assert services.map_data(None, 16, by_category)["points"][0][0] == first.id
    with app.test_request_context("/"):
        pending = submit(reporter_email="z@example.org", at=RIBEIRA)
    assert services.map_data(None, 16, services.ReportFilters())["total"] == 1
    services.confirm_report(services.report_confirm_token(pending))
    assert services.map_data(None, 16, services.ReportFilters())["total"] == 2
    today = utcnow().date()
    assert (
        services.map_data(None, 12, services.ReportFilters(date_from=today - timedelta(days=1)))[
            "total"
        ]
        == 2
    )
    assert (
        services.map_data(None, 12, services.ReportFilters(date_to=today - timedelta(days=2)))[
            "total"
        ]
        == 0
    )


def test_statistics(submit, make_staff):
    staff = make_staff("roads")
    start = utcnow() - timedelta(days=10)
    quick = submit(now=start)
    slow = submit(now=start, at=PORTO)
    submit(now=start, at=RIBEIRA)  # still new: overdue (5-day target)
    services.change_state(staff.id, quick.id, "acknowledged", "ok", now=start + timedelta(hours=2))
    services.change_state(staff.id, quick.id, "resolved", "done", now=start + timedelta(days=1))
    services.change_state(staff.id, slow.id, "acknowledged", "ok", now=start + timedelta(hours=4))
    services.change_state(staff.id, slow.id, "resolved", "done", now=start + timedelta(days=7))
    stats = services.statistics(staff.id, 30)
    assert stats.total == 3
    assert stats.median_hours_to_acknowledge == pytest.approx(3)
    assert stats.median_hours_to_resolve == pytest.approx(96)
    assert (stats.resolved_count, stats.resolved_within_target) == (2, 1)
    assert stats.share_within_target == 0.5
    assert len(stats.overdue) == 1
    assert sum(n for _w, n in stats.by_week) == 3
    assert [n for _c, n in stats.by_category] == [3]


def test_hotspots_are_computed_by_a_job_and_cached(submit):
    for i in range(3):
        submit(at=(PORTO[0] + i * 0.0001, PORTO[1]), now=utcnow() - timedelta(weeks=i))
    submit(at=RIBEIRA)
    result = services.get_hotspots(None, 90, 9)
    assert result is not None and result.report_count == 4
    assert [(c["count"], c["weeks"]) for c in result.cells] == [(3, 3)]
    computed_at = result.computed_at
    submit(at=(PORTO[0], PORTO[1] + 0.0001))
    again = services.get_hotspots(None, 90, 9)
    assert (
        again.computed_at == computed_at and again.cells[0]["count"] == 3
    )  # served from the cache
    fresh = services.get_hotspots(None, 90, 9, refresh=True)
    assert fresh.cells[0]["count"] == 4
    with pytest.raises(DomainError):
        services.get_hotspots(None, 45, 9)


def test_api_keys_are_stored_hashed_and_can_be_revoked(make_user):
    admin = make_user(roles=("admin",))
    client, key = services.issue_api_key(admin.id, "City app", "dev@example.org")
    assert key not in (client.key_hash, client.key_prefix) and key.startswith(client.key_prefix)
    assert services.authenticate_api_key(key).id == client.id
    assert services.authenticate_api_key(key + "x") is None
    services.revoke_api_key(admin.id, client.id)
    assert services.authenticate_api_key(key) is None
