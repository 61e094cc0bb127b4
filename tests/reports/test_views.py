"""Report pages: the form with and without JavaScript, photos without metadata, who may do
what, staff pages, administration, map data and assets."""

from __future__ import annotations

import gzip
import io
import json
import re

import pytest
from sqlalchemy import func, select

from civic.core.models import OutboxMessage, StoredFile
from civic.extensions import db
from civic.reports import services
from civic.reports.models import Category, Open311Client, Report
from tests.conftest import DEMO_PASSWORD
from tests.reports.conftest import CENTRO, OUTSIDE, assert_no_metadata, jpeg_with_gps


def login(client, user):
    response = client.post("/account/login", data={"email": user.email, "password": DEMO_PASSWORD})
    assert response.status_code == 302


def page(response) -> str:
    return response.get_data(as_text=True)


def form_data(**overrides):
    data = {
        "category": "pothole",
        "latitude": str(CENTRO[0]),
        "longitude": str(CENTRO[1]),
        "address": "Rua Central 10",
        "description": "Big hole by the bakery",
        "q_size": "large",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def fetch(client, url):
    response = client.get(url)
    response.get_data()
    response.close()
    return response


# --- Who may use what -----------------------------------------------------------------------


def _guarded_routes(app):
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("reports."):
            continue
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "required_roles", None)
        if roles is None:
            continue
        method = "POST" if "POST" in rule.methods and "GET" not in rule.methods else "GET"
        url = re.sub(r"<int:\w+>", "1", rule.rule)
        yield rule.endpoint, method, url, roles


def test_staff_and_admin_routes_declare_their_roles(app):
    routes = list(_guarded_routes(app))
    assert len(routes) >= 15
    assert {roles for _e, _m, _u, roles in routes} == {("staff",), ("admin",)}


@pytest.mark.parametrize("who", ["anonymous", "resident", "judge", "staff"])
def test_wrong_roles_are_refused(app, make_user, who, categories):
    client = app.test_client()
    if who != "anonymous":
        login(client, make_user(roles=(who,)))
    checked = 0
    for endpoint, method, url, roles in _guarded_routes(app):
        if who in roles:
            continue
        response = client.open(url, method=method)
        if who == "anonymous":
            assert (
                response.status_code == 302 and "/account/login" in response.headers["Location"]
            ), endpoint
        else:
            assert response.status_code == 403, (endpoint, response.status_code)
        checked += 1
    assert checked >= (5 if who == "staff" else 15)


def test_login_required_pages(client):
    for url in ("/reports/mine", "/reports/subscriptions"):
        response = client.get(url)
        assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_staff_of_another_department_gets_403_and_nothing_changes(client, submit, make_staff):
    report = submit()
    login(client, make_staff("parks"))
    for path, data in [
        ("state", {"state": "acknowledged", "message": "mine"}),
        ("note", {"note": "x"}),
        ("msg", None),
    ]:
        url = f"/reports/{report.id}/{'message' if path == 'msg' else path}"
        response = client.post(url, data=data or {"msg-message": "hello"})
        assert response.status_code == 403
    db.session.refresh(report)
    assert report.state == "new" and len(report.updates) == 1


# --- Reporting ----------------------------------------------------------------------------


def test_choose_a_category_first(client, categories):
    body = page(client.get("/reports/new"))
    assert "/reports/new?category=pothole" in body and "Fallen tree" in body
    assert client.get("/reports/new?category=nope").status_code == 404


def test_the_form_shows_the_category_questions(client, categories):
    body = page(client.get("/reports/new?category=pothole"))
    assert 'name="q_size"' in body and "How big is it?" in body
    assert 'name="q_lanes"' in body and 'type="checkbox"' in body
    assert 'name="latitude"' in body and 'name="district"' in body  # works without JavaScript


def test_report_with_typed_coordinates_and_a_gps_photo_serves_no_metadata(
    client, make_user, categories
):
    login(client, make_user())
    response = client.post(
        "/reports/new?category=pothole",
        data={**form_data(), "photos": (io.BytesIO(jpeg_with_gps()), "IMG_0001.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, page(response)[:2000]
    report = db.session.scalar(select(Report))
    assert response.headers["Location"].endswith(f"/reports/{report.id}")
    assert (report.latitude, report.longitude, report.answers) == (
        CENTRO[0],
        CENTRO[1],
        {"size": "large"},
    )
    body = page(client.get(f"/reports/{report.id}"))
    urls = set(re.findall(r'(/files/[^"]+\.jpg)', body))
    assert len(urls) == 2  # the display copy shown, the original linked
    for url in urls:
        served = fetch(client, url)
        assert served.status_code == 200 and served.mimetype == "image/jpeg"
        assert "immutable" in served.headers["Cache-Control"]
        assert_no_metadata(served.data)
    stored = db.session.scalar(select(StoredFile))
    with open(f"{client.application.config['CIVIC_UPLOAD_FOLDER']}/{stored.key}", "rb") as handle:
        assert_no_metadata(handle.read())


def test_errors_keep_everything_and_sit_next_to_the_field(client, make_user, categories):
    login(client, make_user())
    response = client.post(
        "/reports/new?category=pothole", data=form_data(description="", q_size="small")
    )
    assert response.status_code == 400
    body = page(response)
    assert 'id="description-error"' in body
    assert 'value="Rua Central 10"' in body and f'value="{CENTRO[0]}"' in body
    assert re.search(r'<option selected value="small">|<option value="small" selected', body)
    response = client.post(
        "/reports/new?category=pothole",
        data=form_data(latitude=str(OUTSIDE[0]), longitude=str(OUTSIDE[1])),
    )
    assert response.status_code == 400
    body = page(response)
    assert 'id="location-error"' in body and "outside" in body
    assert "Big hole by the bakery" in body
    response = client.post("/reports/new?category=pothole", data=form_data(q_size=None))
    assert response.status_code == 400 and 'id="q_size-error"' in page(response)
    response = client.post("/reports/new?category=pothole", data=form_data(latitude="91"))
    assert response.status_code == 400 and 'id="latitude-error"' in page(response)
    assert db.session.scalar(select(func.count(Report.id))) == 0


def test_errors_are_translated(client, make_user, categories):
    login(client, make_user(locale="es"))
    response = client.post(
        "/reports/new?category=pothole", data=form_data(description="<script>x</script>")
    )
    assert response.status_code == 400
    from flask_babel import force_locale, gettext

    with client.application.test_request_context("/"), force_locale("es"):
        expected = gettext("Please describe the problem in plain text, without HTML or code.")
    assert expected in page(response)


def test_fake_image_is_refused_next_to_the_photo_field(client, make_user, categories):
    login(client, make_user())
    response = client.post(
        "/reports/new?category=pothole",
        data={**form_data(), "photos": (io.BytesIO(b"GIF89a not really"), "cat.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert 'id="photos-error"' in page(response)
    assert db.session.scalar(select(func.count(Report.id))) == 0
    assert db.session.scalar(select(func.count(StoredFile.id))) == 0


def test_district_list_stands_in_for_the_map(client, make_user, categories, districts):
    login(client, make_user())
    response = client.post(
        "/reports/new?category=tree",
        data=form_data(
            category="tree",
            latitude=None,
            longitude=None,
            q_size=None,
            district=str(districts["vila-nova"].id),
        ),
    )
    assert response.status_code == 302
    report = db.session.scalar(select(Report))
    assert report.district_id == districts["vila-nova"].id and report.is_location_approximate


def test_duplicate_step_without_javascript_keeps_the_photos(client, make_user, submit):
    existing = submit()
    login(client, make_user())
    near = form_data(latitude=str(CENTRO[0] + 0.0001))
    response = client.post(
        "/reports/new?category=pothole",
        data={**near, "photos": (io.BytesIO(jpeg_with_gps()), "p.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    body = page(response)
    assert f"/reports/{existing.id}/support" in body and "Already reported nearby?" in body
    kept = re.findall(r'name="kept_photo" value="([^"]+)"', body)
    assert len(kept) == 1
    assert db.session.scalar(select(func.count(Report.id))) == 1
    response = client.post(
        "/reports/new?category=pothole", data={**near, "confirm_new": "1", "kept_photo": kept}
    )
    assert response.status_code == 302
    new_report = db.session.scalar(select(Report).order_by(Report.id.desc()))
    assert new_report.id != existing.id and len(new_report.photos) == 1


def test_me_too_from_the_duplicate_step(client, make_user, submit):
    existing = submit()
    login(client, make_user())
    response = client.post(f"/reports/{existing.id}/support", data=form_data())
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/reports/{existing.id}"
    )
    db.session.refresh(existing)
    assert existing.supporter_count == 1
    assert db.session.scalar(select(func.count(Report.id))) == 1


def test_nearby_fragment_for_the_live_check(client, submit):
    existing = submit()
    body = page(
        client.get(
            f"/reports/nearby?category=pothole&latitude={CENTRO[0] + 0.0001}&longitude={CENTRO[1]}"
        )
    )
    assert f"#{existing.id}" in body and "m away" in body
    assert "Already reported" not in page(
        client.get("/reports/nearby?category=tree&latitude=-22.98&longitude=-46.675")
    )
    assert (
        client.get("/reports/nearby?category=pothole&latitude=999&longitude=0").status_code == 200
    )


def test_anonymous_report_waits_for_the_e_mail_link(client, categories):
    response = client.post(
        "/reports/new?category=tree",
        data=form_data(category="tree", q_size=None, email="Rui@Example.org", name="Rui"),
    )
    assert response.status_code == 202
    assert "rui@example.org" in page(response)
    report = db.session.scalar(select(Report))
    assert not report.is_public
    assert client.get(f"/reports/{report.id}").status_code == 404
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.recipient == "rui@example.org")
    )
    link = re.search(r"http://localhost(/reports/confirm/\S+)", message.body).group(1)
    assert client.get(link).status_code == 302
    assert client.get(f"/reports/{report.id}").status_code == 200
    missing = client.post(
        "/reports/new?category=tree", data=form_data(category="tree", q_size=None)
    )
    assert missing.status_code == 400 and 'id="email-error"' in page(missing)


def test_name_is_hidden_unless_chosen(client, make_user, categories):
    user = make_user(display_name="Maria Secret")
    login(client, user)
    client.post("/reports/new?category=tree", data=form_data(category="tree", q_size=None))
    client.post(
        "/reports/new?category=tree",
        data=form_data(category="tree", q_size=None, latitude="-22.981", is_name_public="y"),
    )
    first, second = db.session.scalars(select(Report).order_by(Report.id)).all()
    anonymous = fetch(client.application.test_client(), f"/reports/{first.id}")
    assert "Maria Secret" not in page(anonymous)
    assert "Maria Secret" in page(fetch(client.application.test_client(), f"/reports/{second.id}"))


def test_sensitive_report_page_hides_address_and_photos(client, submit, make_staff):
    report = submit("noise", address="Rua das Flores 12, apt 3", photos=[jpeg_with_gps()])
    body = page(client.get(f"/reports/{report.id}"))
    assert "Flores 12" not in body and "/files/" not in body and "about 100 m" in body
    login(client, make_staff("parks"))
    staff_body = page(client.get(f"/reports/{report.id}"))
    assert "Flores 12" in staff_body and "/files/" in staff_body


def test_report_page_timeline_hides_internal_notes(client, submit, make_staff):
    report = submit()
    staff = make_staff("roads")
    services.add_note(staff.id, report.id, "SECRET crew note")
    services.change_state(staff.id, report.id, "in_progress", "Crew on site")
    body = page(client.get(f"/reports/{report.id}"))
    assert "Crew on site" in body and "SECRET" not in body
    login(client, staff)
    assert "SECRET crew note" in page(client.get(f"/reports/{report.id}"))


# --- Residents' follow-up --------------------------------------------------------------------


def test_reporter_reopens_from_the_page(client, submit, make_staff, make_user):
    report = submit()
    services.change_state(make_staff("roads").id, report.id, "resolved", "Done")
    reporter = db.session.get(type(make_user()), report.reporter_id)
    login(client, reporter)
    assert "Reopen the report" in page(client.get(f"/reports/{report.id}"))
    assert (
        client.post(f"/reports/{report.id}/reopen", data={"reopen-message": ""}).status_code == 400
    )
    assert (
        client.post(
            f"/reports/{report.id}/reopen", data={"reopen-message": "Still there"}
        ).status_code
        == 302
    )
    db.session.refresh(report)
    assert report.state == "new"


def test_me_too_and_follow_pages(client, submit, make_user):
    report = submit()
    anonymous = client.post(f"/reports/{report.id}/support", data={})
    assert anonymous.status_code == 400 and 'id="email-error"' in page(anonymous)
    assert (
        client.post(f"/reports/{report.id}/support", data={"email": "n@example.org"}).status_code
        == 302
    )
    user = make_user()
    login(client, user)
    assert client.post(f"/reports/{report.id}/follow", data={"follow": "1"}).status_code == 302
    assert services.follower_state(report.id, user.id) == (True, False)
    assert f"/reports/{report.id}" in page(client.get("/reports/mine"))


def test_subscriptions_page(client, make_user, districts, categories):
    user = make_user()
    login(client, user)
    assert (
        client.post("/reports/subscriptions", data={"district": "0", "category": "0"}).status_code
        == 400
    )
    assert (
        client.post(
            "/reports/subscriptions", data={"district": str(districts["porto"].id), "category": "0"}
        ).status_code
        == 302
    )
    subscription = services.list_subscriptions(user.id)[0]
    assert client.post(f"/reports/subscriptions/{subscription.id}/delete").status_code == 302
    assert services.list_subscriptions(user.id) == []


# --- Staff ------------------------------------------------------------------------------------


def test_staff_changes_state_from_the_page(client, submit, make_staff):
    report = submit()
    login(client, make_staff("roads"))
    assert (
        client.post(
            f"/reports/{report.id}/state", data={"state": "resolved", "message": ""}
        ).status_code
        == 400
    )
    response = client.post(
        f"/reports/{report.id}/state",
        data={"state": "closed", "message": "Not ours", "close_reason": "not_responsible"},
    )
    assert response.status_code == 400 and 'id="referral-error"' in page(response)
    assert (
        client.post(
            f"/reports/{report.id}/state", data={"state": "resolved", "message": "Fixed it"}
        ).status_code
        == 302
    )
    db.session.refresh(report)
    assert report.state == "resolved"


def test_merge_from_the_page(client, submit, make_staff, make_user):
    first = submit()
    second = submit(reporter_id=make_user().id)
    login(client, make_staff("roads"))
    response = client.post(
        f"/reports/{second.id}/state",
        data={
            "state": "closed",
            "message": "",
            "close_reason": "duplicate",
            "duplicate_of": str(first.id),
        },
    )
    assert response.status_code == 400  # WTForms requires the message
    response = client.post(
        f"/reports/{second.id}/state",
        data={
            "state": "closed",
            "message": "Same hole",
            "close_reason": "duplicate",
            "duplicate_of": str(first.id),
        },
    )
    assert response.status_code == 302
    db.session.refresh(second)
    assert second.duplicate_of_id == first.id


def test_queue_filters_and_bulk(client, submit, make_staff):
    reports = [submit(at=(CENTRO[0] + i * 0.001, CENTRO[1])) for i in range(3)]
    tree = submit("tree")
    staff = make_staff("roads")
    login(client, staff)
    body = page(client.get("/reports/staff"))
    assert all(f'name="report_ids" value="{r.id}"' in body for r in reports)
    assert f'name="report_ids" value="{tree.id}"' not in body
    fragment = page(
        client.get(f"/reports/staff?q=%23{reports[0].id}", headers={"HX-Request": "true"})
    )
    assert (
        "<html" not in fragment
        and f'value="{reports[0].id}"' in fragment
        and f'value="{reports[1].id}"' not in fragment
    )
    response = client.post(
        "/reports/staff/bulk",
        data={
            "report_ids": [str(r.id) for r in reports[:2]],
            "state": "acknowledged",
            "message": "",
        },
    )
    assert response.status_code == 400
    response = client.post(
        "/reports/staff/bulk",
        data={
            "report_ids": [str(r.id) for r in reports[:2]],
            "state": "acknowledged",
            "message": "Planned",
        },
    )
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).where(Report.state == "acknowledged")) == 2
    assert "2 reports changed." in page(client.get(response.headers["Location"]))
    # One report: the singular, and in Arabic the form of one (no number needed).
    one = {"report_ids": [str(reports[2].id)], "state": "acknowledged", "message": "Planned"}
    response = client.post("/reports/staff/bulk", data=one)
    assert "1 report changed." in page(client.get(response.headers["Location"]))
    both = {
        "report_ids": [str(r.id) for r in reports[:2]],
        "state": "in_progress",
        "message": "Soon",
    }
    response = client.post("/reports/staff/bulk?lang=ar", data=both)
    assert "تم تعديل بلاغين." in page(client.get(response.headers["Location"] + "?lang=ar"))


def test_statistics_and_hotspots_pages(client, submit, make_staff):
    for i in range(3):
        submit(at=(CENTRO[0] + i * 0.0001, CENTRO[1]))
    login(client, make_staff("roads"))
    stats = page(client.get("/reports/staff/statistics?period=30"))
    assert "Pothole" in stats and "Centro" in stats
    hotspots = page(client.get("/reports/staff/hotspots?period=90&resolution=9"))
    assert 'data-mode="hotspots"' in hotspots and "Centro" in hotspots
    cells = json.loads(
        re.search(r'data-hexagons="([^"]+)"', hotspots)
        .group(1)
        .replace("&#34;", '"')
        .replace("&quot;", '"')
    )
    assert cells[0]["n"] == 3
    assert (
        client.post("/reports/staff/hotspots", data={"period": "90", "resolution": "9"}).status_code
        == 200
    )


# --- Administration --------------------------------------------------------------------------


def test_admin_adds_a_category_with_a_question(client, make_user, departments):
    login(client, make_user(roles=("admin",)))
    response = client.post(
        "/reports/admin/categories",
        data={
            "code": "Bad Code!",
            "name_en": "Broken bench",
            "department": str(departments["parks"].id),
            "target_days": "10",
            "is_active": "y",
        },
    )
    assert response.status_code == 400 and 'id="code-error"' in page(response)
    response = client.post(
        "/reports/admin/categories",
        data={
            "code": "bench",
            "name_en": "Broken bench",
            "name_ko": "벤치 파손",
            "department": str(departments["parks"].id),
            "target_days": "10",
            "is_active": "y",
        },
    )
    assert response.status_code == 302
    category = db.session.scalar(select(Category).where(Category.code == "bench"))
    assert category.name == {"en": "Broken bench", "ko": "벤치 파손"}
    response = client.post(
        f"/reports/admin/categories/{category.id}/questions",
        data={
            "code": "material",
            "datatype": "singlevaluelist",
            "prompt": "Material?",
            "options": "wood: Wood\nmetal: Metal",
            "is_required": "y",
        },
    )
    assert response.status_code == 302
    db.session.refresh(category)
    assert [(q.code, q.is_required, [o["key"] for o in q.options]) for q in category.questions] == [
        ("material", True, ["wood", "metal"])
    ]
    bad = client.post(
        f"/reports/admin/categories/{category.id}/questions",
        data={"code": "x", "datatype": "singlevaluelist", "prompt": "Only one?", "options": "a: A"},
    )
    assert bad.status_code == 400


def test_admin_issues_an_api_key_shown_once(client, make_user):
    login(client, make_user(roles=("admin",)))
    response = client.post(
        "/reports/admin/api-keys", data={"name": "Bus app", "contact_email": "dev@example.org"}
    )
    key = re.search(r'<code class="api-key">([^<]+)</code>', page(response)).group(1)
    assert services.authenticate_api_key(key) is not None
    assert key not in page(client.get("/reports/admin/api-keys"))
    client_row = db.session.scalar(select(Open311Client))
    assert client.post(f"/reports/admin/api-keys/{client_row.id}/revoke").status_code == 302
    db.session.expire_all()
    assert services.authenticate_api_key(key) is None


# --- Public pages and data --------------------------------------------------------------------


def test_index_lists_and_filters(client, submit, categories):
    submit()
    submit("tree", at=(CENTRO[0] + 0.01, CENTRO[1]))
    body = page(client.get("/reports/"))
    assert 'id="reports-map"' in body and "2 reports" in body
    fragment = page(
        client.get(f"/reports/?category={categories['tree'].id}", headers={"HX-Request": "true"})
    )
    assert "1 report" in fragment and "<html" not in fragment
    assert "0 reports" in page(client.get("/reports/?state=resolved"))
    assert client.get("/reports/?date_from=not-a-date").status_code == 200


def test_map_data_is_compact_and_compressed(client, submit):
    for i in range(40):
        submit(at=(CENTRO[0] + 0.0001 * i, CENTRO[1]))
    response = client.get(
        "/reports/map.json?bbox=-46.7,-23.0,-46.55,-22.92&zoom=16",
        headers={"Accept-Encoding": "gzip"},
    )
    assert response.headers["Content-Encoding"] == "gzip"
    data = json.loads(gzip.decompress(response.data))
    assert data["mode"] == "points" and len(data["points"]) == 40 and len(data["points"][0]) == 6
    clusters = client.get("/reports/map.json?zoom=10").get_json()
    assert clusters["mode"] == "clusters" and clusters["total"] == 40
    assert client.get("/reports/map.json?bbox=garbage&zoom=abc").status_code == 200


def test_assets_are_compressed_versioned_and_revalidated(client):
    response = client.get("/reports/assets/leaflet.js", headers={"Accept-Encoding": "gzip, br"})
    assert response.headers["Content-Encoding"] == "gzip" and len(response.data) < 50_000
    etag = response.headers["ETag"].strip('"')
    assert (
        client.get("/reports/assets/leaflet.js", headers={"If-None-Match": f'"{etag}"'}).status_code
        == 304
    )
    versioned = client.get(f"/reports/assets/reports.js?v={etag}")
    assert client.get("/reports/assets/../../config.py").status_code == 404
    assert client.get("/reports/assets/secret.txt").status_code == 404
    assert versioned.status_code == 200


def test_districts_geojson(client, districts):
    data = client.get("/reports/districts.geojson").get_json()
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 6
