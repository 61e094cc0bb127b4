"""Civic's participatory-budgeting rules and Pabulib parser against pabutools 1.2.3, same run.

For each instance and rule: our time (best of --repeat runs on a fresh election, so nothing is
cached), pabutools' time (one run in a subprocess, killed after --timeout seconds), the ratio,
and whether the outcomes agree (same projects; same order, except for Phragmén, which pabutools
returns sorted). Parse times are compared the same way.

    python3 -m venv /tmp/pbbench && /tmp/pbbench/bin/pip install -r bench/requirements.txt
    /tmp/pbbench/bin/python bench/pb_rules.py --timeout 600 --markdown

Ranked (ordinal) ballots get Civic's two rules for them (greedy by Borda score, MES with Borda
utilities) and, marked "(approval)", every approval rule on the ballots read as approval sets,
which is how the reference reports MES with Add1 on Kraków.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import sys
import time
import types
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Load civic/budgeting/{tally,pabulib}.py without civic/__init__.py (which needs Flask): bare
# package stubs pointing at the folders are enough for pure modules.
for _name, _folder in (
    ("civic", REPO / "civic"),
    ("civic.budgeting", REPO / "civic" / "budgeting"),
):
    _package = types.ModuleType(_name)
    _package.__path__ = [str(_folder)]
    sys.modules.setdefault(_name, _package)

SAMPLE = REPO.parent / "shared" / "pabulib-sample"
LARGE = [
    "Poland_Krakow_2024.pb",
    "Poland_Lodz_2022.pb",
    "Poland_Warszawa_2026.pb",
    "Poland_Wroclaw_2017.pb",
]
SMALL = [
    "Poland_Wieliczka_2023_Green_Budget.pb",
    "Netherlands_Assen_2024.pb",
    "Poland_Czestochowa_2020_Grabowka.pb",
    "Switzerland_Zurich_S5R.pb",
]


# --------------------------------------------------------------------------------------------
# The pabutools side, run in a subprocess: python bench/pb_rules.py --worker FILE KEY


def pabutools_rule(key: str):
    """A callable (instance, profile) -> allocation for a reference rule key."""
    from pabutools.election import (
        Additive_Borda_Sat,
        Additive_Cardinal_Sat,
        Cardinality_Sat,
        Cost_Sat,
    )
    from pabutools.election.satisfaction import AdditiveSatisfaction
    from pabutools.rules import (
        completion_by_rule_combination,
        greedy_utilitarian_welfare,
        method_of_equal_shares,
        sequential_phragmen,
    )

    class PointsCost(AdditiveSatisfaction):
        """Satisfaction = points x cost (the reference's "points" rules)."""

        def __init__(self, instance, profile, ballot):
            super().__init__(
                instance, profile, ballot, lambda i, p, b, proj, pre: b.get(proj, 0) * proj.cost
            )

    if key == "phragmen":
        return sequential_phragmen
    sat = {
        "greedy_votes": Cost_Sat,
        "greedy_votes_per_cost": Cardinality_Sat,
        "greedy_points": PointsCost,
        "greedy_points_per_cost": Additive_Cardinal_Sat,
        "greedy_borda": Additive_Borda_Sat,
    }.get(key)
    if sat is not None:
        # Borda satisfaction is additive but not an AdditiveSatisfaction subclass; without the
        # flag pabutools takes its far slower general greedy (same outcome).
        return lambda inst, prof: greedy_utilitarian_welfare(
            inst, prof, sat_class=sat, is_sat_additive=True
        )
    sat = {"mes_cost": Cost_Sat, "mes_points_cost": PointsCost, "mes_borda": Additive_Borda_Sat}[
        key.removesuffix("_util").removesuffix("_add1")
    ]
    params = {"sat_class": sat}
    if "_add1" in key:
        params["voter_budget_increment"] = 1
    if not key.endswith("_util"):
        return lambda inst, prof: method_of_equal_shares(inst, prof, **params)
    rules = [method_of_equal_shares, greedy_utilitarian_welfare]
    return lambda inst, prof: completion_by_rule_combination(
        inst, prof, rules, [params, {"sat_class": sat}]
    )


def worker(path: str, key: str) -> None:
    """Parse with pabutools, run one rule (or none for key "parse"), print JSON."""
    import warnings

    warnings.simplefilter("ignore")
    from pabutools.election import parse_pabulib

    start = time.perf_counter()
    instance, profile = parse_pabulib(path)
    parse_seconds = time.perf_counter() - start
    result = {"parse_seconds": parse_seconds}
    if key != "parse":
        rule = pabutools_rule(key)
        start = time.perf_counter()
        outcome = rule(instance, profile)
        result["seconds"] = time.perf_counter() - start
        result["order"] = [p.name for p in outcome]
    print(json.dumps(result))


def run_pabutools(path: Path, key: str, timeout: float) -> dict | None:
    """One pabutools call in a fresh process; None on timeout."""
    command = [sys.executable, __file__, "--worker", str(path), key]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Our side


def best_of(repeat: int, func) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - start)
    return best, value


def jobs_for(kind: str, rules: list[str] | None) -> list[tuple[str, str, bool]]:
    """(label, Civic rule, read as approval) for a ballot kind."""
    from civic.budgeting.pabulib import PABUTOOLS_RULES
    from civic.budgeting.tally import APPROVAL, ORDINAL

    jobs = [(rule, rule, False) for rule in PABUTOOLS_RULES[kind]]
    if kind == ORDINAL:
        jobs += [
            (f"{rule} (approval)", rule, True)
            for rule, key in PABUTOOLS_RULES[APPROVAL].items()
            if key in ("greedy_votes", "mes_cost", "mes_cost_util")
            or key.startswith("mes_cost_add1")
        ]
    return [job for job in jobs if rules is None or job[1] in rules]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", nargs="*", help="file names in the sample, or paths")
    parser.add_argument("--rules", nargs="*", help="Civic rule names (default: all that apply)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per pabutools call")
    parser.add_argument("--repeat", type=int, default=3, help="our runs per rule (best is kept)")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="Pabulib sample folder")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    from civic.budgeting.pabulib import PABUTOOLS_RULES, read_pb
    from civic.budgeting.tally import APPROVAL, as_approval, tally

    paths = [
        Path(f) if Path(f).exists() else args.sample / f for f in (args.files or LARGE + SMALL)
    ]
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.platform()}, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"pabutools timeout {args.timeout:g} s",
        flush=True,
    )
    rows, parse_rows, disagreements = [], [], 0
    for path in paths:
        ours_parse, pb = best_of(args.repeat, lambda path=path: read_pb(path))
        theirs = run_pabutools(path, "parse", args.timeout)
        theirs_parse = theirs["parse_seconds"] if theirs else None
        parse_rows.append((path.stem, ours_parse, theirs_parse))
        print(
            f"{path.stem}: parse ours {ours_parse:.3f}s, pabutools "
            f"{'timeout' if theirs_parse is None else f'{theirs_parse:.3f}s'}",
            flush=True,
        )
        for label, rule, read_as_approval in jobs_for(pb.election.kind, args.rules):
            kind = APPROVAL if read_as_approval else pb.election.kind
            key = PABUTOOLS_RULES[kind][rule]

            def ours(pb=pb, rule=rule, read_as_approval=read_as_approval):
                election = dataclasses.replace(pb.election)  # fresh: no cached index
                if read_as_approval:
                    election = as_approval(election)
                return tally(election, rule)

            seconds, outcome = best_of(args.repeat, ours)
            result = run_pabutools(path, key, args.timeout)
            if result is None:
                agree = "?"
                theirs_s = None
            else:
                theirs_s = result["seconds"]
                same = sorted(result["order"]) == sorted(outcome.selected)
                if rule != "phragmen":
                    same = same and result["order"] == list(outcome.selected)
                agree = "yes" if same else "NO"
                disagreements += not same
            rows.append((path.stem, label, key, seconds, theirs_s, agree))
            ratio = "timeout" if theirs_s is None else f"{theirs_s / seconds:.0f}x"
            print(
                f"  {label:28} ours {seconds:8.4f}s  pabutools "
                f"{'>' + format(args.timeout, 'g') if theirs_s is None else format(theirs_s, '.3f')}s"
                f"  {ratio:>8}  agree {agree}",
                flush=True,
            )

    if args.markdown:
        print(markdown(rows, parse_rows, args.timeout, args.sample / "reference_outcomes.json"))
    if disagreements:
        print(f"\n{disagreements} outcome(s) differ from pabutools", file=sys.stderr)
        sys.exit(1)


def markdown(rows: list, parse_rows: list, timeout: float, reference: Path) -> str:
    """The results as Markdown tables, with pabutools' own timings from the reference file.

    The reference outcomes were timed on a quiet machine of the same kind; the lower of the two
    ratios is the conservative one when this run shared the machine.
    """
    ref = json.loads(reference.read_text()) if reference.exists() else {}
    lines = [
        "| instance | rule | pabutools rule | ours (s) | pabutools, this run (s) | ratio "
        "| pabutools, reference run (s) | ratio | same outcome |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, label, key, seconds, theirs_s, agree in rows:
        if theirs_s is None:
            now, ratio = f"> {timeout:g} (timeout)", f"> {timeout / seconds:.0f}x"
        else:
            now, ratio = f"{theirs_s:.3f}", f"{theirs_s / seconds:.0f}x"
        entry = ref.get(f"{name}.pb", {}).get(key, {})
        if entry.get("status") == "ok":
            then, ratio_then = f"{entry['seconds']:.3f}", f"{entry['seconds'] / seconds:.0f}x"
        else:
            then = ratio_then = "–"
        lines.append(
            f"| {name} | {label} | {key} | {seconds:.4f} | {now} | {ratio} | {then} "
            f"| {ratio_then} | {agree} |"
        )
    lines += [
        "",
        "| instance | parse ours (s) | parse pabutools, this run (s) | ratio "
        "| pabutools, reference run (s) | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, ours_parse, theirs_parse in parse_rows:
        now = "timeout" if theirs_parse is None else f"{theirs_parse:.3f}"
        ratio = "–" if theirs_parse is None else f"{theirs_parse / ours_parse:.1f}x"
        entries = [e for e in ref.get(f"{name}.pb", {}).values() if "parse_seconds" in e]
        then = min((e["parse_seconds"] for e in entries), default=None)
        then_text = "–" if then is None else f"{then:.3f}"
        ratio_then = "–" if then is None else f"{then / ours_parse:.1f}x"
        lines.append(
            f"| {name} | {ours_parse:.4f} | {now} | {ratio} | {then_text} | {ratio_then} |"
        )
    return "\n" + "\n".join(lines)


if __name__ == "__main__":
    main()
