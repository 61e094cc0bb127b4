import json

from click.testing import CliRunner

from civic.cli import pb_tally
from civic.config import SEEDS_DIR


def test_pb_tally_prints_json_anyone_can_check():
    result = CliRunner().invoke(
        pb_tally, [str(SEEDS_DIR / "budgeting-2026.pb"), "--rule", "mes-add1-greedy", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["selected"] == ["A1", "A4", "A5", "B1", "C1", "D1", "E2"]
    assert data["voters"] == 650 and data["budget"] == "1500000"
    greedy = json.loads(
        CliRunner()
        .invoke(pb_tally, [str(SEEDS_DIR / "budgeting-2026.pb"), "--rule", "greedy", "--json"])
        .output
    )
    assert greedy["selected"] == ["A1", "A2", "A4", "A5", "B2"]


def test_pb_tally_names_the_bad_line(tmp_path):
    bad = tmp_path / "bad.pb"
    bad.write_text(
        "META\nkey;value\nbudget;100\nvote_type;approval\nPROJECTS\nproject_id;cost\n1;-5\n"
    )
    result = CliRunner().invoke(pb_tally, [str(bad), "--rule", "greedy", "--json"])
    assert result.exit_code != 0
    assert "line 7" in result.output


def test_pb_tally_unknown_rule(tmp_path):
    result = CliRunner().invoke(
        pb_tally, [str(SEEDS_DIR / "budgeting-2026.pb"), "--rule", "dictator"]
    )
    assert result.exit_code != 0 and "unknown rule" in result.output
