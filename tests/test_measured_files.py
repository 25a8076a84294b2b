"""Real files as users have them: every spectrum that carries EXAFS gets an answer, and only those.

Each case of the out-of-the-box issue on real measured spectra (tests/data/experimental),
changed the way beamline files differ: a project with one bad group, a mixed-element
project, a repeated energy point, data ending at k = 7.4/A, an XDI header that Larch's
XDI parser rejects, i0/i columns, no element anywhere, a bare edge step, noise. And the
model files: shipped, and refused when they are damaged, foreign or try to run code.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from crafted import RunsCode, rewrite_model_json  # tests/crafted.py
from larch import Group
from larch.io import AthenaProject, read_ascii, read_xdi
from larch.xafs.xafsutils import ETOK
from typer.testing import CliRunner

import exafs_cn
from exafs_cn.cli import app
from exafs_cn.datagen._structures import METALS_3D
from exafs_cn.measured._columns import Columns
from exafs_cn.measured._predict import shipped_models_dir
from exafs_cn.measured._readers import SpectrumFileError, read_file, read_spectra
from exafs_cn.models import _archive as model_archive
from exafs_cn.models._checks import ALLOWED_TYPES
from exafs_cn.models._files import MODEL_SUFFIX, ModelFileError, SavedModel

MEASURED = Path(__file__).parent / "data" / "experimental"
CU = MEASURED / "data__Cu__cu_metal_rt.xdi"
FE = MEASURED / "data__Fe__Fe_metal_rt_01.xdi"
NIO = MEASURED / "examples__xafsdata__AthenaProjectFiles__NiO__NiO.000.dat"
NI_EDGE, CU_EDGE = 8333.0, 8979.0
runner = CliRunner()


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.strip().splitlines() if line.startswith("{")]


def _cu_arrays() -> tuple[np.ndarray, np.ndarray]:
    cu = read_spectra(CU)[0]
    return cu.energy, cu.mu


def _nio_arrays() -> tuple[np.ndarray, np.ndarray]:
    data = read_ascii(str(NIO))
    return np.asarray(data.energy, float), np.asarray(data.mu, float)


def _energy_at(edge: float, k: float) -> float:
    return edge + k**2 / ETOK


def _project(path: Path, groups: dict[str, tuple[np.ndarray, np.ndarray, str]]) -> Path:
    project = AthenaProject(str(path))
    for name, (energy, mu, element) in groups.items():
        project.add_group(Group(energy=energy, mu=mu, filename=name, label=name, groupname=name, atsym=element))
    project.save(str(path))
    return path


def test_one_bad_group_costs_that_group_only_and_short_data_are_answered(models, tmp_path):
    energy, mu = _nio_arrays()
    short = energy < _energy_at(NI_EDGE, 7.4)  # a quick scan that stops at k = 7.4/A
    broken = mu.copy()
    broken[100:110] = np.nan
    path = _project(
        tmp_path / "nio.prj",
        {"full": (energy, mu, "Ni"), "short": (energy[short], mu[short], "Ni"), "broken": (energy, broken, "Ni")},
    )
    result = runner.invoke(app, ["predict", str(path), "--models-dir", str(models), "--json"])
    assert result.exit_code == 1  # one error among the groups
    lines = {line["group"]: line for line in _json_lines(result.stdout)}
    assert set(lines) == {"full", "short", "broken"}
    assert lines["full"]["cn"] is not None and lines["full"]["kmax"] > 15
    assert lines["short"]["cn"] is not None and 7.0 < lines["short"]["kmax"] < 7.6
    assert "NaN" in lines["broken"]["error"]
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "[broken]" in errors[0]


def test_a_group_that_names_its_element_is_predicted_as_what_it_is(models, tmp_path):
    fe, ni = read_spectra(FE)[0], read_spectra(NIO)[0]
    path = _project(tmp_path / "mixed.prj", {"iron": (fe.energy, fe.mu, "Fe"), "nickel": (ni.energy, ni.mu, "Ni")})
    result = runner.invoke(app, ["predict", str(path), "--element", "Ni", "--models-dir", str(models), "--json"])
    assert result.exit_code == 0, result.output
    lines = {line["group"]: line for line in _json_lines(result.stdout)}
    assert (lines["iron"]["element"], lines["iron"]["element_source"]) == ("Fe", "file")
    assert any("--element Ni not used" in note for note in lines["iron"]["notes"])
    assert lines["nickel"]["element"] == "Ni" and lines["nickel"]["cn"] is not None


def test_repeated_energy_points_are_merged_and_noted(models, tmp_path):
    energy, mu = _cu_arrays()
    energy, mu = np.insert(energy, 150, energy[150]), np.insert(mu, 150, mu[150] * 1.001)
    path = tmp_path / "repeated.dat"
    np.savetxt(path, np.column_stack([energy, mu]), header="element: Cu\nenergy mu")
    (spectrum,) = read_spectra(path)
    assert spectrum.energy.size == energy.size - 1 and np.all(np.diff(spectrum.energy) > 0)
    assert spectrum.notes == ("merged 1 repeated energy point (mu averaged)",)
    result = runner.invoke(app, ["predict", str(path), "--models-dir", str(models)])
    assert result.exit_code == 0, result.output
    assert "Cu CN" in result.stdout and "merged 1 repeated energy point" in result.stdout


def test_xdi_header_that_larch_rejects_falls_back_to_columns_keeping_element_and_names(models, tmp_path):
    lines = CU.read_text().splitlines()
    bmm = tmp_path / "bmm.xdi"
    bmm.write_text("\n".join([lines[0], "# Mono.d_spacing: 3.1356369 Å", *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError):
        read_xdi(str(bmm))  # Larch's XDI reader refuses the unit
    (spectrum,) = read_spectra(bmm)
    assert (spectrum.element, spectrum.element_source) == ("Cu", "file")
    np.testing.assert_allclose(spectrum.mu, read_spectra(CU)[0].mu)
    result = runner.invoke(app, ["predict", str(bmm), "--models-dir", str(models), "--json"])
    assert result.exit_code == 0, result.output
    assert _json_lines(result.stdout)[0]["cn"] is not None


def test_i0_and_i_columns_mean_transmission_and_the_edge_names_the_absorber(models, tmp_path):
    xdi = read_xdi(str(CU))
    path = tmp_path / "scan.txt"
    np.savetxt(path, np.column_stack([xdi.energy, xdi.i0, xdi.itrans]), header="energy i0 i")
    (spectrum,) = read_spectra(path)
    np.testing.assert_allclose(spectrum.mu, np.log(xdi.i0 / xdi.itrans))
    assert (spectrum.element, spectrum.element_source) == ("Cu", "edge")
    result = runner.invoke(app, ["predict", str(path), "--models-dir", str(models), "--json"])
    (line,) = _json_lines(result.stdout)
    assert line["element"] == "Cu" and line["element_source"] == "edge" and line["cn"] is not None
    assert any("detected from the edge energy" in note for note in line["notes"])


def test_a_spectrum_without_exafs_gets_no_answer(models, tmp_path):
    energy, _ = _cu_arrays()
    rng = np.random.default_rng(0)
    step = 0.2 + 1.0 * (0.5 + np.arctan((energy - CU_EDGE) / 1.5) / np.pi) - 2e-5 * (energy - CU_EDGE)
    noisy = step + rng.normal(0.0, 0.03, energy.size) * (energy > CU_EDGE)
    xanes = energy < _energy_at(CU_EDGE, 4.0)
    for name, e, mu in (("step", energy, step), ("noise", energy, noisy), ("xanes", energy[xanes], _cu_arrays()[1][xanes])):
        np.savetxt(tmp_path / f"{name}.dat", np.column_stack([e, mu]), header="element: Cu\nenergy mu")
    files = [str(tmp_path / f"{name}.dat") for name in ("step", "noise", "xanes")]
    result = runner.invoke(app, ["predict", *files, str(CU), "--models-dir", str(models), "--json"])
    assert result.exit_code == 0, result.output  # "no answer" is an answer, not an error
    step_line, noise_line, xanes_line, real = _json_lines(result.stdout)
    assert step_line["cn"] is None and "no EXAFS oscillations" in step_line["reason"]
    assert noise_line["cn"] is None and "noise, not EXAFS" in noise_line["reason"]
    assert xanes_line["cn"] is None and "EXAFS needs at least 6.5/A" in xanes_line["reason"] and 3.5 < xanes_line["kmax"] < 4.1
    assert real["cn"] is not None and real["reason"] is None
    text = runner.invoke(app, ["predict", files[0], "--models-dir", str(models)])
    assert "Cu no answer: no EXAFS oscillations" in text.stdout


@pytest.mark.parametrize("width", [1.0, 3.0])
def test_a_bare_edge_step_gets_no_answer_with_the_shipped_models_e0_profile(tmp_path, width):
    # With the shipped models the E0 profile runs (the test models have no E0 references): it
    # moved E0 5 eV down into the rise of these steps, whose rise then read as low-k chi and
    # passed for a first shell (CN 6 at p 0.79-0.87) until the check for EXAFS was made at the
    # rule's E0 as well.
    energy, _ = _cu_arrays()
    step = 0.5 + 0.5 * np.tanh((energy - CU_EDGE - 6.0) / width) + 2e-7 * energy
    path = tmp_path / f"step_{width:g}eV.dat"
    np.savetxt(path, np.column_stack([energy, step]), header="element: Cu\nenergy mu")
    (answer,) = exafs_cn.predict(path)
    assert answer.cn is None and answer.reason.startswith("no EXAFS oscillations"), (answer.cn, answer.reason, answer.e0_source)
    (foil,) = exafs_cn.predict(CU)  # real EXAFS is still read, from the profiled E0
    assert foil.cn == 12 and foil.e0_source.startswith("profile")


def test_expressions_cannot_reach_the_system(models, tmp_path):
    marker = tmp_path / "ran"
    attack = f"__import__('os').system('touch {marker}')"
    result = runner.invoke(app, ["predict", str(CU), "--mu", attack, "--models-dir", str(models)])
    assert result.exit_code == 1 and not marker.exists()
    assert "is not allowed" in result.stderr and str(CU) in result.stderr
    opened = runner.invoke(app, ["predict", str(CU), "--mu", "open('/etc/passwd').read()", "--models-dir", str(models)])
    assert opened.exit_code == 1 and "is not allowed" in opened.stderr


def test_model_files_that_try_to_run_code_or_are_damaged_are_refused_alone(models, tmp_path):
    crafted = tmp_path / "crafted"
    marker = tmp_path / "ran"
    (crafted / "Ni").mkdir(parents=True)
    (crafted / "Ni" / f"rf{MODEL_SUFFIX}").write_bytes((models / "Ni" / f"rf{MODEL_SUFFIX}").read_bytes())
    # A pickle (what joblib writes) whose loading would run a shell command.
    (crafted / "Cu").mkdir()
    (crafted / "Cu" / f"rf{MODEL_SUFFIX}").write_bytes(pickle.dumps({"estimator": RunsCode(marker)}))
    result = runner.invoke(app, ["predict", str(CU), str(NIO), "--models-dir", str(crafted), "--json"])
    assert result.exit_code == 1 and not marker.exists()
    error, nickel = _json_lines(result.stdout)
    assert "not a readable exafs-cn model file" in error["error"] and f"Cu/rf{MODEL_SUFFIX}" in error["error"]
    assert nickel["element"] == "Ni" and nickel["cn"] is not None

    # A model file that asks to build os.system: refused before anything is built.
    path = crafted / "Cu" / f"rf{MODEL_SUFFIX}"
    saved = SavedModel.load(models / "Cu" / f"rf{MODEL_SUFFIX}")
    model_archive.dump(saved._as_dict() | {"estimator": None}, path, ALLOWED_TYPES)
    runs_code = {"object": "posix.system", "call": {"list": [f"touch {marker}"]}}

    def estimator_runs_code(document):
        document["dict"] = [[key, runs_code if key == "estimator" else value] for key, value in document["dict"]]
        return document

    rewrite_model_json(path, estimator_runs_code)
    with pytest.raises(ModelFileError, match="refused to load: it holds types exafs-cn never writes"):
        SavedModel.load(crafted / "Cu" / f"rf{MODEL_SUFFIX}")
    assert not marker.exists()

    good = (models / "Fe" / f"rf{MODEL_SUFFIX}").read_bytes()
    cases = {
        "empty": (b"", "not a readable exafs-cn model file"),
        "truncated": (good[: len(good) // 2], "not a readable exafs-cn model file"),
        "foreign": (good, "holds a model for Fe, not Cu"),
    }
    for name, (content, message) in cases.items():
        (crafted / "Cu" / f"rf{MODEL_SUFFIX}").write_bytes(content)
        result = runner.invoke(app, ["predict", str(CU), str(NIO), "--models-dir", str(crafted)])
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 1 and len(errors) == 1, (name, errors)
        assert message in errors[0] and f"Cu/rf{MODEL_SUFFIX}" in errors[0], (name, errors)
        assert "Ni CN" in result.stdout, name


def test_model_files_hold_only_allowed_types_and_report_short_k_calibration(models):
    path = models / "Fe" / f"rf{MODEL_SUFFIX}"
    assert model_archive.class_names(path) <= ALLOWED_TYPES
    saved = SavedModel.load(path, element="Fe")
    holdout = saved.metadata["holdout"]
    assert {"accuracy_short_k", "ece_short_k"} <= set(holdout) and holdout["n_short_k"] > 0
    assert saved.novelty["amplitude_floor"] > 0 and saved.novelty["noise_ceiling"] > 0


def test_python_api_takes_files_groups_and_arrays(models):
    (from_file,) = exafs_cn.predict(CU, models_dir=models)
    energy, mu = _cu_arrays()
    (from_group,) = exafs_cn.predict(Group(energy=energy, mu=mu, atsym="Cu", filename="cu"), models_dir=models)
    (from_arrays,) = exafs_cn.predict(energy=energy, mu=mu, element="Cu", models_dir=models)
    assert from_file.cn == from_group.cn == from_arrays.cn is not None
    assert from_file.probabilities == from_arrays.probabilities
    cli = json.loads(runner.invoke(app, ["predict", str(CU), "--models-dir", str(models), "--json"]).stdout)
    assert from_file.to_dict() == cli
    (missing,) = exafs_cn.predict("no-such-file.xdi", models_dir=models)
    assert isinstance(missing, exafs_cn.Failure) and "no such file" in missing.error
    assert missing.to_dict() == {"file": "no-such-file.xdi", "group": None, "error": missing.error}


def test_a_batch_is_predicted_as_each_file_alone_and_tabulated_in_order(models):
    """One model call per element for many files gives what file-by-file calls give."""
    files = [CU, NIO, Path("no-such-file.xdi"), FE, CU]
    batch = exafs_cn.predict(files, models_dir=models)
    alone = [exafs_cn.predict(path, models_dir=models)[0] for path in files]
    assert [item.to_dict() for item in batch] == [item.to_dict() for item in alone]
    table = exafs_cn.to_dataframe(batch)
    assert list(table["file"]) == [str(p) for p in files]
    assert list(table["cn"].isna()) == [getattr(item, "cn", None) is None for item in batch]
    assert table.loc[2, "error"] == batch[2].error and table.loc[0, "cn"] == batch[0].cn
    assert table.loc[0, "probability"] == batch[0].probabilities[str(batch[0].cn)]
    assert set(table.columns) >= {f"p_{cn}" for cn in batch[0].probabilities}


def test_the_public_surface_is_what_all_names():
    assert sorted(exafs_cn.__all__) == sorted(
        ["ExafsCnError", "Failure", "FirstShellFit", "Prediction", "__version__", "example", "fit_first_shell", "predict", "to_dataframe"]
    )
    for name in exafs_cn.__all__:
        assert getattr(exafs_cn, name) is not None


def test_shipped_models_answer_from_any_folder_without_training(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXAFS_CN_MODELS", raising=False)
    files = sorted(shipped_models_dir().glob(f"*/rf{MODEL_SUFFIX}"))
    assert [p.parent.name for p in files] == sorted(METALS_3D)
    assert sum(p.stat().st_size for p in files) <= 20e6
    result = runner.invoke(app, ["predict", str(CU), str(FE), str(NIO), "--json"])
    assert result.exit_code == 0, result.output
    lines = _json_lines(result.stdout)
    assert [line["element"] for line in lines] == ["Cu", "Fe", "Ni"]
    assert [line["cn"] for line in lines] == [12, 8, 6]  # fcc Cu, bcc Fe, rock-salt NiO


def test_read_file_returns_group_errors_in_place(tmp_path):
    energy, mu = _nio_arrays()
    cut = energy > NI_EDGE + 100  # a group of EXAFS only: no Ni K edge in it
    path = _project(
        tmp_path / "p.prj",
        {"good": (energy, mu, "Ni"), "mislabelled": (energy, mu, "Fe"), "exafs-only": (energy[cut], mu[cut], "Ni")},
    )
    good, mislabelled, wrong = read_file(path)
    assert good.group == "good" and good.element == "Ni"
    assert (mislabelled.element, mislabelled.element_source) == ("Ni", "edge")  # the edge wins over the group's element
    assert isinstance(wrong, ValueError) and "[exafs-only]" in str(wrong) and "no Ni K edge" in str(wrong)


@pytest.mark.parametrize(
    "layout",
    ["beamline names (ZapEnergy, I_0, I_t)", "two bare columns scanned downwards", "keV, unknown names, two columns"],
)
def test_column_files_without_the_usual_names_are_still_read(layout, tmp_path):
    xdi = read_xdi(str(CU))
    mu = np.log(xdi.i0 / xdi.itrans)
    path = tmp_path / "scan.dat"
    if layout.startswith("beamline"):
        np.savetxt(path, np.column_stack([xdi.energy, xdi.i0, xdi.itrans]), header="ZapEnergy I_0 I_t")
    elif layout.startswith("two bare"):
        np.savetxt(path, np.column_stack([xdi.energy[::-1], mu[::-1]]))
    else:
        np.savetxt(path, np.column_stack([xdi.energy / 1000, mu]), header="Mono Absorbance")
    (spectrum,) = read_spectra(path)
    np.testing.assert_allclose(spectrum.energy, xdi.energy)
    np.testing.assert_allclose(spectrum.mu, mu)
    assert spectrum.element == "Cu"
    assert ("energy scanned downwards: reversed" in spectrum.notes) == layout.startswith("two bare")


def test_plot_into_an_existing_file_is_a_usage_error(models, tmp_path):
    target = tmp_path / "figures"
    target.write_text("a file, not a folder")
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(models), "--plot", str(target)])
    assert result.exit_code == 2 and f"--plot {target}: exists and is not a folder" in result.stderr
    assert target.read_text() == "a file, not a folder" and result.stdout == ""


def test_a_group_without_a_model_is_an_error_line_naming_its_group(models, tmp_path):
    ni, zn = read_spectra(NIO)[0], read_spectra(MEASURED / "data__Zn__ZnO.xdi")[0]  # the test models know no Zn
    path = _project(tmp_path / "two.prj", {"nickel": (ni.energy, ni.mu, "Ni"), "zinc": (zn.energy, zn.mu, "Zn")})
    result = runner.invoke(app, ["predict", str(path), "--models-dir", str(models), "--json"])
    assert result.exit_code == 1
    nickel, zinc = _json_lines(result.stdout)
    assert nickel["group"] == "nickel" and nickel["cn"] is not None
    assert (zinc["file"], zinc["group"]) == (str(path), "zinc") and "no 'rf' model for Zn" in zinc["error"]
    api = exafs_cn.predict(path, models_dir=models)
    assert api[1].to_dict() == zinc


# Files as other beamlines write them (tests/data/experimental, copied from the corpus).
XDAC = MEASURED / "examples__xafsdata__beamlines__NSLS_XDAC_2011.dat"
FIO = MEASURED / "parseq_XAS__data__Cu_rt1.fio"
MUFLUO = MEASURED / "website__pages__lisa-esrf__files__CuSO4_2mM_111.xdi"
CHROMATE = MEASURED / "data__Cr__k2cro4_rt_001.xdi"


def test_a_monochromator_crystal_line_does_not_name_the_absorber():
    # XDAC (NSLS X-23A2): "Diffraction element= Si (311)" is the crystal; the edge says Fe. The
    # shipped models: a hexacyanoferrate lies outside the test models' few Fe training spectra
    # (no answer: its chi(k) matches none of them), not outside the shipped ones.
    (spectrum,) = read_spectra(XDAC)
    assert (spectrum.element, spectrum.element_source) == ("Fe", "edge")
    result = runner.invoke(app, ["predict", str(XDAC), "--json"])
    assert result.exit_code == 0, result.output
    (line,) = _json_lines(result.stdout)
    assert line["element"] == "Fe" and line["cn"] is not None


@pytest.mark.parametrize(
    "header",
    ["fluorescence detector element: Ge", "dopant element: Mn in the film", "Diffraction element= Si (311)"],
)
def test_header_lines_that_are_not_about_the_absorber_are_not_read_as_it(header, tmp_path):
    energy, mu = _cu_arrays()
    path = tmp_path / "scan.dat"
    np.savetxt(path, np.column_stack([energy, mu]), header=f"{header}\nenergy mu")
    (spectrum,) = read_spectra(path)
    assert (spectrum.element, spectrum.element_source) == ("Cu", "edge")


def test_where_the_header_and_the_edge_disagree_the_edge_wins_and_says_so(models, tmp_path):
    energy, mu = _cu_arrays()
    path = tmp_path / "mislabelled.dat"
    np.savetxt(path, np.column_stack([energy, mu]), header="element: Fe\nenergy mu")
    (spectrum,) = read_spectra(path)
    assert (spectrum.element, spectrum.element_source) == ("Cu", "edge")
    assert any("the file says Fe" in note and "Cu K edge" in note for note in spectrum.notes)
    result = runner.invoke(app, ["predict", str(path), "--models-dir", str(models)])
    assert result.exit_code == 0 and "Cu CN" in result.stdout and "the file says Fe" in result.stdout


def test_athena_placeholder_element_h_is_set_aside(tmp_path):
    energy, mu = _nio_arrays()
    path = _project(tmp_path / "placeholder.prj", {"nio": (energy, mu, "H")})
    (spectrum,) = read_spectra(path)
    assert (spectrum.element, spectrum.element_source) == ("Ni", "edge")
    assert any("names H, not a 3d metal" in note for note in spectrum.notes)


def test_hasylab_fio_file_is_read_with_its_column_names(models):
    (spectrum,) = read_spectra(FIO)
    assert (spectrum.element, spectrum.element_source) == ("Cu", "edge")
    raw = np.loadtxt(FIO, comments="!", skiprows=37).T  # the header and the 12 "Col N" lines
    # The scan's own second column is ln(C1/C2) (HASYLAB's online transmission mu):
    # the reader's mu is that column, on the scan's energies.
    np.testing.assert_allclose(spectrum.energy, raw[0])
    np.testing.assert_allclose(spectrum.mu, np.log(raw[5] / raw[6]), atol=2e-4)
    assert any("named by the scan" in note for note in spectrum.notes)
    result = runner.invoke(app, ["predict", str(FIO), "--models-dir", str(models), "--json"])
    (line,) = _json_lines(result.stdout)
    assert result.exit_code == 0 and line["cn"] is not None


def test_a_fluorescence_column_named_if_is_read_though_if_is_a_python_keyword(tmp_path):
    # "if" is a usual name of a fluorescence channel; the guessed mu, if/i0, must not fail to parse.
    xdi = read_xdi(str(CU))
    path = tmp_path / "fluorescence.txt"
    np.savetxt(path, np.column_stack([xdi.energy, xdi.i0, xdi.mutrans * xdi.i0]), header="energy i0 if")
    (spectrum,) = read_spectra(path)
    np.testing.assert_allclose(spectrum.mu, np.asarray(xdi.mutrans, float), rtol=1e-9)
    (scaled,) = read_spectra(path, columns=Columns(mu="2 * IF / i0"))  # named in an expression too
    np.testing.assert_allclose(scaled.mu, 2 * np.asarray(xdi.mutrans, float), rtol=1e-9)


def test_a_column_that_calls_itself_mu_is_mu(tmp_path):
    # LISA (ESRF) XDI: energy, mufluo, murefer: the sample's fluorescence, not the reference foil's.
    (spectrum,) = read_spectra(MUFLUO)
    data = read_xdi(str(MUFLUO))
    np.testing.assert_allclose(spectrum.mu, np.asarray(data.mufluo, float))


def test_one_step_back_at_a_region_boundary_is_sorted_and_an_erratic_scan_is_refused(tmp_path):
    energy, mu = _cu_arrays()
    # MRCAT-style: the next region starts 0.3 eV below where the last one ended.
    stepped = np.insert(energy, 400, energy[399] - 0.3)
    stepped_mu = np.insert(mu, 400, np.interp(energy[399] - 0.3, energy, mu))
    path = tmp_path / "boundary.dat"
    np.savetxt(path, np.column_stack([stepped, stepped_mu]), header="element: Cu\nenergy mu")
    (spectrum,) = read_spectra(path)
    assert np.all(np.diff(spectrum.energy) > 0) and spectrum.energy.size == stepped.size
    assert any("stepped back 1 time" in note for note in spectrum.notes)
    erratic = energy.copy()
    for i in (100, 200, 300):
        erratic[i], erratic[i + 1] = erratic[i + 1], erratic[i]
    path = tmp_path / "erratic.dat"
    np.savetxt(path, np.column_stack([erratic, mu]), header="element: Cu\nenergy mu")
    with pytest.raises(SpectrumFileError, match="energies not monotonic"):
        read_spectra(path)


def test_e0_on_a_strong_pre_edge_peak_is_put_on_the_main_edge():
    # K2CrO4: the Cr(VI) pre-edge peak holds the largest derivative, ~20 eV below the edge.
    from larch.xafs import find_e0, pre_edge

    from exafs_cn.features import process
    from exafs_cn.settings import ProcessingSettings

    (spectrum,) = read_spectra(CHROMATE)
    larch_e0 = float(find_e0(spectrum.energy, spectrum.mu))
    processed = process(spectrum.to_spectrum())
    group = Group()
    pre_edge(spectrum.energy, spectrum.mu, group=group, e0=processed.e0)
    after = (spectrum.energy >= processed.e0) & (spectrum.energy <= processed.e0 + 15)
    before = (spectrum.energy > larch_e0) & (spectrum.energy < processed.e0)
    assert processed.e0 - larch_e0 > 10
    assert np.all(group.norm[after] >= 0.5) and np.any(group.norm[before] < 0.5)  # the dip after the peak
    old = process(spectrum.to_spectrum(), ProcessingSettings(e0_rule="max_derivative"))
    assert abs(old.e0 - larch_e0) < 0.5


def test_the_3d_k_edges_kept_by_the_readers_are_xraydbs():
    import xraydb

    from exafs_cn.measured._xray_tables import K_EDGES_3D

    assert set(K_EDGES_3D) == set(METALS_3D)
    assert K_EDGES_3D == {element: float(xraydb.xray_edge(element, "K").energy) for element in METALS_3D}
