"""Tally rules: hand-worked cases, a naive exact MES on random elections, and every reference
outcome of pabutools 1.2.3 in the Pabulib sample (../shared/pabulib-sample)."""

from __future__ import annotations

import json
import random
from fractions import Fraction
from functools import cache
from pathlib import Path

import pytest

from civic.budgeting.pabulib import PABUTOOLS_RULES, read_pb
from civic.budgeting.tally import (
    APPROVAL,
    CUMULATIVE,
    ORDINAL,
    RULES,
    Ballot,
    Election,
    Project,
    as_approval,
    rules_for,
    tally,
)

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "pabulib-sample"
REFERENCE = SAMPLE / "reference_outcomes.json"


def approval(budget, costs: dict, ballots: list[tuple[tuple[str, ...], int]]) -> Election:
    projects = tuple(Project(pid, cost) for pid, cost in costs.items())
    return Election(budget, projects, tuple(Ballot(ids, (), w) for ids, w in ballots))


# --------------------------------------------------------------------------------------------
# Hand-worked cases. Every expectation was worked out on paper (the reasoning is in the comment)
# and agrees with pabutools 1.2.3, whose Phragmén returns its selection sorted by id.

ALL = tuple(RULES)
CASES = {
    # Equal support and cost: the smaller id in string order wins, and "10" < "9". Each voter
    # holds 25 < 50, so MES funds nothing and Phragmén stops when "9" no longer fits.
    "tie by id string": (
        approval(50, {"9": 50, "10": 50}, [(("9",), 1), (("10",), 1)]),
        dict.fromkeys(ALL, ["10"]) | {"mes": [], "mes-add1": []},
    ),
    # With 50 each, MES funds both at rho = 1, "10" first.
    "MES tie by id string": (
        approval(100, {"9": 50, "10": 50}, [(("9",), 1), (("10",), 1)]),
        dict.fromkeys(ALL, ["10", "9"]),
    ),
    "tie c14 before c5": (
        approval(50, {"c5": 50, "c14": 50}, [(("c5",), 1), (("c14",), 1)]),
        dict.fromkeys(ALL, ["c14"]) | {"mes": [], "mes-add1": []},
    ),
    # Greedy takes A (3 votes, 80), skips B (110 > 100), takes C. Per voter 100/6: only B's two
    # supporters can pay (33.3 >= 30). Phragmén: loads A 80/3, B 15, C 20 -> B, C, then A would
    # overspend and it stops.
    "greedy skips what does not fit": (
        approval(100, {"A": 80, "B": 30, "C": 20}, [(("A",), 3), (("B",), 2), (("C",), 1)]),
        {
            "greedy": ["A", "C"],
            "greedy-cost": ["B", "C"],
            "mes": ["B"],
            "mes-greedy": ["B", "C"],
            "mes-add1": ["B", "C"],
            "mes-add1-greedy": ["B", "C"],
            "phragmen": ["B", "C"],
        },
    ),
    # 60 + 40 = 100 fits exactly.
    "exact fit": (
        approval(100, {"A": 60, "B": 40}, [(("A",), 2), (("B",), 1)]),
        dict.fromkeys(ALL, ["A", "B"]) | {"mes": ["A"]},
    ),
    # Greedy still adds an unsupported project that fits; MES never considers it.
    "zero-vote project": (
        approval(100, {"A": 50, "Z": 30}, [(("A",), 1)]),
        dict.fromkeys(ALL, ["A", "Z"]) | {"mes": ["A"], "mes-add1": ["A"]},
    ),
    "over-budget project": (
        approval(100, {"A": 150, "B": 50}, [(("A",), 5), (("B",), 1)]),
        dict.fromkeys(ALL, ["B"]) | {"mes": [], "mes-add1": []},
    ),
    # Cost utility gives a free project satisfaction 0: greedy by votes puts it last, greedy by
    # votes per cost first, MES never funds it. A's one supporter holds 100/3 (MES) and reaches
    # 100 only with Add1. Phragmén: F's load is 0, then A's (0 + 100) / 1 fits exactly.
    "zero-cost project": (
        approval(100, {"A": 100, "F": 0}, [(("F",), 2), (("F", "A"), 1)]),
        {
            "greedy": ["A", "F"],
            "greedy-cost": ["F", "A"],
            "mes": [],
            "mes-greedy": ["A", "F"],
            "mes-add1": ["A"],
            "mes-add1-greedy": ["A", "F"],
            "phragmen": ["F", "A"],
        },
    ),
    # 30 each. A (3 x 16) at rho 1/3 leaves 14, 14, 14, 30. B: 14 + 30 < 50. C: 14 + 30 >= 36,
    # the first voter pays all 14 and the fourth 22. B vs C tie on votes for greedy: "B" first.
    "MES poor voter pays all": (
        approval(
            120,
            {"A": 48, "B": 50, "C": 36},
            [(("A", "C"), 1), (("A",), 1), (("A", "B"), 1), (("B", "C"), 1)],
        ),
        dict.fromkeys(ALL, ["A", "C"]) | {"greedy": ["A", "B"]},
    ),
    # Add1 from 25 each: after A, C's supporters hold 9 + 25 < 36; at 26 they hold exactly 36.
    "Add1 stops at an exact fit": (
        approval(
            100,
            {"A": 48, "B": 50, "C": 36},
            [(("A", "C"), 1), (("A",), 1), (("A", "B"), 1), (("B", "C"), 1)],
        ),
        dict.fromkeys(ALL, ["A", "C"])
        | {"greedy": ["A", "B"], "mes": ["A"], "mes-greedy": ["A", "B"]},
    ),
    # 50 each: X costs 35 each; Y and Z need 20 from one voter each, reached at 55 each, but
    # X + Y + Z = 110 > 100, so Add1 returns the outcome at 54: X alone.
    "Add1 returns the previous outcome when the next overspends": (
        approval(100, {"X": 70, "Y": 20, "Z": 20}, [(("X", "Y"), 1), (("X", "Z"), 1)]),
        {
            "greedy": ["X", "Y"],
            "greedy-cost": ["Y", "Z"],
            "mes": ["X"],
            "mes-greedy": ["X", "Y"],
            "mes-add1": ["X"],
            "mes-add1-greedy": ["X", "Y"],
            "phragmen": ["Y", "Z"],
        },
    ),
    # Exhaustiveness for Add1 only counts projects MES can fund: W (no votes) still fits.
    "Add1 ignores unsupported projects when checking exhaustiveness": (
        approval(100, {"A": 60, "W": 10}, [(("A",), 1)]),
        dict.fromkeys(ALL, ["A", "W"]) | {"mes": ["A"], "mes-add1": ["A"]},
    ),
    # Phragmén: loads A 80/4 = 20, B 25, F 30 -> A; then F (20 + 30) / 1 = 50, B 25 -> B, which
    # overspends (130 > 120): stop, although F would have fit.
    "Phragmén stops at the first project that does not fit": (
        approval(120, {"A": 80, "B": 50, "F": 30}, [(("A", "F"), 1), (("A",), 3), (("B",), 2)]),
        dict.fromkeys(ALL, ["A", "F"]) | {"mes": ["A"], "mes-add1": ["A"], "phragmen": ["A"]},
    ),
    # Phragmén: R (load 10) first; then a (50/2) and b (100/4) tie at 25. "a" wins the tie and
    # fits, but b does not (110 > 100), and any tied project that does not fit stops the rule.
    "Phragmén stops when any tied project does not fit": (
        approval(100, {"R": 10, "a": 50, "b": 100}, [(("R",), 1), (("a",), 2), (("b",), 4)]),
        {
            "greedy": ["b"],
            "greedy-cost": ["R", "a"],
            "mes": ["R"],
            "mes-greedy": ["R", "a"],
            "mes-add1": ["R"],
            "mes-add1-greedy": ["R", "a"],
            "phragmen": ["R"],
        },
    ),
    # Nobody voted: greedy in id order (A, then C fits); Phragmén ties everything at an infinite
    # load and stops when B, tied with C, would overspend.
    "no ballots": (
        approval(100, {"A": 60, "B": 50, "C": 40}, []),
        dict.fromkeys(ALL, ["A", "C"]) | {"mes": [], "mes-add1": [], "phragmen": ["A"]},
    ),
    # Empty ballots count as voters: 4 voters hold 25 each; B's supporter needs Add1 (50).
    "empty ballots count as voters": (
        approval(100, {"A": 60, "B": 50}, [((), 3), (("B",), 1)]),
        dict.fromkeys(ALL, ["B"]) | {"mes": []},
    ),
}


@pytest.mark.parametrize(
    ("election", "rule", "expected"),
    [
        pytest.param(election, rule, expected[rule], id=f"{name}-{rule}")
        for name, (election, expected) in CASES.items()
        for rule in ALL
    ],
)
def test_hand_worked(election, rule, expected):
    outcome = tally(election, rule)
    assert list(outcome.selected) == expected
    assert outcome.total_cost == sum(p.cost for p in election.projects if p.id in expected)


def test_mes_explains_unfunded_projects():
    election, _ = CASES["MES poor voter pays all"]
    outcome = tally(election, "mes")
    by_id = outcome.by_id
    assert outcome.voter_budget == 30
    # B's supporters hold 14 + 8 against a cost of 50.
    assert by_id["B"].supporters_money == 22 and by_id["B"].effective_support is None
    # A: 48 / 16 = 3 supporters paying in full; C: 36 / 22.
    assert by_id["A"].effective_support == 3
    assert by_id["C"].effective_support == Fraction(18, 11)
    assert by_id["A"].funded_by == "mes" and by_id["B"].funded_by is None
    assert outcome.greedy_selected == ("A", "B")
    assert [p.votes for p in outcome.projects] == [3, 2, 2]


def test_add1_reports_the_endowment_it_stopped_at():
    election, _ = CASES["Add1 returns the previous outcome when the next overspends"]
    outcome = tally(election, "mes-add1")
    assert outcome.voter_budget == 54 and outcome.budget_increments == 4
    assert outcome.by_id["Y"].supporters_money == 19
    completed = tally(election, "mes-add1-greedy")
    assert completed.by_id["Y"].funded_by == "greedy"
    exact, _ = CASES["Add1 stops at an exact fit"]
    outcome = tally(exact, "mes-add1")
    assert outcome.voter_budget == 26 and outcome.budget_increments == 1
    assert outcome.by_id["C"].effective_support == Fraction(36, 26)


BORDA = Election(
    50,
    (Project("A", 40), Project("B", 20), Project("C", 10)),
    (Ballot(("A", "B", "C"), (), 2), Ballot(("B", "C", "A"))),
    ORDINAL,
)


def test_borda_scores_two_one_zero():
    # Scores: A 2 + 2 + 0, B 1 + 1 + 2, C 0 + 0 + 1. Greedy goes by score per cost: B (0.2),
    # then A and C tie at 0.1: A does not fit after B, C does.
    outcome = tally(BORDA, "greedy")
    assert [p.score for p in outcome.projects] == [4, 4, 1]
    assert outcome.selected == ("B", "C")
    # MES with Borda utilities, 50/3 each: A's supporters hold 100/3 < 40; B costs
    # rho * (1 + 1 + 2) = 20 at rho = 5; C (rho 10) is then out of reach of its only
    # supporter: the voters who ranked C last do not support it at all.
    mes = tally(BORDA, "mes")
    assert mes.selected == ("B",)
    assert mes.by_id["C"].supporters_money == Fraction(50, 3) - 10


def test_cumulative_points_times_cost():
    election = Election(
        100,
        (Project("a", 60), Project("b", 40), Project("c", 30)),
        (
            Ballot(("a", "b"), (7, 3)),
            Ballot(("b", "c"), (5, 5)),
            Ballot(("c",), (10,)),
            Ballot(("a",), (10,)),
            Ballot((), ()),
            Ballot(("a",), (7,)),
        ),
        CUMULATIVE,
    )
    # Greedy by total points: a 24, c 15, b 8 -> a (60), c (90), b would overspend.
    assert tally(election, "greedy").selected == ("a", "c")
    # Per cost: c 0.5, a 0.4, b 0.2.
    assert tally(election, "greedy-cost").selected == ("c", "a")
    assert tally(election, "mes").selected == ("c",)
    assert tally(election, "mes-add1").selected == ("a", "c")


def test_tie_order_overrides_id_order():
    election, _ = CASES["tie by id string"]
    assert tally(election, "greedy", tie_order=["9", "10"]).selected == ("9",)
    assert tally(election, "greedy").selected == ("10",)
    with pytest.raises(ValueError, match="every project"):
        tally(election, "greedy", tie_order=["9"])


def test_rules_per_ballot_kind():
    assert rules_for(APPROVAL) == ALL
    assert rules_for(ORDINAL) == ("greedy", "mes")
    assert "phragmen" not in rules_for(CUMULATIVE)
    with pytest.raises(ValueError, match="not defined for ordinal"):
        tally(BORDA, "mes-add1")
    with pytest.raises(ValueError, match="unknown rule"):
        tally(BORDA, "dictator")
    assert as_approval(BORDA).ballots[0].projects == ("A", "B", "C")


def test_elections_are_validated():
    with pytest.raises(ValueError, match="negative cost"):
        Project("x", -1)
    with pytest.raises(ValueError, match="duplicate project ids"):
        Election(10, (Project("a", 1), Project("a", 2)), ())
    bad = approval(10, {"a": 1}, [(("b",), 1)])
    with pytest.raises(ValueError, match="unknown project 'b'"):
        tally(bad, "greedy")
    with pytest.raises(ValueError, match="kind"):
        Election(10, (), (), "quadratic")


def test_tally_does_not_touch_its_input():
    election, _ = CASES["MES poor voter pays all"]
    copy = Election(election.budget, election.projects, election.ballots, election.kind)
    first = [tally(election, rule) for rule in ALL]
    assert election == copy
    assert [tally(copy, rule) for rule in ALL] == first


# --------------------------------------------------------------------------------------------
# A naive, literal MES (pabutools' algorithm, one voter at a time, exact rationals) against the
# fast one, on random elections built to produce ties and exact fits.


def naive_mes(budget, costs, utilities, rank, add1):
    """utilities: one dict project -> utility per voter."""
    n = len(utilities)
    if n == 0:
        return []
    supported = {p for u in utilities for p, x in u.items() if x > 0}
    free = sorted((p for p in supported if costs[p] == 0), key=rank.__getitem__)
    eligible = [p for p in supported if costs[p] > 0]

    def run(t):
        money = [t] * n
        chosen = []
        left = set(eligible)
        while True:
            best = None
            for p in left:
                sup = [i for i in range(n) if utilities[i].get(p, 0) > 0]
                if sum(money[i] for i in sup) < costs[p]:
                    continue
                sup.sort(key=lambda i: money[i] / utilities[i][p])
                paid, weight = Fraction(0), sum(utilities[i][p] for i in sup)
                for i in sup:
                    rho = (costs[p] - paid) / weight
                    if rho * utilities[i][p] <= money[i]:
                        break
                    paid += money[i]
                    weight -= utilities[i][p]
                if best is None or (rho, rank[p]) < best[0]:
                    best = ((rho, rank[p]), p)
            if best is None:
                return free + chosen
            (rho, _), p = best
            for i in range(n):
                if utilities[i].get(p, 0) > 0:
                    money[i] -= min(money[i], rho * utilities[i][p])
            chosen.append(p)
            left.discard(p)

    t = Fraction(budget, n)
    outcome = run(t)
    if not add1:
        return outcome
    previous = free
    while True:
        spent = sum(costs[p] for p in outcome)
        if spent > budget:
            return previous
        if all(p in outcome or spent + costs[p] > budget for p in eligible):
            return outcome
        t += 1
        previous, outcome = outcome, run(t)


def random_election(rng: random.Random, kind: str) -> Election:
    ids = rng.sample(["1", "2", "9", "10", "11", "c5", "c14", "x"], rng.randint(2, 6))
    projects = tuple(Project(pid, rng.choice([0, 10, 20, 20, 30, 40, 50])) for pid in ids)
    ballots = []
    for _ in range(rng.randint(0, 9)):
        chosen = rng.sample(ids, rng.randint(0, min(3, len(ids))))
        points = tuple(rng.randint(0, 4) for _ in chosen) if kind == CUMULATIVE else ()
        ballots.append(Ballot(tuple(chosen), points, rng.randint(1, 3)))
    return Election(rng.choice([40, 60, 100, 101]), projects, tuple(ballots), kind)


def naive_utilities(election: Election) -> list[dict[str, int]]:
    cost = {p.id: p.cost for p in election.projects}
    voters = []
    for ballot in election.ballots:
        if election.kind == APPROVAL:
            u = {p: cost[p] for p in ballot.projects}
        elif election.kind == CUMULATIVE:
            u = {p: pts * cost[p] for p, pts in zip(ballot.projects, ballot.points, strict=True)}
        else:
            u = {p: len(ballot.projects) - 1 - k for k, p in enumerate(ballot.projects)}
        voters += [{p: x for p, x in u.items() if x > 0}] * ballot.weight
    return voters


@pytest.mark.parametrize("kind", [APPROVAL, CUMULATIVE, ORDINAL])
def test_fast_mes_equals_naive_mes_on_random_elections(kind):
    rng = random.Random(f"civic-{kind}")
    for _ in range(250):
        election = random_election(rng, kind)
        costs = {p.id: p.cost for p in election.projects}
        rank = {pid: r for r, pid in enumerate(sorted(costs))}
        utilities = naive_utilities(election)
        rules = ("mes", "mes-add1") if kind != ORDINAL else ("mes",)
        for rule in rules:
            expected = naive_mes(election.budget, costs, utilities, rank, rule == "mes-add1")
            assert list(tally(election, rule).selected) == expected, (election, rule)


# --------------------------------------------------------------------------------------------
# Every reference outcome of pabutools 1.2.3 in the Pabulib sample.


@cache
def reference() -> dict:
    return json.loads(REFERENCE.read_text())


@cache
def sample_election(name: str) -> Election:
    # One election per file, shared by its rules: mes-add1-greedy reuses mes-add1's run.
    return read_pb(SAMPLE / name).election


@cache
def sample_as_approval(name: str) -> Election:
    return as_approval(sample_election(name))


def kind_of(entry: dict) -> str:
    if "greedy_borda" in entry:
        return ORDINAL
    return CUMULATIVE if "greedy_points" in entry else APPROVAL


def reference_cases(approval_reading: bool) -> list:
    if not REFERENCE.exists():
        return [pytest.param(None, None, None, id="pabulib-sample-missing")]
    cases = []
    for name, entry in sorted(reference().items()):
        kind = kind_of(entry)
        if approval_reading and kind == APPROVAL:
            continue
        table = PABUTOOLS_RULES[APPROVAL if approval_reading else kind]
        for rule, key in table.items():
            if entry.get(key, {}).get("status") == "ok":
                cases.append(pytest.param(name, rule, key, id=f"{name[:-3]}-{rule}"))
    return cases


def check_reference(election: Election | None, name: str, rule: str, key: str) -> None:
    if election is None:
        pytest.skip(f"the Pabulib sample is not at {SAMPLE}")
    expected = reference()[name][key]
    outcome = tally(election, rule)
    assert sorted(outcome.selected) == expected["selected"]
    if rule != "phragmen":  # pabutools returns Phragmén's selection sorted, not in order
        assert list(outcome.selected) == expected["order"]
    assert outcome.total_cost == Fraction(expected["total_cost"])


@pytest.mark.parametrize(("name", "rule", "key"), reference_cases(approval_reading=False))
def test_matches_pabutools(name, rule, key):
    check_reference(name and sample_election(name), name, rule, key)


@pytest.mark.parametrize(("name", "rule", "key"), reference_cases(approval_reading=True))
def test_ranked_and_points_ballots_read_as_approval_match_pabutools(name, rule, key):
    check_reference(name and sample_as_approval(name), name, rule, key)
