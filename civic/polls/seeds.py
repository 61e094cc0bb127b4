"""Poll demo data through the services: polls in every state, with votes cast in the past.

Services take `now`, so the seeder publishes, votes and answers at dates in the past: one poll
pending review, one sent back for changes, one rejected, two open (one with votes), one closed
with results, one official agenda whose answer is overdue, and one answered with a follow-up.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from civic.accounts import services as accounts
from civic.accounts.models import User
from civic.config import SEEDS_DIR
from civic.core.geo import list_districts
from civic.core.models import Department
from civic.core.time import utcnow
from civic.extensions import db
from civic.polls import services
from civic.polls.models import Poll


def _user(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        raise LookupError(f"seed user {email} is missing")
    return user


def _ensure_voters(spec: dict, password: str, admin: User) -> list[User]:
    districts = list_districts()
    voters = []
    for number in range(1, spec["count"] + 1):
        district = districts[number % len(districts)]
        user = accounts.ensure_user(
            spec["email"] % number,
            password,
            spec["name"] % number,
            ("resident",),
            None,
            district.id,
        )
        if not user.is_verified:
            accounts.set_verification(admin.id, user.id, district.id)
        # Two of three share their age group and gender, in two age groups, so that the demo
        # shows breakdowns with groups of at least ten.
        if number % 3:
            services.set_demographics(
                user.id, True, 1992 if number % 2 else 1968, "woman" if (number // 2) % 2 else "man"
            )
        voters.append(user)
    return voters


def _choices(poll: Poll, weights: list[int], number: int) -> list[int]:
    wheel = [index for index, weight in enumerate(weights) for _ in range(weight)]
    first = wheel[number % len(wheel)]
    chosen = [poll.options[first].id]
    if poll.max_choices > 1 and number % 3 == 0:
        chosen.append(poll.options[(first + 1) % len(poll.options)].id)
    return chosen


def seed_polls() -> list[str]:
    """Seed demo polls in every state; does nothing when polls exist already."""
    if db.session.scalar(select(func.count(Poll.id))):
        return ["Polls: already seeded."]
    data = json.loads((SEEDS_DIR / "polls.json").read_text(encoding="utf-8"))
    city = json.loads((SEEDS_DIR / "city.json").read_text(encoding="utf-8"))
    admin = _user("admin@demo.civic")
    staff = _user("staff@demo.civic")
    voters = _ensure_voters(data["voters"], city["demo_password"], admin)
    departments = {d.code: d.id for d in db.session.scalars(select(Department))}
    districts = {d.code: d.id for d in list_districts()}
    now = utcnow()
    states = []
    for item in data["polls"]:
        opened = now - timedelta(days=item.get("days_ago", 0))
        author = _user(item["author"])
        draft = services.PollDraft(
            question=item["question"][item["locale"]],
            description=item.get("description", {}).get(item["locale"], ""),
            options=[services.OptionDraft(o[item["locale"]]) for o in item["options"]],
            max_choices=item.get("max_choices", 1),
            district_ids=[districts[code] for code in item.get("districts", [])],
            duration_days=item["duration"],
            locale=item["locale"],
            is_official=item.get("official", False),
            threshold=item.get("threshold"),
            department_id=departments.get(item.get("department", "")),
        )
        poll = services.propose_poll(author.id, draft, now=opened - timedelta(hours=6))
        # The seed carries every language it has: set them as a translator would.
        poll.question = item["question"]
        poll.description = item.get("description", {})
        for option, labels in zip(poll.options, item["options"], strict=True):
            option.label = labels
        poll.search_text = services.compose_search_text(poll)
        db.session.commit()
        state = item["state"]
        if state == "changes_requested":
            services.request_changes(staff.id, poll.id, item["note"], now=now - timedelta(days=1))
        elif state == "rejected":
            services.reject_poll(
                staff.id, poll.id, item["reason"], item["note"], now=now - timedelta(days=2)
            )
        elif state != "pending" and poll.status == "pending":
            services.approve_poll(
                staff.id,
                poll.id,
                departments[item["department"]],
                item.get("threshold"),
                now=opened,
            )
        for number in range(1, item.get("votes", 0) + 1):
            voter = voters[number - 1]
            services.cast_vote(
                voter.id,
                poll.id,
                _choices(poll, item["weights"], number),
                now=opened + timedelta(hours=1, minutes=number * 7),
            )
        for comment in item.get("comments", []):
            row = services.add_comment(
                _user(comment["author"]).id,
                poll.id,
                comment["body"],
                now=opened + timedelta(hours=5),
            )
            for flagger in voters[10 : 10 + comment.get("flags", 0)]:
                services.flag_comment(flagger.id, row.id)
            if comment.get("hide"):
                services.moderate_comment(staff.id, row.id, "hide", comment["hide"], "")
        for answer in item.get("answers", []):
            answerer = admin
            services.publish_answer(
                answerer.id,
                poll.id,
                answer["status"],
                answer["body"]["en"],
                "en",
                now=now - timedelta(days=answer["days_ago"]),
            )
            latest = (
                db.session.scalars(select(Poll).where(Poll.id == poll.id)).one().agenda.answers[-1]
            )
            latest.body = answer["body"]
            db.session.commit()
        services.seal_closed_polls(now)
        states.append(f"  {state:<18} {item['question']['en']}")
    return [
        f"Polls: {len(data['polls'])} demo polls and {len(voters)} demo voters "
        f"({data['voters']['email'] % 1} … {data['voters']['email'] % len(voters)}, same password):",
        *states,
    ]
