"""The first-shell fit started from the ML answer: Larch's feffit on measured spectra with a FEFF
path of a bundled reference site, run for real (feff8l and the fit take about a second)."""

import contextlib
import dataclasses
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import exafs_cn
from exafs_cn.datagen._dataset import Dataset
from exafs_cn.datagen._fit_references import reference_sites, write_references
from exafs_cn.exceptions import ReferencesError
from exafs_cn.measured._fit import FitError, ReferencePaths, fit_first_shell, fit_foil_s02
from exafs_cn.models._fit_references import COLUMNS, read_references

DATA = Path(__file__).parent / "data" / "experimental"
CU_FOIL = DATA / "data__Cu__cu_metal_rt.xdi"
CU_SOLUTION = DATA / "website__pages__lisa-esrf__files__CuSO4_2mM_111.xdi"
NIO = DATA / "examples__xafsdata__AthenaProjectFiles__NiO__NiO.000.dat"


@pytest.fixture(scope="module")
def paths():
    with ReferencePaths() as shared:
        yield shared


def _answer(path: Path):
    (answer,) = exafs_cn.predict(path)
    assert answer.cn is not None, answer.reason
    return answer


def test_fit_of_a_measured_copper_foil_finds_its_first_shell(paths):
    answer = _answer(CU_FOIL)
    fit = fit_first_shell(answer, paths)
    # fcc Cu: 12 Cu at a/sqrt(2) = 2.553 A at room temperature; S02 fixed at 0.9
    assert fit.reference.neighbour == "Cu" and fit.reference.absorber == "Cu"
    assert abs(fit.n - 12) < 1.5 and 0 < fit.n_error < 1.5
    assert abs(fit.r - 2.553) < 0.03 and 0 < fit.r_error < 0.02
    assert 0.002 < fit.sigma2 < 0.02 and abs(fit.e0) < 15
    assert 0 <= fit.r_factor < 0.02
    assert fit.r_range[0] < fit.r - 0.2 < fit.r_range[1]  # the window holds the (not phase-corrected) peak
    assert fit.s02 == 0.9 and fit.s02_source == "default"
    assert json.loads(json.dumps(fit.to_dict()))["reference"]["material_id"] == fit.reference.material_id


def test_fit_of_nickel_oxide_uses_a_nickel_oxygen_path(paths):
    fit = fit_first_shell(_answer(NIO), paths)
    assert fit.reference.neighbour == "O"
    assert abs(fit.r - 2.09) < 0.06  # rock salt NiO: 6 O at a/2
    assert 2 < fit.n < 9


def test_s02_from_a_foil_carries_over_to_the_sample(paths):
    s02, error = fit_foil_s02(_answer(CU_FOIL), paths)
    assert 0.7 < s02 < 1.1 and 0 < error < 0.1
    fit = fit_first_shell(_answer(CU_SOLUTION), paths, s02=s02, s02_source="foil")
    # aqueous Cu2+: four equatorial O at ~1.96 A (the axial pair is longer and weaker)
    assert fit.reference.neighbour == "O" and abs(fit.r - 1.96) < 0.05 and 2.5 < fit.n < 6.5
    with pytest.raises(FitError, match="not a metal foil"):
        fit_foil_s02(_answer(CU_SOLUTION), paths)


def test_a_fit_that_cannot_converge_fails_in_one_line(paths):
    answer = _answer(CU_FOIL)
    rng = np.random.default_rng(0)
    noise = dataclasses.replace(answer.processed, chi=rng.normal(0, 0.05, answer.processed.chi.shape))
    with pytest.raises(FitError) as failed:
        fit_first_shell(dataclasses.replace(answer, processed=noise), paths)
    message = str(failed.value)
    assert message.startswith(str(CU_FOIL)) and "\n" not in message
    no_answer = dataclasses.replace(answer, cn=None, reason="the data end too early")
    with pytest.raises(FitError, match="no ML answer to start a fit from"):
        fit_first_shell(no_answer, paths)


def test_a_chromate_fit_that_runs_sigma2_to_zero_says_what_that_means(paths):
    # The shipped K2CrO4 example: its measured first-shell amplitude at k 3-5/A is a fraction of
    # the FEFF path's (docs/first-shell.md), and no sigma2 >= 0 fits that.
    answer = _answer(exafs_cn.example("k2cro4"))
    with pytest.raises(FitError, match=r"sigma2 ran to 0: the data's first-shell amplitude falls off with k more slowly"):
        fit_first_shell(answer, paths)


def test_predict_with_fit_reports_both_answers(tmp_path):
    results = exafs_cn.predict([str(CU_FOIL), str(tmp_path / "missing.xdi")], fit=True)
    answer, missing = results
    assert answer.fit is not None and answer.fit_error is None
    assert abs(answer.fit.n - 12) < 1.5 and isinstance(missing, exafs_cn.Failure)
    text = answer.to_text().splitlines()
    assert len(text) == 2 and text[1].startswith("  fit: N ") and "Cu-Cu path of" in text[1]
    table = exafs_cn.to_dataframe(results)
    assert table.loc[0, "fit_n"] == pytest.approx(answer.fit.n) and np.isnan(table.loc[1, "fit_n"])
    # without fit=True the answer has no fit and says nothing about one
    (plain,) = exafs_cn.predict(CU_FOIL)
    assert plain.fit is None and plain.to_dict()["fit"] is None and len(plain.to_text().splitlines()) == 1


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exafs_cn", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_cli_fit_json_and_its_options(tmp_path):
    run = _cli("predict", "--fit", "--json", "--foil", str(CU_FOIL), str(CU_SOLUTION), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    line = json.loads(run.stdout)
    assert line["fit"]["s02_source"].endswith(f"from foil {CU_FOIL.name}") and 0.7 < line["fit"]["s02"] < 1.1
    assert set(line["fit"]) >= {"n", "n_error", "r", "r_error", "sigma2", "sigma2_error", "e0", "e0_error", "r_factor", "reference"}
    for args, expected in (
        (("--s02", "0.8", str(CU_FOIL)), "--s02 and --foil are settings of --fit; add --fit"),
        (("--fit", "--s02", "0.8", "--foil", str(CU_FOIL), str(CU_FOIL)), "give --s02 or --foil, not both"),
        (("--fit", "--foil", str(CU_SOLUTION), str(CU_SOLUTION)), "not a metal foil"),
    ):
        run = _cli("predict", *args, cwd=tmp_path)
        assert run.returncode == 2 and expected in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert "Traceback" not in run.stderr


def test_shipped_references_cover_every_element_and_are_checked(tmp_path):
    table = read_references()
    assert set(table.columns) >= set(COLUMNS) and len(table) > 1000
    assert set(table["absorber"]) == {"Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn"}
    cu = table[(table["material_id"] == "mp-30") & (table["absorber"] == "Cu")].iloc[0]
    assert cu["neighbour"] == "Cu" and cu["cn"] == 12 and abs(cu["r1"] - 2.56) < 0.02
    broken = tmp_path / "refs.csv.gz"
    broken.write_bytes(gzip.compress(b"material_id,absorber\nmp-1,Cu\n"))
    with pytest.raises(ReferencesError, match=f"{broken}: not a reference table"):
        read_references(broken)
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(ReferencesError, match="not a reference table"):
        read_references(broken)


def test_references_from_a_dataset_keep_single_element_shells(data_slice, tmp_path):
    dataset = Dataset(data_slice)
    table = reference_sites(dataset.first_shell())
    shells = dataset.first_shell().set_index(["material_id", "absorber", "site_index"])
    for row in table.head(50).itertuples(index=False):
        site = shells.loc[(row.material_id, row.absorber, row.site_index)]
        assert json.loads(site["neighbours"]) == {row.neighbour: row.cn} and site["r1_std"] < 0.02
    out, again = tmp_path / "refs.csv.gz", tmp_path / "again.csv.gz"
    assert write_references(dataset, out) == len(table) == write_references(dataset, again)
    assert out.read_bytes() == again.read_bytes()  # the same labels give the same file
    pd.testing.assert_frame_equal(read_references(out)[list(COLUMNS)], table[list(COLUMNS)], atol=1e-4, check_dtype=False)


def test_cli_writes_the_reference_table_of_a_dataset(data_slice, tmp_path):
    run = _cli("dataset", "fit-references", str(data_slice), "--out", str(tmp_path / "refs.csv.gz"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"{len(reference_sites(Dataset(data_slice).first_shell()))} reference sites" in run.stdout
    run = _cli("dataset", "fit-references", str(tmp_path), "--out", str(tmp_path / "x.csv.gz"), cwd=tmp_path)
    assert run.returncode == 2 and "no labels.parquet" in run.stderr and not (tmp_path / "x.csv.gz").exists()


def test_fit_runs_where_stdout_has_no_encoding(paths):
    # a notebook's or a capturing tool's stdout: Larch's path code reads sys.stdout.encoding
    with contextlib.redirect_stdout(io.StringIO()) as captured:
        fit = fit_first_shell(_answer(CU_FOIL), paths)
    assert fit.reference.neighbour == "Cu" and captured.getvalue() == ""
