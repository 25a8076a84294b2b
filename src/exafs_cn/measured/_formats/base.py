"""What every format reader shares: the raw group a reader returns (before the checks), the
registry entry of a format, and the header helpers (the stated absorber, XDI column names,
Larch's printed warnings caught as notes)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from exafs_cn.larch_output import captured
from exafs_cn.measured._columns import Columns
from exafs_cn.measured._xray_tables import symbol

#: Largest file (unpacked, for a gzipped project) read: a scan of 10,000 points in 20
#: columns is ~2 MB, an Athena project of 100 such scans ~50 MB unpacked.
MAX_FILE_BYTES = 64 * 2**20
#: Most points one spectrum may have (a QEXAFS scan: tens of thousands).
MAX_POINTS = 200_000
#: How a refused size is explained.
SIZE_LIMIT = "a measured scan file needs"


@dataclass(frozen=True)
class Format:
    """One file format: its name, how its first bytes are recognised, how it is read."""

    name: str
    sniff: Callable[[bytes], bool]
    read: Callable[[Path, Columns], list]


#: Header keys that name the absorber (at the start of a header line, after any comment sign).
_ELEMENT_KEY = re.compile(r"^[#!%\s]*(?:element(?:\.symbol|_symbol)?|absorber)\s*[:=]\s*([A-Za-z]{1,2})\b", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class RawGroup:
    """What a format reader found, before the checks."""

    label: str | None
    energy: np.ndarray | None
    mu: np.ndarray | None
    stated: str | None
    notes: tuple[str, ...] = ()
    error: str | None = None
    scan_time: datetime | None = None

    @classmethod
    def refused(cls, label: str, where: str, exc: Exception) -> RawGroup:
        """A group of a file of several that cannot be read: its error as the checks will prefix
        it (``where``, the file and the label, taken off the message)."""
        return cls(label, None, None, None, error=str(exc).removeprefix(f"{where}: "))


@contextlib.contextmanager
def larch_output():
    """Larch's readers print warnings ("may not read journal", "nans seen") on stdout, where
    ``--json`` promises JSON only: they are caught (in this thread only) and handed back as notes."""
    with captured() as lines:
        yield lambda: tuple(f"Larch: {line}" for line in lines())


def stated_element(header: str) -> str | None:
    """The absorber a header names under one of the keys that name it (``_ELEMENT_KEY``)."""
    match = _ELEMENT_KEY.search(header)
    return symbol(match.group(1) if match else None)


def xdi_named_columns(header: str, data: np.ndarray) -> dict[str, np.ndarray]:
    """``# Column.N: name [unit]`` header lines (XDI) name the data's columns."""
    named = {}
    for number, name in re.findall(r"#\s*Column\.(\d+)\s*:\s*(\S+)", header, re.IGNORECASE):
        index = int(number) - 1
        if 0 <= index < data.shape[0]:
            named[name.lower()] = np.asarray(data[index], float)
    return named
