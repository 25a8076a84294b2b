"""The "9809" format of the Photon Factory (KEK) XAFS beamlines: monochromator angles, not energies.

A fixed header (format number ``9809``, beamline, sample, ring, the monochromator with its
d-spacing, the measurement and its signal's mode, the scan's energy blocks), then a line naming
the columns (``Angle(c) Angle(o) time/s 2 3 ...``), a ``Mode`` row giving each detector column's
role and an ``Offset`` row its dark counts, then one row per point: the commanded and the read-back
Bragg angle (degrees), the counting time (s) and the counts of each detector.

What the reader makes of it:

- the energy is ``hc / (2 d sin(theta))`` of the commanded angle and the d-spacing the ``Mono``
  line states (the file has no energy column; its block table gives nominal energies only). In
  BL9A's 2022 file the read-back angle differs from it by a few 1e-4 degrees and, read to 1e-4
  degrees, repeats or steps back between close points, which a spectrum's energies may not; in
  BL12C's 2005 file it drifts to 0.011 degrees (17 eV) off, where the commanded angles land on the
  file's own block table;
- detector modes 1, 2 and 3 are I0, the transmitted I and the fluorescence (``Transmission( 2)``
  and ``Fluorescence( 3)`` on the measurement line name the mode of the signal measured); counts
  are dark-corrected by the ``Offset`` row taken as counts per second of counting time;
- mu is ``log(i0/it)`` or ``if/i0`` (several fluorescence columns summed), as the measurement line
  says; the arrays ``energy``, ``energy_o`` (from the read-back angle: ``--energy energy_o`` for a
  beamline whose encoder is to be trusted over its commands), ``i0``, ``it``, ``if``, ``angle_c``,
  ``angle_o`` and ``time`` are there for ``--energy``/``--mu`` expressions.

The file does not name the absorber (the sample line is free text): the element is found from
the edge, as for any file that does not state it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import SpectrumFileError
from exafs_cn.measured._columns import Columns, energy_and_mu
from exafs_cn.measured._formats.base import Format, RawGroup

#: h c in eV Angstrom (CODATA 2018), for the Bragg angle to energy.
HC_EV_ANGSTROM = 12398.419843320026
#: Detector roles of the ``Mode`` row.
I0_MODE, TRANSMISSION_MODE, FLUORESCENCE_MODE = 1, 2, 3

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def sniff(head: bytes) -> bool:
    """The format number alone on the start of the first line, then the header's own rows."""
    return bool(re.match(rb"\s*9809\s+[^\d\s]", head)) and b"D=" in head and re.search(rb"^\s*Mode\s", head, re.MULTILINE) is not None


def read(path: Path, columns: Columns) -> list[RawGroup]:
    """A 9809 file's one scan."""
    return [read_group(path, columns)]


def read_group(path: Path, columns: Columns) -> RawGroup:
    lines = path.read_text(errors="replace").splitlines()

    def refuse(problem: str) -> SpectrumFileError:
        return SpectrumFileError(f"{path}: 9809 file {problem}", str(path))

    d_spacing = next((float(m.group(1)) for line in lines if (m := re.search(rf"\bD=\s*({_NUMBER})\s*A", line))), None)
    if d_spacing is None or not 0.5 < d_spacing < 20.0:
        raise refuse("without a monochromator d-spacing ('D=  3.13551 A' on its Mono line)")
    mode_row = next((i for i, line in enumerate(lines) if re.match(r"\s*Mode\s", line)), None)
    if mode_row is None or mode_row + 1 >= len(lines) or not re.match(r"\s*Offset\s", lines[mode_row + 1]):
        raise refuse("without its Mode and Offset rows")
    try:
        modes = [int(float(value)) for value in lines[mode_row].split()[1:]]
        offsets = [float(value) for value in lines[mode_row + 1].split()[1:]]
    except ValueError:
        raise refuse(f"with an unreadable Mode or Offset row: {lines[mode_row].strip()[:60]!r}") from None
    if len(modes) < 3 or len(modes) != len(offsets):
        raise refuse("whose Mode and Offset rows do not give each column (two angles and the detectors)")
    rows = []
    for line in lines[mode_row + 2 :]:
        if not line.strip():
            continue
        try:
            row = [float(value) for value in line.split()]
        except ValueError:
            raise refuse(f"with an unreadable data line: {line.strip()[:60]!r}") from None
        if len(row) != len(modes) + 1:  # the time column has no mode
            raise refuse(f"with a data line of {len(row)} values where its header gives {len(modes) + 1} columns")
        rows.append(row)
    if not rows:
        raise refuse("without data")
    data = np.asarray(rows, float).T
    angle_c, angle_o, time, counts = data[0], data[1], data[2], data[3:]
    if not (np.all(angle_c > 0.0) and np.all(angle_c < 90.0)):
        raise refuse("with angles outside 0-90 degrees: its first columns are not Bragg angles")
    detector_modes, dark = modes[2:], np.asarray(offsets[2:])
    corrected = counts - dark[:, None] * time[None, :]

    def of_mode(mode: int) -> np.ndarray | None:
        chosen = [i for i, m in enumerate(detector_modes) if m == mode]
        return corrected[chosen].sum(axis=0) if chosen else None

    def bragg_energy(angle: np.ndarray) -> np.ndarray:
        return HC_EV_ANGSTROM / (2.0 * d_spacing * np.sin(np.radians(angle)))

    arrays = {"energy": bragg_energy(angle_c), "energy_o": bragg_energy(angle_o), "angle_c": angle_c, "angle_o": angle_o, "time": time}
    for name, mode in (("i0", I0_MODE), ("it", TRANSMISSION_MODE), ("if", FLUORESCENCE_MODE)):
        if (values := of_mode(mode)) is not None:
            arrays[name] = values
    notes = [f"energy from the commanded Bragg angle and the d-spacing {d_spacing:g} A; counts less the Offset row's dark counts per second"]
    header = "\n".join(lines[:mode_row])
    stated = re.search(r"(Transmission|Fluorescence)\s*\(\s*(\d+)\s*\)", header, re.IGNORECASE)
    if columns.mu is None:
        signal = ("it" if int(stated.group(2)) == TRANSMISSION_MODE else "if") if stated else ("it" if "it" in arrays else "if")
        if "i0" not in arrays or signal not in arrays:
            missing = "an I0 column (mode 1)" if "i0" not in arrays else f"a {'transmission (mode 2)' if signal == 'it' else 'fluorescence (mode 3)'} column"
            raise refuse(f"without {missing} (column modes {' '.join(map(str, detector_modes))}); give --mu")
        columns = replace(columns, mu="log(i0/it)" if signal == "it" else "if/i0")
        notes.append(f"mu = {columns.mu}")
    energy, mu = energy_and_mu(path, arrays, columns)
    promised = re.search(r"Points=\s*(\d+)", header)
    if promised and int(promised.group(1)) != len(rows):
        notes.append(f"the header promises {promised.group(1)} points and the file has {len(rows)}: a scan stopped early?")
    return RawGroup(None, energy, mu, None, tuple(notes))


FORMAT = Format("9809", sniff, read)
