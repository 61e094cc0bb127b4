"""Agenda polls: proposals, options, participation and sealed ballots, agendas and answers,
comments with flags, notifications and the city's poll settings.

One vote per person is a database rule: `PollParticipation` has a unique (poll, voter) pair.
What a person chose lives apart, in `PollBallot`, with no user and no timestamp, linked to the
participation only through a keyed pseudonym HMAC(key, poll:user). The key (`PollKey`) exists
while the poll is open, so voters can see and change their vote; it is deleted when the poll
closes, after which nobody (staff, database administrators, the voter) can link a person to a
ballot.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from civic.core.models import Department, District, StoredFile, created_at_column
from civic.core.time import UTCDateTime, utcnow
from civic.extensions import db

POLL_STATUSES = ("pending", "changes_requested", "rejected", "withdrawn", "published")
AUDIENCES = ("verified", "registered")
ANSWER_STATUSES = ("under_study", "adopted", "partly_adopted", "not_adopted")
COMMENT_STATUSES = ("visible", "flagged", "hidden")
GENDERS = ("woman", "man", "non_binary", "other")
AGE_BANDS = ("0-24", "25-34", "35-44", "45-54", "55-64", "65+")
MIN_OPTIONS, MAX_OPTIONS = 2, 10
MIN_DAYS, MAX_DAYS = 1, 30
# Counters are split into this many rows per poll and per option: concurrent votes update
# different rows instead of queueing on one row lock until each commit's fsync.
SHARDS = 16


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _random_ballot_id() -> str:
    return secrets.token_hex(16)


poll_district = Table(
    "poll_district",
    db.metadata,
    Column("poll_id", ForeignKey("poll.id", ondelete="CASCADE"), primary_key=True),
    Column("district_id", ForeignKey("district.id", ondelete="CASCADE"), primary_key=True),
)


class PollSetting(db.Model):
    """The city's rules for polls (one row): thresholds, answer period, limits."""

    id: Mapped[int] = mapped_column(primary_key=True)
    default_threshold: Mapped[int] = mapped_column(Integer, default=1000)
    answer_days: Mapped[int] = mapped_column(Integer, default=30)
    max_open_proposals: Mapped[int] = mapped_column(Integer, default=3)
    comment_flags_to_hide: Mapped[int] = mapped_column(Integer, default=3)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("default_threshold >= 1", name="threshold_positive"),
        CheckConstraint("answer_days BETWEEN 1 AND 365", name="answer_days_range"),
        CheckConstraint("max_open_proposals >= 1", name="max_open_positive"),
        CheckConstraint("comment_flags_to_hide >= 1", name="flags_positive"),
    )


class Poll(db.Model):
    """A question put to residents: proposed, reviewed, published for a number of days."""

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    locale: Mapped[str] = mapped_column(String(10))
    question: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Lower-cased question, description and options in every language, for search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    max_choices: Mapped[int] = mapped_column(Integer, default=1)
    is_citywide: Mapped[bool] = mapped_column(Boolean, default=True)
    audience: Mapped[str] = mapped_column(String(20), default="verified")
    duration_days: Mapped[int] = mapped_column(Integer)
    shows_interim_results: Mapped[bool] = mapped_column(Boolean, default=True)
    allows_vote_change: Mapped[bool] = mapped_column(Boolean, default=True)
    is_official: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    threshold: Mapped[int | None] = mapped_column(Integer)
    rejection_reason: Mapped[str | None] = mapped_column(String(40))
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = created_at_column()
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    options: Mapped[list[PollOption]] = relationship(
        back_populates="poll", order_by="PollOption.position", cascade="all, delete-orphan"
    )
    districts: Mapped[list[District]] = relationship(
        secondary=poll_district, order_by=District.code
    )
    department: Mapped[Department | None] = relationship()
    author = relationship("User", foreign_keys=[author_id])
    agenda: Mapped[PollAgenda | None] = relationship(back_populates="poll", uselist=False)

    __table_args__ = (
        CheckConstraint(_in("status", POLL_STATUSES), name="known_status"),
        CheckConstraint(_in("audience", AUDIENCES), name="known_audience"),
        CheckConstraint(f"max_choices BETWEEN 1 AND {MAX_OPTIONS}", name="max_choices_range"),
        CheckConstraint(f"duration_days BETWEEN {MIN_DAYS} AND {MAX_DAYS}", name="duration_range"),
        CheckConstraint("threshold IS NULL OR threshold >= 1", name="threshold_positive"),
        CheckConstraint(
            "status <> 'published' OR (opens_at IS NOT NULL AND closes_at IS NOT NULL"
            " AND threshold IS NOT NULL)",
            name="published_is_dated",
        ),
    )

    def is_open(self, now: datetime) -> bool:
        """Published and between its opening and closing times."""
        return (
            self.status == "published"
            and self.opens_at is not None
            and self.opens_at <= now < self.closes_at
        )

    def is_closed(self, now: datetime) -> bool:
        """Published and past its closing time."""
        return self.status == "published" and self.closes_at is not None and now >= self.closes_at


class PollOption(db.Model):
    """One answer a voter may choose; fixed once the poll is published."""

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[dict[str, str]] = mapped_column(JSON)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id", ondelete="SET NULL"))

    poll: Mapped[Poll] = relationship(back_populates="options")
    image: Mapped[StoredFile | None] = relationship()

    __table_args__ = (UniqueConstraint("poll_id", "position"),)


class PollKey(db.Model):
    """The pseudonym key of an open poll; deleted at close to seal the ballots."""

    poll_id: Mapped[int] = mapped_column(
        ForeignKey("poll.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[bytes] = mapped_column(LargeBinary(32))


class PollParticipation(db.Model):
    """That a person voted in a poll (not what): the one-vote-per-person rule lives here."""

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id"))
    voter_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id", ondelete="SET NULL"))
    # Bumped on every change: a stale form (or a second window) cannot overwrite a newer vote.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("poll_id", "voter_id"),
        Index("ix_poll_participation_poll_id_district_id", "poll_id", "district_id"),
    )


class PollBallot(db.Model):
    """What one voter chose, with no user and no time; findable only while the key exists."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_random_ballot_id)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id"))
    pseudonym: Mapped[str] = mapped_column(String(64))
    # The counter shard this ballot was counted in (a change moves counts within it).
    shard: Mapped[int] = mapped_column(Integer, default=0)
    # Shared only by voters who chose to in their privacy settings.
    age_band: Mapped[str | None] = mapped_column(String(10))
    gender: Mapped[str | None] = mapped_column(String(20))

    @staticmethod
    def new_id() -> str:
        """A random id: ballots carry no order that could be matched with participations."""
        return _random_ballot_id()

    __table_args__ = (
        UniqueConstraint("poll_id", "pseudonym"),
        CheckConstraint(f"age_band IS NULL OR {_in('age_band', AGE_BANDS)}", name="known_age_band"),
        CheckConstraint(f"gender IS NULL OR {_in('gender', GENDERS)}", name="known_gender"),
        CheckConstraint(f"shard >= 0 AND shard < {SHARDS}", name="shard_range"),
    )


class PollBallotChoice(db.Model):
    """One option marked on a ballot."""

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[str] = mapped_column(ForeignKey("poll_ballot.id", ondelete="CASCADE"))
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id"), index=True)
    option_id: Mapped[int] = mapped_column(ForeignKey("poll_option.id"))

    __table_args__ = (UniqueConstraint("ballot_id", "option_id"),)


class PollAgenda(db.Model):
    """A poll that crossed its threshold: the city owes an answer by a public deadline."""

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id", ondelete="CASCADE"), unique=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    crossed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer_due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    participants_at_crossing: Mapped[int] = mapped_column(Integer)
    first_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    poll: Mapped[Poll] = relationship(back_populates="agenda")
    department: Mapped[Department | None] = relationship()
    answers: Mapped[list[PollAnswer]] = relationship(
        back_populates="agenda", order_by="PollAnswer.created_at"
    )

    __table_args__ = (CheckConstraint("answer_due_at >= crossed_at", name="due_after_crossing"),)


class PollAnswer(db.Model):
    """The department's official answer to an agenda, or a later follow-up."""

    id: Mapped[int] = mapped_column(primary_key=True)
    agenda_id: Mapped[int] = mapped_column(ForeignKey("poll_agenda.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(20))
    body: Mapped[dict[str, str]] = mapped_column(JSON)
    is_follow_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at_column()

    agenda: Mapped[PollAgenda] = relationship(back_populates="answers")
    department: Mapped[Department | None] = relationship()

    __table_args__ = (CheckConstraint(_in("status", ANSWER_STATUSES), name="known_status"),)


class PollComment(db.Model):
    """A comment on a poll; hidden (never deleted) when flagged or moderated."""

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="visible", index=True)
    flag_count: Mapped[int] = mapped_column(Integer, default=0)
    is_reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_reason: Mapped[str | None] = mapped_column(String(40))
    hidden_note: Mapped[str | None] = mapped_column(Text)
    moderated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()

    author = relationship("User", foreign_keys=[author_id])

    __table_args__ = (
        CheckConstraint(_in("status", COMMENT_STATUSES), name="known_status"),
        CheckConstraint("flag_count >= 0", name="flags_not_negative"),
        CheckConstraint(
            "status <> 'hidden' OR hidden_reason IS NOT NULL", name="hidden_has_reason"
        ),
    )


class PollCommentFlag(db.Model):
    """One person's report of a comment (once per person)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("poll_comment.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("comment_id", "user_id"),)


class PollNotification(db.Model):
    """An in-app message about a poll: a review decision or an official answer."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("poll_answer.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_at_column()
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    poll: Mapped[Poll] = relationship()

    # A job that runs twice notifies nobody twice.
    __table_args__ = (UniqueConstraint("user_id", "answer_id"),)


class PollParticipantShard(db.Model):
    """One of a poll's participant counters; the poll's count is their sum."""

    poll_id: Mapped[int] = mapped_column(
        ForeignKey("poll.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (CheckConstraint("count >= 0", name="count_not_negative"),)


class PollOptionShard(db.Model):
    """One of an option's vote counters; the option's count is their sum."""

    option_id: Mapped[int] = mapped_column(
        ForeignKey("poll_option.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id", ondelete="CASCADE"), index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (CheckConstraint("count >= 0", name="count_not_negative"),)


# Read as ordinary attributes (and usable in ORDER BY): the sums of the shards, loaded with
# the poll or option in the same query. Kept in the ballot's transaction; recount_poll checks
# them against the ballots.
Poll.participant_count = column_property(
    select(func.coalesce(func.sum(PollParticipantShard.count), 0))
    .where(PollParticipantShard.poll_id == Poll.id)
    .correlate_except(PollParticipantShard)
    .scalar_subquery()
)
PollOption.vote_count = column_property(
    select(func.coalesce(func.sum(PollOptionShard.count), 0))
    .where(PollOptionShard.option_id == PollOption.id)
    .correlate_except(PollOptionShard)
    .scalar_subquery()
)
