"""The measured file formats, one module each, behind one registry (as Larch's ``larch.io``).

Each module gives a ``FORMAT``: a name, a ``sniff`` of the file's first bytes and a
``read(path, columns)`` that returns the file's groups (``RawGroup``: energy, mu, the
absorber the file states, notes, or the group's error) before the checks every spectrum
passes (``exafs_cn.measured._readers.checked``). ``FORMATS`` is tried in order; plain
columns come last and take every file the others do not.
"""

from __future__ import annotations

from exafs_cn.measured._formats import athena_project, column_file, fio, hdf5, pf9809, spec, xdi
from exafs_cn.measured._formats.base import MAX_FILE_BYTES, MAX_POINTS, SIZE_LIMIT, Format, RawGroup

#: The formats, in the order they are tried.
FORMATS: tuple[Format, ...] = (
    hdf5.FORMAT,
    athena_project.FORMAT,
    xdi.FORMAT,
    fio.FORMAT,
    spec.FORMAT,
    pf9809.FORMAT,
    column_file.FORMAT,
)


def format_of(head: bytes) -> Format:
    """The first format whose sniff recognises ``head`` (plain columns where none does)."""
    return next(f for f in FORMATS if f.sniff(head))


__all__ = ["FORMATS", "MAX_FILE_BYTES", "MAX_POINTS", "SIZE_LIMIT", "Format", "RawGroup", "format_of"]
