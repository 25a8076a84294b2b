"""The Photon Factory "9809" format, on a real public file: KEK-PF BL9A's Fe K-edge fluorescence
scan from Larch's beamline examples (tests/data/experimental/README.md), and copies of it changed
the way other beamlines and broken files differ."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from exafs_cn.cli import app
from exafs_cn.measured._columns import Columns
from exafs_cn.measured._formats import format_of
from exafs_cn.measured._readers import MeasuredSpectrum, SpectrumFileError, read_file

PF9A = Path(__file__).parent / "data" / "experimental" / "examples__xafsdata__beamlines__PF9A_2022.dat"
runner = CliRunner()


def _columns(path: Path) -> np.ndarray:
    """The file's data rows as numbers, read here independently of the reader."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Offset")) + 1
    return np.array([[float(v) for v in line.split()] for line in lines[start:] if line.strip()])


def test_a_9809_file_is_read_with_energies_from_its_angles_and_mu_from_its_stated_signal():
    assert format_of(PF9A.read_bytes()[:4096]).name == "9809"
    (spectrum,) = read_file(PF9A)
    assert isinstance(spectrum, MeasuredSpectrum)
    data = _columns(PF9A)
    assert len(spectrum.energy) == len(data) == 1426  # every point the header promises
    # The energies from the angles and the d-spacing land on the file's own block table (its first
    # block starts at 6606.20 eV, its last ends at 8211.20 eV) and rise through the scan.
    assert spectrum.energy[0] == pytest.approx(6606.2, abs=1.0) and spectrum.energy[-1] == pytest.approx(8211.2, abs=2.0)
    assert np.all(np.diff(spectrum.energy) > 0)
    # Fluorescence( 3): mu is the mode-3 column over the mode-1 column, each less its dark counts
    time, i0, fluorescence = data[:, 2], data[:, 3] - 7753.7 * data[:, 2], data[:, 4] - 7157.1 * data[:, 2]
    np.testing.assert_allclose(spectrum.mu, fluorescence / i0, rtol=1e-12)
    assert spectrum.element == "Fe"  # the file does not say; the edge does
    assert any("commanded Bragg angle" in note for note in spectrum.notes) and "mu = if/i0" in spectrum.notes
    assert time.min() == 1.0 and time.max() == 3.0


def test_the_command_line_answers_a_9809_file():
    result = runner.invoke(app, ["predict", "--json", str(PF9A)])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert row["element"] == "Fe" and row["cn"] in (4, 5, 6) and 7105 < row["e0"] < 7140


def test_a_transmission_scan_takes_log_i0_over_it_and_columns_can_be_named(tmp_path):
    # As BL12C writes it: "Transmission( 2)" and the second detector in mode 2.
    text = PF9A.read_text().replace("Fluorescence( 3)", "Transmission( 2)")
    text = re.sub(r"(\n\s+Mode\s+0\s+0\s+1\s+)3", r"\g<1>2", text)
    path = tmp_path / "transmission.dat"
    path.write_text(text)
    (group,) = format_of(path.read_bytes()[:4096]).read(path, Columns())  # the format's reading, before the checks
    data = _columns(PF9A)
    i0, transmitted = data[:, 3] - 7753.7 * data[:, 2], data[:, 4] - 7157.1 * data[:, 2]
    np.testing.assert_allclose(group.mu, np.log(i0 / transmitted), rtol=1e-12)
    # ... which the checks then refuse: this scan's second detector saw fluorescence, which rises at the edge
    (refused,) = read_file(path)
    assert isinstance(refused, SpectrumFileError) and "mu falls at the edge" in str(refused)
    # --mu still names any of the reader's arrays
    (own,) = read_file(PF9A, columns=Columns(mu="1000 * if / i0"))
    np.testing.assert_allclose(own.mu, 1000 * (data[:, 4] - 7157.1 * data[:, 2]) / (data[:, 3] - 7753.7 * data[:, 2]), rtol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("D=  3.13551 A", "D= ? A"), "without a monochromator d-spacing"),
        (lambda t: t.replace("    Offset ", "    Offsets"), "without its Mode and Offset rows"),
        (lambda t: t.replace("  17.39679  17.39700      1.00   1781004     13757", "  17.39679  17.39700      1.00   1781004"), "data line of 4 values"),
        (lambda t: t.replace("  17.39679  17.39700", "  17.39679  x17.39700"), "unreadable data line"),
        (lambda t: re.sub(r"(\n\s+Mode\s+0\s+0\s+)1", r"\g<1>4", t), "without an I0 column (mode 1)"),
    ],
)
def test_a_broken_9809_file_is_one_line_naming_the_file_and_the_problem(tmp_path, change, message):
    path = tmp_path / "broken.dat"
    path.write_text(change(PF9A.read_text()))
    with pytest.raises(SpectrumFileError) as raised:
        read_file(path)
    text = str(raised.value)
    assert message in text and str(path) in text and "\n" not in text


def test_a_stopped_scan_is_read_with_a_note_and_a_column_file_starting_at_9809_ev_is_not_9809(tmp_path):
    lines = PF9A.read_text().splitlines()
    stopped = tmp_path / "stopped.dat"
    stopped.write_text("\n".join(lines[:-300]) + "\n")
    (spectrum,) = read_file(stopped)
    assert any("promises 1426 points and the file has" in note for note in spectrum.notes)
    columns = tmp_path / "columns.dat"
    columns.write_text("9809.0 1.0\n9810.0 1.1\n")
    assert format_of(columns.read_bytes()).name != "9809"


PF12C = Path(__file__).parent / "data" / "experimental" / "examples__xafsdata__beamlines__PFBL12C_2005.dat"


def test_a_real_transmission_9809_file_of_another_edge_is_read_and_then_refused_in_one_line():
    # KEK-PF BL12C, 2005: Hg L3 in transmission ("Transmission( 2)", detectors in modes 1 and 2).
    (group,) = format_of(PF12C.read_bytes()[:4096]).read(PF12C, Columns())  # the format's reading, before the checks
    data = _columns(PF12C)
    i0, transmitted = data[:, 3] - 826.15 * data[:, 2], data[:, 4] - 652.975 * data[:, 2]
    np.testing.assert_allclose(group.mu, np.log(i0 / transmitted), rtol=1e-12)
    # The commanded angles land on the block table (12049.00 to 13260.00 eV); this beamline's read-back
    # angles end 0.011 degrees off them, 17 eV: the reader takes the commanded ones.
    assert group.energy[0] == pytest.approx(12049.0, abs=1.0) and group.energy[-1] == pytest.approx(13260.0, abs=1.0)
    (read_back,) = format_of(PF12C.read_bytes()[:4096]).read(PF12C, Columns(energy="energy_o"))  # a user's choice
    assert read_back.energy[-1] == pytest.approx(13243.6, abs=1.0)
    (refused,) = read_file(PF12C)
    assert isinstance(refused, SpectrumFileError)
    message = str(refused)
    assert str(PF12C) in message and "no 3d K edge; looks like Hg L3; give --element" in message and "\n" not in message
