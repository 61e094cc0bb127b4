"""Open311 GeoReport v2: every endpoint in JSON and XML, errors included, as the reference says."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from civic.core.time import utcnow
from civic.extensions import db
from civic.reports import services
from civic.reports.models import Report, ReportUpdate
from tests.reports.conftest import CENTRO, OUTSIDE, assert_no_metadata, jpeg_with_gps

W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
BASE = "/open311/v2"
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


@pytest.fixture
def api_key(make_user):
    admin = make_user(roles=("admin",))
    _client, key = services.issue_api_key(admin.id, "Test app", "dev@example.org")
    return key


def xml(response) -> ET.Element:
    body = response.get_data(as_text=True)
    assert body.startswith('<?xml version="1.0" encoding="utf-8"?>')
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    return ET.fromstring(body.split("?>", 1)[1])


def json_of(response):
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    return response.get_json()


def assert_error(response, status: int, fmt: str = "json") -> str:
    assert response.status_code == status
    if fmt == "json":
        errors = json_of(response)
        assert isinstance(errors, list) and errors
        assert errors[0]["code"] == status and errors[0]["description"]
        return errors[0]["description"]
    root = xml(response)
    assert root.tag == "errors"
    error = root.find("error")
    assert error.findtext("code") == str(status) and error.findtext("description")
    return error.findtext("description")


def test_discovery_in_both_formats(client, categories):
    data = json_of(client.get(f"{BASE}/discovery.json"))
    assert set(data) == {"changeset", "contact", "key_service", "endpoints"}
    endpoint = data["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert endpoint["url"].endswith("/open311/v2") and endpoint["type"] == "production"
    assert W3C.match(data["changeset"])
    root = xml(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.find("endpoints/endpoint/formats").findall("format")] == [
        "text/xml",
        "application/json",
    ]


def test_service_list(client, categories):
    services_json = json_of(client.get(f"{BASE}/services.json"))
    assert isinstance(services_json, list) and len(services_json) == 4
    pothole = next(s for s in services_json if s["service_code"] == "pothole")
    assert pothole == {
        "service_code": "pothole",
        "service_name": "Pothole",
        "description": "",
        "metadata": True,
        "type": "realtime",
        "keywords": "",
        "group": "Roads",
    }
    assert next(s for s in services_json if s["service_code"] == "noise")["metadata"] is False
    root = xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and len(root.findall("service")) == 4
    first = root.find("service")
    assert first.findtext("metadata") in ("true", "false") and first.findtext("type") == "realtime"
    # Names follow the reader's language.
    spanish = json_of(client.get(f"{BASE}/services.json", headers={"Accept-Language": "es"}))
    assert next(s for s in spanish if s["service_code"] == "pothole")["service_name"] == "Bache"


def test_service_definition(client, categories):
    data = json_of(client.get(f"{BASE}/services/pothole.json"))
    assert data["service_code"] == "pothole"
    size, depth, seen, lanes = data["attributes"]
    assert size == {
        "variable": True,
        "code": "size",
        "datatype": "singlevaluelist",
        "required": True,
        "datatype_description": None,
        "order": 1,
        "description": "How big is it?",
        "values": [{"key": "small", "name": "Small"}, {"key": "large", "name": "Large"}],
    }
    assert (depth["datatype"], depth["required"], depth["order"]) == ("number", False, 2)
    assert seen["datatype"] == "datetime" and lanes["datatype"] == "multivaluelist"
    root = xml(client.get(f"{BASE}/services/pothole.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "pothole"
    attribute = root.find("attributes/attribute")
    assert attribute.findtext("required") == "true" and attribute.findtext("variable") == "true"
    assert [v.findtext("key") for v in attribute.findall("values/value")] == ["small", "large"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_code_is_404(client, categories, fmt):
    assert "nope" in assert_error(client.get(f"{BASE}/services/nope.{fmt}"), 404, fmt)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_without_or_with_a_wrong_key_is_403(client, categories, api_key, fmt):
    data = {
        "service_code": "pothole",
        "lat": CENTRO[0],
        "long": CENTRO[1],
        "attribute[size]": "small",
        "description": "x",
    }
    assert "api_key" in assert_error(client.post(f"{BASE}/requests.{fmt}", data=data), 403, fmt)
    assert_error(
        client.post(f"{BASE}/requests.{fmt}", data={**data, "api_key": api_key + "x"}), 403, fmt
    )
    assert db.session.scalar(select(func.count(Report.id))) == 0


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_creates_a_report_through_the_same_rules(client, categories, api_key, fmt, districts):
    response = client.post(
        f"{BASE}/requests.{fmt}",
        data={
            "api_key": api_key,
            "service_code": "pothole",
            "lat": str(CENTRO[0]),
            "long": str(CENTRO[1]),
            "address_string": "Rua Central 10",
            "email": "ana@example.org",
            "first_name": "Ana",
            "last_name": "Lima",
            "description": "Sinkhole opening in the bus lane.",
            "attribute[size]": "large",
            "attribute[lanes][]": ["bus", "cycle"],
        },
    )
    assert response.status_code == 200
    if fmt == "json":
        body = json_of(response)
        assert len(body) == 1 and set(body[0]) == {"service_request_id", "service_notice"}
        request_id = body[0]["service_request_id"]
    else:
        root = xml(response)
        assert root.tag == "service_requests"
        request_id = root.findtext("request/service_request_id")
        assert root.find("request/token") is None
    assert isinstance(request_id, str) and request_id.isdigit()
    report = db.session.get(Report, int(request_id))
    assert (report.source, report.is_public, report.district_id) == (
        "open311",
        True,
        districts["centro"].id,
    )
    assert report.answers == {"size": "large", "lanes": ["bus", "cycle"]}
    assert (report.reporter_email, report.reporter_name, report.address) == (
        "ana@example.org",
        "Ana Lima",
        "Rua Central 10",
    )


@pytest.mark.parametrize(
    "changes, status, words",
    [
        ({"service_code": None}, 400, "service_code"),
        ({"service_code": "nope"}, 404, "nope"),
        ({"lat": None, "long": None}, 400, "location"),
        ({"long": None}, 400, "together"),
        ({"lat": "north"}, 400, "lat"),
        ({"lat": str(OUTSIDE[0]), "long": str(OUTSIDE[1])}, 400, "outside"),
        ({"attribute[size]": None}, 400, "q_size"),
        ({"attribute[size]": "huge"}, 400, "q_size"),
        ({"attribute[colour]": "red"}, 400, "colour"),
        ({"description": "x" * 4001}, 400, "4000"),
        ({"description": "<b>bold</b>"}, 400, "plain text"),
        ({"jurisdiction_id": "elsewhere.gov"}, 404, "jurisdiction_id"),
    ],
)
def test_post_refusals(app, client, categories, api_key, changes, status, words):
    app.config["CIVIC_OPEN311_JURISDICTION"] = "portoverde.example"
    data = {
        "api_key": api_key,
        "service_code": "pothole",
        "lat": str(CENTRO[0]),
        "long": str(CENTRO[1]),
        "attribute[size]": "small",
        "description": "Hole",
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    for fmt in ("json", "xml"):
        assert words in assert_error(client.post(f"{BASE}/requests.{fmt}", data=data), status, fmt)
    assert db.session.scalar(select(func.count(Report.id))) == 0


def test_post_address_string_alone_and_the_jurisdiction(app, client, categories, api_key):
    app.config["CIVIC_OPEN311_JURISDICTION"] = "portoverde.example"
    data = {
        "api_key": api_key,
        "service_code": "tree",
        "address_string": "Parque das Flores",
        "description": "Tree down",
        "jurisdiction_id": "portoverde.example",
    }
    body = json_of(client.post(f"{BASE}/requests.json", data=data))
    report = db.session.get(Report, int(body[0]["service_request_id"]))
    assert report.address == "Parque das Flores" and not report.is_location_approximate


def test_post_media_upload_is_stripped_and_media_url_never_fetched(client, categories, api_key):
    response = client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": api_key,
            "service_code": "tree",
            "lat": str(CENTRO[0]),
            "long": str(CENTRO[1]),
            "description": "Branch down",
            "media": (io.BytesIO(jpeg_with_gps()), "photo.jpg"),
            "media_url": "http://203.0.113.9/photo.jpg",
        },
        content_type="multipart/form-data",
    )
    request_id = json_of(response)[0]["service_request_id"]
    listed = json_of(client.get(f"{BASE}/requests/{request_id}.json"))[0]
    served = client.get(listed["media_url"].replace("http://localhost", ""))
    served.get_data()
    served.close()
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert_no_metadata(served.data)
    note = db.session.scalar(select(ReportUpdate).where(ReportUpdate.kind == "note"))
    assert not note.is_public and "203.0.113.9" in note.body


def _make(submit, days_ago: float, **kwargs):
    return submit(now=utcnow() - timedelta(days=days_ago), **kwargs)


def test_get_requests_fields_types_and_default_window(client, submit, make_staff):
    recent = _make(submit, 2)
    _make(submit, 120, at=(CENTRO[0] + 0.001, CENTRO[1]))  # outside the default 90 days
    services.change_state(make_staff("roads").id, recent.id, "resolved", "Filled.")
    data = json_of(client.get(f"{BASE}/requests.json"))
    assert [r["service_request_id"] for r in data] == [str(recent.id)]
    item = data[0]
    assert set(item) == REQUEST_FIELDS
    assert (item["status"], item["status_notes"], item["service_code"]) == (
        "closed",
        "Filled.",
        "pothole",
    )
    assert item["agency_responsible"] == "Roads"
    for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert W3C.match(item[key]), item[key]
    assert isinstance(item["lat"], float) and item["address_id"] is None
    root = xml(client.get(f"{BASE}/requests.xml"))
    request = root.find("request")
    assert root.tag == "service_requests" and {child.tag for child in request} == REQUEST_FIELDS
    assert (
        request.findtext("service_request_id") == str(recent.id)
        and request.findtext("status") == "closed"
    )
    for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert request.findtext(key) == item[key]  # the same W3C text in both formats


def test_get_requests_filters(client, submit, categories, make_staff):
    pothole = _make(submit, 1)
    tree = _make(submit, 3, category="tree")
    old = _make(submit, 40, at=(CENTRO[0] + 0.001, CENTRO[1]))
    services.change_state(make_staff("parks").id, tree.id, "resolved", "Removed")

    def ids(query: str) -> list[str]:
        return [
            r["service_request_id"] for r in json_of(client.get(f"{BASE}/requests.json?{query}"))
        ]

    assert ids("service_code=tree") == [str(tree.id)]
    assert ids("service_code=tree,pothole") == [str(pothole.id), str(tree.id), str(old.id)]
    assert ids("status=open") == [str(pothole.id), str(old.id)]
    assert ids("status=closed") == [str(tree.id)]
    assert ids("status=") == ids("")  # empty behaves like absent
    start = (utcnow() - timedelta(days=50)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S-03:00")
    assert ids(f"start_date={start}&end_date={end}") == [str(tree.id), str(old.id)]
    assert ids(f"service_request_id={old.id},{pothole.id}&status=closed") == [
        str(pothole.id),
        str(old.id),
    ]
    assert ids("page_size=1") == [str(pothole.id)]
    assert ids("page_size=1&page=2") == [str(tree.id)]
    assert ids("page_size=1&page=0") == [str(pothole.id)]


@pytest.mark.parametrize(
    "query, words",
    [
        ("start_date=2026-01-01", "W3C"),
        ("end_date=yesterday", "W3C"),
        ("start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "90 days"),
        ("start_date=2026-06-01T00:00:00Z&end_date=2026-01-01T00:00:00Z", "before"),
        ("status=pending", "status"),
        ("page_size=many", "page_size"),
        ("service_request_id=1,abc", "service_request_id"),
    ],
)
def test_get_requests_refusals(client, categories, query, words):
    for fmt in ("json", "xml"):
        assert words in assert_error(client.get(f"{BASE}/requests.{fmt}?{query}"), 400, fmt)


def test_get_requests_caps_at_1000(app, client, submit):
    first = submit()
    from civic.reports import open311

    open311.MAX_RESULTS, saved = 2, open311.MAX_RESULTS
    try:
        for i in range(3):
            submit(at=(CENTRO[0] + 0.001 * (i + 1), CENTRO[1]))
        assert len(json_of(client.get(f"{BASE}/requests.json?page_size=5000"))) == 2
    finally:
        open311.MAX_RESULTS = saved
    assert first.id


def test_get_one_request_and_404s(app, client, submit, make_staff):
    report = submit()
    one = json_of(client.get(f"{BASE}/requests/{report.id}.json"))
    assert (
        isinstance(one, list) and len(one) == 1 and one[0]["service_request_id"] == str(report.id)
    )
    assert xml(client.get(f"{BASE}/requests/{report.id}.xml")).find(
        "request/service_request_id"
    ).text == str(report.id)
    for fmt in ("json", "xml"):
        assert_error(client.get(f"{BASE}/requests/999999.{fmt}"), 404, fmt)
        assert_error(client.get(f"{BASE}/requests/abc.{fmt}"), 404, fmt)
    with app.test_request_context("/"):
        hidden = submit(reporter_email="x@example.org", at=(CENTRO[0] + 0.003, CENTRO[1]))
    assert_error(client.get(f"{BASE}/requests/{hidden.id}.json"), 404)  # unconfirmed stays private


def test_sensitive_requests_show_only_the_rounded_place(client, submit):
    report = submit("noise", at=(-22.98123, -46.67456), address="Rua das Flores 12, apt 3")
    item = json_of(client.get(f"{BASE}/requests/{report.id}.json"))[0]
    assert (item["lat"], item["long"]) == (report.public_latitude, report.public_longitude)
    assert item["address"] is None and "Flores" not in str(item)


def test_tokens(client, submit):
    report = submit()
    body = json_of(client.get(f"{BASE}/tokens/{report.token}.json"))
    assert body == [{"service_request_id": str(report.id), "token": report.token}]
    root = xml(client.get(f"{BASE}/tokens/{report.token}.xml"))
    assert root.findtext("request/service_request_id") == str(report.id)
    for fmt in ("json", "xml"):
        assert_error(client.get(f"{BASE}/tokens/unknown.{fmt}"), 404, fmt)


def test_get_jurisdiction(app, client, categories):
    app.config["CIVIC_OPEN311_JURISDICTION"] = "portoverde.example"
    assert client.get(f"{BASE}/services.json?jurisdiction_id=portoverde.example").status_code == 200
    assert client.get(f"{BASE}/services.json").status_code == 200  # single jurisdiction: optional
    assert_error(client.get(f"{BASE}/services.xml?jurisdiction_id=other.example"), 404, "xml")


def test_responses_are_compressed_for_clients_that_accept_it(client, submit):
    for i in range(30):
        submit(at=(CENTRO[0] + 0.0003 * i, CENTRO[1]))
    response = client.get(f"{BASE}/requests.json", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    import gzip
    import json

    assert len(json.loads(gzip.decompress(response.data))) == 30


def test_post_needs_no_csrf_token(csrf_app, districts):
    from civic.accounts.services import create_department, register_user

    roads = create_department(None, "roads", {"en": "Roads"}, None)
    services.save_category(
        None, None, code="pothole", name={"en": "Pothole"}, department_id=roads.id, target_days=5
    )
    admin = register_user("a@example.org", "long password 1", "A", roles=("admin",))
    _client, key = services.issue_api_key(admin.id, "App", "dev@example.org")
    response = csrf_app.test_client().post(
        f"{BASE}/requests.json",
        data={
            "api_key": key,
            "service_code": "pothole",
            "lat": str(CENTRO[0]),
            "long": str(CENTRO[1]),
            "description": "Hole",
        },
    )
    assert response.status_code == 200, response.data
