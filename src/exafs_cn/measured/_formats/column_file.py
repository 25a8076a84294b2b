"""Plain column files (any text table a beamline writes): read by Larch's ``read_ascii``, or
with decimal commas (European locales) where the fields are separated by something else.
The format every file that is none of the others is read as."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import SpectrumFileError, one_line
from exafs_cn.measured._columns import Columns, energy_and_mu, group_arrays, repeated_columns
from exafs_cn.measured._formats.base import Format, RawGroup, larch_output, stated_element, xdi_named_columns


def sniff(head: bytes) -> bool:
    """Every file: the last format tried."""
    return True


def read(path: Path, columns: Columns) -> list[RawGroup]:
    """Columns as Larch's ``read_ascii`` reads them (decimal commas first: Larch would misread them)."""
    return [read_group(path, columns)]


def read_group(path: Path, columns: Columns) -> RawGroup:
    from larch.io import read_ascii

    decimal_comma = _decimal_comma_group(path, columns)
    if decimal_comma is not None:
        return decimal_comma
    try:
        with larch_output() as said:
            group = read_ascii(str(path))
    except Exception as exc:
        raise SpectrumFileError(f"{path}: unreadable column file: {one_line(exc)}", str(path)) from None
    data = getattr(group, "data", None)
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.size == 0:  # Larch gives [] for a file of words
        raise SpectrumFileError(f"{path}: no numeric columns found", str(path))
    header = "\n".join(str(line) for line in (getattr(group, "header", None) or []))
    arrays = group_arrays(group) | xdi_named_columns(header, data)
    labels = _larch_repeats(list(getattr(group, "array_labels", None) or []))
    xdi_labels = dict(re.findall(r"#\s*Column\.(\d+)\s*:\s*(\S+)", header, re.IGNORECASE))
    repeated = repeated_columns(labels) | repeated_columns([xdi_labels[n] for n in sorted(xdi_labels, key=int)])
    energy, mu = energy_and_mu(path, arrays, columns, repeated)
    return RawGroup(None, energy, mu, stated_element(header), said())


def _larch_repeats(labels: list[str]) -> list[str]:
    """Column labels as the file gave them: Larch renames a repeated one (``mu``, ``mu`` ->
    ``mu``, ``mu_col3``), which is undone here so that the repeat can be seen."""
    out = []
    for number, label in enumerate(labels, start=1):
        match = re.fullmatch(rf"(.+)_col{number}", str(label))
        out.append(match.group(1) if match and match.group(1) in labels else label)
    return out


#: A number written with a decimal comma (``8979,52``, ``-1,3e-2``).
_COMMA_NUMBER = re.compile(r"^[-+]?\d+,\d+(?:[eE][-+]?\d+)?$")


_PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


def _decimal_comma_group(path: Path, columns: Columns) -> RawGroup | None:
    """A column file written with decimal commas (European locales), or None for any other.

    A decimal comma is unambiguous where the fields are separated by something else (tabs,
    semicolons, spaces): those files are read with the commas as points, and a note says
    so. Where commas would have to be both, the file is refused saying exactly that.
    """
    with open(path, "rb") as handle:  # most column files show data lines without a comma early: no more is read
        head = handle.read(4096).decode("utf-8", errors="replace")
    head_data = [line for line in head.splitlines() if line.strip()[:1] in tuple("+-0123456789")]
    if head_data and not any("," in line for line in head_data[:20]):
        return None
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    data = [line for line in lines if line[0] in "+-0123456789"]
    if not data or not any("," in line for line in data[:20]):
        return None
    separator = ";" if all(";" in line for line in data[:20]) else None  # None: tabs or spaces
    rows = [re.split(r"\s*;\s*", line) if separator else line.split() for line in data]
    fields = [field for row in rows[:50] for field in row]
    if not any(_COMMA_NUMBER.match(field) for field in fields):
        if separator is None and any("," in field and not _PLAIN_NUMBER.match(field) for field in fields):
            if all(re.fullmatch(r"[-+\d,eE]+", field) for field in fields) and any(line.count(",") % 2 for line in data[:20]):
                raise SpectrumFileError(
                    f"{path}: commas serve both as decimal signs and as separators; save it with points or another separator",
                    str(path),
                )
        return None
    try:
        table = np.array([[float(field.replace(",", ".")) for field in row] for row in rows], dtype=float)
    except ValueError:
        raise SpectrumFileError(f"{path}: decimal commas, but not every data field is a number", str(path)) from None
    if table.ndim != 2:
        raise SpectrumFileError(f"{path}: decimal commas, but the data rows differ in length", str(path))
    header = [line.lstrip("#!% ") for line in lines if line not in data]
    names = (re.split(r"\s*;\s*" if separator else r"\s+", header[-1].strip().lower()) if header else [])
    if len(names) != table.shape[1]:
        names = [f"col{i + 1}" for i in range(table.shape[1])]
    arrays = {name: table[:, i] for i, name in enumerate(names)}
    energy, mu = energy_and_mu(path, arrays, columns, repeated_columns(names))
    return RawGroup(None, energy, mu, stated_element("\n".join(header)), ("decimal commas read as decimal points",))


FORMAT = Format("columns", sniff, read)
