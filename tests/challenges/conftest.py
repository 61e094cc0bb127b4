"""Challenge fixtures: an innovation team, challenges in a chosen phase, teams, archives."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from civic.accounts.models import DepartmentMember
from civic.challenges import services
from civic.challenges.seeds import dates_for_phase, move_challenge_to
from civic.core.models import Department
from civic.extensions import db

PASSWORD = "correct-horse-battery"
MIT_TEXT = (
    "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy "
    "of this software... The above copyright notice and this permission notice shall be "
    "included in all copies or substantial portions of the Software.\n"
)
CSV_TEXT = "vehicle_id,stop,lat,lon\nPV-101,S1,-22.99,-46.69\nPV-102,S2,-22.98,-46.62\n"
APACHE_TEXT = "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n"


def login(client, user):
    response = client.post("/account/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _department(code: str) -> Department:
    department = db.session.query(Department).filter_by(code=code).one_or_none()
    if department is None:
        department = Department(code=code, name={"en": code.title()})
        db.session.add(department)
        db.session.commit()
    return department


@pytest.fixture
def innovation(make_user):
    """A staff member of the innovation department."""
    user = make_user(roles=("staff",), email="lab@city.example", display_name="Lia Lab")
    return _join(user, "innovation")


def _join(user, code: str):
    db.session.add(DepartmentMember(user_id=user.id, department_id=_department(code).id))
    db.session.commit()
    db.session.expire(user)
    return user


@pytest.fixture
def roads_staff(make_user):
    """A staff member of another department."""
    user = make_user(roles=("staff",), email="roads@city.example", display_name="Rui Roads")
    return _join(user, "roads")


@pytest.fixture
def admin(make_user):
    return make_user(roles=("admin",), email="admin@city.example", display_name="Ada Admin")


def rubric(weights=(50, 30, 20)):
    return [
        services.CriterionInput(
            name={"en": f"Criterion {n}"},
            weight=w,
            anchors={str(s): {"en": f"C{n} looks like {s}"} for s in range(6)},
        )
        for n, w in enumerate(weights, start=1)
    ]


def challenge_input(**overrides) -> services.ChallengeInput:
    fields = {
        "title": {"en": "Buses on time"},
        "problem_statement": {"en": "Buses bunch up."},
        "expected_outcome": {"en": "A dispatcher's screen."},
        "eligibility": {"en": "Start-ups and students."},
        "requirements": {},
        **dates_for_phase("announced"),
        "eligible_types": ("startup", "micro", "small", "student"),
    }
    fields.update(overrides)
    return services.ChallengeInput(**fields)


def make_challenge(actor_id: int, phase: str = "registration", prizes=(1000, 500), **overrides):
    """A published challenge (rubric 50/30/20, prizes) moved to `phase`."""
    challenge = services.create_challenge(
        actor_id, challenge_input(**overrides), {"en": "Use the data for this challenge only."}
    )
    services.set_rubric(actor_id, challenge.id, rubric())
    services.set_prizes(actor_id, challenge.id, [services.PrizeInput(str(a)) for a in prizes])
    services.publish_challenge(actor_id, challenge.id)
    if phase != "announced":
        move_challenge_to(challenge, phase)
    return challenge


@pytest.fixture
def challenge(app, innovation):
    return make_challenge(innovation.id, "registration")


@pytest.fixture
def make_team(make_user):
    """Factory: a team with an owner (and extra members), kind and country as given."""

    def factory(kind="startup", country="BR", members=0, name=None, owner=None):
        owner = owner or make_user()
        team = services.create_team(
            owner.id, name or f"Team of {owner.display_name}", kind, "12.345/0001", country
        )
        extra = []
        for _ in range(members):
            person = make_user()
            _invite, token = services.invite_member(owner.id, team.id)
            services.accept_invite(person.id, token)
            extra.append(person)
        return team, owner, extra

    return factory


def submission_input(member_ids, **overrides) -> services.SubmissionInput:
    fields = {
        "title": "Bus spacer",
        "summary": "Holds buses to keep them evenly spaced.",
        "repository_url": "https://git.example.org/team/bus-spacer",
        "licence": "MIT",
        "demo_url": "https://demo.example.org",
        "build_cost": "10000",
        "yearly_cost": "1200",
        "member_ids": tuple(member_ids),
    }
    fields.update(overrides)
    return services.SubmissionInput(**fields)


def zip_bytes(entries: dict[str, bytes | str], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def tar_bytes(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def registered(challenge, make_team, **kw):
    """A team registered in the challenge (with the current terms accepted)."""
    team, owner, extra = make_team(**kw)
    services.register_team(owner.id, team.id, challenge.id, True, True)
    return team, owner, extra


def judged_challenge(innovation, make_user, make_team, teams=3, judges=3, phase="judging"):
    """A challenge in judging with `teams` submissions and a panel of `judges`, assigned."""
    challenge = make_challenge(innovation.id, "registration")
    entries = []
    for _ in range(teams):
        entries.append(registered(challenge, make_team))
    move_challenge_to(challenge, "submission")
    subs = []
    for team, owner, _extra in entries:
        version = services.submit(owner.id, challenge.id, team.id, submission_input([owner.id]))
        subs.append(services.get_submission(version.submission_id))
    panel = [make_user(roles=("judge",)) for _ in range(judges)]
    for judge in panel:
        services.add_judge(innovation.id, challenge.id, judge.id)
    if phase == "judging":
        move_challenge_to(challenge, "judging")
        services.assign_judges(innovation.id, challenge.id, seed=1)
    return challenge, subs, panel


def score_all(challenge, subs, panel, values=None, lock=True):
    """Every assigned judge scores (flat `values[judge_index][sub_index]`, default 3) and locks."""
    criteria = challenge.criteria
    for j, judge in enumerate(panel):
        for s, sub in enumerate(subs):
            row = services._assignment(sub.id, judge.id)
            if row is None or row.state != "assigned":
                continue
            value = values[j][s] if values else 3
            services.save_scores(
                judge.id,
                sub.id,
                {c.id: value for c in criteria},
                {c.id: f"Comment {j}" for c in criteria},
                f"Feedback from judge {j} for submission {s}",
                lock=lock,
            )
