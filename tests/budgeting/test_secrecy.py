"""Ballot secrecy: no staff page, export or API joins a person to what they voted."""

import re

from sqlalchemy import inspect

from civic.budgeting import services
from civic.budgeting.models import Ballot, BallotKey, VoterRecord
from civic.core.models import AuditEvent
from civic.extensions import db
from tests.budgeting.conftest import open_vote

PASSWORD = "correct-horse-battery"


def test_ballot_table_holds_nothing_that_points_at_a_person_or_a_moment(app):
    columns = {c["name"] for c in inspect(db.engine).get_columns("ballot")}
    assert columns == {"id", "budget_id", "pseudonym", "paper_number", "choices"}
    foreign = inspect(db.engine).get_foreign_keys("ballot")
    assert [fk["referred_table"] for fk in foreign] == ["budget"]
    voter_columns = {c["name"] for c in inspect(db.engine).get_columns("voter_record")}
    assert voter_columns == {"id", "budget_id", "user_id"}


def _vote(city, make_user, districts, n=8):
    voters = []
    codes = [p.code for p in city.knapsack.projects]
    for i in range(n):
        voter = make_user(verified_district=districts["centro"], display_name=f"Secret Voter {i}")
        services.cast_ballot(voter.id, city.knapsack.id, {codes[i % len(codes)]: 1})
        voters.append(voter)
    return voters


def test_ballot_ids_are_random_not_in_voting_order(app, city, make_user, districts):
    open_vote(city)
    _vote(city, make_user, districts, n=8)
    ids = [b.id for b in db.session.query(Ballot).all()]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == 8


def test_key_is_destroyed_at_close_so_no_one_can_link_again(app, city, make_user, districts):
    open_vote(city)
    voters = _vote(city, make_user, districts)
    assert services.my_ballot(voters[0].id, city.knapsack.id) is not None
    services.set_phase(city.staff_id, city.process.id, "results")
    assert db.session.query(BallotKey).count() == 0
    for voter in voters:
        assert services.my_ballot(voter.id, city.knapsack.id) is None
    # Who voted is still known (turnout), what they voted is not linkable.
    assert db.session.query(VoterRecord).count() == len(voters)


def test_no_staff_page_or_export_shows_a_ballot_with_its_voter(
    app, city, make_user, districts, staff
):
    open_vote(city)
    voters = _vote(city, make_user, districts)
    pseudonyms = [b.pseudonym for b in db.session.query(Ballot).all()]
    admin = make_user(roles=("admin", "staff"))
    client = app.test_client()
    client.post("/account/login", data={"email": admin.email, "password": PASSWORD})
    slug, kid = city.process.slug, city.knapsack.id

    def pages():
        urls = [
            "/budgets/",
            f"/budgets/{slug}",
            f"/budgets/{slug}/manage",
            f"/budgets/{slug}/ideas",
            f"/budgets/{slug}/paper/{kid}",
            f"/budgets/{slug}/results/{kid}",
            f"/budgets/results/{kid}.pb",
            "/budgets/projects",
            "/budgets/map.geojson",
            "/admin/audit",
            "/admin/jobs",
            "/admin/users",
            *[f"/admin/users/{v.id}" for v in voters],
        ]
        for url in urls:
            response = client.get(url)
            yield url, response.get_data(as_text=True)

    services.set_phase(city.staff_id, city.process.id, "results")
    services.publish_results(city.staff_id, kid)
    for url, body in pages():
        for pseudonym in pseudonyms:
            assert pseudonym not in body, url
        # A voter's page in the back office says nothing about their ballot.
        if url.startswith("/admin/users/"):
            for project in city.knapsack.projects:
                assert project.code not in body and "City project" not in body, url
    # The anonymised file numbers voters 1..n: no user id, name or e-mail.
    pb = client.get(f"/budgets/results/{kid}.pb").get_data(as_text=True)
    votes = pb.split("VOTES")[1].strip().splitlines()[1:]
    assert sorted(int(line.split(";")[0]) for line in votes) == list(range(1, len(voters) + 1))
    for voter in voters:
        assert voter.email not in pb and voter.display_name not in pb
    # The audit log records paper ballots by number, never online ballot contents.
    for event in db.session.query(AuditEvent).all():
        text = f"{event.before} {event.after}"
        for pseudonym in pseudonyms:
            assert pseudonym not in text


def test_a_voter_sees_only_their_own_ballot(app, city, make_user, districts):
    open_vote(city)
    first, second = _vote(city, make_user, districts, n=2)
    client = app.test_client()
    client.post("/account/login", data={"email": second.email, "password": PASSWORD})
    page = client.get(f"/budgets/{city.process.slug}/vote/{city.knapsack.id}").get_data(
        as_text=True
    )
    first_code = city.knapsack.projects[0].code
    second_code = city.knapsack.projects[1].code
    assert re.search(rf'value="{second_code}" checked', page)
    assert not re.search(rf'value="{first_code}" checked', page)
