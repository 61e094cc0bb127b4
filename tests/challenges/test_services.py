"""Challenge rules: problem bank, rubric locking, terms, teams, registration, submissions,
archives, judging, results; every refusal leaves nothing half-saved."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from civic.challenges import services
from civic.challenges.models import (
    Challenge,
    ChallengeChange,
    ChallengeCriterion,
    Dataset,
    JudgeAssignment,
    JudgeScore,
    Problem,
    ProblemSupport,
    Submission,
    SubmissionVersion,
    TeamMember,
    TeamRegistration,
)
from civic.challenges.seeds import move_challenge_to
from civic.core.errors import Conflict, DomainError, NotAllowed
from civic.core.models import AuditEvent
from civic.core.time import utcnow
from civic.extensions import db
from tests.challenges.conftest import (
    MIT_TEXT,
    challenge_input,
    judged_challenge,
    make_challenge,
    registered,
    rubric,
    score_all,
    submission_input,
    tar_bytes,
    zip_bytes,
)

# -- Problem bank --------------------------------------------------------------------------------


def problem_input(**kw):
    fields = {
        "title": "Buses bunch",
        "what_goes_wrong": "Three buses arrive together.",
        "who_is_affected": "Commuters",
        "cost_today": "Complaints",
        "yearly_cost": "1 200 000",
    }
    fields.update(kw)
    return services.ProblemInput(**fields)


def test_staff_record_support_and_comment_problems(app, roads_staff, innovation, make_user):
    problem = services.create_problem(roads_staff.id, problem_input())
    assert problem.department.code == "roads" and str(problem.yearly_cost) == "1200000.00"
    services.support_problem(innovation.id, problem.id)
    services.support_problem(innovation.id, problem.id)  # twice: still one
    assert problem.supports_count == 1 and db.session.query(ProblemSupport).count() == 1
    services.comment_problem(innovation.id, problem.id, "We have the GPS feed.")
    assert [c.body for c in problem.comments] == ["We have the GPS feed."]
    with pytest.raises(NotAllowed):
        services.create_problem(make_user().id, problem_input())
    with pytest.raises(DomainError) as error:
        services.create_problem(roads_staff.id, problem_input(who_is_affected="  "))
    assert error.value.field == "who_is_affected"
    assert db.session.query(Problem).count() == 1


def test_a_challenge_links_problems_both_ways(app, roads_staff, innovation):
    problem = services.create_problem(roads_staff.id, problem_input())
    challenge = services.create_challenge(
        innovation.id, challenge_input(problem_ids=(problem.id,)), {"en": "Terms"}
    )
    assert [link.problem.title for link in challenge.problem_links] == ["Buses bunch"]
    assert [link.challenge.slug for link in problem.challenge_links] == [challenge.slug]
    assert problem.state == "in_challenge"


# -- Challenges, rubric, terms -----------------------------------------------------------------


def test_only_the_innovation_team_builds_challenges(app, roads_staff, innovation, admin):
    with pytest.raises(NotAllowed):
        services.create_challenge(roads_staff.id, challenge_input(), {"en": "Terms"})
    assert services.create_challenge(admin.id, challenge_input(), {"en": "Terms"}).slug
    assert services.is_innovation_team(innovation) and not services.is_innovation_team(roads_staff)


def test_phase_dates_must_follow_each_other(app, innovation):
    data = challenge_input()
    bad = challenge_input(submission_closes_at=data.submission_opens_at - timedelta(hours=1))
    with pytest.raises(DomainError, match="after the previous one"):
        services.create_challenge(innovation.id, bad, {"en": "Terms"})
    assert db.session.query(Challenge).count() == 0


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        (rubric((50, 30, 21)), "add up to 101; they must add up to 100"),
        (rubric((50, 50)), "3 to 6 criteria"),
        (rubric((20, 20, 20, 10, 10, 10, 10)), "3 to 6 criteria"),
        (rubric((0, 50, 50)), "whole number from 1 to 100"),
    ],
)
def test_bad_rubrics_are_refused_with_nothing_saved(app, innovation, criteria, message):
    challenge = services.create_challenge(innovation.id, challenge_input(), {"en": "Terms"})
    with pytest.raises(DomainError, match=message):
        services.set_rubric(innovation.id, challenge.id, criteria)
    assert db.session.query(ChallengeCriterion).count() == 0


def test_every_anchor_is_required(app, innovation):
    challenge = services.create_challenge(innovation.id, challenge_input(), {"en": "Terms"})
    criteria = rubric()
    del criteria[1].anchors["4"]
    with pytest.raises(DomainError, match="Criterion 2: describe what a score of 4 means"):
        services.set_rubric(innovation.id, challenge.id, criteria)


def test_publishing_needs_a_rubric_and_prizes_before_registration(app, innovation):
    challenge = services.create_challenge(innovation.id, challenge_input(), {"en": "Terms"})
    with pytest.raises(Conflict, match="rubric"):
        services.publish_challenge(innovation.id, challenge.id)
    services.set_rubric(innovation.id, challenge.id, rubric())
    with pytest.raises(Conflict, match="prizes"):
        services.publish_challenge(innovation.id, challenge.id)
    services.set_prizes(innovation.id, challenge.id, [services.PrizeInput("1000")])
    challenge.registration_opens_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    with pytest.raises(Conflict, match="before registration opens"):
        services.publish_challenge(innovation.id, challenge.id)
    challenge.registration_opens_at = utcnow() + timedelta(hours=1)
    db.session.commit()
    services.publish_challenge(innovation.id, challenge.id)
    assert services.current_phase(challenge) == "announced"


def test_rubric_locks_when_submissions_open_and_admin_changes_are_logged(app, innovation, admin):
    challenge = make_challenge(innovation.id, "registration")
    # Published but before submissions: the innovation team may change it, with a public reason.
    with pytest.raises(DomainError, match="reason"):
        services.set_rubric(innovation.id, challenge.id, rubric((40, 40, 20)))
    services.set_rubric(innovation.id, challenge.id, rubric((40, 40, 20)), "Balance quality")
    move_challenge_to(challenge, "submission")
    assert services.is_rubric_locked(challenge)
    with pytest.raises(NotAllowed, match="locked"):
        services.set_rubric(innovation.id, challenge.id, rubric((60, 20, 20)), "Why not")
    with pytest.raises(NotAllowed, match="administrator"):
        services.update_challenge(
            innovation.id,
            challenge.id,
            challenge_input(method="raw", **_dates(challenge)),
            "Simpler",
        )
    services.set_rubric(admin.id, challenge.id, rubric((60, 20, 20)), "Legal advice")
    assert [c.weight for c in challenge.criteria] == [60, 20, 20]
    changes = services.list_changes(challenge.id)
    assert [(c.kind, c.reason) for c in changes] == [
        ("rubric.change", "Balance quality"),
        ("rubric.change", "Legal advice"),
    ]
    assert changes[-1].before["criteria"][0]["weight"] == 40
    assert db.session.query(AuditEvent).filter_by(action="challenges.rubric.change").count() == 2


def _dates(challenge):
    return {
        "registration_opens_at": challenge.registration_opens_at,
        "submission_opens_at": challenge.submission_opens_at,
        "submission_closes_at": challenge.submission_closes_at,
        "results_due_at": challenge.results_due_at,
    }


def test_new_terms_version_must_be_accepted_again(app, challenge, make_team, innovation):
    team, owner, _ = registered(challenge, make_team)
    registration = services.get_registration(challenge.id, team.id)
    first = registration.acceptances[0]
    assert (first.version, first.accepted_by_id) == (1, owner.id) and first.accepted_at
    services.add_terms_version(
        innovation.id, challenge.id, {"en": "Delete after 3 months"}, "Shorter"
    )
    db.session.refresh(registration)
    assert not services.has_current_terms(registration)
    move_challenge_to(challenge, "submission")
    with pytest.raises(NotAllowed, match="accept the current version"):
        services.submit(owner.id, challenge.id, team.id, submission_input([owner.id]))
    services.accept_terms(owner.id, registration.id)
    db.session.refresh(registration)
    assert [a.version for a in registration.acceptances] == [1, 2]
    assert (
        services.submit(owner.id, challenge.id, team.id, submission_input([owner.id])).number == 1
    )
    assert services.list_changes(challenge.id)[-1].kind == "terms.version"


# -- Datasets ------------------------------------------------------------------------------------


def dataset_input(**kw):
    fields = {
        "title": {"en": "Stops"},
        "description": {},
        "file_kind": "csv",
        "licence": "CC-BY-4.0",
        "update_frequency": "never",
        "access": "open",
        "collection": "machine",
        "personalisation": "not_personal",
        "authorship": "official_bodies",
        "format_kind": "open",
        "refinement": "processed",
        "dimensions": ("spatial_2d",),
        "statistical_kind": "quantitative",
        "dynamics": "static",
    }
    fields.update(kw)
    return services.DatasetInput(**fields)


def stored_files(folder: str) -> set:
    """Files kept in upload storage under a folder (the folder is shared by the whole run)."""
    from civic.core.uploads import get_storage

    root = get_storage().root / folder
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


CSV = b"stop_id,name,lat,lon\nS1,Centro,-22.99,-46.69\nS2,Porto,-22.98,-46.62\n"


def test_personal_data_can_never_be_open(app, roads_staff):
    with pytest.raises(DomainError, match="Personal data can never be open") as error:
        services.create_dataset(
            roads_staff.id, dataset_input(personalisation="personal"), io.BytesIO(CSV), "s.csv"
        )
    assert error.value.field == "access"
    assert db.session.query(Dataset).count() == 0
    # The database refuses it too, whatever the code path.
    ok = services.create_dataset(roads_staff.id, dataset_input(), io.BytesIO(CSV), "s.csv")
    with pytest.raises(IntegrityError):
        db.session.execute(
            Dataset.__table__.update().where(Dataset.id == ok.id).values(personalisation="personal")
        )
    db.session.rollback()


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00binary"),
        ("json", b"stop_id,name\nS1,x\n"),
        ("geojson", b'{"name": "not geojson"}'),
        ("zip", b"plain text pretending"),
        ("gtfs", zip_bytes({"stops.txt": "stop_id\n1\n"})),
    ],
)
def test_a_file_whose_content_does_not_match_its_type_is_refused(app, roads_staff, kind, data):
    before = stored_files("datasets")
    with pytest.raises(DomainError) as error:
        services.create_dataset(
            roads_staff.id, dataset_input(file_kind=kind), io.BytesIO(data), "f"
        )
    assert error.value.field == "file"
    assert db.session.query(Dataset).count() == 0
    assert stored_files("datasets") == before


def test_registered_data_needs_a_challenge_and_a_known_licence(app, roads_staff):
    with pytest.raises(DomainError, match="needs a challenge"):
        services.create_dataset(
            roads_staff.id, dataset_input(access="registered"), io.BytesIO(CSV), "s.csv"
        )
    with pytest.raises(DomainError, match="SPDX"):
        services.create_dataset(
            roads_staff.id, dataset_input(licence="free-ish"), io.BytesIO(CSV), "s.csv"
        )
    with pytest.raises(NotAllowed):
        services.create_dataset(None, dataset_input(), io.BytesIO(CSV), "s.csv")


def test_dataset_upload_is_hashed_and_profiled(app, roads_staff):
    import hashlib

    dataset = services.create_dataset(roads_staff.id, dataset_input(), io.BytesIO(CSV), "s.csv")
    assert dataset.sha256 == hashlib.sha256(CSV).hexdigest() and dataset.size == len(CSV)
    assert dataset.profile_state == "ready" and dataset.profile["rows"] == 2  # inline job


# -- Access rules for every role --------------------------------------------------------------


ROLES = [
    "anonymous",
    "resident",
    "team_unregistered",
    "team_registered",
    "team_old_terms",
    "judge_on_panel",
    "judge_elsewhere",
    "staff",
    "admin",
]
EXPECTED = {
    "open": dict.fromkeys(ROLES, True),
    "registered": {
        "anonymous": False,
        "resident": False,
        "team_unregistered": False,
        "team_registered": True,
        "team_old_terms": False,
        "judge_on_panel": True,
        "judge_elsewhere": False,
        "staff": True,
        "admin": True,
    },
    "closed": {role: role in ("staff", "admin") for role in ROLES},
}


def person_for(role, challenge, make_user, make_team, innovation):
    """A user in the given role with respect to the challenge (None: anonymous)."""
    if role == "anonymous":
        return None
    if role == "resident":
        return make_user()
    if role == "team_unregistered":
        return make_team()[1]
    if role in ("team_registered", "team_old_terms"):
        _team, owner, _ = registered(challenge, make_team)
        if role == "team_old_terms":
            services.add_terms_version(innovation.id, challenge.id, {"en": "v2"}, "changed")
        return owner
    if role == "judge_on_panel":
        judge = make_user(roles=("judge",))
        services.add_judge(innovation.id, challenge.id, judge.id)
        return judge
    if role == "judge_elsewhere":
        return make_user(roles=("judge",))
    if role == "staff":
        return make_user(roles=("staff",))
    return make_user(roles=("admin",))


@pytest.mark.parametrize("access", ["open", "registered", "closed"])
@pytest.mark.parametrize("role", ROLES)
def test_dataset_access_rule_for_every_role(
    app, challenge, roads_staff, make_user, make_team, innovation, access, role
):
    dataset = services.create_dataset(
        roads_staff.id,
        dataset_input(access=access, challenge_id=challenge.id),
        io.BytesIO(CSV),
        "s.csv",
    )
    user = person_for(role, challenge, make_user, make_team, innovation)
    result = services.dataset_access(user, dataset)
    assert result.allowed is EXPECTED[access][role], (access, role, result.reason)
    if not result.allowed:
        assert str(result.reason)
    if role == "team_registered" and access == "registered":
        assert result.terms_version == 1 and result.team_id


# -- Teams and registration ----------------------------------------------------------------------


def test_creating_a_team_makes_a_team_member(app, make_user):
    user = make_user()
    team = services.create_team(user.id, "Rota Viva", "startup", "12.345", "BR")
    assert "team_member" in user.roles and team.members[0].is_owner
    with pytest.raises(DomainError) as error:
        services.create_team(user.id, "No number", "micro", "", "BR")
    assert error.value.field == "registration_number"
    with pytest.raises(DomainError) as error:
        services.create_team(user.id, "Nowhere", "student", None, "XX")
    assert error.value.field == "country"


def test_invitations_by_link_work_once(app, make_team, make_user):
    team, owner, _ = make_team()
    _invite, token = services.invite_member(owner.id, team.id)
    first, second = make_user(), make_user()
    services.accept_invite(first.id, token)
    with pytest.raises(Conflict, match="already been used"):
        services.accept_invite(second.id, token)
    assert {m.user_id for m in team.members} == {owner.id, first.id}
    with pytest.raises(NotAllowed):
        services.invite_member(first.id, team.id)  # not an owner


def test_email_invitations_are_for_that_address_and_expire(app, make_team, make_user):
    from civic.core.models import OutboxMessage

    team, owner, _ = make_team()
    invited = make_user(email="ana@example.org")
    invite, token = services.invite_member(owner.id, team.id, "Ana@Example.org")
    assert db.session.query(OutboxMessage).filter_by(recipient="ana@example.org").count() == 1
    with pytest.raises(NotAllowed, match="another e-mail"):
        services.accept_invite(make_user().id, token)
    invite.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    with pytest.raises(Conflict, match="expired"):
        services.accept_invite(invited.id, token)


def test_members_leave_and_teams_keep_an_owner(app, make_team):
    team, owner, (member,) = make_team(members=1)
    with pytest.raises(Conflict, match="needs an owner"):
        services.remove_member(owner.id, team.id, owner.id)
    with pytest.raises(NotAllowed):
        services.remove_member(member.id, team.id, owner.id)
    services.remove_member(member.id, team.id, member.id)  # leaving
    assert [m.user_id for m in team.members] == [owner.id]
    assert (
        db.session.query(AuditEvent).filter_by(action="challenges.team.remove_member").count() == 1
    )


@pytest.mark.parametrize(
    ("kind", "country", "message"),
    [("other", "BR", "open to"), ("startup", "AR", "teams from")],
)
def test_registration_checks_eligibility(app, innovation, make_team, kind, country, message):
    challenge = make_challenge(innovation.id, "registration", eligible_countries=("BR",))
    team, owner, _ = make_team(kind=kind, country=country)
    with pytest.raises(NotAllowed, match=message):
        services.register_team(owner.id, team.id, challenge.id, True, True)
    assert db.session.query(TeamRegistration).count() == 0


def test_registration_needs_rules_and_terms_accepted(app, challenge, make_team):
    team, owner, _ = make_team()
    with pytest.raises(DomainError) as error:
        services.register_team(owner.id, team.id, challenge.id, True, False)
    assert error.value.field == "accept_terms"
    with pytest.raises(DomainError) as error:
        services.register_team(owner.id, team.id, challenge.id, False, True)
    assert error.value.field == "accept_rules"
    services.register_team(owner.id, team.id, challenge.id, True, True)
    with pytest.raises(Conflict, match="already registered"):
        services.register_team(owner.id, team.id, challenge.id, True, True)


def test_staff_judges_and_double_entries_cannot_compete(
    app, challenge, make_team, make_user, innovation
):
    staff = make_user(roles=("staff",))
    team, owner, _ = make_team(owner=staff)
    with pytest.raises(NotAllowed, match="staff"):
        services.register_team(owner.id, team.id, challenge.id, True, True)
    judge = make_user(roles=("judge",))
    services.add_judge(innovation.id, challenge.id, judge.id)
    team, owner, _ = make_team(owner=judge)
    with pytest.raises(NotAllowed, match="judges this challenge"):
        services.register_team(judge.id, team.id, challenge.id, True, True)
    first, person, _ = registered(challenge, make_team)
    second = services.create_team(person.id, "Second", "startup", "1", "BR")
    with pytest.raises(Conflict, match="another team"):
        services.register_team(person.id, second.id, challenge.id, True, True)


def test_registration_closes_with_the_deadline(app, challenge, make_team):
    move_challenge_to(challenge, "judging")
    team, owner, _ = make_team()
    with pytest.raises(Conflict, match="not open"):
        services.register_team(owner.id, team.id, challenge.id, True, True)


# -- Submissions -------------------------------------------------------------------------------


@pytest.fixture
def entrant(app, challenge, make_team):
    team, owner, _ = registered(challenge, make_team)
    move_challenge_to(challenge, "submission")
    return challenge, team, owner


def test_every_version_is_kept_and_the_judged_one_is_the_last_before_the_deadline(app, entrant):
    challenge, team, owner = entrant
    services.submit(owner.id, challenge.id, team.id, submission_input([owner.id], title="First"))
    v2 = services.submit(
        owner.id, challenge.id, team.id, submission_input([owner.id], title="Second")
    )
    submission = services.get_submission(v2.submission_id)
    assert [v.title for v in submission.versions] == ["First", "Second"]
    assert [v.number for v in submission.versions] == [1, 2]
    move_challenge_to(challenge, "judging")
    assert services.judged_version(submission).title == "Second"
    # A version stamped after the deadline (e.g. a clock skew) is never the judged one.
    late = SubmissionVersion(
        submission_id=submission.id,
        number=3,
        title="Late",
        summary="x",
        repository_url="https://x.org/y",
        licence="MIT",
        created_at=challenge.submission_closes_at + timedelta(seconds=1),
    )
    db.session.add(late)
    db.session.commit()
    db.session.refresh(submission)
    assert services.judged_version(submission).title == "Second"


def test_late_submission_is_refused_with_the_server_time(app, entrant):
    challenge, team, owner = entrant
    move_challenge_to(challenge, "judging")
    with pytest.raises(Conflict) as error:
        services.submit(owner.id, challenge.id, team.id, submission_input([owner.id]))
    message = str(error.value.message)
    assert "The deadline was" in message and "The server received this at" in message
    assert str(utcnow().year) in message
    assert db.session.query(Submission).count() == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("repository_url", "http://git.example.org/team/app", "https://"),
        ("repository_url", "https://", "valid web address"),
        ("repository_url", "https://user:pw@git.example.org/a", "valid web address"),
        ("repository_url", "https://localhost/a", "valid web address"),
        ("repository_url", "https://git.example.org", "repository itself"),
        ("repository_url", "javascript:alert(1)", "https://"),
        ("licence", "CC-BY-4.0", "not approved by the Open Source Initiative"),
        ("licence", "Proprietary-1.0", "not an SPDX licence identifier"),
        ("licence", "", "SPDX identifier"),
        ("demo_url", "", "address"),
        ("build_cost", "", "estimate"),
        ("build_cost", "-5", "zero or more"),
        ("member_ids", (), "team members"),
    ],
)
def test_bad_submissions_are_refused_with_nothing_saved(app, entrant, field, value, message):
    challenge, team, owner = entrant
    members = value if field == "member_ids" else [owner.id]
    overrides = {} if field == "member_ids" else {field: value}
    with pytest.raises(DomainError, match=message) as error:
        services.submit(owner.id, challenge.id, team.id, submission_input(members, **overrides))
    expected_field = "members" if field == "member_ids" else field
    assert error.value.field == expected_field
    assert db.session.query(Submission).count() == 0
    assert db.session.query(SubmissionVersion).count() == 0


def test_licences_are_canonicalised(app, entrant):
    challenge, team, owner = entrant
    version = services.submit(
        owner.id, challenge.id, team.id, submission_input([owner.id], licence="agpl-3.0-or-later")
    )
    assert version.licence == "AGPL-3.0-or-later"


def _archive_submit(entrant, data, name):
    challenge, team, owner = entrant
    return services.submit(
        owner.id,
        challenge.id,
        team.id,
        submission_input([owner.id], archive=io.BytesIO(data), archive_name=name),
    )


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (zip_bytes({"../evil.py": "x"}), "src.zip", "leaves its folder"),
        (zip_bytes({"/etc/passwd": "x"}), "src.zip", "leaves its folder"),
        (zip_bytes({"a/LICENSE": MIT_TEXT}, symlinks={"a/link": "/etc/passwd"}), "src.zip", "link"),
        (tar_bytes({"a/x.py": b"x"}, symlinks={"a/link": "/etc"}), "src.tar.gz", "link"),
        (tar_bytes({"../../x.py": b"x"}), "src.tgz", "leaves its folder"),
        (zip_bytes({"bomb.txt": b"0" * (30 * 1024 * 1024)}), "src.zip", "zip bomb"),
        (zip_bytes({"a.txt": "x"}), "src.tar.gz", "does not match"),
        (b"not an archive at all", "src.zip", "does not match"),
        (zip_bytes({"a.txt": "x"}), "src.rar", ".zip or .tar.gz"),
    ],
)
def test_dangerous_archives_are_refused_at_submission(app, entrant, data, name, message):
    before = stored_files("submissions")
    with pytest.raises(DomainError, match=message) as error:
        _archive_submit(entrant, data, name)
    assert error.value.field == "archive"
    assert db.session.query(SubmissionVersion).count() == 0
    assert stored_files("submissions") == before


def test_archive_is_unpacked_and_its_licence_checked(app, entrant):
    version = _archive_submit(
        entrant, zip_bytes({"app-main/LICENSE": MIT_TEXT, "app-main/a.py": "1"}), "app.zip"
    )
    db.session.refresh(version)
    assert version.archive_state == "ok"  # the job ran inline
    assert version.licence_check == "match" and version.licence_file == "app-main/LICENSE"
    assert {e["name"] for e in version.archive_listing} == {"app-main/LICENSE", "app-main/a.py"}


def test_concurrent_revisions_get_distinct_version_numbers(app, entrant):
    challenge, team, owner = entrant
    challenge_id, team_id, owner_id = challenge.id, team.id, owner.id
    barrier = threading.Barrier(8)
    errors = []

    def revise(n):
        with app.app_context():
            try:
                barrier.wait()
                services.submit(
                    owner_id, challenge_id, team_id, submission_input([owner_id], title=f"T{n}")
                )
            except Exception as exc:  # collected and asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=revise, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.session.query(Submission).count() == 1
    numbers = sorted(v.number for v in db.session.query(SubmissionVersion))
    assert numbers == list(range(1, 9))


# -- Judging -----------------------------------------------------------------------------------


def test_balanced_assignment_gives_three_judges_each(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=4, judges=4)
    rows = services.list_assignments(challenge.id)
    per_sub = {s.id: sum(1 for r in rows if r.submission_id == s.id) for s in subs}
    loads = sorted(sum(1 for r in rows if r.judge_id == j.id) for j in panel)
    assert set(per_sub.values()) == {3} and loads == [3, 3, 3, 3]


def test_assignment_waits_for_the_deadline(app, innovation, make_user, make_team):
    challenge, _subs, _panel = judged_challenge(
        innovation, make_user, make_team, phase="submission"
    )
    with pytest.raises(Conflict, match="deadline"):
        services.assign_judges(innovation.id, challenge.id)


def test_conflict_of_interest_reassigns_and_blocks_scoring(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=2, judges=4)
    sub = subs[0]
    row = next(r for r in services.list_assignments(challenge.id) if r.submission_id == sub.id)
    judge = row.judge
    replacement = services.declare_conflict(judge.id, row.id, "I advised this team last year.")
    assert replacement is not None and replacement.judge_id != judge.id
    active = [
        r
        for r in services.list_assignments(challenge.id)
        if r.submission_id == sub.id and r.state == "assigned"
    ]
    assert len(active) == 3 and judge.id not in {r.judge_id for r in active}
    with pytest.raises(NotAllowed, match="conflict of interest"):
        services.save_scores(judge.id, sub.id, {c.id: 3 for c in challenge.criteria}, {}, "x")
    # The manual assignment cannot put the judge back either.
    with pytest.raises(Conflict, match="conflict of interest"):
        services.assign_judge(innovation.id, sub.id, judge.id)


def test_unassigned_judges_and_bad_scores_are_refused(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=2, judges=3)
    outsider = make_user(roles=("judge",))
    criteria = challenge.criteria
    with pytest.raises(NotAllowed, match="not assigned"):
        services.save_scores(outsider.id, subs[0].id, {c.id: 3 for c in criteria}, {}, "x")
    for bad in (6, -1, True, "3"):
        with pytest.raises(DomainError, match="0 to 5"):
            services.save_scores(panel[0].id, subs[0].id, {criteria[0].id: bad}, {}, "x")
    assert db.session.query(JudgeScore).count() == 0


def test_database_keeps_one_score_per_judge_submission_and_criterion(
    app, innovation, make_user, make_team
):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=1, judges=3)
    criterion = challenge.criteria[0]
    db.session.add(
        JudgeScore(
            submission_id=subs[0].id, judge_id=panel[0].id, criterion_id=criterion.id, value=3
        )
    )
    db.session.commit()
    db.session.add(
        JudgeScore(
            submission_id=subs[0].id, judge_id=panel[0].id, criterion_id=criterion.id, value=4
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(
        JudgeScore(
            submission_id=subs[0].id, judge_id=panel[1].id, criterion_id=criterion.id, value=6
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_concurrent_score_saves_leave_one_row_per_criterion(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=1, judges=3)
    judge_id, sub_id = panel[0].id, subs[0].id
    criteria = [c.id for c in challenge.criteria]
    barrier = threading.Barrier(20)
    errors = []

    def save(n):
        with app.app_context():
            try:
                barrier.wait()
                services.save_scores(judge_id, sub_id, {c: n % 6 for c in criteria}, {}, f"f{n}")
            except Exception as exc:  # collected and asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=save, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = db.session.query(JudgeScore).filter_by(judge_id=judge_id, submission_id=sub_id).all()
    assert sorted(r.criterion_id for r in rows) == sorted(criteria)
    assert len({r.value for r in rows}) == 1  # one request's values won, whole


def test_locking_needs_every_criterion_and_feedback_then_freezes(
    app, innovation, make_user, make_team, admin
):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=1, judges=3)
    judge, sub = panel[0], subs[0]
    criteria = challenge.criteria
    with pytest.raises(DomainError, match="Score every criterion"):
        services.save_scores(judge.id, sub.id, {criteria[0].id: 4}, {}, "Good", lock=True)
    assert services.my_scores(judge.id, sub.id)[criteria[0].id].value == 4  # the draft is kept
    with pytest.raises(DomainError, match="feedback"):
        services.save_scores(judge.id, sub.id, {c.id: 4 for c in criteria}, {}, "", lock=True)
    row = services.save_scores(judge.id, sub.id, {c.id: 4 for c in criteria}, {}, "Good", lock=True)
    assert row.locked_at is not None
    with pytest.raises(Conflict, match="locked"):
        services.save_scores(judge.id, sub.id, {c.id: 1 for c in criteria}, {}, "Changed")
    with pytest.raises(NotAllowed):
        services.reopen_scores(innovation.id, row.id, "Typo")
    with pytest.raises(DomainError):
        services.reopen_scores(admin.id, row.id, "  ")
    services.reopen_scores(admin.id, row.id, "The judge entered criterion 2 in the wrong row.")
    change = db.session.query(ChallengeChange).filter_by(kind="scores.reopen").one()
    assert change.before["scores"] == {str(c.id): 4 for c in criteria} and not change.is_public
    assert db.session.query(AuditEvent).filter_by(action="challenges.scores.reopen").count() == 1
    services.save_scores(judge.id, sub.id, {c.id: 2 for c in criteria}, {}, "Fixed", lock=True)
    assert {s.value for s in services.my_scores(judge.id, sub.id).values()} == {2}


def test_judges_see_other_scores_only_after_locking(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=1, judges=3)
    sub = subs[0]
    criteria = challenge.criteria
    services.save_scores(panel[1].id, sub.id, {c.id: 5 for c in criteria}, {}, "Great", lock=True)
    with pytest.raises(NotAllowed, match="Lock your own scores first"):
        services.panel_view(panel[0].id, sub.id)
    services.save_scores(panel[0].id, sub.id, {c.id: 3 for c in criteria}, {}, "Fine", lock=True)
    view = services.panel_view(panel[0].id, sub.id)
    assert [s["label"] for s in view["sheets"]] == [1]
    assert view["sheets"][0]["scores"] == {c.id: 5 for c in criteria}
    assert view["my_mean"] == 3 and view["panel_mean"] == 4
    assert "judge_id" not in view["sheets"][0]


# -- Results -----------------------------------------------------------------------------------


def test_publishing_needs_locked_sheets_and_resolved_flags(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=3, judges=3)
    # Judge 3 disagrees sharply on submission 1 (5 vs 1 -> needs consensus).
    values = [[5, 3, 2], [5, 3, 2], [1, 3, 2]]
    score_all(challenge, subs, panel, values, lock=False)
    with pytest.raises(Conflict, match="not locked"):
        services.publish_results(innovation.id, challenge.id)
    score_all(challenge, subs, panel, values, lock=True)
    outcome = services.compute_outcome(challenge.id)
    assert outcome.needs_consensus() == (subs[0].id,)
    with pytest.raises(Conflict, match="consensus"):
        services.publish_results(innovation.id, challenge.id)
    services.record_consensus(innovation.id, subs[0].id, "Judge 3 missed the demo; scores stand.")
    result = services.publish_results(innovation.id, challenge.id)
    assert result.method == "z" and challenge.results_published_at is not None
    assert services.current_phase(challenge) == "results"
    places = {p.place: p.awarded_submission_id for p in challenge.prizes}
    assert places == {1: subs[0].id, 2: subs[1].id}
    with pytest.raises(Conflict, match="already published"):
        services.publish_results(innovation.id, challenge.id)
    with pytest.raises(Conflict):
        services.reopen_scores(
            make_user(roles=("admin",)).id, services.list_assignments(challenge.id)[0].id, "late"
        )


def test_method_sensitive_results_need_a_note(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=3, judges=3)
    # Raw: S1 = 60, S2 = 46.7; Borda puts S2 first (see test_scoring's worked example).
    values = [[5, 1, 0], [2, 3, 0], [2, 3, 0]]
    score_all(challenge, subs, panel, values)
    outcome = services.compute_outcome(challenge.id)
    for scored in outcome.ranking:
        if scored.needs_consensus:
            services.record_consensus(innovation.id, scored.submission_id, "Discussed.")
    assert outcome.method_sensitive
    with pytest.raises(DomainError, match="differ between methods") as error:
        services.publish_results(innovation.id, challenge.id)
    assert error.value.field == "method_note"
    result = services.publish_results(innovation.id, challenge.id, "The method was announced.")
    assert result.outcome["method_sensitive"] and result.method_note == "The method was announced."


def test_teams_read_compiled_feedback_after_results(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=2, judges=3)
    score_all(challenge, subs, panel)
    owner = db.session.query(TeamMember).filter_by(team_id=subs[0].team_id).first().user
    assert services.team_feedback(owner, subs[0]) is None  # not before publication
    services.publish_results(innovation.id, challenge.id)
    feedback = services.team_feedback(owner, subs[0])
    assert len(feedback["feedback"]) == 3 and feedback["entry"]["rank"] in (1, 2)
    assert all("Feedback from judge" in text for text in feedback["feedback"])
    other_owner = db.session.query(TeamMember).filter_by(team_id=subs[1].team_id).first().user
    with pytest.raises(NotAllowed):
        services.team_feedback(other_owner, subs[0])


def test_scores_csv_names_judges_only_for_staff(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=2, judges=3)
    score_all(challenge, subs, panel)
    services.publish_results(innovation.id, challenge.id)
    public = services.scores_csv(challenge.id)
    assert public.splitlines()[0].startswith("rank,submission,team,title,repository,licence,method")
    assert "Criterion 1 (raw mean 0-5)" in public
    assert all(j.display_name not in public for j in panel)
    staff = services.scores_csv(challenge.id, include_judges=True)
    assert all(j.display_name in staff for j in panel)


def test_feedback_thread_is_for_the_team_and_staff(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=1, judges=3)
    owner = db.session.query(TeamMember).filter_by(team_id=subs[0].team_id).first().user
    services.post_message(owner.id, subs[0].id, "Thanks for the feedback!")
    services.post_message(innovation.id, subs[0].id, "Come to the depot on Monday.")
    assert [m.is_staff for m in services.list_messages(subs[0].id)] == [False, True]
    with pytest.raises(NotAllowed):
        services.post_message(panel[0].id, subs[0].id, "Judges stay out.")
    with pytest.raises(NotAllowed):
        services.post_message(make_user().id, subs[0].id, "Stranger")


def test_team_is_frozen_while_judged(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=1, judges=3)
    owner = db.session.query(TeamMember).filter_by(team_id=subs[0].team_id).first().user
    with pytest.raises(Conflict, match="frozen"):
        services.invite_member(owner.id, subs[0].team_id)


def test_judge_with_assignments_stays_on_the_panel(app, innovation, make_user, make_team):
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=1, judges=3)
    with pytest.raises(Conflict):
        services.remove_judge(innovation.id, challenge.id, panel[0].id)
    assert db.session.query(JudgeAssignment).count() == 3
