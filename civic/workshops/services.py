"""Workshop rules: sessions and slides, presenting, the room's answers, reveal and moderation,
the data readiness check, publishing results."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from civic.accounts.models import User
from civic.config import LANGUAGES, SEEDS_DIR
from civic.core import audit
from civic.core.errors import Conflict, DomainError, NotAllowed, NotFound
from civic.core.i18n import pick_text
from civic.core.time import utcnow
from civic.extensions import db
from civic.workshops import tally
from civic.workshops.charts import Chart, Series
from civic.workshops.models import (
    CHART_TYPES,
    CODE_LENGTH,
    MAX_TEXT_ANSWER,
    QUESTION_TYPES,
    SLIDE_KINDS,
    Slide,
    WorkshopAnswer,
    WorkshopDataset,
    WorkshopSession,
)

# No 0/O, 1/I/L: a code read off a projector is typed right the first time.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
DEVICE_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_TITLE = 200
MAX_BODY = 2000
MAX_OPTIONS = 10
MAX_OPTION_LABEL = 120
MAX_DATASET_BYTES = 1_000_000
MAX_DATASET_ROWS = 2000
MAX_DATASET_COLUMNS = 20
READINESS_TEMPLATE = "readiness"

KIND_LABELS = {
    "data": _l("Data: a chart of city data"),
    "question": _l("Question to the room"),
    "text": _l("Text"),
}
QUESTION_LABELS = {
    "single": _l("Single choice"),
    "multiple": _l("Multiple choice"),
    "rating": _l("Rating from 1 to 5"),
    "text": _l("Short text (shown as a word list)"),
    "ranking": _l("Ranking"),
}
CHART_TYPE_LABELS = {
    "bar": _l("Bar chart"),
    "stacked_bar": _l("Stacked bar chart"),
    "line": _l("Line chart"),
    "map": _l("Map of report hotspots"),
}
STATE_LABELS = {"draft": _l("Not started"), "live": _l("Live"), "closed": _l("Ended")}


# -- Access ---------------------------------------------------------------------------------


def _facilitator(actor_id: int) -> User:
    actor = db.session.get(User, actor_id)
    if actor is None or not actor.has_role("facilitator"):
        raise NotAllowed(_l("Only facilitators can run workshops."))
    return actor


def _own(actor_id: int, session_id: int) -> WorkshopSession:
    actor = _facilitator(actor_id)
    session = get_session(session_id)
    if session.facilitator_id != actor.id and not actor.has_role("admin"):
        raise NotAllowed(_l("This session belongs to another facilitator."))
    return session


def _own_slide(actor_id: int, slide_id: int) -> Slide:
    slide = db.session.get(Slide, slide_id)
    if slide is None:
        raise NotFound(_l("This slide does not exist."))
    _own(actor_id, slide.session_id)
    return slide


def get_session(session_id: int) -> WorkshopSession:
    """The session with this id, or NotFound."""
    session = db.session.get(WorkshopSession, session_id)
    if session is None:
        raise NotFound(_l("This workshop session does not exist."))
    return session


def get_owned_session(actor_id: int, session_id: int) -> WorkshopSession:
    """The session, if the actor is its facilitator (or an admin)."""
    return _own(actor_id, session_id)


def get_owned_slide(actor_id: int, slide_id: int) -> Slide:
    """The slide, if the actor runs its session."""
    return _own_slide(actor_id, slide_id)


def normalise_code(code: str) -> str:
    """A join code as typed ('abc 123') in its stored form ('ABC123')."""
    return re.sub(r"[^A-Za-z0-9]", "", code or "").upper()


def get_session_by_code(code: str) -> WorkshopSession:
    """The session the audience joins with this code, or NotFound."""
    normalised = normalise_code(code)
    session = None
    if normalised:
        session = db.session.scalar(
            select(WorkshopSession).where(WorkshopSession.code == normalised)
        )
    if session is None:
        raise NotFound(
            _l("No session has this code. Check the code on the screen and try again."),
            field="code",
        )
    return session


def list_sessions(actor_id: int) -> list[WorkshopSession]:
    """The actor's sessions (every session for an admin), newest first."""
    actor = _facilitator(actor_id)
    query = select(WorkshopSession).order_by(WorkshopSession.id.desc())
    if not actor.has_role("admin"):
        query = query.where(WorkshopSession.facilitator_id == actor.id)
    return list(db.session.scalars(query))


# -- Sessions -------------------------------------------------------------------------------


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _clean_title(title: dict[str, str]) -> dict[str, str]:
    cleaned = {k: v.strip() for k, v in (title or {}).items() if k in LANGUAGES and v and v.strip()}
    if not cleaned:
        raise DomainError(_l("Please enter a title."), field="title")
    if any(len(v) > MAX_TITLE for v in cleaned.values()):
        raise DomainError(
            _l("Please keep the title to %(max)s characters.", max=MAX_TITLE), field="title"
        )
    return cleaned


def create_session(
    actor_id: int,
    title: dict[str, str],
    *,
    is_self_paced: bool = False,
    template: str | None = None,
) -> WorkshopSession:
    """Create a session with a fresh join code (a code clash is retried, never shared)."""
    actor = _facilitator(actor_id)
    cleaned = _clean_title(title)
    for _attempt in range(10):
        session = WorkshopSession(
            code=_new_code(),
            title=cleaned,
            facilitator_id=actor.id,
            is_self_paced=is_self_paced,
            template=template,
        )
        db.session.add(session)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            continue
        audit.record(
            actor.id,
            "workshop.create",
            "workshop_session",
            session.id,
            after={"code": session.code},
        )
        db.session.commit()
        return session
    raise Conflict(_l("Could not find a free join code. Please try again."))


def rename_session(
    actor_id: int, session_id: int, locale: str, title: str, is_self_paced: bool
) -> WorkshopSession:
    """Set the session's title in one language and its pace."""
    session = _own(actor_id, session_id)
    texts = dict(session.title)
    texts[locale] = title
    session.title = _clean_title(texts)
    session.is_self_paced = is_self_paced
    db.session.commit()
    return session


def start_session(actor_id: int, session_id: int) -> WorkshopSession:
    """Open the session to the room, on its first slide unless one is already on screen."""
    session = _own(actor_id, session_id)
    if not session.slides:
        raise Conflict(_l("Add at least one slide before starting the session."))
    session.state = "live"
    session.started_at = session.started_at or utcnow()
    session.closed_at = None
    if session.current_slide_id not in {s.id for s in session.slides}:
        session.current_slide_id = session.slides[0].id
    audit.record(actor_id, "workshop.start", "workshop_session", session.id)
    db.session.commit()
    publish_event(session.id, "slide")
    return session


def close_session(actor_id: int, session_id: int) -> WorkshopSession:
    """End the session: no more answers; results stay for the facilitator (and publication)."""
    session = _own(actor_id, session_id)
    session.state = "closed"
    session.closed_at = utcnow()
    audit.record(actor_id, "workshop.close", "workshop_session", session.id)
    db.session.commit()
    publish_event(session.id, "slide")
    return session


def delete_session(actor_id: int, session_id: int) -> None:
    """Delete a session that has no answers yet (answers are never silently lost)."""
    session = _own(actor_id, session_id)
    if count_session_answers(session.id):
        raise Conflict(_l("This session has answers and cannot be deleted. End it instead."))
    audit.record(actor_id, "workshop.delete", "workshop_session", session.id)
    db.session.delete(session)
    db.session.commit()


def go_to_slide(actor_id: int, session_id: int, slide_id: int) -> Slide:
    """Put a slide on the screen (and in front of the audience when it is a question)."""
    session = _own(actor_id, session_id)
    slide = next((s for s in session.slides if s.id == slide_id), None)
    if slide is None:
        raise NotFound(_l("This slide does not exist."))
    session.current_slide_id = slide.id
    db.session.commit()
    publish_event(session.id, "slide")
    return slide


def neighbour_slide(session: WorkshopSession, slide: Slide, step: int) -> Slide | None:
    """The slide `step` places after (or before) this one, if any."""
    index = [s.id for s in session.slides].index(slide.id) + step
    return session.slides[index] if 0 <= index < len(session.slides) else None


def current_slide(session: WorkshopSession) -> Slide | None:
    """The slide on the screen."""
    return next((s for s in session.slides if s.id == session.current_slide_id), None)


def set_results_published(actor_id: int, session_id: int, published: bool) -> WorkshopSession:
    """Publish the session's results as open data (or withdraw them)."""
    session = _own(actor_id, session_id)
    if published and not any(s.kind == "question" for s in session.slides):
        raise Conflict(_l("This session asks no questions, so it has no results to publish."))
    session.published_at = utcnow() if published else None
    audit.record(
        actor_id,
        "workshop.publish" if published else "workshop.unpublish",
        "workshop_session",
        session.id,
    )
    db.session.commit()
    return session


# -- Slides ---------------------------------------------------------------------------------


@dataclass
class SlideInput:
    """What the slide form sends, in one language."""

    kind: str
    locale: str
    title: str = ""
    body: str = ""
    question_type: str | None = None
    options_text: str = ""
    chart_source: str | None = None
    chart_type: str | None = None
    params: dict = field(default_factory=dict)


def _option_lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _merge_options(slide: Slide, data: SlideInput, has_answers: bool) -> list[dict]:
    lines = _option_lines(data.options_text)
    old = list(slide.options or [])
    if data.question_type == "rating":
        if len(lines) > 2:
            raise DomainError(
                _l("For a rating, give at most two lines: what 1 means, then what 5 means."),
                field="options",
            )
        if not lines:
            return old
    elif data.question_type in ("single", "multiple", "ranking"):
        if len(lines) < 2:
            raise DomainError(
                _l("Please give at least two options, one per line."), field="options"
            )
        if len(lines) > MAX_OPTIONS:
            raise DomainError(
                _l("Please give at most %(max)s options.", max=MAX_OPTIONS), field="options"
            )
        if len({line.casefold() for line in lines}) != len(lines):
            raise DomainError(_l("Each option must be different."), field="options")
    else:
        return []
    if any(len(line) > MAX_OPTION_LABEL for line in lines):
        raise DomainError(
            _l("Please keep each option to %(max)s characters.", max=MAX_OPTION_LABEL),
            field="options",
        )
    if old and len(lines) != len(old) and has_answers:
        raise DomainError(
            _l(
                "People have answered already: options can be reworded or translated, not added or removed."
            ),
            field="options",
        )
    used = {o["key"] for o in old}
    merged = []
    for i, line in enumerate(lines):
        if i < len(old):
            merged.append({"key": old[i]["key"], "label": {**old[i]["label"], data.locale: line}})
        else:
            n = len(used) + 1
            while f"o{n}" in used:
                n += 1
            used.add(f"o{n}")
            merged.append({"key": f"o{n}", "label": {data.locale: line}})
    return merged


def _apply(slide: Slide, data: SlideInput, has_answers: bool) -> None:
    if data.locale not in LANGUAGES:
        raise DomainError(_l("Choose one of the languages offered."), field="locale")
    if data.kind not in SLIDE_KINDS:
        raise DomainError(_l("Choose one of the slide kinds offered."), field="kind")
    title, body = (data.title or "").strip(), (data.body or "").strip()
    if len(title) > MAX_TITLE:
        raise DomainError(
            _l("Please keep the title to %(max)s characters.", max=MAX_TITLE), field="title"
        )
    if len(body) > MAX_BODY:
        raise DomainError(
            _l("Please keep the text to %(max)s characters.", max=MAX_BODY), field="body"
        )
    titles = {k: v for k, v in (slide.title or {}).items() if k != data.locale}
    bodies = {k: v for k, v in (slide.body or {}).items() if k != data.locale}
    if title:
        titles[data.locale] = title
    if body:
        bodies[data.locale] = body
    if not titles:
        raise DomainError(_l("Please enter a title."), field="title")
    slide.kind = data.kind
    if data.kind == "question":
        if data.question_type not in QUESTION_TYPES:
            raise DomainError(_l("Choose a kind of question."), field="question_type")
        if has_answers and slide.question_type and slide.question_type != data.question_type:
            raise DomainError(
                _l("People have answered already: the kind of question cannot change."),
                field="question_type",
            )
        slide.options = _merge_options(slide, data, has_answers)
        slide.question_type = data.question_type
        slide.chart_source = slide.chart_type = None
        slide.chart_params = {}
    elif data.kind == "data":
        _apply_chart(slide, data)
        slide.question_type = None
        slide.options = []
    else:
        slide.question_type = slide.chart_source = slide.chart_type = None
        slide.options, slide.chart_params = [], {}
    slide.title, slide.body = titles, bodies


def _apply_chart(slide: Slide, data: SlideInput) -> None:
    from civic.workshops.sources import CHART_SOURCES

    source = CHART_SOURCES.get(data.chart_source or "")
    if source is None or not source.is_available():
        raise DomainError(_l("Choose one of the data sources offered."), field="chart_source")
    chart_type = data.chart_type or source.chart_types[0]
    if chart_type not in CHART_TYPES or chart_type not in source.chart_types:
        raise DomainError(_l("This kind of chart does not suit this data."), field="chart_type")
    params: dict = {}
    if source.param:
        value = data.params.get(source.param)
        if source.param == "days":
            from civic.workshops.sources import PERIODS

            params["days"] = value if value in PERIODS else 30
        elif not isinstance(value, int) or value <= 0:
            raise DomainError(_l("Choose what to show from this source."), field=source.param)
        else:
            params[source.param] = value
    if source.param == "challenge_dataset_id":
        read_challenge_dataset(params["challenge_dataset_id"])
    if source.param == "dataset_id":
        dataset = db.session.get(WorkshopDataset, params["dataset_id"])
        if dataset is None or dataset.session_id != slide.session_id:
            raise DomainError(_l("Choose one of this session's CSV files."), field="dataset_id")
        slide.dataset_id = dataset.id
    slide.chart_source, slide.chart_type, slide.chart_params = source.key, chart_type, params


def add_slide(actor_id: int, session_id: int, data: SlideInput) -> Slide:
    """Append a slide to the session."""
    session = _own(actor_id, session_id)
    position = (max((s.position for s in session.slides), default=0)) + 1
    slide = Slide(
        session_id=session.id, position=position, title={}, body={}, options=[], chart_params={}
    )
    _apply(slide, data, has_answers=False)
    db.session.add(slide)
    db.session.commit()
    return slide


def update_slide(actor_id: int, slide_id: int, data: SlideInput) -> Slide:
    """Change a slide, or add its text in another language."""
    slide = _own_slide(actor_id, slide_id)
    has_answers = count_answers(slide.id) > 0
    try:
        _apply(slide, data, has_answers)
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    publish_event(slide.session_id, "slide")
    return slide


def delete_slide(actor_id: int, slide_id: int) -> None:
    """Remove a slide that has no answers."""
    slide = _own_slide(actor_id, slide_id)
    if count_answers(slide.id):
        raise Conflict(_l("This question has answers and cannot be deleted."))
    session = slide.session
    if session.current_slide_id == slide.id:
        session.current_slide_id = None
    db.session.delete(slide)
    db.session.commit()


def move_slide(actor_id: int, slide_id: int, step: int) -> Slide:
    """Move a slide one place up (-1) or down (+1)."""
    slide = _own_slide(actor_id, slide_id)
    other = neighbour_slide(slide.session, slide, step)
    if other is None:
        return slide
    a, b = slide.position, other.position
    # Two steps through a free position: the (session, position) pair stays unique throughout.
    slide.position = -1
    db.session.flush()
    other.position = a
    db.session.flush()
    slide.position = b
    db.session.commit()
    return slide


def set_question_open(actor_id: int, slide_id: int, is_open: bool) -> Slide:
    """Open or close a question for answers."""
    slide = _own_slide(actor_id, slide_id)
    if slide.kind != "question":
        raise Conflict(_l("Only questions take answers."))
    slide.is_open = is_open
    db.session.commit()
    publish_event(slide.session_id, "slide")
    return slide


def set_revealed(actor_id: int, slide_id: int, revealed: bool) -> Slide:
    """Show the question's results on the screen (or hide them again)."""
    slide = _own_slide(actor_id, slide_id)
    if slide.kind != "question":
        raise Conflict(_l("Only questions have results to reveal."))
    slide.is_revealed = revealed
    db.session.commit()
    publish_event(slide.session_id, "results")
    return slide


def hide_answer(actor_id: int, answer_id: int, hidden: bool = True) -> WorkshopAnswer:
    """Hide a text answer from the word list (or show it again); nothing is deleted."""
    answer = db.session.get(WorkshopAnswer, answer_id)
    if answer is None:
        raise NotFound(_l("This answer does not exist."))
    slide = _own_slide(actor_id, answer.slide_id)
    if slide.question_type != "text":
        raise Conflict(_l("Only text answers can be hidden."))
    answer.is_hidden = hidden
    audit.record(
        actor_id,
        "workshop.hide_answer" if hidden else "workshop.show_answer",
        "workshop_answer",
        answer.id,
    )
    db.session.commit()
    publish_event(slide.session_id, "results")
    return answer


# -- Datasets -------------------------------------------------------------------------------

_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")


def parse_number(value: str) -> float | None:
    """A CSV cell as a number ('1 234,5' and '1234.5' both read), else None."""
    cleaned = (value or "").replace("\u00a0", "").replace(" ", "").strip()
    if not _NUMBER.match(cleaned):
        return None
    return float(cleaned.replace(",", "."))


def parse_dataset(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Read an uploaded CSV: UTF-8, a header row, a label column and at least one number column."""
    if not data:
        raise DomainError(_l("The file is empty."), field="file")
    if len(data) > MAX_DATASET_BYTES:
        raise DomainError(_l("The file is too large: at most 1 MB."), field="file")
    not_utf8 = DomainError(
        _l("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."), field="file"
    )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 text: a table, in the wrong encoding
        raise not_utf8
    if b"\x00" in data[:8192]:  # images, spreadsheets, archives
        raise DomainError(
            _l("This is not a CSV file. Please upload a table saved as CSV."), field="file"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise not_utf8 from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [
            row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)
        ]
    except csv.Error:
        raise DomainError(
            _l("This is not a CSV file. Please upload a table saved as CSV."), field="file"
        ) from None
    if len(rows) < 2 or len(rows[0]) < 2:
        raise DomainError(
            _l(
                "This is not a CSV table: it needs a header row, at least one data row and at least two columns."
            ),
            field="file",
        )
    header = [c.strip()[:80] for c in rows[0]]
    if len(header) > MAX_DATASET_COLUMNS or len(rows) - 1 > MAX_DATASET_ROWS:
        raise DomainError(
            _l(
                "The table is too large: at most %(rows)s rows and %(columns)s columns.",
                rows=MAX_DATASET_ROWS,
                columns=MAX_DATASET_COLUMNS,
            ),
            field="file",
        )
    body = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DomainError(
                _l(
                    "Line %(line)s has %(found)s values; the header has %(expected)s.",
                    line=number,
                    found=len(row),
                    expected=len(header),
                ),
                field="file",
            )
        body.append([c.strip()[:200] for c in row])
    if not any(any(parse_number(r[i]) is not None for r in body) for i in range(1, len(header))):
        raise DomainError(
            _l("No column after the first holds numbers, so there is nothing to chart."),
            field="file",
        )
    return header, body


def upload_dataset(actor_id: int, session_id: int, name: str, data: bytes) -> WorkshopDataset:
    """Keep an uploaded CSV for this session's data slides."""
    session = _own(actor_id, session_id)
    columns, rows = parse_dataset(data)
    name = (name or "").strip()[:160] or _("Uploaded table")
    dataset = WorkshopDataset(session_id=session.id, name=name, columns=columns, rows=rows)
    db.session.add(dataset)
    db.session.commit()
    return dataset


def list_datasets(session_id: int) -> list[WorkshopDataset]:
    """The session's uploaded tables."""
    return list(
        db.session.scalars(
            select(WorkshopDataset)
            .where(WorkshopDataset.session_id == session_id)
            .order_by(WorkshopDataset.id)
        )
    )


def _table_chart(title: str, columns: list[str], rows: list[list[str]]) -> Chart:
    series = []
    for i, column in enumerate(columns[1:], start=1):
        values = tuple(parse_number(row[i]) for row in rows)
        if any(v is not None for v in values):
            series.append(Series(column, values))
    return Chart(
        title=title,
        labels=tuple(row[0] for row in rows),
        series=tuple(series),
        label_heading=columns[0],
    )


def dataset_chart(slide: Slide) -> Chart | None:
    """A chart of the slide's CSV: labels from the first column, a series per number column."""
    dataset = slide.dataset
    if dataset is None:
        return None
    return _table_chart(pick_text(slide.title).text or dataset.name, dataset.columns, dataset.rows)


def read_challenge_dataset(dataset_id: int | None) -> tuple[list[str], list[list[str]]]:
    """An open CSV dataset of the challenges module, read as a table (DomainError if unusable)."""
    import importlib

    from civic.challenges.models import Dataset

    dataset = db.session.get(Dataset, dataset_id) if dataset_id else None
    if dataset is None or dataset.access != "open" or dataset.file_kind != "csv":
        raise DomainError(
            _l("Choose one of the open CSV datasets offered."), field="challenge_dataset_id"
        )
    files = importlib.import_module("civic.challenges.files")
    with files.open_file(dataset.storage_key) as handle:
        data = handle.read(MAX_DATASET_BYTES + 1)
    try:
        return parse_dataset(data)
    except DomainError as error:
        raise DomainError(error.message, field="challenge_dataset_id") from None


def challenge_dataset_chart(slide: Slide) -> Chart | None:
    """A chart of an open challenge dataset (None if it is no longer open or readable)."""
    try:
        columns, rows = read_challenge_dataset(
            (slide.chart_params or {}).get("challenge_dataset_id")
        )
    except DomainError:
        return None
    return _table_chart(pick_text(slide.title).text, columns, rows)


# -- Answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerInput:
    """What a phone sent for one question."""

    choices: tuple[str, ...] = ()
    rating: int | None = None
    text: str = ""
    ranks: dict[str, str] = field(default_factory=dict)


def is_live(session: WorkshopSession, slide: Slide) -> bool:
    """Whether this question takes answers now."""
    return (
        session.state == "live"
        and slide.kind == "question"
        and slide.is_open
        and (session.is_self_paced or session.current_slide_id == slide.id)
    )


def live_questions(session: WorkshopSession) -> list[Slide]:
    """The questions the audience can answer now, in slide order."""
    return [s for s in session.slides if is_live(session, s)]


def check_joinable(session: WorkshopSession) -> None:
    """Refuse to join a session that has not started or has ended."""
    if session.state == "closed":
        raise Conflict(_l("This session has ended. Thank you for taking part!"))
    if session.state == "draft":
        raise Conflict(_l("This session has not started yet. Please wait for the facilitator."))


def _check_answer(slide: Slide, data: AnswerInput) -> dict:
    keys = [o["key"] for o in slide.options]
    kind = slide.question_type
    if kind == "single":
        if len(data.choices) != 1 or data.choices[0] not in keys:
            raise DomainError(_l("Please choose one option."), field="choice")
        return {"choices": [data.choices[0]]}
    if kind == "multiple":
        chosen = list(dict.fromkeys(data.choices))
        if not chosen or any(c not in keys for c in chosen):
            raise DomainError(_l("Please choose at least one option."), field="choice")
        return {"choices": chosen}
    if kind == "rating":
        if data.rating is None or not 1 <= data.rating <= 5:
            raise DomainError(_l("Please choose a rating from 1 to 5."), field="rating")
        return {"rating": data.rating}
    if kind == "text":
        text = re.sub(r"\s+", " ", data.text or "").strip()
        if not text:
            raise DomainError(_l("Please write a short answer."), field="text")
        if len(text) > MAX_TEXT_ANSWER:
            raise DomainError(
                _l(
                    "Please keep your answer to %(max)s characters (it has %(count)s).",
                    max=MAX_TEXT_ANSWER,
                    count=len(text),
                ),
                field="text",
            )
        return {"text": text}
    # Ranking: every option gets a different place from 1 to n.
    places: dict[int, str] = {}
    for key in keys:
        raw = (data.ranks or {}).get(key, "")
        if not raw.isdigit() or not 1 <= int(raw) <= len(keys):
            raise DomainError(_l("Please give every option a place."), field="ranks")
        if int(raw) in places:
            raise DomainError(_l("Please give each option a different place."), field="ranks")
        places[int(raw)] = key
    return {"choices": [places[n] for n in sorted(places)]}


def submit_answer(
    code: str, slide_id: int, device_id: str, data: AnswerInput, locale: str | None = None
) -> WorkshopAnswer:
    """Record one device's answer to a live question: once, enforced by the database."""
    if not DEVICE_ID.match(device_id or ""):
        raise DomainError(
            _l("Your phone did not keep our cookie. Please allow cookies and try again.")
        )
    session = get_session_by_code(code)
    check_joinable(session)
    slide = db.session.get(Slide, slide_id)
    if slide is None or slide.session_id != session.id or slide.kind != "question":
        raise NotFound(_l("This question does not exist."))
    if not is_live(session, slide):
        raise Conflict(_l("This question is not open for answers right now."))
    values = _check_answer(slide, data)
    answer = WorkshopAnswer(slide_id=slide.id, device_id=device_id, locale=locale, **values)
    db.session.add(answer)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("You have already answered this question from this phone.")) from None
    publish_event(session.id, "results")
    return answer


def has_answered(slide_id: int, device_id: str) -> bool:
    """Whether this device has answered this question."""
    return bool(
        db.session.scalar(
            select(WorkshopAnswer.id).where(
                WorkshopAnswer.slide_id == slide_id, WorkshopAnswer.device_id == device_id
            )
        )
    )


def answered_slide_ids(session_id: int, device_id: str) -> set[int]:
    """The questions of this session that this device has answered."""
    return set(
        db.session.scalars(
            select(WorkshopAnswer.slide_id)
            .join(Slide, Slide.id == WorkshopAnswer.slide_id)
            .where(Slide.session_id == session_id, WorkshopAnswer.device_id == device_id)
        )
    )


def count_answers(slide_id: int) -> int:
    """How many devices answered this question."""
    return (
        db.session.scalar(
            select(func.count(WorkshopAnswer.id)).where(WorkshopAnswer.slide_id == slide_id)
        )
        or 0
    )


def count_session_answers(session_id: int) -> int:
    """Answers to every question of the session."""
    return (
        db.session.scalar(
            select(func.count(WorkshopAnswer.id))
            .join(Slide, Slide.id == WorkshopAnswer.slide_id)
            .where(Slide.session_id == session_id)
        )
        or 0
    )


def list_text_answers(slide_id: int) -> list[WorkshopAnswer]:
    """A text question's answers, newest first, hidden ones included (for moderation)."""
    return list(
        db.session.scalars(
            select(WorkshopAnswer)
            .where(WorkshopAnswer.slide_id == slide_id)
            .order_by(WorkshopAnswer.id.desc())
            .limit(200)
        )
    )


# -- Results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlideResults:
    """A question's results: how many answered and what they said."""

    slide: Slide
    answers: int
    choices: tally.ChoiceResults | None = None
    rating: tally.RatingResults | None = None
    words: tuple[tally.WordCount, ...] = ()
    ranking: tuple[tally.RankRow, ...] = ()


def question_results(slide: Slide) -> SlideResults:
    """Count a question's answers (hidden text answers left out of the word list)."""
    keys = [o["key"] for o in slide.options]
    total = count_answers(slide.id)
    kind = slide.question_type
    if kind in ("single", "multiple"):
        rows = db.session.scalars(
            select(WorkshopAnswer.choices).where(WorkshopAnswer.slide_id == slide.id)
        ).all()
        return SlideResults(
            slide, total, choices=tally.count_choices(keys, [r or [] for r in rows])
        )
    if kind == "rating":
        rows = db.session.scalars(
            select(WorkshopAnswer.rating).where(WorkshopAnswer.slide_id == slide.id)
        ).all()
        return SlideResults(slide, total, rating=tally.rate([r for r in rows if r is not None]))
    if kind == "text":
        rows = db.session.scalars(
            select(WorkshopAnswer.text)
            .where(WorkshopAnswer.slide_id == slide.id, WorkshopAnswer.is_hidden.is_(False))
            .order_by(WorkshopAnswer.id)
        ).all()
        return SlideResults(slide, total, words=tally.word_list([r for r in rows if r]))
    rows = db.session.scalars(
        select(WorkshopAnswer.choices).where(WorkshopAnswer.slide_id == slide.id)
    ).all()
    return SlideResults(slide, total, ranking=tally.rank(keys, [r or [] for r in rows]))


def option_label(slide: Slide, key: str, locale: str | None = None) -> str:
    """An option's label in the reader's language."""
    for option in slide.options:
        if option["key"] == key:
            return pick_text(option["label"], locale).text
    return key


def results_chart(results: SlideResults) -> Chart | None:
    """A question's results as a chart (text answers are a word list instead)."""
    slide = results.slide
    title = pick_text(slide.title).text
    if results.choices is not None:
        counts = dict(results.choices.counts)
        return Chart(
            title=title,
            labels=tuple(option_label(slide, o["key"]) for o in slide.options),
            series=(
                Series(_("Answers"), tuple(float(counts.get(o["key"], 0)) for o in slide.options)),
            ),
            label_heading=_("Option"),
        )
    if results.rating is not None:
        return Chart(
            title=title,
            labels=tuple(str(n) for n, _count in results.rating.distribution),
            series=(
                Series(_("Answers"), tuple(float(c) for _n, c in results.rating.distribution)),
            ),
            label_heading=_("Rating"),
        )
    if results.ranking:
        return Chart(
            title=title,
            labels=tuple(option_label(slide, r.key) for r in results.ranking),
            series=(Series(_("Points"), tuple(float(r.points) for r in results.ranking)),),
            label_heading=_("Option"),
            note=_(
                "Borda count: with n options, a first place earns n − 1 points and a last place none."
            ),
        )
    if results.words:
        return Chart(
            title=title,
            labels=tuple(w.text for w in results.words),
            series=(Series(_("Answers"), tuple(float(w.count) for w in results.words)),),
            label_heading=_("Answer"),
        )
    return None


def slide_chart(slide: Slide) -> Chart | None:
    """The chart a slide shows: its data, or its question's results."""
    if slide.kind == "data":
        from civic.workshops.sources import CHART_SOURCES

        source = CHART_SOURCES.get(slide.chart_source or "")
        if source is None or not source.is_available():
            return None
        return source.build(slide)
    if slide.kind == "question":
        return results_chart(question_results(slide))
    return None


# -- Data readiness check -------------------------------------------------------------------


def load_readiness_check() -> dict:
    """The readiness check's areas and statements in nine languages (seeds/readiness_check.json)."""
    return json.loads((SEEDS_DIR / "readiness_check.json").read_text(encoding="utf-8"))


def create_readiness_session(actor_id: int) -> WorkshopSession:
    """A self-paced session: an introduction, the 19 statements rated 1-5, and the scores chart."""
    check = load_readiness_check()
    session = create_session(
        actor_id, check["title"], is_self_paced=True, template=READINESS_TEMPLATE
    )
    position = 1
    session.slides.append(
        Slide(
            position=position,
            kind="text",
            title=check["title"],
            body=check["intro"],
            options=[],
            chart_params={},
        )
    )
    scale = [{"key": "1", "label": check["scale"]["1"]}, {"key": "5", "label": check["scale"]["5"]}]
    for area in check["areas"]:
        for item in area["questions"]:
            position += 1
            session.slides.append(
                Slide(
                    position=position,
                    kind="question",
                    question_type="rating",
                    title=item["text"],
                    body=area["title"],
                    options=scale,
                    area=area["key"],
                    item_key=item["key"],
                    chart_params={},
                )
            )
    position += 1
    session.slides.append(
        Slide(
            position=position,
            kind="data",
            chart_source="readiness",
            chart_type="bar",
            title=check["scores_title"],
            body=check["scores_caption"],
            options=[],
            chart_params={},
        )
    )
    db.session.commit()
    return session


@dataclass(frozen=True)
class ReadinessReport:
    """The room's readiness scores with the statements' and areas' texts."""

    scores: tally.ReadinessScores
    area_titles: dict[str, dict[str, str]]
    question_texts: dict[str, dict[str, str]]


def readiness_report(session: WorkshopSession) -> ReadinessReport | None:
    """Score the session's readiness statements (None when it has none)."""
    questions = [s for s in session.slides if s.kind == "question" and s.area and s.item_key]
    if not questions:
        return None
    check = load_readiness_check()
    order = [a["key"] for a in check["areas"]]
    ratings: dict[int, list[int]] = {s.id: [] for s in questions}
    for slide_id, rating in db.session.execute(
        select(WorkshopAnswer.slide_id, WorkshopAnswer.rating).where(
            WorkshopAnswer.slide_id.in_(ratings), WorkshopAnswer.rating.is_not(None)
        )
    ):
        ratings[slide_id].append(rating)
    scores = tally.readiness_scores([(s.area, s.item_key, ratings[s.id]) for s in questions], order)
    return ReadinessReport(
        scores,
        {a["key"]: a["title"] for a in check["areas"]},
        {s.item_key: s.title for s in questions},
    )


def readiness_chart(session: WorkshopSession) -> Chart | None:
    """Mean rating per area, then per statement, as one bar chart."""
    report = readiness_report(session)
    if report is None:
        return None
    labels, values = [], []
    for area in report.scores.areas:
        labels.append(pick_text(report.area_titles[area.area]).text)
        values.append(round(area.mean, 2) if area.mean is not None else None)
    for question in report.scores.questions:
        labels.append(
            f"{question.key.upper()} · {pick_text(report.question_texts[question.key]).text}"
        )
        values.append(round(question.mean, 2) if question.mean is not None else None)
    return Chart(
        title=_("Data readiness: the room's mean rating (1 to 5)"),
        labels=tuple(labels),
        series=(Series(_("Mean rating"), tuple(values)),),
        label_heading=_("Area or statement"),
    )


# -- Exports --------------------------------------------------------------------------------


def session_results_data(session: WorkshopSession, locale: str | None = None) -> dict:
    """Every question's aggregate results (never a device id), for JSON and CSV exports."""
    locale = locale or current_app.config["CIVIC_DEFAULT_LOCALE"]
    questions = []
    for slide in session.slides:
        if slide.kind != "question":
            continue
        results = question_results(slide)
        item = {
            "position": slide.position,
            "question": slide.title,
            "type": slide.question_type,
            "answers": results.answers,
        }
        if slide.area:
            item["area"], item["key"] = slide.area, slide.item_key
        if results.choices is not None:
            counts = dict(results.choices.counts)
            item["options"] = [
                {"key": o["key"], "label": o["label"], "count": counts.get(o["key"], 0)}
                for o in slide.options
            ]
        if results.rating is not None:
            item["distribution"] = {str(n): c for n, c in results.rating.distribution}
            item["mean"] = (
                round(results.rating.mean, 3) if results.rating.mean is not None else None
            )
        if results.words:
            item["words"] = [{"text": w.text, "count": w.count} for w in results.words]
        if results.ranking:
            item["ranking"] = [
                {
                    "key": r.key,
                    "label": next(o["label"] for o in slide.options if o["key"] == r.key),
                    "points": r.points,
                    "mean_position": round(r.mean_position, 3)
                    if r.mean_position is not None
                    else None,
                }
                for r in results.ranking
            ]
        questions.append(item)
    data = {
        "session": session.id,
        "title": session.title,
        "started_at": session.started_at.isoformat() if session.started_at else None,
        "closed_at": session.closed_at.isoformat() if session.closed_at else None,
        "questions": questions,
    }
    report = readiness_report(session)
    if report is not None:
        data["readiness"] = {
            "areas": [
                {
                    "area": a.area,
                    "mean": round(a.mean, 3) if a.mean is not None else None,
                    "statements": a.questions,
                }
                for a in report.scores.areas
            ],
            "overall": round(report.scores.overall, 3)
            if report.scores.overall is not None
            else None,
        }
    return data


def session_results_csv(session: WorkshopSession, locale: str | None = None) -> str:
    """One row per question and answer value: position, question, type, value, label, count."""
    locale = locale or current_app.config["CIVIC_DEFAULT_LOCALE"]
    data = session_results_data(session, locale)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["position", "question", "type", "area", "value", "label", "count", "mean"])

    def text(value: dict) -> str:
        cell = pick_text(value, locale).text
        return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell

    for q in data["questions"]:
        head = [q["position"], text(q["question"]), q["type"], q.get("area", "")]
        writer.writerow([*head, "answers", "", q["answers"], ""])
        for option in q.get("options", []):
            writer.writerow([*head, option["key"], text(option["label"]), option["count"], ""])
        for value, count in q.get("distribution", {}).items():
            writer.writerow([*head, value, "", count, ""])
        if "mean" in q:
            writer.writerow([*head, "mean", "", "", q["mean"] if q["mean"] is not None else ""])
        for word in q.get("words", []):
            writer.writerow([*head, "text", text({"x": word["text"]}), word["count"], ""])
        for row in q.get("ranking", []):
            writer.writerow(
                [*head, row["key"], text(row["label"]), row["points"], row["mean_position"] or ""]
            )
    if "readiness" in data:
        for area in data["readiness"]["areas"]:
            writer.writerow(
                [
                    "",
                    "",
                    "readiness_area",
                    area["area"],
                    "mean",
                    "",
                    area["statements"],
                    area["mean"] if area["mean"] is not None else "",
                ]
            )
    return out.getvalue()


def list_published_sessions() -> list[WorkshopSession]:
    """Sessions whose facilitator published the results, newest first."""
    return list(
        db.session.scalars(
            select(WorkshopSession)
            .where(WorkshopSession.published_at.is_not(None))
            .order_by(WorkshopSession.published_at.desc())
        )
    )


# -- Live updates ---------------------------------------------------------------------------


def event_channel(session_id: int) -> str:
    """The Redis pub/sub channel of a session's live updates."""
    return f"civic:workshop:{session_id}"


def publish_event(session_id: int, kind: str) -> None:
    """Tell presenters' event streams that something changed (only when Redis is configured).

    Best effort: the answer is already committed, and presenters also poll."""
    from civic.jobs import redis_connection

    try:
        conn = redis_connection()
        if conn is not None:
            conn.publish(event_channel(session_id), kind)
    except Exception:  # a Redis hiccup must never turn a recorded answer into an error
        current_app.logger.warning("Could not publish a workshop event", exc_info=True)
