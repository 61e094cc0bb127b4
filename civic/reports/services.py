"""Report rules and writes: categories, submission (web and Open311 alike), confirmation,
duplicates and "me too", routing, the staff workflow, reopening, subscriptions and API keys."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from shapely.geometry import shape
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from civic.accounts.models import DepartmentMember, User, UserRole
from civic.config import LANGUAGES, SEEDS_DIR
from civic.core import audit
from civic.core.errors import Conflict, DomainError, NotAllowed, NotFound, TooManyRequests
from civic.core.geo import (
    GeoError,
    bbox_around,
    check_coordinates,
    distance_m,
    district_id_for_point,
    within_bbox,
)
from civic.core.i18n import current_locale_code, pick_text
from civic.core.mail import deliver_outbox_message, queue_email
from civic.core.models import Department, District, StoredFile
from civic.core.time import utcnow
from civic.core.uploads import UploadError, make_image_derivatives, store_image
from civic.extensions import db
from civic.jobs import enqueue
from civic.reports import workflow
from civic.reports.location import grid_size_for_zoom, snap_to_cell
from civic.reports.models import (
    DATATYPES,
    MAX_DESCRIPTION,
    MAX_PHOTOS,
    Category,
    CategoryQuestion,
    Open311Client,
    Report,
    ReportFollower,
    ReportHotspot,
    ReportPhoto,
    ReportSubscription,
    ReportUpdate,
)

DEFAULTS: dict[str, Any] = {
    "CIVIC_REPORT_DUPLICATE_RADIUS_M": 50,
    "CIVIC_REPORT_PENDING_PER_EMAIL": 5,
    "CIVIC_REPORT_CONFIRM_DAYS": 7,
    "CIVIC_REPORT_PLACES_FILE": str(SEEDS_DIR / "reports_places.json"),
    "CIVIC_REPORT_MAP_POINT_ZOOM": 15,
    "CIVIC_REPORT_MAP_MAX_POINTS": 1000,
    "CIVIC_REPORT_MAP_INDEX": 1,
    "CIVIC_OPEN311_JURISDICTION": "",
    # Links in e-mails sent by a worker, where there is no request to take the host from.
    "CIVIC_BASE_URL": "http://127.0.0.1:5000",
}
HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!?][^>]*>")
EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CODE_SHAPE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def setting(name: str) -> Any:
    """A reports setting: app config, then the environment, then the default."""
    if name in current_app.config:
        return current_app.config[name]
    default = DEFAULTS[name]
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return type(default)(raw)


# --------------------------------------------------------------------------------------------
# Categories and their questions (Open311 services and attributes)


def list_categories(include_inactive: bool = False) -> list[Category]:
    """Categories in display order."""
    query = (
        select(Category)
        .options(joinedload(Category.department))
        .order_by(Category.sort_order, Category.code)
    )
    if not include_inactive:
        query = query.where(Category.is_active.is_(True))
    return list(db.session.scalars(query))


def get_category(category_id: int) -> Category:
    """The category with this id, or NotFound."""
    category = db.session.get(Category, category_id)
    if category is None:
        raise NotFound(_l("This category does not exist."), field="category")
    return category


def get_category_by_code(code: str) -> Category | None:
    """The category with this Open311 service code, with its questions (one query)."""
    return (
        db.session.scalars(
            select(Category).options(joinedload(Category.questions)).where(Category.code == code)
        )
        .unique()
        .first()
    )


def _clean_texts(value: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v.strip() for k, v in (value or {}).items() if k in LANGUAGES and v and v.strip()}


def save_category(
    actor_id: int | None,
    category_id: int | None,
    *,
    code: str,
    name: Mapping[str, str],
    department_id: int,
    target_days: int,
    description: Mapping[str, str] | None = None,
    is_sensitive: bool = False,
    icon: str = "pin",
    group: str | None = None,
    keywords: str | None = None,
    is_active: bool = True,
    sort_order: int = 0,
) -> Category:
    """Create a category (category_id None) or change one; admins only (checked by the view)."""
    code = (code or "").strip().lower()
    if not CODE_SHAPE.match(code):
        raise DomainError(
            _l("Use lower-case letters, digits, '-' or '_' for the code."), field="code"
        )
    names = _clean_texts(name)
    if not names:
        raise DomainError(_l("Please enter a name."), field="name")
    if db.session.get(Department, department_id) is None:
        raise DomainError(_l("Unknown department."), field="department")
    if not 1 <= int(target_days) <= 365:
        raise DomainError(_l("Choose between 1 and 365 days."), field="target_days")
    clash = db.session.scalar(select(Category.id).where(Category.code == code))
    if clash is not None and clash != category_id:
        raise DomainError(_l("A category with this code already exists."), field="code")
    if category_id is None:
        category = Category(code=code)
        db.session.add(category)
        before = None
    else:
        category = get_category(category_id)
        before = {"code": category.code, "department_id": category.department_id}
    category.code = code
    category.name = names
    category.description = _clean_texts(description)
    category.department_id = department_id
    category.target_days = int(target_days)
    category.is_sensitive = bool(is_sensitive)
    category.icon = (icon or "pin")[:40]
    category.group = (group or "").strip() or None
    category.keywords = (keywords or "").strip() or None
    category.is_active = bool(is_active)
    category.sort_order = int(sort_order or 0)
    db.session.flush()
    audit.record(
        actor_id,
        "report_category.save",
        "category",
        category.id,
        before,
        {"code": code, "department_id": department_id, "is_sensitive": category.is_sensitive},
    )
    db.session.commit()
    return category


def parse_options(text: str) -> list[tuple[str, str]]:
    """'key: label' lines (or plain labels) into (key, label) pairs for list questions."""
    pairs = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        key, sep, label = line.partition(":")
        if not sep:
            label = key
            key = re.sub(r"[^a-z0-9]+", "_", _fold(key)).strip("_")
        pairs.append((key.strip(), label.strip()))
    return pairs


def add_question(
    actor_id: int | None,
    category_id: int,
    *,
    code: str,
    datatype: str,
    prompt: Mapping[str, str],
    is_required: bool = False,
    options: Sequence[tuple[str, Mapping[str, str]]] = (),
    help_text: Mapping[str, str] | None = None,
) -> CategoryQuestion:
    """Add an extra question at the end of a category's list."""
    category = get_category(category_id)
    code = (code or "").strip()
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$", code):
        raise DomainError(_l("Use letters, digits, '-' or '_' for the code."), field="code")
    if any(q.code == code for q in category.questions):
        raise DomainError(_l("This category already has a question with this code."), field="code")
    if datatype not in DATATYPES:
        raise DomainError(_l("Unknown answer type."), field="datatype")
    prompts = _clean_texts(prompt)
    if not prompts:
        raise DomainError(_l("Please enter the question."), field="prompt")
    option_rows = [
        {"key": str(key), "name": _clean_texts(names)} for key, names in options if str(key).strip()
    ]
    if datatype in ("singlevaluelist", "multivaluelist"):
        keys = [o["key"] for o in option_rows]
        if (
            len(option_rows) < 2
            or len(set(keys)) != len(keys)
            or not all(o["name"] for o in option_rows)
        ):
            raise DomainError(
                _l("A choice question needs at least two options with different keys."),
                field="options",
            )
    else:
        option_rows = []
    position = max((q.position for q in category.questions), default=0) + 1
    question = CategoryQuestion(
        code=code,
        datatype=datatype,
        prompt=prompts,
        help_text=_clean_texts(help_text),
        is_required=bool(is_required),
        position=position,
        options=option_rows,
    )
    category.questions.append(question)
    category.updated_at = utcnow()
    db.session.flush()
    audit.record(actor_id, "report_question.add", "category", category.id, None, {"code": code})
    db.session.commit()
    return question


def delete_question(actor_id: int | None, question_id: int) -> None:
    """Remove a question (answers already given stay on their reports)."""
    question = db.session.get(CategoryQuestion, question_id)
    if question is None:
        raise NotFound(_l("This question does not exist."))
    audit.record(
        actor_id,
        "report_question.delete",
        "category",
        question.category_id,
        {"code": question.code},
        None,
    )
    db.session.delete(question)
    db.session.commit()


def _parse_datetime_answer(value: str) -> str:
    value = value.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError from exc
    return parsed.isoformat()


def validate_answers(
    category: Category, raw: Mapping[str, Any], reject_unknown: bool = False
) -> dict[str, Any]:
    """Check answers against the category's questions; return them cleaned.

    Field names of errors are `q_<code>` so that forms show them next to the question."""
    answers: dict[str, Any] = {}
    known = {q.code for q in category.questions}
    if reject_unknown:
        unknown = sorted(set(raw) - known)
        if unknown:
            raise DomainError(
                _l("Unknown question: %(code)s.", code=unknown[0]), field=f"q_{unknown[0]}"
            )
    for question in category.questions:
        field_name = f"q_{question.code}"
        value = raw.get(question.code)
        if question.datatype == "multivaluelist":
            values = [
                v
                for v in (value if isinstance(value, list | tuple) else [value])
                if v not in (None, "")
            ]
            keys = {o["key"] for o in question.options}
            if any(str(v) not in keys for v in values):
                raise DomainError(_l("Please choose from the list."), field=field_name)
            if question.is_required and not values:
                raise DomainError(_l("Please answer this question."), field=field_name)
            if values:
                answers[question.code] = [str(v) for v in values]
            continue
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        value = "" if value is None else str(value).strip()
        if not value:
            if question.is_required:
                raise DomainError(_l("Please answer this question."), field=field_name)
            continue
        if question.datatype == "number":
            try:
                number = float(value.replace(",", "."))
            except ValueError:
                number = math.nan
            if math.isnan(number) or math.isinf(number):
                raise DomainError(_l("Please enter a number."), field=field_name)
            answers[question.code] = int(number) if number.is_integer() else number
        elif question.datatype == "datetime":
            try:
                answers[question.code] = _parse_datetime_answer(value)
            except ValueError:
                raise DomainError(_l("Please enter a date."), field=field_name) from None
        elif question.datatype == "singlevaluelist":
            if value not in {o["key"] for o in question.options}:
                raise DomainError(_l("Please choose from the list."), field=field_name)
            answers[question.code] = value
        else:
            limit = 300 if question.datatype == "string" else 2000
            if len(value) > limit:
                raise DomainError(
                    _l("Please keep this under %(count)s characters.", count=limit),
                    field=field_name,
                )
            if HTML_TAG.search(value):
                raise DomainError(_l("Please use plain text, without HTML."), field=field_name)
            answers[question.code] = value
    return answers


def answer_labels(report: Report) -> list[tuple[str, str]]:
    """(question, answer) pairs in the reader's language, for the report page."""
    rows = []
    for question in report.category.questions:
        if question.code not in report.answers:
            continue
        value = report.answers[question.code]
        names = {o["key"]: pick_text(o["name"]).text for o in question.options}
        if isinstance(value, list):
            shown = ", ".join(names.get(v, v) for v in value)
        else:
            shown = names.get(str(value), str(value))
        rows.append((pick_text(question.prompt).text, shown))
    return rows


# --------------------------------------------------------------------------------------------
# Where a report is


@dataclass(frozen=True)
class Place:
    """A named landmark residents can type instead of placing a pin."""

    name: str
    latitude: float
    longitude: float
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Location:
    """A resolved position inside the city."""

    latitude: float
    longitude: float
    district_id: int
    address: str
    is_approximate: bool


def _fold(text: str) -> str:
    """Lower-case, accents removed: 'Praça' matches 'praca'."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


@lru_cache(maxsize=4)
def _load_places(path: str, _mtime: float) -> tuple[Place, ...]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(
        Place(item["name"], float(item["lat"]), float(item["lon"]), tuple(item.get("aliases", [])))
        for item in data
    )


def list_places() -> tuple[Place, ...]:
    """The gazetteer of landmarks (a JSON file; works offline, no geocoding service)."""
    path = Path(setting("CIVIC_REPORT_PLACES_FILE"))
    if not path.is_file():
        return ()
    return _load_places(str(path), path.stat().st_mtime)


def find_place(text: str) -> Place | None:
    """The landmark best matching typed text: exact name or alias first, then a contained name."""
    wanted = _fold(text)
    if len(wanted) < 3:
        return None
    places = list_places()
    for place in places:
        if wanted in {_fold(place.name), *(_fold(a) for a in place.aliases)}:
            return place
    for place in sorted(places, key=lambda p: -len(p.name)):
        if any(_fold(name) in wanted for name in (place.name, *place.aliases)):
            return place
    return None


def _outside_city() -> GeoError:
    return GeoError(
        _l(
            "This place is outside %(city)s. You can only report problems inside the city.",
            city=current_app.config["CIVIC_CITY_NAME"],
        ),
        field="location",
    )


def resolve_location(
    latitude: float | None,
    longitude: float | None,
    address: str = "",
    district_id: int | None = None,
) -> Location:
    """A position from coordinates, else a typed landmark, else the chosen district's centre
    (marked approximate). Refuses places outside the city."""
    address = (address or "").strip()[:300]
    if latitude is not None or longitude is not None:
        if latitude is None or longitude is None:
            raise GeoError(_l("Please give both latitude and longitude."), field="location")
        check_coordinates(latitude, longitude)
        found = district_id_for_point(latitude, longitude)
        if found is None:
            raise _outside_city()
        return Location(latitude, longitude, found, address, False)
    if address:
        place = find_place(address)
        if place is not None:
            found = district_id_for_point(place.latitude, place.longitude)
            if found is None:
                raise _outside_city()
            return Location(place.latitude, place.longitude, found, address, False)
    if district_id:
        district = db.session.get(District, district_id)
        if district is None:
            raise GeoError(_l("Please choose a district from the list."), field="district")
        point = shape(district.geometry).representative_point()
        return Location(round(point.y, 6), round(point.x, 6), district.id, address, True)
    if address:
        raise GeoError(
            _l(
                "We could not find this place. Please use the map, your location or the "
                "district list."
            ),
            field="location",
        )
    raise GeoError(
        _l(
            "Please say where the problem is: use your location, tap the map, type the "
            "coordinates or choose a district."
        ),
        field="location",
    )


# --------------------------------------------------------------------------------------------
# Duplicates


@dataclass(frozen=True)
class Nearby:
    """An open report close to where a new one is being made."""

    report: Report
    distance_m: float


def find_nearby(
    category_id: int,
    latitude: float,
    longitude: float,
    radius_m: float | None = None,
    exclude_id: int | None = None,
    limit: int = 5,
) -> list[Nearby]:
    """Open public reports of the same category within the radius, nearest first.

    Distances are measured to the public position, so a sensitive report's real place is not
    given away by the distance shown."""
    radius = float(radius_m or setting("CIVIC_REPORT_DUPLICATE_RADIUS_M"))
    query = select(Report).where(
        Report.category_id == category_id,
        Report.state.in_(workflow.OPEN_STATES),
        Report.is_confirmed.is_(True),
        Report.is_hidden.is_(False),
    )
    if exclude_id:
        query = query.where(Report.id != exclude_id)
    query = within_bbox(
        query, Report.latitude, Report.longitude, bbox_around(latitude, longitude, radius)
    )
    found = []
    for report in db.session.scalars(query.limit(200)):
        if distance_m(latitude, longitude, report.latitude, report.longitude) <= radius:
            shown = distance_m(latitude, longitude, report.public_latitude, report.public_longitude)
            found.append(Nearby(report, shown))
    found.sort(key=lambda n: (n.distance_m, -n.report.id))
    return found[:limit]


class PossibleDuplicates(Conflict):
    """Open reports of the same kind are already nearby: the resident should look first."""

    def __init__(self, nearby: list[Nearby]):
        super().__init__(
            _l("Someone may have reported this already. Is it one of these?"), field="duplicates"
        )
        self.nearby = nearby


# --------------------------------------------------------------------------------------------
# Submission


@dataclass
class ReportInput:
    """Everything a report is made of, from the web form or an Open311 POST."""

    category_id: int
    description: str
    latitude: float | None = None
    longitude: float | None = None
    address: str = ""
    district_id: int | None = None
    answers: Mapping[str, Any] = field(default_factory=dict)
    photos: Sequence[bytes] = ()
    kept_file_ids: Sequence[int] = ()
    is_name_public: bool = False
    reporter_id: int | None = None
    reporter_email: str | None = None
    reporter_name: str = ""
    locale: str | None = None
    source: str = "web"
    api_client_id: int | None = None
    skip_duplicate_check: bool = False
    reject_unknown_answers: bool = False


def clean_description(text: str) -> str:
    """Plain text, 1 to 4,000 characters."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise DomainError(_l("Please describe the problem."), field="description")
    if len(text) > MAX_DESCRIPTION:
        raise DomainError(
            _l("Please keep the description under %(count)s characters.", count=MAX_DESCRIPTION),
            field="description",
        )
    if HTML_TAG.search(text):
        raise DomainError(
            _l("Please describe the problem in plain text, without HTML or code."),
            field="description",
        )
    return text


def _public_position(category: Category, latitude: float, longitude: float) -> tuple[float, float]:
    if category.is_sensitive:
        return snap_to_cell(latitude, longitude)
    return latitude, longitude


def _check_pending_limit(email: str) -> None:
    since = utcnow() - timedelta(days=1)
    pending = db.session.scalar(
        select(func.count(Report.id)).where(
            Report.reporter_email == email,
            Report.is_confirmed.is_(False),
            Report.created_at >= since,
        )
    )
    if pending >= setting("CIVIC_REPORT_PENDING_PER_EMAIL"):
        raise TooManyRequests(
            _l(
                "Several reports from this address are waiting for confirmation. Please "
                "confirm them with the link we e-mailed first."
            ),
            field="email",
        )


def submit_report(data: ReportInput, now: datetime | None = None) -> Report:
    """Check everything, then store the report, its photos and its first timeline entry in
    one transaction. A report from someone without an account waits for their e-mail link."""
    now = now or utcnow()
    category = db.session.get(Category, data.category_id) if data.category_id else None
    if category is None or not category.is_active:
        raise DomainError(_l("Please choose a category from the list."), field="category")
    description = clean_description(data.description)
    answers = validate_answers(category, data.answers, data.reject_unknown_answers)
    location = resolve_location(data.latitude, data.longitude, data.address, data.district_id)
    kept = _kept_files(data.kept_file_ids)
    if len(data.photos) + len(kept) > MAX_PHOTOS:
        raise UploadError(
            _l("You can add up to %(count)s photos.", count=MAX_PHOTOS), field="photos"
        )
    reporter = db.session.get(User, data.reporter_id) if data.reporter_id else None
    email = (data.reporter_email or "").strip().lower() or None
    if (
        reporter is None
        and data.source == "web"
        and (not email or not EMAIL_SHAPE.match(email) or len(email) > 254)
    ):
        raise DomainError(
            _l("Please enter your e-mail address so that you can confirm the report."),
            field="email",
        )
    if email and not EMAIL_SHAPE.match(email):
        raise DomainError(_l("Invalid email address."), field="email")
    needs_confirmation = reporter is None and data.source == "web"
    if needs_confirmation:
        _check_pending_limit(email)
    if not data.skip_duplicate_check and not location.is_approximate:
        nearby = find_nearby(category.id, location.latitude, location.longitude)
        if nearby:
            raise PossibleDuplicates(nearby)
    stored = list(kept)
    try:
        for photo in data.photos:
            stored.append(store_image(photo, owner_id=reporter.id if reporter else None))
    except UploadError as error:
        db.session.rollback()
        raise UploadError(error.message, field="photos") from error
    public_lat, public_lon = _public_position(category, location.latitude, location.longitude)
    report = Report(
        category_id=category.id,
        department_id=category.department_id,
        district_id=location.district_id,
        latitude=location.latitude,
        longitude=location.longitude,
        public_latitude=public_lat,
        public_longitude=public_lon,
        is_location_approximate=location.is_approximate,
        address=location.address,
        description=description,
        answers=answers,
        state="new",
        reporter_id=reporter.id if reporter else None,
        reporter_email=None if reporter else email,
        reporter_name=(data.reporter_name or (reporter.display_name if reporter else "")).strip()[
            :120
        ],
        is_name_public=bool(data.is_name_public),
        locale=data.locale or current_locale_code(),
        is_confirmed=not needs_confirmation,
        confirmed_at=None if needs_confirmation else now,
        source=data.source,
        api_client_id=data.api_client_id,
        token=secrets.token_urlsafe(18),
        created_at=now,
        updated_at=now,
        due_at=workflow.due_at(now, category.target_days),
    )
    report.photos = [ReportPhoto(file=f, position=i) for i, f in enumerate(stored, start=1)]
    report.updates = [ReportUpdate(kind="created", to_state="new", created_at=now, is_public=True)]
    # The reporter hears of changes through reporter_id/reporter_email: no follower row needed.
    db.session.add(report)
    # Everything the caller reads was just written: keep it loaded instead of re-reading it.
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True
    for stored_file in stored:
        if stored_file.status != "ready":
            enqueue(make_image_derivatives, stored_file.id)
    if needs_confirmation:
        _send_confirmation(report)
    return report


def _kept_files(file_ids: Sequence[int]) -> list[StoredFile]:
    """Photos kept from an earlier step of the same report, not yet part of any report."""
    if not file_ids:
        return []
    attached = select(ReportPhoto.file_id).where(ReportPhoto.file_id.in_(file_ids))
    rows = db.session.scalars(
        select(StoredFile).where(StoredFile.id.in_(file_ids), StoredFile.id.not_in(attached))
    )
    return list(rows)


def keep_photos(photos: Sequence[bytes], owner_id: int | None) -> list[str]:
    """Store photos while the resident looks at possible duplicates, so that they need not
    choose them again; returns signed handles for the form."""
    if len(photos) > MAX_PHOTOS:
        raise UploadError(
            _l("You can add up to %(count)s photos.", count=MAX_PHOTOS), field="photos"
        )
    try:
        stored = [store_image(photo, owner_id=owner_id) for photo in photos]
    except UploadError as error:
        db.session.rollback()
        raise UploadError(error.message, field="photos") from error
    db.session.commit()
    for stored_file in stored:
        enqueue(make_image_derivatives, stored_file.id)
    return [_serializer("civic-report-photo").dumps(f.id) for f in stored]


def kept_photo_ids(tokens: Sequence[str]) -> list[int]:
    """File ids from the handles keep_photos gave out (forged or old ones are ignored)."""
    ids = []
    for token in tokens[:MAX_PHOTOS]:
        try:
            ids.append(int(_serializer("civic-report-photo").loads(token, max_age=86400)))
        except (BadSignature, ValueError, TypeError):
            continue
    return ids


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def report_confirm_token(report: Report) -> str:
    """A signed link token confirming an anonymous report."""
    return _serializer("civic-report-confirm").dumps({"r": report.id, "t": report.token[:12]})


def _send_confirmation(report: Report) -> None:
    link = url_for("reports.confirm", token=report_confirm_token(report), _external=True)
    with force_locale(report.locale or current_app.config["CIVIC_DEFAULT_LOCALE"]):
        message = queue_email(
            report.reporter_email,
            str(_l("Please confirm your report #%(id)s", id=report.id)),
            "emails/report_confirm.txt",
            report=report,
            link=link,
            days=setting("CIVIC_REPORT_CONFIRM_DAYS"),
        )
    db.session.commit()
    enqueue(deliver_outbox_message, message.id)


def _load_signed(salt: str, token: str) -> dict:
    max_age = setting("CIVIC_REPORT_CONFIRM_DAYS") * 24 * 3600
    try:
        return _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise DomainError(_l("This link has expired. Please report the problem again.")) from exc
    except BadSignature as exc:
        raise DomainError(_l("This link is not valid.")) from exc


def confirm_report(token: str) -> Report:
    """Publish an anonymous report from its e-mailed link; a second click changes nothing."""
    data = _load_signed("civic-report-confirm", token)
    report = db.session.get(Report, data.get("r"))
    if report is None or report.token[:12] != data.get("t"):
        raise DomainError(_l("This link is not valid."))
    if report.is_confirmed:
        return report
    now = utcnow()
    claimed = db.session.execute(
        update(Report)
        .where(Report.id == report.id, Report.is_confirmed.is_(False))
        .values(is_confirmed=True, confirmed_at=now, updated_at=now)
    ).rowcount
    if claimed:
        db.session.add(ReportUpdate(report_id=report.id, kind="confirmed", created_at=now))
        db.session.add(
            ReportFollower(
                report_id=report.id,
                email=report.reporter_email,
                locale=report.locale,
                created_at=now,
            )
        )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
    db.session.refresh(report)
    return report


# --------------------------------------------------------------------------------------------
# Who sees and who changes a report


def is_staff_for(user: Any, report: Report) -> bool:
    """Staff of the report's department (admins everywhere) manage it."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.has_role("admin"):
        return True
    return "staff" in user.roles and report.department_id in user.department_ids


def get_visible_report(report_id: int, user: Any = None) -> Report:
    """The report if this person may see it: public, or theirs, or their department's."""
    report = db.session.get(Report, report_id)
    if report is None:
        raise NotFound(_l("This report does not exist."))
    if report.is_public or is_staff_for(user, report):
        return report
    if (
        user is not None
        and getattr(user, "is_authenticated", False)
        and report.reporter_id == user.id
    ):
        return report
    raise NotFound(_l("This report does not exist."))


def visible_updates(report: Report, user: Any = None) -> list[ReportUpdate]:
    """The timeline: public entries for everyone, internal notes for the department's staff."""
    staff = is_staff_for(user, report)
    return [u for u in report.updates if u.is_public or staff]


def _actor(actor_id: int) -> User:
    actor = db.session.get(User, actor_id)
    if actor is None:
        raise NotAllowed(_l("Please sign in to continue."))
    return actor


def _check_manage(actor: User, report: Report) -> None:
    if not is_staff_for(actor, report):
        raise NotAllowed(
            _l(
                "Only staff of %(department)s can change this report.",
                department=pick_text(report.department.name).text,
            )
        )


def _get_report(report_id: int) -> Report:
    report = db.session.get(Report, report_id)
    if report is None:
        raise NotFound(_l("This report does not exist."))
    return report


def _notify(update_id: int) -> None:
    from civic.reports.jobs import notify_followers

    enqueue(notify_followers, update_id)


def _apply_state(
    report: Report,
    new_state: str,
    now: datetime,
    *,
    close_reason: str | None = None,
    duplicate_of_id: int | None = None,
    referral: str | None = None,
    status_notes: str | None = None,
) -> None:
    """Move the report with a conditional UPDATE, so two concurrent changes cannot both win."""
    values: dict[str, Any] = {
        "state": new_state,
        "status_notes": status_notes if status_notes is not None else report.status_notes,
        "updated_at": now,
        "close_reason": close_reason if new_state == "closed" else None,
        "duplicate_of_id": duplicate_of_id if new_state == "closed" else None,
        "referral": referral if new_state == "closed" else None,
    }
    if report.acknowledged_at is None and new_state != "new":
        values["acknowledged_at"] = now
    if new_state == "resolved":
        values["resolved_at"] = now
    elif new_state in workflow.OPEN_STATES:
        values["resolved_at"] = None
    values["closed_at"] = now if new_state == "closed" else None
    changed = db.session.execute(
        update(Report).where(Report.id == report.id, Report.state == report.state).values(**values)
    ).rowcount
    if not changed:
        db.session.rollback()
        raise Conflict(_l("Someone changed this report meanwhile. Please reload the page."))


def _check_transition(
    report: Report,
    new_state: str,
    message: str,
    close_reason: str | None,
    duplicate_of_id: int | None,
    referral: str | None,
) -> str:
    if new_state not in workflow.STATES:
        raise DomainError(_l("Unknown state."), field="state")
    if not workflow.can_staff_move(report.state, new_state):
        raise Conflict(
            _l(
                "A report that is “%(current)s” cannot become “%(wanted)s”.",
                current=workflow.STATE_LABELS[report.state],
                wanted=workflow.STATE_LABELS[new_state],
            ),
            field="state",
        )
    message = (message or "").strip()
    if not message:
        raise DomainError(
            _l("Please write a public message: the reporter and followers will read it."),
            field="message",
        )
    if HTML_TAG.search(message):
        raise DomainError(_l("Please use plain text, without HTML."), field="message")
    if new_state == "closed":
        if close_reason not in workflow.CLOSE_REASONS:
            raise DomainError(_l("Please choose why the report is closed."), field="close_reason")
        if close_reason == "duplicate":
            target = db.session.get(Report, duplicate_of_id) if duplicate_of_id else None
            if target is None or target.id == report.id or not target.is_public:
                raise DomainError(
                    _l("Please give the number of the report this one repeats."),
                    field="duplicate_of",
                )
        if close_reason == "not_responsible" and not (referral or "").strip():
            raise DomainError(
                _l("Please say who handles this instead, so the reporter knows where to turn."),
                field="referral",
            )
    return message


def change_state(
    actor_id: int,
    report_id: int,
    new_state: str,
    message: str,
    close_reason: str | None = None,
    duplicate_of_id: int | None = None,
    referral: str | None = None,
    now: datetime | None = None,
    notify: bool = True,
) -> ReportUpdate:
    """Staff move a report to another state with a public message; followers hear of it."""
    now = now or utcnow()
    actor = _actor(actor_id)
    report = _get_report(report_id)
    _check_manage(actor, report)
    message = _check_transition(report, new_state, message, close_reason, duplicate_of_id, referral)
    before = {"state": report.state}
    from_state = report.state
    _apply_state(
        report,
        new_state,
        now,
        close_reason=close_reason,
        duplicate_of_id=duplicate_of_id,
        referral=(referral or "").strip() or None,
        status_notes=message,
    )
    entry = ReportUpdate(
        report_id=report.id,
        kind="state",
        from_state=from_state,
        to_state=new_state,
        body=message,
        author_id=actor.id,
        is_staff=True,
        data={"close_reason": close_reason, "duplicate_of": duplicate_of_id, "referral": referral}
        if new_state == "closed"
        else {},
        created_at=now,
    )
    db.session.add(entry)
    audit.record(actor.id, "report.state", "report", report.id, before, {"state": new_state})
    db.session.commit()
    db.session.refresh(report)
    if notify:
        _notify(entry.id)
    return entry


def bulk_change_state(
    actor_id: int,
    report_ids: Sequence[int],
    new_state: str,
    message: str,
    close_reason: str | None = None,
    referral: str | None = None,
) -> int:
    """Change many reports at once, all or nothing: any report that cannot change stops all."""
    ids = sorted({int(i) for i in report_ids})
    if not ids:
        raise DomainError(_l("Please tick at least one report."), field="report_ids")
    if close_reason == "duplicate":
        raise DomainError(
            _l("Merge duplicates one by one, from the report's page."), field="close_reason"
        )
    actor = _actor(actor_id)
    now = utcnow()
    reports = list(db.session.scalars(select(Report).where(Report.id.in_(ids))))
    if len(reports) != len(ids):
        raise NotFound(_l("This report does not exist."))
    for report in reports:
        _check_manage(actor, report)
        try:
            _check_transition(report, new_state, message, close_reason, None, referral)
        except DomainError as error:
            raise type(error)(
                _l("Report #%(id)s: %(reason)s", id=report.id, reason=error.message),
                field=error.field,
            ) from error
    entries = []
    for report in reports:
        from_state = report.state
        _apply_state(
            report,
            new_state,
            now,
            close_reason=close_reason,
            referral=referral,
            status_notes=message.strip(),
        )
        entry = ReportUpdate(
            report_id=report.id,
            kind="state",
            from_state=from_state,
            to_state=new_state,
            body=message.strip(),
            author_id=actor.id,
            is_staff=True,
            data={"close_reason": close_reason, "referral": referral}
            if new_state == "closed"
            else {},
            created_at=now,
        )
        db.session.add(entry)
        entries.append(entry)
        audit.record(
            actor.id,
            "report.state",
            "report",
            report.id,
            {"state": from_state},
            {"state": new_state, "bulk": True},
        )
    db.session.commit()
    for entry in entries:
        _notify(entry.id)
    return len(entries)


def add_note(actor_id: int, report_id: int, body: str) -> ReportUpdate:
    """An internal staff note: never shown to the public, never e-mailed to followers."""
    actor = _actor(actor_id)
    report = _get_report(report_id)
    _check_manage(actor, report)
    body = (body or "").strip()
    if not body:
        raise DomainError(_l("Please write the note."), field="note")
    entry = ReportUpdate(
        report_id=report.id,
        kind="note",
        is_public=False,
        body=body[:4000],
        author_id=actor.id,
        is_staff=True,
    )
    db.session.add(entry)
    db.session.commit()
    return entry


def post_message(actor_id: int, report_id: int, body: str) -> ReportUpdate:
    """A public message from staff without a change of state."""
    actor = _actor(actor_id)
    report = _get_report(report_id)
    _check_manage(actor, report)
    body = (body or "").strip()
    if not body:
        raise DomainError(_l("Please write the message."), field="message")
    if HTML_TAG.search(body):
        raise DomainError(_l("Please use plain text, without HTML."), field="message")
    now = utcnow()
    entry = ReportUpdate(
        report_id=report.id,
        kind="message",
        body=body[:4000],
        author_id=actor.id,
        is_staff=True,
        created_at=now,
    )
    db.session.add(entry)
    report.updated_at = now
    report.status_notes = body[:4000]
    audit.record(actor.id, "report.message", "report", report.id, None, {"message": body[:200]})
    db.session.commit()
    _notify(entry.id)
    return entry


def list_assignable_staff(department_id: int) -> list[User]:
    """Staff members of a department, by name."""
    return list(
        db.session.scalars(
            select(User)
            .join(DepartmentMember, DepartmentMember.user_id == User.id)
            .where(DepartmentMember.department_id == department_id)
            .where(
                User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(("staff", "admin"))))
            )
            .order_by(User.display_name)
        )
    )


def assign_report(actor_id: int, report_id: int, assignee_id: int | None) -> Report:
    """Give the report to a staff member of its department (or to nobody)."""
    actor = _actor(actor_id)
    report = _get_report(report_id)
    _check_manage(actor, report)
    if assignee_id:
        allowed = {u.id for u in list_assignable_staff(report.department_id)}
        if assignee_id not in allowed:
            raise DomainError(
                _l("Choose a staff member of the report's department."), field="assignee"
            )
    before = {"assignee_id": report.assignee_id}
    report.assignee_id = assignee_id or None
    assignee = db.session.get(User, assignee_id) if assignee_id else None
    db.session.add(
        ReportUpdate(
            report_id=report.id,
            kind="assigned",
            is_public=False,
            body=assignee.display_name if assignee else "",
            author_id=actor.id,
            is_staff=True,
        )
    )
    audit.record(
        actor.id, "report.assign", "report", report.id, before, {"assignee_id": report.assignee_id}
    )
    db.session.commit()
    return report


def recategorise(actor_id: int, report_id: int, category_id: int, message: str = "") -> Report:
    """Move a report to another category, and so to that category's department: the fix for a
    report sent to the wrong team."""
    actor = _actor(actor_id)
    report = _get_report(report_id)
    _check_manage(actor, report)
    category = db.session.get(Category, category_id)
    if category is None:
        raise DomainError(_l("Please choose a category from the list."), field="category")
    if category.id == report.category_id:
        return report
    before = {"category_id": report.category_id, "department_id": report.department_id}
    report.category_id = category.id
    report.department_id = category.department_id
    report.assignee_id = None
    report.public_latitude, report.public_longitude = _public_position(
        category, report.latitude, report.longitude
    )
    report.updated_at = utcnow()
    entry = ReportUpdate(
        report_id=report.id,
        kind="category",
        body=(message or "").strip()[:4000],
        author_id=actor.id,
        is_staff=True,
        data={"from": before["category_id"], "to": category.id},
    )
    db.session.add(entry)
    audit.record(
        actor.id, "report.category", "report", report.id, before, {"category_id": category.id}
    )
    db.session.commit()
    _notify(entry.id)
    return report


def merge_report(actor_id: int, report_id: int, into_id: int, message: str = "") -> Report:
    """Close a report as a duplicate of another: its followers move to the other report and
    both timelines keep the history."""
    actor = _actor(actor_id)
    report = _get_report(report_id)
    target = db.session.get(Report, into_id) if into_id else None
    if target is None or target.id == report.id or not target.is_public:
        raise DomainError(
            _l("Please give the number of the report this one repeats."), field="duplicate_of"
        )
    _check_manage(actor, report)
    message = (message or "").strip() or str(
        _l("This problem was already reported as #%(id)s; please follow that report.", id=target.id)
    )
    change_state(
        actor.id, report.id, "closed", message, close_reason="duplicate", duplicate_of_id=target.id
    )
    now = utcnow()
    moved = 0
    people = list(
        db.session.scalars(select(ReportFollower).where(ReportFollower.report_id == report.id))
    )
    if report.reporter_id or (report.reporter_email and report.is_confirmed):
        # The duplicate's reporter follows the report that stays open.
        people.append(
            ReportFollower(
                user_id=report.reporter_id,
                email=None if report.reporter_id else report.reporter_email,
                is_confirmed=True,
                locale=report.locale,
            )
        )
    for follower in people:
        exists = db.session.scalar(
            select(ReportFollower.id).where(
                ReportFollower.report_id == target.id,
                or_(
                    and_(
                        ReportFollower.user_id.is_not(None),
                        ReportFollower.user_id == follower.user_id,
                    ),
                    and_(ReportFollower.email.is_not(None), ReportFollower.email == follower.email),
                ),
            )
        )
        if exists is None:
            db.session.add(
                ReportFollower(
                    report_id=target.id,
                    user_id=follower.user_id,
                    email=follower.email,
                    is_supporter=True,
                    is_confirmed=follower.is_confirmed,
                    locale=follower.locale,
                    created_at=now,
                )
            )
            moved += 1
    target.supporter_count = (target.supporter_count or 0) + 1 + (report.supporter_count or 0)
    target.updated_at = now
    db.session.add(
        ReportUpdate(
            report_id=target.id,
            kind="merged",
            author_id=actor.id,
            is_staff=True,
            data={"from": report.id, "followers": moved},
            created_at=now,
        )
    )
    audit.record(actor.id, "report.merge", "report", report.id, None, {"into": target.id})
    db.session.commit()
    return target


def set_hidden(actor_id: int, report_id: int, hidden: bool, reason: str = "") -> Report:
    """Moderation: hide a report from the public with a reason shown in its place (never delete)."""
    actor = _actor(actor_id)
    report = _get_report(report_id)
    _check_manage(actor, report)
    reason = (reason or "").strip()
    if hidden and not reason:
        raise DomainError(_l("Please give the reason shown to the public."), field="reason")
    report.is_hidden = hidden
    report.hidden_reason = reason if hidden else None
    report.updated_at = utcnow()
    db.session.add(
        ReportUpdate(
            report_id=report.id,
            kind="hidden",
            is_public=False,
            body=reason,
            author_id=actor.id,
            is_staff=True,
            data={"hidden": hidden},
        )
    )
    audit.record(
        actor.id,
        "report.hide" if hidden else "report.unhide",
        "report",
        report.id,
        None,
        {"reason": reason},
    )
    db.session.commit()
    return report


# --------------------------------------------------------------------------------------------
# Residents: reopen, me too, follow


def reopen_link_token(report: Report) -> str:
    """A signed token letting an e-mail-only reporter reopen their fixed report."""
    return _serializer("civic-report-reopen").dumps({"r": report.id, "t": report.token[:12]})


def check_reopen_token(token: str) -> Report:
    """The report a reopen link is for, or DomainError."""
    try:
        data = _serializer("civic-report-reopen").loads(
            token, max_age=int(workflow.REOPEN_WINDOW.total_seconds()) + 86400
        )
    except BadSignature as exc:
        raise DomainError(_l("This link is not valid.")) from exc
    report = db.session.get(Report, data.get("r"))
    if report is None or report.token[:12] != data.get("t"):
        raise DomainError(_l("This link is not valid."))
    return report


def reopen_report(
    report_id: int,
    message: str,
    user_id: int | None = None,
    token: str | None = None,
    now: datetime | None = None,
) -> ReportUpdate:
    """The reporter says a fixed report is not fixed, within 14 days; it goes back to the queue."""
    now = now or utcnow()
    report = _get_report(report_id)
    if token:
        if check_reopen_token(token).id != report.id:
            raise NotAllowed(_l("Only the person who reported the problem can reopen it."))
    elif user_id is None or report.reporter_id != user_id:
        raise NotAllowed(_l("Only the person who reported the problem can reopen it."))
    if report.state != "resolved":
        raise Conflict(_l("Only a report marked as fixed can be reopened."))
    if not workflow.can_reopen(report.state, report.resolved_at, now):
        raise Conflict(
            _l("Reports can be reopened within 14 days of being fixed. Please make a new report.")
        )
    message = (message or "").strip()
    if not message:
        raise DomainError(_l("Please say what is still wrong."), field="message")
    if HTML_TAG.search(message):
        raise DomainError(_l("Please use plain text, without HTML."), field="message")
    _apply_state(report, "new", now)
    db.session.execute(
        update(Report).where(Report.id == report.id).values(reopen_count=Report.reopen_count + 1)
    )
    entry = ReportUpdate(
        report_id=report.id,
        kind="reopened",
        from_state="resolved",
        to_state="new",
        body=message[:4000],
        author_id=user_id,
        created_at=now,
    )
    db.session.add(entry)
    db.session.commit()
    db.session.refresh(report)
    _notify(entry.id)
    return entry


def support_report(report_id: int, user_id: int | None = None, email: str | None = None) -> str:
    """ "Me too": count the person as affected and make them a follower.

    Returns 'added', 'already' or 'confirm' (an e-mail link was sent to someone without an
    account). The unique constraint makes a double click count once."""
    report = _get_report(report_id)
    if not report.is_public:
        raise NotFound(_l("This report does not exist."))
    if not report.is_open:
        raise Conflict(_l("This report is no longer open."))
    if user_id is not None:
        if report.reporter_id == user_id:
            raise Conflict(_l("You reported this problem yourself."))
        follower = db.session.scalar(
            select(ReportFollower).where(
                ReportFollower.report_id == report.id, ReportFollower.user_id == user_id
            )
        )
        if follower is not None and follower.is_supporter:
            return "already"
        try:
            if follower is None:
                db.session.add(
                    ReportFollower(report_id=report.id, user_id=user_id, is_supporter=True)
                )
                db.session.flush()
            else:
                claimed = db.session.execute(
                    update(ReportFollower)
                    .where(ReportFollower.id == follower.id, ReportFollower.is_supporter.is_(False))
                    .values(is_supporter=True)
                ).rowcount
                if not claimed:
                    db.session.rollback()
                    return "already"
            db.session.execute(
                update(Report)
                .where(Report.id == report.id)
                .values(supporter_count=Report.supporter_count + 1)
            )
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return "already"
        return "added"
    email = (email or "").strip().lower()
    if not EMAIL_SHAPE.match(email) or len(email) > 254:
        raise DomainError(_l("Invalid email address."), field="email")
    link = url_for(
        "reports.confirm_support",
        token=_serializer("civic-report-support").dumps(
            {"r": report.id, "e": email, "l": current_locale_code()}
        ),
        _external=True,
    )
    message = queue_email(
        email,
        str(_l("Confirm that you are affected by report #%(id)s", id=report.id)),
        "emails/report_support.txt",
        report=report,
        link=link,
    )
    db.session.commit()
    enqueue(deliver_outbox_message, message.id)
    return "confirm"


def confirm_support(token: str) -> Report:
    """Count an e-mail "me too" once its link is clicked (twice counts once)."""
    data = _load_signed("civic-report-support", token)
    report = _get_report(int(data.get("r", 0)))
    try:
        db.session.add(
            ReportFollower(
                report_id=report.id, email=data["e"], is_supporter=True, locale=data.get("l")
            )
        )
        db.session.flush()
        db.session.execute(
            update(Report)
            .where(Report.id == report.id)
            .values(supporter_count=Report.supporter_count + 1)
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
    db.session.refresh(report)
    return report


def follow_report(report_id: int, user_id: int, follow: bool = True) -> None:
    """Hear of every public change of a report (or stop)."""
    report = _get_report(report_id)
    existing = db.session.scalar(
        select(ReportFollower).where(
            ReportFollower.report_id == report.id, ReportFollower.user_id == user_id
        )
    )
    if follow and existing is None:
        db.session.add(ReportFollower(report_id=report.id, user_id=user_id))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
    elif not follow and existing is not None:
        if existing.is_supporter:
            db.session.execute(
                update(Report)
                .where(Report.id == report.id, Report.supporter_count > 0)
                .values(supporter_count=Report.supporter_count - 1)
            )
        db.session.delete(existing)
        db.session.commit()


def follower_state(report_id: int, user_id: int | None) -> tuple[bool, bool]:
    """(is following, said "me too") for a signed-in person."""
    if user_id is None:
        return False, False
    row = db.session.scalar(
        select(ReportFollower).where(
            ReportFollower.report_id == report_id, ReportFollower.user_id == user_id
        )
    )
    return (row is not None, bool(row and row.is_supporter))


# --------------------------------------------------------------------------------------------
# Lists, filters, the map


@dataclass(frozen=True)
class ReportFilters:
    """What the public list, the map, the staff queue and the API filter on."""

    category_ids: tuple[int, ...] = ()
    states: tuple[str, ...] = ()
    district_ids: tuple[int, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    department_ids: tuple[int, ...] = ()
    assignee_id: int | None = None
    is_unassigned: bool = False
    is_overdue: bool = False
    search: str = ""

    def key(self) -> str:
        """A stable text form, for caches."""
        return repr(self)


def state_group(value: str) -> tuple[str, ...]:
    """A filter value ('open', 'resolved', ...) as the states it covers."""
    if value == "open":
        return tuple(workflow.STATES[:3])
    if value in workflow.STATES:
        return (value,)
    return ()


def _apply_filters(query, filters: ReportFilters, now: datetime | None = None):
    if filters.category_ids:
        query = query.where(Report.category_id.in_(filters.category_ids))
    if filters.states:
        query = query.where(Report.state.in_(filters.states))
    if filters.district_ids:
        query = query.where(Report.district_id.in_(filters.district_ids))
    if filters.department_ids:
        query = query.where(Report.department_id.in_(filters.department_ids))
    if filters.date_from:
        query = query.where(Report.created_at >= _start_of(filters.date_from))
    if filters.date_to:
        query = query.where(Report.created_at < _start_of(filters.date_to + timedelta(days=1)))
    if filters.assignee_id:
        query = query.where(Report.assignee_id == filters.assignee_id)
    if filters.is_unassigned:
        query = query.where(Report.assignee_id.is_(None))
    if filters.is_overdue:
        query = query.where(
            Report.state.in_(workflow.OPEN_STATES), Report.due_at < (now or utcnow())
        )
    if filters.search:
        term = filters.search.strip()
        if term.lstrip("#").isdigit():
            query = query.where(Report.id == int(term.lstrip("#")))
        else:
            query = query.where(func.lower(Report.description).like(f"%{term.lower()}%"))
    return query


def _start_of(day: date) -> datetime:
    """Midnight of a day in the city's time zone, as UTC."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(current_app.config["CIVIC_TIMEZONE"])
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _public(query):
    return query.where(Report.is_confirmed.is_(True), Report.is_hidden.is_(False))


@dataclass(frozen=True)
class ReportPage:
    """A page of reports."""

    items: list[Report]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


SORTS = {
    "newest": (Report.created_at.desc(), Report.id.desc()),
    "oldest": (Report.created_at.asc(), Report.id.asc()),
    "updated": (Report.updated_at.desc(), Report.id.desc()),
    "due": (Report.due_at.asc(), Report.id.asc()),
    "supporters": (Report.supporter_count.desc(), Report.id.desc()),
}


def list_reports(
    filters: ReportFilters, page: int = 1, per_page: int = 20, sort: str = "newest"
) -> ReportPage:
    """Public reports matching the filters."""
    query = _apply_filters(_public(select(Report)), filters)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = max(1, page)
    items = list(
        db.session.scalars(
            _with_card_data(query)
            .order_by(*SORTS.get(sort, SORTS["newest"]))
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).unique()
    )
    return ReportPage(items, total, page, per_page)


def _with_card_data(query):
    """Load what a report card shows in the same round trips (no N+1 queries)."""
    return query.options(
        joinedload(Report.category),
        joinedload(Report.district),
        selectinload(Report.photos).joinedload(ReportPhoto.file),
    )


def display_names(user_ids: set[int]) -> dict[int, str]:
    """User id -> display name, for staff tables."""
    if not user_ids:
        return {}
    return dict(
        db.session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()
    )


def list_my_reports(user_id: int) -> list[Report]:
    """Reports someone made or follows, latest change first."""
    followed = select(ReportFollower.report_id).where(ReportFollower.user_id == user_id)
    return list(
        db.session.scalars(
            select(Report)
            .where(or_(Report.reporter_id == user_id, Report.id.in_(followed)))
            .order_by(Report.updated_at.desc())
            .limit(200)
        )
    )


def _cell(column, offset: float, size: float):
    # Offsetting makes every value positive, so integer truncation is a floor on any database.
    shifted = (column + offset) / size
    if db.engine.dialect.name == "postgresql":
        return func.floor(shifted)
    return func.cast(shifted, db.Integer)


def map_data(
    bbox: tuple[float, float, float, float] | None, zoom: int, filters: ReportFilters
) -> dict[str, Any]:
    """Public reports in a viewport, compact: single points when zoomed in and not too many,
    otherwise exact counts per grid cell (a cell of one is drawn as a marker, never as a
    "cluster of one"), so that 200,000 reports never travel to the browser.

    Served from the in-memory index (mapindex.py) unless CIVIC_REPORT_MAP_INDEX is 0, when
    the database aggregates instead (kept for comparison and for tiny deployments)."""
    zoom = max(0, min(int(zoom), 22))
    if not setting("CIVIC_REPORT_MAP_INDEX"):
        return _map_data_sql(bbox, zoom, filters)
    from civic.reports import mapindex

    snapshot = mapindex.get_index(current_app._get_current_object()).refresh()
    start = mapindex._seconds(_start_of(filters.date_from)) if filters.date_from else None
    end = (
        mapindex._seconds(_start_of(filters.date_to + timedelta(days=1)))
        if filters.date_to
        else None
    )
    mask = mapindex.select_rows(snapshot, bbox, filters, start, end)
    max_points = setting("CIVIC_REPORT_MAP_MAX_POINTS")
    total = int(mask.sum())
    if zoom >= setting("CIVIC_REPORT_MAP_POINT_ZOOM") and total <= max_points:
        now = mapindex._seconds(utcnow())
        open_codes = {workflow.STATE_CODES[s] for s in workflow.OPEN_STATES}
        order = np.argsort(-snapshot.ids[mask], kind="stable")
        rows = zip(
            snapshot.ids[mask][order].tolist(),
            snapshot.lat[mask][order].tolist(),
            snapshot.lon[mask][order].tolist(),
            snapshot.category[mask][order].tolist(),
            snapshot.state[mask][order].tolist(),
            snapshot.due[mask][order].tolist(),
            strict=True,
        )
        return {
            "mode": "points",
            "total": total,
            "points": [
                [i, round(la, 6), round(lo, 6), c, st, int(st in open_codes and now > due)]
                for i, la, lo, c, st, due in rows
            ],
        }
    return {
        "mode": "clusters",
        "total": total,
        "clusters": mapindex.bin_cells(snapshot, mask, grid_size_for_zoom(zoom)),
    }


def _map_data_sql(
    bbox: tuple[float, float, float, float] | None, zoom: int, filters: ReportFilters
) -> dict[str, Any]:
    """The same answer as map_data, aggregated by the database."""
    base = _apply_filters(_public(select()), filters)
    if bbox:
        base = within_bbox(base, Report.public_latitude, Report.public_longitude, bbox)
    max_points = setting("CIVIC_REPORT_MAP_MAX_POINTS")
    if zoom >= setting("CIVIC_REPORT_MAP_POINT_ZOOM"):
        rows = db.session.execute(
            base.add_columns(
                Report.id,
                Report.public_latitude,
                Report.public_longitude,
                Report.category_id,
                Report.state,
                Report.due_at,
            )
            .order_by(Report.id.desc())
            .limit(max_points + 1)
        ).all()
        if len(rows) <= max_points:
            now = utcnow()
            return {
                "mode": "points",
                "total": len(rows),
                "points": [
                    [
                        r.id,
                        round(r.public_latitude, 6),
                        round(r.public_longitude, 6),
                        r.category_id,
                        workflow.STATE_CODES[r.state],
                        int(workflow.is_overdue(r.state, r.due_at, now)),
                    ]
                    for r in rows
                ],
            }
    size = grid_size_for_zoom(zoom)
    gy = _cell(Report.public_latitude, 90.0, size).label("gy")
    gx = _cell(Report.public_longitude, 180.0, size).label("gx")
    rows = db.session.execute(
        base.add_columns(
            gy,
            gx,
            func.count().label("n"),
            func.avg(Report.public_latitude).label("lat"),
            func.avg(Report.public_longitude).label("lon"),
            func.max(Report.id).label("last_id"),  # the id, for a cell of one
        ).group_by(gy, gx)
    ).all()
    return {
        "mode": "clusters",
        "total": sum(r.n for r in rows),
        "clusters": [
            [r.n, round(r.lat, 5), round(r.lon, 5), r.last_id if r.n == 1 else 0] for r in rows
        ],
    }


# --------------------------------------------------------------------------------------------
# Staff queue and statistics


def staff_department_ids(user: User) -> tuple[int, ...] | None:
    """The departments whose queue a staff member works (None: all, for admins)."""
    if user.has_role("admin"):
        return None
    return tuple(sorted(user.department_ids))


def staff_queue(
    actor_id: int, filters: ReportFilters, sort: str = "due", page: int = 1, per_page: int = 50
) -> ReportPage:
    """Reports of the actor's departments (every department for admins), confirmed or not."""
    actor = _actor(actor_id)
    if not actor.has_role("staff"):
        raise NotAllowed(_l("Only staff can see the queue."))
    allowed = staff_department_ids(actor)
    if allowed is not None:
        wanted = tuple(d for d in (filters.department_ids or allowed) if d in allowed) or (-1,)
        filters = ReportFilters(**{**filters.__dict__, "department_ids": wanted})
    query = _apply_filters(select(Report), filters)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = max(1, page)
    items = list(
        db.session.scalars(
            _with_card_data(query)
            .order_by(*SORTS.get(sort, SORTS["due"]))
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).unique()
    )
    return ReportPage(items, total, page, per_page)


@dataclass(frozen=True)
class Statistics:
    """What staff read on the statistics page."""

    period_days: int
    total: int
    by_category: list[tuple[Category, int]]
    by_district: list[tuple[District, int]]
    by_week: list[tuple[date, int]]
    median_hours_to_acknowledge: float | None
    median_hours_to_resolve: float | None
    resolved_count: int
    resolved_within_target: int
    overdue: list[Report]

    @property
    def share_within_target(self) -> float | None:
        return self.resolved_within_target / self.resolved_count if self.resolved_count else None


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def statistics(
    actor_id: int,
    period_days: int = 90,
    department_id: int | None = None,
    now: datetime | None = None,
) -> Statistics:
    """Volume by category, district and week; medians to acknowledge and resolve; the share
    resolved within the category's target; the overdue list."""
    actor = _actor(actor_id)
    if not actor.has_role("staff"):
        raise NotAllowed(_l("Only staff can see the statistics."))
    now = now or utcnow()
    since = now - timedelta(days=period_days)
    scope = [Report.is_confirmed.is_(True), Report.created_at >= since]
    if department_id:
        scope.append(Report.department_id == department_id)
    by_category_rows = db.session.execute(
        select(Report.category_id, func.count()).where(*scope).group_by(Report.category_id)
    ).all()
    by_district_rows = db.session.execute(
        select(Report.district_id, func.count()).where(*scope).group_by(Report.district_id)
    ).all()
    categories = {c.id: c for c in list_categories(include_inactive=True)}
    districts = {d.id: d for d in db.session.scalars(select(District))}
    rows = db.session.execute(
        select(Report.created_at, Report.acknowledged_at, Report.resolved_at, Report.due_at).where(
            *scope
        )
    ).all()
    weeks: dict[date, int] = {}
    to_ack, to_resolve = [], []
    resolved = within = 0
    for created_at, acknowledged_at, resolved_at, due in rows:
        monday = (created_at - timedelta(days=created_at.weekday())).date()
        weeks[monday] = weeks.get(monday, 0) + 1
        if acknowledged_at:
            to_ack.append((acknowledged_at - created_at).total_seconds() / 3600)
        if resolved_at:
            resolved += 1
            to_resolve.append((resolved_at - created_at).total_seconds() / 3600)
            within += resolved_at <= due
    overdue_query = select(Report).where(
        Report.is_confirmed.is_(True), Report.state.in_(workflow.OPEN_STATES), Report.due_at < now
    )
    if department_id:
        overdue_query = overdue_query.where(Report.department_id == department_id)
    return Statistics(
        period_days=period_days,
        total=len(rows),
        by_category=sorted(
            ((categories[cid], n) for cid, n in by_category_rows if cid in categories),
            key=lambda x: -x[1],
        ),
        by_district=sorted(
            ((districts[did], n) for did, n in by_district_rows if did in districts),
            key=lambda x: -x[1],
        ),
        by_week=sorted(weeks.items()),
        median_hours_to_acknowledge=_median(to_ack),
        median_hours_to_resolve=_median(to_resolve),
        resolved_count=resolved,
        resolved_within_target=within,
        overdue=list(db.session.scalars(overdue_query.order_by(Report.due_at).limit(100))),
    )


# --------------------------------------------------------------------------------------------
# Hotspots (computed by a job, cached in a table)

HOTSPOT_PERIODS = (30, 90, 365)
HOTSPOT_MAX_AGE = timedelta(hours=6)


def hotspot_key(category_id: int | None, period_days: int, resolution: int) -> str:
    """The cache row's key."""
    return f"{category_id or 'all'}:{period_days}:{resolution}"


def get_hotspots(
    category_id: int | None, period_days: int, resolution: int = 9, refresh: bool = False
) -> ReportHotspot | None:
    """The cached hotspots; a job recomputes them when missing, stale or asked to."""
    if period_days not in HOTSPOT_PERIODS:
        raise DomainError(_l("Choose one of the periods offered."), field="period")
    if not 7 <= resolution <= 10:
        raise DomainError(_l("Choose one of the sizes offered."), field="resolution")
    row = db.session.scalar(
        select(ReportHotspot).where(
            ReportHotspot.key == hotspot_key(category_id, period_days, resolution)
        )
    )
    if refresh or row is None or utcnow() - row.computed_at > HOTSPOT_MAX_AGE:
        from civic.reports.jobs import compute_hotspots

        enqueue(compute_hotspots, category_id, period_days, resolution)
        db.session.expire_all()
        row = db.session.scalar(
            select(ReportHotspot).where(
                ReportHotspot.key == hotspot_key(category_id, period_days, resolution)
            )
        )
    return row


# --------------------------------------------------------------------------------------------
# Subscriptions (daily digests)


def subscribe(user_id: int, district_id: int | None, category_id: int | None) -> ReportSubscription:
    """Get a daily digest of new reports in a district, a category, or both."""
    if not district_id and not category_id:
        raise DomainError(_l("Choose a district, a category or both."), field="district")
    if district_id and db.session.get(District, district_id) is None:
        raise DomainError(_l("Please choose a district from the list."), field="district")
    if category_id and db.session.get(Category, category_id) is None:
        raise DomainError(_l("Please choose a category from the list."), field="category")
    existing = db.session.scalar(
        select(ReportSubscription).where(
            ReportSubscription.user_id == user_id,
            ReportSubscription.district_id.is_(None)
            if not district_id
            else ReportSubscription.district_id == district_id,
            ReportSubscription.category_id.is_(None)
            if not category_id
            else ReportSubscription.category_id == category_id,
        )
    )
    if existing is not None:
        raise Conflict(_l("You already have this subscription."), field="district")
    subscription = ReportSubscription(
        user_id=user_id, district_id=district_id or None, category_id=category_id or None
    )
    db.session.add(subscription)
    db.session.commit()
    return subscription


def unsubscribe(user_id: int, subscription_id: int) -> None:
    """Stop one subscription (only one's own)."""
    subscription = db.session.get(ReportSubscription, subscription_id)
    if subscription is None or subscription.user_id != user_id:
        raise NotFound(_l("This subscription does not exist."))
    db.session.delete(subscription)
    db.session.commit()


def list_subscriptions(user_id: int) -> list[ReportSubscription]:
    """A person's subscriptions."""
    return list(
        db.session.scalars(
            select(ReportSubscription)
            .where(ReportSubscription.user_id == user_id)
            .order_by(ReportSubscription.id)
        )
    )


# --------------------------------------------------------------------------------------------
# Open311 API clients


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_api_key(actor_id: int, name: str, contact_email: str) -> tuple[Open311Client, str]:
    """A new client application and its key, shown once (only a hash is stored)."""
    name = (name or "").strip()
    contact_email = (contact_email or "").strip().lower()
    if not name:
        raise DomainError(_l("Please enter a name."), field="name")
    if not EMAIL_SHAPE.match(contact_email):
        raise DomainError(_l("Invalid email address."), field="contact_email")
    key = "civic_" + secrets.token_urlsafe(24)
    client = Open311Client(
        name=name[:120],
        contact_email=contact_email,
        key_hash=_hash_key(key),
        key_prefix=key[:12],
        created_by_id=actor_id,
    )
    db.session.add(client)
    db.session.flush()
    audit.record(actor_id, "open311.key_issue", "open311_client", client.id, None, {"name": name})
    db.session.commit()
    return client, key


def revoke_api_key(actor_id: int, client_id: int) -> Open311Client:
    """Stop a client application's key from working."""
    client = db.session.get(Open311Client, client_id)
    if client is None:
        raise NotFound(_l("This API client does not exist."))
    client.is_active = False
    audit.record(actor_id, "open311.key_revoke", "open311_client", client.id, None, None)
    db.session.commit()
    return client


def authenticate_api_key(key: str | None) -> Open311Client | None:
    """The active client owning this key, or None."""
    if not key:
        return None
    client = db.session.scalar(
        select(Open311Client).where(Open311Client.key_hash == _hash_key(key))
    )
    if client is None or not client.is_active:
        return None
    return client


def record_api_use(client_id: int) -> None:
    """Count a client's successful POST (part of the caller's transaction)."""
    db.session.execute(
        update(Open311Client)
        .where(Open311Client.id == client_id)
        .values(request_count=Open311Client.request_count + 1, last_used_at=utcnow())
    )


def list_api_clients() -> list[Open311Client]:
    """Every client application, newest first."""
    return list(db.session.scalars(select(Open311Client).order_by(Open311Client.id.desc())))


def delete_stale_unconfirmed(days: int | None = None) -> int:
    """Remove anonymous reports never confirmed within the link's lifetime."""
    cutoff = utcnow() - timedelta(days=days or setting("CIVIC_REPORT_CONFIRM_DAYS"))
    removed = db.session.execute(
        delete(Report).where(Report.is_confirmed.is_(False), Report.created_at < cutoff)
    ).rowcount
    db.session.commit()
    return removed
