"""``--e0`` and ``e0=``: the user's E0 (an energy, or a shift from the rule's) is the one used and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import exafs_cn
from exafs_cn.cli import app

MEASURED = Path(__file__).parent / "data" / "experimental"
CU = MEASURED / "data__Cu__cu_metal_rt.xdi"
NIO = MEASURED / "examples__xafsdata__AthenaProjectFiles__NiO__NiO.000.dat"
runner = CliRunner()


def _json(*args: str) -> list[dict]:
    result = runner.invoke(app, ["predict", *args, "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_e0_option_moves_the_e0_reported_and_used():
    (rule,) = _json(str(CU))
    (shifted,) = _json(str(CU), "--e0", "+10")
    (given,) = _json(str(CU), "--e0", "8985")
    assert rule["e0_source"] == "rule" and 8970 < rule["e0"] < 9000
    assert shifted["e0"] == pytest.approx(rule["e0"] + 10.0, abs=0.01) and shifted["e0_source"] == "shift +10.0 eV"
    assert given["e0"] == 8985.0 and given["e0_source"] == "given"
    assert shifted["r1"] != rule["r1"]  # the first shell is read from the E0 used too
    text = runner.invoke(app, ["predict", str(CU), "--e0", "8985"]).stdout
    assert "E0 8985.0 eV (given)" in text


def test_the_api_takes_e0_as_the_command_line_does():
    (rule,) = exafs_cn.predict(str(CU))
    (shifted,) = exafs_cn.predict(str(CU), e0="-5")
    (given,) = exafs_cn.predict(str(CU), e0=8985.0)
    assert shifted.e0 == pytest.approx(rule.e0 - 5.0) and given.e0 == 8985.0
    assert shifted.e0_source == "shift -5.0 eV" and exafs_cn.to_dataframe([given])["e0"][0] == 8985.0


@pytest.mark.parametrize(
    "value, message",
    [("abc", "not a number"), ("5", "write a shift with its sign"), ("+80", "more than 50 eV"), ("nan", "not a finite number")],
)
def test_an_unusable_e0_is_one_usage_error(value, message):
    result = runner.invoke(app, ["predict", str(CU), str(NIO), "--e0", value])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(errors) == 1 and message in errors[0] and not result.stdout.strip()
    failures = exafs_cn.predict([str(CU), str(NIO)], e0=value)
    assert all(isinstance(f, exafs_cn.Failure) and message in f.error for f in failures)


def test_an_e0_outside_a_spectrum_is_that_spectrums_error():
    result = runner.invoke(app, ["predict", str(CU), str(NIO), "--e0", "8340", "--json"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1 and lines[1]["e0"] == 8340.0  # the Ni edge is at 8333 eV
    assert str(CU) in lines[0]["error"] and "lies outside the data" in lines[0]["error"]  # the Cu scan starts at 8779 eV
