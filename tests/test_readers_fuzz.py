"""Fuzzing the readers: whatever bytes a file holds, reading it gives spectra or SpectrumFileError.

Inputs start from real measured files (XDI, columns, HASYLAB .fio, Photon Factory 9809, an Athena project) and
are mutated (bytes flipped, lines cut, dropped and repeated, numbers replaced by extremes),
besides arbitrary text. Any other exception, a hang or a crash fails. The budget keeps the
whole module within a minute on two cores; ``derandomize`` fixes hypothesis' seed, so a CI
run is repeatable (run with ``--hypothesis-seed=random`` to search further).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import h5py  # noqa: E402  (after the package: the order the readers load them in)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from larch.io import read_xdi  # noqa: E402
from larch.io.nexus_xas import xdi2NXxas  # noqa: E402

from exafs_cn.measured._readers import MeasuredSpectrum, SpectrumFileError, read_file

MEASURED = Path(__file__).parent / "data" / "experimental"
SEEDS = {
    "xdi": (MEASURED / "data__Cu__cu_metal_rt.xdi").read_bytes(),
    "columns": (MEASURED / "examples__xafsdata__AthenaProjectFiles__NiO__NiO.000.dat").read_bytes(),
    "fio": (MEASURED / "parseq_XAS__data__Cu_rt1.fio").read_bytes(),
    "9809": (MEASURED / "examples__xafsdata__beamlines__PF9A_2022.dat").read_bytes(),
}


def _spec_seed() -> bytes:
    """A SPEC file of one alignment scan and one energy scan (the Cu foil's i0 and itrans)."""
    xdi = read_xdi(str(MEASURED / "data__Cu__cu_metal_rt.xdi"))
    lines = ["#F run.spec", "#E 1780300800", "#D Mon Jun 01 10:00:00 2026", "", "#S 1  ascan  samx -1 1 4 1", "#N 2", "#L samx  I0"]
    lines += ["-1 10", "0 20", "1 10", "", "#S 2  escan", "#D Mon Jun 01 11:00:00 2026", "#N 3", "#L Energy  I0  I1"]
    lines += [f"{e:.6f} {a:.8g} {t:.8g}" for e, a, t in zip(xdi.energy, xdi.i0, xdi.itrans)]
    return "\n".join(lines).encode()


def _hdf5_seed(folder: Path) -> bytes:
    """An NXxas file of the Cu foil as Larch writes it."""
    path = folder / "seed.h5"
    with h5py.File(path, "w") as handle:
        xdi2NXxas(read_xdi(str(MEASURED / "data__Cu__cu_metal_rt.xdi")), handle, name="cu")
    return path.read_bytes()


SEEDS["spec"] = _spec_seed()
EXTREMES = [b"nan", b"inf", b"-inf", b"1e308", b"-1e308", b"0", b"1e-320", b"-0", b"9" * 40, b"", b"x", b"1,5"]
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _read(tmp_path: Path, content: bytes, name: str = "fuzzed.dat") -> None:
    path = tmp_path / name
    path.write_bytes(content)
    try:
        items = read_file(path)
    except SpectrumFileError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc).strip(), str(exc)
        return
    assert items, "read_file returned nothing"
    for item in items:
        assert isinstance(item, (MeasuredSpectrum, SpectrumFileError)), type(item)
        if isinstance(item, SpectrumFileError):
            assert str(path) in str(item)


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    lines = seed.split(b"\n")
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "drop", "repeat", "extreme", "truncate"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "flip" and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:j] + bytes([draw(st.integers(0, 255))]) + lines[i][j + 1 :]
        elif kind == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif kind == "drop":
            del lines[i : i + draw(st.integers(1, 50))]
            lines = lines or [b""]
        elif kind == "repeat":
            lines[i:i] = [lines[i]] * draw(st.integers(1, 20))
        elif kind == "extreme":
            fields = lines[i].split()
            if fields:
                fields[draw(st.integers(0, len(fields) - 1))] = draw(st.sampled_from(EXTREMES))
                lines[i] = b" ".join(fields)
        else:
            lines = lines[: draw(st.integers(1, len(lines)))]
    return b"\n".join(lines)


@pytest.mark.parametrize("kind", list(SEEDS))
def test_mutated_real_files_read_or_fail_in_one_line(kind, tmp_path):
    @FUZZ
    @given(content=mutated(SEEDS[kind]))
    def check(content: bytes) -> None:
        _read(tmp_path, content, f"fuzzed.{kind if kind in ('fio', 'spec') else 'dat'}")

    check()


@FUZZ
@given(content=st.binary(max_size=3000) | st.text(max_size=3000).map(str.encode))
def test_arbitrary_bytes_read_or_fail_in_one_line(content, tmp_path):
    _read(tmp_path, content)


@settings(max_examples=50, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=mutated(SEEDS["columns"]), header=st.sampled_from([b"# Athena project file -- Demeter version 0.9.26\n", b""]))
def test_mutated_athena_projects_read_or_fail_in_one_line(content, header, tmp_path):
    """A gzipped file is an Athena project to the readers: damaged ones included."""
    _read(tmp_path, gzip.compress(header + content), "fuzzed.prj")


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_hdf5_files_read_or_fail_in_one_line(data, tmp_path):
    """Bytes of a real NXxas file overwritten or cut: h5py reads what is left or the file is refused."""
    seed = bytearray(_hdf5_seed(tmp_path))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(seed) - 1))
        seed[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        seed = seed[: data.draw(st.integers(8, len(seed)))]
    _read(tmp_path, bytes(seed), "fuzzed.h5")
