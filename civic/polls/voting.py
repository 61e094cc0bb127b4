"""A first vote on PostgreSQL in three statements: the vote's hot path.

A poll that a city puts to a vote receives most of its votes in a few busy hours, and nearly
all of them are first votes. On PostgreSQL such a vote runs here, on the request's own
connection and transaction, in plain SQL with no ORM objects:

1. one query reads what the rules need: the poll's state and dates, its options and districts,
   the pseudonym key and whether its agenda already exists;
2. one statement writes the vote: the participation (whose unique (poll, voter) pair decides
   whether this is a first vote), the sealed ballot, its choices and the counters, or nothing;
3. after the commit, one query reads the counters as committed, for the receipt and for the
   threshold (whichever vote commits last sees all the others, so no crossing is missed).

The rules themselves are not repeated: eligibility (`voting_refusal`), the choices
(`_check_choices`), the pseudonym and the threshold come from services, applied to a small
`BallotPaper` read in step 1 that behaves like the poll for them and for the vote panel
template. Anything unusual (a change of vote, a second vote, SQLite) returns None and the
general path in services handles it, with the same rules and the same answers.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from flask import g

from civic.accounts.models import User
from civic.core.errors import DomainError
from civic.extensions import db
from civic.polls import services
from civic.polls.models import (
    SHARDS,
    Poll,
    PollBallot,
    PollParticipation,
)


@dataclass
class Picture:
    """An option's image, as the vote panel links it."""

    key: str
    thumbnail_key: str | None


@dataclass
class PaperOption:
    """An option as printed on the ballot paper, with its count once the vote is in."""

    id: int
    label: dict[str, str]
    image: Picture | None
    vote_count: int = 0


@dataclass
class PaperDistrict:
    """A district the poll is for (what the refusal message names)."""

    id: int
    name: dict[str, str]


@dataclass
class BallotPaper:
    """What the rules and the vote panel read of a poll, read in one query."""

    id: int
    status: str
    opens_at: datetime
    closes_at: datetime
    max_choices: int
    audience: str
    is_citywide: bool
    allows_vote_change: bool
    shows_interim_results: bool
    threshold: int
    key: bytes | None
    has_agenda: bool
    options: list[PaperOption]
    districts: list[PaperDistrict] = field(default_factory=list)
    participant_count: int = 0

    is_open = Poll.is_open
    is_closed = Poll.is_closed


_PAPER_SQL = """
SELECT p.status, p.opens_at, p.closes_at, p.max_choices, p.audience, p.is_citywide,
       p.allows_vote_change, p.shows_interim_results, p.threshold, k.key,
       EXISTS (SELECT 1 FROM poll_agenda a WHERE a.poll_id = p.id) AS has_agenda,
       (SELECT json_agg(json_build_array(o.id, o.label, f.key, f.thumbnail_key)
                        ORDER BY o.position)
          FROM poll_option o LEFT JOIN stored_file f ON f.id = o.image_id
         WHERE o.poll_id = p.id) AS options,
       (SELECT json_agg(json_build_array(d.id, d.name) ORDER BY d.code)
          FROM poll_district pd JOIN district d ON d.id = pd.district_id
         WHERE pd.poll_id = p.id) AS districts
FROM poll p LEFT JOIN poll_key k ON k.poll_id = p.id
WHERE p.id = %(poll)s
"""

# The same, with the signed-in voter's row: a vote from a session costs one read.
_VOTER_COLUMNS = (
    "id", "email", "display_name", "locale", "home_district_id", "verification_level",
    "verified_district_id", "is_active_account", "security_stamp", "birth_year", "gender",
    "shares_demographics",
)  # fmt: skip
_PAPER_AND_VOTER_SQL = _PAPER_SQL.replace(
    "SELECT p.status,", "SELECT " + ", ".join(f"u.{c}" for c in _VOTER_COLUMNS) + ", p.status,"
).replace(
    "WHERE p.id = %(poll)s",
    'JOIN "user" u ON u.id = %(voter)s WHERE p.id = %(poll)s',
)

# Counter rows are locked in one order (options by id, then participants), as in services,
# so two voters never deadlock; nothing but the participation is written on a second vote.
_VOTE_SQL = """
WITH participation AS (
    INSERT INTO poll_participation
        (poll_id, voter_id, district_id, version, created_at, updated_at)
    VALUES (%(poll)s, %(voter)s, %(district)s, 1, %(now)s, %(now)s)
    ON CONFLICT (poll_id, voter_id) DO NOTHING
    RETURNING id
), ballot AS (
    INSERT INTO poll_ballot (id, poll_id, pseudonym, shard, age_band, gender)
    SELECT %(ballot)s, %(poll)s, %(pseudonym)s, %(shard)s, %(age)s, %(gender)s
    FROM participation
    RETURNING id
), choices AS (
    INSERT INTO poll_ballot_choice (ballot_id, poll_id, option_id)
    SELECT ballot.id, %(poll)s, chosen.option_id
    FROM ballot, unnest(%(options)s::integer[]) AS chosen(option_id)
), option_rows AS (
    SELECT option_id FROM poll_option_shard
    WHERE option_id = ANY(%(options)s::integer[]) AND shard = %(shard)s
      AND EXISTS (SELECT 1 FROM ballot)
    ORDER BY option_id
    FOR UPDATE
), options_counted AS (
    UPDATE poll_option_shard AS counter SET count = counter.count + 1
    FROM option_rows
    WHERE counter.option_id = option_rows.option_id AND counter.shard = %(shard)s
), participants_counted AS (
    UPDATE poll_participant_shard SET count = count + 1
    WHERE poll_id = %(poll)s AND shard = %(shard)s AND EXISTS (SELECT 1 FROM ballot)
)
SELECT id FROM participation
"""

_COUNTS_SQL = """
SELECT 0, coalesce(sum(count), 0) FROM poll_participant_shard
 WHERE poll_id = %(poll)s
UNION ALL
SELECT option_id, sum(count) FROM poll_option_shard
 WHERE poll_id = %(poll)s GROUP BY option_id
"""


def _driver():
    """The psycopg connection under the request's session (its transaction included)."""
    return db.session.connection().connection.driver_connection


def read_paper(poll_id: int) -> BallotPaper | None:
    """The poll as the vote needs it, or None when there is no such poll."""
    row = _driver().execute(_PAPER_SQL, {"poll": poll_id}).fetchone()
    return _paper(poll_id, row) if row is not None else None


def read_paper_and_voter(poll_id: int, session_id: str) -> tuple[BallotPaper, User] | None:
    """The poll and the voter named by a Flask-Login session id ("user id:security stamp"),
    in one query; None when either is missing or the stamp is stale (signed out elsewhere).

    The voter is a detached User holding only what voting and the vote panel read; it is
    never added to the session."""
    user_id, _sep, stamp = (session_id or "").partition(":")
    if not user_id.isdigit():
        return None
    row = _driver().execute(_PAPER_AND_VOTER_SQL, {"poll": poll_id, "voter": int(user_id)})
    row = row.fetchone()
    width = len(_VOTER_COLUMNS)
    if row is None or str(row[_VOTER_COLUMNS.index("security_stamp")]) != stamp:
        return None
    voter = User(**dict(zip(_VOTER_COLUMNS, row[:width], strict=True)))
    return _paper(poll_id, row[width:]), voter


def _paper(poll_id: int, row) -> BallotPaper:
    (status, opens_at, closes_at, max_choices, audience, citywide, changeable, interim,
     threshold, key, has_agenda, options, districts) = row  # fmt: skip
    return BallotPaper(
        id=poll_id,
        status=status,
        opens_at=opens_at,
        closes_at=closes_at,
        max_choices=max_choices,
        audience=audience,
        is_citywide=citywide,
        allows_vote_change=changeable,
        shows_interim_results=interim,
        threshold=threshold,
        key=bytes(key) if key is not None else None,
        has_agenda=has_agenda,
        options=[
            PaperOption(oid, label, Picture(image, thumb) if image else None)
            for oid, label, image, thumb in options or []
        ],
        districts=[PaperDistrict(did, name) for did, name in districts or []],
    )


def first_vote(user: User, poll_id: int, option_ids, now: datetime) -> services.VoteReceipt | None:
    """Count a first vote on PostgreSQL; None when it is not one (the general path decides)."""
    paper = read_paper(poll_id)
    return count_first_vote(paper, user, option_ids, now) if paper is not None else None


def vote_from_session(
    poll_id: int, session_id: str | None, option_ids, now: datetime
) -> services.VoteReceipt | None:
    """A first vote by the session's signed-in voter, read with the poll in one query.

    None whenever this is not a plain, valid first vote: no session, a stale stamp, a refusal
    or bad choices, a second vote. The general path then answers, with the usual messages."""
    found = read_paper_and_voter(poll_id, session_id or "")
    if found is None:
        return None
    paper, voter = found
    receipt = count_first_vote(paper, voter, option_ids, now)
    if receipt is not None:
        g._login_user = voter  # Flask-Login's per-request user: current_user needs no query
    return receipt


def count_first_vote(
    paper: BallotPaper, user: User, option_ids, now: datetime
) -> services.VoteReceipt | None:
    """The write and the count of a first vote, or None (nothing written) when it is not a
    plain, valid first vote."""
    if paper.status != "published" or paper.key is None:
        return None  # the general path says "does not exist" or "closed" in its own words
    if services.voting_refusal(paper, user, now) is not None:
        return None
    try:
        chosen = services._check_choices(paper, option_ids)
    except DomainError:
        return None
    age, gender = services._snapshot(user, now)
    driver = _driver()
    row = driver.execute(
        _VOTE_SQL,
        {
            "poll": paper.id,
            "voter": user.id,
            "district": user.verified_district_id or user.home_district_id,
            "now": now,
            "ballot": PollBallot.new_id(),
            "pseudonym": services._pseudonym(paper.key, paper.id, user.id),
            "shard": secrets.randbelow(SHARDS),
            "age": age,
            "gender": gender,
            "options": chosen,
        },
    ).fetchone()
    if row is None:  # already voted: the general path answers from the stored vote
        db.session.rollback()
        return None
    # Committed on the connection itself: the session wrote nothing, and the connection stays
    # checked out for the read that follows, in a transaction of its own that the session ends
    # at teardown. What the session had loaded is expired, as its own commit would (on the
    # web's hot path it holds nothing).
    driver.commit()
    if db.session.identity_map:
        db.session.expire_all()
    counts = dict(driver.execute(_COUNTS_SQL, {"poll": paper.id}).fetchall())
    paper.participant_count = counts.get(0, 0)
    for option in paper.options:
        option.vote_count = counts.get(option.id, 0)
    crossed = False
    if paper.participant_count >= paper.threshold and not paper.has_agenda:
        crossed = services._open_agenda_if_reached(services.get_poll(paper.id), now)
    participation = PollParticipation(
        id=row[0],
        poll_id=paper.id,
        voter_id=user.id,
        version=1,
        created_at=now,
        updated_at=now,
    )
    return services.VoteReceipt("counted", participation, tuple(chosen), crossed, paper)
