"""Measured spectra: every format on real files, predictions from trained models, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from larch import Group
from larch.io import AthenaProject, read_ascii
from typer.testing import CliRunner

from exafs_cn.cli import app
from exafs_cn.learn._augment import DEFAULT_AUGMENTATION
from exafs_cn.learn._calibration import expected_calibration_error
from exafs_cn.learn._corpus import SPECTRA_VERSION
from exafs_cn.measured._formats import FORMATS, format_of
from exafs_cn.measured._readers import Columns, SpectrumFileError, read_spectra
from exafs_cn.models._files import SavedModel
from exafs_cn.models._measured_calibration import CALIBRATION_FILE, PowerCalibration

MEASURED = Path(__file__).parent / "data" / "experimental"
CU = MEASURED / "data__Cu__cu_metal_rt.xdi"
FE = MEASURED / "data__Fe__Fe_metal_rt_01.xdi"
ZNO = MEASURED / "data__Zn__ZnO.xdi"
NIO = [MEASURED / f"examples__xafsdata__AthenaProjectFiles__NiO__NiO.00{i}.dat" for i in (0, 1)]
runner = CliRunner()


@pytest.fixture(scope="module")
def athena_project(tmp_path_factory) -> Path:
    """A real Athena project (gzipped, Larch's writer) holding the two NiO scans."""
    path = tmp_path_factory.mktemp("prj") / "nio.prj"
    project = AthenaProject(str(path))
    for source in NIO:
        data = read_ascii(str(source))
        name = source.stem.split("__")[-1].replace(".", "_")
        project.add_group(Group(energy=data.energy, mu=data.mu, filename=name, label=name, groupname=name))
    project.save(str(path))
    return path


def test_each_format_is_detected_and_read_with_its_element(athena_project):
    assert format_of(CU.read_bytes()[:4096]).name == "xdi"
    assert format_of(NIO[0].read_bytes()[:4096]).name == "columns"
    assert format_of(athena_project.read_bytes()[:4096]).name == "athena"
    assert format_of((MEASURED / "parseq_XAS__data__Cu_rt1.fio").read_bytes()[:4096]).name == "fio"
    assert [f.name for f in FORMATS] == ["hdf5", "athena", "xdi", "fio", "spec", "9809", "columns"]  # the registry, in the order tried

    cu = read_spectra(CU)  # XDI with a mu column and Element.symbol
    assert [(s.element, s.element_source, s.group) for s in cu] == [("Cu", "file", None)]
    zno = read_spectra(ZNO)  # XDI with only i0 and itrans: mu = ln(i0/itrans)
    assert zno[0].element == "Zn" and zno[0].mu.std() > 0
    nio = read_spectra(NIO[0])  # columns, "element: Ni" in the header
    assert nio[0].element == "Ni" and nio[0].kmax > 15
    project = read_spectra(athena_project)  # every group of the project
    assert [s.group for s in project] == ["NiO_000", "NiO_001"]
    np.testing.assert_allclose(project[0].mu, nio[0].mu)


def test_columns_can_be_named_and_kev_energies_are_converted(tmp_path):
    data = read_ascii(str(NIO[0]))
    path = tmp_path / "nio_kev.txt"
    np.savetxt(path, np.column_stack([data.energy / 1000, data.mu, data.mu * 2]), header="e_kev a b")
    (spectrum,) = read_spectra(path, element="Ni", columns=Columns(energy="e_kev", mu="b/2"))
    np.testing.assert_allclose(spectrum.energy, data.energy)
    np.testing.assert_allclose(spectrum.mu, data.mu)
    assert spectrum.element_source == "option"


def test_predict_json_lines_for_files_and_project_groups(models, athena_project):
    result = runner.invoke(app, ["predict", str(CU), str(FE), str(athena_project), "--models-dir", str(models), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [(line["file"], line["group"]) for line in lines] == [
        (str(CU), None),
        (str(FE), None),
        (str(athena_project), "NiO_000"),
        (str(athena_project), "NiO_001"),
    ]
    for line in lines:
        classes = SavedModel.load(models / line["element"] / "rf.model").classes
        assert line["cn"] in classes
        assert set(line["probabilities"]) == {str(c) for c in classes}
        assert sum(line["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert line["probabilities"][str(line["cn"])] == max(line["probabilities"].values())
        assert line["model"].startswith(f"{line['element']}/rf")
        # The average CN sits in its 90% interval, both inside the range the regressor learnt.
        low, high = line["cn_interval"]
        assert 0 <= low <= line["cn_mean"] <= high
        trained = SavedModel.load(models / line["element"] / "cn_mean.model").estimator.y_train_
        assert trained.min() - 0.01 <= line["cn_mean"] <= trained.max() + 0.01


def test_plot_writes_one_figure_per_spectrum(models, tmp_path):
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(models), "--plot", str(tmp_path / "figs")])
    assert result.exit_code == 0, result.output
    assert "Cu CN" in result.output
    figures = list((tmp_path / "figs").glob("*.png"))
    assert [f.name for f in figures] == ["data__Cu__cu_metal_rt.xdi.png"]
    assert figures[0].stat().st_size > 10_000


def test_models_without_a_cn_mean_model_still_give_the_cn(models, tmp_path):
    import shutil

    only_rf = tmp_path / "only-rf"
    shutil.copytree(models / "Cu", only_rf / "Cu", ignore=shutil.ignore_patterns("cn_mean.model"))
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(only_rf), "--json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output)
    assert line["cn"] is not None and line["cn_mean"] is None and line["cn_interval"] is None
    text = runner.invoke(app, ["predict", str(CU), "--models-dir", str(models)]).output
    assert "mean CN" in text and "90% interval" in text


def test_saved_average_cn_models_carry_held_out_coverage(models):
    saved = SavedModel.load(models / "Ni" / "cn_mean.model")
    holdout = saved.metadata["holdout"]
    assert 0 < holdout["mae_clean"] < 3 and 0 <= holdout["coverage_90_augmented"] <= 1
    assert holdout["n_mixtures_clean"] > 0 and saved.metadata["n_by_kind"]["mixture"] > 0


def test_saved_models_carry_held_out_calibration(models):
    saved = SavedModel.load(models / "Fe" / "rf.model")
    holdout = saved.metadata["holdout"]
    assert 0.0 <= holdout["ece_augmented"] <= 1.0 and holdout["n_test_spectra"] > 0
    assert saved.metadata["augment_copies"] == 2 and saved.metadata["augmentation"] == DEFAULT_AUGMENTATION.to_dict()
    assert saved.metadata["spectra_version"] == SPECTRA_VERSION  # which way its training spectra were made
    assert set(saved.metadata["bands"]) == {str(c) for c in saved.classes}


def test_calibration_keeps_the_forests_answer(models):
    # Per-class isotonic calibration moved answers towards the commonest CN; one exponent cannot.
    from exafs_cn.features import featurizers_for, process
    from exafs_cn.settings import ProcessingSettings

    saved = SavedModel.load(models / "Cu" / "rf.model")
    settings = ProcessingSettings.from_dict(saved.settings)
    processed = process(read_spectra(CU)[0].to_spectrum(), settings)
    row = np.concatenate([f.featurize(processed) for f in featurizers_for(saved.feature_set, settings)])[None, :]
    forest, calibrated = saved.estimator.estimator_.predict_proba(row), saved.estimator.predict_proba(row)
    assert np.argmax(forest) == np.argmax(calibrated) and saved.estimator.exponent_ > 0
    np.testing.assert_allclose(calibrated, PowerCalibration(saved.estimator.exponent_).apply(forest))


def test_a_measured_calibration_beside_the_models_is_applied_and_a_damaged_one_is_one_line(models, tmp_path):
    import shutil

    folder = tmp_path / "models"
    shutil.copytree(models / "Cu", folder / "Cu")
    raw = json.loads(runner.invoke(app, ["predict", str(CU), "--models-dir", str(folder), "--json"]).output)
    PowerCalibration(2.0, {"corpus": "test"}).save(folder / CALIBRATION_FILE)
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(folder), "--json"])
    sharpened = json.loads(result.output)
    assert result.exit_code == 0 and sharpened["cn"] == raw["cn"]
    expected = PowerCalibration(2.0).apply(np.array(list(raw["probabilities"].values())))
    np.testing.assert_allclose(list(sharpened["probabilities"].values()), expected, atol=2e-4)
    (folder / CALIBRATION_FILE).write_text('{"exponent": 1e9}')
    result = runner.invoke(app, ["predict", str(CU), str(NIO[0]), "--models-dir", str(folder)])
    errors = [line for line in result.stderr.splitlines() if line.strip()]  # said once, before any spectrum
    assert result.exit_code == 2 and len(errors) == 1 and CALIBRATION_FILE in errors[0] and "exponent" in errors[0]
    assert not result.stdout.strip()


def test_a_model_file_with_a_tampered_exponent_is_refused_in_one_line(models, tmp_path):
    saved = SavedModel.load(models / "Cu" / "rf.model")
    saved.estimator.exponent_ = float("nan")
    saved.save(tmp_path / "models" / "Cu" / "rf.model")
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(tmp_path / "models")])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(errors) == 1 and "rf.model" in errors[0] and "exponent" in errors[0]


def test_expected_calibration_error_of_known_cases():
    classes = np.array([4, 6])
    sure_and_right = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(sure_and_right, np.array([4, 6]), classes) == 0.0
    sure_and_wrong = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(sure_and_wrong, np.array([6, 4]), classes) == 1.0
    # 80% confident, right 4 times out of 5: calibrated.
    proba = np.tile([0.8, 0.2], (5, 1))
    assert expected_calibration_error(proba, np.array([4, 4, 4, 4, 6]), classes) == pytest.approx(0.0)


def _columns_file(path: Path, energy: np.ndarray, mu: np.ndarray, header: str = "element: Cu\nenergy mu") -> Path:
    np.savetxt(path, np.column_stack([energy, mu]), header=header)
    return path


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> dict[str, tuple[Path, list[str], str]]:
    """Each bad input the issue names: (file, extra options, expected message part)."""
    folder = tmp_path_factory.mktemp("bad")
    cu = read_spectra(CU)[0]
    e, mu = cu.energy, cu.mu
    swapped = e.copy()  # erratic: three steps back (one or two are sorted, as at a region boundary)
    for i in (200, 300, 400):
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    with_nan = mu.copy()
    with_nan[300] = np.nan
    above_edge = e > 9100
    (folder / "empty.dat").write_text("")
    (folder / "binary.dat").write_bytes(bytes(range(256)) * 8)
    return {
        "non-monotonic": (_columns_file(folder / "swapped.dat", swapped, mu), [], "energies not monotonic"),
        "nan": (_columns_file(folder / "nan.dat", e, with_nan), [], "NaN or infinite"),
        "no edge": (_columns_file(folder / "no_edge.dat", e[above_edge], mu[above_edge]), [], "no Cu K edge"),
        "wrong element": (
            _columns_file(folder / "unnamed.dat", e, mu, header="energy mu"),
            ["--element", "Fe"],
            "no Fe K edge (7112 eV) in the energy range 8779-10146 eV; the edge at 8980 eV looks like Cu K",
        ),
        "empty": (folder / "empty.dat", [], "empty file"),
        "binary": (folder / "binary.dat", [], "binary file"),
    }


@pytest.mark.parametrize(
    "case", ["non-monotonic", "nan", "no edge", "wrong element", "empty", "binary"]
)
def test_bad_input_is_one_line_naming_the_file_and_the_rest_goes_on(case, bad_inputs, models):
    path, options, message = bad_inputs[case]
    good = [] if options else [str(NIO[0])]  # --element applies to every file given
    result = runner.invoke(app, ["predict", str(path), *good, "--models-dir", str(models), "--json", *options])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and str(path) in errors[0] and message in errors[0], errors
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert lines[0]["file"] == str(path) and message in lines[0]["error"]  # --json accounts for every input on stdout
    if good:
        assert lines[-1]["file"] == good[0] and lines[-1]["cn"] is not None
    with pytest.raises(SpectrumFileError, match=message.split(";")[0].replace("(", r"\(").replace(")", r"\)")):
        read_spectra(path, element=options[1] if options else None)


def test_the_measured_calibration_is_not_applied_to_data_short_of_the_ft_window(models, tmp_path):
    """It was fitted on full-length scans; on scans cut short it made wrong answers look sure."""
    import shutil

    from exafs_cn.measured._predict import ModelStore, predict_file

    folder = tmp_path / "models"
    shutil.copytree(models / "Cu", folder / "Cu")
    PowerCalibration(2.5, {"corpus": "test"}).save(folder / CALIBRATION_FILE)
    (full,) = read_spectra(CU)
    keep = full.energy <= 8979.0 + 9.0**2 / 0.2625  # data to k ~ 9/A
    short = tmp_path / "cu_k9.dat"
    np.savetxt(short, np.column_stack([full.energy[keep], full.mu[keep]]), header="element: Cu\nenergy mu")
    (calibrated_short,) = predict_file(short, ModelStore(folder))
    (raw_short,) = predict_file(short, ModelStore(folder, measured_calibration=False))
    assert calibrated_short.probabilities == raw_short.probabilities
    assert any("measured calibration not applied" in note for note in calibrated_short.notes)
    (calibrated_full,) = predict_file(CU, ModelStore(folder))
    (raw_full,) = predict_file(CU, ModelStore(folder, measured_calibration=False))
    assert calibrated_full.probabilities != raw_full.probabilities  # full-length data still get it
