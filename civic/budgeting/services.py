"""Participatory-budgeting rules: phases, ideas, review, ballots, secrecy, results, tracking."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from civic.accounts.models import User
from civic.budgeting.models import (
    BALLOT_TYPES,
    PHASES,
    PROJECT_STATUSES,
    RESULT_RULES,
    Ballot,
    BallotKey,
    Budget,
    Idea,
    IdeaEvent,
    IdeaSupport,
    Process,
    Project,
    ProjectFollower,
    ProjectUpdate,
    ResultSet,
    VoterRecord,
)
from civic.core import audit, geo
from civic.core.errors import Conflict, DomainError, NotAllowed, NotFound
from civic.core.i18n import pick_text
from civic.core.time import utcnow
from civic.extensions import db

CATEGORIES = {
    "environment": _l("Environment and green spaces"),
    "mobility": _l("Mobility and streets"),
    "culture": _l("Culture"),
    "sport": _l("Sport and leisure"),
    "education": _l("Education and youth"),
    "health": _l("Health and care"),
    "public_space": _l("Squares and public space"),
    "social": _l("Community and inclusion"),
}

PHASE_LABELS = {
    "draft": _l("In preparation"),
    "ideas": _l("Ideas"),
    "review": _l("Review"),
    "voting": _l("Voting"),
    "results": _l("Results"),
    "implementation": _l("Implementation"),
}

BALLOT_TYPE_LABELS = {
    "knapsack": _l("Choose projects that fit the budget"),
    "k_approval": _l("Choose up to k projects"),
    "cumulative": _l("Share out points"),
    "ranked": _l("Rank your favourite projects"),
}


def describe_ballot(budget: Budget) -> str:
    """How to fill this budget's ballot, in one sentence."""
    if budget.ballot_type == "knapsack":
        return str(_l("Choose the projects you want, as long as their total cost fits the budget."))
    if budget.ballot_type == "k_approval":
        return str(_l("Choose up to %(count)s projects.", count=budget.max_choices))
    if budget.ballot_type == "cumulative":
        return str(
            _l(
                "Share out %(total)s points among the projects, at most %(max)s per project.",
                total=budget.points_total,
                max=budget.points_per_project,
            )
        )
    return str(_l("Rank up to %(count)s projects: 1 for your favourite.", count=budget.max_choices))


RULE_LABELS = {
    "greedy": _l("Most votes first (greedy)"),
    "greedy-cost": _l("Most votes per unit of cost"),
    "mes": _l("Method of Equal Shares"),
    "mes-greedy": _l("Method of Equal Shares, completed by votes"),
    "mes-add1": _l("Method of Equal Shares, Add1 completion"),
    "mes-add1-greedy": _l("Method of Equal Shares, Add1 then greedy completion"),
    "phragmen": _l("Sequential Phragmén"),
}

STATUS_LABELS = {
    "proposed": _l("On the ballot"),
    "planned": _l("Planned"),
    "in_progress": _l("In progress"),
    "done": _l("Done"),
    "cancelled": _l("Cancelled"),
}

MAX_TITLE = 160
MAX_COST = Decimal("1e13")


# -- Processes and phases ----------------------------------------------------------------------


def current_phase(process: Process, now: datetime | None = None) -> str:
    """The phase staff set by hand, else the one the dates give."""
    if process.phase_override:
        return process.phase_override
    now = now or utcnow()
    marks = [
        ("implementation", process.implementation_start),
        ("results", process.voting_end),
        ("voting", process.voting_start),
        ("review", process.review_start),
        ("ideas", process.ideas_start),
    ]
    for phase, start in marks:
        if start is not None and now >= start:
            return phase
    return "draft"


def is_vote_open(process: Process) -> bool:
    """True while ballots may be cast or changed."""
    return current_phase(process) == "voting" and process.vote_closed_at is None


def _require_staff(actor_id: int) -> User:
    actor = db.session.get(User, actor_id)
    if actor is None or not actor.has_role("staff"):
        raise NotAllowed(_l("Only city staff can do this."))
    return actor


def get_process(slug: str) -> Process:
    """The process with this slug, or NotFound."""
    process = db.session.scalar(select(Process).where(Process.slug == slug))
    if process is None:
        raise NotFound(_l("This budgeting process does not exist."))
    return process


def get_process_by_id(process_id: int) -> Process:
    """The process with this id, or NotFound."""
    process = db.session.get(Process, process_id)
    if process is None:
        raise NotFound(_l("This budgeting process does not exist."))
    return process


def get_budget(budget_id: int) -> Budget:
    """The budget with this id, or NotFound."""
    budget = db.session.get(Budget, budget_id)
    if budget is None:
        raise NotFound(_l("This budget does not exist."))
    return budget


def list_processes() -> list[Process]:
    """Processes, newest first."""
    return list(db.session.scalars(select(Process).order_by(Process.id.desc())))


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "budget"


def create_process(
    actor_id: int | None,
    title: dict[str, str],
    description: dict[str, str] | None = None,
    *,
    slug: str | None = None,
    ideas_start: datetime | None = None,
    review_start: datetime | None = None,
    voting_start: datetime | None = None,
    voting_end: datetime | None = None,
    implementation_start: datetime | None = None,
    phase_override: str | None = None,
) -> Process:
    """Create a process (staff); its dates must follow each other."""
    if actor_id is not None:
        _require_staff(actor_id)
    if not title:
        raise DomainError(_l("Please enter a title."), field="title")
    _check_dates(ideas_start, review_start, voting_start, voting_end, implementation_start)
    slug = _slugify(slug or next(iter(title.values())))
    base, n = slug, 2
    while db.session.scalar(select(Process.id).where(Process.slug == slug)):
        slug = f"{base}-{n}"
        n += 1
    process = Process(
        slug=slug,
        title=title,
        description=description or {},
        ideas_start=ideas_start,
        review_start=review_start,
        voting_start=voting_start,
        voting_end=voting_end,
        implementation_start=implementation_start,
        phase_override=phase_override,
    )
    db.session.add(process)
    db.session.flush()
    audit.record(actor_id, "budgeting.process.create", "process", process.id, None, {"slug": slug})
    db.session.commit()
    return process


def _check_dates(*dates: datetime | None) -> None:
    given = [d for d in dates if d is not None]
    if any(a > b for a, b in zip(given, given[1:], strict=False)):
        raise DomainError(_l("Each phase must start after the previous one."), field="voting_start")


def set_phase(actor_id: int, process_id: int, phase: str | None) -> Process:
    """Move a process to a phase by hand (None: follow the dates again)."""
    _require_staff(actor_id)
    process = db.session.get(Process, process_id)
    if process is None:
        raise NotFound(_l("This budgeting process does not exist."))
    if phase is not None and phase not in PHASES:
        raise DomainError(_l("Unknown phase."), field="phase")
    before = current_phase(process)
    if before in ("results", "implementation") and phase in ("draft", "ideas", "review", "voting"):
        raise Conflict(_l("A vote that has closed cannot be opened again."), field="phase")
    process.phase_override = phase
    audit.record(
        actor_id, "budgeting.phase", "process", process.id, {"phase": before}, {"phase": phase}
    )
    db.session.commit()
    if before == "voting" and current_phase(process) != "voting":
        close_vote(process.id, actor_id)
    return process


def close_vote(process_id: int, actor_id: int | None = None) -> Process:
    """Close the vote: destroy the pseudonym keys for good, then compute results in jobs."""
    from civic.budgeting.jobs import compute_results
    from civic.jobs import enqueue

    process = db.session.get(Process, process_id)
    if process is None:
        raise NotFound(_l("This budgeting process does not exist."))
    if process.vote_closed_at is not None:
        return process
    if current_phase(process) == "voting":
        process.phase_override = "results"
    budget_ids = [b.id for b in process.budgets]
    db.session.execute(delete(BallotKey).where(BallotKey.budget_id.in_(budget_ids)))
    process.vote_closed_at = utcnow()
    audit.record(
        actor_id, "budgeting.vote.close", "process", process.id, None, {"budgets": budget_ids}
    )
    db.session.commit()
    for budget_id in budget_ids:
        enqueue(compute_results, budget_id)
    return process


def close_due_votes() -> list[int]:
    """Close every vote whose end date has passed (for `civic budgeting close-due` in cron)."""
    closed = []
    for process in db.session.scalars(
        select(Process).where(Process.vote_closed_at.is_(None), Process.voting_start.is_not(None))
    ):
        if current_phase(process) in ("results", "implementation"):
            close_vote(process.id)
            closed.append(process.id)
    return closed


def close_vote_if_due(process: Process) -> None:
    """Pages call this so that a vote past its end date is closed even without cron."""
    due = process.vote_closed_at is None and process.voting_start is not None
    if due and current_phase(process) in ("results", "implementation"):
        close_vote(process.id)


def add_budget(
    actor_id: int | None,
    process_id: int,
    name: dict[str, str],
    amount: Decimal | int | str,
    ballot_type: str,
    *,
    district_id: int | None = None,
    max_choices: int | None = None,
    points_total: int | None = None,
    points_per_project: int | None = None,
    min_share: float | None = None,
    rule: str = "mes-add1-greedy",
) -> Budget:
    """Add a budget to a process before its vote opens."""
    if actor_id is not None:
        _require_staff(actor_id)
    process = db.session.get(Process, process_id)
    if process is None:
        raise NotFound(_l("This budgeting process does not exist."))
    if (
        current_phase(process) in ("voting", "results", "implementation")
        and not process.is_imported
    ):
        raise Conflict(_l("Budgets are fixed once the vote opens."))
    amount = parse_money(amount, field="amount")
    if amount <= 0:
        raise DomainError(_l("The amount must be more than zero."), field="amount")
    if ballot_type not in BALLOT_TYPES:
        raise DomainError(_l("Unknown ballot type."), field="ballot_type")
    if rule not in RESULT_RULES:
        raise DomainError(_l("Unknown result rule."), field="rule")
    if ballot_type in ("k_approval", "ranked") and not (max_choices and max_choices >= 1):
        raise DomainError(_l("Say how many projects a voter may choose."), field="max_choices")
    if ballot_type == "cumulative" and not (
        points_total and points_per_project and points_total >= 1 and points_per_project >= 1
    ):
        raise DomainError(
            _l("Say how many points a voter has, and the most per project."),
            field="points_total",
        )
    if ballot_type == "ranked" and rule not in ("greedy", "mes"):
        raise DomainError(
            _l("Ranked ballots are counted with greedy (Borda) or MES."), field="rule"
        )
    if ballot_type == "cumulative" and rule == "phragmen":
        raise DomainError(_l("Sequential Phragmén counts approval ballots only."), field="rule")
    if min_share is not None and not 0 <= min_share <= 1:
        raise DomainError(_l("The minimum share is between 0 and 100 %."), field="min_share")
    if district_id is not None:
        geo_district = db.session.get(geo.District, district_id)
        if geo_district is None:
            raise DomainError(_l("Please choose a district from the list."), field="district")
    budget = Budget(
        process_id=process_id,
        district_id=district_id,
        name=name,
        amount=amount,
        ballot_type=ballot_type,
        max_choices=max_choices if ballot_type in ("k_approval", "ranked") else None,
        points_total=points_total if ballot_type == "cumulative" else None,
        points_per_project=points_per_project if ballot_type == "cumulative" else None,
        min_share=min_share if ballot_type == "knapsack" else None,
        rule=rule,
    )
    db.session.add(budget)
    db.session.flush()
    audit.record(
        actor_id,
        "budgeting.budget.create",
        "budget",
        budget.id,
        None,
        {"amount": str(amount), "ballot_type": ballot_type, "rule": rule},
    )
    db.session.commit()
    return budget


def parse_money(value, field: str = "cost") -> Decimal:
    """A non-negative amount of money from user input ('1 240 000', '1240000.50')."""
    if isinstance(value, Decimal):
        amount = value
    else:
        text = (
            str(value if value is not None else "").strip().replace(" ", "").replace("\u00a0", "")
        )
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            raise DomainError(
                _l("Please enter an amount as a number, like 25000."), field=field
            ) from exc
    if not amount.is_finite() or amount < 0 or amount >= MAX_COST:
        raise DomainError(_l("Please enter an amount of zero or more."), field=field)
    return amount.quantize(Decimal("0.01"))


# -- Ideas -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdeaInput:
    """What a resident proposes."""

    title: str
    description: str
    category: str
    estimated_cost: str | Decimal
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    district_id: int | None = None
    photo: bytes | None = None


def submit_idea(user_id: int, process_id: int, data: IdeaInput) -> Idea:
    """A resident proposes a project during the ideas phase."""
    from civic.core.uploads import make_image_derivatives, store_image
    from civic.jobs import enqueue

    process = db.session.get(Process, process_id)
    if process is None:
        raise NotFound(_l("This budgeting process does not exist."))
    if current_phase(process) != "ideas":
        raise Conflict(_l("Ideas can only be proposed during the ideas phase."))
    title, description = data.title.strip(), data.description.strip()
    if not title or len(title) > MAX_TITLE:
        raise DomainError(_l("Please give a title of at most 160 characters."), field="title")
    if not description:
        raise DomainError(_l("Please describe the idea."), field="description")
    if data.category not in CATEGORIES:
        raise DomainError(_l("Please choose a category."), field="category")
    cost = parse_money(data.estimated_cost, field="estimated_cost")
    district_id = data.district_id
    if data.latitude is not None or data.longitude is not None:
        if data.latitude is None or data.longitude is None:
            raise DomainError(_l("Please give both latitude and longitude."), field="latitude")
        geo.check_coordinates(data.latitude, data.longitude)
        district_id = geo.district_id_for_point(data.latitude, data.longitude)
        if district_id is None:
            raise DomainError(_l("This place is outside the city."), field="latitude")
    elif district_id is not None and db.session.get(geo.District, district_id) is None:
        raise DomainError(_l("Please choose a district from the list."), field="district")
    idea = Idea(
        process_id=process_id,
        author_id=user_id,
        title=title,
        description=description,
        category=data.category,
        latitude=data.latitude,
        longitude=data.longitude,
        address=(data.address or "").strip() or None,
        district_id=district_id,
        estimated_cost=cost,
    )
    photo_id = None
    if data.photo:
        stored = store_image(data.photo, owner_id=user_id)
        idea.photo_id = photo_id = stored.id
    idea.events.append(IdeaEvent(kind="submitted"))
    db.session.add(idea)
    db.session.commit()
    if photo_id:
        enqueue(make_image_derivatives, photo_id)
    return idea


def get_idea(idea_id: int) -> Idea:
    """The idea with this id, or NotFound."""
    idea = db.session.get(Idea, idea_id)
    if idea is None:
        raise NotFound(_l("This idea does not exist."))
    return idea


def list_ideas(
    process_id: int,
    *,
    state: str | None = None,
    category: str | None = None,
    district_id: int | None = None,
    sort: str = "support",
) -> list[Idea]:
    """Ideas of a process, filtered; most supported first by default."""
    query = select(Idea).where(Idea.process_id == process_id)
    if state:
        query = query.where(Idea.state == state)
    if category:
        query = query.where(Idea.category == category)
    if district_id:
        query = query.where(Idea.district_id == district_id)
    order = Idea.supports_count.desc() if sort == "support" else Idea.id.desc()
    return list(db.session.scalars(query.order_by(order, Idea.id.desc())))


def support_idea(user_id: int, idea_id: int) -> Idea:
    """Support an idea once, during the ideas phase."""
    idea = get_idea(idea_id)
    process = db.session.get(Process, idea.process_id)
    if current_phase(process) != "ideas":
        raise Conflict(_l("Ideas can only be supported during the ideas phase."))
    if idea.state in ("merged", "unfeasible"):
        raise Conflict(_l("This idea can no longer be supported."))
    try:
        with db.session.begin_nested():
            db.session.add(IdeaSupport(idea_id=idea.id, user_id=user_id))
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("You already support this idea.")) from None
    _recount_supports(idea.id)
    db.session.commit()
    return idea


def withdraw_support(user_id: int, idea_id: int) -> Idea:
    """Take back one's support."""
    idea = get_idea(idea_id)
    db.session.execute(
        delete(IdeaSupport).where(IdeaSupport.idea_id == idea.id, IdeaSupport.user_id == user_id)
    )
    _recount_supports(idea.id)
    db.session.commit()
    return idea


def _recount_supports(idea_id: int) -> None:
    count = (
        select(func.count(IdeaSupport.id)).where(IdeaSupport.idea_id == idea_id).scalar_subquery()
    )
    db.session.execute(update(Idea).where(Idea.id == idea_id).values(supports_count=count))


def has_supported(user_id: int, idea_id: int) -> bool:
    """Whether the user supports the idea."""
    return (
        db.session.scalar(
            select(IdeaSupport.id).where(
                IdeaSupport.idea_id == idea_id, IdeaSupport.user_id == user_id
            )
        )
        is not None
    )


def review_idea(
    actor_id: int,
    idea_id: int,
    feasible: bool,
    reason: str,
    official_cost: str | Decimal | None = None,
) -> Idea:
    """Staff judge an idea feasible (with an official cost) or not, with a public reason."""
    _require_staff(actor_id)
    idea = get_idea(idea_id)
    if idea.state in ("merged", "promoted"):
        raise Conflict(_l("This idea has already been merged or put on the ballot."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Please give the public reason."), field="reason")
    before = {
        "state": idea.state,
        "official_cost": str(idea.official_cost) if idea.official_cost is not None else None,
    }
    if feasible:
        if official_cost in (None, ""):
            raise DomainError(_l("Please give the official cost."), field="official_cost")
        idea.official_cost = parse_money(official_cost, field="official_cost")
    idea.state = "feasible" if feasible else "unfeasible"
    idea.review_reason = reason
    idea.events.append(
        IdeaEvent(
            kind=idea.state,
            message=reason,
            data={"official_cost": str(idea.official_cost)} if feasible else None,
        )
    )
    audit.record(
        actor_id,
        "budgeting.idea.review",
        "idea",
        idea.id,
        before,
        {
            "state": idea.state,
            "official_cost": str(idea.official_cost) if idea.official_cost is not None else None,
        },
    )
    db.session.commit()
    return idea


def merge_idea(actor_id: int, idea_id: int, into_id: int, reason: str) -> Idea:
    """Staff merge a duplicate into another idea; its supporters carry over."""
    _require_staff(actor_id)
    idea, target = get_idea(idea_id), get_idea(into_id)
    if idea.id == target.id or idea.process_id != target.process_id:
        raise DomainError(_l("Choose another idea of the same process."), field="into")
    if idea.state in ("merged", "promoted") or target.state == "merged":
        raise Conflict(_l("This idea has already been merged or put on the ballot."))
    for user_id in db.session.scalars(
        select(IdeaSupport.user_id).where(IdeaSupport.idea_id == idea.id)
    ):
        if not has_supported(user_id, target.id):
            db.session.add(IdeaSupport(idea_id=target.id, user_id=user_id))
    db.session.flush()
    idea.state = "merged"
    idea.merged_into_id = target.id
    idea.events.append(
        IdeaEvent(kind="merged", message=reason.strip() or None, data={"into": target.id})
    )
    target.events.append(
        IdeaEvent(kind="absorbed", message=reason.strip() or None, data={"from": idea.id})
    )
    _recount_supports(target.id)
    audit.record(actor_id, "budgeting.idea.merge", "idea", idea.id, None, {"into": target.id})
    db.session.commit()
    return idea


def promote_idea(actor_id: int, idea_id: int, budget_id: int) -> Project:
    """Put a feasible idea on a budget's ballot at its official cost."""
    _require_staff(actor_id)
    idea, budget = get_idea(idea_id), get_budget(budget_id)
    if idea.state != "feasible":
        raise Conflict(_l("Only feasible ideas can be put on the ballot."))
    if budget.process_id != idea.process_id:
        raise DomainError(_l("Choose a budget of the same process."), field="budget")
    if budget.district_id is not None and idea.district_id not in (None, budget.district_id):
        raise DomainError(_l("This idea is in another district than this budget."), field="budget")
    project = add_project(
        actor_id,
        budget.id,
        {current_app.config["CIVIC_DEFAULT_LOCALE"]: idea.title},
        idea.official_cost,
        description={current_app.config["CIVIC_DEFAULT_LOCALE"]: idea.description},
        category=idea.category,
        latitude=idea.latitude,
        longitude=idea.longitude,
        district_id=idea.district_id or budget.district_id,
        code=f"I{idea.id}",
        idea_id=idea.id,
        photo_id=idea.photo_id,
        commit=False,
    )
    idea.state = "promoted"
    idea.events.append(
        IdeaEvent(kind="promoted", data={"budget": budget.id, "project": project.code})
    )
    db.session.commit()
    return project


def add_project(
    actor_id: int | None,
    budget_id: int,
    title: dict[str, str],
    cost,
    *,
    description: dict[str, str] | None = None,
    category: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    district_id: int | None = None,
    code: str | None = None,
    idea_id: int | None = None,
    photo_id: int | None = None,
    commit: bool = True,
) -> Project:
    """Add a project to a budget's ballot before the vote opens."""
    budget = get_budget(budget_id)
    process = budget.process
    if (
        current_phase(process) in ("voting", "results", "implementation")
        and not process.is_imported
    ):
        raise Conflict(_l("The ballot is fixed once the vote opens."))
    cost = parse_money(cost)
    if not any(text.strip() for text in (title or {}).values()):
        raise DomainError(_l("Please enter a title."), field="title")
    code = (
        code
        or f"P{(db.session.scalar(select(func.count(Project.id)).where(Project.budget_id == budget_id)) or 0) + 1}"
    )
    if db.session.scalar(
        select(Project.id).where(Project.budget_id == budget_id, Project.code == code)
    ):
        raise Conflict(_l("This project is already on the ballot."))
    project = Project(
        budget_id=budget_id,
        code=code,
        idea_id=idea_id,
        title=title,
        description=description or {},
        category=category,
        cost=cost,
        latitude=latitude,
        longitude=longitude,
        district_id=district_id,
        photo_id=photo_id,
    )
    db.session.add(project)
    db.session.flush()
    audit.record(
        actor_id,
        "budgeting.project.add",
        "project",
        project.id,
        None,
        {"code": code, "cost": str(cost)},
    )
    if commit:
        db.session.commit()
    return project


# -- Ballots -----------------------------------------------------------------------------------


@dataclass
class BallotCheck:
    """A ballot checked against its budget's rules: what it spends, what is left, what is wrong."""

    choices: dict[str, int]
    spent: Decimal = Decimal(0)
    remaining: Decimal = Decimal(0)
    points_used: int = 0
    points_left: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors


def eligibility_problem(user: User | None, budget: Budget) -> str | None:
    """Why this person may not vote in this budget, or None when they may."""
    if user is None or not user.is_authenticated:
        return str(_l("Please sign in to vote."))
    if not user.is_verified:
        return str(
            _l("Only verified residents can vote. Ask for a verification code at a service desk.")
        )
    if budget.district_id is not None and user.verified_district_id != budget.district_id:
        return str(
            _l(
                "This budget is for residents of %(district)s.",
                district=pick_text(budget.district.name).text,
            )
        )
    return None


def parse_choices(budget: Budget, form: dict[str, list[str]]) -> dict[str, int]:
    """Read a submitted ballot: checkboxes 'project' (approval) or 'points-<code>'/'rank-<code>'."""
    if budget.ballot_type in ("knapsack", "k_approval"):
        return {code: 1 for code in form.get("project", []) if code}
    prefix = "points-" if budget.ballot_type == "cumulative" else "rank-"
    choices: dict[str, int] = {}
    for key, values in form.items():
        if not key.startswith(prefix):
            continue
        raw = (values[-1] if values else "").strip()
        if raw in ("", "0"):
            continue
        try:
            choices[key[len(prefix) :]] = int(raw)
        except ValueError:
            choices[key[len(prefix) :]] = -1  # reported as invalid by check_ballot
    return choices


def check_ballot(budget: Budget, choices: dict[str, int]) -> BallotCheck:
    """Check a ballot against the budget's ballot type and limits."""
    projects = {p.code: p for p in budget.projects}
    check = BallotCheck(choices=dict(choices), remaining=budget.amount)
    unknown = [code for code in choices if code not in projects]
    if unknown:
        check.errors.append(
            str(_l("This ballot lists a project that is not on this budget's ballot."))
        )
        return check
    check.spent = sum((projects[c].cost for c in choices), Decimal(0))
    check.remaining = budget.amount - check.spent
    if not choices:
        check.errors.append(str(_l("Choose at least one project.")))
    kind = budget.ballot_type
    if kind == "knapsack":
        if check.spent > budget.amount:
            check.errors.append(
                str(_l("Your choices cost more than the budget. Remove a project."))
            )
        elif (
            budget.min_share
            and choices
            and check.spent < budget.amount * Decimal(str(budget.min_share))
        ):
            check.errors.append(
                str(
                    _l(
                        "Please spend at least %(share)s of the budget.",
                        share=f"{budget.min_share:.0%}",
                    )
                )
            )
    elif kind == "k_approval":
        if len(choices) > (budget.max_choices or 0):
            check.errors.append(
                str(_l("Choose at most %(count)s projects.", count=budget.max_choices))
            )
    elif kind == "cumulative":
        bad = [v for v in choices.values() if v < 1 or v > (budget.points_per_project or 0)]
        check.points_used = sum(v for v in choices.values() if v > 0)
        check.points_left = (budget.points_total or 0) - check.points_used
        if bad:
            check.errors.append(
                str(
                    _l(
                        "Give each project between 1 and %(max)s points.",
                        max=budget.points_per_project,
                    )
                )
            )
        if check.points_used > (budget.points_total or 0):
            check.errors.append(
                str(
                    _l(
                        "You have %(total)s points to share out; this ballot uses %(used)s.",
                        total=budget.points_total,
                        used=check.points_used,
                    )
                )
            )
    elif kind == "ranked":
        ranks = sorted(choices.values())
        if len(choices) > (budget.max_choices or 0):
            check.errors.append(
                str(_l("Rank at most %(count)s projects.", count=budget.max_choices))
            )
        elif ranks != list(range(1, len(ranks) + 1)):
            check.errors.append(str(_l("Number your choices 1, 2, 3… without gaps or repeats.")))
    return check


def _pseudonym(key: bytes, budget_id: int, user_id: int) -> str:
    return hmac.new(key, f"{budget_id}:{user_id}".encode(), hashlib.sha256).hexdigest()


def _ballot_key(budget_id: int) -> bytes:
    """The vote's pseudonym key, made on first use while the vote is open."""
    row = db.session.get(BallotKey, budget_id)
    if row is not None:
        return row.key
    try:
        with db.session.begin_nested():
            db.session.add(BallotKey(budget_id=budget_id, key=secrets.token_bytes(32)))
    except IntegrityError:
        pass  # another request made it first
    return db.session.get(BallotKey, budget_id).key


def _stored_choices(budget: Budget, choices: dict[str, int]) -> list[list]:
    if budget.ballot_type == "ranked":
        return [[code, rank] for code, rank in sorted(choices.items(), key=lambda item: item[1])]
    return [[code, value] for code, value in sorted(choices.items())]


def cast_ballot(user_id: int, budget_id: int, choices: dict[str, int]) -> BallotCheck:
    """Cast or change one's ballot while the vote is open; one ballot per voter per budget."""
    budget = get_budget(budget_id)
    user = db.session.get(User, user_id)
    if not is_vote_open(budget.process):
        raise Conflict(_l("Voting is not open."))
    problem = eligibility_problem(user, budget)
    if problem:
        raise NotAllowed(problem)
    check = check_ballot(budget, choices)
    if not check.is_valid:
        raise DomainError(check.errors[0], field="ballot")
    key = _ballot_key(budget.id)
    pseudonym = _pseudonym(key, budget.id, user_id)
    stored = _stored_choices(budget, choices)
    # Insert, or on the unique constraint (a concurrent or earlier ballot) update instead.
    for _attempt in range(3):
        ballot = db.session.scalar(
            select(Ballot).where(Ballot.budget_id == budget.id, Ballot.pseudonym == pseudonym)
        )
        if ballot is not None:
            ballot.choices = stored
            break
        try:
            with db.session.begin_nested():
                db.session.add(Ballot(budget_id=budget.id, pseudonym=pseudonym, choices=stored))
            break
        except IntegrityError:
            continue
    try:
        with db.session.begin_nested():
            db.session.add(VoterRecord(budget_id=budget.id, user_id=user_id))
    except IntegrityError:
        pass  # already recorded as having voted
    db.session.commit()
    return check


def my_ballot(user_id: int, budget_id: int) -> dict[str, int] | None:
    """The voter's own ballot, readable only while the vote is open (the key still exists)."""
    row = db.session.get(BallotKey, budget_id)
    if row is None:
        return None
    ballot = db.session.scalar(
        select(Ballot).where(
            Ballot.budget_id == budget_id,
            Ballot.pseudonym == _pseudonym(row.key, budget_id, user_id),
        )
    )
    return {code: value for code, value in ballot.choices} if ballot else None


def has_voted(user_id: int, budget_id: int) -> bool:
    """Whether the person has voted in this budget (not what)."""
    return (
        db.session.scalar(
            select(VoterRecord.id).where(
                VoterRecord.budget_id == budget_id, VoterRecord.user_id == user_id
            )
        )
        is not None
    )


def enter_paper_ballot(
    actor_id: int, budget_id: int, paper_number: str, choices: dict[str, int]
) -> BallotCheck:
    """Staff enter a paper ballot from a service desk; each paper number counts once."""
    _require_staff(actor_id)
    budget = get_budget(budget_id)
    if not is_vote_open(budget.process):
        raise Conflict(_l("Voting is not open."))
    number = (paper_number or "").strip().upper()
    if not number or len(number) > 40:
        raise DomainError(
            _l("Please enter the number printed on the paper ballot."), field="paper_number"
        )
    check = check_ballot(budget, choices)
    if not check.is_valid:
        raise DomainError(check.errors[0], field="ballot")
    try:
        with db.session.begin_nested():
            db.session.add(
                Ballot(
                    budget_id=budget.id,
                    paper_number=number,
                    choices=_stored_choices(budget, choices),
                )
            )
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            _l("Paper ballot %(number)s has already been entered.", number=number),
            field="paper_number",
        ) from None
    audit.record(
        actor_id, "budgeting.paper_ballot", "budget", budget.id, None, {"paper_number": number}
    )
    db.session.commit()
    return check


def count_ballots(budget_id: int) -> int:
    """How many ballots a budget has (online and paper)."""
    return (
        db.session.scalar(select(func.count(Ballot.id)).where(Ballot.budget_id == budget_id)) or 0
    )


def count_paper_ballots(budget_id: int) -> int:
    """How many of a budget's ballots were entered from paper at service desks."""
    return (
        db.session.scalar(
            select(func.count(Ballot.id)).where(
                Ballot.budget_id == budget_id, Ballot.paper_number.is_not(None)
            )
        )
        or 0
    )


# -- Results -----------------------------------------------------------------------------------


def get_results(budget_id: int, *, include_unpublished: bool = False) -> ResultSet | None:
    """The computed results of a budget, if published (or for staff, if computed)."""
    result = db.session.scalar(select(ResultSet).where(ResultSet.budget_id == budget_id))
    if result is None or (result.published_at is None and not include_unpublished):
        return None
    return result


def publish_results(actor_id: int, budget_id: int) -> ResultSet:
    """Staff publish computed results; funded projects move to 'planned'."""
    _require_staff(actor_id)
    result = get_results(budget_id, include_unpublished=True)
    if result is None:
        raise Conflict(_l("The results have not been computed yet."))
    if result.published_at is None:
        selected = set(result.outcome["selected"])
        for project in get_budget(budget_id).projects:
            project.is_funded = project.code in selected
            if project.is_funded and project.status == "proposed":
                project.status = "planned"
        result.published_at = utcnow()
        audit.record(
            actor_id,
            "budgeting.results.publish",
            "budget",
            budget_id,
            None,
            {"selected": result.outcome["selected"], "rule": result.rule},
        )
        db.session.commit()
    return result


# -- Implementation ----------------------------------------------------------------------------


def get_project(project_id: int) -> Project:
    """The project with this id, or NotFound."""
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound(_l("This project does not exist."))
    return project


def list_funded_projects(district_id: int | None = None) -> list[Project]:
    """Funded projects, optionally of one district."""
    query = select(Project).where(Project.is_funded.is_(True))
    if district_id:
        query = query.where(Project.district_id == district_id)
    return list(db.session.scalars(query.order_by(Project.district_id, Project.id)))


def update_project(
    actor_id: int,
    project_id: int,
    status: str,
    progress: int,
    message: str,
    photo: bytes | None = None,
) -> ProjectUpdate:
    """Staff post a dated implementation update; followers hear of it."""
    from civic.budgeting.jobs import notify_project_followers
    from civic.core.uploads import make_image_derivatives, store_image
    from civic.jobs import enqueue

    _require_staff(actor_id)
    project = get_project(project_id)
    if not project.is_funded:
        raise Conflict(_l("Only funded projects are tracked."))
    if status not in PROJECT_STATUSES or status == "proposed":
        raise DomainError(_l("Choose a status."), field="status")
    if not 0 <= progress <= 100:
        raise DomainError(_l("Progress is between 0 and 100 %."), field="progress")
    message = (message or "").strip()
    if not message:
        raise DomainError(
            _l("Please explain the change (for a cancellation: why)."), field="message"
        )
    before = {"status": project.status, "progress": project.progress}
    project.status, project.progress = status, (100 if status == "done" else progress)
    project.cancel_reason = message if status == "cancelled" else None
    entry = ProjectUpdate(
        project_id=project.id, status=status, progress=project.progress, message=message
    )
    photo_id = None
    if photo:
        entry.photo_id = photo_id = store_image(photo, owner_id=actor_id).id
    db.session.add(entry)
    audit.record(
        actor_id,
        "budgeting.project.update",
        "project",
        project.id,
        before,
        {"status": status, "progress": project.progress},
    )
    db.session.commit()
    if photo_id:
        enqueue(make_image_derivatives, photo_id)
    enqueue(notify_project_followers, entry.id)
    return entry


def follow_project(user_id: int, project_id: int, follow: bool = True) -> None:
    """Start or stop following a project's progress."""
    get_project(project_id)
    if follow:
        try:
            with db.session.begin_nested():
                db.session.add(ProjectFollower(project_id=project_id, user_id=user_id))
        except IntegrityError:
            pass
    else:
        db.session.execute(
            delete(ProjectFollower).where(
                ProjectFollower.project_id == project_id, ProjectFollower.user_id == user_id
            )
        )
    db.session.commit()


def is_following(user_id: int, project_id: int) -> bool:
    """Whether the user follows the project."""
    return (
        db.session.scalar(
            select(ProjectFollower.id).where(
                ProjectFollower.project_id == project_id, ProjectFollower.user_id == user_id
            )
        )
        is not None
    )
