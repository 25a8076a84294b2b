"""HDF5 (NeXus NXxas and plain libraries) and SPEC files: a real public SPEC scan (ALBA's Cu
foil, from the corpus), and files built from real measured spectra.

No public K-edge HDF5 file of a 3d metal, and no SPEC file of several XAFS scans, could be
reached from this project's machines (docs/measured.md, "Reading files"), so those are written
here from the corpus copies in
tests/data/experimental: the NXxas file by Larch's own writer with the shipped models (``larch.io.nexus_xas.xdi2NXxas``,
the layout Larch users have), the library with h5py, the SPEC file as SPEC writes scans
(``#F``/``#S``/``#D``/``#N``/``#L``, an alignment scan before the energy scans). Every spectrum
must be answered as the same data are from their XDI file, and named by its group or scan.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from larch.io import read_xdi
from larch.io.nexus_xas import xdi2NXxas
from typer.testing import CliRunner

from exafs_cn.cli import app
from exafs_cn.measured._columns import Columns
from exafs_cn.measured._formats import FORMATS, format_of
from exafs_cn.measured._readers import MeasuredSpectrum, SpectrumFileError, read_file

MEASURED = Path(__file__).parent / "data" / "experimental"
CU = MEASURED / "data__Cu__cu_metal_rt.xdi"  # fcc Cu foil, CN 12
ZNO = MEASURED / "data__Zn__ZnO.xdi"  # wurtzite, CN 4
FE = MEASURED / "data__Fe__Fe_metal_rt_01.xdi"  # bcc Fe foil, CN 8
runner = CliRunner()


def _answers(*paths: Path, options: tuple[str, ...] = ()) -> tuple[int, dict[str, dict]]:
    result = runner.invoke(app, ["predict", "--json", *options, *map(str, paths)])
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    return result.exit_code, {_where(row): row for row in rows}


def _where(row: dict) -> str:
    return f"{row['file']}[{row['group']}]" if row["group"] else row["file"]


@pytest.fixture(scope="module")
def from_xdi() -> dict[str, dict]:
    """The answers to the XDI files themselves, to compare each container's answer with."""
    _, rows = _answers(CU, ZNO, FE)
    return {Path(name).name: row for name, row in rows.items()}


def _nxxas(path: Path) -> Path:
    with h5py.File(path, "w") as handle:
        for source in (CU, ZNO, FE):
            xdi2NXxas(read_xdi(str(source)), handle, name=source.stem.split("__")[-1])
    return path


def test_nexus_nxxas_entries_are_each_answered_as_their_xdi_file(tmp_path, from_xdi):
    path = _nxxas(tmp_path / "beamtime.nxs")
    code, rows = _answers(path)
    assert code == 0
    assert set(rows) == {f"{path}[{name}/data]" for name in ("cu_metal_rt", "ZnO", "Fe_metal_rt_01")}
    for source in (CU, ZNO, FE):
        row, alone = rows[f"{path}[{source.stem.split('__')[-1]}/data]"], from_xdi[source.name]
        assert (row["element"], row["cn"], row["element_source"]) == (alone["element"], alone["cn"], "file")
        assert row["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-9)
        assert row["scan_time"] == alone["scan_time"] is not None  # NXentry start_time, XDI Scan.start_time


def test_a_plain_hdf5_library_answers_every_group_by_its_path(tmp_path, from_xdi):
    path = tmp_path / "references.h5"
    with h5py.File(path, "w") as handle:
        for source in (CU, ZNO):
            xdi = read_xdi(str(source))
            group = handle.create_group(f"{source.stem.split('__')[1]}/{source.stem.split('__')[-1]}")
            group["energy"] = xdi.energy
            group["mu"] = np.log(xdi.i0 / xdi.itrans)
        handle["Zn/ZnO"].attrs["element"] = "Zn"
        handle["settings/mono"] = np.linspace(0, 1, 400)  # an array alone is no spectrum and is passed over
    code, rows = _answers(path)
    assert code == 0 and set(rows) == {f"{path}[Cu/cu_metal_rt]", f"{path}[Zn/ZnO]"}
    assert rows[f"{path}[Zn/ZnO]"]["element_source"] == "file" and rows[f"{path}[Cu/cu_metal_rt]"]["element_source"] == "edge"
    for source, label in ((CU, "Cu/cu_metal_rt"), (ZNO, "Zn/ZnO")):
        assert rows[f"{path}[{label}]"]["cn"] == from_xdi[source.name]["cn"]


def test_hdf5_without_spectra_or_with_outside_links_says_so_in_one_line(tmp_path):
    empty = tmp_path / "images.h5"
    with h5py.File(empty, "w") as handle:
        handle["detector/frames"] = np.zeros((4, 8, 8))
        handle["scan/angle"] = np.linspace(10, 20, 100)
        handle["scan/counts"] = np.linspace(1, 2, 100)
        handle["scan/when"] = "2020-01-01T00:00:00"
    with pytest.raises(SpectrumFileError, match=r"images\.h5: HDF5 file with no group holding an energy and a mu.*--energy") as info:
        read_file(empty)
    assert "\n" not in str(info.value)
    linked = tmp_path / "linked.h5"
    with h5py.File(linked, "w") as handle:
        group = handle.create_group("cu")
        xdi = read_xdi(str(CU))
        group["energy"], group["mu"] = xdi.energy, xdi.mutrans
        group["i0"] = h5py.ExternalLink(str(empty), "/scan/counts")  # another file: never opened
        group["start_time"] = h5py.ExternalLink(str(empty), "/scan/when")  # nor for the scan time
    (spectrum,) = read_file(linked)
    assert isinstance(spectrum, MeasuredSpectrum) and spectrum.scan_time is None
    assert any("links to other files not followed: /cu/i0, /cu/start_time" in n for n in spectrum.notes), spectrum.notes
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(_nxxas(tmp_path / "whole.h5").read_bytes()[:3000])
    with pytest.raises(SpectrumFileError, match=r"damaged\.h5: unreadable HDF5 file"):
        read_file(damaged)


def _spec_file(path: Path) -> Path:
    lines = ["#F /data/2026/run1.spec", "#E 1780300800", "#D Mon Jun 01 10:00:00 2026", "#O0 samx  samy", ""]
    lines += ["#S 1  ascan  samx -1 1 40 0.5", "#D Mon Jun 01 10:01:00 2026", "#N 3", "#L samx  I0  I1"]
    lines += [f"{x:.3f} 1000 {500 + 100 * np.exp(-x * x):.4f}" for x in np.linspace(-1, 1, 41)] + [""]
    for number, source in enumerate((CU, ZNO), start=2):
        xdi = read_xdi(str(source))
        lines += [f"#S {number}  escan  {xdi.energy[0]:.1f} {xdi.energy[-1]:.1f}", f"#D Mon Jun 01 1{number}:00:00 2026", "#N 3"]
        lines += ["#L Energy  I0  I1"] + [f"{e:.10g} {a:.10g} {t:.10g}" for e, a, t in zip(xdi.energy, xdi.i0, xdi.itrans)] + [""]
    path.write_text("\n".join(lines))
    return path


def test_spec_scans_are_each_answered_and_an_alignment_scan_is_refused_alone(tmp_path, from_xdi):
    path = _spec_file(tmp_path / "run1.spec")
    assert format_of(path.read_bytes()[:4096]).name == "spec"
    result = runner.invoke(app, ["predict", "--json", str(path)])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    rows = {_where(row): row for row in lines if "error" not in row}
    (refused,) = [row["error"] for row in lines if "error" in row]
    assert set(rows) == {f"{path}[scan 2]", f"{path}[scan 3]"} and result.exit_code == 1
    assert refused.startswith(f"{path}[scan 1]: no energy column")
    for source, scan in ((CU, "scan 2"), (ZNO, "scan 3")):
        row, alone = rows[f"{path}[{scan}]"], from_xdi[source.name]
        assert (row["element"], row["cn"]) == (alone["element"], alone["cn"])
        assert row["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-9)  # the same numbers: the same answer
    assert rows[f"{path}[scan 2]"]["scan_time"].startswith("2026-06-01T12:00")


def test_the_registry_tries_binary_and_scan_formats_before_plain_columns():
    names = [f.name for f in FORMATS]
    assert names[0] == "hdf5" and names[-1] == "columns" and names.index("spec") < names.index("columns")
    assert format_of(b"# XDI/1.0\n#S 1 not spec").name == "xdi"
    assert format_of(b"#F x.spec\n#E 1\n").name == "spec"
    assert format_of(b"# energy mu\n8900 1\n").name == "columns"


ALBA_SPEC = MEASURED / "parseq_XAS__data__foils__Cu-foil_EXAFS_23068.dat"  # a real public SPEC scan: ALBA CLAESS, Cu foil
ALBA_COLUMNS = ("--energy", "mono1_energy_acs", "--mu", "log((albaem02_ch1+albaem02_ch2)/(albaem02_ch3+albaem02_ch4))")


def test_a_public_spec_scan_from_alba_is_read_as_spec_and_answered_with_its_channels_named(tmp_path):
    """ALBA's continuous scans carry no ``#D`` date (Larch's own SPEC reader fails on them) and four
    electrometer channels no guesser can read as I0 and It: the scan is named, and the user's
    --energy/--mu read it to the same arrays as Larch's column reader."""
    from larch.io import read_ascii

    assert format_of(ALBA_SPEC.read_bytes()[:4096]).name == "spec"
    (unnamed,) = read_file(ALBA_SPEC)
    assert isinstance(unnamed, SpectrumFileError) and "[scan 23068]: cannot tell which column is mu; give --mu" in str(unnamed)
    code, rows = _answers(ALBA_SPEC, options=ALBA_COLUMNS)
    row = rows[f"{ALBA_SPEC}[scan 23068]"]
    assert code == 0 and (row["element"], row["cn"], row["neighbour"]) == ("Cu", 12, "metal")
    columns = read_ascii(str(ALBA_SPEC))
    (spectrum,) = read_file(ALBA_SPEC, columns=Columns(*ALBA_COLUMNS[1::2]))
    expected = np.log((columns.albaem02_ch1 + columns.albaem02_ch2) / (columns.albaem02_ch3 + columns.albaem02_ch4))
    np.testing.assert_array_equal(spectrum.energy, columns.mono1_energy_acs)
    np.testing.assert_allclose(spectrum.mu, expected, rtol=0, atol=1e-12)
