"""Athena projects (``.prj``: Perl or JSON layout, gzipped or not), every group one spectrum,
parsed as data (``exafs_cn.measured._athena``): nothing in a project is evaluated."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from exafs_cn.exceptions import NotRegularFileError, ProjectDataError, SpectrumFileError, one_line
from exafs_cn.measured import _athena as athena
from exafs_cn.measured._columns import Columns
from exafs_cn.measured._formats.base import MAX_FILE_BYTES, SIZE_LIMIT, Format, RawGroup
from exafs_cn.measured._xray_tables import symbol
from exafs_cn.regular_files import read_regular


def sniff(head: bytes) -> bool:
    """Gzip (a packed project; ``readers`` checks it unpacks to one), or Athena's own header line,
    which its JSON projects carry inside a header entry (Larch's own test)."""
    return head[:2] == b"\x1f\x8b" or b"Athena project file -- " in head[:500] or head.lstrip().startswith(b"# Athena project file")


def read(path: Path, columns: Columns | None = None) -> list[RawGroup]:
    """The groups of an Athena project, read as data (:mod:`exafs_cn.measured._athena`): a
    group that cannot be read is returned with its error, the others are read. ``columns`` is
    not used: a project's groups carry their own energy and mu."""
    try:
        raw = read_regular(path, MAX_FILE_BYTES, limit=SIZE_LIMIT)
        if raw[:2] == b"\x1f\x8b":  # its unpacked size was bounded by _read_head
            raw = gzip.decompress(raw)
        groups = athena.parse_project(raw.decode("utf-8", errors="replace"))
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, NotRegularFileError) as exc:
        raise SpectrumFileError(f"{path}: unreadable Athena project: {one_line(exc, 100)}", str(path)) from None
    except ProjectDataError as exc:
        raise SpectrumFileError(f"{path}: unreadable Athena project: {exc}", str(path)) from None
    if not groups:
        raise SpectrumFileError(f"{path}: Athena project holds no groups", str(path))
    return [RawGroup(g.label, g.energy, g.mu, symbol(g.element), error=g.error) for g in groups]


FORMAT = Format("athena", sniff, read)
