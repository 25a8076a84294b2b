"""XDI files (``# XDI/1.0``): Larch's XDI reader, with the absorber and scan start time from
the header; where Larch's strict header parser refuses, the columns with the header's names."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from exafs_cn.exceptions import SpectrumFileError, one_line
from exafs_cn.measured._columns import Columns, energy_and_mu, group_arrays, repeated_columns
from exafs_cn.measured._formats import column_file
from exafs_cn.measured._formats.base import Format, RawGroup, larch_output
from exafs_cn.measured._xray_tables import symbol


def sniff(head: bytes) -> bool:
    return re.match(rb"\s*#\s*XDI/", head, re.IGNORECASE) is not None


def read(path: Path, columns: Columns) -> list[RawGroup]:
    """An XDI file's one spectrum."""
    return [read_group(path, columns)]


def read_group(path: Path, columns: Columns) -> RawGroup:
    """Larch's XDI reader; where its strict header parser refuses, the columns with the header's names."""
    from larch.io import read_xdi

    try:
        with larch_output():
            group = read_xdi(str(path))
    except Exception as exc:  # xdifile raises ValueError/TypeError on headers it cannot parse
        fallback = column_file.read_group(path, columns)
        note = f"read as columns with the XDI header's names (Larch's XDI reader: {one_line(exc)[:80]})"
        return RawGroup(None, fallback.energy, fallback.mu, fallback.stated, (*fallback.notes, note), fallback.error)
    stated = getattr(group, "element", None) or (group.attrs.get("element", {}).get("symbol") if hasattr(group, "attrs") else None)
    repeated = repeated_columns(getattr(group, "array_labels", None) or [])
    if repeated:  # Larch keeps the last and derives mutrans/mufluor from the names: any repeat is ambiguous
        name, numbers = next(iter(repeated.items()))
        raise SpectrumFileError(
            f"{path}: columns {' and '.join(map(str, numbers))} are both named {name!r}: rename one (# Column.N lines)", str(path)
        )
    energy, mu = energy_and_mu(path, group_arrays(group), columns)
    return RawGroup(None, energy, mu, symbol(stated), scan_time=_scan_time(group))


def _scan_time(group) -> datetime | None:
    """XDI's ``Scan.start_time`` (ISO 8601, with a space or a T), where it is there and reads."""
    attrs = getattr(group, "attrs", None)
    scan = attrs.get("scan") if isinstance(attrs, dict) else None
    text = scan.get("start_time") if isinstance(scan, dict) else None
    try:
        return datetime.fromisoformat(str(text).strip()) if text else None
    except ValueError:
        return None


FORMAT = Format("xdi", sniff, read)
