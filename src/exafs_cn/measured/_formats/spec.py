"""SPEC files (Certified Scientific Software's text format, as ESRF, ALBA, APS and many lab
beamlines write them): several scans per file, read by silx's ``SpecFile`` (the parser
Larch's SPEC reader wraps; its ``get_scan`` fails on a scan without a ``#D`` date, as
ALBA's continuous scans are written). Every scan is one spectrum, named by its ``#S``
number; a scan that holds no XAFS (an alignment scan of a motor) is refused in one line and
the others are read. Columns are the scan's ``#L`` labels, chosen as in any column file
(``mu``, ``log(i0/it)``, ``if/i0`` or the user's ``--energy``/``--mu``)."""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import datetime
from pathlib import Path

from exafs_cn.exceptions import SpectrumFileError, one_line
from exafs_cn.measured._columns import Columns, energy_and_mu, repeated_columns
from exafs_cn.measured._formats.base import Format, RawGroup, stated_element


class _Collected(logging.Handler):
    """silx's warnings about a file (a scan without a date, columns it could not read), kept as notes."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"silx: {record.getMessage()[:100]}")


@contextlib.contextmanager
def _silx_warnings():
    """silx's SPEC warnings while the block runs, taken from stderr into a list."""
    logger, handler = logging.getLogger("silx.io"), _Collected()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def sniff(head: bytes) -> bool:
    """A file header (``#F``) or a scan header (``#S n``) at the start, or a scan header
    with its column labels (``#L``) among the first bytes."""
    if re.match(rb"\s*#[FS] ", head):
        return True
    return bool(re.search(rb"^#S\s+\d+", head, re.MULTILINE) and re.search(rb"^#L\s", head, re.MULTILINE))


def read(path: Path, columns: Columns) -> list[RawGroup]:
    """Every scan of a SPEC file, each with its energy and mu or its one-line error."""
    from silx.io.specfile import SpecFile

    try:
        with _silx_warnings():
            source = SpecFile(str(path))
            scans = list(source)
    except Exception as exc:  # silx raises SfError (an IOError) or IndexError on what it cannot parse
        raise SpectrumFileError(f"{path}: unreadable SPEC file: {one_line(exc, 100)}", str(path)) from None
    try:
        if not scans:
            raise SpectrumFileError(f"{path}: SPEC file without scans (no #S lines)", str(path))
        return [_scan(path, scan, columns) for scan in scans]
    finally:
        source.close()


def _scan(path: Path, scan, columns: Columns) -> RawGroup:
    label = f"scan {scan.number}" + (f".{scan.order}" if scan.order > 1 else "")  # a repeated #S n is n.2
    where = f"{path}[{label}]"
    try:
        with _silx_warnings() as warned:
            labels, data = list(scan.labels), scan.data
            header = "\n".join([*scan.file_header, *scan.scan_header])
            date = scan.scan_header_dict.get("D")
        if data.ndim != 2 or data.shape[0] != len(labels) or not labels:
            raise SpectrumFileError(f"{where}: {len(labels)} #L labels for {data.shape[0] if data.ndim == 2 else 0} data columns")
        arrays = {str(name).lower(): row for name, row in zip(labels, data)}
        energy, mu = energy_and_mu(where, arrays, columns, repeated_columns(labels))
    except SpectrumFileError as exc:
        return RawGroup.refused(label, where, exc)
    except Exception as exc:  # silx's SfError for a scan it cannot give arrays for (ragged rows)
        return RawGroup(label, None, None, None, error=f"unreadable scan: {one_line(exc, 100)}")
    return RawGroup(label, energy, mu, stated_element(header), tuple(warned), scan_time=_scan_time(date))


def _scan_time(date: str | None) -> datetime | None:
    """A ``#D`` date as SPEC writes it (``Mon Jun 01 10:00:00 2026``), where there is one and it reads."""
    try:
        return datetime.strptime(" ".join(str(date).split()), "%a %b %d %H:%M:%S %Y") if date else None
    except ValueError:
        return None


FORMAT = Format("spec", sniff, read)
