"""Read and write Pabulib (.pb) files, the participatory-budgeting data format of pabulib.org.

The reader is as tolerant as pabutools 1.2.3's (`;`-separated CSV with quoting, UTF-8 with or
without BOM, case-insensitive section titles, blank lines skipped, `None` cells dropped, comma
decimal separators in costs and the budget, `choose-1` read as approval, cumulative ballots
without points read as empty) and stricter where pabutools would crash or silently guess: such
input raises PabulibError naming the line. Identical ballots are grouped into one weighted
Ballot, in order of first appearance.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from civic.budgeting.tally import (
    APPROVAL,
    CUMULATIVE,
    ORDINAL,
    Ballot,
    Election,
    Project,
    as_approval,
    tally,
)

SECTIONS = ("meta", "projects", "votes")

VOTE_KINDS = {
    "approval": APPROVAL,
    "choose-1": APPROVAL,
    "ordinal": ORDINAL,
    "cumulative": CUMULATIVE,
    "scoring": CUMULATIVE,
}

# The pabutools rule each Civic rule reproduces, per ballot kind (see the Pabulib sample README).
PABUTOOLS_RULES = {
    APPROVAL: {
        "greedy": "greedy_votes",
        "greedy-cost": "greedy_votes_per_cost",
        "mes": "mes_cost",
        "mes-greedy": "mes_cost_util",
        "mes-add1": "mes_cost_add1",
        "mes-add1-greedy": "mes_cost_add1_util",
        "phragmen": "phragmen",
    },
    CUMULATIVE: {
        "greedy": "greedy_points",
        "greedy-cost": "greedy_points_per_cost",
        "mes": "mes_points_cost",
        "mes-greedy": "mes_points_cost_util",
        "mes-add1": "mes_points_cost_add1",
        "mes-add1-greedy": "mes_points_cost_add1_util",
    },
    ORDINAL: {"greedy": "greedy_borda", "mes": "mes_borda"},
}


class PabulibError(ValueError):
    """A .pb file that cannot be read, with the 1-based line where reading failed."""

    def __init__(self, message: str, line_number: int | None = None) -> None:
        self.message = message
        self.line_number = line_number
        super().__init__(f"line {line_number}: {message}" if line_number else message)


@dataclass(frozen=True)
class ProjectInfo:
    """What a PROJECTS row says about a project beyond its cost; `columns` keeps every cell."""

    id: str
    name: str | None = None
    categories: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    votes: int | None = None
    score: Fraction | None = None
    selected: int | None = None
    columns: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class PbFile:
    """A parsed .pb file: the election, META, project details and the VOTES columns."""

    election: Election
    meta: dict[str, str]
    projects: tuple[ProjectInfo, ...]
    vote_type: str
    vote_columns: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# Reading


def read_pb(path: str | Path) -> PbFile:
    """Parse a .pb file from disk."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return parse_pb(handle.read())


def parse_pb(text: str) -> PbFile:
    """Parse the text of a .pb file."""
    return _Parser().parse(text.removeprefix("\ufeff"))


def load_pb(path_or_text: str | Path) -> PbFile:
    """Parse a path, or .pb text (anything containing a line break)."""
    if isinstance(path_or_text, str) and ("\n" in path_or_text or "\r" in path_or_text):
        return parse_pb(path_or_text)
    return read_pb(path_or_text)


class _Parser:
    def __init__(self) -> None:
        self.meta: dict[str, str] = {}
        self.meta_lines: dict[str, int] = {}
        self.projects: dict[str, Project] = {}
        self.infos: list[ProjectInfo] = []
        self.vote_columns: tuple[str, ...] = ()
        self.kind: str | None = None
        self.seen: dict[tuple, tuple] = {}  # raw vote cells -> canonical ballot
        self.order: dict[str, int] = {}  # project id -> position, once PROJECTS is read
        self.groups: dict[tuple, int] = {}  # canonical ballot -> voters

    def parse(self, text: str) -> PbFile:
        # splitlines() and csv over the resulting list is exactly how pabutools reads.
        reader = csv.reader(text.splitlines(), delimiter=";")
        section = ""
        header: list[str] = []
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            title = row[0].strip().lower()
            if title in SECTIONS:
                section = title
                try:
                    header = [cell.strip() for cell in next(reader)]
                except StopIteration:
                    raise PabulibError(
                        f"section {title.upper()} has no header line", line
                    ) from None
                if section == "votes":
                    self.vote_columns = tuple(header)
                continue
            if section == "meta":
                self._meta_row(row, line)
            elif section == "projects":
                self._project_row(row, header, line)
            elif section == "votes":
                self._vote_row(row, header, line)
            else:
                raise PabulibError("expected a META, PROJECTS or VOTES section title", line)
        return self._finish()

    def _meta_row(self, row: list[str], line: int) -> None:
        if len(row) < 2:
            raise PabulibError("a META row needs a key and a value", line)
        key = row[0].strip()
        self.meta[key] = row[1].strip()
        self.meta_lines[key] = line

    def _cells(self, row: list[str], header: list[str], line: int) -> dict[str, str]:
        if len(row) > len(header):
            raise PabulibError(
                f"row has {len(row)} cells but the header has {len(header)} columns", line
            )
        cells = {}
        for key, cell in zip(header, row, strict=False):
            value = cell.strip()
            if value.lower() != "none":
                cells[key] = value
        return cells

    def _project_row(self, row: list[str], header: list[str], line: int) -> None:
        cells = self._cells(row, header, line)
        pid = row[0].strip()  # pabutools takes the id from the first column, whatever its name
        if not pid:
            raise PabulibError("empty project id", line)
        if pid in self.projects:
            raise PabulibError(f"duplicate project id {pid!r}", line)
        if "cost" not in cells:
            raise PabulibError(f"project {pid!r} has no cost", line)
        cost = _number(cells["cost"].replace(",", "."))
        if cost is None:
            raise PabulibError(f"project {pid!r}: cost {cells['cost']!r} is not a number", line)
        if cost < 0:
            raise PabulibError(f"project {pid!r}: negative cost {cells['cost']}", line)
        self.projects[pid] = Project(pid, cost)
        self.infos.append(_project_info(pid, cells))

    def _vote_row(self, row: list[str], header: list[str], line: int) -> None:
        cells = self._cells(row, header, line)
        if self.kind is None:
            vote_type = self.meta.get("vote_type")
            if vote_type is None:
                raise PabulibError("META has no vote_type before the VOTES section", line)
            if vote_type not in VOTE_KINDS:
                raise PabulibError(f"unsupported vote_type {vote_type!r}", line)
            self.kind = VOTE_KINDS[vote_type]
        if self.kind == CUMULATIVE:
            if "points" not in cells:
                raw: tuple = ()  # pabutools reads a cumulative ballot without points as empty
            elif "vote" not in cells:
                raise PabulibError("a ballot has points but no vote", line)
            else:
                raw = (cells["vote"], cells["points"])
        elif "vote" not in cells:
            raise PabulibError("a ballot has no vote", line)
        else:
            raw = (cells["vote"],)
        ballot = self.seen.get(raw)
        if ballot is None:
            ballot = self.seen[raw] = self._canonical(raw, line)
        self.groups[ballot] = self.groups.get(ballot, 0) + 1

    def _canonical(self, raw: tuple, line: int) -> tuple:
        if not raw:
            return ()
        names = [name.strip() for name in raw[0].split(",")]
        if self.kind != CUMULATIVE:
            names = [name for name in names if name]
        for name in names:
            if name not in self.projects and (name or self.kind != CUMULATIVE):
                raise PabulibError(f"vote for unknown project {name!r}", line)
        if self.kind == ORDINAL:
            return tuple(dict.fromkeys(names))
        if len(self.order) != len(self.projects):
            self.order = {pid: k for k, pid in enumerate(self.projects)}
        order = self.order
        if self.kind == APPROVAL:
            return tuple(sorted(set(names), key=order.__getitem__))
        points = raw[1].split(",")
        if len(points) < len(names):
            raise PabulibError(f"{len(names)} projects but only {len(points)} points", line)
        scores: dict[str, Fraction] = {}
        for name, cell in zip(names, points, strict=False):
            if not name and not cell.strip():
                continue  # an empty ballot written as ";", or a trailing comma in both cells
            if not name:
                raise PabulibError("vote for unknown project ''", line)
            value = _number(cell)
            if value is None:
                raise PabulibError(f"points {cell.strip()!r} is not a number", line)
            scores[name] = value
        return tuple(sorted(scores.items(), key=lambda item: order[item[0]]))

    def _finish(self) -> PbFile:
        if "budget" not in self.meta:
            raise PabulibError("META has no budget")
        raw_budget = self.meta["budget"]
        budget = _number(raw_budget.replace(",", "."))
        if budget is None or budget < 0:
            raise PabulibError(
                f"budget {raw_budget!r} is not a non-negative number", self.meta_lines["budget"]
            )
        vote_type = self.meta.get("vote_type")
        if vote_type is None:
            raise PabulibError("META has no vote_type")
        if vote_type not in VOTE_KINDS:
            raise PabulibError(f"unsupported vote_type {vote_type!r}", self.meta_lines["vote_type"])
        kind = VOTE_KINDS[vote_type]
        if kind == CUMULATIVE:
            ballots = tuple(
                Ballot(tuple(p for p, _ in key), tuple(s for _, s in key), weight)
                for key, weight in self.groups.items()
            )
        else:
            ballots = tuple(Ballot(key, (), weight) for key, weight in self.groups.items())
        election = Election(budget, tuple(self.projects.values()), ballots, kind)
        return PbFile(election, dict(self.meta), tuple(self.infos), vote_type, self.vote_columns)


def _project_info(pid: str, cells: dict[str, str]) -> ProjectInfo:
    def listed(*keys: str) -> tuple[str, ...]:
        for key in keys:
            if key in cells:
                return tuple(dict.fromkeys(e.strip() for e in cells[key].split(",") if e.strip()))
        return ()

    def number(key: str, kind: type) -> object:
        value = _number(cells[key].replace(",", ".")) if key in cells else None
        if value is None:
            return None
        if kind is int:
            return int(value) if value.denominator == 1 else None
        return kind(value)

    return ProjectInfo(
        id=pid,
        name=cells.get("name"),
        categories=listed("category", "categories"),
        targets=listed("beneficiaries", "target", "targets"),
        latitude=number("latitude", float),  # type: ignore[arg-type]
        longitude=number("longitude", float),  # type: ignore[arg-type]
        votes=number("votes", int),  # type: ignore[arg-type]
        score=number("score", Fraction),  # type: ignore[arg-type]
        selected=number("selected", int),  # type: ignore[arg-type]
        columns=dict(cells),
    )


def _number(text: str) -> Fraction | None:
    """A number the way gmpy2's mpq reads it (pabutools' parser): ints, decimals, 1e3, 1/3."""
    compact = "".join(text.split())
    if not compact.isascii():
        return None
    try:
        return Fraction(compact)
    except (ValueError, ZeroDivisionError):
        return None


# --------------------------------------------------------------------------------------------
# Writing


def write_pb(
    election: Election,
    meta: dict[str, str] | None = None,
    projects: Sequence[ProjectInfo] | None = None,
) -> str:
    """Serialise an election as .pb text with anonymous voters numbered 1, 2, 3, ...

    META keys given in `meta` are kept, except the ones the election itself determines
    (num_projects, num_votes, budget, vote_type); PROJECTS columns come from `projects`.
    """
    meta = dict(meta or {})
    vote_type = meta.get("vote_type")
    if vote_type not in VOTE_KINDS or VOTE_KINDS[vote_type] != election.kind:
        vote_type = election.kind
    values = {
        "description": meta.get("description", "Exported from Civic"),
        "country": meta.get("country", ""),
        "unit": meta.get("unit", ""),
        "instance": meta.get("instance", ""),
        "num_projects": str(len(election.projects)),
        "num_votes": str(election.voters),
        "budget": _format_number(election.budget),
        "vote_type": vote_type,
        "rule": meta.get("rule", "unknown"),
    }
    for key, value in meta.items():
        values.setdefault(key, value)

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    out.write("META\n")
    writer.writerow(["key", "value"])
    for key, value in values.items():
        writer.writerow([key, value])

    columns = {info.id: _project_columns(info) for info in projects or ()}
    extra: list[str] = []
    for p in election.projects:
        for key in columns.get(p.id, ()):
            if key not in ("project_id", "cost") and key not in extra:
                extra.append(key)
    out.write("PROJECTS\n")
    writer.writerow(["project_id", "cost", *extra])
    for p in election.projects:
        cells = columns.get(p.id, {})
        writer.writerow([p.id, _format_number(p.cost), *(cells.get(k, "None") for k in extra)])

    out.write("VOTES\n")
    cumulative = election.kind == CUMULATIVE
    writer.writerow(["voter_id", "vote", "points"] if cumulative else ["voter_id", "vote"])
    voter = 0
    for ballot in election.ballots:
        cells = [
            ",".join(ballot.projects),
            ",".join(_format_number(Fraction(s)) for s in ballot.points),
        ]
        if cumulative and not ballot.projects:
            cells = ["None", "None"]  # pabutools reads this as an empty ballot, and ";" not at all
        for _ in range(ballot.weight):
            voter += 1
            writer.writerow([voter, *(cells if cumulative else cells[:1])])
    return out.getvalue()


def _project_columns(info: ProjectInfo) -> dict[str, str]:
    """PROJECTS cells for a project: its typed fields over the raw columns it was read with."""
    cells = dict(info.columns)
    if info.name is not None:
        cells["name"] = info.name
    if info.categories:
        key = "categories" if "categories" in cells else "category"
        cells[key] = ",".join(info.categories)
    if info.targets:
        key = next((k for k in ("target", "targets") if k in cells), "beneficiaries")
        cells[key] = ",".join(info.targets)
    for key in ("latitude", "longitude", "votes", "score", "selected"):
        value = getattr(info, key)
        if value is not None:
            cells[key] = _format_number(value) if isinstance(value, Fraction) else str(value)
    return cells


def _format_number(value: Fraction) -> str:
    """Exact decimal text when there is one (1500, 2828094.61), else p/q."""
    if value.denominator == 1:
        return str(value.numerator)
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    digits = max(twos, fives)
    scaled = abs(value.numerator) * 10**digits // value.denominator
    sign = "-" if value < 0 else ""
    whole, frac = divmod(scaled, 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------------------
# Recount


def recount(
    path_or_text: str | Path,
    rule: str,
    *,
    tie_order: Sequence[str] | None = None,
    read_as_approval: bool = False,
) -> dict:
    """Tally a .pb file with a Civic rule; a JSON-serialisable summary (money as exact text).

    `selected` lists the funded ids sorted as strings (as pabutools' reference outcomes do),
    `order` in the order the rule funded them.
    """
    pb = load_pb(path_or_text)
    election = as_approval(pb.election) if read_as_approval else pb.election
    outcome = tally(election, rule, tie_order=tie_order)
    return {
        "rule": rule,
        "pabutools_rule": PABUTOOLS_RULES[election.kind].get(rule),
        "vote_type": pb.vote_type,
        "voters": election.voters,
        "budget": _format_number(election.budget),
        "total_cost": _format_number(outcome.total_cost),
        "selected": sorted(outcome.selected),
        "order": list(outcome.selected),
    }
