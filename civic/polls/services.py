"""Poll rules: proposing, review, voting, results, thresholds and answers, comments, privacy.

Integrity under concurrency is left to the database, never to a check-then-write in Python:
- one vote per person: the unique (poll, voter) pair of PollParticipation; a duplicate insert
  fails and is answered from what the winner stored;
- vote changes: a conditional update on the participation's version (optimistic locking), so
  two changes from two windows cannot both apply, and the loser is told;
- counters (participants, votes per option) move in the same transaction as the ballot, rows
  locked in one order (options by id, then the poll), and recount_poll checks them against
  the ballots;
- threshold crossing: decided by the value the participants counter returns to the very
  update that raised it, so exactly one transaction opens the agenda;
- proposal quota: the author's row is locked (a no-op update) before counting.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, func, insert, literal, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from civic.accounts.models import User
from civic.core import audit
from civic.core.errors import Conflict, DomainError, NotAllowed, NotFound
from civic.core.i18n import pick_text, translatable
from civic.core.mail import deliver_outbox_message, queue_email
from civic.core.models import Department, District
from civic.core.time import utcnow
from civic.core.uploads import UploadError, make_image_derivatives, store_image
from civic.extensions import db
from civic.jobs import enqueue
from civic.polls import tally
from civic.polls.models import (
    AGE_BANDS,
    ANSWER_STATUSES,
    AUDIENCES,
    GENDERS,
    MAX_DAYS,
    MAX_OPTIONS,
    MIN_DAYS,
    MIN_OPTIONS,
    SHARDS,
    Poll,
    PollAgenda,
    PollAnswer,
    PollBallot,
    PollBallotChoice,
    PollComment,
    PollCommentFlag,
    PollKey,
    PollNotification,
    PollOption,
    PollOptionShard,
    PollParticipantShard,
    PollParticipation,
    PollSetting,
    poll_district,
)

QUESTION_MAX = 200
DESCRIPTION_MAX = 4000
OPTION_MAX = 200
COMMENT_MAX = 2000
ANSWER_MAX = 10000
PER_PAGE = 20

REJECTION_REASONS = {
    "duplicate": _l("It repeats a poll that is open or was held recently"),
    "not_city": _l("The city does not decide this matter"),
    "offensive": _l("It is offensive or discriminatory"),
    "personal_data": _l("It names or exposes private persons"),
    "unclear": _l("The question or the options are unclear"),
    "other": _l("Another reason (explained below)"),
}
HIDE_REASONS = {
    "abuse": _l("Abusive or discriminatory"),
    "spam": _l("Spam or advertising"),
    "personal_data": _l("Exposes personal data"),
    "off_topic": _l("Off topic"),
    "other": _l("Another reason (explained below)"),
}
ANSWER_STATUS_LABELS = {
    "under_study": _l("Under study"),
    "adopted": _l("Adopted"),
    "partly_adopted": _l("Partly adopted"),
    "not_adopted": _l("Not adopted"),
}
GENDER_LABELS = {
    "woman": _l("Woman"),
    "man": _l("Man"),
    "non_binary": _l("Non-binary"),
    "other": _l("Another gender"),
}
AGE_BAND_LABELS = {
    "0-24": _l("24 or younger"),
    "25-34": _l("25 to 34"),
    "35-44": _l("35 to 44"),
    "45-54": _l("45 to 54"),
    "55-64": _l("55 to 64"),
    "65+": _l("65 or older"),
}
STATUS_LABELS = {
    "pending": _l("Waiting for review"),
    "changes_requested": _l("Changes requested"),
    "rejected": _l("Not accepted"),
    "withdrawn": _l("Withdrawn"),
    "published": _l("Published"),
}
DEFAULT_SETTINGS = {
    "default_threshold": 1000,
    "answer_days": 30,
    "max_open_proposals": 3,
    "comment_flags_to_hide": 3,
}


# ---------------------------------------------------------------- settings


def get_settings() -> PollSetting:
    """The city's poll settings (defaults until an administrator saves them)."""
    row = db.session.get(PollSetting, 1)
    return row if row is not None else PollSetting(id=1, **DEFAULT_SETTINGS)


def update_settings(
    actor_id: int,
    default_threshold: int,
    answer_days: int,
    max_open_proposals: int,
    comment_flags_to_hide: int,
) -> PollSetting:
    """Administrators set the default threshold, answer period and limits."""
    actor = _get_user(actor_id)
    if not actor.has_role("admin"):
        raise NotAllowed(_l("Only administrators can change the poll settings."))
    checks = (
        ("default_threshold", default_threshold, 1, 10_000_000),
        ("answer_days", answer_days, 1, 365),
        ("max_open_proposals", max_open_proposals, 1, 100),
        ("comment_flags_to_hide", comment_flags_to_hide, 1, 1000),
    )
    for name, value, low, high in checks:
        if value is None or not low <= value <= high:
            raise DomainError(
                _l("Choose a number from %(min)s to %(max)s.", min=low, max=high), field=name
            )
    row = db.session.get(PollSetting, 1)
    if row is None:
        row = PollSetting(id=1, **DEFAULT_SETTINGS)
        db.session.add(row)
    before = {name: getattr(row, name) for name, *_rest in checks}
    row.default_threshold = default_threshold
    row.answer_days = answer_days
    row.max_open_proposals = max_open_proposals
    row.comment_flags_to_hide = comment_flags_to_hide
    after = {name: getattr(row, name) for name, *_rest in checks}
    audit.record(actor.id, "polls.settings", "poll_setting", 1, before, after)
    db.session.commit()
    return row


# ---------------------------------------------------------------- helpers


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user.is_active_account:
        raise NotAllowed(_l("This account cannot do this."))
    return user


def _is_staff(user: User | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_role("staff"))


def get_poll(poll_id: int) -> Poll:
    """The poll with this id, or NotFound."""
    poll = db.session.get(Poll, poll_id)
    if poll is None:
        raise NotFound(_l("This poll does not exist."))
    return poll


def get_visible_poll(poll_id: int, viewer: User | None) -> Poll:
    """A published poll for anyone; an unpublished one only for its author and staff."""
    poll = get_poll(poll_id)
    if poll.status == "published":
        return poll
    viewer_id = viewer.id if viewer is not None and viewer.is_authenticated else None
    if viewer_id is not None and (poll.author_id == viewer_id or _is_staff(viewer)):
        return poll
    raise NotFound(_l("This poll does not exist."))


def _poll_link(poll_id: int) -> str:
    """An absolute link when Civic knows its address (a request, or SERVER_NAME in a worker)."""
    if has_request_context() or current_app.config.get("SERVER_NAME"):
        return url_for("polls.detail", poll_id=poll_id, _external=True)
    return f"/polls/{poll_id}"


def compose_search_text(poll: Poll) -> str:
    """Lower-cased text of the question, description and options in every language."""
    parts = list(poll.question.values()) + list((poll.description or {}).values())
    for option in poll.options:
        parts.extend(option.label.values())
    return "\n".join(parts).lower()


# ---------------------------------------------------------------- proposing


@dataclass
class OptionDraft:
    """One option as entered: its text, and an uploaded image or the image it already has."""

    label: str
    image_data: bytes | None = None
    image_id: int | None = None


@dataclass
class PollDraft:
    """A proposal as entered in the form."""

    question: str
    options: list[OptionDraft]
    description: str = ""
    max_choices: int = 1
    district_ids: list[int] = field(default_factory=list)
    duration_days: int = 14
    shows_interim_results: bool = True
    allows_vote_change: bool = True
    locale: str = "en"
    # Staff only:
    is_official: bool = False
    audience: str = "verified"
    threshold: int | None = None
    department_id: int | None = None


def _clean_options(draft: PollDraft) -> list[OptionDraft]:
    options = [
        OptionDraft((o.label or "").strip(), o.image_data, o.image_id)
        for o in draft.options
        if (o.label or "").strip()
    ]
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise DomainError(
            _l(
                "Give between %(min)s and %(max)s options (you gave %(count)s).",
                min=MIN_OPTIONS,
                max=MAX_OPTIONS,
                count=len(options),
            ),
            field="options",
        )
    if any(len(o.label) > OPTION_MAX for o in options):
        raise DomainError(
            _l("Each option can have at most %(max)s characters.", max=OPTION_MAX), field="options"
        )
    if len({o.label.casefold() for o in options}) != len(options):
        raise DomainError(
            _l("Two options are the same. Make each option different."), field="options"
        )
    return options


def _check_draft(draft: PollDraft, is_staff: bool) -> list[OptionDraft]:
    question = (draft.question or "").strip()
    if not question:
        raise DomainError(_l("Please write the question."), field="question")
    if len(question) > QUESTION_MAX:
        raise DomainError(
            _l("The question can have at most %(max)s characters.", max=QUESTION_MAX),
            field="question",
        )
    if len(draft.description or "") > DESCRIPTION_MAX:
        raise DomainError(
            _l("The description can have at most %(max)s characters.", max=DESCRIPTION_MAX),
            field="description",
        )
    options = _clean_options(draft)
    if draft.max_choices is None or not 1 <= draft.max_choices <= len(options):
        raise DomainError(
            _l(
                "Voters can choose from 1 to %(count)s options, as many as there are.",
                count=len(options),
            ),
            field="max_choices",
        )
    if draft.duration_days is None or not MIN_DAYS <= draft.duration_days <= MAX_DAYS:
        raise DomainError(
            _l("A poll runs from %(min)s to %(max)s days.", min=MIN_DAYS, max=MAX_DAYS),
            field="duration_days",
        )
    district_ids = set(draft.district_ids or [])
    if district_ids:
        known = set(db.session.scalars(select(District.id).where(District.id.in_(district_ids))))
        if known != district_ids:
            raise DomainError(_l("Please choose districts from the list."), field="districts")
    if is_staff:
        if draft.audience not in AUDIENCES:
            raise DomainError(_l("Please choose who may vote."), field="audience")
        if draft.threshold is not None and draft.threshold < 1:
            raise DomainError(_l("The threshold must be at least 1."), field="threshold")
        if draft.department_id and db.session.get(Department, draft.department_id) is None:
            raise DomainError(_l("Please choose a department from the list."), field="department")
    return options


def _store_option_image(data: bytes, owner_id: int) -> int:
    try:
        return store_image(data, owner_id=owner_id).id
    except UploadError as error:
        raise DomainError(error.message, field="options") from error


def _apply_draft(
    poll: Poll, draft: PollDraft, options: list[OptionDraft], owner_id: int
) -> list[int]:
    """Write the draft's content into the poll; return ids of newly stored images."""
    locale = draft.locale
    poll.locale = locale
    poll.question = translatable(draft.question, locale)
    poll.description = translatable(draft.description or "", locale)
    poll.max_choices = draft.max_choices
    poll.duration_days = draft.duration_days
    poll.shows_interim_results = bool(draft.shows_interim_results)
    poll.allows_vote_change = bool(draft.allows_vote_change)
    district_ids = sorted(set(draft.district_ids or []))
    poll.is_citywide = not district_ids
    poll.districts = (
        list(db.session.scalars(select(District).where(District.id.in_(district_ids))))
        if district_ids
        else []
    )
    new_images = []
    rows = []
    for position, option in enumerate(options, start=1):
        image_id = option.image_id
        if option.image_data:
            image_id = _store_option_image(option.image_data, owner_id)
            new_images.append(image_id)
        rows.append(
            PollOption(
                position=position, label=translatable(option.label, locale), image_id=image_id
            )
        )
    poll.options = []
    db.session.flush()  # old options go before new ones take their positions
    poll.options = rows
    poll.search_text = compose_search_text(poll)
    return new_images


def _lock_author(author_id: int) -> None:
    # A no-op write: takes the user's row lock on PostgreSQL and the write lock on SQLite, so
    # two proposals sent at once are counted one after the other.
    db.session.execute(
        update(User).where(User.id == author_id).values(display_name=User.display_name),
        execution_options={"synchronize_session": False},
    )


def count_open_proposals(author_id: int, now: datetime | None = None) -> int:
    """Proposals of this author waiting for review, sent back for changes, or open."""
    now = now or utcnow()
    return db.session.scalar(
        select(func.count(Poll.id)).where(
            Poll.author_id == author_id,
            Poll.is_official.is_(False),
            or_(
                Poll.status.in_(("pending", "changes_requested")),
                (Poll.status == "published") & (Poll.closes_at > now),
            ),
        )
    )


def _publish(
    poll: Poll, actor_id: int, now: datetime, threshold: int | None, department_id: int | None
) -> None:
    threshold = threshold or get_settings().default_threshold  # before any change: autoflush
    poll.threshold = threshold
    poll.opens_at = now
    poll.closes_at = now + timedelta(days=poll.duration_days)
    poll.status = "published"
    if department_id:
        poll.department_id = department_id
    poll.reviewed_by_id = actor_id
    poll.reviewed_at = now
    db.session.add(PollKey(poll_id=poll.id, key=secrets.token_bytes(32)))
    _create_counters(poll)


def _create_counters(poll: Poll) -> None:
    """The poll's and its options' counter shards, all at zero, made when it opens."""
    db.session.flush()
    db.session.execute(
        insert(PollParticipantShard),
        [{"poll_id": poll.id, "shard": shard, "count": 0} for shard in range(SHARDS)],
    )
    db.session.execute(
        insert(PollOptionShard),
        [
            {"option_id": option.id, "poll_id": poll.id, "shard": shard, "count": 0}
            for option in poll.options
            for shard in range(SHARDS)
        ],
    )


def propose_poll(author_id: int, draft: PollDraft, now: datetime | None = None) -> Poll:
    """A verified resident proposes a poll for review; staff may publish an official one at once."""
    now = now or utcnow()
    author = _get_user(author_id)
    official = bool(draft.is_official) and author.has_role("staff")
    if not official and not author.is_verified:
        raise NotAllowed(
            _l(
                "Only verified residents can propose polls. Ask for a verification code at a service desk."
            )
        )
    options = _check_draft(draft, is_staff=author.has_role("staff"))
    if not official:
        _lock_author(author.id)
        limit = get_settings().max_open_proposals
        if count_open_proposals(author.id, now) >= limit:
            db.session.rollback()
            raise Conflict(
                _l(
                    "You already have %(count)s proposals waiting for review or open. You can propose again when one of them closes.",
                    count=limit,
                )
            )
    poll = Poll(
        author_id=author.id,
        status="pending",
        is_official=official,
        audience=draft.audience if official else "verified",
        submitted_at=now,
        created_at=now,
    )
    if author.has_role("staff"):
        poll.department_id = draft.department_id or None
        poll.threshold = draft.threshold or None
    db.session.add(poll)
    try:
        new_images = _apply_draft(poll, draft, options, author.id)
        db.session.flush()
        if official:
            _publish(poll, author.id, now, draft.threshold, draft.department_id)
            audit.record(
                author.id,
                "poll.publish_official",
                "poll",
                poll.id,
                None,
                {"question": poll.question},
            )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    for image_id in new_images:
        enqueue(make_image_derivatives, image_id)
    return poll


def update_proposal(
    author_id: int, poll_id: int, draft: PollDraft, now: datetime | None = None
) -> Poll:
    """The author edits a proposal before publication; it goes back to the review queue."""
    now = now or utcnow()
    poll = get_poll(poll_id)
    if poll.author_id != author_id:
        raise NotAllowed(_l("Only the author can change this proposal."))
    if poll.status == "published":
        raise Conflict(_l("This poll is published: its question and options can no longer change."))
    if poll.status not in ("pending", "changes_requested"):
        raise Conflict(_l("This proposal can no longer be changed."))
    options = _check_draft(draft, is_staff=False)
    # Only a proposal still unpublished is edited: the status test is part of the write.
    claimed = db.session.execute(
        update(Poll)
        .where(Poll.id == poll.id, Poll.status.in_(("pending", "changes_requested")))
        .values(status="pending", submitted_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not claimed:
        db.session.rollback()
        raise Conflict(_l("This poll is published: its question and options can no longer change."))
    db.session.refresh(poll)
    try:
        new_images = _apply_draft(poll, draft, options, author_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    for image_id in new_images:
        enqueue(make_image_derivatives, image_id)
    return poll


def withdraw_proposal(author_id: int, poll_id: int) -> Poll:
    """The author takes back a proposal that is not published yet."""
    poll = get_poll(poll_id)
    if poll.author_id != author_id:
        raise NotAllowed(_l("Only the author can withdraw this proposal."))
    claimed = db.session.execute(
        update(Poll)
        .where(Poll.id == poll.id, Poll.status.in_(("pending", "changes_requested")))
        .values(status="withdrawn"),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not claimed:
        db.session.rollback()
        raise Conflict(_l("Only a proposal waiting for review can be withdrawn."))
    db.session.commit()
    db.session.refresh(poll)
    return poll


def list_my_proposals(author_id: int) -> list[Poll]:
    """The author's proposals, newest first, with their state and the review's reason."""
    return list(
        db.session.scalars(
            select(Poll)
            .where(Poll.author_id == author_id)
            .options(selectinload(Poll.agenda))
            .order_by(Poll.created_at.desc(), Poll.id.desc())
        )
    )


# ---------------------------------------------------------------- review


def _check_staff(actor_id: int) -> User:
    actor = _get_user(actor_id)
    if not actor.has_role("staff"):
        raise NotAllowed(_l("Only city staff can do this."))
    return actor


def list_review_queue() -> list[Poll]:
    """Proposals waiting for review, oldest first."""
    return list(
        db.session.scalars(
            select(Poll)
            .where(Poll.status == "pending")
            .options(selectinload(Poll.options), selectinload(Poll.districts))
            .order_by(Poll.submitted_at, Poll.id)
        )
    )


def _claim_pending(poll_id: int, new_status: str, **values) -> Poll:
    """Move a proposal out of the queue; the status test is part of the write, so two staff
    deciding at once cannot both succeed."""
    poll = get_poll(poll_id)
    claimed = db.session.execute(
        update(Poll)
        .where(Poll.id == poll.id, Poll.status == "pending")
        .values(status=new_status, **values),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not claimed:
        db.session.rollback()
        raise Conflict(_l("This proposal is no longer waiting for review."))
    db.session.refresh(poll)
    return poll


def _notify_author(poll: Poll, kind: str) -> int | None:
    """In-app notice and an e-mail (in the author's language) about a review decision."""
    author = poll.author
    if author is None:
        return None
    db.session.add(PollNotification(user_id=author.id, poll_id=poll.id, kind=kind))
    subjects = {
        "approved": _l("Your poll is published"),
        "rejected": _l("Your poll proposal was not accepted"),
        "changes_requested": _l("Your poll proposal needs changes"),
    }
    with force_locale(author.locale or current_app.config["CIVIC_DEFAULT_LOCALE"]):
        message = queue_email(
            author.email,
            str(subjects[kind]),
            "polls/emails/review.txt",
            user=author,
            poll=poll,
            kind=kind,
            reasons=REJECTION_REASONS,
            link=_poll_link(poll.id),
        )
    return message.id


def approve_poll(
    actor_id: int,
    poll_id: int,
    department_id: int | None,
    threshold: int | None = None,
    now: datetime | None = None,
) -> Poll:
    """Publish a proposal: it opens now for its duration, with the answering department."""
    now = now or utcnow()
    actor = _check_staff(actor_id)
    if not department_id or db.session.get(Department, department_id) is None:
        raise DomainError(
            _l("Please choose the department that answers if the threshold is reached."),
            field="department",
        )
    if threshold is not None and threshold < 1:
        raise DomainError(_l("The threshold must be at least 1."), field="threshold")
    poll = get_poll(poll_id)
    poll = _claim_pending(
        poll_id,
        "published",
        opens_at=now,
        closes_at=now + timedelta(days=poll.duration_days),
        threshold=threshold or get_settings().default_threshold,
        department_id=department_id,
        reviewed_by_id=actor.id,
        reviewed_at=now,
        rejection_reason=None,
        review_note=None,
    )
    db.session.add(PollKey(poll_id=poll.id, key=secrets.token_bytes(32)))
    _create_counters(poll)
    audit.record(
        actor.id,
        "poll.approve",
        "poll",
        poll.id,
        {"status": "pending"},
        {"status": "published", "threshold": poll.threshold, "department_id": department_id},
    )
    message_id = _notify_author(poll, "approved")
    db.session.commit()
    if message_id:
        enqueue(deliver_outbox_message, message_id)
    return poll


def reject_poll(
    actor_id: int, poll_id: int, reason: str, note: str, now: datetime | None = None
) -> Poll:
    """Refuse a proposal with a public reason from the list, explained in words."""
    now = now or utcnow()
    actor = _check_staff(actor_id)
    if reason not in REJECTION_REASONS:
        raise DomainError(_l("Please choose a reason from the list."), field="reason")
    note = (note or "").strip()
    if not note:
        raise DomainError(
            _l("Please explain the decision to the author and the public."), field="note"
        )
    poll = _claim_pending(poll_id, "rejected")
    poll.rejection_reason = reason
    poll.review_note = note
    poll.reviewed_by_id = actor.id
    poll.reviewed_at = now
    audit.record(
        actor.id,
        "poll.reject",
        "poll",
        poll.id,
        {"status": "pending"},
        {"status": "rejected", "reason": reason, "note": note},
    )
    message_id = _notify_author(poll, "rejected")
    db.session.commit()
    if message_id:
        enqueue(deliver_outbox_message, message_id)
    return poll


def request_changes(actor_id: int, poll_id: int, note: str, now: datetime | None = None) -> Poll:
    """Send a proposal back to its author with what to change."""
    now = now or utcnow()
    actor = _check_staff(actor_id)
    note = (note or "").strip()
    if not note:
        raise DomainError(_l("Please tell the author what to change."), field="note")
    poll = _claim_pending(poll_id, "changes_requested")
    poll.review_note = note
    poll.reviewed_by_id = actor.id
    poll.reviewed_at = now
    audit.record(
        actor.id,
        "poll.request_changes",
        "poll",
        poll.id,
        {"status": "pending"},
        {"status": "changes_requested", "note": note},
    )
    message_id = _notify_author(poll, "changes_requested")
    db.session.commit()
    if message_id:
        enqueue(deliver_outbox_message, message_id)
    return poll


# ---------------------------------------------------------------- thresholds and agendas


def _agenda_exists(poll_id: int) -> bool:
    return db.session.scalar(select(PollAgenda.id).where(PollAgenda.poll_id == poll_id)) is not None


def _commit_keeping_loaded() -> None:
    """Commit without expiring what this request loaded (it is rendered right after)."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _open_agenda_if_reached(poll: Poll, now: datetime) -> bool:
    """Open the poll's agenda when its committed participants reach the threshold.

    Called after every vote's commit: whichever vote commits last among concurrent ones sees
    all of them, so a crossing is never missed; the unique poll_id of the agenda makes sure
    only one is opened. True for the call that opened it."""
    participants = db.session.scalar(
        select(func.coalesce(func.sum(PollParticipantShard.count), 0)).where(
            PollParticipantShard.poll_id == poll.id
        )
    )
    if participants < poll.threshold or _agenda_exists(poll.id):
        return False
    db.session.add(
        PollAgenda(
            poll_id=poll.id,
            department_id=poll.department_id,
            crossed_at=now,
            answer_due_at=now + timedelta(days=get_settings().answer_days),
            participants_at_crossing=participants,
        )
    )
    try:
        _commit_keeping_loaded()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def set_threshold(actor_id: int, poll_id: int, threshold: int, now: datetime | None = None) -> Poll:
    """Staff override a published poll's threshold; one already reached becomes an agenda now."""
    now = now or utcnow()
    actor = _check_staff(actor_id)
    if threshold is None or threshold < 1:
        raise DomainError(_l("The threshold must be at least 1."), field="threshold")
    poll = get_poll(poll_id)
    if poll.status != "published" or poll.is_closed(now):
        raise Conflict(_l("The threshold can only change while the poll is open."))
    if _agenda_exists(poll.id):
        raise Conflict(_l("This poll has already reached its threshold."))
    before = poll.threshold
    poll.threshold = threshold
    audit.record(
        actor.id, "poll.threshold", "poll", poll.id, {"threshold": before}, {"threshold": threshold}
    )
    db.session.commit()
    _open_agenda_if_reached(poll, now)
    db.session.refresh(poll)
    return poll


def get_clock(agenda: PollAgenda, now: datetime | None = None) -> tally.Clock:
    """The public clock of an agenda's answer."""
    return tally.answer_clock(
        agenda.answer_due_at,
        agenda.first_answered_at,
        now or utcnow(),
        ZoneInfo(current_app.config["CIVIC_TIMEZONE"]),
    )


def publish_answer(
    actor_id: int,
    poll_id: int,
    status: str,
    body: str,
    locale: str | None = None,
    now: datetime | None = None,
) -> PollAnswer:
    """The department publishes its answer (or a follow-up); voters are notified by a job."""
    now = now or utcnow()
    actor = _check_staff(actor_id)
    poll = get_poll(poll_id)
    agenda = poll.agenda
    if agenda is None:
        raise Conflict(_l("This poll has not reached its threshold, so no official answer is due."))
    if not actor.has_role("admin") and agenda.department_id not in actor.department_ids:
        raise NotAllowed(_l("Only staff of the department assigned to this agenda can answer it."))
    if status not in ANSWER_STATUSES:
        raise DomainError(_l("Please choose a status from the list."), field="status")
    body = (body or "").strip()
    if not body:
        raise DomainError(_l("Please write the answer."), field="body")
    if len(body) > ANSWER_MAX:
        raise DomainError(
            _l("The answer can have at most %(max)s characters.", max=ANSWER_MAX), field="body"
        )
    # Whoever sets first_answered_at wrote the first answer; anything later is a follow-up.
    is_first = bool(
        db.session.execute(
            update(PollAgenda)
            .where(PollAgenda.id == agenda.id, PollAgenda.first_answered_at.is_(None))
            .values(first_answered_at=now),
            execution_options={"synchronize_session": False},
        ).rowcount
    )
    answer = PollAnswer(
        agenda_id=agenda.id,
        author_id=actor.id,
        department_id=agenda.department_id,
        status=status,
        body=translatable(body, locale),
        is_follow_up=not is_first,
        created_at=now,
    )
    db.session.add(answer)
    db.session.flush()
    audit.record(
        actor.id,
        "poll.answer",
        "poll",
        poll.id,
        None,
        {"answer_id": answer.id, "status": status, "follow_up": not is_first},
    )
    db.session.commit()
    from civic.polls.jobs import notify_voters_of_answer

    enqueue(notify_voters_of_answer, answer.id)
    return answer


def reassign_agenda(actor_id: int, poll_id: int, department_id: int) -> PollAgenda:
    """Staff hand an agenda to another department."""
    actor = _check_staff(actor_id)
    poll = get_poll(poll_id)
    if poll.agenda is None:
        raise Conflict(_l("This poll has not reached its threshold, so no official answer is due."))
    if not department_id or db.session.get(Department, department_id) is None:
        raise DomainError(_l("Please choose a department from the list."), field="department")
    agenda = poll.agenda
    before = agenda.department_id
    agenda.department_id = department_id
    audit.record(
        actor.id,
        "poll.agenda_department",
        "poll",
        poll.id,
        {"department_id": before},
        {"department_id": department_id},
    )
    db.session.commit()
    return agenda


@dataclass(frozen=True)
class AgendaRow:
    """An agenda for the staff dashboard, with its clock."""

    agenda: PollAgenda
    clock: tally.Clock


def list_staff_agendas(
    now: datetime | None = None, department_ids: Iterable[int] | None = None
) -> tuple[list[AgendaRow], list[AgendaRow]]:
    """Agendas awaiting a first answer (overdue first, then the soonest due) and answered ones."""
    now = now or utcnow()
    query = select(PollAgenda).options(
        selectinload(PollAgenda.poll), selectinload(PollAgenda.department)
    )
    if department_ids is not None:
        query = query.where(PollAgenda.department_id.in_(list(department_ids)))
    awaiting = db.session.scalars(
        query.where(PollAgenda.first_answered_at.is_(None)).order_by(
            PollAgenda.answer_due_at, PollAgenda.id
        )
    )
    answered = db.session.scalars(
        query.where(PollAgenda.first_answered_at.is_not(None))
        .order_by(PollAgenda.first_answered_at.desc())
        .limit(50)
    )
    return (
        [AgendaRow(a, get_clock(a, now)) for a in awaiting],
        [AgendaRow(a, get_clock(a, now)) for a in answered],
    )


# ---------------------------------------------------------------- voting


def _pseudonym(key: bytes, poll_id: int, user_id: int) -> str:
    return hmac.new(key, f"{poll_id}:{user_id}".encode(), hashlib.sha256).hexdigest()


def _poll_key(poll_id: int) -> bytes | None:
    row = db.session.get(PollKey, poll_id)
    return row.key if row is not None else None


def voting_refusal(
    poll: Poll, user: User | None, now: datetime | None = None
) -> DomainError | None:
    """Why this person may not vote in this poll now, or None when they may."""
    now = now or utcnow()
    if poll.status != "published":
        return NotFound(_l("This poll does not exist."))
    if now < poll.opens_at:
        return Conflict(_l("This poll is not open yet."))
    if now >= poll.closes_at:
        return Conflict(_l("This poll has closed. Votes are no longer accepted."))
    if user is None or not user.is_authenticated:
        return NotAllowed(_l("Please sign in to vote."))
    if not user.is_active_account:
        return NotAllowed(_l("This account cannot do this."))
    if poll.audience == "registered":
        return None
    if not user.is_verified:
        return NotAllowed(
            _l(
                "Only verified residents can vote in this poll. Ask for a verification code at a service desk."
            )
        )
    if not poll.is_citywide and user.verified_district_id not in {d.id for d in poll.districts}:
        return NotAllowed(
            _l(
                "This poll is for residents of %(districts)s only.",
                districts=", ".join(pick_text(d.name).text for d in poll.districts),
            )
        )
    return None


def _check_choices(poll: Poll, option_ids: Iterable[int]) -> list[int]:
    chosen = sorted(set(option_ids or []))
    valid = {option.id for option in poll.options}
    if not chosen:
        raise DomainError(_l("Please choose an option."), field="option")
    if not set(chosen) <= valid:
        raise DomainError(
            _l("This option is not part of this poll. Please reload the page and vote again."),
            field="option",
        )
    if len(chosen) > poll.max_choices:
        raise DomainError(
            _l("You can choose at most %(count)s options in this poll.", count=poll.max_choices),
            field="option",
        )
    return chosen


@dataclass(frozen=True)
class VoteReceipt:
    """What happened to a vote: 'counted' (new), 'changed', or 'unchanged' (already so).

    `poll` is the poll as of the vote's commit (counters included), ready to render."""

    outcome: str
    participation: PollParticipation
    option_ids: tuple[int, ...]
    crossed_threshold: bool = False
    poll: Poll | None = None


class _AlreadyVoted(Exception):
    """The unique (poll, voter) pair refused a second participation."""


def _snapshot(user: User, now: datetime) -> tuple[str | None, str | None]:
    if not user.shares_demographics:
        return None, None
    return tally.age_band(user.birth_year, now.year), user.gender


# The vote's hot path runs the same few statements thousands of times: they are built once,
# on the tables (plain Core, no ORM bulk-persistence layer), with bound parameters.
_PARTICIPATION = PollParticipation.__table__
_BALLOT = PollBallot.__table__
_CHOICE = PollBallotChoice.__table__
_OPTION_SHARD = PollOptionShard.__table__
_PARTICIPANT_SHARD = PollParticipantShard.__table__
_INSERT_PARTICIPATION = (
    insert(_PARTICIPATION)
    .values(
        poll_id=bindparam("poll_id"),
        voter_id=bindparam("voter_id"),
        district_id=bindparam("district_id"),
        version=1,
        created_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(_PARTICIPATION.c.id)
)
_INSERT_BALLOT = insert(_BALLOT)
_INSERT_CHOICE = insert(_CHOICE)
_BUMP_OPTION = (
    update(_OPTION_SHARD)
    .where(
        _OPTION_SHARD.c.option_id == bindparam("option"),
        _OPTION_SHARD.c.shard == bindparam("in_shard"),
    )
    .values(count=_OPTION_SHARD.c.count + bindparam("delta"))
)
_BUMP_PARTICIPANTS = (
    update(_PARTICIPANT_SHARD)
    .where(
        _PARTICIPANT_SHARD.c.poll_id == bindparam("poll"),
        _PARTICIPANT_SHARD.c.shard == bindparam("in_shard"),
    )
    .values(count=_PARTICIPANT_SHARD.c.count + 1)
)
_READ_COUNTS = union_all(
    select(
        literal(0).label("option_id"), func.coalesce(func.sum(_PARTICIPANT_SHARD.c.count), 0)
    ).where(_PARTICIPANT_SHARD.c.poll_id == bindparam("poll")),
    select(_OPTION_SHARD.c.option_id, func.sum(_OPTION_SHARD.c.count))
    .where(_OPTION_SHARD.c.poll_id == bindparam("poll"))
    .group_by(_OPTION_SHARD.c.option_id),
)


def _bump(deltas: dict[int, int], shard: int) -> None:
    # One order for every transaction (ascending option id) so two voters never deadlock.
    for option_id in sorted(deltas):
        if deltas[option_id]:
            db.session.execute(
                _BUMP_OPTION, {"option": option_id, "in_shard": shard, "delta": deltas[option_id]}
            )


def _ballot_choices(poll_id: int, pseudonym: str) -> tuple[str, int, list[int]] | None:
    """A ballot's id, counter shard and chosen options, found by its pseudonym."""
    row = db.session.execute(
        select(PollBallot.id, PollBallot.shard).where(
            PollBallot.poll_id == poll_id, PollBallot.pseudonym == pseudonym
        )
    ).first()
    if row is None:
        return None
    options = db.session.scalars(
        select(PollBallotChoice.option_id)
        .where(PollBallotChoice.ballot_id == row.id)
        .order_by(PollBallotChoice.option_id)
    )
    return row.id, row.shard, list(options)


def _get_participation(poll_id: int, user_id: int) -> PollParticipation | None:
    return db.session.scalar(
        select(PollParticipation).where(
            PollParticipation.poll_id == poll_id, PollParticipation.voter_id == user_id
        )
    )


def _commit_and_read_counts(poll: Poll) -> None:
    """Commit, then read the poll's counters as committed (one statement, one snapshot) into
    the loaded poll, so the receipt renders without reloading anything."""
    _commit_keeping_loaded()
    counts = dict(db.session.execute(_READ_COUNTS, {"poll": poll.id}).all())
    set_committed_value(poll, "participant_count", counts.get(0, 0))
    for option in poll.options:
        set_committed_value(option, "vote_count", counts.get(option.id, 0))


_LOAD_POLL_AND_KEY = (
    select(Poll, PollKey.key)
    .outerjoin(PollKey, PollKey.poll_id == Poll.id)
    .where(Poll.id == bindparam("poll_id"))
    .options(joinedload(Poll.options))
)


def _load_poll_and_key(poll_id: int) -> tuple[Poll, bytes | None]:
    row = db.session.execute(_LOAD_POLL_AND_KEY, {"poll_id": poll_id}).unique().first()
    if row is None:
        raise NotFound(_l("This poll does not exist."))
    return row[0], row[1]


def cast_vote(
    user_id: int,
    poll_id: int,
    option_ids: Iterable[int],
    expected_version: int = 0,
    now: datetime | None = None,
    hot_path: bool = True,
) -> VoteReceipt:
    """Record a vote, or change it (when the poll allows) from the version the voter saw.

    A first vote (expected_version 0) goes straight to the insert that the unique constraint
    guards; sending the same choice again is harmless: the answer says it is already counted.
    On PostgreSQL a first vote tries the hot path (civic/polls/voting.py) first, unless the
    caller already did (hot_path=False).
    """
    now = now or utcnow()
    user = db.session.get(User, user_id)
    if hot_path and expected_version == 0 and db.session.get_bind().dialect.name == "postgresql":
        from civic.polls import voting  # imports this module

        receipt = voting.first_vote(user, poll_id, option_ids, now)
        if receipt is not None:
            return receipt
    poll, key = _load_poll_and_key(poll_id)
    refusal = voting_refusal(poll, user, now)
    if refusal is not None:
        raise refusal
    chosen = _check_choices(poll, option_ids)
    if key is None:
        raise Conflict(_l("This poll has closed. Votes are no longer accepted."))
    pseudonym = _pseudonym(key, poll.id, user.id)
    if expected_version == 0:
        try:
            return _insert_vote(poll, user, chosen, pseudonym, now)
        except _AlreadyVoted:
            pass
    existing = _get_participation(poll.id, user.id)
    if existing is None:  # a change sent for a vote that is not there: count it as new
        try:
            return _insert_vote(poll, user, chosen, pseudonym, now)
        except _AlreadyVoted:
            existing = _get_participation(poll.id, user.id)
    return _change_vote(poll, existing, chosen, pseudonym, expected_version, now)


def _insert_vote(
    poll: Poll, user: User, chosen: list[int], pseudonym: str, now: datetime
) -> VoteReceipt:
    age, gender = _snapshot(user, now)
    try:
        participation_id = db.session.execute(
            _INSERT_PARTICIPATION,
            {
                "poll_id": poll.id,
                "voter_id": user.id,
                "district_id": user.verified_district_id or user.home_district_id,
                "now": now,
            },
        ).scalar_one()  # the unique (poll, voter) pair decides here
    except IntegrityError as exc:
        db.session.rollback()
        raise _AlreadyVoted from exc
    ballot_id = PollBallot.new_id()
    shard = secrets.randbelow(SHARDS)
    db.session.execute(
        _INSERT_BALLOT,
        {
            "id": ballot_id,
            "poll_id": poll.id,
            "pseudonym": pseudonym,
            "shard": shard,
            "age_band": age,
            "gender": gender,
        },
    )
    db.session.execute(
        _INSERT_CHOICE,
        [{"ballot_id": ballot_id, "poll_id": poll.id, "option_id": oid} for oid in chosen],
    )
    _bump({oid: 1 for oid in chosen}, shard)
    db.session.execute(_BUMP_PARTICIPANTS, {"poll": poll.id, "in_shard": shard})
    _commit_and_read_counts(poll)
    crossed = poll.participant_count >= poll.threshold and _open_agenda_if_reached(poll, now)
    participation = PollParticipation(
        id=participation_id,
        poll_id=poll.id,
        voter_id=user.id,
        version=1,
        created_at=now,
        updated_at=now,
    )
    return VoteReceipt("counted", participation, tuple(chosen), crossed, poll)


def _change_vote(
    poll: Poll,
    participation: PollParticipation,
    chosen: list[int],
    pseudonym: str,
    expected_version: int,
    now: datetime,
) -> VoteReceipt:
    stored = _ballot_choices(poll.id, pseudonym)
    if stored is not None and stored[2] == chosen:
        return VoteReceipt("unchanged", participation, tuple(chosen), poll=poll)
    if not poll.allows_vote_change:
        raise Conflict(
            _l("You have already voted in this poll, and votes in this poll cannot be changed."),
            field="option",
        )
    if expected_version != participation.version:
        raise Conflict(
            _l(
                "You have already voted in this poll. Your current vote is shown: change it there if you wish."
            ),
            field="option",
        )
    claimed = db.session.execute(
        update(PollParticipation)
        .where(
            PollParticipation.id == participation.id, PollParticipation.version == expected_version
        )
        .values(version=expected_version + 1, updated_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not claimed:
        db.session.rollback()
        raise Conflict(
            _l("Your vote was changed in another window a moment ago. Please look at it again."),
            field="option",
        )
    # We hold the participation row now: read the ballot again, it cannot move under us.
    stored = _ballot_choices(poll.id, pseudonym)
    if stored is None:  # a ballot lost would be a bug; never invent a second participant
        db.session.rollback()
        raise Conflict(_l("Your vote could not be changed. Please try again."))
    ballot_id, shard, previous = stored
    deltas = {oid: -1 for oid in previous}
    for oid in chosen:
        deltas[oid] = deltas.get(oid, 0) + 1
    db.session.execute(delete(PollBallotChoice).where(PollBallotChoice.ballot_id == ballot_id))
    db.session.add_all(
        PollBallotChoice(ballot_id=ballot_id, poll_id=poll.id, option_id=oid) for oid in chosen
    )
    db.session.flush()
    _bump(deltas, shard)
    set_committed_value(participation, "version", expected_version + 1)
    set_committed_value(participation, "updated_at", now)
    _commit_and_read_counts(poll)
    return VoteReceipt("changed", participation, tuple(chosen), poll=poll)


@dataclass(frozen=True)
class MyVote:
    """A voter's own vote: when, and what (None once the poll is sealed at close)."""

    participation: PollParticipation
    option_ids: tuple[int, ...] | None


def get_my_vote(poll: Poll, user: User | None) -> MyVote | None:
    """The viewer's vote in this poll, if they voted."""
    if user is None or not user.is_authenticated:
        return None
    participation = _get_participation(poll.id, user.id)
    if participation is None:
        return None
    key = _poll_key(poll.id)
    if key is None:
        return MyVote(participation, None)
    stored = _ballot_choices(poll.id, _pseudonym(key, poll.id, user.id))
    return MyVote(participation, tuple(stored[2]) if stored else None)


def seal_poll_if_closed(poll: Poll, now: datetime | None = None) -> bool:
    """Delete a closed poll's pseudonym key, so nobody can link voters to ballots any more."""
    now = now or utcnow()
    if not poll.is_closed(now):
        return False
    deleted = db.session.execute(delete(PollKey).where(PollKey.poll_id == poll.id)).rowcount
    db.session.commit()
    return bool(deleted)


def seal_closed_polls(now: datetime | None = None) -> int:
    """Seal every poll past its closing time; returns how many were sealed."""
    now = now or utcnow()
    closed = select(Poll.id).where(Poll.status == "published", Poll.closes_at <= now)
    deleted = db.session.execute(delete(PollKey).where(PollKey.poll_id.in_(closed))).rowcount
    db.session.commit()
    return deleted


# ---------------------------------------------------------------- results


def results_are_visible(poll: Poll, has_voted: bool, now: datetime | None = None) -> bool:
    """After close for everyone; before, to voters when the poll shows interim results."""
    now = now or utcnow()
    if poll.status != "published":
        return False
    return poll.is_closed(now) or (poll.shows_interim_results and has_voted)


def get_results(poll: Poll) -> tally.Results:
    """Counts and shares per option, from the counters kept with the ballots."""
    return tally.compute_results(
        poll.participant_count,
        {option.id: option.vote_count for option in poll.options},
        [option.id for option in poll.options],
    )


@dataclass(frozen=True)
class DistrictTurnout:
    """Participants from one district, and their share of its population when known."""

    district: District | None
    participants: int
    share_of_participants: float
    turnout: float | None


def district_participation(poll: Poll) -> list[DistrictTurnout]:
    """Participants per district (of the voter's verified or home district at voting time)."""
    rows = db.session.execute(
        select(PollParticipation.district_id, func.count(PollParticipation.id))
        .where(PollParticipation.poll_id == poll.id)
        .group_by(PollParticipation.district_id)
    ).all()
    counts = {district_id: count for district_id, count in rows}
    districts = poll.districts or list(db.session.scalars(select(District).order_by(District.code)))
    total = sum(counts.values())
    result = []
    for district in districts:
        count = counts.pop(district.id, 0)
        result.append(
            DistrictTurnout(
                district,
                count,
                count / total if total else 0.0,
                count / district.population if district.population else None,
            )
        )
    elsewhere = sum(counts.values())
    if elsewhere:
        result.append(DistrictTurnout(None, elsewhere, elsewhere / total, None))
    return result


def demographic_breakdowns(poll: Poll) -> dict[str, tally.Breakdown]:
    """Results by age band and by gender, from voters who chose to share; small groups hidden."""
    option_ids = [option.id for option in poll.options]
    result = {}
    for dimension, column, order in (
        ("age_band", PollBallot.age_band, AGE_BANDS),
        ("gender", PollBallot.gender, GENDERS),
    ):
        sizes = dict(
            db.session.execute(
                select(column, func.count(PollBallot.id))
                .where(PollBallot.poll_id == poll.id, column.is_not(None))
                .group_by(column)
            ).all()
        )
        votes = {
            (group, option_id): count
            for group, option_id, count in db.session.execute(
                select(column, PollBallotChoice.option_id, func.count(PollBallotChoice.id))
                .join(PollBallot, PollBallot.id == PollBallotChoice.ballot_id)
                .where(PollBallot.poll_id == poll.id, column.is_not(None))
                .group_by(column, PollBallotChoice.option_id)
            ).all()
        }
        result[dimension] = tally.compute_breakdown(
            poll.participant_count, sizes, votes, option_ids, order
        )
    return result


@dataclass(frozen=True)
class Recount:
    """Counters against ballots: equal when nothing drifted."""

    participants_counter: int
    participations: int
    ballots: int
    counters: dict[int, int]
    ballot_counts: dict[int, int]

    @property
    def is_exact(self) -> bool:
        return (
            self.participants_counter == self.participations == self.ballots
            and self.counters == self.ballot_counts
        )


def recount_poll(poll_id: int, repair: bool = False) -> Recount:
    """Count the ballots again and compare with the counters (repairing them if asked)."""
    poll = get_poll(poll_id)
    db.session.refresh(poll)
    participations = db.session.scalar(
        select(func.count(PollParticipation.id)).where(PollParticipation.poll_id == poll.id)
    )
    ballots = db.session.scalar(
        select(func.count(PollBallot.id)).where(PollBallot.poll_id == poll.id)
    )
    counted = dict(
        db.session.execute(
            select(PollBallotChoice.option_id, func.count(PollBallotChoice.id))
            .where(PollBallotChoice.poll_id == poll.id)
            .group_by(PollBallotChoice.option_id)
        ).all()
    )
    options = list(db.session.scalars(select(PollOption).where(PollOption.poll_id == poll.id)))
    for option in options:
        db.session.refresh(option)
    recount = Recount(
        poll.participant_count,
        participations,
        ballots,
        {o.id: o.vote_count for o in options},
        {o.id: counted.get(o.id, 0) for o in options},
    )
    if repair and not recount.is_exact:
        # Rebuild the shards from the ballots: every count in shard 0, the others at zero,
        # and each ballot moved to shard 0 so that later changes move counts within it.
        db.session.execute(
            delete(PollParticipantShard).where(PollParticipantShard.poll_id == poll.id)
        )
        db.session.execute(delete(PollOptionShard).where(PollOptionShard.poll_id == poll.id))
        _create_counters(poll)
        db.session.execute(
            update(PollParticipantShard)
            .where(PollParticipantShard.poll_id == poll.id, PollParticipantShard.shard == 0)
            .values(count=participations)
        )
        for option in options:
            db.session.execute(
                update(PollOptionShard)
                .where(PollOptionShard.option_id == option.id, PollOptionShard.shard == 0)
                .values(count=counted.get(option.id, 0))
            )
        db.session.execute(update(PollBallot).where(PollBallot.poll_id == poll.id).values(shard=0))
        audit.record(
            None,
            "poll.recount_repair",
            "poll",
            poll.id,
            {"counters": recount.counters},
            {"counters": recount.ballot_counts},
        )
        db.session.commit()
    return recount


# ---------------------------------------------------------------- the poll page


@dataclass
class PollPage:
    """Everything the poll page shows."""

    poll: Poll
    now: datetime
    my_vote: MyVote | None
    refusal: DomainError | None
    results: tally.Results | None
    districts: list[DistrictTurnout]
    breakdowns: dict[str, tally.Breakdown]
    clock: tally.Clock | None
    progress: float
    comments: list[PollComment]

    @property
    def is_open(self) -> bool:
        return self.poll.is_open(self.now)

    @property
    def is_closed(self) -> bool:
        return self.poll.is_closed(self.now)


def poll_page(
    poll_id: int, viewer: User | None, now: datetime | None = None, with_details: bool = True
) -> PollPage:
    """The poll, the viewer's vote and right to vote, results when visible, the clock, comments."""
    now = now or utcnow()
    poll = get_visible_poll(poll_id, viewer)
    if poll.status == "published" and poll.is_closed(now) and _poll_key(poll.id) is not None:
        seal_poll_if_closed(poll, now)
    my_vote = get_my_vote(poll, viewer)
    refusal = voting_refusal(poll, viewer, now) if poll.status == "published" else None
    visible = results_are_visible(poll, my_vote is not None, now)
    results = get_results(poll) if visible else None
    details = visible and with_details
    return PollPage(
        poll=poll,
        now=now,
        my_vote=my_vote,
        refusal=refusal,
        results=results,
        districts=district_participation(poll) if details else [],
        breakdowns=demographic_breakdowns(poll) if details else {},
        clock=get_clock(poll.agenda, now) if poll.agenda is not None else None,
        progress=tally.threshold_progress(poll.participant_count, poll.threshold or 1),
        comments=list_comments(poll.id) if with_details and poll.status == "published" else [],
    )


def vote_panel_page(receipt: VoteReceipt, viewer: User, now: datetime | None = None) -> PollPage:
    """The poll page's vote panel right after a vote, from what the vote loaded and counted
    (no second round of queries: the receipt's poll holds the counters as of its commit)."""
    now = now or utcnow()
    poll = receipt.poll if receipt.poll is not None else get_poll(receipt.participation.poll_id)
    visible = results_are_visible(poll, True, now)
    return PollPage(
        poll=poll,
        now=now,
        my_vote=MyVote(receipt.participation, receipt.option_ids),
        refusal=None,
        results=get_results(poll) if visible else None,
        districts=[],
        breakdowns={},
        clock=None,
        progress=tally.threshold_progress(poll.participant_count, poll.threshold or 1),
        comments=[],
    )


# ---------------------------------------------------------------- finding polls

VIEWS = ("open", "closed", "agendas")
SORTS = ("popular", "ending", "newest")


@dataclass(frozen=True)
class PollList:
    """A page of polls and how many there are in all."""

    polls: list[Poll]
    total: int
    page: int
    per_page: int

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


def list_polls(
    view: str = "open",
    sort: str = "popular",
    search: str = "",
    district_id: int | None = None,
    page: int = 1,
    now: datetime | None = None,
    per_page: int = PER_PAGE,
) -> PollList:
    """Published polls: open (most participants, ending soon, newest), closed, or agendas."""
    now = now or utcnow()
    view = view if view in VIEWS else "open"
    sort = sort if sort in SORTS else "popular"
    page = max(page, 1)
    query = select(Poll).where(Poll.status == "published")
    if view == "open":
        query = query.where(Poll.opens_at <= now, Poll.closes_at > now)
        order = {
            "popular": (Poll.participant_count.desc(), Poll.id.desc()),
            "ending": (Poll.closes_at, Poll.id),
            "newest": (Poll.opens_at.desc(), Poll.id.desc()),
        }[sort]
    elif view == "closed":
        query = query.where(Poll.closes_at <= now)
        order = (Poll.closes_at.desc(), Poll.id.desc())
    else:
        query = query.join(PollAgenda, PollAgenda.poll_id == Poll.id)
        order = (PollAgenda.answer_due_at, Poll.id)
    search = (search or "").strip().lower()
    if search:
        query = query.where(Poll.search_text.contains(search, autoescape=True))
    if district_id:
        query = query.where(
            or_(
                Poll.is_citywide.is_(True),
                Poll.id.in_(
                    select(poll_district.c.poll_id).where(
                        poll_district.c.district_id == district_id
                    )
                ),
            )
        )
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    polls = list(
        db.session.scalars(
            query.options(selectinload(Poll.agenda), selectinload(Poll.districts))
            .order_by(*order)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return PollList(polls, total, page, per_page)


# ---------------------------------------------------------------- comments and moderation


def list_comments(poll_id: int) -> list[PollComment]:
    """All comments of a poll, oldest first; hidden ones are shown as hidden, never dropped."""
    return list(
        db.session.scalars(
            select(PollComment)
            .where(PollComment.poll_id == poll_id)
            .options(selectinload(PollComment.author))
            .order_by(PollComment.created_at, PollComment.id)
        )
    )


def add_comment(user_id: int, poll_id: int, body: str, now: datetime | None = None) -> PollComment:
    """A signed-in person comments on a published poll."""
    now = now or utcnow()
    user = _get_user(user_id)
    poll = get_poll(poll_id)
    if poll.status != "published":
        raise NotFound(_l("This poll does not exist."))
    body = (body or "").strip()
    if not body:
        raise DomainError(_l("Please write a comment."), field="body")
    if len(body) > COMMENT_MAX:
        raise DomainError(
            _l("A comment can have at most %(max)s characters.", max=COMMENT_MAX), field="body"
        )
    comment = PollComment(
        poll_id=poll.id,
        author_id=user.id,
        body=body,
        status="visible",
        flag_count=0,
        created_at=now,
    )
    db.session.add(comment)
    db.session.commit()
    return comment


def get_comment(comment_id: int) -> PollComment:
    """The comment with this id, or NotFound."""
    comment = db.session.get(PollComment, comment_id)
    if comment is None:
        raise NotFound(_l("This comment does not exist."))
    return comment


def flag_comment(user_id: int, comment_id: int) -> PollComment:
    """A person reports a comment once; enough reports hide it until staff look at it."""
    user = _get_user(user_id)
    comment = get_comment(comment_id)
    if comment.author_id == user.id:
        raise Conflict(_l("You cannot report your own comment."))
    if comment.status == "hidden":
        raise Conflict(_l("This comment is already hidden."))
    db.session.add(PollCommentFlag(comment_id=comment.id, user_id=user.id))
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            _l("You have already reported this comment. Staff will look at it.")
        ) from exc
    flags = db.session.execute(
        update(PollComment)
        .where(PollComment.id == comment.id)
        .values(flag_count=PollComment.flag_count + 1)
        .returning(PollComment.flag_count),
        execution_options={"synchronize_session": False},
    ).scalar_one()
    if flags >= get_settings().comment_flags_to_hide:
        db.session.execute(
            update(PollComment)
            .where(
                PollComment.id == comment.id,
                PollComment.status == "visible",
                PollComment.is_reviewed.is_(False),
            )
            .values(status="flagged"),
            execution_options={"synchronize_session": False},
        )
    db.session.commit()
    db.session.refresh(comment)
    return comment


def list_flagged_comments() -> list[PollComment]:
    """Comments reported and not yet reviewed by staff, hidden ones first."""
    return list(
        db.session.scalars(
            select(PollComment)
            .where(
                PollComment.flag_count > 0,
                PollComment.is_reviewed.is_(False),
                PollComment.status != "hidden",
            )
            .options(selectinload(PollComment.author))
            .order_by(
                (PollComment.status == "flagged").desc(),
                PollComment.flag_count.desc(),
                PollComment.id,
            )
        )
    )


def moderate_comment(
    actor_id: int,
    comment_id: int,
    action: str,
    reason: str | None = None,
    note: str = "",
    now: datetime | None = None,
) -> PollComment:
    """Staff hide a comment with a public reason, or keep it visible after reports."""
    now = now or utcnow()
    actor = _check_staff(actor_id)
    comment = get_comment(comment_id)
    before = {"status": comment.status}
    if action == "hide":
        if reason not in HIDE_REASONS:
            raise DomainError(_l("Please choose a reason from the list."), field="reason")
        comment.status = "hidden"
        comment.hidden_reason = reason
        comment.hidden_note = (note or "").strip() or None
    elif action == "keep":
        comment.status = "visible"
        comment.hidden_reason = None
        comment.hidden_note = None
    else:
        raise DomainError(_l("Unknown action."))
    comment.is_reviewed = True
    comment.moderated_by_id = actor.id
    comment.moderated_at = now
    audit.record(
        actor.id,
        f"poll_comment.{action}",
        "poll_comment",
        comment.id,
        before,
        {"status": comment.status, "reason": comment.hidden_reason, "note": comment.hidden_note},
    )
    db.session.commit()
    return comment


# ---------------------------------------------------------------- privacy


def set_demographics(
    user_id: int,
    shares: bool,
    birth_year: int | None,
    gender: str | None,
    now: datetime | None = None,
) -> User:
    """Save whether and what a person shares for poll statistics.

    Stopping sharing erases the answers from the account and from ballots of polls still open
    (closed polls are sealed: their ballots can no longer be linked to anyone).
    """
    now = now or utcnow()
    user = _get_user(user_id)
    if shares:
        if birth_year is not None and not 1900 <= birth_year <= now.year:
            raise DomainError(
                _l("Enter a year from %(min)s to %(max)s.", min=1900, max=now.year),
                field="birth_year",
            )
        if gender and gender not in GENDERS:
            raise DomainError(_l("Please choose from the list."), field="gender")
        if birth_year is None and not gender:
            raise DomainError(
                _l(
                    "To share, give your year of birth, your gender or both. Otherwise leave sharing off."
                ),
                field="birth_year",
            )
        user.birth_year = birth_year
        user.gender = gender or None
        user.shares_demographics = True
    else:
        user.birth_year = None
        user.gender = None
        user.shares_demographics = False
    age, gender_value = _snapshot(user, now)
    keys = db.session.execute(
        select(PollKey.poll_id, PollKey.key)
        .join(PollParticipation, PollParticipation.poll_id == PollKey.poll_id)
        .join(Poll, Poll.id == PollKey.poll_id)
        .where(PollParticipation.voter_id == user.id, Poll.closes_at > now)
    ).all()
    for poll_id, key in keys:
        db.session.execute(
            update(PollBallot)
            .where(
                PollBallot.poll_id == poll_id,
                PollBallot.pseudonym == _pseudonym(key, poll_id, user.id),
            )
            .values(age_band=age, gender=gender_value),
            execution_options={"synchronize_session": False},
        )
    db.session.commit()
    return user


# ---------------------------------------------------------------- notifications


def list_notifications(user_id: int, limit: int = 50) -> list[PollNotification]:
    """A person's poll notifications, newest first."""
    return list(
        db.session.scalars(
            select(PollNotification)
            .where(PollNotification.user_id == user_id)
            .options(selectinload(PollNotification.poll))
            .order_by(PollNotification.created_at.desc(), PollNotification.id.desc())
            .limit(limit)
        )
    )


def mark_notifications_read(user_id: int, now: datetime | None = None) -> int:
    """Mark all of a person's notifications read."""
    count = db.session.execute(
        update(PollNotification)
        .where(PollNotification.user_id == user_id, PollNotification.read_at.is_(None))
        .values(read_at=now or utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount
    db.session.commit()
    return count


def count_unread_notifications(user_id: int) -> int:
    """How many notifications a person has not seen."""
    return db.session.scalar(
        select(func.count(PollNotification.id)).where(
            PollNotification.user_id == user_id, PollNotification.read_at.is_(None)
        )
    )


# ---------------------------------------------------------------- open data


def _published_results(poll_id: int, now: datetime) -> Poll:
    poll = get_poll(poll_id)
    if poll.status != "published":
        raise NotFound(_l("This poll does not exist."))
    if not poll.is_closed(now):
        raise Conflict(_l("Results are published as open data when the poll closes."))
    return poll


def results_data(poll_id: int, now: datetime | None = None) -> dict:
    """A closed poll's aggregate results (never a ballot), for JSON."""
    now = now or utcnow()
    poll = _published_results(poll_id, now)
    results = get_results(poll)
    by_id = {o.option_id: o for o in results.options}
    breakdowns = demographic_breakdowns(poll)
    return {
        "poll_id": poll.id,
        "question": poll.question,
        "language": poll.locale,
        "url": _poll_link(poll.id),
        "opens_at": poll.opens_at.isoformat(),
        "closes_at": poll.closes_at.isoformat(),
        "max_choices": poll.max_choices,
        "audience": poll.audience,
        "citywide": poll.is_citywide,
        "districts": [d.code for d in poll.districts],
        "threshold": poll.threshold,
        "participants": results.participants,
        "options": [
            {
                "position": o.position,
                "label": o.label,
                "votes": by_id[o.id].votes,
                "share": round(by_id[o.id].share, 4),
            }
            for o in poll.options
        ],
        "participation_by_district": [
            {"district": t.district.code if t.district else None, "participants": t.participants}
            for t in district_participation(poll)
        ],
        "breakdowns": {
            dimension: {
                "minimum_group_size": tally.MIN_GROUP_SIZE,
                "hidden_groups": breakdown.hidden_groups,
                "groups": [
                    {
                        "group": row.group,
                        "participants": row.participants,
                        "votes": {
                            str(option.position): count.votes
                            for option, count in zip(poll.options, row.results.options, strict=True)
                        },
                    }
                    for row in breakdown.rows
                ],
            }
            for dimension, breakdown in breakdowns.items()
        },
        "agenda": _agenda_data(poll.agenda, now) if poll.agenda else None,
    }


def _agenda_data(agenda: PollAgenda, now: datetime) -> dict:
    clock = get_clock(agenda, now)
    return {
        "crossed_at": agenda.crossed_at.isoformat(),
        "answer_due_at": agenda.answer_due_at.isoformat(),
        "department": agenda.department.code if agenda.department else None,
        "first_answered_at": agenda.first_answered_at.isoformat()
        if agenda.first_answered_at
        else None,
        "clock": {"state": clock.state, "days": clock.days},
        "answers": [
            {
                "status": a.status,
                "created_at": a.created_at.isoformat(),
                "follow_up": a.is_follow_up,
                "body": a.body,
            }
            for a in agenda.answers
        ],
    }


def results_csv(poll_id: int, now: datetime | None = None) -> str:
    """A closed poll's aggregates as CSV: one row per option, district and shown group."""
    data = results_data(poll_id, now)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["poll_id", "dimension", "group", "option_position", "option_label", "count"])
    labels = {
        str(o["position"]): pick_text(o["label"], data["language"]).text for o in data["options"]
    }
    writer.writerow([data["poll_id"], "participants", "", "", "", data["participants"]])
    for option in data["options"]:
        writer.writerow(
            [
                data["poll_id"],
                "option",
                "",
                option["position"],
                labels[str(option["position"])],
                option["votes"],
            ]
        )
    for row in data["participation_by_district"]:
        writer.writerow(
            [data["poll_id"], "district", row["district"] or "", "", "", row["participants"]]
        )
    for dimension, breakdown in data["breakdowns"].items():
        for group in breakdown["groups"]:
            for position, votes in group["votes"].items():
                writer.writerow(
                    [data["poll_id"], dimension, group["group"], position, labels[position], votes]
                )
    return out.getvalue()


def list_open_data(now: datetime | None = None) -> list[dict]:
    """Every closed poll with links to its results, for the open data catalogue."""
    now = now or utcnow()
    polls = db.session.scalars(
        select(Poll)
        .where(Poll.status == "published", Poll.closes_at <= now)
        .order_by(Poll.closes_at.desc())
    )
    return [
        {
            "poll_id": poll.id,
            "question": poll.question,
            "closes_at": poll.closes_at.isoformat(),
            "participants": poll.participant_count,
            "csv": url_for("polls.results_csv", poll_id=poll.id, _external=True)
            if has_request_context()
            else None,
            "json": url_for("polls.results_json", poll_id=poll.id, _external=True)
            if has_request_context()
            else None,
        }
        for poll in polls
    ]


def export_user_polls(user_id: int) -> dict:
    """What the polls module holds about a person, for their data download."""
    user = _get_user(user_id)
    participations = db.session.execute(
        select(
            PollParticipation.poll_id, PollParticipation.created_at, PollParticipation.updated_at
        ).where(PollParticipation.voter_id == user.id)
    ).all()
    return {
        "demographics": {
            "shares_demographics": user.shares_demographics,
            "birth_year": user.birth_year,
            "gender": user.gender,
        },
        "proposals": [
            {
                "poll_id": p.id,
                "question": p.question,
                "status": p.status,
                "created_at": p.created_at.isoformat(),
            }
            for p in list_my_proposals(user.id)
        ],
        "votes": [
            {"poll_id": poll_id, "voted_at": created.isoformat(), "changed_at": updated.isoformat()}
            for poll_id, created, updated in participations
        ],
        "comments": [
            {
                "poll_id": c.poll_id,
                "body": c.body,
                "status": c.status,
                "created_at": c.created_at.isoformat(),
            }
            for c in db.session.scalars(select(PollComment).where(PollComment.author_id == user.id))
        ],
    }
