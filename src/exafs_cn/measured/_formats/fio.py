"""HASYLAB/DESY ``.fio`` files: ``%c`` comments, ``%p`` parameters, ``%d`` data with
``Col N name TYPE`` lines."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import SpectrumFileError
from exafs_cn.measured._columns import DEFAULT_COLUMNS, Columns, energy_and_mu
from exafs_cn.measured._formats.base import Format, RawGroup, stated_element


def sniff(head: bytes) -> bool:
    return bool(re.search(rb"^%d\s*$", head, re.MULTILINE) and re.search(rb"^\s*Col\s+1\s+\S+", head, re.MULTILINE))


def read(path: Path, columns: Columns) -> list[RawGroup]:
    """A ``.fio`` file's one spectrum."""
    return [read_group(path, columns)]


def read_group(path: Path, columns: Columns) -> RawGroup:
    """A HASYLAB/DESY ``.fio`` file: ``%c`` comments, ``%p`` parameters, ``%d`` data with
    ``Col N name TYPE`` lines.

    Column names lose the scan-name prefix they share (``CU_RT_00001R1_C1`` -> ``c1``).
    The columns named by the scan name alone are the scan's own: the first is the energy
    it stepped, the second the signal it recorded (HASYLAB's EXAFS scans write ln(I0/I1)
    there), read as ``energy`` and ``mu`` unless ``--energy``/``--mu`` say otherwise.
    """
    text = path.read_text(errors="replace")
    section, names, rows = None, [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("!"):
            continue
        if stripped.startswith("%"):
            section = stripped[1:2].lower()
            continue
        if section != "d":
            continue
        column = re.match(r"Col\s+(\d+)\s+(\S+)", stripped, re.IGNORECASE)
        if column:
            names.append(column.group(2))
            continue
        try:
            rows.append([float(value) for value in stripped.split()])
        except ValueError:
            raise SpectrumFileError(f"{path}: unreadable .fio data line: {stripped[:60]!r}", str(path)) from None
    if not names or not rows:
        raise SpectrumFileError(f"{path}: .fio file without {'column names' if not names else 'data'} in its %d section", str(path))
    if any(len(row) != len(names) for row in rows):
        raise SpectrumFileError(f"{path}: .fio data rows do not all have the {len(names)} named columns", str(path))
    data = np.asarray(rows, float).T
    scan = min(names, key=len)
    arrays: dict[str, np.ndarray] = {}
    bare = [i for i, name in enumerate(names) if name == scan]
    for i, name in enumerate(names):
        short = name[len(scan) :].lstrip("_").lower() if name.startswith(scan) else name.lower()
        arrays[short or f"col{i + 1}"] = data[i]
    notes: tuple[str, ...] = ()
    if len(bare) >= 2 and columns == DEFAULT_COLUMNS:
        arrays = {"energy": data[bare[0]], "mu": data[bare[1]], **arrays}
        notes = (f"columns {bare[0] + 1} and {bare[1] + 1}, named by the scan ({scan}), read as energy and mu",)
    header = "\n".join(line for line in text.splitlines() if not re.match(r"\s*[-+\d.]", line))
    energy, mu = energy_and_mu(path, arrays, columns)
    return RawGroup(None, energy, mu, stated_element(header), notes)


FORMAT = Format("fio", sniff, read)
