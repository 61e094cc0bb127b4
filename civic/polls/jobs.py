"""Poll jobs: notify voters of an official answer, seal closed polls, recount a poll.

Jobs take ids, load their rows, commit themselves and are safe to run twice.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from civic.accounts.models import User
from civic.core.mail import deliver_outbox_message, queue_email
from civic.extensions import db
from civic.jobs import enqueue
from civic.polls import services
from civic.polls.models import PollAnswer, PollNotification, PollParticipation

BATCH = 500


def notify_voters_of_answer(answer_id: int) -> int:
    """Tell every voter of the poll (and a resident author) about an official answer: in the app and
    by e-mail in their own language. Returns how many people were notified this run."""
    answer = db.session.get(PollAnswer, answer_id)
    if answer is None:
        return 0
    poll = answer.agenda.poll
    already = set(
        db.session.scalars(
            select(PollNotification.user_id).where(PollNotification.answer_id == answer.id)
        )
    )
    voter_ids = select(PollParticipation.voter_id).where(
        PollParticipation.poll_id == poll.id, PollParticipation.voter_id.is_not(None)
    )
    person_ids = list(
        db.session.scalars(
            select(User.id)
            .where(
                (User.id.in_(voter_ids))
                | (User.id == (None if poll.is_official else poll.author_id)),
                User.is_active_account.is_(True),
            )
            .order_by(User.id)
        )
    )
    person_ids = [pid for pid in person_ids if pid not in already]
    link = services._poll_link(poll.id)
    default_locale = current_app.config["CIVIC_DEFAULT_LOCALE"]
    message_ids = []
    people = (
        person
        for start in range(0, len(person_ids), BATCH)
        for person in db.session.scalars(
            select(User).where(User.id.in_(person_ids[start : start + BATCH]))
        )
    )
    for person in people:
        db.session.add(
            PollNotification(user_id=person.id, poll_id=poll.id, kind="answer", answer_id=answer.id)
        )
        with force_locale(person.locale or default_locale):
            subject = (
                _l("Follow-up on a poll you took part in")
                if answer.is_follow_up
                else _l("The city has answered a poll you took part in")
            )
            message = queue_email(
                person.email,
                str(subject),
                "polls/emails/answer.txt",
                user=person,
                poll=poll,
                answer=answer,
                status_label=services.ANSWER_STATUS_LABELS[answer.status],
                link=link,
            )
        message_ids.append(message.id)
    db.session.commit()
    for message_id in message_ids:
        enqueue(deliver_outbox_message, message_id)
    return len(message_ids)


def seal_closed_polls() -> int:
    """Delete the pseudonym keys of every closed poll."""
    return services.seal_closed_polls()


def recount_poll(poll_id: int) -> bool:
    """Check a poll's counters against its ballots, repairing drift; True when they matched."""
    return services.recount_poll(poll_id, repair=True).is_exact
