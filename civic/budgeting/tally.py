"""Participatory-budgeting rules: greedy, Method of Equal Shares (MES) and sequential Phragmén.

Pure functions over plain data. Outcomes equal those of pabutools 1.2.3, the field's reference
library, with its default tie-breaking: among tied projects the smallest project id in Python
string order wins ("10" < "9"). Money is exact (fractions); MES works in floating point with
rigorous error bounds and falls back to exact rationals whenever a decision is too close to call.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

import numpy as np

APPROVAL = "approval"
CUMULATIVE = "cumulative"
ORDINAL = "ordinal"
KINDS = (APPROVAL, CUMULATIVE, ORDINAL)


# --------------------------------------------------------------------------------------------
# Data in


@dataclass(frozen=True)
class Project:
    """A project on the ballot: an id and a non-negative cost."""

    id: str
    cost: Fraction

    def __post_init__(self) -> None:
        cost = Fraction(self.cost)
        if cost < 0:
            raise ValueError(f"project {self.id!r} has a negative cost")
        object.__setattr__(self, "cost", cost)


@dataclass(frozen=True)
class Ballot:
    """One ballot, cast by `weight` voters.

    `projects` is the approved set (approval), the ranking from most to least preferred
    (ordinal) or the projects given points (cumulative, with `points` in the same order).
    """

    projects: tuple[str, ...]
    points: tuple[Fraction, ...] = ()
    weight: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "projects", tuple(self.projects))
        object.__setattr__(self, "points", tuple(self.points))
        if self.weight < 1:
            raise ValueError("a ballot's weight must be at least 1")


@dataclass(frozen=True)
class Election:
    """A participatory-budgeting election: budget, projects and ballots of one kind."""

    budget: Fraction
    projects: tuple[Project, ...]
    ballots: tuple[Ballot, ...]
    kind: str = APPROVAL

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", Fraction(self.budget))
        object.__setattr__(self, "projects", tuple(self.projects))
        object.__setattr__(self, "ballots", tuple(self.ballots))
        if self.kind not in KINDS:
            raise ValueError(f"unknown ballot kind {self.kind!r}; expected one of {KINDS}")
        if self.budget < 0:
            raise ValueError("the budget is negative")
        ids = [p.id for p in self.projects]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate project ids: {', '.join(dupes)}")

    @property
    def voters(self) -> int:
        """Number of voters (ballots counted with their weight)."""
        return sum(b.weight for b in self.ballots)

    @cached_property
    def _index(self) -> _Index:
        # Derived data only, so caching it on a frozen election keeps the election immutable.
        return _Index(self)


# --------------------------------------------------------------------------------------------
# Data out


@dataclass(frozen=True)
class ProjectResult:
    """How one project fared, with what a results page needs to explain it.

    `votes` counts voters whose ballot lists the project; `score` is the rule's measure of support
    (approvals, points, or Borda score 2/1/0 for a 3-long ranking). For MES rules,
    `supporters_money` is what the project's supporters had left at the end of MES (compare with
    `cost`; None for projects MES funded or could not consider), and `effective_support` is, for
    projects MES funded, the cost divided by the price per unit of support (for approval ballots:
    the number of supporters paying in full that the project was worth).
    """

    id: str
    cost: Fraction
    selected: bool
    position: int | None
    votes: int
    score: Fraction
    funded_by: str | None = None
    supporters_money: Fraction | None = None
    effective_support: Fraction | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of a rule: funded ids in selection order and per-project explanations."""

    rule: str
    kind: str
    budget: Fraction
    voters: int
    selected: tuple[str, ...]
    total_cost: Fraction
    projects: tuple[ProjectResult, ...]
    greedy_selected: tuple[str, ...]
    voter_budget: Fraction | None = None
    budget_increments: int | None = None
    by_id: dict[str, ProjectResult] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {p.id: p for p in self.projects})


Rule = Callable[..., Outcome]


# --------------------------------------------------------------------------------------------
# Public entry points


def tally(election: Election, rule: str, *, tie_order: Sequence[str] | None = None) -> Outcome:
    """Run the named rule (a key of RULES); ties go to the earliest id in `tie_order`.

    The default tie order is the ids sorted as strings, as in pabutools.
    """
    try:
        func = RULES[rule]
    except KeyError:
        raise ValueError(f"unknown rule {rule!r}; expected one of {sorted(RULES)}") from None
    return func(election, tie_order=tie_order)


def rules_for(kind: str) -> tuple[str, ...]:
    """Names of the rules defined for a ballot kind."""
    return tuple(name for name, kinds in _RULE_KINDS.items() if kind in kinds)


def as_approval(election: Election) -> Election:
    """Read every ballot as the set of projects it lists (what pabutools' cost satisfaction does)."""
    if election.kind == APPROVAL:
        return election
    ballots = tuple(Ballot(b.projects, (), b.weight) for b in election.ballots)
    return Election(election.budget, election.projects, ballots, APPROVAL)


def greedy(election: Election, *, tie_order: Sequence[str] | None = None) -> Outcome:
    """Fund projects by support (approvals, points, or Borda score per cost), skipping misfits."""
    return _run_rule("greedy", election, tie_order)


def greedy_cost(election: Election, *, tie_order: Sequence[str] | None = None) -> Outcome:
    """Fund projects by support per unit of cost, skipping those that do not fit."""
    return _run_rule("greedy-cost", election, tie_order)


def mes(election: Election, *, tie_order: Sequence[str] | None = None) -> Outcome:
    """Method of Equal Shares with the budget split equally among voters, no completion."""
    return _run_rule("mes", election, tie_order)


def mes_greedy(election: Election, *, tie_order: Sequence[str] | None = None) -> Outcome:
    """Method of Equal Shares, then greedy completion with what is left."""
    return _run_rule("mes-greedy", election, tie_order)


def mes_add1(election: Election, *, tie_order: Sequence[str] | None = None) -> Outcome:
    """MES, each voter's share raised one unit at a time until exhaustive or about to overspend."""
    return _run_rule("mes-add1", election, tie_order)


def mes_add1_greedy(election: Election, *, tie_order: Sequence[str] | None = None) -> Outcome:
    """MES with Add1, then greedy completion (equalshares.net's recommended variant)."""
    return _run_rule("mes-add1-greedy", election, tie_order)


def phragmen(election: Election, *, tie_order: Sequence[str] | None = None) -> Outcome:
    """Sequential Phragmén; stops at the first project that does not fit."""
    return _run_rule("phragmen", election, tie_order)


RULES: dict[str, Rule] = {
    "greedy": greedy,
    "greedy-cost": greedy_cost,
    "mes": mes,
    "mes-greedy": mes_greedy,
    "mes-add1": mes_add1,
    "mes-add1-greedy": mes_add1_greedy,
    "phragmen": phragmen,
}

_RULE_KINDS: dict[str, tuple[str, ...]] = {
    "greedy": (APPROVAL, CUMULATIVE, ORDINAL),
    "greedy-cost": (APPROVAL, CUMULATIVE),
    "mes": (APPROVAL, CUMULATIVE, ORDINAL),
    "mes-greedy": (APPROVAL, CUMULATIVE),
    "mes-add1": (APPROVAL, CUMULATIVE),
    "mes-add1-greedy": (APPROVAL, CUMULATIVE),
    "phragmen": (APPROVAL,),
}


def _run_rule(rule: str, election: Election, tie_order: Sequence[str] | None) -> Outcome:
    if election.kind not in _RULE_KINDS[rule]:
        raise ValueError(f"rule {rule!r} is not defined for {election.kind} ballots")
    ix = election._index
    rank = ix.rank(tie_order)
    plain = ix.greedy("greedy", rank)
    mes_info: _MesResult | None = None
    if rule in ("greedy", "greedy-cost"):
        order = plain if rule == "greedy" else ix.greedy(rule, rank)
        funded_by = dict.fromkeys(order, rule)
    elif rule == "phragmen":
        order = _phragmen(ix, rank)
        funded_by = dict.fromkeys(order, rule)
    else:
        mes_info = ix.mes(rank, add1=rule.startswith("mes-add1"))
        order = list(mes_info.order)
        funded_by = dict.fromkeys(order, "mes")
        if rule.endswith("-greedy"):
            order = ix.greedy_fill(order, ix.greedy_keys("greedy", rank))
            for p in order[len(funded_by) :]:
                funded_by[p] = "greedy"
    return ix.outcome(rule, order, funded_by, plain, mes_info)


# --------------------------------------------------------------------------------------------
# Integer view of an election


class _Index:
    """Projects by position, money scaled to integers, identical ballots grouped."""

    def __init__(self, election: Election) -> None:
        self.election = election
        self.kind = election.kind
        self.ids = [p.id for p in election.projects]
        self.m = len(self.ids)
        pos = {pid: i for i, pid in enumerate(self.ids)}
        dens = [election.budget.denominator, *(p.cost.denominator for p in election.projects)]
        self.scale = math.lcm(*dens)
        self.budget = int(election.budget * self.scale)
        self.cost = [int(p.cost * self.scale) for p in election.projects]
        groups: dict[tuple, int] = {}
        try:
            for ballot in election.ballots:
                key = self._canonical(ballot, pos)
                groups[key] = groups.get(key, 0) + ballot.weight
        except KeyError as exc:
            raise ValueError(f"a ballot names unknown project {exc.args[0]!r}") from None
        self.groups = list(groups)
        self.weights = list(groups.values())
        self.voters = sum(self.weights)
        self._ranks: dict[tuple[str, ...] | None, list[int]] = {}
        self._mes: dict[tuple, _MesResult] = {}
        self._models: dict[str, _Model] = {}

    def _canonical(self, ballot: Ballot, pos: dict[str, int]) -> tuple:
        if self.kind == APPROVAL:
            return tuple(sorted({pos[x] for x in ballot.projects}))
        if self.kind == ORDINAL:
            return tuple(dict.fromkeys(pos[x] for x in ballot.projects))
        if len(ballot.points) != len(ballot.projects):
            raise ValueError("a cumulative ballot needs one points value per project")
        scores: dict[int, Fraction] = {}
        for x, pts in zip(ballot.projects, ballot.points, strict=True):
            scores[pos[x]] = Fraction(pts)
        return tuple(sorted(scores.items()))

    def rank(self, tie_order: Sequence[str] | None) -> list[int]:
        """Tie-breaking priority of each project position (lower wins)."""
        key = None if tie_order is None else tuple(tie_order)
        if key not in self._ranks:
            order = sorted(self.ids) if key is None else list(key)
            if sorted(order) != sorted(self.ids):
                raise ValueError("tie_order must list every project id exactly once")
            where = {pid: r for r, pid in enumerate(order)}
            self._ranks[key] = [where[pid] for pid in self.ids]
        return self._ranks[key]

    # -- support measures ---------------------------------------------------------------------

    @cached_property
    def votes(self) -> list[int]:
        """Voters listing each project."""
        votes = [0] * self.m
        if self.kind == CUMULATIVE:
            for ballot, w in zip(self.groups, self.weights, strict=True):
                for p, _ in ballot:
                    votes[p] += w
        else:
            for ballot, w in zip(self.groups, self.weights, strict=True):
                for p in ballot:
                    votes[p] += w
        return votes

    @cached_property
    def score(self) -> list[Fraction]:
        """Approvals, total points or total Borda score of each project."""
        if self.kind == APPROVAL:
            return [Fraction(v) for v in self.votes]
        totals: list[Fraction | int] = [0] * self.m
        if self.kind == CUMULATIVE:
            for ballot, w in zip(self.groups, self.weights, strict=True):
                for p, pts in ballot:
                    totals[p] += w * pts
        else:
            for ballot, w in zip(self.groups, self.weights, strict=True):
                top = len(ballot) - 1
                for k, p in enumerate(ballot):
                    totals[p] += w * (top - k)
        return [Fraction(t) for t in totals]

    # -- greedy --------------------------------------------------------------------------------

    def greedy_keys(self, rule: str, rank: list[int]) -> list[tuple]:
        """Sort keys reproducing pabutools' greedy order: density descending, then tie order."""
        keys = []
        for p in range(self.m):
            support, cost = self.score[p], self.cost[p]
            if rule == "greedy" and self.kind != ORDINAL:
                # Satisfaction is support x cost, so the density is the support itself, and a
                # free project has zero satisfaction.
                density = support if cost > 0 and support > 0 else Fraction(0)
                keys.append((1, -density, rank[p]))
            elif support <= 0:
                keys.append((1, Fraction(0), rank[p]))
            elif cost == 0:
                keys.append((0, Fraction(0), rank[p]))
            else:
                keys.append((1, -support / cost, rank[p]))
        return keys

    def greedy(self, rule: str, rank: list[int]) -> list[int]:
        """Projects funded by a greedy rule, in selection order."""
        return self.greedy_fill([], self.greedy_keys(rule, rank))

    def greedy_fill(self, chosen: list[int], keys: list[tuple]) -> list[int]:
        """Extend `chosen` greedily with every remaining project that still fits."""
        taken = set(chosen)
        left = self.budget - sum(self.cost[p] for p in chosen)
        out = list(chosen)
        for p in sorted((p for p in range(self.m) if p not in taken), key=keys.__getitem__):
            if self.cost[p] <= left:
                out.append(p)
                left -= self.cost[p]
        return out

    # -- MES -----------------------------------------------------------------------------------

    def model(self) -> _Model:
        """Supporters and utilities for this kind's MES variant."""
        utility = {APPROVAL: "cost", CUMULATIVE: "points-cost", ORDINAL: "borda"}[self.kind]
        if utility not in self._models:
            self._models[utility] = _Model(self, utility)
        return self._models[utility]

    def mes(self, rank: list[int], add1: bool) -> _MesResult:
        """MES outcome (cached per tie order, since mes-greedy reuses mes)."""
        key = (tuple(rank), add1)
        if key not in self._mes:
            model = self.model()
            self._mes[key] = _mes_add1(model, rank) if add1 else _mes_once(model, rank)
        return self._mes[key]

    # -- outcome -------------------------------------------------------------------------------

    def outcome(
        self,
        rule: str,
        order: list[int],
        funded_by: dict[int, str],
        plain: list[int],
        mes_info: _MesResult | None,
    ) -> Outcome:
        """Package an order of project positions as an Outcome."""
        scale = self.scale
        where = {p: k for k, p in enumerate(order)}
        results = []
        for p, project in enumerate(self.election.projects):
            money = effective = None
            if mes_info is not None:
                if p in mes_info.leftover:
                    money = mes_info.leftover[p] / scale
                effective = mes_info.effective.get(p)
            results.append(
                ProjectResult(
                    id=project.id,
                    cost=project.cost,
                    selected=p in where,
                    position=where.get(p),
                    votes=self.votes[p],
                    score=self.score[p],
                    funded_by=funded_by.get(p),
                    supporters_money=money,
                    effective_support=effective,
                )
            )
        return Outcome(
            rule=rule,
            kind=self.kind,
            budget=self.election.budget,
            voters=self.voters,
            selected=tuple(self.ids[p] for p in order),
            total_cost=Fraction(sum(self.cost[p] for p in order), scale),
            projects=tuple(results),
            greedy_selected=tuple(self.ids[p] for p in plain),
            voter_budget=None if mes_info is None else mes_info.voter_budget / scale,
            budget_increments=None if mes_info is None else mes_info.increments,
        )


# --------------------------------------------------------------------------------------------
# Sequential Phragmén


def _phragmen(ix: _Index, rank: list[int]) -> list[int]:
    """pabutools' sequential_phragmen on grouped approval ballots, in exact arithmetic."""
    m, score, cost = ix.m, ix.votes, ix.cost
    remaining = {p for p in range(m) if cost[p] <= ix.budget}
    lens, flat = _flatten(ix.groups)
    ptr = np.concatenate(([0], np.cumsum(lens)))
    owner = np.repeat(np.arange(len(ix.groups), dtype=np.int64), lens)
    by_project = owner[np.argsort(flat, kind="stable")]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(flat, minlength=m))))
    weights = np.array(ix.weights, dtype=np.float64)
    # A voter's load is the max-load of the last selected project they approve, so voters are
    # classed by that project (m: none yet). Loads are kept as integers over one common
    # denominator `den`: class_load[c] / den, and load_sum[p] / den is the sum of the loads of
    # p's supporters. Comparing (load_sum + cost) / score by cross-multiplication stays exact.
    den = 1
    class_load = {m: 0}
    group_class = np.full(len(ix.groups), m, dtype=np.int64)
    load_sum = {p: 0 for p in remaining}
    spent = 0
    order: list[int] = []
    while remaining:
        best_num = best_score = 0
        tied: list[int] = []
        for p in remaining:
            if score[p] == 0:
                continue
            num = load_sum[p] + cost[p] * den
            if not tied or num * best_score < best_num * score[p]:
                best_num, best_score, tied = num, score[p], [p]
            elif num * best_score == best_num * score[p]:
                tied.append(p)
        supported = bool(tied)
        if not supported:
            tied = list(remaining)  # only unsupported projects remain: all tied at infinity
        if any(spent + cost[p] > ix.budget for p in tied):
            break
        winner = min(tied, key=rank.__getitem__)
        order.append(winner)
        remaining.discard(winner)
        del load_sum[winner]
        spent += cost[winner]
        if not supported:
            continue
        # The winner's supporters now carry best_num / (den * best_score); widen den to hold it.
        g = math.gcd(best_num, best_score)
        grow = best_score // g
        if grow > 1:
            den *= grow
            class_load = {c: v * grow for c, v in class_load.items()}
            load_sum = {p: v * grow for p, v in load_sum.items()}
        new_load = best_num // g
        class_load[winner] = new_load
        members = by_project[bounds[winner] : bounds[winner + 1]]
        old = group_class[members]
        group_class[members] = winner
        rows, sizes = _rows(ptr, members)
        keys = flat[rows] * (m + 1) + np.repeat(old, sizes)
        uniq, inverse = np.unique(keys, return_inverse=True)
        moved = np.bincount(inverse, weights=np.repeat(weights[members], sizes))
        for key, w in zip(uniq.tolist(), moved.tolist(), strict=True):
            q, cls = divmod(key, m + 1)
            if q in load_sum:
                load_sum[q] += (new_load - class_load[cls]) * int(w)
    return order


# --------------------------------------------------------------------------------------------
# Method of Equal Shares
#
# pabutools' MES: every voter starts with an endowment t; each round funds the affordable project
# (supporters' money >= cost) with the smallest rho, where rho solves
#     sum_i min(b_i, rho * u_i) = cost,
# ties to the smallest tie rank, and charges each supporter min(b_i, rho * u_i). Add1 reruns with
# t + 1, t + 2, ... until the outcome is exhaustive (among projects MES can fund) or overspends.
#
# Voters with identical ballots always hold identical money, so we work on distinct ballots with
# weights. Budgets live in float64; every decision is checked against a rigorous error bound and
# settled in exact arithmetic when the floats cannot tell. Exact budgets are never stored: a voter
# who never paid in full holds t - sum over funded projects s of rho_s * u_s (a voter who once
# paid in full holds 0 forever), so the exact money of any set of voters is an integer
# combination of the funded projects' exact prices, which each run keeps as integers over one
# common denominator. Every charge uses the exact price (rounded once), so float errors stay a
# few ulps instead of compounding from round to round.
#
# Add1 would rerun MES for each of possibly tens of thousands of endowments (forints, +1 each);
# _mes_run certifies whole ranges of endowments that share an outcome, and _mes_add1 jumps over
# them (see _mes_run).

_EPS = 2.0**-52


class _Supporters:
    """One project's supporters (distinct-ballot indices) with weights and utilities."""

    __slots__ = ("idx", "w", "wi", "v", "wv", "wvi", "W", "Wi", "V", "Vf", "vmax", "cost", "costf")

    def __init__(self, idx: np.ndarray, vi: np.ndarray, weights: np.ndarray, cost: int) -> None:
        self.idx = idx
        self.wi = weights[idx]
        self.w = self.wi.astype(np.float64)
        uniform = bool((vi == 1).all())
        self.v = None if uniform else vi.astype(np.float64)
        self.wvi = self.wi if uniform else self.wi * vi
        self.wv = self.w if uniform else self.wvi.astype(np.float64)
        self.Wi = int(self.wi.sum())
        self.W = float(self.Wi)
        self.V = int(self.wvi.sum())
        self.Vf = float(self.V)
        self.vmax = float(vi.max())
        self.cost = cost
        self.costf = float(cost)


def _flatten(groups: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """Ballot lengths and the concatenated project positions of approval/ordinal ballots."""
    lens = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
    flat = np.fromiter((p for b in groups for p in b), dtype=np.int64, count=int(lens.sum()))
    return lens, flat


def _rows(ptr: np.ndarray, ballots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of the given ballots in a ballot-major (CSR) table, and each ballot's length."""
    starts = ptr[ballots]
    lens = ptr[ballots + 1] - starts
    ends = np.cumsum(lens)
    total = int(ends[-1]) if len(ends) else 0
    return np.arange(total) + np.repeat(starts - (ends - lens), lens), lens


class _Model:
    """One MES variant on one election: supporters, utilities, and a ballot-major index."""

    def __init__(self, ix: _Index, utility: str) -> None:
        self.ix = ix
        self.m = m = ix.m
        self.cost = ix.cost
        # u_i(p) = factor[p] * v_i(p): the cost for cost utilities, 1 for Borda.
        self.factor = [1] * m if utility == "borda" else list(ix.cost)
        groups = ix.groups
        self.nd = nd = len(groups)
        if utility == "points-cost":
            lens = np.fromiter(map(len, groups), dtype=np.int64, count=nd)
            flat = np.fromiter((p for b in groups for p, _ in b), dtype=np.int64, count=lens.sum())
            points = [pt for b in groups for _, pt in b]
            scale = math.lcm(1, *{pt.denominator for pt in points})
            vals = np.array([int(pt * scale) for pt in points], dtype=np.int64)
        else:
            lens, flat = _flatten(groups)
            if utility == "borda":
                starts = np.repeat(np.cumsum(lens) - lens, lens)
                vals = np.repeat(lens - 1, lens) - (np.arange(len(flat)) - starts)
            else:
                vals = np.ones(len(flat), dtype=np.int64)
        owner = np.repeat(np.arange(nd, dtype=np.int64), lens)
        costs = np.array(ix.cost, dtype=np.int64)
        factors = np.array(self.factor, dtype=np.int64)
        keep = (vals > 0) & (factors[flat] > 0)
        supported = np.bincount(flat[keep], minlength=m) > 0
        self.eligible = [p for p in range(m) if supported[p] and ix.cost[p] > 0]
        # Supported free projects are funded up front (only possible with Borda utilities).
        self.free = [p for p in range(m) if supported[p] and ix.cost[p] == 0]
        keep &= costs[flat] > 0
        owner, flat, vals = owner[keep], flat[keep], vals[keep]
        self.weights = np.array(ix.weights, dtype=np.int64)
        self.wf = self.weights.astype(np.float64)
        self.ptr = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=nd))))
        self.row_proj = flat
        self.row_val = vals.astype(np.float64)
        by_project = np.argsort(flat, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(flat, minlength=m))))
        self.supp: dict[int, _Supporters] = {}
        for p in self.eligible:
            rows = by_project[bounds[p] : bounds[p + 1]]
            self.supp[p] = _Supporters(owner[rows], vals[rows], self.weights, ix.cost[p])
        self.rho0 = {
            p: Fraction(ix.cost[p], self.factor[p] * self.supp[p].V) for p in self.eligible
        }
        self.rho0f = {p: float(r) for p, r in self.rho0.items()}

    def counts(self, ballots: np.ndarray) -> np.ndarray:
        """Per project, the sum of weight x base utility over the given distinct ballots."""
        rows, lens = _rows(self.ptr, ballots)
        if len(rows) == 0:
            return np.zeros(self.m)
        weights = np.repeat(self.wf[ballots], lens) * self.row_val[rows]
        return np.bincount(self.row_proj[rows], weights=weights, minlength=self.m)

    def membership(self, ballots: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Per project, the sum of the given per-ballot weights over ballots listing it."""
        rows, lens = _rows(self.ptr, ballots)
        if len(rows) == 0:
            return np.zeros(self.m)
        return np.bincount(self.row_proj[rows], weights=np.repeat(weights, lens), minlength=self.m)


class _Eval:
    """A float evaluation of one project in one round."""

    __slots__ = ("p", "rho", "err", "q", "mask", "ambiguous", "eq")

    def __init__(self, p: int, rho: float, err: float, q: float, mask, ambiguous: int, eq: float):
        self.p, self.rho, self.err, self.q = p, rho, err, q
        self.mask, self.ambiguous, self.eq = mask, ambiguous, eq


class _Run:
    """One MES run with a fixed endowment t per voter (money scaled to integers)."""

    def __init__(self, model: _Model, t: Fraction) -> None:
        self.model = model
        self.t = t
        self.tf = float(t)
        self.bud = np.full(model.nd, self.tf)
        self.zero = np.zeros(model.nd, dtype=bool)
        self.err = _EPS * self.tf  # bound on |float budget - exact budget|, every voter
        self.sel: list[int] = []
        self.rho_f: list[float] = []
        self.rho_e: list[float] = []
        self.certified = False
        # Exact prices: funded project k charged pay[k] / den per unit of base utility to each
        # voter who did not pay in full. One common denominator keeps sums integer.
        self.den = t.denominator
        self.t_den = t.numerator
        self.pay: list[int] = []

    # -- exact arithmetic on demand -------------------------------------------------------------

    def _held(self, ballots: np.ndarray) -> int:
        """Exact money held by the given voters, none of them at zero, times den."""
        if len(ballots) == 0:
            return 0
        held = self.t_den * int(self.model.weights[ballots].sum())
        if self.sel:
            counts = self.model.counts(ballots)[np.array(self.sel)]
            held -= sum(map(operator.mul, self.pay, np.rint(counts).astype(np.int64).tolist()))
        return held

    def exact_sum(self, ballots: np.ndarray) -> Fraction:
        """Exact money held by the given voters (none of whom may be at zero)."""
        return Fraction(self._held(ballots), self.den)

    def exact_budget(self, g: int) -> Fraction:
        """Exact money held by one distinct ballot's voters, each."""
        if self.zero[g]:
            return Fraction(0)
        return self.exact_sum(np.array([g])) / int(self.model.weights[g])

    def rho_exact(self, k: int) -> Fraction:
        """Exact rho of the k-th funded project."""
        return Fraction(self.pay[k], self.den * self.model.factor[self.sel[k]])

    def nonzero(self, idx: np.ndarray) -> np.ndarray:
        """The given voters minus those at zero."""
        return idx[~self.zero[idx]]

    # -- float evaluation -----------------------------------------------------------------------

    def evaluate(self, p: int) -> _Eval | None:
        """Rho of project p now (None if its supporters cannot afford it), with an error bound."""
        s = self.model.supp[p]
        b = self.bud[s.idx]
        total = float(b @ s.w)
        gamma = (len(b) + 8) * _EPS
        slack = s.W * self.err + gamma * (total + s.costf)
        if total + slack < s.costf:
            return None
        if total - slack <= s.costf and self.exact_sum(self.nonzero(s.idx)) < s.cost:
            return None
        v = s.v
        factor = self.model.factor[p]
        q = s.costf / s.Vf
        eq = 2.0 * gamma * s.costf / s.Vf
        band = self.err + eq * s.vmax + 4.0 * _EPS * (self.tf + q * s.vmax)
        diff = b - q if v is None else b - q * v
        if float(diff.min()) > band:  # nobody is short of their share: the common case
            rho = q / factor
            return _Eval(p, rho, eq / factor + 4.0 * _EPS * rho, q, None, 0, eq)
        wb = b * s.w
        mask = diff < 0
        used = 0
        pb = 0.0
        vr = s.Vf
        for _ in range(len(b) + 1):
            k = int(np.count_nonzero(mask))
            if k <= used:
                break
            used = k
            pb = float(wb[mask].sum())
            vr = s.Vf - float(s.wv[mask].sum())
            if vr <= 0:
                return _Eval(p, q / factor, math.inf, q, mask, len(b), math.inf)
            q = (s.costf - pb) / vr
            new = b < q if v is None else b < q * v
            if int(np.count_nonzero(new)) <= used:
                break
            mask = new
        w_poor = float(s.w[mask].sum()) if used else 0.0
        err_num = w_poor * self.err + gamma * (pb + s.costf)
        eq = 2.0 * err_num / vr
        band = self.err + eq * s.vmax + 4.0 * _EPS * (self.tf + q * s.vmax)
        diff = b - q if v is None else b - q * v
        amb = np.abs(diff) <= band
        namb = int(np.count_nonzero(amb))
        if namb:
            denom = vr - float(s.wv[amb & ~mask].sum())
            if denom <= 0.5 * vr:
                eq = math.inf
            else:
                eq = 2.0 * (err_num + band * float(s.w[amb].sum())) / denom
        rho = q / factor
        return _Eval(p, rho, eq / factor + 4.0 * _EPS * rho, q, mask, namb, eq)

    def solve_exact(self, ev: _Eval) -> tuple[Fraction, np.ndarray, int]:
        """Exact rho of an evaluated project, its voters who pay in full, and the rest's utility."""
        model = self.model
        s = model.supp[ev.p]
        b = self.bud[s.idx]
        v = np.ones(len(b)) if s.v is None else s.v
        if math.isfinite(ev.eq):
            band = self.err + ev.eq * s.vmax + 4.0 * _EPS * (self.tf + ev.q * s.vmax)
            diff = b - ev.q * v
            clear_poor = diff < -band
            clear_rich = diff > band
        else:
            clear_poor = np.zeros(len(b), dtype=bool)
            clear_rich = np.zeros(len(b), dtype=bool)
        nonzero = ~self.zero[s.idx]
        poor_idx = s.idx[clear_poor & nonzero]
        held = self.exact_sum(poor_idx)
        vr = int(s.wvi[clear_rich].sum())
        unsure = np.flatnonzero(~clear_poor & ~clear_rich & nonzero)
        cands = []
        for k in unsure.tolist():
            g = int(s.idx[k])
            cands.append((self.exact_budget(g) / int(v[k]), g, int(s.wi[k]), int(v[k])))
            vr += int(s.wvi[k])
        cands.sort()
        extra = []
        cost = s.cost
        for ratio, g, w, vk in cands:
            q = (cost - held) / vr
            if ratio < q:
                held += ratio * vk * w
                vr -= w * vk
                extra.append(g)
            else:
                break
        rho = (cost - held) / (model.factor[ev.p] * vr)
        if extra:
            poor_idx = np.concatenate([poor_idx, np.array(extra, dtype=np.int64)])
        return rho, poor_idx, vr

    def exact_now(self, ev: _Eval) -> Fraction:
        """Exact rho of an evaluated project in the current state."""
        return self.solve_exact(ev)[0]

    # -- funding ---------------------------------------------------------------------------------

    def fund(self, ev: _Eval) -> None:
        """Charge project ev.p's supporters, at its exact price.

        Charging the exact payment (rounded once) keeps every float budget within a few ulps of
        the truth; charging the float one would let errors compound from round to round.
        """
        model = self.model
        s = model.supp[ev.p]
        if ev.mask is None:
            poor_all = poor = s.idx[:0]
            vr = s.V
        elif ev.ambiguous == 0 and math.isfinite(ev.eq):
            poor_all = s.idx[ev.mask]
            poor = poor_all[~self.zero[poor_all]]
            vr = s.V - int(s.wvi[ev.mask].sum())
        else:
            _, poor, vr = self.solve_exact(ev)
            poor_all = s.idx[np.isin(s.idx, poor) | self.zero[s.idx]]
        # Price per unit of utility: (cost - what the poor hold) / (rich utility), over den.
        short = s.cost * self.den - self._held(poor)
        grow = vr // math.gcd(short, vr)
        if grow > 1:
            self.den *= grow
            self.t_den *= grow
            self.pay = [x * grow for x in self.pay]
        self.pay.append(short * grow // vr)
        q = self.pay[-1] / self.den
        if s.v is None:
            self.bud[s.idx] -= q
        else:
            self.bud[s.idx] -= q * s.v
        self.bud[poor_all] = 0.0
        self.zero[poor_all] = True
        self.err += 4.0 * _EPS * (q * s.vmax + self.tf)
        self.sel.append(ev.p)
        rho = q / model.factor[ev.p]
        self.rho_f.append(rho)
        self.rho_e.append(8.0 * _EPS * rho)


def _mes_run(
    model: _Model, rank: list[int], t: Fraction, ref: _Run | None = None, abort: bool = False
) -> _Run | None:
    """One MES run at endowment t.

    With `ref` (a run at a smaller endowment t0 whose outcome is known), also certify that every
    endowment in [t0, t] gives the same outcome: budgets never decrease as the endowment grows
    along a fixed history, so a project's rho at t0 bounds it from above on the whole interval and
    its rho at t bounds it from below. If each round's winner at t0 beats every other candidate
    at t, the history is shared by every endowment in between. With `abort`, give up (return
    None) as soon as that certificate fails.
    """
    run = _Run(model, t)
    # Nobody holds more than t, so a project whose supporters' weight times t falls short of its
    # cost is out of reach for the whole run.
    remaining = {
        p for p in model.eligible if t.numerator * model.supp[p].Wi >= model.cost[p] * t.denominator
    }
    lo = {p: model.rho0f[p] * (1.0 - 4.0 * _EPS) for p in remaining}
    checking = ref is not None
    block: set[int] = set()  # certified commuting projects still to be funded
    rnd = 0
    while True:
        ref_hi = None
        if checking and rnd < len(ref.sel):  # type: ignore[union-attr]
            ref_hi = ref.rho_f[rnd] + ref.rho_e[rnd]  # type: ignore[union-attr]
        evals: list[_Eval] = []
        min_hi = math.inf  # the cheapest rho this round is at most this
        for p in sorted(remaining, key=lo.__getitem__):
            limit = min_hi if ref_hi is None else max(min_hi, ref_hi)
            if evals and lo[p] > limit:
                break
            ev = run.evaluate(p)
            if ev is None:
                remaining.discard(p)
                continue
            lo[p] = ev.rho - ev.err
            evals.append(ev)
            min_hi = min(min_hi, ev.rho + ev.err)
        if not evals:
            if checking and rnd != len(ref.sel):  # type: ignore[union-attr]
                checking = False
            break
        close = [ev for ev in evals if ev.rho - ev.err <= min_hi]
        best = close[0]
        exacts: dict[int, Fraction] = {}
        if len(close) > 1 or not math.isfinite(best.err):
            for ev in close:
                exacts[ev.p] = run.exact_now(ev)
                lo[ev.p] = float(exacts[ev.p]) * (1.0 - 4.0 * _EPS)
            best = min(close, key=lambda ev: (exacts[ev.p], rank[ev.p]))
        if checking:
            if block:
                ok = best.p in block
                block.discard(best.p)
            else:
                ok = _beats_at_t0(run, ref, rnd, best, evals, exacts, rank)  # type: ignore[arg-type]
                if not ok:
                    found = _commuting_block(run, ref, rnd, best, evals, remaining, lo)  # type: ignore[arg-type]
                    if found is not None:
                        ok, block = True, found
            if not ok:
                checking = False
                if abort:
                    return None
        run.fund(best)
        remaining.discard(best.p)
        rnd += 1
    run.certified = checking
    return run


def _beats_at_t0(
    run: _Run,
    ref: _Run,
    rnd: int,
    best: _Eval,
    evals: list[_Eval],
    exacts: dict[int, Fraction],
    rank: list[int],
) -> bool:
    """Does ref's winner of this round, at ref's endowment, beat every other candidate here?"""
    if rnd >= len(ref.sel) or best.p != ref.sel[rnd]:
        return False
    ref_hi = ref.rho_f[rnd] + ref.rho_e[rnd]
    for ev in evals:
        if ev is best or ev.rho - ev.err > ref_hi:
            continue
        # A project that loses ties to the winner may equal the winner's rho at t0.
        if rank[ev.p] < rank[best.p]:
            return False
        if ev.p not in exacts:
            exacts[ev.p] = run.exact_now(ev)
        if exacts[ev.p] < ref.rho_exact(rnd):
            return False
    return True


_BLOCK = 8


def _commuting_block(
    run: _Run,
    ref: _Run,
    rnd: int,
    best: _Eval,
    evals: list[_Eval],
    remaining: set[int],
    lo: dict[int, float],
) -> set[int] | None:
    """Certify that the next few projects ref funded are funded next here too, in some order.

    Projects whose solvent supporters are pairwise disjoint (here, hence at every smaller
    endowment) do not affect each other, so funding them in any order leads to the same state;
    if each beats, at ref's endowment, every other candidate's rho here, then at every endowment
    in between they are funded next, in whatever order. Returns the block minus this round's
    winner, or None.
    """
    model = run.model
    seen = np.zeros(model.nd, dtype=bool)
    lower = {ev.p: ev.rho - ev.err for ev in evals}
    hi = -math.inf
    for k in range(rnd, min(rnd + _BLOCK, len(ref.sel))):
        p = ref.sel[k]
        if p not in remaining:
            return None
        idx = model.supp[p].idx
        solvent = idx[~run.zero[idx]]
        if seen[solvent].any():
            return None
        seen[solvent] = True
        hi = max(hi, ref.rho_f[k] + ref.rho_e[k])
        block = set(ref.sel[rnd : k + 1])
        if k == rnd or best.p not in block:
            continue
        ok = True
        for q in sorted(remaining, key=lo.__getitem__):
            if lo[q] > hi:
                break
            if q in block:
                continue
            if q not in lower:
                ev = run.evaluate(q)
                if ev is None:
                    remaining.discard(q)
                    continue
                lower[q] = lo[q] = ev.rho - ev.err
            if lower[q] <= hi:
                ok = False
                break
        if ok:
            return block - {best.p}
    return None


@dataclass(frozen=True)
class _MesResult:
    order: tuple[int, ...]
    leftover: dict[int, Fraction]  # scaled money left to each unfunded project's supporters
    effective: dict[int, Fraction]
    voter_budget: Fraction  # scaled endowment per voter
    increments: int | None


def _explain(model: _Model, rank: list[int], run: _Run, increments: int | None) -> _MesResult:
    """Package a run with exact explanation data for the results page."""
    funded = set(run.sel)
    unfunded = [p for p in model.eligible if p not in funded]
    # Money held by p's supporters = t * their weight - sum over funded s of rho_s * u_s * the
    # weight of those who also paid for s; one weighted count per s covers every p at once.
    leftover: dict[int, Fraction] = {}
    for p in unfunded:
        holders = run.nonzero(model.supp[p].idx)
        leftover[p] = run.t * int(model.weights[holders].sum())
    for k, s in enumerate(run.sel):
        sup = model.supp[s]
        keep = ~run.zero[sup.idx]
        if not keep.any() or not unfunded:
            continue
        paid_by = sup.wv[keep]
        shared = model.membership(sup.idx[keep], paid_by)
        price = run.rho_exact(k) * model.factor[s]
        for p in unfunded:
            if shared[p]:
                leftover[p] -= price * int(shared[p])
    effective = {
        p: Fraction(model.cost[p]) / (run.rho_exact(k) * model.factor[p])
        for k, p in enumerate(run.sel)
    }
    # pabutools funds free projects first, in set order; tie order is the deterministic choice.
    order = tuple(sorted(model.free, key=rank.__getitem__) + run.sel)
    return _MesResult(order, leftover, effective, run.t, increments)


def _endowment(model: _Model) -> Fraction:
    return Fraction(model.ix.budget, model.ix.voters)


def _mes_once(model: _Model, rank: list[int]) -> _MesResult:
    if model.ix.voters == 0:
        return _MesResult((), {}, {}, Fraction(0), None)
    run = _mes_run(model, rank, _endowment(model))
    assert run is not None
    return _explain(model, rank, run, None)


def _mes_add1(model: _Model, rank: list[int]) -> _MesResult:
    """MES with Add1 as pabutools runs it (voter_budget_increment=1).

    Stops at the first endowment whose outcome is exhaustive among the projects MES can fund,
    or returns the previous outcome when this one overspends. Endowments sharing an outcome are
    skipped in certified jumps (see _mes_run), which is where the speed comes from.
    """
    ix = model.ix
    if ix.voters == 0:
        return _MesResult((), {}, {}, Fraction(0), 0)
    step = ix.scale  # one unit of the budget's currency, in scaled money
    t0 = _endowment(model)
    free_cost = sum(ix.cost[p] for p in model.free)
    run = _mes_run(model, rank, t0)
    assert run is not None
    prev: _Run | None = None
    jump = 1
    while True:
        spent = free_cost + sum(ix.cost[p] for p in run.sel)
        if spent > ix.budget:
            # Only a one-step move can change the outcome, so prev is the endowment just below.
            assert prev is not None and prev.t == run.t - step
            return _explain(model, rank, prev, int((prev.t - t0) / step))
        funded = set(run.sel)
        if all(p in funded or spent + ix.cost[p] > ix.budget for p in model.eligible):
            return _explain(model, rank, run, int((run.t - t0) / step))
        while True:
            nxt = _mes_run(model, rank, run.t + jump * step, ref=run, abort=jump > 1)
            if nxt is not None:
                break
            jump = max(1, jump // 4)
        jump = jump * 2 if nxt.certified else 1
        prev, run = run, nxt
