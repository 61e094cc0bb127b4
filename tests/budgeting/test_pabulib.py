"""Reading, writing and recounting Pabulib (.pb) files."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from civic.budgeting.pabulib import (
    PabulibError,
    ProjectInfo,
    load_pb,
    parse_pb,
    read_pb,
    recount,
    write_pb,
)
from civic.budgeting.tally import APPROVAL, CUMULATIVE, ORDINAL, Ballot, Election, Project

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "pabulib-sample"


def test_tolerates_what_pabutools_tolerates():
    # BOM, lower-case section title, blank lines, comma decimals, quoted cells with ';' and '"',
    # None cells, an empty ballot, the same ballot written in two orders.
    pb = read_pb(FIXTURES / "tiny_approval.pb")
    election = pb.election
    assert election.kind == APPROVAL and pb.vote_type == "approval"
    assert election.budget == Fraction(201, 2)
    assert [(p.id, p.cost) for p in election.projects] == [
        ("9", 50),
        ("10", 50),
        ("3", Fraction(61, 2)),
        ("4", 0),
        ("5", 120),
    ]
    assert election.voters == 8
    assert {b.projects: b.weight for b in election.ballots} == {
        ("9", "10"): 2,
        ("9",): 1,
        ("9", "3"): 1,
        ("10", "3", "5"): 1,
        ("4",): 1,
        ("5",): 1,
        (): 1,
    }
    park, library, bench, rack, _ = pb.projects
    assert park.name == "Park; phase 1" and park.categories == ("green", "kids")
    assert (park.latitude, park.longitude, park.votes) == (52.1, 21.0, 4)
    assert library.name == 'Library "Nowa"' and library.latitude is None
    assert "latitude" not in library.columns  # a None cell is dropped, as pabutools does
    assert bench.categories == () and rack.categories == ()
    assert pb.meta["description"] == "Tiny hand-made approval election"
    assert pb.vote_columns == ("voter_id", "vote")


# Outcomes checked against pabutools 1.2.3 on the same files (its Phragmén returns them sorted).
FIXTURE_OUTCOMES = {
    "tiny_approval.pb": {
        "greedy": ["9", "10", "4"],
        "greedy-cost": ["4", "9", "3"],
        "mes": ["9"],
        "mes-greedy": ["9", "10", "4"],
        "mes-add1": ["9", "3"],
        "mes-add1-greedy": ["9", "3", "4"],
        "phragmen": ["3", "4", "9"],
    },
    "tiny_cumulative.pb": {
        "greedy": ["a", "c"],
        "greedy-cost": ["c", "a"],
        "mes": ["c"],
        "mes-greedy": ["c", "a"],
        "mes-add1": ["a", "c"],
        "mes-add1-greedy": ["a", "c"],
    },
    "tiny_ordinal.pb": {"greedy": ["B", "C"], "mes": ["B"]},
}


@pytest.mark.parametrize(
    ("name", "rule", "expected"),
    [
        pytest.param(name, rule, expected, id=f"{name}-{rule}")
        for name, outcomes in FIXTURE_OUTCOMES.items()
        for rule, expected in outcomes.items()
    ],
)
def test_fixture_outcomes_match_pabutools(name, rule, expected):
    result = recount(FIXTURES / name, rule)
    assert result["selected"] == sorted(expected)
    if rule != "phragmen":
        assert result["order"] == expected


def test_cumulative_ballots_read_like_pabutools():
    election = read_pb(FIXTURES / "tiny_cumulative.pb").election
    assert election.kind == CUMULATIVE
    assert [(b.projects, b.points, b.weight) for b in election.ballots] == [
        (("a", "b"), (7, 3), 1),
        (("b", "c"), (5, 5), 1),
        (("c",), (10,), 1),
        (("a",), (10,), 1),
        ((), (), 1),  # points given as None: an empty ballot
        (("a",), (7,), 1),  # "a,a" with "3,7": the last value wins
    ]


def test_sections_in_any_order_and_case():
    election = read_pb(FIXTURES / "tiny_ordinal.pb").election
    assert election.kind == ORDINAL and election.budget == 50
    assert [(b.projects, b.weight) for b in election.ballots] == [
        (("A", "B", "C"), 2),
        (("B", "C", "A"), 1),
    ]


HEAD = "META\nkey;value\nbudget;100\nvote_type;approval\n"
MALFORMED = {
    "data before any section": ("hello;world\n" + HEAD, 1, "section title"),
    "META row without value": ("META\nkey;value\nbudget\n", 3, "key and a value"),
    "no header after a title": ("META\n", 1, "no header line"),
    "non-numeric cost": (
        (FIXTURES / "malformed_cost.pb").read_text(),
        8,
        "'forty' is not a number",
    ),
    "negative cost": (HEAD + "PROJECTS\nproject_id;cost\n1;-5\n", 7, "negative cost"),
    "missing cost column": (HEAD + "PROJECTS\nproject_id;name\n1;Park\n", 7, "has no cost"),
    "cost given as None": (HEAD + "PROJECTS\nproject_id;cost\n1;None\n", 7, "has no cost"),
    "duplicate project": (HEAD + "PROJECTS\nproject_id;cost\n1;5\n1;6\n", 8, "duplicate project"),
    "empty project id": (HEAD + "PROJECTS\nproject_id;cost\n ;5\n", 7, "empty project id"),
    "more cells than columns": (HEAD + "PROJECTS\nproject_id;cost\n1;5;x\n", 7, "3 cells"),
    "unknown project in a vote": (
        (FIXTURES / "malformed_unknown_project.pb").read_text(),
        12,
        "unknown project '7'",
    ),
    "vote missing": (
        HEAD + "PROJECTS\nproject_id;cost\n1;5\nVOTES\nvoter_id;vote\n1;None\n",
        10,
        "has no vote",
    ),
    "no vote_type before VOTES": (
        "META\nkey;value\nbudget;100\nPROJECTS\nproject_id;cost\n1;5\nVOTES\nvoter_id;vote\n1;1\n",
        9,
        "no vote_type",
    ),
    "unsupported vote type": (
        "META\nkey;value\nbudget;100\nvote_type;quadratic\nPROJECTS\nproject_id;cost\n1;5\n"
        "VOTES\nvoter_id;vote\n1;1\n",
        10,
        "unsupported vote_type 'quadratic'",
    ),
    "points not a number": (
        "META\nkey;value\nbudget;100\nvote_type;cumulative\nPROJECTS\nproject_id;cost\n1;5\n"
        "VOTES\nvoter_id;vote;points\n1;1;x\n",
        10,
        "points 'x' is not a number",
    ),
    "fewer points than projects": (
        "META\nkey;value\nbudget;100\nvote_type;cumulative\nPROJECTS\nproject_id;cost\n1;5\n2;5\n"
        "VOTES\nvoter_id;vote;points\n1;1,2;3\n",
        11,
        "only 1 points",
    ),
    "budget not a number": ("META\nkey;value\nbudget;lots\nvote_type;approval\n", 3, "budget"),
    "no budget": ("META\nkey;value\nvote_type;approval\n", None, "no budget"),
}


@pytest.mark.parametrize(("text", "line", "fragment"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_files_name_the_line(text, line, fragment):
    with pytest.raises(PabulibError) as caught:
        parse_pb(text)
    assert caught.value.line_number == line
    assert fragment in str(caught.value)
    if line is not None:
        assert str(caught.value).startswith(f"line {line}: ")


def test_a_quoted_cell_may_span_lines():
    text = HEAD + 'PROJECTS\nproject_id;cost;name\n1;5;"two\nlines"\n2;x;y\n'
    with pytest.raises(PabulibError, match="^line 9: "):
        parse_pb(text)


@pytest.mark.parametrize("name", ["tiny_approval.pb", "tiny_cumulative.pb", "tiny_ordinal.pb"])
def test_write_then_read_gives_the_same_election(name):
    pb = read_pb(FIXTURES / name)
    text = write_pb(pb.election, pb.meta, pb.projects)
    again = parse_pb(text)
    assert again.election == pb.election
    assert again.projects == pb.projects
    assert again.meta["num_votes"] == str(pb.election.voters)
    for key, value in pb.meta.items():
        if key not in ("num_votes", "num_projects", "budget"):
            assert again.meta[key] == value


def test_export_is_anonymous_and_keeps_project_details():
    election = Election(
        Fraction(2828094_61, 100),
        (Project("A1", 1000), Project("B;2", Fraction(1, 3))),
        (Ballot(("A1",), (), 2), Ballot(("A1", "B;2"))),
    )
    info = [ProjectInfo("A1", name='Park "Nowy"; north', categories=("green",), latitude=52.5)]
    text = write_pb(election, {"description": "Export", "age_note": "x"}, info)
    lines = text.splitlines()
    assert "budget;2828094.61" in lines
    assert lines[lines.index("VOTES") + 1 :] == ["voter_id;vote", "1;A1", "2;A1", '3;"A1,B;2"']
    pb = parse_pb(text)
    assert pb.election == election
    assert pb.projects[0].name == 'Park "Nowy"; north'
    assert pb.projects[0].categories == ("green",) and pb.projects[0].latitude == 52.5
    assert pb.election.projects[1].cost == Fraction(1, 3)


def test_recount_is_json_ready():
    result = recount(FIXTURES / "tiny_approval.pb", "mes-add1-greedy")
    assert json.loads(json.dumps(result)) == result
    assert result == {
        "rule": "mes-add1-greedy",
        "pabutools_rule": "mes_cost_add1_util",
        "vote_type": "approval",
        "voters": 8,
        "budget": "100.5",
        "total_cost": "80.5",
        "selected": ["3", "4", "9"],
        "order": ["9", "3", "4"],
    }


def test_recount_accepts_text_and_reads_rankings_as_approval():
    text = (FIXTURES / "tiny_ordinal.pb").read_text()
    assert load_pb(text).election == read_pb(FIXTURES / "tiny_ordinal.pb").election
    result = recount(text, "mes-add1", read_as_approval=True)
    assert result["pabutools_rule"] == "mes_cost_add1" and result["vote_type"] == "ordinal"
    with pytest.raises(ValueError, match="not defined for ordinal"):
        recount(text, "mes-add1")


SAMPLE_FILES = sorted(SAMPLE.glob("*.pb")) if SAMPLE.exists() else []


@pytest.mark.parametrize("path", SAMPLE_FILES or [None], ids=lambda p: p.stem if p else "missing")
def test_sample_files_round_trip(path):
    if path is None:
        pytest.skip(f"the Pabulib sample is not at {SAMPLE}")
    pb = read_pb(path)
    assert pb.election.voters > 0 and len(pb.projects) == len(pb.election.projects)
    again = parse_pb(write_pb(pb.election, pb.meta, pb.projects))
    assert again.election == pb.election
    assert again.projects == pb.projects
