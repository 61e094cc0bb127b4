"""Budgeting jobs: count a closed vote, tell followers about progress. They take ids."""

from __future__ import annotations

import hashlib
from fractions import Fraction

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from civic.accounts.models import User
from civic.budgeting.models import Budget, ProjectFollower, ProjectUpdate, ResultSet
from civic.budgeting.pbio import election_for_budget, pb_text_for_budget
from civic.budgeting.tally import tally
from civic.core.i18n import pick_text
from civic.core.mail import deliver_outbox_message, queue_email
from civic.core.uploads import get_storage
from civic.extensions import db


def _money(value: Fraction | None) -> str | None:
    if value is None:
        return None
    return f"{float(value):.2f}"


def compute_results(budget_id: int) -> str:
    """Tally a closed budget with its rule, keep the outcome and an anonymised .pb file."""
    budget = db.session.get(Budget, budget_id)
    if budget is None:
        return "missing"
    election = election_for_budget(budget)
    outcome = tally(election, budget.rule)
    pb_text = pb_text_for_budget(budget)
    data = pb_text.encode("utf-8")
    sha256 = hashlib.sha256(data).hexdigest()
    key = f"results/budget-{budget.id}-{sha256[:16]}.pb"
    get_storage().save(key, data)
    stored = {
        "selected": list(outcome.selected),
        "greedy_selected": list(outcome.greedy_selected),
        "total_cost": _money(outcome.total_cost),
        "voter_budget": _money(outcome.voter_budget),
        "budget_increments": outcome.budget_increments,
        "projects": {
            p.id: {
                "selected": p.selected,
                "position": p.position,
                "votes": p.votes,
                "score": _money(p.score),
                "funded_by": p.funded_by,
                "supporters_money": _money(p.supporters_money),
                "effective_support": _money(p.effective_support),
                "cost": _money(p.cost),
            }
            for p in outcome.projects
        },
    }
    result = db.session.scalar(select(ResultSet).where(ResultSet.budget_id == budget.id))
    if result is None:
        result = ResultSet(
            budget_id=budget.id, rule=budget.rule, outcome=stored, voters=election.voters
        )
        db.session.add(result)
    elif result.published_at is None:
        result.rule, result.outcome, result.voters = budget.rule, stored, election.voters
    else:
        return "already published"
    result.pb_file_key, result.pb_sha256 = key, sha256
    db.session.commit()
    return "computed"


def notify_project_followers(update_id: int) -> int:
    """E-mail a project update to its followers, each in their language."""
    update = db.session.get(ProjectUpdate, update_id)
    if update is None:
        return 0
    from civic.budgeting.models import Project

    project = db.session.get(Project, update.project_id)
    followers = db.session.scalars(
        select(User)
        .join(ProjectFollower, ProjectFollower.user_id == User.id)
        .where(ProjectFollower.project_id == project.id)
    ).all()
    ids = []
    for user in followers:
        with force_locale(user.locale or current_app.config["CIVIC_DEFAULT_LOCALE"]):
            message = queue_email(
                user.email,
                str(_l("News about a project you follow")),
                "emails/project_update.txt",
                user=user,
                project_title=pick_text(project.title).text,
                update=update,
            )
        ids.append(message.id)
    db.session.commit()
    from civic.jobs import enqueue

    for message_id in ids:
        enqueue(deliver_outbox_message, message_id)
    return len(ids)
