"""Open311 GeoReport v2 at /open311/v2, in XML (required) and JSON, following the spec as
written in shared/reference/open311-georeport-v2.md.

- JSON is the Spark mapping of the XML: bare arrays, every id and code a string, booleans as
  JSON booleans, W3C datetimes in UTC without fractions; XML carries the XML declaration and is
  sent as text/xml.
- Errors are the spec's `errors` arrays with 400, 403 (api_key) or 404 (unknown resource).
- POST creates reports through the same service function as the web form. Only POST needs an
  api_key, issued by an administrator per client application. Photos come as multipart `media`
  files (the de-facto extension) and go through the same stripping as the web's; a `media_url`
  is never fetched or republished (its EXIF could not be guaranteed gone), only kept as a staff
  note.
- Extensions: `page` and `page_size` on GET requests (1-based, page_size at most 1000).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request, url_for
from flask_babel import gettext as _
from sqlalchemy import DateTime, select, type_coerce
from sqlalchemy.orm import aliased, outerjoin

from civic.core.errors import DomainError
from civic.core.i18n import pick_text
from civic.core.models import StoredFile
from civic.core.time import utcnow
from civic.extensions import csrf, db
from civic.reports import services, workflow
from civic.reports.assets import compress_response
from civic.reports.models import Category, Report, ReportPhoto, ReportUpdate

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
csrf.exempt(bp)

FMT = "<any(xml,json):fmt>"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_RESULTS = 1000
MAX_SPAN = timedelta(days=90)
W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")


class Open311Error(Exception):
    """An error answered as the spec's errors array."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


# --- Serialisation --------------------------------------------------------------------------


def w3c(value: datetime | None) -> str | None:
    """A W3C datetime in UTC, without fractional seconds."""
    if value is None:
        return None
    if value.tzinfo is None:  # naive values are UTC already (SQLite)
        return value.isoformat(timespec="seconds") + "Z"
    # "…+00:00" becomes "…Z"; two C calls, as a list of 1,000 requests formats 3,000 of these.
    return value.astimezone(UTC).isoformat(timespec="seconds")[:-6] + "Z"


def _xml_value(element: ET.Element, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        element.text = "true" if value else "false"
    elif isinstance(value, float):
        element.text = repr(value)
    elif isinstance(value, datetime):
        element.text = w3c(value)
    else:
        element.text = str(value)


def _to_xml(parent: ET.Element, tag: str, value: Any) -> None:
    """Spark convention in reverse: a dict is an element, a list repeats the singular child."""
    element = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, child in value.items():
            _to_xml(element, key, child)
    elif isinstance(value, list):
        singular = {
            "attributes": "attribute",
            "values": "value",
            "endpoints": "endpoint",
            "formats": "format",
        }.get(tag, tag.rstrip("s"))
        for item in value:
            _to_xml(element, singular, item)
    else:
        _xml_value(element, value)


_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS | orjson.OPT_NAIVE_UTC


def respond(fmt: str, root: str, item: str | None, payload: Any, status: int = 200) -> Response:
    """A JSON or XML response: `payload` is a list of `item` elements under `root`, or a dict
    that is the root element itself."""
    if fmt == "json":
        # orjson writes datetimes itself, as W3C UTC without fractions ("…T12:34:56Z"), and a
        # list of 1,000 requests in about a twentieth of the standard library's time.
        body = orjson.dumps(payload, default=str, option=_JSON_OPTIONS)
        response = Response(body, status=status, content_type="application/json; charset=utf-8")
    else:
        element = ET.Element(root)
        if isinstance(payload, list):
            for entry in payload:
                _to_xml(element, item or root.rstrip("s"), entry)
        else:
            for key, child in payload.items():
                _to_xml(element, key, child)
        body = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode")
        response = Response(
            body.encode("utf-8"), status=status, content_type="text/xml; charset=utf-8"
        )
    return compress_response(response)


def error_response(fmt: str, status: int, description: str) -> Response:
    """The spec's error envelope."""
    return respond(fmt, "errors", "error", [{"code": status, "description": description}], status)


@bp.errorhandler(Open311Error)
def _handle_open311(error: Open311Error):
    fmt = (request.view_args or {}).get("fmt", "xml")
    db.session.rollback()
    return error_response(fmt, error.status, error.description)


@bp.errorhandler(DomainError)
def _handle_domain(error: DomainError):
    fmt = (request.view_args or {}).get("fmt", "xml")
    db.session.rollback()
    status = 404 if error.status_code == 404 else 403 if error.status_code == 403 else 400
    return error_response(fmt, status, str(error.message))


# --- Arguments ------------------------------------------------------------------------------


def _arg(name: str) -> str | None:
    """An argument from the query or form; empty behaves exactly like absent."""
    value = request.values.get(name)
    return value.strip() if value and value.strip() else None


def _check_jurisdiction() -> None:
    wanted = services.setting("CIVIC_OPEN311_JURISDICTION")
    given = _arg("jurisdiction_id")
    if wanted and given and given != wanted:
        raise Open311Error(404, _("jurisdiction_id %(value)s was not found.", value=given))


def _parse_w3c(name: str) -> datetime | None:
    value = _arg(name)
    if value is None:
        return None
    if not W3C.match(value):
        raise Open311Error(
            400,
            _(
                "%(name)s must be a W3C datetime with a time zone, e.g. 2026-01-31T00:00:00Z.",
                name=name,
            ),
        )
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _int_arg(name: str, default: int) -> int:
    value = _arg(name)
    if value is None:
        return default
    if not value.isdigit():
        raise Open311Error(400, _("%(name)s must be a whole number.", name=name))
    return int(value)


def _float_arg(name: str) -> float | None:
    value = _arg(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise Open311Error(
            400, _("%(name)s must be a number in decimal degrees.", name=name)
        ) from None


# --- Resources ------------------------------------------------------------------------------


def _base_url() -> str:
    return url_for("open311.discovery", fmt="json", _external=True).rsplit("/", 1)[0]


@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str):
    """Service discovery."""
    _check_jurisdiction()
    changed = db.session.scalar(select(db.func.max(Category.updated_at))) or utcnow()
    payload = {
        "changeset": w3c(changed),
        "contact": _(
            "%(city)s, %(email)s",
            city=current_app.config["CIVIC_CITY_NAME"],
            email=current_app.config["CIVIC_MAIL_SENDER"],
        ),
        "key_service": _(
            "API keys are issued per application by the city's administrators; write to %(email)s.",
            email=current_app.config["CIVIC_MAIL_SENDER"],
        ),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": _base_url(),
                "changeset": w3c(changed),
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return respond(fmt, "discovery", None, payload)


def _service(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": pick_text(category.name).text,
        "description": pick_text(category.description).text,
        "metadata": bool(category.questions),
        "type": "realtime",
        "keywords": category.keywords or "",
        "group": category.group or pick_text(category.department.name).text,
    }


@bp.get(f"/services.{FMT}")
def service_list(fmt: str):
    """The categories residents can report, as Open311 services."""
    _check_jurisdiction()
    return respond(fmt, "services", "service", [_service(c) for c in services.list_categories()])


def _active_category(code: str) -> Category:
    category = services.get_category_by_code(code)
    if category is None or not category.is_active:
        raise Open311Error(404, _("service_code %(code)s was not found.", code=code))
    return category


@bp.get(f"/services/<code>.{FMT}")
def service_definition(code: str, fmt: str):
    """A category's extra questions as Open311 attributes."""
    _check_jurisdiction()
    category = _active_category(code)
    attributes = [
        {
            "variable": True,
            "code": question.code,
            "datatype": question.datatype,
            "required": question.is_required,
            "datatype_description": pick_text(question.help_text).text or None,
            "order": question.position,
            "description": pick_text(question.prompt).text,
            "values": [
                {"key": o["key"], "name": pick_text(o["name"]).text} for o in question.options
            ],
        }
        for question in category.questions
    ]
    return respond(
        fmt, "service_definition", None, {"service_code": category.code, "attributes": attributes}
    )


def _attributes() -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for key in request.form:
        match = ATTRIBUTE.match(key)
        if not match:
            continue
        code, many = match.group(1), bool(match.group(2))
        values = [v for v in request.form.getlist(key) if v != ""]
        answers[code] = values if many else (values[0] if values else "")
    return answers


@bp.post(f"/requests.{FMT}")
def create_request(fmt: str):
    """Create a service request (needs an api_key)."""
    client = services.authenticate_api_key(_arg("api_key"))
    if client is None:
        raise Open311Error(403, _("Invalid api_key received -- can't proceed with create_request."))
    _check_jurisdiction()
    code = _arg("service_code")
    if code is None:
        raise Open311Error(400, _("service_code is required."))
    category = _active_category(code)
    lat, lon = _float_arg("lat"), _float_arg("long")
    address = _arg("address_string") or ""
    if (lat is None) != (lon is None):
        raise Open311Error(400, _("lat and long must be sent together."))
    if lat is None and not address:
        if _arg("address_id"):
            raise Open311Error(
                400, _("address_id is not known here; please send lat and long or address_string.")
            )
        raise Open311Error(400, _("A location is required: lat and long, or address_string."))
    name = " ".join(filter(None, [_arg("first_name"), _arg("last_name")]))
    photos = [
        f.read()
        for key in ("media", "photo1", "photo2", "photo3")
        for f in request.files.getlist(key)
        if f
    ]
    data = services.ReportInput(
        category_id=category.id,
        description=request.values.get("description", ""),
        latitude=lat,
        longitude=lon,
        address=address,
        answers=_attributes(),
        photos=photos,
        reporter_email=_arg("email"),
        reporter_name=name,
        source="open311",
        api_client_id=client.id,
        skip_duplicate_check=True,
        reject_unknown_answers=True,
    )
    try:
        report = services.submit_report(data)
    except DomainError as error:
        field = f" ({error.field})" if error.field else ""
        raise Open311Error(400, f"{error.message}{field}") from error
    media_url = _arg("media_url")
    if media_url:
        db.session.add(
            ReportUpdate(
                report_id=report.id,
                kind="note",
                is_public=False,
                body=_(
                    "Media URL sent by %(client)s (not fetched, not published): %(url)s",
                    client=client.name,
                    url=media_url[:1000],
                ),
            )
        )
    services.record_api_use(client.id)
    db.session.commit()
    notice = _(
        "%(department)s aims to resolve this within %(days)s days.",
        department=pick_text(category.department.name).text,
        days=category.target_days,
    )
    return respond(
        fmt,
        "service_requests",
        "request",
        [{"service_request_id": str(report.id), "service_notice": notice}],
    )


# The first photo joins the query itself (no second query with a 1,000-id IN list); dates are
# read as plain aware datetimes, without the UTCDateTime conversion per value.
_PHOTO = aliased(ReportPhoto)
_FILE = aliased(StoredFile)
REQUEST_COLUMNS = (
    Report.id,
    Report.state,
    Report.status_notes,
    Report.category_id,
    Report.description,
    type_coerce(Report.created_at, DateTime(timezone=True)).label("created_at"),
    type_coerce(Report.updated_at, DateTime(timezone=True)).label("updated_at"),
    type_coerce(Report.due_at, DateTime(timezone=True)).label("due_at"),
    Report.address,
    Report.public_latitude,
    Report.public_longitude,
    _FILE.key.label("photo_key"),
    _FILE.display_key.label("photo_display_key"),
)


def _request_payload(rows: list) -> list[dict[str, Any]]:
    """Rows of REQUEST_COLUMNS as Open311 requests (plain rows: 1,000 of them stay fast)."""
    categories = {
        c.id: (
            c.code,
            pick_text(c.name).text,
            pick_text(c.department.name).text,
            c.is_sensitive,
        )
        for c in services.list_categories(include_inactive=True)
    }
    files = request.host_url.rstrip("/") + "/files/"
    payload = []
    for row in rows:
        code, name, agency, sensitive = categories[row.category_id]
        photo = row.photo_display_key or row.photo_key
        payload.append(
            {
                "service_request_id": str(row.id),
                "status": workflow.open311_status(row.state),
                "status_notes": row.status_notes,
                "service_name": name,
                "service_code": code,
                "description": row.description,
                "agency_responsible": agency,
                "service_notice": None,
                # Datetimes as they are: respond() writes them in W3C form, JSON or XML.
                "requested_datetime": row.created_at,
                "updated_datetime": row.updated_at,
                "expected_datetime": row.due_at,
                "address": None if sensitive else (row.address or None),
                "address_id": None,
                "zipcode": None,
                "lat": row.public_latitude,
                "long": row.public_longitude,
                "media_url": files + photo if photo and not sensitive else None,
            }
        )
    return payload


def _public_reports():
    with_photo = outerjoin(
        Report, _PHOTO, (_PHOTO.report_id == Report.id) & (_PHOTO.position == 1)
    ).outerjoin(_FILE, _FILE.id == _PHOTO.file_id)
    return (
        select(*REQUEST_COLUMNS)
        .select_from(with_photo)
        .where(Report.is_confirmed.is_(True), Report.is_hidden.is_(False))
    )


@bp.get(f"/requests.{FMT}")
def request_list(fmt: str):
    """Service requests: by ids, or filtered by service, dates and status (90 days, 1000 max)."""
    _check_jurisdiction()
    ids_arg = _arg("service_request_id")
    query = _public_reports()
    if ids_arg:
        ids = [part.strip() for part in ids_arg.split(",") if part.strip()]
        if not all(part.isdigit() for part in ids):
            raise Open311Error(400, _("service_request_id must be a comma-separated list of ids."))
        query = query.where(Report.id.in_([int(part) for part in ids[:MAX_RESULTS]]))
        rows = db.session.execute(query.order_by(Report.created_at.desc(), Report.id.desc())).all()
        return respond(fmt, "service_requests", "request", _request_payload(rows))
    start, end = _parse_w3c("start_date"), _parse_w3c("end_date")
    if start and end:
        if end < start:
            raise Open311Error(400, _("end_date is before start_date."))
        if end - start > MAX_SPAN:
            raise Open311Error(400, _("The date range may not span more than 90 days."))
    elif start:
        end = start + MAX_SPAN
    elif end:
        start = end - MAX_SPAN
    else:
        end = utcnow()
        start = end - MAX_SPAN
    query = query.where(Report.created_at >= start, Report.created_at <= end)
    codes = _arg("service_code")
    if codes:
        wanted = [c.strip() for c in codes.split(",") if c.strip()]
        ids = list(db.session.scalars(select(Category.id).where(Category.code.in_(wanted))))
        query = query.where(Report.category_id.in_(ids or [-1]))
    statuses = _arg("status")
    if statuses:
        values = [s.strip().lower() for s in statuses.split(",") if s.strip()]
        if any(v not in ("open", "closed") for v in values):
            raise Open311Error(400, _("status must be open, closed or both."))
        wanted_states = workflow.states_for_open311(values)
        # In workflow order, so that PostgreSQL matches the partial index on open reports.
        query = query.where(Report.state.in_([s for s in workflow.STATES if s in wanted_states]))
    page_size = min(max(_int_arg("page_size", MAX_RESULTS), 1), MAX_RESULTS)
    page = max(_int_arg("page", 1), 1)
    rows = db.session.execute(
        query.order_by(Report.created_at.desc(), Report.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return respond(fmt, "service_requests", "request", _request_payload(rows))


@bp.get(f"/requests/<request_id>.{FMT}")
def request_detail(request_id: str, fmt: str):
    """One service request (an array of one)."""
    _check_jurisdiction()
    report = None
    if request_id.isdigit():
        report = db.session.execute(_public_reports().where(Report.id == int(request_id))).first()
    if report is None:
        raise Open311Error(404, _("service_request_id %(id)s was not found.", id=request_id))
    return respond(fmt, "service_requests", "request", _request_payload([report]))


@bp.get(f"/tokens/<token>.{FMT}")
def token_detail(token: str, fmt: str):
    """The service_request_id behind a token."""
    _check_jurisdiction()
    report = db.session.execute(
        select(Report.id, Report.token).where(
            Report.token == token, Report.is_confirmed.is_(True), Report.is_hidden.is_(False)
        )
    ).first()
    if report is None:
        raise Open311Error(404, _("token %(token)s was not found.", token=token))
    return respond(
        fmt,
        "service_requests",
        "request",
        [{"service_request_id": str(report.id), "token": report.token}],
    )
