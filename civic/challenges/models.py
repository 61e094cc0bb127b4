"""Innovation challenges: problem bank, challenges with rubrics and terms, datasets, teams,
submissions with every version kept, judging, results and feedback.

Integrity lives in the database where it matters: one score per judge, submission and
criterion; scores 0–5; one registration per team and challenge; one submission per team and
challenge; version numbers unique per submission; personal data never open.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.core.models import Department, created_at_column
from civic.core.time import UTCDateTime
from civic.extensions import db

Money = Numeric(16, 2)

PROBLEM_STATES = ("open", "in_challenge", "archived")
METHODS = ("raw", "z", "borda")
TEAM_TYPES = ("startup", "micro", "small", "student", "other")
ACCESS_LEVELS = ("open", "registered", "closed")
COLLECTION = ("manual", "machine", "crowd_sourced")
PERSONALISATION = ("personal", "pseudonymised", "anonymised", "not_personal")
AUTHORSHIP = ("private_persons", "companies", "organisations", "research", "official_bodies")
FORMAT_KINDS = ("open", "proprietary", "standardised")
REFINEMENT = ("raw", "processed", "synthetic")
DIMENSIONS = ("temporal", "spatial_2d", "spatial_3d")
STATISTICAL_KINDS = ("quantitative", "qualitative")
DYNAMICS = ("static", "dynamic", "real_time")
UPDATE_FREQUENCIES = ("never", "real_time", "daily", "weekly", "monthly", "quarterly", "yearly")
FILE_KINDS = ("csv", "json", "geojson", "zip", "gtfs", "other")
PROFILE_STATES = ("pending", "ready", "failed")
ARCHIVE_STATES = ("none", "pending", "ok", "refused")
LICENCE_CHECKS = ("pending", "match", "mismatch", "missing", "unrecognised", "none")
ASSIGNMENT_STATES = ("assigned", "conflict", "removed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# -- Problem bank ------------------------------------------------------------------------------


class Problem(db.Model):
    """A problem a staff member meets in their work, as the start of a possible challenge."""

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(160))
    what_goes_wrong: Mapped[str] = mapped_column(Text)
    who_is_affected: Mapped[str] = mapped_column(Text)
    cost_today: Mapped[str] = mapped_column(Text)
    yearly_cost: Mapped[Decimal | None] = mapped_column(Money)
    data_available: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default="open")
    supports_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()

    department: Mapped[Department | None] = relationship()
    comments: Mapped[list[ProblemComment]] = relationship(
        order_by="ProblemComment.id", cascade="all, delete-orphan"
    )
    challenge_links: Mapped[list[ChallengeProblem]] = relationship(
        back_populates="problem", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint(_in("state", PROBLEM_STATES), name="state"),
        CheckConstraint("yearly_cost IS NULL OR yearly_cost >= 0", name="yearly_cost"),
    )


class ProblemSupport(db.Model):
    """A colleague's support for a problem (once each)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("problem_id", "user_id"),)


class ProblemComment(db.Model):
    """A colleague's comment on a problem."""

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problem.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


# -- Challenges --------------------------------------------------------------------------------


class Challenge(db.Model):
    """A tournament: problem, rules, prizes, dated phases, terms, rubric and method."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    problem_statement: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    expected_outcome: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    eligibility: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    requirements: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    eligible_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    eligible_countries: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: any
    requires_demo: Mapped[bool] = mapped_column(Boolean, default=True)
    requires_cost_estimate: Mapped[bool] = mapped_column(Boolean, default=True)
    possible_contract: Mapped[bool] = mapped_column(Boolean, default=False)
    contract_note: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    registration_opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submission_opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submission_closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    results_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    method: Mapped[str] = mapped_column(String(10), default="z")
    judges_per_submission: Mapped[int] = mapped_column(Integer, default=3)
    consensus_threshold: Mapped[int] = mapped_column(Integer, default=30)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    results_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()

    criteria: Mapped[list[ChallengeCriterion]] = relationship(
        order_by="ChallengeCriterion.position", cascade="all, delete-orphan"
    )
    prizes: Mapped[list[ChallengePrize]] = relationship(
        order_by="ChallengePrize.place", cascade="all, delete-orphan"
    )
    terms: Mapped[list[ChallengeTerms]] = relationship(
        order_by="ChallengeTerms.version", cascade="all, delete-orphan"
    )
    problem_links: Mapped[list[ChallengeProblem]] = relationship(
        back_populates="challenge", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint(_in("method", METHODS), name="method"),
        CheckConstraint(
            "registration_opens_at <= submission_opens_at "
            "AND submission_opens_at < submission_closes_at "
            "AND submission_closes_at <= results_due_at",
            name="phase_order",
        ),
        CheckConstraint("judges_per_submission BETWEEN 1 AND 10", name="judges_per_submission"),
        CheckConstraint("consensus_threshold BETWEEN 1 AND 100", name="consensus_threshold"),
    )


class ChallengeProblem(db.Model):
    """A problem from the bank that a challenge takes up (visible both ways)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id", ondelete="CASCADE"))

    challenge: Mapped[Challenge] = relationship(back_populates="problem_links")
    problem: Mapped[Problem] = relationship(back_populates="challenge_links")

    __table_args__ = (UniqueConstraint("challenge_id", "problem_id"),)


class ChallengeCriterion(db.Model):
    """A rubric criterion with its weight and what a 0…5 looks like."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenge.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[dict[str, str]] = mapped_column(JSON)
    weight: Mapped[int] = mapped_column(Integer)
    # {"0": {"en": ...}, ..., "5": {...}}: the anchor of each score, translatable.
    anchors: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("challenge_id", "position"),
        CheckConstraint("weight BETWEEN 1 AND 100", name="weight"),
    )


class ChallengePrize(db.Model):
    """A prize for a place, in the city's currency."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenge.id", ondelete="CASCADE"), index=True
    )
    place: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    awarded_submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submission.id", ondelete="SET NULL")
    )

    __table_args__ = (
        UniqueConstraint("challenge_id", "place"),
        CheckConstraint("place >= 1", name="place"),
        CheckConstraint("amount >= 0", name="amount"),
    )


class ChallengeTerms(db.Model):
    """One version of a challenge's rules and data-use terms; the highest is current."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[dict[str, str]] = mapped_column(JSON)
    change_note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        UniqueConstraint("challenge_id", "version"),
        CheckConstraint("version >= 1", name="version"),
    )


class ChallengeJudge(db.Model):
    """A judge on a challenge's panel (their name is public; what they scored is not)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("challenge_id", "user_id"),)


class ChallengeChange(db.Model):
    """A public record of a change made after publication: rubric, terms, reopened scores."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenge.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()


class ChallengeQuestion(db.Model):
    """A participant's question about a challenge or its data; public once staff answer."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenge.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()


# -- Datasets ----------------------------------------------------------------------------------


class Dataset(db.Model):
    """A file the city shares, with classification metadata, access level and its profile."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int | None] = mapped_column(
        ForeignKey("challenge.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    file_kind: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str] = mapped_column(String(200))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    licence: Mapped[str] = mapped_column(String(60))
    update_frequency: Mapped[str] = mapped_column(String(20))
    access: Mapped[str] = mapped_column(String(12))
    collection: Mapped[str] = mapped_column(String(20))
    personalisation: Mapped[str] = mapped_column(String(20))
    authorship: Mapped[str] = mapped_column(String(20))
    format_kind: Mapped[str] = mapped_column(String(20))
    refinement: Mapped[str] = mapped_column(String(20))
    dimensions: Mapped[list[str]] = mapped_column(JSON, default=list)
    statistical_kind: Mapped[str] = mapped_column(String(20))
    dynamics: Mapped[str] = mapped_column(String(20))
    profile_state: Mapped[str] = mapped_column(String(10), default="pending")
    profile: Mapped[dict | None] = mapped_column(JSON)
    profile_error: Mapped[str | None] = mapped_column(String(60))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()

    challenge: Mapped[Challenge | None] = relationship()

    __table_args__ = (
        CheckConstraint(_in("access", ACCESS_LEVELS), name="access"),
        CheckConstraint(_in("collection", COLLECTION), name="collection"),
        CheckConstraint(_in("personalisation", PERSONALISATION), name="personalisation"),
        CheckConstraint(_in("authorship", AUTHORSHIP), name="authorship"),
        CheckConstraint(_in("format_kind", FORMAT_KINDS), name="format_kind"),
        CheckConstraint(_in("refinement", REFINEMENT), name="refinement"),
        CheckConstraint(_in("statistical_kind", STATISTICAL_KINDS), name="statistical_kind"),
        CheckConstraint(_in("dynamics", DYNAMICS), name="dynamics"),
        CheckConstraint(_in("update_frequency", UPDATE_FREQUENCIES), name="update_frequency"),
        CheckConstraint(_in("file_kind", FILE_KINDS), name="file_kind"),
        CheckConstraint(_in("profile_state", PROFILE_STATES), name="profile_state"),
        # Personal data is never open.
        CheckConstraint(
            "NOT (personalisation = 'personal' AND access = 'open')", name="personal_not_open"
        ),
        CheckConstraint(
            "access != 'registered' OR challenge_id IS NOT NULL", name="registered_has_challenge"
        ),
        CheckConstraint("size >= 0", name="size"),
    )


class DatasetDownload(db.Model):
    """Every download request of a dataset file: who (if signed in), when, which range."""

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    terms_version: Mapped[int | None] = mapped_column(Integer)
    byte_range: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()


# -- Teams -------------------------------------------------------------------------------------


class Team(db.Model):
    """An organisation or group that enters challenges."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    org_type: Mapped[str] = mapped_column(String(10))
    registration_number: Mapped[str | None] = mapped_column(String(60))
    country: Mapped[str] = mapped_column(String(2))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()

    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", order_by="TeamMember.id", cascade="all, delete-orphan"
    )

    __table_args__ = (CheckConstraint(_in("org_type", TEAM_TYPES), name="org_type"),)


class TeamMember(db.Model):
    """A person on a team; owners manage members and registrations."""

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at_column()

    team: Mapped[Team] = relationship(back_populates="members")
    user = relationship("User")

    __table_args__ = (UniqueConstraint("team_id", "user_id"),)


class TeamInvite(db.Model):
    """An invitation to join a team, by link or e-mail; only a hash of the token is kept."""

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TeamRegistration(db.Model):
    """A team entered in a challenge, with the rules and terms it accepted."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()

    team: Mapped[Team] = relationship()
    challenge: Mapped[Challenge] = relationship()
    acceptances: Mapped[list[TermsAcceptance]] = relationship(
        order_by="TermsAcceptance.version", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("challenge_id", "team_id"),)


class TermsAcceptance(db.Model):
    """That a team accepted a version of the rules and data terms: who and when."""

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("team_registration.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("registration_id", "version"),)


# -- Submissions -------------------------------------------------------------------------------


class Submission(db.Model):
    """A team's entry in a challenge; its content lives in versions, all of them kept."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_at_column()
    consensus_note: Mapped[str | None] = mapped_column(Text)
    consensus_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    consensus_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    team: Mapped[Team] = relationship()
    challenge: Mapped[Challenge] = relationship()
    versions: Mapped[list[SubmissionVersion]] = relationship(
        order_by="SubmissionVersion.number", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("challenge_id", "team_id"),)


class SubmissionVersion(db.Model):
    """One version of a submission, exactly as received, with its archive and licence checks."""

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(160))
    summary: Mapped[str] = mapped_column(Text)
    repository_url: Mapped[str] = mapped_column(String(300))
    licence: Mapped[str] = mapped_column(String(60))
    demo_url: Mapped[str | None] = mapped_column(String(300))
    video_url: Mapped[str | None] = mapped_column(String(300))
    build_cost: Mapped[Decimal | None] = mapped_column(Money)
    yearly_cost: Mapped[Decimal | None] = mapped_column(Money)
    members: Mapped[list[dict]] = mapped_column(JSON, default=list)
    archive_key: Mapped[str | None] = mapped_column(String(200))
    archive_name: Mapped[str | None] = mapped_column(String(200))
    archive_size: Mapped[int | None] = mapped_column(BigInteger)
    archive_sha256: Mapped[str | None] = mapped_column(String(64))
    archive_state: Mapped[str] = mapped_column(String(10), default="none")
    archive_problem: Mapped[str | None] = mapped_column(String(40))
    archive_listing: Mapped[list | None] = mapped_column(JSON)
    licence_check: Mapped[str] = mapped_column(String(15), default="none")
    licence_found: Mapped[str | None] = mapped_column(String(60))
    licence_file: Mapped[str | None] = mapped_column(String(300))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        UniqueConstraint("submission_id", "number"),
        CheckConstraint("number >= 1", name="number"),
        CheckConstraint(_in("archive_state", ARCHIVE_STATES), name="archive_state"),
        CheckConstraint(_in("licence_check", LICENCE_CHECKS), name="licence_check"),
        CheckConstraint("build_cost IS NULL OR build_cost >= 0", name="build_cost"),
        CheckConstraint("yearly_cost IS NULL OR yearly_cost >= 0", name="yearly_cost"),
    )


# -- Judging -----------------------------------------------------------------------------------


class JudgeAssignment(db.Model):
    """A judge assigned to a submission: conflict, feedback for the team, lock."""

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"))
    judge_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="assigned")
    conflict_reason: Mapped[str | None] = mapped_column(Text)
    feedback: Mapped[str | None] = mapped_column(Text)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()

    submission: Mapped[Submission] = relationship()
    judge = relationship("User", foreign_keys=[judge_id])

    __table_args__ = (
        UniqueConstraint("submission_id", "judge_id"),
        CheckConstraint(_in("state", ASSIGNMENT_STATES), name="state"),
        CheckConstraint("locked_at IS NULL OR state = 'assigned'", name="locked_assigned"),
    )


class JudgeScore(db.Model):
    """One judge's 0–5 score of one criterion of one submission, with a comment."""

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"))
    judge_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    criterion_id: Mapped[int] = mapped_column(
        ForeignKey("challenge_criterion.id", ondelete="CASCADE")
    )
    value: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        UniqueConstraint("submission_id", "judge_id", "criterion_id"),
        CheckConstraint("value BETWEEN 0 AND 5", name="value_range"),
    )


class ChallengeResult(db.Model):
    """The published outcome: every method's ranking, the flags and the prizes (a snapshot)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenge.id", ondelete="CASCADE"), unique=True
    )
    method: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[dict] = mapped_column(JSON)
    method_note: Mapped[str | None] = mapped_column(Text)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    published_at: Mapped[datetime] = created_at_column()
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SubmissionMessage(db.Model):
    """The feedback thread of a submission, between its team and city staff."""

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
