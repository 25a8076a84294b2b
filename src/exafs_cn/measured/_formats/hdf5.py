"""HDF5 files, read with h5py: NeXus NXxas entries (as Larch's ``xdi2NXxas`` writes them) and
plain libraries of reference spectra. Every group whose own 1-D arrays name an energy and a
mu (``mu``, ``mutrans``, ``log(i0/itrans)``, ``ifluor/i0``, or the user's ``--energy``/``--mu``)
is one spectrum, named by its path in the file, as an Athena project's groups are by their
labels. A NeXus ``NXdata`` group's links (NXxas links ``energy``, ``i0``, ``itrans`` there) are
followed within the file; links to other files are not, and are said in the notes.

The absorber is the ``element`` an enclosing group states (an attribute, or a dataset such
as NXxas's ``scan/xrayedge/element``); the scan time is an enclosing NXentry's ``start_time``.
Nothing in an HDF5 file is evaluated: h5py reads numbers and strings.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import SpectrumFileError, one_line
from exafs_cn.measured._columns import DEFAULT_COLUMNS, Columns, energy_and_mu, expression_names, guess_energy, guess_mu
from exafs_cn.measured._formats.base import MAX_POINTS, Format, RawGroup
from exafs_cn.measured._xray_tables import symbol

#: HDF5's signature (a file may also start with a user block; those are not looked for).
SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Most groups visited in one file: a library of a few thousand spectra, not a crafted maze.
MAX_GROUPS = 20_000
#: Where, relative to a group or an enclosing one, the absorber may be stated.
_ELEMENT_PLACES = ("element", "absorber", "xrayedge/element", "scan/xrayedge/element", "edge/element")
#: Shortest array read as a column (shorter ones are settings, not a scan).
_MIN_POINTS = 30


def sniff(head: bytes) -> bool:
    return head.startswith(SIGNATURE)


def read(path: Path, columns: Columns) -> list[RawGroup]:
    """Every spectrum group of an HDF5 file (see the module's description)."""
    import h5py

    try:
        handle = h5py.File(path, "r")
    except Exception as exc:  # OSError for a damaged file; h5py raises others on odd superblocks
        raise SpectrumFileError(f"{path}: unreadable HDF5 file: {one_line(exc, 100)}", str(path)) from None
    groups: list[RawGroup] = []
    skipped_links: list[str] = []
    candidates: list[str] = []
    with handle:
        try:
            for count, (group, members) in enumerate(_groups(handle, skipped_links)):
                if count >= MAX_GROUPS:
                    raise SpectrumFileError(f"{path}: more than {MAX_GROUPS:,} groups; split the library", str(path))
                arrays = _arrays(members)
                spectrum = _spectrum(path, group, arrays, columns)
                if spectrum is not None:
                    groups.append(spectrum)
                elif arrays:
                    candidates.append(f"{group.name} ({', '.join(list(arrays)[:6])})")
        except SpectrumFileError:
            raise
        except Exception as exc:  # a damaged object deep in the file: h5py raises OSError, KeyError, RuntimeError
            raise SpectrumFileError(f"{path}: unreadable HDF5 file: {one_line(exc, 100)}", str(path)) from None
    if not groups:
        found = f"; groups with arrays: {'; '.join(candidates[:3])}" if candidates else ": no 1-D arrays of 30 points or more"
        advice = ", or name them with --energy and --mu" if candidates else ""
        raise SpectrumFileError(f"{path}: HDF5 file with no group holding an energy and a mu{advice}{found}", str(path))
    if skipped_links:
        note = f"links to other files not followed: {', '.join(skipped_links[:3])}"
        groups = [replace(g, notes=(*g.notes, note)) for g in groups]
    return groups


def _inside(group, name: str):
    """``group[name]`` where it lies in this file; None where there is no such member or it is
    a link to another file (never opened)."""
    import h5py

    return None if isinstance(group.get(name, getlink=True), h5py.ExternalLink) else group.get(name)


def _groups(handle, skipped_links: list[str]):
    """Every group of the file with its members in the file (name -> object), the root first,
    breadth first; soft links inside the file are followed where they lead (NXdata's),
    external links are listed in ``skipped_links``."""
    import h5py

    queue = [handle]
    seen: set = set()
    while queue:
        group = queue.pop(0)
        if group.id in seen:  # a hard or soft link back up the tree
            continue
        seen.add(group.id)
        members = {}
        for name in group:
            member = _inside(group, name)
            if member is not None:
                members[name] = member
            elif isinstance(group.get(name, getlink=True), h5py.ExternalLink):  # not a dangling soft link
                skipped_links.append(f"{group.name.rstrip('/')}/{name}")
        yield group, members
        queue.extend(member for member in members.values() if isinstance(member, h5py.Group))


def _arrays(members: dict) -> dict[str, np.ndarray]:
    """A group's own 1-D numeric datasets of scan length, by lower-case name (anything but real
    numbers left out, sizes checked before reading)."""
    import h5py

    arrays = {}
    for name, item in members.items():
        if not isinstance(item, h5py.Dataset) or item.ndim != 1 or item.dtype.kind not in "iuf":
            continue
        if _MIN_POINTS <= item.shape[0] <= MAX_POINTS and not item.is_virtual:
            arrays[name.lower()] = np.asarray(item[()], dtype=float)
    return arrays


def _spectrum(path: Path, group, arrays: dict[str, np.ndarray], columns: Columns) -> RawGroup | None:
    """The group as a spectrum, or None where it is none (no energy, or no mu by name)."""
    if not arrays:
        return None
    if columns == DEFAULT_COLUMNS:
        energy_name = guess_energy(arrays)
        if energy_name is None:
            return None
        same_length = {n: a for n, a in arrays.items() if a.shape == arrays[energy_name].shape}
        if guess_mu(same_length, by_elimination=False) is None:
            return None
        arrays = same_length
    elif not all(expression_names(expr) & set(arrays) for expr in (columns.energy, columns.mu) if expr):
        return None  # the user's columns are about other groups
    label = group.name.strip("/") or "/"
    where = f"{path}[{label}]"
    try:
        energy, mu = energy_and_mu(where, arrays, columns)
    except SpectrumFileError as exc:
        return RawGroup.refused(label, where, exc)
    return RawGroup(label, energy, mu, _stated_element(group), scan_time=_start_time(group))


def _enclosing(group):
    """The group, then each group above it up to the root."""
    while True:
        yield group
        if group.name == "/":
            return
        group = group.parent


def _text(value) -> str:
    value = value[()] if hasattr(value, "shape") and getattr(value, "shape", None) == () else value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(-1)[0])
    return str(value)


def _stated_element(group) -> str | None:
    """The absorber an enclosing group states, the nearest first."""
    import h5py

    for place in _enclosing(group):
        for key in ("element", "absorber"):
            if key in place.attrs:
                return symbol(_text(place.attrs[key]).strip())
        for name in _ELEMENT_PLACES:
            item = _inside(place, name)
            if isinstance(item, h5py.Dataset) and item.shape in ((), (1,)) and item.dtype.kind in "SUO":
                return symbol(_text(item).strip())
    return None


def _start_time(group) -> datetime | None:
    """An enclosing NXentry's ``start_time`` (ISO 8601), where there is one and it reads."""
    import h5py

    for place in _enclosing(group):
        item = _inside(place, "start_time")  # a link to another file is not followed here either
        if isinstance(item, h5py.Dataset) and item.shape in ((), (1,)):
            try:
                return datetime.fromisoformat(_text(item).strip())
            except ValueError:
                return None
    return None


FORMAT = Format("hdf5", sniff, read)
