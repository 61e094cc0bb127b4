"""Participatory budgeting: processes, budgets, ideas, ballot projects, ballots and results.

Ballot secrecy: who has voted (VoterRecord, with the user) and what a ballot says (Ballot, with
no user, no timestamp and a random id) live in separate tables, linked only through a keyed
pseudonym HMAC(key, budget:user). The key (BallotKey) exists only while the vote is open, so
the voter can change their ballot; it is deleted when the vote closes, after which no one can
link a person to a ballot.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.core.models import District, StoredFile, created_at_column
from civic.core.time import UTCDateTime
from civic.extensions import db

PHASES = ("draft", "ideas", "review", "voting", "results", "implementation")
BALLOT_TYPES = ("knapsack", "k_approval", "cumulative", "ranked")
RESULT_RULES = (
    "greedy",
    "greedy-cost",
    "mes",
    "mes-greedy",
    "mes-add1",
    "mes-add1-greedy",
    "phragmen",
)
IDEA_STATES = ("submitted", "feasible", "unfeasible", "merged", "promoted")
PROJECT_STATUSES = ("proposed", "planned", "in_progress", "done", "cancelled")
Money = Numeric(16, 2)


class Process(db.Model):
    """A participatory-budgeting cycle with dated phases and one or more budgets."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    ideas_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voting_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voting_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    implementation_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when staff move the phase by hand; wins over the dates.
    phase_override: Mapped[str | None] = mapped_column(String(20))
    vote_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    is_imported: Mapped[bool] = mapped_column(Boolean, default=False)
    source_meta: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = created_at_column()

    budgets: Mapped[list[Budget]] = relationship(
        back_populates="process", order_by="Budget.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint(
            "phase_override IS NULL OR phase_override IN "
            "('draft', 'ideas', 'review', 'voting', 'results', 'implementation')",
            name="known_phase",
        ),
    )


class Budget(db.Model):
    """Money for the whole city or one district, with its ballot type and result rule."""

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(
        ForeignKey("process.id", ondelete="CASCADE"), index=True
    )
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id", ondelete="RESTRICT"))
    name: Mapped[dict[str, str]] = mapped_column(JSON)
    amount: Mapped[Decimal] = mapped_column(Money)
    ballot_type: Mapped[str] = mapped_column(String(20))
    max_choices: Mapped[int | None] = mapped_column(Integer)  # k for k-approval and ranked
    points_total: Mapped[int | None] = mapped_column(Integer)  # N for cumulative
    points_per_project: Mapped[int | None] = mapped_column(Integer)  # M for cumulative
    min_share: Mapped[float | None] = mapped_column(Float)  # knapsack: spend at least this share
    rule: Mapped[str] = mapped_column(String(30), default="mes-add1-greedy")

    process: Mapped[Process] = relationship(back_populates="budgets")
    district: Mapped[District | None] = relationship()
    projects: Mapped[list[Project]] = relationship(
        back_populates="budget", order_by="Project.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("amount > 0", name="positive_amount"),
        CheckConstraint(
            "ballot_type IN ('knapsack', 'k_approval', 'cumulative', 'ranked')", name="ballot_type"
        ),
        CheckConstraint("max_choices IS NULL OR max_choices >= 1", name="max_choices"),
        CheckConstraint(
            "points_total IS NULL OR (points_total >= 1 AND points_per_project >= 1)",
            name="points",
        ),
        CheckConstraint(
            "min_share IS NULL OR (min_share >= 0 AND min_share <= 1)", name="min_share"
        ),
    )


class Idea(db.Model):
    """A resident's proposal, reviewed by staff and perhaps promoted to the ballot."""

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(
        ForeignKey("process.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(40))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(200))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id", ondelete="SET NULL"))
    estimated_cost: Mapped[Decimal] = mapped_column(Money)
    official_cost: Mapped[Decimal | None] = mapped_column(Money)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(20), default="submitted")
    review_reason: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("idea.id", ondelete="SET NULL"))
    supports_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()

    district: Mapped[District | None] = relationship()
    photo: Mapped[StoredFile | None] = relationship()
    events: Mapped[list[IdeaEvent]] = relationship(
        order_by="IdeaEvent.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("estimated_cost >= 0", name="estimated_cost"),
        CheckConstraint("official_cost IS NULL OR official_cost >= 0", name="official_cost"),
        CheckConstraint(
            "state IN ('submitted', 'feasible', 'unfeasible', 'merged', 'promoted')", name="state"
        ),
    )


class IdeaSupport(db.Model):
    """A resident supports an idea (once)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("idea.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("idea_id", "user_id"),)


class IdeaEvent(db.Model):
    """The public history of an idea: submitted, reviewed, costed, merged, promoted."""

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("idea.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = created_at_column()


class Project(db.Model):
    """A project on a budget's ballot; once funded, its implementation is tracked."""

    id: Mapped[int] = mapped_column(primary_key=True)
    budget_id: Mapped[int] = mapped_column(ForeignKey("budget.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))  # the project id in Pabulib files
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("idea.id", ondelete="SET NULL"))
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    category: Mapped[str | None] = mapped_column(String(40))
    cost: Mapped[Decimal] = mapped_column(Money)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id", ondelete="SET NULL"))
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id", ondelete="SET NULL"))
    is_funded: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    budget: Mapped[Budget] = relationship(back_populates="projects")
    district: Mapped[District | None] = relationship()
    photo: Mapped[StoredFile | None] = relationship()
    updates: Mapped[list[ProjectUpdate]] = relationship(
        order_by="ProjectUpdate.id.desc()", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("budget_id", "code"),
        CheckConstraint("cost >= 0", name="cost"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        CheckConstraint(
            "status IN ('proposed', 'planned', 'in_progress', 'done', 'cancelled')", name="status"
        ),
    )


class ProjectUpdate(db.Model):
    """A dated implementation update, optionally with a photo."""

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    progress: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()

    photo: Mapped[StoredFile | None] = relationship()


class ProjectFollower(db.Model):
    """A resident who wants to hear about a funded project's progress."""

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))

    __table_args__ = (UniqueConstraint("project_id", "user_id"),)


class BallotKey(db.Model):
    """The pseudonym key of an open vote; deleted when the vote closes."""

    budget_id: Mapped[int] = mapped_column(
        ForeignKey("budget.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[bytes] = mapped_column(LargeBinary(32))


class VoterRecord(db.Model):
    """That a person voted in a budget (never what they voted)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    budget_id: Mapped[int] = mapped_column(ForeignKey("budget.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("budget_id", "user_id"),)


def _random_id() -> str:
    return uuid.uuid4().hex


class Ballot(db.Model):
    """What a ballot says: no user, no time, a random id; found again only through the pseudonym."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_random_id)
    budget_id: Mapped[int] = mapped_column(ForeignKey("budget.id", ondelete="CASCADE"))
    pseudonym: Mapped[str | None] = mapped_column(String(64))
    paper_number: Mapped[str | None] = mapped_column(String(40))
    # [[project_id, value], ...]: value 1 for approval, points for cumulative, rank for ranked.
    choices: Mapped[list] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("budget_id", "pseudonym"),
        UniqueConstraint("budget_id", "paper_number"),
        # Online (pseudonym), paper (number) or imported (neither): never both.
        CheckConstraint("pseudonym IS NULL OR paper_number IS NULL", name="one_origin"),
        Index("ix_ballot_budget_id", "budget_id"),
    )


class ResultSet(db.Model):
    """A budget's computed result, published by staff, with its anonymised Pabulib file."""

    id: Mapped[int] = mapped_column(primary_key=True)
    budget_id: Mapped[int] = mapped_column(ForeignKey("budget.id", ondelete="CASCADE"), unique=True)
    rule: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[dict] = mapped_column(JSON)
    voters: Mapped[int] = mapped_column(Integer)
    pb_file_key: Mapped[str | None] = mapped_column(String(200))
    pb_sha256: Mapped[str | None] = mapped_column(String(64))
    computed_at: Mapped[datetime] = created_at_column()
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
