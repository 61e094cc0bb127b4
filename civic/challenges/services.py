"""Challenge rules: problem bank, challenges, datasets, teams, submissions, judging, results.

Who may do what is checked here as well as in the views: any staff member states problems and
publishes datasets; the innovation team (staff of the department with code "innovation", and
administrators) builds challenges, judges' panels and publishes results; judges score only what
they are assigned; team members act for their own teams.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from babel import Locale
from babel.dates import get_timezone_name
from flask import current_app, has_request_context, url_for
from flask_babel import force_locale, get_timezone
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from civic.accounts.models import User, UserRole
from civic.challenges import archives, files, scoring
from civic.challenges.models import (
    ACCESS_LEVELS,
    AUTHORSHIP,
    COLLECTION,
    DIMENSIONS,
    DYNAMICS,
    FILE_KINDS,
    FORMAT_KINDS,
    METHODS,
    PERSONALISATION,
    REFINEMENT,
    STATISTICAL_KINDS,
    TEAM_TYPES,
    UPDATE_FREQUENCIES,
    Challenge,
    ChallengeChange,
    ChallengeCriterion,
    ChallengeJudge,
    ChallengePrize,
    ChallengeProblem,
    ChallengeQuestion,
    ChallengeResult,
    ChallengeTerms,
    Dataset,
    DatasetDownload,
    JudgeAssignment,
    JudgeScore,
    Problem,
    ProblemComment,
    ProblemSupport,
    Submission,
    SubmissionMessage,
    SubmissionVersion,
    Team,
    TeamInvite,
    TeamMember,
    TeamRegistration,
    TermsAcceptance,
)
from civic.challenges.profiling import ContentMismatch, check_content
from civic.core import audit
from civic.core.errors import Conflict, DomainError, NotAllowed, NotFound
from civic.core.i18n import format_when, pick_text
from civic.core.models import Department
from civic.core.time import utcnow
from civic.extensions import db

INNOVATION_DEPARTMENT = "innovation"
PHASES = ("draft", "announced", "registration", "submission", "judging", "results")
RESERVED_SLUGS = {
    "new",
    "datasets",
    "problems",
    "teams",
    "judging",
    "invites",
    "submissions",
    "assignments",
    "questions",
    "registrations",
}
MAX_TITLE = 160
MAX_TEXT = 20_000
MAX_COST = Decimal("1e13")
INVITE_DAYS = 14
DEFAULT_DATASET_MAX_BYTES = 1024 * 1024 * 1024
DEFAULT_ARCHIVE_MAX_BYTES = 25 * 1024 * 1024

PHASE_LABELS = {
    "draft": _l("In preparation"),
    "announced": _l("Announced"),
    "registration": _l("Registration"),
    "submission": _l("Submission"),
    "judging": _l("Judging"),
    "results": _l("Results"),
}
METHOD_LABELS = {
    "raw": _l("Weighted mean of the judges' raw scores"),
    "z": _l("Weighted mean of each judge's normalised scores (z-scores), rescaled to 0–100"),
    "borda": _l("Borda count of each judge's own ranking"),
}
METHOD_SHORT = {"raw": _l("Raw mean"), "z": _l("Normalised (z)"), "borda": _l("Borda")}
TEAM_TYPE_LABELS = {
    "startup": _l("Start-up"),
    "micro": _l("Micro company"),
    "small": _l("Small company"),
    "student": _l("Students"),
    "other": _l("Other"),
}
ACCESS_LABELS = {
    "open": _l("Open: anyone can download"),
    "registered": _l("Registered teams that accepted the data terms"),
    "closed": _l("Closed: city staff only"),
}
ACCESS_SHORT = {
    "open": _l("Open to all"),
    "registered": _l("Registered teams"),
    "closed": _l("Closed (staff only)"),
}
COLLECTION_LABELS = {
    "manual": _l("Manual"),
    "machine": _l("Machine-generated"),
    "crowd_sourced": _l("Crowd-sourced"),
}
PERSONALISATION_LABELS = {
    "personal": _l("Personal"),
    "pseudonymised": _l("Pseudonymised"),
    "anonymised": _l("Anonymised"),
    "not_personal": _l("Not personal"),
}
AUTHORSHIP_LABELS = {
    "private_persons": _l("Private persons"),
    "companies": _l("Companies"),
    "organisations": _l("Organisations"),
    "research": _l("Research"),
    "official_bodies": _l("Official bodies"),
}
FORMAT_LABELS = {
    "open": _l("Open format"),
    "proprietary": _l("Proprietary format"),
    "standardised": _l("Standardised format"),
}
REFINEMENT_LABELS = {"raw": _l("Raw"), "processed": _l("Processed"), "synthetic": _l("Synthetic")}
DIMENSION_LABELS = {
    "temporal": _l("Temporal"),
    "spatial_2d": _l("Spatial (2D)"),
    "spatial_3d": _l("Spatial (3D)"),
}
STATISTICAL_LABELS = {"quantitative": _l("Quantitative"), "qualitative": _l("Qualitative")}
DYNAMICS_LABELS = {"static": _l("Static"), "dynamic": _l("Dynamic"), "real_time": _l("Real-time")}
FREQUENCY_LABELS = {
    "never": _l("Not updated"),
    "real_time": _l("Continuously (real-time)"),
    "daily": _l("Daily"),
    "weekly": _l("Weekly"),
    "monthly": _l("Monthly"),
    "quarterly": _l("Quarterly"),
    "yearly": _l("Yearly"),
}
FILE_KIND_LABELS = {
    "csv": "CSV",
    "json": "JSON",
    "geojson": "GeoJSON",
    "zip": "ZIP",
    "gtfs": "GTFS (ZIP)",
    "other": _l("Other file"),
}
CONTENT_MISMATCH = {
    "csv": _l("This file is not CSV text. Choose another type or another file."),
    "json": _l("This file is not valid JSON. Choose another type or another file."),
    "geojson": _l("This file is not GeoJSON (a JSON object with a GeoJSON 'type')."),
    "zip": _l("This file is not a ZIP archive."),
    "gtfs": _l(
        "A GTFS feed is a ZIP holding agency.txt, stops.txt, routes.txt, trips.txt and "
        "stop_times.txt; this file does not."
    ),
}
ARCHIVE_PROBLEMS = {
    archives.NOT_AN_ARCHIVE: _l("The source archive must be a .zip or .tar.gz file."),
    archives.TYPE_MISMATCH: _l("The archive's content does not match its name (.zip or .tar.gz)."),
    archives.UNSAFE_PATH: _l(
        "The archive holds a path that leaves its folder (an absolute path or '..')."
    ),
    archives.LINK: _l("The archive holds a symbolic or hard link; please archive real files only."),
    archives.SPECIAL_FILE: _l("The archive holds a device, pipe or other special file."),
    archives.TOO_MANY: _l("The archive holds too many files."),
    archives.BOMB: _l("The archive unpacks to far more than its size (a zip bomb) and is refused."),
    "storage": _l("The archive could not be read back from storage."),
}
LICENCE_CHECK_LABELS = {
    "pending": _l("Being checked"),
    "match": _l("The licence file matches the declared licence."),
    "mismatch": _l("The licence file does not match the declared licence."),
    "missing": _l("No licence file (LICENSE, LICENCE or COPYING) was found in the archive."),
    "unrecognised": _l("A licence file was found but its licence could not be identified."),
    "none": _l("No source archive to check."),
}
PROFILE_ERRORS = {
    "missing": _l("The file is missing from storage."),
    "unreadable": _l("The file could not be read as its declared type."),
}
TIE_LABELS = {
    "raw": _l("tie broken by the raw mean"),
    "criterion": _l("tie broken by the criteria, heaviest first"),
    "submitted_at": _l("tie broken by the earlier submission"),
    "id": _l("tie broken by the submission number"),
}
CHANGE_LABELS = {
    "rules.change": _l("Rules or dates changed"),
    "rubric.change": _l("Rubric changed"),
    "prizes.change": _l("Prizes changed"),
    "terms.version": _l("New version of the terms"),
    "scores.reopen": _l("Locked scores reopened by an administrator"),
}
COLUMN_TYPE_LABELS = {
    "integer": _l("Whole number"),
    "decimal": _l("Decimal number"),
    "boolean": _l("Yes/no"),
    "date": _l("Date"),
    "datetime": _l("Date and time"),
    "text": _l("Text"),
    "empty": _l("Empty"),
    "object": _l("Nested data"),
}
CONSENSUS_REASONS = {
    "spread": _l("the judges' totals are far apart"),
    "criterion": _l("the judges' scores on a criterion differ by 3 points or more"),
}


# -- Who ---------------------------------------------------------------------------------------


def _user(user_id: int | None) -> User | None:
    return db.session.get(User, user_id) if user_id else None


def is_innovation_team(user: User | None) -> bool:
    """Administrators, and staff of the department whose code is 'innovation'."""
    if user is None or not getattr(user, "is_authenticated", True):
        return False
    if "admin" in user.roles:
        return True
    if "staff" not in user.roles:
        return False
    return any(row.department.code == INNOVATION_DEPARTMENT for row in user.department_rows)


def is_staff(user: User | None) -> bool:
    """City staff (administrators count)."""
    return bool(
        user is not None and getattr(user, "is_authenticated", True) and user.has_role("staff")
    )


def _require_staff(actor_id: int) -> User:
    actor = _user(actor_id)
    if not is_staff(actor):
        raise NotAllowed(_l("Only city staff can do this."))
    return actor


def _require_innovation(actor_id: int) -> User:
    actor = _user(actor_id)
    if not is_innovation_team(actor):
        raise NotAllowed(_l("Only the innovation team can do this."))
    return actor


def _require_admin(actor_id: int) -> User:
    actor = _user(actor_id)
    if actor is None or "admin" not in actor.roles:
        raise NotAllowed(_l("Only an administrator can do this."))
    return actor


# -- Small parsers -----------------------------------------------------------------------------


def parse_money(value: Any, field: str) -> Decimal | None:
    """A non-negative amount from user input ('1 240 000', '1240000.50'), or None when blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, Decimal):
        amount = value
    else:
        text = str(value).strip().replace(" ", "").replace("\u00a0", "").replace(",", "")
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            raise DomainError(
                _l("Please enter an amount as a number, like 25000."), field=field
            ) from exc
    if not amount.is_finite() or amount < 0 or amount >= MAX_COST:
        raise DomainError(_l("Please enter an amount of zero or more."), field=field)
    return amount.quantize(Decimal("0.01"))


def check_https_url(value: str | None, field: str, required: bool = False) -> str | None:
    """A well-formed https:// address with a host and no credentials, or DomainError."""
    text = (value or "").strip()
    if not text:
        if required:
            raise DomainError(_l("Please give the address (https://…)."), field=field)
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        raise DomainError(_l("This is not a valid web address."), field=field) from None
    if parts.scheme != "https":
        raise DomainError(_l("The address must start with https://."), field=field)
    if (
        not host
        or "." not in host
        or not re.fullmatch(r"[a-z0-9.-]+", host)
        or host.startswith(("-", "."))
        or host.endswith(("-", "."))
        or parts.username
        or parts.password
        or not port_ok
        or re.search(r"\s", text)
        or len(text) > 300
    ):
        raise DomainError(_l("This is not a valid web address."), field=field)
    return text


def check_repository_url(value: str | None) -> str:
    """A public repository address: https, a host, and a path naming the repository."""
    url = check_https_url(value, "repository_url", required=True)
    if len([p for p in urlsplit(url).path.split("/") if p]) < 1:
        raise DomainError(
            _l("Give the address of the repository itself, like https://example.org/team/app."),
            field="repository_url",
        )
    return url


def check_osi_licence(identifier: str | None, field: str = "licence") -> str:
    """The canonical SPDX id of an OSI-approved licence, or DomainError."""
    text = (identifier or "").strip()
    if not text:
        raise DomainError(
            _l("Please give the licence as an SPDX identifier, like MIT."), field=field
        )
    found = archives.canonical_licence(text)
    if found is None:
        raise DomainError(
            _l(
                "“%(licence)s” is not an SPDX licence identifier (for example MIT, Apache-2.0, "
                "GPL-3.0-or-later).",
                licence=text[:60],
            ),
            field=field,
        )
    if not found.osi_approved:
        raise DomainError(
            _l(
                "%(licence)s is not approved by the Open Source Initiative. Choose an "
                "OSI-approved licence.",
                licence=found.id,
            ),
            field=field,
        )
    return found.id


def check_data_licence(identifier: str | None) -> str:
    """A dataset's licence: any SPDX identifier (CC-BY-4.0, ODbL-1.0…)."""
    text = (identifier or "").strip()
    found = archives.canonical_licence(text) if text else None
    if found is None:
        raise DomainError(
            _l("Please give the licence as an SPDX identifier, like CC-BY-4.0 or ODbL-1.0."),
            field="licence",
        )
    return found.id


def _text(value: str | None, field: str, message, max_length: int = MAX_TEXT) -> str:
    text = (value or "").strip()
    if not text or len(text) > max_length:
        raise DomainError(message, field=field)
    return text


def _translatable_required(value: dict[str, str] | None, field: str, message) -> dict[str, str]:
    clean = {k: v.strip() for k, v in (value or {}).items() if v and v.strip()}
    if not clean:
        raise DomainError(message, field=field)
    return clean


# -- Time ----------------------------------------------------------------------------------------


def city_timezone_name() -> str:
    """The city's time zone, named for the reader ('Brasilia Time')."""
    from civic.core.i18n import current_locale_code

    try:
        return get_timezone_name(get_timezone(), locale=Locale.parse(current_locale_code()))
    except (ValueError, LookupError):
        return str(current_app.config["CIVIC_TIMEZONE"])


def current_phase(challenge: Challenge, now: datetime | None = None) -> str:
    """The phase the dates (and publication) give."""
    if challenge.published_at is None:
        return "draft"
    if challenge.results_published_at is not None:
        return "results"
    now = now or utcnow()
    if now < challenge.registration_opens_at:
        return "announced"
    if now < challenge.submission_opens_at:
        return "registration"
    if now < challenge.submission_closes_at:
        return "submission"
    return "judging"


def is_rubric_locked(challenge: Challenge, now: datetime | None = None) -> bool:
    """Rubric, weights and method are locked once submissions open."""
    return challenge.published_at is not None and (now or utcnow()) >= challenge.submission_opens_at


def next_deadline(challenge: Challenge, now: datetime | None = None) -> tuple[str, datetime] | None:
    """What the countdown counts to: ('registration', opens) or ('submission', deadline)…"""
    phase = current_phase(challenge, now)
    return {
        "announced": ("registration_opens", challenge.registration_opens_at),
        "registration": ("submission_opens", challenge.submission_opens_at),
        "submission": ("submission_closes", challenge.submission_closes_at),
        "judging": ("results_due", challenge.results_due_at),
    }.get(phase)


# -- Problem bank --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProblemInput:
    """What a staff member records about a problem from their work."""

    title: str
    what_goes_wrong: str
    who_is_affected: str
    cost_today: str
    yearly_cost: str | Decimal | None = None
    data_available: str = ""
    department_id: int | None = None


def create_problem(actor_id: int, data: ProblemInput) -> Problem:
    """Any staff member records a problem they face."""
    actor = _require_staff(actor_id)
    department_id = data.department_id
    if department_id is None and actor.department_rows:
        department_id = actor.department_rows[0].department_id
    if department_id is not None and db.session.get(Department, department_id) is None:
        raise DomainError(_l("Unknown department."), field="department")
    problem = Problem(
        author_id=actor.id,
        department_id=department_id,
        title=_text(
            data.title, "title", _l("Please give a title of at most 160 characters."), MAX_TITLE
        ),
        what_goes_wrong=_text(
            data.what_goes_wrong, "what_goes_wrong", _l("Please say what goes wrong.")
        ),
        who_is_affected=_text(
            data.who_is_affected, "who_is_affected", _l("Please say who is affected.")
        ),
        cost_today=_text(
            data.cost_today, "cost_today", _l("Please say what the problem costs today.")
        ),
        yearly_cost=parse_money(data.yearly_cost, "yearly_cost"),
        data_available=(data.data_available or "").strip()[:MAX_TEXT],
    )
    db.session.add(problem)
    db.session.flush()
    audit.record(
        actor.id, "challenges.problem.create", "problem", problem.id, None, {"title": problem.title}
    )
    db.session.commit()
    return problem


def get_problem(problem_id: int) -> Problem:
    """The problem with this id, or NotFound."""
    problem = db.session.get(Problem, problem_id)
    if problem is None:
        raise NotFound(_l("This problem does not exist."))
    return problem


def list_problems(state: str | None = None) -> list[Problem]:
    """Problems, most supported first."""
    query = select(Problem)
    if state:
        query = query.where(Problem.state == state)
    return list(
        db.session.scalars(query.order_by(Problem.supports_count.desc(), Problem.id.desc()))
    )


def support_problem(actor_id: int, problem_id: int, support: bool = True) -> Problem:
    """A colleague supports a problem once (or takes it back)."""
    _require_staff(actor_id)
    problem = get_problem(problem_id)
    if support:
        try:
            with db.session.begin_nested():
                db.session.add(ProblemSupport(problem_id=problem.id, user_id=actor_id))
        except IntegrityError:
            pass  # already supported: nothing to do
    else:
        db.session.execute(
            delete(ProblemSupport).where(
                ProblemSupport.problem_id == problem.id, ProblemSupport.user_id == actor_id
            )
        )
    count = select(func.count(ProblemSupport.id)).where(ProblemSupport.problem_id == problem.id)
    db.session.execute(
        update(Problem)
        .where(Problem.id == problem.id)
        .values(supports_count=count.scalar_subquery())
    )
    db.session.commit()
    db.session.refresh(problem)
    return problem


def has_supported_problem(user_id: int, problem_id: int) -> bool:
    """Whether the user supports the problem."""
    return (
        db.session.scalar(
            select(ProblemSupport.id).where(
                ProblemSupport.problem_id == problem_id, ProblemSupport.user_id == user_id
            )
        )
        is not None
    )


def comment_problem(actor_id: int, problem_id: int, body: str) -> ProblemComment:
    """A colleague comments on a problem."""
    _require_staff(actor_id)
    problem = get_problem(problem_id)
    comment = ProblemComment(
        problem_id=problem.id,
        author_id=actor_id,
        body=_text(body, "body", _l("Please write a comment.")),
    )
    db.session.add(comment)
    db.session.commit()
    return comment


def user_names(ids: Iterable[int | None]) -> dict[int, str]:
    """Display names for user ids (for pages listing authors)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(
        db.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all()
    )


# -- Challenges ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeInput:
    """A challenge's texts, rules and dates (texts are {locale: text})."""

    title: dict[str, str]
    problem_statement: dict[str, str]
    expected_outcome: dict[str, str]
    eligibility: dict[str, str]
    requirements: dict[str, str]
    registration_opens_at: datetime
    submission_opens_at: datetime
    submission_closes_at: datetime
    results_due_at: datetime
    eligible_types: tuple[str, ...] = TEAM_TYPES
    eligible_countries: tuple[str, ...] = ()
    requires_demo: bool = True
    requires_cost_estimate: bool = True
    possible_contract: bool = False
    contract_note: dict[str, str] = field(default_factory=dict)
    method: str = "z"
    judges_per_submission: int = 3
    consensus_threshold: int = 30
    problem_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class CriterionInput:
    """A rubric criterion as staff enter it: name, weight, and the anchors for 0…5."""

    name: dict[str, str]
    weight: int
    anchors: dict[str, dict[str, str]]


@dataclass(frozen=True)
class PrizeInput:
    """A prize for a place."""

    amount: str | Decimal
    description: dict[str, str] = field(default_factory=dict)


def _slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "challenge"
    return f"{slug}-challenge" if slug in RESERVED_SLUGS else slug


def _check_challenge_input(data: ChallengeInput) -> None:
    _translatable_required(data.title, "title", _l("Please give a title."))
    for value in data.title.values():
        if len(value) > MAX_TITLE:
            raise DomainError(_l("Please give a title of at most 160 characters."), field="title")
    _translatable_required(
        data.problem_statement, "problem_statement", _l("Please state the problem.")
    )
    _translatable_required(
        data.expected_outcome, "expected_outcome", _l("Please describe the expected outcome.")
    )
    dates = [
        data.registration_opens_at,
        data.submission_opens_at,
        data.submission_closes_at,
        data.results_due_at,
    ]
    if any(d is None for d in dates):
        raise DomainError(_l("Please give every phase's date."), field="registration_opens_at")
    if not (dates[0] <= dates[1] < dates[2] <= dates[3]):
        raise DomainError(
            _l(
                "Each phase must start after the previous one, and the deadline after submissions open."
            ),
            field="submission_closes_at",
        )
    if not data.eligible_types or set(data.eligible_types) - set(TEAM_TYPES):
        raise DomainError(_l("Choose who may take part."), field="eligible_types")
    for code in data.eligible_countries:
        if not re.fullmatch(r"[A-Z]{2}", code) or code not in Locale("en").territories:
            raise DomainError(
                _l("Countries are two-letter codes such as BR, AR, PT."), field="eligible_countries"
            )
    if data.method not in METHODS:
        raise DomainError(_l("Choose how scores are combined."), field="method")
    if not 1 <= data.judges_per_submission <= 10:
        raise DomainError(
            _l("Between 1 and 10 judges per submission."), field="judges_per_submission"
        )
    if not 1 <= data.consensus_threshold <= 100:
        raise DomainError(_l("Between 1 and 100 points."), field="consensus_threshold")


def _link_problems(challenge: Challenge, problem_ids: Iterable[int]) -> None:
    wanted = set(problem_ids)
    problems = {p.id: p for p in db.session.scalars(select(Problem).where(Problem.id.in_(wanted)))}
    if set(problems) != wanted:
        raise DomainError(_l("Unknown problem."), field="problems")
    current = {link.problem_id for link in challenge.problem_links}
    challenge.problem_links = [
        link for link in challenge.problem_links if link.problem_id in wanted
    ]
    for problem_id in sorted(wanted - current):
        challenge.problem_links.append(ChallengeProblem(problem_id=problem_id))
        problems[problem_id].state = "in_challenge"


def _record_change(
    challenge: Challenge,
    actor_id: int | None,
    kind: str,
    reason: str,
    before: dict | None,
    after: dict | None,
    is_public: bool = True,
) -> None:
    db.session.add(
        ChallengeChange(
            challenge_id=challenge.id,
            actor_id=actor_id,
            kind=kind,
            reason=reason,
            before=before,
            after=after,
            is_public=is_public,
        )
    )
    audit.record(actor_id, f"challenges.{kind}", "challenge", challenge.id, before, after)


def create_challenge(
    actor_id: int, data: ChallengeInput, terms: dict[str, str], slug: str | None = None
) -> Challenge:
    """The innovation team drafts a challenge (from problems in the bank) with its first terms."""
    actor = _require_innovation(actor_id)
    _check_challenge_input(data)
    terms = _translatable_required(terms, "terms", _l("Please write the rules and data-use terms."))
    slug = base = _slugify(slug or next(iter(data.title.values())))
    n = 2
    while db.session.scalar(select(Challenge.id).where(Challenge.slug == slug)):
        slug = f"{base}-{n}"
        n += 1
    challenge = Challenge(slug=slug, created_by_id=actor.id)
    _apply(challenge, data)
    db.session.add(challenge)
    db.session.flush()
    _link_problems(challenge, data.problem_ids)
    challenge.terms.append(ChallengeTerms(version=1, text=terms, created_by_id=actor.id))
    audit.record(
        actor.id, "challenges.challenge.create", "challenge", challenge.id, None, {"slug": slug}
    )
    db.session.commit()
    return challenge


def _apply(challenge: Challenge, data: ChallengeInput) -> None:
    challenge.title = dict(data.title)
    challenge.problem_statement = dict(data.problem_statement)
    challenge.expected_outcome = dict(data.expected_outcome)
    challenge.eligibility = dict(data.eligibility)
    challenge.requirements = dict(data.requirements)
    challenge.eligible_types = list(data.eligible_types)
    challenge.eligible_countries = list(data.eligible_countries)
    challenge.requires_demo = data.requires_demo
    challenge.requires_cost_estimate = data.requires_cost_estimate
    challenge.possible_contract = data.possible_contract
    challenge.contract_note = dict(data.contract_note)
    challenge.registration_opens_at = data.registration_opens_at
    challenge.submission_opens_at = data.submission_opens_at
    challenge.submission_closes_at = data.submission_closes_at
    challenge.results_due_at = data.results_due_at
    challenge.method = data.method
    challenge.judges_per_submission = data.judges_per_submission
    challenge.consensus_threshold = data.consensus_threshold


def _rules_snapshot(challenge: Challenge) -> dict[str, Any]:
    return {
        "registration_opens_at": challenge.registration_opens_at.isoformat(),
        "submission_opens_at": challenge.submission_opens_at.isoformat(),
        "submission_closes_at": challenge.submission_closes_at.isoformat(),
        "results_due_at": challenge.results_due_at.isoformat(),
        "method": challenge.method,
        "eligible_types": list(challenge.eligible_types),
        "eligible_countries": list(challenge.eligible_countries),
        "requires_demo": challenge.requires_demo,
        "requires_cost_estimate": challenge.requires_cost_estimate,
    }


def update_challenge(
    actor_id: int, challenge_id: int, data: ChallengeInput, reason: str = ""
) -> Challenge:
    """Change a challenge. After publication every change is recorded publicly with its reason;
    once submissions open, changing the method (or anything after results) needs an admin."""
    actor = _require_innovation(actor_id)
    challenge = get_challenge_by_id(challenge_id)
    _check_challenge_input(data)
    if challenge.results_published_at is not None:
        raise Conflict(_l("The results are published; the challenge can no longer change."))
    reason = (reason or "").strip()
    published = challenge.published_at is not None
    if published and not reason:
        raise DomainError(
            _l("The challenge is published: please give the reason for this change."),
            field="reason",
        )
    if (
        is_rubric_locked(challenge)
        and data.method != challenge.method
        and "admin" not in actor.roles
    ):
        raise NotAllowed(
            _l("Submissions are open: only an administrator can change how scores are combined."),
            field="method",
        )
    before = _rules_snapshot(challenge)
    _apply(challenge, data)
    _link_problems(challenge, data.problem_ids)
    after = _rules_snapshot(challenge)
    if published:
        _record_change(challenge, actor.id, "rules.change", reason, before, after)
    else:
        audit.record(
            actor.id, "challenges.challenge.update", "challenge", challenge.id, before, after
        )
    db.session.commit()
    return challenge


def _criteria_snapshot(challenge: Challenge) -> dict[str, Any]:
    return {
        "criteria": [
            {"name": pick_text(c.name).text, "weight": c.weight} for c in challenge.criteria
        ]
    }


def set_rubric(
    actor_id: int, challenge_id: int, criteria: list[CriterionInput], reason: str = ""
) -> Challenge:
    """Replace the rubric: 3–6 criteria, weights summing to 100, an anchor for every 0…5 score.

    Once submissions open only an administrator may change it, with a reason that is shown
    publicly; criteria cannot be added or removed once judges have scored."""
    actor = _require_innovation(actor_id)
    challenge = get_challenge_by_id(challenge_id)
    if challenge.results_published_at is not None:
        raise Conflict(_l("The results are published; the rubric can no longer change."))
    if not 3 <= len(criteria) <= 6:
        raise DomainError(_l("A rubric has 3 to 6 criteria."), field="criteria")
    for index, criterion in enumerate(criteria):
        if not criterion.name or not any(v.strip() for v in criterion.name.values()):
            raise DomainError(_l("Every criterion needs a name."), field="criteria")
        if not isinstance(criterion.weight, int) or not 1 <= criterion.weight <= 100:
            raise DomainError(_l("Each weight is a whole number from 1 to 100."), field="criteria")
        for score in range(6):
            if not any(
                (v or "").strip() for v in (criterion.anchors.get(str(score)) or {}).values()
            ):
                raise DomainError(
                    _l(
                        "Criterion %(number)s: describe what a score of %(score)s means.",
                        number=index + 1,
                        score=score,
                    ),
                    field="criteria",
                )
    total = sum(c.weight for c in criteria)
    if total != 100:
        raise DomainError(
            _l("The weights add up to %(total)s; they must add up to 100.", total=total),
            field="criteria",
        )
    reason = (reason or "").strip()
    locked = is_rubric_locked(challenge)
    if locked and "admin" not in actor.roles:
        raise NotAllowed(
            _l("Submissions are open: the rubric is locked. Only an administrator can change it.")
        )
    if challenge.published_at is not None and not reason:
        raise DomainError(
            _l("The challenge is published: please give the reason for this change."),
            field="reason",
        )
    scored = db.session.scalar(
        select(func.count(JudgeScore.id))
        .join(ChallengeCriterion, ChallengeCriterion.id == JudgeScore.criterion_id)
        .where(ChallengeCriterion.challenge_id == challenge.id)
    )
    if scored and len(criteria) != len(challenge.criteria):
        raise Conflict(
            _l(
                "Judges have scored: criteria cannot be added or removed, only reworded or reweighted."
            ),
            field="criteria",
        )
    before = _criteria_snapshot(challenge)
    existing = list(challenge.criteria)
    for position, item in enumerate(criteria, start=1):
        anchors = {
            str(s): {
                k: v.strip() for k, v in (item.anchors.get(str(s)) or {}).items() if v and v.strip()
            }
            for s in range(6)
        }
        name = {k: v.strip() for k, v in item.name.items() if v and v.strip()}
        if position <= len(existing):
            row = existing[position - 1]
            row.name, row.weight, row.anchors = name, item.weight, anchors
        else:
            challenge.criteria.append(
                ChallengeCriterion(
                    position=position, name=name, weight=item.weight, anchors=anchors
                )
            )
    for row in existing[len(criteria) :]:
        challenge.criteria.remove(row)
    db.session.flush()
    after = _criteria_snapshot(challenge)
    if challenge.published_at is not None:
        _record_change(challenge, actor.id, "rubric.change", reason, before, after)
    else:
        audit.record(actor.id, "challenges.rubric.set", "challenge", challenge.id, before, after)
    db.session.commit()
    return challenge


def set_prizes(
    actor_id: int, challenge_id: int, prizes: list[PrizeInput], reason: str = ""
) -> Challenge:
    """Replace the prizes (place 1 first); after publication the change is recorded publicly,
    and once submissions open only an administrator may make it."""
    actor = _require_innovation(actor_id)
    challenge = get_challenge_by_id(challenge_id)
    if challenge.results_published_at is not None:
        raise Conflict(_l("The results are published; the prizes can no longer change."))
    if not prizes:
        raise DomainError(_l("Give at least one prize."), field="prizes")
    amounts = [parse_money(p.amount, "prizes") for p in prizes]
    if any(a is None for a in amounts):
        raise DomainError(_l("Every prize needs an amount."), field="prizes")
    reason = (reason or "").strip()
    if is_rubric_locked(challenge) and "admin" not in actor.roles:
        raise NotAllowed(_l("Submissions are open: only an administrator can change the prizes."))
    if challenge.published_at is not None and not reason:
        raise DomainError(
            _l("The challenge is published: please give the reason for this change."),
            field="reason",
        )
    before = {"prizes": [str(p.amount) for p in challenge.prizes]}
    challenge.prizes.clear()
    db.session.flush()
    for place, (amount, item) in enumerate(zip(amounts, prizes, strict=True), start=1):
        challenge.prizes.append(
            ChallengePrize(place=place, amount=amount, description=dict(item.description))
        )
    after = {"prizes": [str(a) for a in amounts]}
    if challenge.published_at is not None:
        _record_change(challenge, actor.id, "prizes.change", reason, before, after)
    else:
        audit.record(actor.id, "challenges.prizes.set", "challenge", challenge.id, before, after)
    db.session.commit()
    return challenge


def current_terms(challenge: Challenge) -> ChallengeTerms:
    """The current (highest) version of the rules and data-use terms."""
    return challenge.terms[-1]


def add_terms_version(
    actor_id: int, challenge_id: int, text: dict[str, str], note: str
) -> ChallengeTerms:
    """Publish a new version of the terms: teams accept it again before downloading or submitting."""
    actor = _require_innovation(actor_id)
    challenge = get_challenge_by_id(challenge_id)
    text = _translatable_required(text, "text", _l("Please write the rules and data-use terms."))
    note = _text(note, "note", _l("Please say what changed."), 2000)
    version = current_terms(challenge).version + 1
    terms = ChallengeTerms(
        challenge_id=challenge.id,
        version=version,
        text=text,
        change_note=note,
        created_by_id=actor.id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(terms)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            _l("Someone published a new version at the same time. Please reload.")
        ) from None
    if challenge.published_at is not None:
        _record_change(
            challenge,
            actor.id,
            "terms.version",
            note,
            {"version": version - 1},
            {"version": version},
        )
    db.session.commit()
    return terms


def publish_challenge(actor_id: int, challenge_id: int) -> Challenge:
    """Announce the challenge: its rubric, weights, method, prizes and terms are then public.

    They must be published before registration opens, so every team reads them first."""
    actor = _require_innovation(actor_id)
    challenge = get_challenge_by_id(challenge_id)
    if challenge.published_at is not None:
        return challenge
    try:
        scoring.check_rubric([scoring.Criterion(c.id, c.weight) for c in challenge.criteria])
    except scoring.ScoringError:
        raise Conflict(
            _l("Set a rubric of 3 to 6 criteria whose weights add up to 100 before publishing.")
        ) from None
    if not challenge.prizes:
        raise Conflict(_l("Set the prizes before publishing."))
    if utcnow() >= challenge.registration_opens_at:
        raise Conflict(
            _l(
                "Registration opens before now: publish the challenge before registration opens "
                "so teams can read the rubric and method first. Move the dates later."
            )
        )
    challenge.published_at = utcnow()
    audit.record(
        actor.id,
        "challenges.challenge.publish",
        "challenge",
        challenge.id,
        None,
        _criteria_snapshot(challenge) | {"method": challenge.method},
    )
    db.session.commit()
    return challenge


def get_challenge(slug: str, viewer: User | None = None) -> Challenge:
    """A challenge by slug; drafts only for the innovation team."""
    challenge = db.session.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None or (challenge.published_at is None and not is_innovation_team(viewer)):
        raise NotFound(_l("This challenge does not exist."))
    return challenge


def get_challenge_by_id(challenge_id: int) -> Challenge:
    """A challenge by id, or NotFound."""
    challenge = db.session.get(Challenge, challenge_id)
    if challenge is None:
        raise NotFound(_l("This challenge does not exist."))
    return challenge


def list_challenges(viewer: User | None = None) -> list[Challenge]:
    """Published challenges, newest deadline first (drafts too for the innovation team)."""
    query = select(Challenge)
    if not is_innovation_team(viewer):
        query = query.where(Challenge.published_at.is_not(None))
    return list(db.session.scalars(query.order_by(Challenge.submission_closes_at.desc())))


def list_changes(challenge_id: int, include_private: bool = False) -> list[ChallengeChange]:
    """Changes made after publication, oldest first."""
    query = select(ChallengeChange).where(ChallengeChange.challenge_id == challenge_id)
    if not include_private:
        query = query.where(ChallengeChange.is_public.is_(True))
    return list(db.session.scalars(query.order_by(ChallengeChange.id)))


# -- Judges' panel -------------------------------------------------------------------------------


def add_judge(actor_id: int, challenge_id: int, user_id: int) -> ChallengeJudge:
    """Put a user with the judge role on a challenge's panel."""
    actor = _require_innovation(actor_id)
    challenge = get_challenge_by_id(challenge_id)
    user = _user(user_id)
    if user is None or "judge" not in user.roles:
        raise DomainError(_l("Choose a user who holds the judge role."), field="judge")
    if _team_ids_of(user.id) & _registered_team_ids(challenge.id):
        raise Conflict(_l("This person is on a team registered in this challenge."), field="judge")
    row = ChallengeJudge(challenge_id=challenge.id, user_id=user.id)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("This judge is already on the panel."), field="judge") from None
    audit.record(
        actor.id, "challenges.judge.add", "challenge", challenge.id, None, {"judge": user.id}
    )
    db.session.commit()
    return row


def remove_judge(actor_id: int, challenge_id: int, user_id: int) -> None:
    """Take a judge off the panel (only while they have no scores in this challenge)."""
    actor = _require_innovation(actor_id)
    challenge = get_challenge_by_id(challenge_id)
    active = db.session.scalar(
        select(func.count(JudgeAssignment.id))
        .join(Submission, Submission.id == JudgeAssignment.submission_id)
        .where(
            Submission.challenge_id == challenge.id,
            JudgeAssignment.judge_id == user_id,
            JudgeAssignment.state == "assigned",
        )
    )
    if active:
        raise Conflict(_l("This judge has assignments; remove or reassign them first."))
    db.session.execute(
        delete(ChallengeJudge).where(
            ChallengeJudge.challenge_id == challenge.id, ChallengeJudge.user_id == user_id
        )
    )
    audit.record(
        actor.id, "challenges.judge.remove", "challenge", challenge.id, {"judge": user_id}, None
    )
    db.session.commit()


def list_panel(challenge_id: int) -> list[User]:
    """The judges on a challenge's panel, by name (public)."""
    return list(
        db.session.scalars(
            select(User)
            .join(ChallengeJudge, ChallengeJudge.user_id == User.id)
            .where(ChallengeJudge.challenge_id == challenge_id)
            .order_by(User.display_name)
        )
    )


def list_judge_candidates() -> list[User]:
    """Users holding the judge role."""
    return list(
        db.session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == "judge")
            .order_by(User.display_name)
        )
    )


# -- Datasets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInput:
    """A dataset's metadata, following the classification cities use."""

    title: dict[str, str]
    description: dict[str, str]
    file_kind: str
    licence: str
    update_frequency: str
    access: str
    collection: str
    personalisation: str
    authorship: str
    format_kind: str
    refinement: str
    dimensions: tuple[str, ...]
    statistical_kind: str
    dynamics: str
    challenge_id: int | None = None


def _check_dataset_input(data: DatasetInput) -> str:
    _translatable_required(data.title, "title", _l("Please give a title."))
    for field_name, value, allowed in (
        ("file_kind", data.file_kind, FILE_KINDS),
        ("update_frequency", data.update_frequency, UPDATE_FREQUENCIES),
        ("access", data.access, ACCESS_LEVELS),
        ("collection", data.collection, COLLECTION),
        ("personalisation", data.personalisation, PERSONALISATION),
        ("authorship", data.authorship, AUTHORSHIP),
        ("format_kind", data.format_kind, FORMAT_KINDS),
        ("refinement", data.refinement, REFINEMENT),
        ("statistical_kind", data.statistical_kind, STATISTICAL_KINDS),
        ("dynamics", data.dynamics, DYNAMICS),
    ):
        if value not in allowed:
            raise DomainError(_l("Please choose a value from the list."), field=field_name)
    if set(data.dimensions) - set(DIMENSIONS):
        raise DomainError(_l("Please choose a value from the list."), field="dimensions")
    if data.personalisation == "personal" and data.access == "open":
        raise DomainError(
            _l("Personal data can never be open. Choose registered teams or closed access."),
            field="access",
        )
    if data.access == "registered" and not data.challenge_id:
        raise DomainError(
            _l("Registered-team access needs a challenge, whose terms the teams accept."),
            field="challenge",
        )
    if data.challenge_id and db.session.get(Challenge, data.challenge_id) is None:
        raise DomainError(_l("Unknown challenge."), field="challenge")
    return check_data_licence(data.licence)


def _set_dataset_fields(dataset: Dataset, data: DatasetInput, licence: str) -> None:
    dataset.title = dict(data.title)
    dataset.description = dict(data.description)
    dataset.licence = licence
    dataset.update_frequency = data.update_frequency
    dataset.access = data.access
    dataset.collection = data.collection
    dataset.personalisation = data.personalisation
    dataset.authorship = data.authorship
    dataset.format_kind = data.format_kind
    dataset.refinement = data.refinement
    dataset.dimensions = list(data.dimensions)
    dataset.statistical_kind = data.statistical_kind
    dataset.dynamics = data.dynamics
    dataset.challenge_id = data.challenge_id or None


CONTENT_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "geojson": "application/geo+json",
    "zip": "application/zip",
    "gtfs": "application/zip",
    "other": "application/octet-stream",
}


def dataset_max_bytes() -> int:
    """The largest dataset file accepted (CIVIC_DATASET_MAX_BYTES, 1 GiB by default)."""
    return int(current_app.config.get("CIVIC_DATASET_MAX_BYTES", DEFAULT_DATASET_MAX_BYTES))


def archive_max_bytes() -> int:
    """The largest source archive accepted (CIVIC_ARCHIVE_MAX_BYTES, 25 MiB by default)."""
    return int(current_app.config.get("CIVIC_ARCHIVE_MAX_BYTES", DEFAULT_ARCHIVE_MAX_BYTES))


def create_dataset(
    actor_id: int, data: DatasetInput, stream: BinaryIO | None, filename: str
) -> Dataset:
    """Staff publish a file with its metadata; the content must match the declared type."""
    from civic.challenges.jobs import profile_dataset
    from civic.jobs import enqueue

    actor = _require_staff(actor_id)
    licence = _check_dataset_input(data)
    name = re.sub(r"[^\w.\- ]+", "_", (filename or "").strip())[:200].strip()
    if stream is None or not name:
        raise DomainError(_l("Please choose a file."), field="file")
    saved = files.save_stream(files.new_key("datasets", name), stream, dataset_max_bytes())
    try:
        with files.open_file(saved.key) as handle:
            check_content(handle, data.file_kind, saved.size)
    except ContentMismatch as exc:
        files.delete(saved.key)
        raise DomainError(CONTENT_MISMATCH[exc.code], field="file") from None
    except BaseException:
        files.delete(saved.key)
        raise
    dataset = Dataset(
        file_kind=data.file_kind,
        filename=name,
        storage_key=saved.key,
        content_type=CONTENT_TYPES[data.file_kind],
        size=saved.size,
        sha256=saved.sha256,
        uploaded_by_id=actor.id,
    )
    _set_dataset_fields(dataset, data, licence)
    db.session.add(dataset)
    try:
        db.session.flush()
        audit.record(
            actor.id,
            "challenges.dataset.create",
            "dataset",
            dataset.id,
            None,
            {"access": dataset.access, "sha256": saved.sha256},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        files.delete(saved.key)
        raise
    enqueue(profile_dataset, dataset.id)
    return dataset


def update_dataset(actor_id: int, dataset_id: int, data: DatasetInput) -> Dataset:
    """Staff change a dataset's metadata (its file stays; the declared type cannot change)."""
    actor = _require_staff(actor_id)
    dataset = get_dataset(dataset_id)
    if data.file_kind != dataset.file_kind:
        raise DomainError(_l("Upload a new dataset to change the file type."), field="file_kind")
    licence = _check_dataset_input(data)
    before = {"access": dataset.access, "personalisation": dataset.personalisation}
    _set_dataset_fields(dataset, data, licence)
    audit.record(
        actor.id,
        "challenges.dataset.update",
        "dataset",
        dataset.id,
        before,
        {"access": dataset.access, "personalisation": dataset.personalisation},
    )
    db.session.commit()
    return dataset


def get_dataset(dataset_id: int) -> Dataset:
    """The dataset with this id, or NotFound."""
    dataset = db.session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(_l("This dataset does not exist."))
    return dataset


def list_datasets(viewer: User | None = None, challenge_id: int | None = None) -> list[Dataset]:
    """Datasets the viewer may see listed: open and registered ones for all, closed for staff."""
    query = select(Dataset)
    if not is_staff(viewer):
        query = query.where(Dataset.access != "closed")
    if challenge_id is not None:
        query = query.where(Dataset.challenge_id == challenge_id)
    return list(db.session.scalars(query.order_by(Dataset.id.desc())))


@dataclass(frozen=True)
class Access:
    """Whether a person may download a dataset, why not, and under which team and terms."""

    allowed: bool
    reason: Any = None
    team_id: int | None = None
    terms_version: int | None = None
    needs_login: bool = False


def dataset_access(user: User | None, dataset: Dataset) -> Access:
    """The access rule: open for anyone; registered for teams that accepted the current terms
    (and staff, and the challenge's judges); closed for staff only."""
    signed_in = user is not None and getattr(user, "is_authenticated", False)
    if dataset.access == "open":
        return Access(True)
    if not signed_in:
        return Access(False, _l("Please sign in to download this dataset."), needs_login=True)
    if is_staff(user):
        return Access(True)
    if dataset.access == "closed":
        return Access(False, _l("This dataset is for city staff only."))
    challenge = dataset.challenge
    if challenge is None:
        return Access(False, _l("This dataset is for city staff only."))
    if db.session.scalar(
        select(ChallengeJudge.id).where(
            ChallengeJudge.challenge_id == challenge.id, ChallengeJudge.user_id == user.id
        )
    ):
        return Access(True)
    version = current_terms(challenge).version
    registrations = db.session.scalars(
        select(TeamRegistration)
        .join(TeamMember, TeamMember.team_id == TeamRegistration.team_id)
        .where(TeamRegistration.challenge_id == challenge.id, TeamMember.user_id == user.id)
    ).all()
    if not registrations:
        return Access(
            False,
            _l(
                "Register a team for this challenge and accept its data terms to download this dataset."
            ),
        )
    for registration in registrations:
        if any(a.version == version for a in registration.acceptances):
            return Access(True, team_id=registration.team_id, terms_version=version)
    return Access(
        False,
        _l(
            "The data terms changed (version %(version)s). Your team must accept them again before downloading.",
            version=version,
        ),
        team_id=registrations[0].team_id,
    )


def record_download(
    dataset: Dataset, user: User | None, access: Access, byte_range: str | None
) -> None:
    """Log a download request (every one, including range requests)."""
    db.session.add(
        DatasetDownload(
            dataset_id=dataset.id,
            user_id=user.id
            if user is not None and getattr(user, "is_authenticated", False)
            else None,
            team_id=access.team_id,
            terms_version=access.terms_version,
            byte_range=(byte_range or None) and byte_range[:100],
        )
    )
    db.session.commit()


def count_downloads(dataset_id: int) -> int:
    """How many download requests a dataset received."""
    return (
        db.session.scalar(
            select(func.count(DatasetDownload.id)).where(DatasetDownload.dataset_id == dataset_id)
        )
        or 0
    )


# -- Teams ---------------------------------------------------------------------------------------


def _team_ids_of(user_id: int) -> set[int]:
    return set(db.session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user_id)))


def _registered_team_ids(challenge_id: int) -> set[int]:
    return set(
        db.session.scalars(
            select(TeamRegistration.team_id).where(TeamRegistration.challenge_id == challenge_id)
        )
    )


def _grant_team_role(user: User) -> None:
    if "team_member" not in user.roles:
        user.role_rows.append(UserRole(role="team_member"))
        audit.record(
            user.id,
            "user.roles",
            "user",
            user.id,
            {"roles": sorted(user.roles)},
            {"roles": sorted(user.roles | {"team_member"})},
        )


def _check_team_fields(
    name: str, org_type: str, registration_number: str | None, country: str
) -> tuple[str, str | None, str]:
    name = _text(name, "name", _l("Please give the team's name (at most 120 characters)."), 120)
    if org_type not in TEAM_TYPES:
        raise DomainError(_l("Please choose a value from the list."), field="org_type")
    country = (country or "").strip().upper()
    if country not in Locale("en").territories or not re.fullmatch(r"[A-Z]{2}", country):
        raise DomainError(_l("Please choose a country."), field="country")
    number = (registration_number or "").strip()[:60] or None
    if org_type in ("startup", "micro", "small") and not number:
        raise DomainError(
            _l("Companies give their registration number."), field="registration_number"
        )
    return name, number, country


def create_team(
    user_id: int, name: str, org_type: str, registration_number: str | None, country: str
) -> Team:
    """Anyone signed in creates a team and becomes its owner (and a team member)."""
    user = _user(user_id)
    if user is None:
        raise NotAllowed(_l("Please sign in to continue."))
    name, number, country = _check_team_fields(name, org_type, registration_number, country)
    team = Team(
        name=name,
        org_type=org_type,
        registration_number=number,
        country=country,
        created_by_id=user.id,
    )
    team.members.append(TeamMember(user_id=user.id, is_owner=True))
    db.session.add(team)
    _grant_team_role(user)
    db.session.flush()
    audit.record(user.id, "challenges.team.create", "team", team.id, None, {"name": name})
    db.session.commit()
    return team


def get_team(team_id: int) -> Team:
    """The team with this id, or NotFound."""
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound(_l("This team does not exist."))
    return team


def membership(user_id: int | None, team_id: int) -> TeamMember | None:
    """The user's membership of the team, if any."""
    if not user_id:
        return None
    return db.session.scalar(
        select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )


def _require_member(user_id: int, team_id: int, owner: bool = False) -> TeamMember:
    member = membership(user_id, team_id)
    if member is None or (owner and not member.is_owner):
        raise NotAllowed(
            _l("Only this team's owners can do this.") if owner else _l("You are not on this team.")
        )
    return member


def list_my_teams(user_id: int) -> list[Team]:
    """The teams the user is on."""
    return list(
        db.session.scalars(
            select(Team).join(TeamMember).where(TeamMember.user_id == user_id).order_by(Team.name)
        )
    )


def is_team_frozen(team_id: int) -> bool:
    """Membership is frozen while a challenge the team entered is being judged."""
    for registration in db.session.scalars(
        select(TeamRegistration).where(TeamRegistration.team_id == team_id)
    ):
        if current_phase(registration.challenge) == "judging":
            return True
    return False


def update_team(
    actor_id: int,
    team_id: int,
    name: str,
    org_type: str,
    registration_number: str | None,
    country: str,
) -> Team:
    """Owners rename or correct the team (the change is in the audit log)."""
    _require_member(actor_id, team_id, owner=True)
    team = get_team(team_id)
    if is_team_frozen(team_id):
        raise Conflict(
            _l("A challenge this team entered is being judged: the team is frozen until results.")
        )
    name, number, country = _check_team_fields(name, org_type, registration_number, country)
    for registration in db.session.scalars(
        select(TeamRegistration).where(TeamRegistration.team_id == team_id)
    ):
        _check_eligible(registration.challenge, org_type, country)
    before = {"name": team.name, "org_type": team.org_type, "country": team.country}
    team.name, team.org_type, team.registration_number, team.country = (
        name,
        org_type,
        number,
        country,
    )
    audit.record(
        actor_id,
        "challenges.team.update",
        "team",
        team.id,
        before,
        {"name": name, "org_type": org_type, "country": country},
    )
    db.session.commit()
    return team


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_member(actor_id: int, team_id: int, email: str | None = None) -> tuple[TeamInvite, str]:
    """Owners invite by link (no e-mail) or by e-mail; returns the invite and its one-time token."""
    from civic.core.mail import deliver_outbox_message, queue_email
    from civic.jobs import enqueue

    _require_member(actor_id, team_id, owner=True)
    team = get_team(team_id)
    if is_team_frozen(team_id):
        raise Conflict(
            _l("A challenge this team entered is being judged: the team is frozen until results.")
        )
    address = (email or "").strip().lower() or None
    if address and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
        raise DomainError(_l("Invalid email address."), field="email")
    token = secrets.token_urlsafe(24)
    invite = TeamInvite(
        team_id=team.id,
        token_hash=_hash_token(token),
        email=address,
        created_by_id=actor_id,
        expires_at=utcnow() + timedelta(days=INVITE_DAYS),
    )
    db.session.add(invite)
    db.session.flush()
    message_id = None
    if address:
        link = (
            url_for("challenges.accept_invite", token=token, _external=True)
            if has_request_context()
            else token
        )
        recipient = db.session.scalar(select(User).where(User.email == address))
        locale = (recipient.locale if recipient else None) or current_app.config[
            "CIVIC_DEFAULT_LOCALE"
        ]
        with force_locale(locale):
            message_id = queue_email(
                address,
                str(_l("Join %(team)s on Civic", team=team.name)),
                "challenges/emails/team_invite.txt",
                team_name=team.name,
                inviter=_user(actor_id).display_name,
                link=link,
                days=INVITE_DAYS,
            ).id
    audit.record(actor_id, "challenges.team.invite", "team", team.id, None, {"email": address})
    db.session.commit()
    if message_id:
        enqueue(deliver_outbox_message, message_id)
    return invite, token


def get_invite(token: str) -> TeamInvite:
    """An invite by its token, or NotFound."""
    invite = db.session.scalar(
        select(TeamInvite).where(TeamInvite.token_hash == _hash_token(token or ""))
    )
    if invite is None or invite.revoked_at is not None:
        raise NotFound(_l("This invitation does not exist or was withdrawn."))
    return invite


def accept_invite(user_id: int, token: str) -> Team:
    """Join the team: once per invite, before it expires; an e-mail invite only for that address."""
    user = _user(user_id)
    invite = get_invite(token)
    if invite.accepted_at is not None:
        raise Conflict(_l("This invitation has already been used."))
    if invite.expires_at < utcnow():
        raise Conflict(_l("This invitation has expired. Ask the team for a new one."))
    if invite.email and invite.email != user.email:
        raise NotAllowed(_l("This invitation was sent to another e-mail address."))
    if is_team_frozen(invite.team_id):
        raise Conflict(
            _l("A challenge this team entered is being judged: the team is frozen until results.")
        )
    if membership(user.id, invite.team_id):
        raise Conflict(_l("You are already on this team."))
    for registration in db.session.scalars(
        select(TeamRegistration).where(TeamRegistration.team_id == invite.team_id)
    ):
        _check_person_may_compete(user, registration.challenge, invite.team_id)
    claimed = db.session.execute(
        update(TeamInvite)
        .where(TeamInvite.id == invite.id, TeamInvite.accepted_at.is_(None))
        .values(accepted_at=utcnow(), accepted_by_id=user.id)
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise Conflict(_l("This invitation has already been used."))
    try:
        with db.session.begin_nested():
            db.session.add(TeamMember(team_id=invite.team_id, user_id=user.id))
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("You are already on this team.")) from None
    _grant_team_role(user)
    audit.record(user.id, "challenges.team.join", "team", invite.team_id, None, {"user": user.id})
    db.session.commit()
    return get_team(invite.team_id)


def remove_member(actor_id: int, team_id: int, user_id: int) -> None:
    """Owners remove a member; anyone may leave; a team keeps at least one owner."""
    actor_member = _require_member(actor_id, team_id, owner=actor_id != user_id)
    target = membership(user_id, team_id)
    if target is None:
        raise NotFound(_l("This person is not on the team."))
    if is_team_frozen(team_id):
        raise Conflict(
            _l("A challenge this team entered is being judged: the team is frozen until results.")
        )
    owners = [m for m in get_team(team_id).members if m.is_owner]
    if target.is_owner and len(owners) == 1:
        raise Conflict(_l("A team needs an owner. Make someone else an owner first."))
    db.session.delete(target)
    audit.record(
        actor_member.user_id,
        "challenges.team.remove_member",
        "team",
        team_id,
        {"user": user_id},
        None,
    )
    db.session.commit()


def make_owner(actor_id: int, team_id: int, user_id: int) -> None:
    """An owner makes another member an owner too."""
    _require_member(actor_id, team_id, owner=True)
    target = membership(user_id, team_id)
    if target is None:
        raise NotFound(_l("This person is not on the team."))
    target.is_owner = True
    audit.record(actor_id, "challenges.team.owner", "team", team_id, None, {"user": user_id})
    db.session.commit()


def list_invites(team_id: int) -> list[TeamInvite]:
    """Open invitations of a team."""
    return list(
        db.session.scalars(
            select(TeamInvite)
            .where(
                TeamInvite.team_id == team_id,
                TeamInvite.accepted_at.is_(None),
                TeamInvite.revoked_at.is_(None),
            )
            .order_by(TeamInvite.id.desc())
        )
    )


def revoke_invite(actor_id: int, invite_id: int) -> TeamInvite:
    """Withdraw an unused invitation."""
    invite = db.session.get(TeamInvite, invite_id)
    if invite is None:
        raise NotFound(_l("This invitation does not exist or was withdrawn."))
    _require_member(actor_id, invite.team_id, owner=True)
    invite.revoked_at = utcnow()
    db.session.commit()
    return invite


# -- Registration ----------------------------------------------------------------------------


def _check_eligible(challenge: Challenge, org_type: str, country: str) -> None:
    if org_type not in challenge.eligible_types:
        allowed = ", ".join(str(TEAM_TYPE_LABELS[t]) for t in challenge.eligible_types)
        raise NotAllowed(
            _l(
                "This challenge is open to: %(types)s. Your team is registered as another type.",
                types=allowed,
            ),
            field="team",
        )
    if challenge.eligible_countries and country not in challenge.eligible_countries:
        raise NotAllowed(
            _l(
                "This challenge is open to teams from: %(countries)s.",
                countries=", ".join(challenge.eligible_countries),
            ),
            field="team",
        )


def _check_person_may_compete(user: User, challenge: Challenge, team_id: int) -> None:
    if "staff" in user.roles or "admin" in user.roles:
        raise NotAllowed(
            _l("City staff cannot compete: %(name)s is a staff member.", name=user.display_name),
            field="team",
        )
    if db.session.scalar(
        select(ChallengeJudge.id).where(
            ChallengeJudge.challenge_id == challenge.id, ChallengeJudge.user_id == user.id
        )
    ):
        raise NotAllowed(
            _l("%(name)s judges this challenge and cannot compete in it.", name=user.display_name),
            field="team",
        )
    other = db.session.scalar(
        select(TeamRegistration.id)
        .join(TeamMember, TeamMember.team_id == TeamRegistration.team_id)
        .where(
            TeamRegistration.challenge_id == challenge.id,
            TeamMember.user_id == user.id,
            TeamRegistration.team_id != team_id,
        )
    )
    if other:
        raise Conflict(
            _l("%(name)s is already on another team in this challenge.", name=user.display_name),
            field="team",
        )


def register_team(
    actor_id: int, team_id: int, challenge_id: int, accept_rules: bool, accept_terms: bool
) -> TeamRegistration:
    """A team member enters the team: eligibility checked, rules and current terms accepted."""
    _require_member(actor_id, team_id)
    team = get_team(team_id)
    challenge = get_challenge_by_id(challenge_id)
    if current_phase(challenge) not in ("registration", "submission"):
        raise Conflict(_l("Registration is not open."))
    if not accept_rules:
        raise DomainError(_l("Please accept the challenge's rules."), field="accept_rules")
    if not accept_terms:
        raise DomainError(_l("Please accept the data-use terms."), field="accept_terms")
    _check_eligible(challenge, team.org_type, team.country)
    for member in team.members:
        _check_person_may_compete(member.user, challenge, team.id)
    registration = TeamRegistration(
        challenge_id=challenge.id, team_id=team.id, registered_by_id=actor_id
    )
    registration.acceptances.append(
        TermsAcceptance(version=current_terms(challenge).version, accepted_by_id=actor_id)
    )
    try:
        with db.session.begin_nested():
            db.session.add(registration)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            _l("This team is already registered for this challenge."), field="team"
        ) from None
    audit.record(
        actor_id,
        "challenges.team.register",
        "challenge",
        challenge.id,
        None,
        {"team": team.id, "terms_version": current_terms(challenge).version},
    )
    db.session.commit()
    return registration


def accept_terms(actor_id: int, registration_id: int) -> TermsAcceptance:
    """A team member accepts the current version of the terms for their team."""
    registration = db.session.get(TeamRegistration, registration_id)
    if registration is None:
        raise NotFound(_l("This registration does not exist."))
    _require_member(actor_id, registration.team_id)
    version = current_terms(registration.challenge).version
    existing = next((a for a in registration.acceptances if a.version == version), None)
    if existing:
        return existing
    acceptance = TermsAcceptance(
        registration_id=registration.id, version=version, accepted_by_id=actor_id
    )
    try:
        with db.session.begin_nested():
            db.session.add(acceptance)
    except IntegrityError:
        db.session.rollback()
        return db.session.scalar(
            select(TermsAcceptance).where(
                TermsAcceptance.registration_id == registration.id,
                TermsAcceptance.version == version,
            )
        )
    audit.record(
        actor_id,
        "challenges.terms.accept",
        "challenge",
        registration.challenge_id,
        None,
        {"team": registration.team_id, "version": version},
    )
    db.session.commit()
    return acceptance


def get_registration(challenge_id: int, team_id: int) -> TeamRegistration | None:
    """The team's registration in the challenge, if any."""
    return db.session.scalar(
        select(TeamRegistration).where(
            TeamRegistration.challenge_id == challenge_id, TeamRegistration.team_id == team_id
        )
    )


def has_current_terms(registration: TeamRegistration) -> bool:
    """Whether the team accepted the challenge's current terms."""
    version = current_terms(registration.challenge).version
    return any(a.version == version for a in registration.acceptances)


def get_registration_by_id(registration_id: int) -> TeamRegistration:
    """A registration by id, or NotFound."""
    registration = db.session.get(TeamRegistration, registration_id)
    if registration is None:
        raise NotFound(_l("This registration does not exist."))
    return registration


def list_team_registrations(team_id: int) -> list[TeamRegistration]:
    """The challenges a team entered."""
    return list(
        db.session.scalars(
            select(TeamRegistration)
            .where(TeamRegistration.team_id == team_id)
            .order_by(TeamRegistration.id)
        )
    )


def list_registrations(challenge_id: int) -> list[TeamRegistration]:
    """Teams registered in a challenge."""
    return list(
        db.session.scalars(
            select(TeamRegistration)
            .where(TeamRegistration.challenge_id == challenge_id)
            .order_by(TeamRegistration.id)
        )
    )


def my_registrations(user_id: int, challenge_id: int) -> list[TeamRegistration]:
    """The user's teams' registrations in a challenge."""
    return list(
        db.session.scalars(
            select(TeamRegistration)
            .join(TeamMember, TeamMember.team_id == TeamRegistration.team_id)
            .where(TeamRegistration.challenge_id == challenge_id, TeamMember.user_id == user_id)
        )
    )


# -- Submissions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionInput:
    """What a team submits; a new version each time."""

    title: str
    summary: str
    repository_url: str
    licence: str
    demo_url: str | None = None
    video_url: str | None = None
    build_cost: str | Decimal | None = None
    yearly_cost: str | Decimal | None = None
    member_ids: tuple[int, ...] = ()
    archive: BinaryIO | None = None
    archive_name: str | None = None


def _late_message(challenge: Challenge, now: datetime):
    return _l(
        "The deadline was %(deadline)s. The server received this at %(now)s (%(zone)s), so it "
        "cannot be accepted.",
        deadline=format_when(challenge.submission_closes_at, "long"),
        now=format_when(now, "long"),
        zone=city_timezone_name(),
    )


def submit(
    actor_id: int, challenge_id: int, team_id: int, data: SubmissionInput
) -> SubmissionVersion:
    """Submit or revise before the deadline. Every version is kept; late ones are refused with
    the server's time; an archive is checked now and unpacked safely by a job."""
    from civic.challenges.jobs import inspect_archive
    from civic.jobs import enqueue

    _require_member(actor_id, team_id)
    challenge = get_challenge_by_id(challenge_id)
    team = get_team(team_id)
    now = utcnow()
    if now >= challenge.submission_closes_at and challenge.published_at is not None:
        raise Conflict(_late_message(challenge, now))
    if current_phase(challenge, now) != "submission":
        raise Conflict(
            _l(
                "Submissions open on %(date)s.",
                date=format_when(challenge.submission_opens_at, "long"),
            )
        )
    registration = get_registration(challenge.id, team.id)
    if registration is None:
        raise NotAllowed(_l("Register your team for this challenge first."))
    if not has_current_terms(registration):
        raise NotAllowed(
            _l("The terms changed: your team must accept the current version before submitting.")
        )
    title = _text(
        data.title, "title", _l("Please give a title of at most 160 characters."), MAX_TITLE
    )
    summary = _text(data.summary, "summary", _l("Please summarise your prototype."))
    repository = check_repository_url(data.repository_url)
    licence = check_osi_licence(data.licence)
    demo = check_https_url(data.demo_url, "demo_url", required=challenge.requires_demo)
    video = check_https_url(data.video_url, "video_url")
    build_cost = parse_money(data.build_cost, "build_cost")
    yearly_cost = parse_money(data.yearly_cost, "yearly_cost")
    if challenge.requires_cost_estimate and (build_cost is None or yearly_cost is None):
        raise DomainError(
            _l("Please estimate what it costs to build and to run each year."),
            field="build_cost" if build_cost is None else "yearly_cost",
        )
    members = {m.user_id: m.user for m in team.members}
    if not data.member_ids or set(data.member_ids) - set(members):
        raise DomainError(_l("Choose the team members who worked on it."), field="members")
    archive = None
    if data.archive is not None and data.archive_name:
        archive = _store_archive(data.archive, data.archive_name)
    try:
        submission = db.session.scalar(
            select(Submission).where(
                Submission.challenge_id == challenge.id, Submission.team_id == team.id
            )
        )
        if submission is None:
            try:
                with db.session.begin_nested():
                    submission = Submission(challenge_id=challenge.id, team_id=team.id)
                    db.session.add(submission)
            except IntegrityError:
                submission = db.session.scalar(
                    select(Submission).where(
                        Submission.challenge_id == challenge.id, Submission.team_id == team.id
                    )
                )
        version = None
        for _attempt in range(10):
            number = (
                db.session.scalar(
                    select(func.max(SubmissionVersion.number)).where(
                        SubmissionVersion.submission_id == submission.id
                    )
                )
                or 0
            ) + 1
            candidate = SubmissionVersion(
                submission_id=submission.id,
                number=number,
                title=title,
                summary=summary,
                repository_url=repository,
                licence=licence,
                demo_url=demo,
                video_url=video,
                build_cost=build_cost,
                yearly_cost=yearly_cost,
                members=[
                    {"id": uid, "name": members[uid].display_name}
                    for uid in sorted(set(data.member_ids))
                ],
                submitted_by_id=actor_id,
                created_at=now,
                **(archive or {"archive_state": "none", "licence_check": "none"}),
            )
            try:
                with db.session.begin_nested():
                    db.session.add(candidate)
                version = candidate
                break
            except IntegrityError:
                continue
        if version is None:
            raise Conflict(_l("Too many versions at once. Please try again."))
        audit.record(
            actor_id,
            "challenges.submission.version",
            "submission",
            submission.id,
            None,
            {"number": version.number, "licence": licence},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if archive:
            files.delete(archive["archive_key"])
        raise
    if archive:
        enqueue(inspect_archive, version.id)
    return version


def _store_archive(stream: BinaryIO, filename: str) -> dict[str, Any]:
    """Store an archive after checking its name, real type and entry headers (no extraction)."""
    name = re.sub(r"[^\w.\- ]+", "_", filename.strip())[:200]
    head = stream.read(8)
    try:
        kind = archives.archive_kind(name, head)
    except archives.ArchiveRefused as exc:
        raise DomainError(ARCHIVE_PROBLEMS[exc.code], field="archive") from None
    saved = files.save_stream(
        files.new_key("submissions", name),
        _Prefixed(head, stream),
        archive_max_bytes(),
        field="archive",
    )
    try:
        with files.open_file(saved.key) as handle:
            archives.list_archive(handle, kind, saved.size)
    except archives.ArchiveRefused as exc:
        files.delete(saved.key)
        message = ARCHIVE_PROBLEMS[exc.code]
        if exc.entry:
            message = _l("%(problem)s Entry: %(entry)s", problem=message, entry=exc.entry[:200])
        raise DomainError(message, field="archive") from None
    return {
        "archive_key": saved.key,
        "archive_name": name,
        "archive_size": saved.size,
        "archive_sha256": saved.sha256,
        "archive_state": "pending",
        "licence_check": "pending",
    }


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read to sniff its type."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._rest.read(size)


def get_submission(submission_id: int) -> Submission:
    """The submission with this id, or NotFound."""
    submission = db.session.get(Submission, submission_id)
    if submission is None:
        raise NotFound(_l("This submission does not exist."))
    return submission


def judged_version(submission: Submission) -> SubmissionVersion | None:
    """The last version received before the deadline (the one judges score)."""
    deadline = submission.challenge.submission_closes_at
    on_time = [v for v in submission.versions if v.created_at < deadline]
    return on_time[-1] if on_time else None


def list_submissions(challenge_id: int) -> list[Submission]:
    """A challenge's submissions (those with a version on time)."""
    rows = db.session.scalars(
        select(Submission).where(Submission.challenge_id == challenge_id).order_by(Submission.id)
    ).all()
    return [s for s in rows if judged_version(s) is not None]


def team_submission(challenge_id: int, team_id: int) -> Submission | None:
    """A team's submission in a challenge, if any."""
    return db.session.scalar(
        select(Submission).where(
            Submission.challenge_id == challenge_id, Submission.team_id == team_id
        )
    )


def _assignment(submission_id: int, judge_id: int) -> JudgeAssignment | None:
    return db.session.scalar(
        select(JudgeAssignment).where(
            JudgeAssignment.submission_id == submission_id, JudgeAssignment.judge_id == judge_id
        )
    )


def can_view_submission(user: User | None, submission: Submission) -> bool:
    """Team members, the innovation team and staff, and judges assigned (without conflict)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if is_staff(user) or membership(user.id, submission.team_id):
        return True
    assignment = _assignment(submission.id, user.id)
    return assignment is not None and assignment.state == "assigned"


# -- Judging -----------------------------------------------------------------------------------


def _automatic_conflicts(challenge_id: int) -> set[tuple[int, int]]:
    """(submission, judge) pairs where the judge is on the submitting team, or declared a conflict."""
    pairs = set(
        db.session.execute(
            select(Submission.id, TeamMember.user_id)
            .join(TeamMember, TeamMember.team_id == Submission.team_id)
            .where(Submission.challenge_id == challenge_id)
        ).all()
    )
    pairs |= set(
        db.session.execute(
            select(JudgeAssignment.submission_id, JudgeAssignment.judge_id)
            .join(Submission, Submission.id == JudgeAssignment.submission_id)
            .where(Submission.challenge_id == challenge_id, JudgeAssignment.state == "conflict")
        ).all()
    )
    return pairs


def _active_pairs(challenge_id: int) -> list[tuple[int, int]]:
    return list(
        db.session.execute(
            select(JudgeAssignment.submission_id, JudgeAssignment.judge_id)
            .join(Submission, Submission.id == JudgeAssignment.submission_id)
            .where(Submission.challenge_id == challenge_id, JudgeAssignment.state == "assigned")
        ).all()
    )


def _put_assignment(submission_id: int, judge_id: int, actor_id: int | None) -> JudgeAssignment:
    row = _assignment(submission_id, judge_id)
    if row is None:
        row = JudgeAssignment(
            submission_id=submission_id, judge_id=judge_id, assigned_by_id=actor_id
        )
        db.session.add(row)
    elif row.state == "removed":
        row.state = "assigned"
    return row


def assign_judges(actor_id: int, challenge_id: int, seed: int | None = None) -> scoring.Assignment:
    """Offer and make a balanced random assignment (the challenge's number of judges per
    submission where the panel allows; declared conflicts and team members excluded)."""
    actor = _require_innovation(actor_id)
    challenge = get_challenge_by_id(challenge_id)
    if current_phase(challenge) != "judging":
        raise Conflict(_l("Judges are assigned once the submission deadline has passed."))
    panel = [u.id for u in list_panel(challenge.id)]
    if not panel:
        raise Conflict(_l("Add judges to the panel first."))
    submissions = [s.id for s in list_submissions(challenge.id)]
    plan = scoring.balanced_assignment(
        submissions,
        panel,
        per_submission=challenge.judges_per_submission,
        existing=_active_pairs(challenge.id),
        excluded=_automatic_conflicts(challenge.id),
        seed=seed if seed is not None else secrets.randbits(32),
    )
    for submission_id, judge_id in plan.pairs:
        _put_assignment(submission_id, judge_id, actor.id)
    audit.record(
        actor.id,
        "challenges.judges.assign",
        "challenge",
        challenge.id,
        None,
        {
            "pairs": [list(p) for p in plan.pairs],
            "short": {str(k): v for k, v in plan.short.items()},
        },
    )
    db.session.commit()
    return plan


def assign_judge(actor_id: int, submission_id: int, judge_id: int) -> JudgeAssignment:
    """Staff assign one judge from the panel to a submission by hand."""
    actor = _require_innovation(actor_id)
    submission = get_submission(submission_id)
    if judge_id not in {u.id for u in list_panel(submission.challenge_id)}:
        raise DomainError(_l("Choose a judge from this challenge's panel."), field="judge")
    if (submission.id, judge_id) in _automatic_conflicts(submission.challenge_id):
        raise Conflict(
            _l("This judge has a conflict of interest with this submission."), field="judge"
        )
    existing = _assignment(submission.id, judge_id)
    if existing is not None and existing.state == "assigned":
        raise Conflict(_l("This judge is already assigned."), field="judge")
    row = _put_assignment(submission.id, judge_id, actor.id)
    audit.record(
        actor.id, "challenges.judge.assign", "submission", submission.id, None, {"judge": judge_id}
    )
    db.session.commit()
    return row


def remove_assignment(actor_id: int, assignment_id: int) -> JudgeAssignment:
    """Staff take a judge off a submission (not once locked: an admin reopens first)."""
    actor = _require_innovation(actor_id)
    row = get_assignment(assignment_id)
    if row.locked_at is not None:
        raise Conflict(_l("These scores are locked. An administrator must reopen them first."))
    if row.state != "assigned":
        return row
    row.state = "removed"
    _delete_scores(row)
    audit.record(
        actor.id,
        "challenges.judge.unassign",
        "submission",
        row.submission_id,
        {"judge": row.judge_id},
        None,
    )
    db.session.commit()
    return row


def _delete_scores(row: JudgeAssignment) -> None:
    db.session.execute(
        delete(JudgeScore).where(
            JudgeScore.submission_id == row.submission_id, JudgeScore.judge_id == row.judge_id
        )
    )


def get_assignment(assignment_id: int) -> JudgeAssignment:
    """A judge assignment, or NotFound."""
    row = db.session.get(JudgeAssignment, assignment_id)
    if row is None:
        raise NotFound(_l("This assignment does not exist."))
    return row


def _reassign(row: JudgeAssignment, actor_id: int | None) -> JudgeAssignment | None:
    challenge = row.submission.challenge
    panel = [u.id for u in list_panel(challenge.id)]
    plan = scoring.balanced_assignment(
        [row.submission_id],
        panel,
        per_submission=challenge.judges_per_submission,
        existing=_active_pairs(challenge.id),
        excluded=_automatic_conflicts(challenge.id),
        seed=secrets.randbits(32),
    )
    replacement = None
    for submission_id, judge_id in plan.pairs:
        replacement = _put_assignment(submission_id, judge_id, actor_id)
    return replacement


def declare_conflict(judge_id: int, assignment_id: int, reason: str) -> JudgeAssignment | None:
    """A judge declares a conflict of interest; their draft scores go, and another judge is
    assigned when the panel has one free. Returns the replacement assignment, if any."""
    row = get_assignment(assignment_id)
    if row.judge_id != judge_id:
        raise NotAllowed(_l("This is not your assignment."))
    if row.state != "assigned":
        raise Conflict(_l("You have already declared a conflict for this submission."))
    if row.locked_at is not None:
        raise Conflict(_l("These scores are locked. An administrator must reopen them first."))
    row.state = "conflict"
    row.conflict_reason = _text(
        reason, "reason", _l("Please describe the conflict of interest."), 2000
    )
    _delete_scores(row)
    db.session.flush()
    replacement = _reassign(row, None)
    audit.record(
        judge_id,
        "challenges.judge.conflict",
        "submission",
        row.submission_id,
        None,
        {"judge": judge_id, "replacement": replacement.judge_id if replacement else None},
    )
    db.session.commit()
    return replacement


def list_my_assignments(judge_id: int) -> list[JudgeAssignment]:
    """A judge's assignments, newest challenge first."""
    return list(
        db.session.scalars(
            select(JudgeAssignment)
            .where(JudgeAssignment.judge_id == judge_id)
            .order_by(JudgeAssignment.id)
        )
    )


def list_assignments(challenge_id: int) -> list[JudgeAssignment]:
    """Every assignment in a challenge (for staff)."""
    return list(
        db.session.scalars(
            select(JudgeAssignment)
            .join(Submission, Submission.id == JudgeAssignment.submission_id)
            .where(Submission.challenge_id == challenge_id)
            .order_by(JudgeAssignment.submission_id, JudgeAssignment.id)
        )
    )


def my_scores(judge_id: int, submission_id: int) -> dict[int, JudgeScore]:
    """A judge's scores of a submission by criterion."""
    rows = db.session.scalars(
        select(JudgeScore).where(
            JudgeScore.judge_id == judge_id, JudgeScore.submission_id == submission_id
        )
    )
    return {row.criterion_id: row for row in rows}


def save_scores(
    judge_id: int,
    submission_id: int,
    values: dict[int, int | None],
    comments: dict[int, str],
    feedback: str,
    lock: bool = False,
) -> JudgeAssignment:
    """Save a judge's 0–5 scores with comments, and optionally lock them.

    One score per judge, submission and criterion (a database constraint); saves of one sheet
    are serialised by a lock on its assignment."""
    row = _assignment(submission_id, judge_id)
    if row is None:
        raise NotAllowed(_l("You are not assigned to this submission."))
    if row.state == "conflict":
        raise NotAllowed(
            _l("You declared a conflict of interest for this submission and cannot score it.")
        )
    if row.state != "assigned":
        raise NotAllowed(_l("You are not assigned to this submission."))
    if row.locked_at is not None:
        raise Conflict(_l("Your scores are locked. An administrator can reopen them."))
    challenge = row.submission.challenge
    if current_phase(challenge) != "judging":
        raise Conflict(
            _l("Scoring is open after the submission deadline and until the results are published.")
        )
    criteria = {c.id: c for c in challenge.criteria}
    clean: dict[int, int] = {}
    for criterion_id, value in values.items():
        if criterion_id not in criteria:
            raise DomainError(_l("Unknown criterion."))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
            raise DomainError(
                _l("Scores are whole numbers from 0 to 5."), field=f"score_{criterion_id}"
            )
        clean[criterion_id] = value
    # Take the assignment's write lock (a row lock on PostgreSQL, the database's write lock on
    # SQLite) before reading, so two saves by one judge run one after the other, never mixed.
    db.session.execute(
        update(JudgeAssignment)
        .where(JudgeAssignment.id == row.id)
        .values(state=JudgeAssignment.state)
    )
    db.session.refresh(row)
    if row.locked_at is not None or row.state != "assigned":
        db.session.rollback()
        raise Conflict(_l("Your scores are locked. An administrator can reopen them."))
    for criterion_id, value in clean.items():
        comment = (comments.get(criterion_id) or "").strip()[:MAX_TEXT]
        for _attempt in range(3):
            existing = db.session.scalar(
                select(JudgeScore).where(
                    JudgeScore.submission_id == submission_id,
                    JudgeScore.judge_id == judge_id,
                    JudgeScore.criterion_id == criterion_id,
                )
            )
            if existing is not None:
                existing.value, existing.comment, existing.updated_at = value, comment, utcnow()
                break
            try:
                with db.session.begin_nested():
                    db.session.add(
                        JudgeScore(
                            submission_id=submission_id,
                            judge_id=judge_id,
                            criterion_id=criterion_id,
                            value=value,
                            comment=comment,
                        )
                    )
                break
            except IntegrityError:
                continue
        else:
            raise Conflict(_l("Your scores were being saved twice at once. Please try again."))
    row.feedback = (feedback or "").strip()[:MAX_TEXT] or None
    if lock:
        db.session.flush()
        scored = set(my_scores(judge_id, submission_id))
        missing = [c for c in criteria.values() if c.id not in scored]
        if missing:
            db.session.commit()  # keep what was saved; locking needs every criterion
            raise DomainError(
                _l(
                    "Score every criterion before locking (%(name)s is missing).",
                    name=pick_text(missing[0].name).text,
                ),
                field=f"score_{missing[0].id}",
            )
        if not row.feedback:
            db.session.commit()
            raise DomainError(_l("Write feedback for the team before locking."), field="feedback")
        locked = db.session.execute(
            update(JudgeAssignment)
            .where(JudgeAssignment.id == row.id, JudgeAssignment.locked_at.is_(None))
            .values(locked_at=utcnow())
        ).rowcount
        if locked:
            audit.record(
                judge_id,
                "challenges.scores.lock",
                "submission",
                submission_id,
                None,
                {"judge": judge_id, "scores": {str(k): v for k, v in sorted(clean.items())}},
            )
    db.session.commit()
    db.session.refresh(row)
    return row


def reopen_scores(admin_id: int, assignment_id: int, reason: str) -> JudgeAssignment:
    """An administrator reopens locked scores; the reopening is logged with its reason."""
    admin = _require_admin(admin_id)
    row = get_assignment(assignment_id)
    reason = _text(reason, "reason", _l("Please give the reason for reopening."), 2000)
    if row.locked_at is None:
        raise Conflict(_l("These scores are not locked."))
    challenge = row.submission.challenge
    if challenge.results_published_at is not None:
        raise Conflict(_l("The results are published; scores can no longer change."))
    before = {s.criterion_id: s.value for s in my_scores(row.judge_id, row.submission_id).values()}
    row.locked_at = None
    _record_change(
        challenge,
        admin.id,
        "scores.reopen",
        reason,
        {
            "assignment": row.id,
            "judge": row.judge_id,
            "submission": row.submission_id,
            "scores": {str(k): v for k, v in before.items()},
        },
        None,
        is_public=False,
    )
    db.session.commit()
    return row


def panel_view(judge_id: int, submission_id: int) -> dict[str, Any]:
    """After locking, what the other judges gave (anonymised as Judge 1, 2…) and the judge's
    leniency next to the panel's; refused before locking (independence first)."""
    row = _assignment(submission_id, judge_id)
    if row is None or row.state != "assigned":
        raise NotAllowed(_l("You are not assigned to this submission."))
    if row.locked_at is None:
        raise NotAllowed(
            _l("Lock your own scores first; then you will see the other judges' scores.")
        )
    others = [
        a
        for a in db.session.scalars(
            select(JudgeAssignment)
            .where(
                JudgeAssignment.submission_id == submission_id,
                JudgeAssignment.state == "assigned",
                JudgeAssignment.judge_id != judge_id,
                JudgeAssignment.locked_at.is_not(None),
            )
            .order_by(JudgeAssignment.id)
        )
    ]
    sheets = [
        {
            "label": number,
            "scores": {cid: s.value for cid, s in my_scores(a.judge_id, submission_id).items()},
            "comments": {cid: s.comment for cid, s in my_scores(a.judge_id, submission_id).items()},
        }
        for number, a in enumerate(others, start=1)
    ]
    challenge = row.submission.challenge
    mine = _mean_score(
        select(JudgeScore.value)
        .join(Submission, Submission.id == JudgeScore.submission_id)
        .where(Submission.challenge_id == challenge.id, JudgeScore.judge_id == judge_id)
    )
    panel = _mean_score(
        select(JudgeScore.value)
        .join(Submission, Submission.id == JudgeScore.submission_id)
        .where(Submission.challenge_id == challenge.id)
    )
    return {"sheets": sheets, "my_mean": mine, "panel_mean": panel}


def _mean_score(query) -> float | None:
    values = list(db.session.scalars(query))
    return sum(values) / len(values) if values else None


# -- Results -----------------------------------------------------------------------------------


def _locked_marks(challenge: Challenge) -> list[scoring.Mark]:
    rows = db.session.execute(
        select(
            JudgeScore.judge_id, JudgeScore.submission_id, JudgeScore.criterion_id, JudgeScore.value
        )
        .join(
            JudgeAssignment,
            (JudgeAssignment.submission_id == JudgeScore.submission_id)
            & (JudgeAssignment.judge_id == JudgeScore.judge_id),
        )
        .join(Submission, Submission.id == JudgeScore.submission_id)
        .where(
            Submission.challenge_id == challenge.id,
            JudgeAssignment.state == "assigned",
            JudgeAssignment.locked_at.is_not(None),
        )
    ).all()
    return [scoring.Mark(*row) for row in rows]


def compute_outcome(challenge_id: int) -> scoring.Outcome:
    """Score the challenge from locked sheets only, with the challenge's method and thresholds."""
    challenge = get_challenge_by_id(challenge_id)
    submissions = list_submissions(challenge.id)
    entries = [scoring.Entry(s.id, judged_version(s).created_at.timestamp()) for s in submissions]
    return scoring.score_challenge(
        [scoring.Criterion(c.id, c.weight) for c in challenge.criteria],
        _locked_marks(challenge),
        entries,
        method=challenge.method,
        winners=max(1, len(challenge.prizes)),
        spread_threshold=float(challenge.consensus_threshold),
    )


def judging_progress(challenge_id: int) -> dict[str, int]:
    """Assignments made, locked, and conflicts, for the staff page."""
    rows = list_assignments(challenge_id)
    return {
        "assigned": sum(1 for r in rows if r.state == "assigned"),
        "locked": sum(1 for r in rows if r.state == "assigned" and r.locked_at is not None),
        "conflicts": sum(1 for r in rows if r.state == "conflict"),
    }


def record_consensus(actor_id: int, submission_id: int, note: str) -> Submission:
    """Record how the panel resolved a disagreement (shown with the results)."""
    actor = _require_innovation(actor_id)
    submission = get_submission(submission_id)
    if submission.challenge.results_published_at is not None:
        raise Conflict(_l("The results are published; the challenge can no longer change."))
    submission.consensus_note = _text(
        note, "note", _l("Please write the panel's consensus note."), 5000
    )
    submission.consensus_by_id, submission.consensus_at = actor.id, utcnow()
    audit.record(
        actor.id,
        "challenges.consensus",
        "submission",
        submission.id,
        None,
        {"note": submission.consensus_note},
    )
    db.session.commit()
    return submission


def serialise_outcome(outcome: scoring.Outcome) -> dict[str, Any]:
    def entry(s: scoring.Scored) -> dict[str, Any]:
        return {
            "submission_id": s.submission_id,
            "rank": s.rank,
            "score": s.score,
            "raw": s.raw,
            "z": s.z,
            "borda": s.borda,
            "criteria_raw": {str(k): v for k, v in s.criteria_raw.items()},
            "criteria_normalised": {str(k): v for k, v in s.criteria_normalised.items()},
            "judges": s.judges,
            "spread": s.spread,
            "needs_consensus": s.needs_consensus,
            "consensus_reasons": list(s.consensus_reasons),
            "tie_broken_by": s.tie_broken_by,
        }

    return {
        "method": outcome.method,
        "rankings": {m: [entry(s) for s in r] for m, r in outcome.rankings.items()},
        "top": {m: list(t) for m, t in outcome.top.items()},
        "winners": outcome.winners,
        "method_sensitive": outcome.method_sensitive,
        "normalisation": [
            {"judge": n.judge_id, "criterion": n.criterion_id, "mode": n.mode}
            for n in outcome.normalisation
        ],
    }


def publish_results(actor_id: int, challenge_id: int, method_note: str = "") -> ChallengeResult:
    """Publish the ranking by the challenge's method, award the prizes to the top places, and
    tell the teams. Every assignment must be locked and every flag resolved with a note."""
    from civic.challenges.jobs import notify_results
    from civic.jobs import enqueue

    actor = _require_innovation(actor_id)
    challenge = get_challenge_by_id(challenge_id)
    if challenge.results_published_at is not None:
        raise Conflict(_l("The results are already published."))
    if current_phase(challenge) != "judging":
        raise Conflict(_l("Results are published after the submission deadline."))
    progress = judging_progress(challenge.id)
    if progress["locked"] < progress["assigned"]:
        raise Conflict(
            _l(
                "%(count)s judges' score sheets are not locked yet.",
                count=progress["assigned"] - progress["locked"],
            )
        )
    outcome = compute_outcome(challenge.id)
    unscored = [s for s in outcome.ranking if s.judges == 0]
    if unscored or not outcome.ranking:
        raise Conflict(_l("Every submission needs at least one judge's locked scores."))
    pending = [
        s
        for s in outcome.ranking
        if s.needs_consensus and not get_submission(s.submission_id).consensus_note
    ]
    if pending:
        raise Conflict(
            _l(
                "Record the panel's consensus note for each submission flagged “needs consensus” first."
            )
        )
    note = (method_note or "").strip()
    if outcome.method_sensitive and not note:
        raise DomainError(
            _l("The top places differ between methods: explain why the published method stands."),
            field="method_note",
        )
    result = ChallengeResult(
        challenge_id=challenge.id,
        method=challenge.method,
        outcome=serialise_outcome(outcome),
        method_note=note or None,
        published_by_id=actor.id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(result)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("The results are already published.")) from None
    for prize, scored in zip(challenge.prizes, outcome.ranking, strict=False):
        prize.awarded_submission_id = scored.submission_id
    challenge.results_published_at = utcnow()
    audit.record(
        actor.id,
        "challenges.results.publish",
        "challenge",
        challenge.id,
        None,
        {"method": challenge.method, "top": list(outcome.top[challenge.method])},
    )
    db.session.commit()
    enqueue(notify_results, challenge.id)
    return result


def get_result(challenge_id: int) -> ChallengeResult | None:
    """The published result of a challenge, if any."""
    return db.session.scalar(
        select(ChallengeResult).where(ChallengeResult.challenge_id == challenge_id)
    )


def team_feedback(user: User | None, submission: Submission) -> dict[str, Any] | None:
    """What a team sees after results: its place, per-criterion scores and the judges' compiled
    feedback and comments, without saying which judge wrote what."""
    if not can_view_submission(user, submission):
        raise NotAllowed(_l("You cannot see this submission."))
    result = get_result(submission.challenge_id)
    if result is None:
        return None
    ranking = result.outcome["rankings"][result.method]
    mine = next((e for e in ranking if e["submission_id"] == submission.id), None)
    locked = [
        a
        for a in db.session.scalars(
            select(JudgeAssignment).where(
                JudgeAssignment.submission_id == submission.id,
                JudgeAssignment.state == "assigned",
                JudgeAssignment.locked_at.is_not(None),
            )
        )
    ]
    feedback = [a.feedback for a in locked if a.feedback]
    comments: dict[int, list[str]] = {}
    for a in locked:
        for cid, score in my_scores(a.judge_id, submission.id).items():
            if score.comment:
                comments.setdefault(cid, []).append(score.comment)
    # Shuffle-proof anonymity: keep a stable order that does not follow assignment ids.
    feedback.sort()
    for texts in comments.values():
        texts.sort()
    return {
        "entry": mine,
        "of": len(ranking),
        "feedback": feedback,
        "comments": comments,
        "method": result.method,
    }


def scores_csv(challenge_id: int, include_judges: bool = False) -> str:
    """The published scores as CSV: one row per submission (and, for staff, per judge sheet)."""
    challenge = get_challenge_by_id(challenge_id)
    result = get_result(challenge.id)
    out = io.StringIO()
    writer = csv.writer(out)
    criteria = challenge.criteria
    names = [pick_text(c.name).text for c in criteria]
    if result is None:
        outcome = serialise_outcome(compute_outcome(challenge.id))
        method = challenge.method
    else:
        outcome, method = result.outcome, result.method
    submissions = {s.id: s for s in list_submissions(challenge.id)}
    writer.writerow(
        [
            "rank",
            "submission",
            "team",
            "title",
            "repository",
            "licence",
            "method",
            "score",
            "raw",
            "z",
            "borda",
            "judges",
            "needs_consensus",
        ]
        + [f"{n} (raw mean 0-5)" for n in names]
        + [f"{n} (normalised 0-5)" for n in names]
    )
    for e in outcome["rankings"][method]:
        sub = submissions.get(e["submission_id"])
        version = judged_version(sub) if sub else None
        writer.writerow(
            [
                e["rank"],
                e["submission_id"],
                sub.team.name if sub else "",
                version.title if version else "",
                version.repository_url if version else "",
                version.licence if version else "",
                method,
            ]
            + [_fmt(e[k]) for k in ("score", "raw", "z", "borda")]
            + [e["judges"], "yes" if e["needs_consensus"] else "no"]
            + [_fmt(e["criteria_raw"].get(str(c.id))) for c in criteria]
            + [_fmt(e["criteria_normalised"].get(str(c.id))) for c in criteria]
        )
    if include_judges:
        writer.writerow([])
        writer.writerow(["submission", "judge", "locked"] + names)
        for a in list_assignments(challenge.id):
            if a.state != "assigned":
                continue
            scores = my_scores(a.judge_id, a.submission_id)
            writer.writerow(
                [a.submission_id, a.judge.display_name, "yes" if a.locked_at else "no"]
                + [scores[c.id].value if c.id in scores else "" for c in criteria]
            )
    return out.getvalue()


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


# -- Feedback thread and questions ---------------------------------------------------------------


def can_use_thread(user: User | None, submission: Submission) -> bool:
    """The team and city staff talk in a submission's thread."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return is_staff(user) or membership(user.id, submission.team_id) is not None


def post_message(user_id: int, submission_id: int, body: str) -> SubmissionMessage:
    """Add to a submission's feedback thread (team members and staff)."""
    user = _user(user_id)
    submission = get_submission(submission_id)
    if not can_use_thread(user, submission):
        raise NotAllowed(_l("Only the team and city staff write in this thread."))
    message = SubmissionMessage(
        submission_id=submission.id,
        author_id=user.id,
        is_staff=is_staff(user),
        body=_text(body, "body", _l("Please write a message.")),
    )
    db.session.add(message)
    db.session.commit()
    return message


def list_messages(submission_id: int) -> list[SubmissionMessage]:
    """A submission's feedback thread, oldest first."""
    return list(
        db.session.scalars(
            select(SubmissionMessage)
            .where(SubmissionMessage.submission_id == submission_id)
            .order_by(SubmissionMessage.id)
        )
    )


def ask_question(user_id: int, challenge_id: int, body: str) -> ChallengeQuestion:
    """Anyone signed in asks about a published challenge or its data; answers are public."""
    challenge = get_challenge_by_id(challenge_id)
    if challenge.published_at is None or challenge.results_published_at is not None:
        raise Conflict(_l("Questions are open while the challenge runs."))
    question = ChallengeQuestion(
        challenge_id=challenge.id,
        author_id=user_id,
        body=_text(body, "body", _l("Please write your question."), 3000),
    )
    db.session.add(question)
    db.session.commit()
    return question


def get_question(question_id: int) -> ChallengeQuestion:
    """A question, or NotFound."""
    question = db.session.get(ChallengeQuestion, question_id)
    if question is None:
        raise NotFound(_l("This question does not exist."))
    return question


def answer_question(actor_id: int, question_id: int, answer: str) -> ChallengeQuestion:
    """The innovation team answers a question publicly."""
    actor = _require_innovation(actor_id)
    question = get_question(question_id)
    question.answer = _text(answer, "answer", _l("Please write the answer."), 5000)
    question.answered_by_id, question.answered_at = actor.id, utcnow()
    db.session.commit()
    return question


def list_questions(challenge_id: int, include_unanswered: bool = False) -> list[ChallengeQuestion]:
    """Answered questions (and, for staff, unanswered ones)."""
    query = select(ChallengeQuestion).where(ChallengeQuestion.challenge_id == challenge_id)
    if not include_unanswered:
        query = query.where(ChallengeQuestion.answer.is_not(None))
    return list(db.session.scalars(query.order_by(ChallengeQuestion.id)))
