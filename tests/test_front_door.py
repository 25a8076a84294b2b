"""The first five minutes: --version, help a user can read, example spectra, folders, --csv."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import exafs_cn
from exafs_cn.cli import app
from exafs_cn.examples import EXAMPLES, UnknownExampleError

MEASURED = Path(__file__).parent / "data" / "experimental"
runner = CliRunner()


def test_version_is_the_installed_release():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"exafs-cn {exafs_cn.__version__}"


def test_help_speaks_to_users_and_flags_take_no_value():
    top = runner.invoke(app, ["--help"]).stdout
    assert "3d transition-metal" in top and "parse, call, print" not in top and "predict --example" in top
    predict = runner.invoke(app, ["predict", "--help"], terminal_width=200).stdout
    assert "<bool>" not in predict and "<bool>" not in top
    assert ".fio" in predict and "--example" in predict and "--csv" in predict


def test_every_example_is_a_file_the_package_carries_and_is_answered_with_its_textbook_cn(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # from any folder
    results = exafs_cn.predict([exafs_cn.example(name) for name in EXAMPLES])
    assert [r.cn for r in results] == [e.textbook_cn for e in EXAMPLES.values()]
    listing = runner.invoke(app, ["examples"]).stdout
    assert all(name in listing and str(e.path) in listing for name, e in EXAMPLES.items())
    with pytest.raises(UnknownExampleError, match="choose from cu-foil"):
        exafs_cn.example("cu foil")


def test_unknown_example_and_nothing_to_predict_are_one_line_usage_errors():
    result = runner.invoke(app, ["predict", "--example", "nope"])
    assert result.exit_code == 2 and "--example" in result.stderr and "cu-foil" in result.stderr
    result = runner.invoke(app, ["predict"])
    assert result.exit_code == 2 and "nothing to predict" in result.stderr


def test_a_folder_stands_for_its_files_in_name_order_and_a_stray_file_is_one_line(tmp_path):
    run = tmp_path / "run42"
    run.mkdir()
    shutil.copy(MEASURED / "data__Cu__cu_metal_rt.xdi", run / "b_scan.xdi")
    shutil.copy(MEASURED / "data__Zn__ZnO.xdi", run / "a_scan.xdi")
    (run / "notes.txt").write_text("beamtime notes, not a spectrum\n")
    (run / ".hidden.xdi").write_text("left out\n")
    (run / "sub").mkdir()
    result = runner.invoke(app, ["predict", str(run)])
    assert result.exit_code == 1  # one input could not be used
    lines = result.stdout.splitlines()
    assert [Path(line.split(":")[0]).name for line in lines] == ["a_scan.xdi", "b_scan.xdi"]
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "notes.txt" in errors[0]


def test_csv_is_one_row_per_spectrum_with_the_dataframe_columns_and_never_replaces_a_file(tmp_path):
    table_path = tmp_path / "out" / "series.csv"
    missing = tmp_path / "missing.xdi"
    result = runner.invoke(app, ["predict", "--example", "zno", "--example", "cr2o3", str(missing), "--csv", str(table_path)])
    assert result.exit_code == 1  # the missing file
    table = pd.read_csv(table_path)
    # Files and folders first, then the examples, as predict reads them.
    expected = exafs_cn.to_dataframe(exafs_cn.predict([missing, exafs_cn.example("zno"), exafs_cn.example("cr2o3")]))
    assert list(table.columns) == list(expected.columns)
    assert list(table["cn"].fillna(0).astype(int)) == [0, 4, 6]
    assert "no such file" in table["error"].iloc[0] and {"e0", "e0_source", "pre_edge_height", "p_4", "p_6"} <= set(table.columns)
    before = table_path.read_bytes()
    again = runner.invoke(app, ["predict", "--example", "zno", "--csv", str(table_path)])
    assert again.exit_code == 2 and "exists" in again.stderr and again.stdout == ""
    assert table_path.read_bytes() == before
