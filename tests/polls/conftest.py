"""Poll fixtures: departments, a published poll factory, and signing a client in cheaply."""

from __future__ import annotations

from datetime import timedelta

import pytest

from civic.core.models import Department
from civic.core.time import utcnow
from civic.extensions import db
from civic.polls import services


@pytest.fixture
def departments(app):
    rows = {
        code: Department(code=code, name={"en": name})
        for code, name in (("roads", "Roads"), ("parks", "Parks"))
    }
    db.session.add_all(rows.values())
    db.session.commit()
    return rows


@pytest.fixture
def staff(make_user, departments):
    from civic.accounts.models import DepartmentMember

    user = make_user(roles=("staff",), email="staff@example.org")
    user.department_rows = [DepartmentMember(department_id=departments["roads"].id)]
    db.session.commit()
    return user


def draft(options=("Yes", "No"), **overrides) -> services.PollDraft:
    """A valid proposal, changed by keyword."""
    fields = {
        "question": "Should the park open at night?",
        "options": [services.OptionDraft(label) for label in options],
        "duration_days": 10,
    }
    fields.update(overrides)
    return services.PollDraft(**fields)


@pytest.fixture
def make_poll(staff, departments):
    """Factory: a published poll (proposed by `author` or an official one by staff)."""

    def factory(author=None, options=("Yes", "No"), threshold=None, opened_days_ago=0, **overrides):
        now = utcnow() - timedelta(days=opened_days_ago)
        if author is None:
            poll = services.propose_poll(
                staff.id,
                draft(
                    options,
                    is_official=True,
                    department_id=departments["roads"].id,
                    threshold=threshold,
                    **overrides,
                ),
                now=now,
            )
        else:
            poll = services.propose_poll(author.id, draft(options, **overrides), now=now)
            services.approve_poll(staff.id, poll.id, departments["roads"].id, threshold, now=now)
        return services.get_poll(poll.id)

    return factory


def sign_in(client, user) -> None:
    """Put the user in the client's session without a password check (fast, for many users)."""
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
