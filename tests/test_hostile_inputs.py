"""Inputs a careless or hostile user gives ``predict``: each is one line naming it, the rest go on."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from larch import Group
from larch.io import AthenaProject, read_ascii
from typer.testing import CliRunner

import exafs_cn
from exafs_cn.cli import app
from exafs_cn.measured._columns import Columns
from exafs_cn.measured._readers import MAX_FILE_BYTES, SpectrumFileError, read_file, read_spectra

MEASURED = Path(__file__).parent / "data" / "experimental"
CU = MEASURED / "data__Cu__cu_metal_rt.xdi"
NIO = MEASURED / "examples__xafsdata__AthenaProjectFiles__NiO__NiO.000.dat"
runner = CliRunner()


def _run(models: Path, *args: str):
    """predict with --json on the given inputs: (exit code, stderr lines, stdout objects)."""
    result = runner.invoke(app, ["predict", *args, "--models-dir", str(models), "--json"])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]  # every line JSON
    return result.exit_code, errors, lines


def _assert_one_error_then_answer(models: Path, bad: Path | str, message: str) -> None:
    code, errors, lines = _run(models, str(bad), str(CU))
    assert code == 1, (errors, lines)
    assert len(errors) == 1 and str(bad) in errors[0] and message in errors[0], errors
    assert lines[0]["file"] == str(bad) and message in lines[0]["error"]
    assert lines[1]["file"] == str(CU) and lines[1]["cn"] is not None  # the input after it is answered


@pytest.mark.parametrize(
    "name, content",
    [("words.txt", "just some words\nand no numbers at all\n"), ("header_only.dat", "# energy mu\n# element: Cu\n")],
)
def test_a_text_file_without_numbers_is_one_line_and_the_next_file_is_answered(models, tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    _assert_one_error_then_answer(models, path, "no numeric columns found")


def _nio_athena_json(path: Path) -> Path:
    """An Athena project in the JSON layout Larch's reader takes (``parse_jsonathena``)."""
    data = read_ascii(str(NIO))
    project = {
        "_____header1": "# Athena project file -- Demeter version 0.9.26",
        "_____header2": "# written by exafs-cn's tests",
        "_____journal": [],
        "_____order": ["nio0"],
        "nio0": {"x": data.energy.tolist(), "y": data.mu.tolist(), "args": {"label": "nio0", "bkg_z": "Ni"}},
    }
    path.write_text(json.dumps(project))
    return path


def test_a_json_athena_project_is_read_as_a_project(models, tmp_path):
    path = _nio_athena_json(tmp_path / "nio.prj")
    (spectrum,) = read_spectra(path)
    assert (spectrum.group, spectrum.element) == ("nio0", "Ni")
    code, errors, lines = _run(models, str(path))
    assert code == 0 and not errors and lines[0]["cn"] is not None


def test_a_journal_that_is_not_data_costs_nothing_and_every_json_line_is_json(models, tmp_path):
    """Larch's reader evaluated the journal and printed "may not read journal" on stdout; the
    project reader reads only the groups' data and never looks at the journal."""
    data = read_ascii(str(NIO))
    packed = tmp_path / "packed.prj"
    project = AthenaProject(str(packed))
    project.add_group(Group(energy=data.energy, mu=data.mu, filename="nio", label="nio", groupname="nio"))
    project.save(str(packed))
    text = gzip.open(packed, "rt").read().replace("\n$old_group", "\n@journal = ('a note', 'another' + );\n$old_group", 1)
    path = tmp_path / "journal.prj"
    path.write_text(text)
    code, errors, lines = _run(models, str(path))  # _run parses every stdout line as JSON
    assert code == 0 and not errors
    assert lines[0]["group"] == "nio" and lines[0]["cn"] is not None


def test_a_fifo_is_skipped_in_one_line_instead_of_blocking(models, tmp_path):
    fifo = tmp_path / "scan.fifo"
    os.mkfifo(fifo)
    _assert_one_error_then_answer(models, fifo, "not a regular file (a pipe)")


def test_a_path_that_cannot_be_read_is_one_line(models, tmp_path):
    inside_a_file = tmp_path / "cu.xdi" / "scan.xdi"  # a folder that is a file: stat fails as permission does
    shutil.copy(CU, tmp_path / "cu.xdi")
    _assert_one_error_then_answer(models, inside_a_file, "cannot read")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_a_file_without_read_permission_is_one_line(models, tmp_path):
    path = tmp_path / "secret.xdi"
    shutil.copy(CU, path)
    path.chmod(0)
    _assert_one_error_then_answer(models, path, "cannot read: Permission denied")


def test_a_file_larger_than_any_scan_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.dat"
    with open(path, "wb") as handle:  # sparse: the size is real, the disk use is not
        handle.write(b"8900 1.0\n")
        handle.truncate(MAX_FILE_BYTES + 1)
    # Exact sizes: 64 MB and one byte is not "64 MB, more than the 64 MB".
    with pytest.raises(SpectrumFileError, match=r"64.0 MB \(67,108,865 bytes\), more than the 64 MB a measured scan file needs"):
        read_file(path)


def test_plot_folder_that_cannot_be_made_is_one_line_before_any_work(models, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(models), "--plot", str(blocker / "figures")])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(errors) == 1 and "--plot" in errors[0] and "is a file, not a folder" in errors[0]
    assert result.stdout == ""  # refused before any spectrum was read


def test_each_input_gets_its_own_figure_even_with_the_same_or_a_long_name(models, tmp_path):
    for folder in ("A", "B"):
        (tmp_path / folder).mkdir()
        shutil.copy(CU, tmp_path / folder / "x.xdi")
    long = tmp_path / ("cu_" + "a" * 240 + ".xdi")  # 247 characters: with ".png" and a group, past 255
    shutil.copy(CU, long)
    figures = tmp_path / "figures"
    (figures).mkdir()
    (figures / "keep.png").write_bytes(b"written before")
    result = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "A" / "x.xdi"),
            str(tmp_path / "B" / "x.xdi"),
            str(long),
            "--models-dir",
            str(models),
            "--plot",
            str(figures),
        ],
    )
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in figures.glob("*.png"))
    assert len(written) == 4 and "x.xdi.png" in written and "x.xdi-2.png" in written, written
    assert all(len(name) < 255 for name in written)
    assert (figures / "keep.png").read_bytes() == b"written before"


def test_a_newline_in_a_file_name_stays_on_one_output_line(models, tmp_path):
    path = tmp_path / "two\nlines.xdi"
    shutil.copy(CU, path)
    result = runner.invoke(app, ["predict", str(path), "--models-dir", str(models)])
    assert result.exit_code == 0 and len(result.stdout.strip().splitlines()) == 1 and "two\\nlines.xdi" in result.stdout


def _cu_arrays() -> tuple[np.ndarray, np.ndarray]:
    (spectrum,) = read_spectra(CU)
    return spectrum.energy, spectrum.mu


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: exafs_cn.predict(energy=["a"] * 100, mu=np.ones(100), models_dir=m), "energy is not an array of numbers"),
        (lambda m: exafs_cn.predict(energy=_cu_arrays()[0], mu=_cu_arrays()[1] * (1 + 1j), models_dir=m), "complex numbers"),
        (lambda m: exafs_cn.predict(CU, energy=_cu_arrays()[0], models_dir=m), "name its columns or expressions"),
        (lambda m: exafs_cn.predict(str(CU), element=["Cu"], models_dir=m), "give a symbol such as 'Cu'"),
        (lambda m: exafs_cn.predict(str(NIO), mu="mu * 1j", models_dir=m), "the constant 1j is not a number"),
    ],
    ids=["text energies", "complex mu", "array with a file", "element not text", "complex expression"],
)
def test_python_api_returns_failures_for_bad_arguments(models, call, message):
    (answer,) = call(models)
    assert isinstance(answer, exafs_cn.Failure) and message in answer.error, answer


def test_python_api_takes_an_atomic_number_and_returns_a_failure_for_a_file_of_words(models, tmp_path):
    (answer,) = exafs_cn.predict(str(CU), element=29, models_dir=models)
    assert answer.cn is not None
    words = tmp_path / "words.txt"
    words.write_text("no numbers\n")
    (answer,) = exafs_cn.predict(str(words), models_dir=models)
    assert "no numeric columns found" in answer.error


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda e, mu: (e, np.zeros_like(mu)), "mu is constant"),
        (lambda e, mu: (e, -mu), "mu falls at the edge"),
        (lambda e, mu: (e, np.log(1 / np.exp(mu))), "mu falls at the edge"),  # log(it/i0) for log(i0/it)
    ],
    ids=["all zero", "negated", "log the wrong way"],
)
def test_data_that_are_not_mu_are_refused_in_words_that_say_so(make, message, tmp_path):
    energy, mu = make(*_cu_arrays())
    path = tmp_path / "not_mu.dat"
    np.savetxt(path, np.column_stack([energy, mu]), header="element: Cu\nenergy mu")
    with pytest.raises(SpectrumFileError, match=message) as caught:
        read_spectra(path)
    assert "L3" not in str(caught.value)  # an all-zero mu once "looked like Eu L3"


def test_chi_of_e_is_not_taken_for_mu(tmp_path):
    from larch.xafs import autobk, pre_edge

    energy, mu = _cu_arrays()
    group = Group(energy=energy, mu=mu)
    pre_edge(group)
    autobk(group, rbkg=1.0)
    chi_e = np.where(energy > group.e0, (mu - group.bkg) / group.edge_step, 0.0)
    path = tmp_path / "chi_e.dat"
    np.savetxt(path, np.column_stack([energy, chi_e]), header="element: Cu\nenergy mu")
    with pytest.raises(SpectrumFileError, match="barely rises at the edge|no Cu K edge|mu falls"):
        read_spectra(path)


def _cu_processed() -> Group:
    """The Cu foil's chi(k) and chi(R), as a Larch user makes them."""
    from larch.xafs import autobk, pre_edge, xftf

    energy, mu = _cu_arrays()
    group = Group(energy=energy, mu=mu)
    pre_edge(group)
    autobk(group, rbkg=1.0)
    xftf(group, kmin=3, kmax=12, kweight=2, dk=1)
    return group


@pytest.mark.parametrize(
    "labels, kind",
    [
        ("k chi", "chi(k)"),  # Larch's write_ascii of a group's chi(k)
        ("k chi chik chik2 chik3 win energy", "chi(k)"),  # Athena's k-space export
        ("r chir_mag chir_re chir_im", "chi(R)"),
    ],
    ids=["larch chi(k)", "athena chi(k)", "larch chi(R)"],
)
def test_processed_data_are_refused_as_what_they_are_and_the_next_file_is_answered(models, tmp_path, labels, kind):
    from larch.io import write_ascii
    from larch.xafs.xafsutils import ETOK

    group = _cu_processed()
    k, chi = group.k, group.chi
    columns = {
        "k": k, "chi": chi, "chik": chi * k, "chik2": chi * k**2, "chik3": chi * k**3, "win": group.kwin,
        "energy": group.e0 + k**2 / ETOK, "r": group.r, "chir_mag": group.chir_mag, "chir_re": group.chir_re,
        "chir_im": group.chir_im,
    }  # fmt: skip
    path = tmp_path / f"cu_{kind[4]}.dat"
    write_ascii(str(path), *(columns[name] for name in labels.split()), label=labels)
    _assert_one_error_then_answer(models, path, f"holds {kind} (columns: {labels.replace(' ', ', ')}), not mu(E)")


def test_a_k_axis_without_column_names_is_not_read_as_kev(models, tmp_path):
    group = _cu_processed()
    path = tmp_path / "cu_chik.txt"
    np.savetxt(path, np.column_stack([group.k, group.chi]))  # no header: Larch names the columns col1, col2
    _assert_one_error_then_answer(models, path, "neither eV nor keV of a 3d K edge: a k or R axis?")
    # Named as the user's columns too, the axis is not taken for energies in keV.
    with pytest.raises(SpectrumFileError, match=r"the energies run from 0 to 1\d\.?\d*, neither eV nor keV"):
        read_spectra(path, columns=Columns(energy="col1", mu="col2"))


def test_energies_relative_to_e0_are_refused_saying_so(models, tmp_path):
    energy, mu = _cu_arrays()
    path = tmp_path / "cu_e_minus_e0.dat"
    np.savetxt(path, np.column_stack([energy - 8979.0, mu]), header="element: Cu\nenergy mu")
    # Before: "no Cu K edge (8979 eV) in the energy range -200-1167 eV; the edge at 2 eV looks like Ti M5".
    _assert_one_error_then_answer(models, path, "eV, through 0: relative to E0?")


CR2O3_GLITCHED = MEASURED / "data__Cr__cr2o3_ssrl4_1_rt_003.xdi"
ZN_AQUEOUS = MEASURED / "examples__xafsdata__AthenaProjectFiles__zn_solution__13BM_znsoln.001.dat"


def test_data_that_end_before_the_training_range_get_no_answer(models, tmp_path):
    """A Cu foil cut 150 eV above its edge (k ~ 6.3/A): once CN 4, now no answer."""
    energy, mu = _cu_arrays()
    keep = energy <= 8979.0 + 150.0
    path = tmp_path / "cu_150eV.dat"
    np.savetxt(path, np.column_stack([energy[keep], mu[keep]]), header="element: Cu\nenergy mu")
    code, errors, (line,) = _run(models, str(path))
    assert code == 0 and not errors and line["cn"] is None and "6.5/A" in line["reason"], line


def test_real_monochromator_glitches_are_removed_and_noted(models):
    (spectrum,) = read_spectra(CR2O3_GLITCHED)
    assert "removed 2 glitch points at 6718, 6788 eV" in spectrum.notes


def test_a_one_point_glitch_is_removed_and_the_answer_stays(models, tmp_path):
    """0.4 edge steps on one point of a Cu foil once gave CN 8 with an interval excluding 12."""
    energy, mu = _cu_arrays()
    clean_path, glitched_path = tmp_path / "cu.dat", tmp_path / "cu_glitch.dat"
    np.savetxt(clean_path, np.column_stack([energy, mu]), header="element: Cu\nenergy mu")
    glitched = mu.copy()
    at = int(np.searchsorted(energy, 8979.0 + 300.0))
    glitched[at] += 0.4 * (np.median(mu[energy > 9100]) - np.median(mu[energy < 8950]))
    np.savetxt(glitched_path, np.column_stack([energy, glitched]), header="element: Cu\nenergy mu")
    code, errors, (clean, fixed) = _run(models, str(clean_path), str(glitched_path))
    assert code == 0 and not errors
    assert any(f"removed 1 glitch point at {energy[at]:.0f} eV" == note for note in fixed["notes"]), fixed["notes"]
    assert fixed["cn"] == clean["cn"]  # the test models are small: the point is that the glitch changes nothing
    assert fixed["probabilities"] == pytest.approx(clean["probabilities"], abs=0.02)


def test_a_scan_sampled_too_coarsely_is_refused(tmp_path):
    """Every 8th point of a Cu foil scan (51 points) once gave CN 4 without a note."""
    energy, mu = _cu_arrays()
    path = tmp_path / "cu_every_8th.dat"
    np.savetxt(path, np.column_stack([energy[::8], mu[::8]]), header="element: Cu\nenergy mu")
    with pytest.raises(SpectrumFileError, match=r"sampled every 0\.40/A in k"):
        read_spectra(path)


def _unnamed_copy(source: Path, path: Path, white_line: float = 0.0) -> Path:
    """``source``'s energy and mu, without the header that names the element; ``white_line``
    adds that many edge steps (Larch's) as a narrow peak just above the edge, what L3 edges have."""
    from larch.xafs import pre_edge

    (spectrum,) = read_spectra(source)
    energy, mu = spectrum.energy, spectrum.mu.copy()
    if white_line:
        group = Group(energy=energy, mu=mu.copy())
        pre_edge(group)
        mu += white_line * group.edge_step * np.exp(-0.5 * ((energy - group.e0 - 6.0) / 3.0) ** 2)
    np.savetxt(path, np.column_stack([energy, mu]), header="energy mu")
    return path


def test_the_tallest_measured_k_edge_white_line_is_read_from_the_edge_alone(tmp_path):
    (spectrum,) = read_spectra(_unnamed_copy(ZN_AQUEOUS, tmp_path / "zn.dat"))
    assert (spectrum.element, spectrum.element_source) == ("Zn", "edge")


def test_an_l3_like_white_line_near_a_k_edge_asks_for_the_element(tmp_path):
    """A Cu foil's edge (8979 eV) given a white line of an L3 edge's height: Yb L3 lies 35 eV away."""
    path = _unnamed_copy(CU, tmp_path / "l3_like.dat", white_line=4.0)
    with pytest.raises(SpectrumFileError, match=r"as L3 edges have \(Yb L3 8944 eV\), not a Cu K edge; give --element Cu"):
        read_spectra(path)
    (spectrum,) = read_spectra(path, element="Cu")  # the user insists
    assert spectrum.element_source == "option"


def test_ctrl_c_in_a_batch_is_one_line_with_how_far_it_got(models, tmp_path):
    import signal
    import subprocess
    import sys

    inputs = []
    for i in range(300):
        inputs.append(tmp_path / f"cu_{i:03d}.xdi")
        shutil.copy(CU, inputs[-1])
    args = [sys.executable, "-m", "exafs_cn", "predict", *map(str, inputs), "--models-dir", str(models)]
    # Ctrl-C at its default, as a terminal has it (a runner started in the background ignores it).
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # The first line read byte by byte from the pipe itself: readline() would buffer lines past it
    # that communicate(), which reads the pipe beneath, would then never see.
    first = b""
    while not first.endswith(b"\n") and (byte := os.read(proc.stdout.fileno(), 1)):
        first += byte
    first = first.decode()  # one answer printed: the batch is under way
    os.killpg(proc.pid, signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert first.startswith(str(inputs[0])) and proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exafs-cn: interrupted after ") and "of 300 inputs" in lines[0], err
    broken = [line for line in rest.splitlines() if not line.startswith(str(tmp_path))]
    assert not broken, broken[:3]  # every printed line whole
