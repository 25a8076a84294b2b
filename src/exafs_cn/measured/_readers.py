"""Measured spectra as beamlines write them: XDI, Athena projects, HDF5 (NeXus NXxas and
libraries of spectra), SPEC, ``.fio`` and plain columns.

Each format is a module of :mod:`exafs_cn.measured._formats` (its registry decides which
reads a file); this module opens the file, hands it to its format, and checks every
spectrum the format gives.

A file gives one spectrum (XDI, columns) or several (an Athena project or an HDF5 file,
one per group; a SPEC file, one per scan). Problems with the file as a whole (missing, empty, binary, unreadable) raise
:class:`SpectrumFileError`; problems with one spectrum are returned in its place, so
one bad group of a 14-group project costs that group only. Every message names the
file (and group) and the problem in one line.

The absorber is what the file says under a key that names it (XDI ``Element.symbol``,
Athena group metadata, a header line that starts ``element:`` or ``absorber:``), never a
line about the monochromator crystal (XDAC's ``Diffraction element= Si (311)``), a
detector or a dopant; a stated symbol that is no 3d metal (Athena's placeholder ``H``) is
set aside with a note. ``--element`` is used only where the file says nothing; with
neither, the edge energy picks it among the ten 3d K edges. Where the file's element and
the edge disagree, the edge wins and a note says so; an ``--element`` the edge
contradicts is refused, since the user said it.

Real files are forgiving where Athena and Larch are: repeated energy points are merged
(their mu averaged) and noted, a scan with a step or two backwards (a region boundary) is
sorted with a note, an XDI header that Larch's XDI parser rejects falls back to reading
the columns with the header's column names and element kept, and data that stop short of
the EXAFS range are read (``predict`` then answers "no answer"). HASYLAB/DESY ``.fio``
files are read with their ``Col N name TYPE`` column names.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np
from larch.xafs.xafsutils import ETOK

from exafs_cn.elements import METALS_3D
from exafs_cn.exceptions import OptionError, SpectrumFileError, one_line
from exafs_cn.features import Spectrum
from exafs_cn.measured import _athena as athena
from exafs_cn.measured._columns import (
    DEFAULT_COLUMNS,
    Columns,
)
from exafs_cn.measured._formats import MAX_FILE_BYTES, SIZE_LIMIT, format_of, hdf5
from exafs_cn.measured._formats.base import MAX_POINTS, larch_output
from exafs_cn.measured._xray_tables import k_edge, l_edges, looks_like, symbol
from exafs_cn.regular_files import NotRegularFileError, describe_size, open_regular

#: How far the measured edge (max of dmu/dE) may sit from the tabulated K edge.
EDGE_TOLERANCE_EV = 40.0

#: Narrowest energy range read: an edge and the start of its EXAFS (shorter data are not a K-edge scan).
MIN_ENERGY_SPAN = 20.0
#: A scan may step backwards this often (region boundaries) and be sorted; more is erratic.
MAX_BACKWARD_STEPS = 2


@dataclass(frozen=True)
class MeasuredSpectrum:
    """One spectrum of a file (an Athena project holds several), ready to process.

    ``element_source`` says where the absorber came from: ``file``, ``option``
    (``--element``) or ``edge`` (detected from the edge energy). ``notes`` are what
    the reader did to the data that a user should know (merged points, fallbacks).
    ``scan_time``: when the scan started, where the file says (XDI's ``Scan.start_time``).
    """

    file: str
    group: str | None
    element: str
    element_source: str
    energy: np.ndarray
    mu: np.ndarray
    kmax: float
    notes: tuple[str, ...] = field(default=())
    e0_given: float | None = None
    e0_shift: float = 0.0
    e0_profile: bool = True  # where neither is given: E0 where chi(k) matches the training spectra best
    scan_time: datetime | None = None
    # Larch's pre_edge of this mu from its own E0, filled by the first processing and shared
    # by the others of this spectrum (features.Spectrum.larch_edge); carried over by replace().
    larch_edge: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def where(self) -> str:
        return f"{self.file}[{self.group}]" if self.group else self.file

    def to_spectrum(self) -> Spectrum:
        """E0 by the processing settings' rule (``e0_rule``), or as the user gave it or moved it;
        the edge step by Larch's pre_edge."""
        return Spectrum(
            self.energy, self.mu, self.element, name=self.where, e0_given=self.e0_given, e0_shift=self.e0_shift, larch_edge=self.larch_edge
        )

    def with_e0(self, option: E0Option | None) -> MeasuredSpectrum:
        """This spectrum with the user's E0 (an energy, or a shift from the rule's), where given."""
        if option is None:
            return self
        return replace(self, e0_given=option.energy, e0_shift=option.shift, e0_profile=option.profile)


@dataclass(frozen=True)
class E0Option:
    """``--e0`` (or the API's ``e0``): an absolute E0 in eV, a shift from the one the model's
    rule finds (eV, written with its sign: ``+5``, ``-3.5``), ``rule`` (the rule's E0 as it
    is) or ``profile`` (the default: the rule's E0 moved to where chi(k) matches the
    training spectra best, :mod:`exafs_cn.measured._e0_profile`)."""

    energy: float | None = None
    shift: float = 0.0
    profile: bool = False

    @classmethod
    def parse(cls, value: str | float | int | None) -> E0Option | None:
        """The option from text or a number; ValueError (one line) for anything else.

        Examples
        --------
        >>> E0Option.parse("+5"), E0Option.parse("8980.5"), E0Option.parse("rule"), E0Option.parse("profile")
        (E0Option(energy=None, shift=5.0, profile=False), E0Option(energy=8980.5, shift=0.0, profile=False), E0Option(energy=None, shift=0.0, profile=False), None)
        """
        if value is None or (isinstance(value, str) and value.strip().lower() == "profile"):
            return None
        if isinstance(value, str) and value.strip().lower() == "rule":
            return cls()
        if isinstance(value, bool) or not isinstance(value, (str, int, float, np.integer, np.floating)):
            raise OptionError(f"e0 {value!r:.40}: give an energy in eV (8980.5) or a shift with its sign ('+5', '-3.5')")
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            raise OptionError(
                f"--e0 {text[:40]}: not a number; give an energy in eV (8980.5), a shift with its sign (+5, -3.5), 'rule' or 'profile'"
            ) from None
        if not np.isfinite(number):
            raise OptionError(f"--e0 {text[:40]}: not a finite number")
        if isinstance(value, str) and text[:1] in "+-":
            if abs(number) > MAX_E0_SHIFT:
                raise OptionError(f"--e0 {text}: a shift of more than {MAX_E0_SHIFT:g} eV moves E0 off the edge")
            return cls(shift=number)
        if number < 1000.0:
            raise OptionError(f"--e0 {text}: an E0 of {number:g} eV is below every K edge here; write a shift with its sign (+{number:g})")
        return cls(energy=number)


#: Lowest first energy (keV) of a scan read as keV: the lowest 3d K edge, Sc's, is at 4.49 keV,
#: and k and R axes start from about 0.
MIN_KEV = 2.0

#: Largest E0 shift taken (measured E0s sit 10-20 eV from where chi(k) lines up with FEFF's).
MAX_E0_SHIFT = 50.0


def read_file(
    path: Path | str, element: str | None = None, columns: Columns = DEFAULT_COLUMNS
) -> list[MeasuredSpectrum | SpectrumFileError]:
    """Every spectrum in ``path``: checked spectra, or the error of each group that failed.

    Raises SpectrumFileError (naming the file) only when nothing in the file can be read.
    """
    path = Path(path)
    element = check_element_option(element, str(path))
    head = _read_head(path)
    groups = format_of(head).read(path, columns)
    out: list[MeasuredSpectrum | SpectrumFileError] = []
    for group in groups:
        where = f"{path}[{group.label}]" if group.label else str(path)
        try:
            if group.error:
                raise SpectrumFileError(f"{where}: {group.error}")
            spectrum = checked(where, str(path), group.label, group.energy, group.mu, group.stated, element, group.notes)
            out.append(replace(spectrum, scan_time=group.scan_time) if group.scan_time else spectrum)
        except SpectrumFileError as exc:
            out.append(SpectrumFileError(str(exc), str(path), group.label))
    return out


def read_spectra(path: Path | str, element: str | None = None, columns: Columns = DEFAULT_COLUMNS) -> list[MeasuredSpectrum]:
    """All spectra in ``path``, or the first problem raised: for callers that need every one."""
    items = read_file(path, element, columns)
    for item in items:
        if isinstance(item, SpectrumFileError):
            raise item
    return items


def check_element_option(element: str | int | None, where: str) -> str | None:
    """``--element`` (or the API's ``element``) as a 3d-metal symbol; an atomic number is taken too."""
    if element is None:
        return None
    if isinstance(element, (int, np.integer)) and not isinstance(element, bool):
        element = str(int(element))
    if not isinstance(element, str):
        raise SpectrumFileError(f"{where}: element {element!r:.40}: give a symbol such as 'Cu' or an atomic number such as 29", where)
    element = element.strip()
    element = (symbol(element) or element) if element.isdigit() else element.capitalize()
    if element not in METALS_3D:
        raise SpectrumFileError(f"{where}: --element {element}: not one of the 3d metals {','.join(METALS_3D)}", where)
    return element


def _read_head(path: Path) -> bytes:
    """The first bytes of a regular, readable file of a size a scan can have."""
    where = str(path)
    try:
        fd = open_regular(path, MAX_FILE_BYTES, limit=SIZE_LIMIT)
    except NotRegularFileError as exc:
        reason = {
            "folder": "is a folder, not a spectrum file",
            "special": f"{exc}; save the data to a file first",  # a FIFO or a terminal would block the batch
        }.get(exc.kind, str(exc))
        raise SpectrumFileError(f"{path}: {reason}", where) from None
    try:
        with open(fd, "rb") as handle:
            head = handle.read(4096)
        if head[:2] == b"\x1f\x8b":
            unpacked_head = _check_unpacked_size(path)
            if not athena.is_project(unpacked_head.decode("utf-8", "replace")):
                kind = "an XDI file" if re.match(rb"\s*#\s*XDI/", unpacked_head, re.IGNORECASE) else "a file that is no Athena project"
                raise SpectrumFileError(f"{path}: gzip-compressed {kind}: unpack it first (gunzip)", where)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise SpectrumFileError(f"{path}: damaged gzip file ({one_line(exc)[:80]})", where) from None
    except OSError as exc:
        raise SpectrumFileError(f"{path}: cannot read: {exc.strerror or exc}", where) from None
    if not head.strip():
        raise SpectrumFileError(f"{path}: empty file", where)
    if hdf5.sniff(head):  # binary by design: h5py reads it
        return head
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or _looks_utf16(head):
        raise SpectrumFileError(f"{path}: UTF-16 text; save it as UTF-8 or ASCII (e.g. iconv -f UTF-16 -t UTF-8)", where)
    if head[:2] != b"\x1f\x8b" and (b"\x00" in head or _mostly_binary(head)):
        raise SpectrumFileError(f"{path}: binary file, not a text spectrum, XDI, Athena project or HDF5 file", where)
    return head


def _looks_utf16(head: bytes) -> bool:
    """Text in UTF-16 without a byte-order mark: every other byte of ASCII text is zero."""
    sample = head[: len(head) - len(head) % 2]
    if len(sample) < 8:
        return False
    return any(sample[offset::2].count(0) > 0.9 * len(sample) // 2 for offset in (0, 1))


def _check_unpacked_size(path: Path) -> bytes:
    """A gzipped file that unpacks to more than MAX_FILE_BYTES is refused before it is read
    into memory (counted by streaming, so a crafted header cannot lie); its first unpacked bytes."""
    unpacked, head = 0, b""
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(2**20):
            head = head or chunk[:4096]
            unpacked += len(chunk)
            if unpacked > MAX_FILE_BYTES:
                raise SpectrumFileError(f"{path}: unpacks to more than the {describe_size(MAX_FILE_BYTES)} {SIZE_LIMIT}", str(path))
    return head


#: The bytes of text: printable ASCII, tab, newline, return and >= 128 (UTF-8, units such as Å).
_TEXT_BYTES = bytes([9, 10, 13, *range(32, 127), *range(128, 256)])


def _mostly_binary(head: bytes) -> bool:
    binary = len(head.translate(None, _TEXT_BYTES))  # what is left once the text bytes are deleted
    return binary > 0.1 * len(head)


def checked(
    where: str,
    file: str,
    label: str | None,
    energy: np.ndarray,
    mu: np.ndarray,
    stated: str | None,
    option: str | None,
    notes: tuple[str, ...] = (),
) -> MeasuredSpectrum:
    """The checks every spectrum passes before processing, in the order a person would fix them."""
    energy, mu = _real_array(energy, "energy", where), _real_array(mu, "mu", where)
    if energy.size and np.all(np.isfinite(energy)):  # what the axis is (NaNs are refused below, by count)
        low, high = float(np.min(energy)), float(np.max(energy))
        if low < 0 < high - 100:
            # Absolute energies are positive; a scan through 0 is E - E0 (the edge would be "found"
            # at about 0 eV and taken for some M edge).
            raise SpectrumFileError(
                f"{where}: the energies run from {low:.4g} to {high:.4g} eV, through 0: relative to E0? "
                "exafs-cn needs the absolute energies (eV or keV)"
            )
        if high < 100 and low < MIN_KEV:
            # A 3d K-edge scan in keV starts above 4: an axis from about 0 is k or R (processed data).
            raise SpectrumFileError(
                f"{where}: the energies run from {low:.3g} to {high:.3g}, neither eV nor keV of a 3d K edge: "
                "a k or R axis? exafs-cn reads mu(E), not chi(k) or chi(R)"
            )
        if 0 < high < 100:  # keV, as some dispersive beamlines write
            energy = energy * 1000.0
            notes = (*notes, "energies in keV: read as eV x 1000")
    if energy.shape != mu.shape:
        raise SpectrumFileError(f"{where}: energy and mu differ in length ({energy.size} and {mu.size})")
    if energy.size < 30:
        raise SpectrumFileError(f"{where}: only {energy.size} data points")
    if energy.size > MAX_POINTS:
        raise SpectrumFileError(f"{where}: {energy.size} data points, more than the {MAX_POINTS} one scan may have")
    if not (np.all(np.isfinite(energy)) and np.all(np.isfinite(mu))):
        bad = int(np.sum(~np.isfinite(energy)) + np.sum(~np.isfinite(mu)))
        raise SpectrumFileError(f"{where}: {bad} NaN or infinite values in energy or mu")
    if np.ptp(mu) <= 1e-9 * max(1.0, float(np.max(np.abs(mu)))):
        raise SpectrumFileError(f"{where}: mu is constant ({mu[0]:.3g}): no edge to read")
    steps = np.diff(energy)
    if np.all(steps < 0):  # scanned downwards: the same data, read the other way (as Athena does)
        energy, mu, steps = energy[::-1], mu[::-1], -steps[::-1]
        notes = (*notes, "energy scanned downwards: reversed")
    backward = int(np.sum(steps < 0))
    if backward > MAX_BACKWARD_STEPS:
        at = energy[1:][steps < 0][0]
        raise SpectrumFileError(f"{where}: energies not monotonic ({backward} decreases, the first at {at:.2f} eV)")
    if backward:  # a region boundary that starts below the last point: sorted, as Athena does
        at = energy[1:][steps < 0][0]
        order = np.argsort(energy, kind="stable")
        energy, mu = energy[order], mu[order]
        steps = np.diff(energy)
        notes = (*notes, f"energy stepped back {backward} time{'s' if backward > 1 else ''} (first at {at:.2f} eV): points sorted")
    if np.any(steps == 0):
        points = energy.size
        energy, mu, merged = merge_repeated(energy, mu)
        notes = (*notes, f"merged {merged} repeated energy point{'s' if merged > 1 else ''} (mu averaged)")
        if energy.size < 30:
            raise SpectrumFileError(f"{where}: only {energy.size} distinct energies among {points} points: not an energy scan")
    if energy[-1] - energy[0] < MIN_ENERGY_SPAN:
        raise SpectrumFileError(
            f"{where}: the energies span {energy[-1] - energy[0]:.3g} eV, less than the {MIN_ENERGY_SPAN:g} eV an edge and its EXAFS need"
        )
    if stated and stated not in METALS_3D:  # Athena's placeholder H, a symbol from elsewhere
        notes = (*notes, f"the file names {stated}, not a 3d metal: not used as the absorber")
        stated = None
    e0 = _find_e0(energy, mu)
    if stated:
        element, source = stated, "file"
        if option and option != stated:
            notes = (*notes, f"--element {option} not used: the file says {stated}")
        edge_element = _edge_element(e0)
        if edge_element and edge_element != stated and not _edge_fits(energy, e0, stated):
            element, source = edge_element, "edge"
            notes = (*notes, f"the file says {stated}, but the edge at {e0:.0f} eV is the {edge_element} K edge: read as {edge_element}")
    elif option:
        element, source = option, "option"
    else:
        element, source = _element_from_edge(where, e0), "edge"
        notes = (*notes, f"absorber {element} detected from the edge energy ({e0:.0f} eV); give --element to set it")
    if not _edge_fits(energy, e0, element):
        edge = k_edge(element)
        in_range = energy[0] + 5 < edge < energy[-1] - 10
        guess = looks_like(e0)
        found = f"; the edge at {e0:.0f} eV{guess}" if guess else ""
        if not in_range:
            raise SpectrumFileError(
                f"{where}: no {element} K edge ({edge:.0f} eV) in the energy range {energy[0]:.0f}-{energy[-1]:.0f} eV{found}"
            )
        raise SpectrumFileError(f"{where}: the edge at {e0:.0f} eV is not the {element} K edge ({edge:.0f} eV);{guess}")
    edge = _pre_edge(energy, mu, e0, element)
    larch_edge = {}
    if edge is not None:
        _check_edge_rises(where, energy, mu, e0, edge)
        if source == "edge":
            _check_not_an_l3_edge(where, energy, e0, element, edge)
        energy, mu, glitches = remove_glitches(energy, mu, e0, edge.edge_step, where)
        if glitches:
            listed = ", ".join(f"{value:.0f}" for value in glitches)
            notes = (*notes, f"removed {len(glitches)} glitch point{'s' if len(glitches) > 1 else ''} at {listed} eV")
        else:
            # The same pre_edge as the processing's own-E0 one (find_e0 is what pre_edge takes
            # without an E0), so it serves as that: one pre_edge fewer per spectrum.
            larch_edge = {name: value for name, value in vars(edge).items() if not name.startswith("__") and name not in ("energy", "mu")}
    _check_sampling(where, energy, e0)
    kmax = float(np.sqrt(ETOK * max(energy[-1] - e0, 0.0)))
    return MeasuredSpectrum(file, label, element, source, energy, mu, kmax, tuple(notes), larch_edge=larch_edge)


def _real_array(values, name: str, where: str) -> np.ndarray:
    """``values`` as a flat array of real numbers; SpectrumFileError for text, objects or complex numbers."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):  # ragged sequences
        raise SpectrumFileError(f"{where}: {name} is not an array of numbers") from None
    if np.iscomplexobj(array):
        raise SpectrumFileError(f"{where}: {name} holds complex numbers; give the real mu(E)")
    if array.dtype.kind not in "biuf":
        raise SpectrumFileError(f"{where}: {name} is not an array of numbers (it holds {array.dtype.kind!r}-kind values)")
    if array.ndim != 1:
        shape = "x".join(str(n) for n in array.shape) or "single-number"
        raise SpectrumFileError(f"{where}: {name} is a {shape} array; give one value per energy point (a 1-D array)")
    return array.astype(float)


#: Smallest post-edge level, above Larch's pre-edge line, as a share of mu's range (less
#: the line). The measured corpus's lowest is 0.22 (a dilute Prussian-blue film); chi(E)
#: gives ~0 and a negated mu or log(it/i0) about -0.9.
MIN_STEP_SHARE = 0.05


def _pre_edge(energy: np.ndarray, mu: np.ndarray, e0: float, element: str):
    """Larch's pre_edge on the spectrum (its pre-edge line, edge step, normalised mu), or
    None where its fits cannot run (too few points): the processing will say so."""
    from larch import Group
    from larch.xafs import pre_edge

    # With the absorber and edge named, pre_edge does not look them up in xraydb (opening it
    # cost ~60 ms of a one-file predict). Its flattened spectrum (an lmfit fit, half its time)
    # is used by nothing here.
    group = Group(energy=energy, mu=mu, atsym=element, edge="K")
    try:
        with np.errstate(all="ignore"), larch_output():
            pre_edge(group, e0=e0, make_flat=False)
    except Exception:
        return None
    return group if np.isfinite(group.edge_step) and group.edge_step > 0 else None


def _check_edge_rises(where: str, energy: np.ndarray, mu: np.ndarray, e0: float, edge) -> None:
    """mu(E) rises at the edge by a good share of its range: what chi(E), a negated mu or
    log(it/i0) do not do. The pre-edge line is Larch's, so a background that falls steeply
    before the edge (heavy elements in the beam) is taken out first."""
    flat = mu - edge.pre_edge
    post = flat[(energy >= e0 + 40.0) & (energy <= e0 + 300.0)]
    if post.size < 3 or not np.ptp(flat) > 0:
        return
    share = float(np.median(post) / np.ptp(flat))
    if share < MIN_STEP_SHARE:
        direction = "falls" if share < 0 else "barely rises"
        raise SpectrumFileError(
            f"{where}: mu {direction} at the edge ({share:+.2f} of its range above the pre-edge line): not mu(E)? "
            "(a negated mu, log(it/i0) for log(i0/it), or chi(E))"
        )


#: Tallest normalised white line of a 3d K edge we take on the edge energy alone where the
#: data end before the L2 edge that would tell. The measured corpus reaches 2.26 (aqueous
#: Zn2+); rare-earth L3 edges, some of which lie within the edge tolerance of a 3d K edge
#: (La L3 5483 eV, V K 5465 eV), reach 2-6 (La, 2-4): this rule alone misses the lower ones.
MAX_K_WHITE_LINE = 3.0
#: An L2 edge shows as a step of this share of the edge step or more, where the line through
#: the normalised mu below it predicts the mu above it. The L2 step of a rare earth is
#: 0.4-0.6 of its L3 step; the EXAFS of a 3d K edge 400 eV above it, a few hundredths.
MIN_L2_STEP = 0.15


def _check_not_an_l3_edge(where: str, energy: np.ndarray, e0: float, element: str, edge) -> None:
    """An edge found by its energy alone that is an L3 edge of another element: refused, with
    --element as the way to insist.

    What tells them apart in the data: where the data reach the L3 candidate's L2 edge
    (La: 408 eV above), a second step there, which a K edge does not have; where they
    do not, a white line taller than any 3d K edge's (:data:`MAX_K_WHITE_LINE`).
    """
    candidates = sorted((abs(l3 - e0), name, l3, l2) for name, l3, l2 in l_edges() if abs(l3 - e0) <= EDGE_TOLERANCE_EV)
    if not candidates:
        return
    for _, name, l3_energy, l2_energy in candidates:
        l2_at = e0 + (l2_energy - l3_energy)
        step = _step_at(energy, edge.norm, l2_at) if energy[-1] >= l2_at + 60.0 else 0.0
        if step >= MIN_L2_STEP:
            raise SpectrumFileError(
                f"{where}: a second edge step ({step:.2f} of the first) {l2_energy - l3_energy:.0f} eV above the edge at "
                f"{e0:.0f} eV, where the {name} L2 edge follows its L3 edge ({l3_energy:.0f} eV): an L3 edge, not a "
                f"{element} K edge; give --element {element} if it is one"
            )
    near = (energy >= e0 - 10.0) & (energy <= e0 + 40.0)
    white_line = float(np.max(edge.norm[near])) if near.any() else 0.0
    if white_line > MAX_K_WHITE_LINE:
        _, name, l3_energy, _ = candidates[0]  # the nearest
        raise SpectrumFileError(
            f"{where}: the edge at {e0:.0f} eV has a white line {white_line:.1f} times its step, as L3 edges have "
            f"({name} L3 {l3_energy:.0f} eV), not a {element} K edge; give --element {element} if it is one"
        )


def _step_at(energy: np.ndarray, norm: np.ndarray, at: float) -> float:
    """How far the normalised mu 10-60 eV above ``at`` lies above the line through it 60-10 eV below."""
    below = (energy >= at - 60.0) & (energy <= at - 10.0)
    above = (energy >= at + 10.0) & (energy <= at + 60.0)
    if below.sum() < 3 or above.sum() < 3:
        return 0.0
    slope, intercept = np.polyfit(energy[below], norm[below], 1)
    return float(np.median(norm[above] - (slope * energy[above] + intercept)))


#: A point is a glitch where it lies more than GLITCH_NOISE robust noise widths and
#: GLITCH_STEP edge steps off the line through its neighbours (EXAFS region only). The
#: measured corpus has 17 such points in 10 of its 231 scans (monochromator glitches at the
#: same energies in several scans of one beamline); removing them changed no answer there.
GLITCH_NOISE = 25.0
GLITCH_STEP = 0.05
#: More glitches than this: the scan needs deglitching by hand.
MAX_GLITCHES = 5


def remove_glitches(
    energy: np.ndarray, mu: np.ndarray, e0: float, edge_step: float, where: str = "spectrum"
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """The scan without its one- and two-point glitches above the edge, and their energies.

    One point at a time, the worst first, as Athena's deglitching is done by hand; a
    glitch two points wide shows in each point once its partner is gone.
    """
    removed: list[float] = []
    for _ in range(MAX_GLITCHES + 1):
        inner = np.flatnonzero(energy > e0 + 30.0)
        inner = inner[(inner > 0) & (inner < len(energy) - 1)]
        if inner.size < 10:
            break
        t = (energy[inner] - energy[inner - 1]) / (energy[inner + 1] - energy[inner - 1])
        off = mu[inner] - (mu[inner - 1] + t * (mu[inner + 1] - mu[inner - 1]))
        noise = 1.4826 * np.median(np.abs(off - np.median(off)))
        worst = int(np.argmax(np.abs(off)))
        if not (abs(off[worst]) > GLITCH_NOISE * noise and abs(off[worst]) > GLITCH_STEP * edge_step):
            break
        if len(removed) == MAX_GLITCHES:
            raise SpectrumFileError(f"{where}: more than {MAX_GLITCHES} glitches above the edge; deglitch the scan (Athena, Larch) first")
        removed.append(float(energy[inner[worst]]))
        keep = np.ones(len(energy), bool)
        keep[inner[worst]] = False
        energy, mu = energy[keep], mu[keep]
    return energy, mu, removed


#: Coarsest sampling taken: the median k step over 3-12/A. chi(R) folds back above
#: pi/(2 dk), 4.5 A here, past the first shells where the CN is read (the forests'
#: importance lies mostly below 3 A). The measured corpus reaches 0.32/A (ALS 10.3.2's
#: hercynite, 4.9 A); every 8th point of a Cu foil scan, 0.40/A.
MAX_K_STEP = 0.35


def _check_sampling(where: str, energy: np.ndarray, e0: float) -> None:
    k = np.sqrt(ETOK * np.clip(energy - e0, 0.0, None))
    inside = k[(k >= 3.0) & (k <= 12.0)]
    if inside.size < 2:
        return  # short data: the kmax rule answers for it
    step = float(np.median(np.diff(inside)))
    if step > MAX_K_STEP:
        raise SpectrumFileError(
            f"{where}: sampled every {step:.2f}/A in k (median over 3-12/A), coarser than the {MAX_K_STEP:g}/A "
            f"EXAFS to R = {np.pi / (2 * MAX_K_STEP):.1f} A needs"
        )


def merge_repeated(energy: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """One point per energy, mu averaged over repeats; and how many points were merged away."""
    unique, counts = np.unique(energy, return_counts=True)
    which = np.repeat(np.arange(len(unique)), counts)  # energy is non-decreasing, so repeats are neighbours
    merged_mu = np.bincount(which, weights=mu) / counts
    return unique, merged_mu, int(energy.size - unique.size)


def _edge_fits(energy: np.ndarray, e0: float, element: str) -> bool:
    edge = k_edge(element)
    return energy[0] + 5 < edge < energy[-1] - 10 and abs(e0 - edge) <= EDGE_TOLERANCE_EV


def _edge_element(e0: float) -> str | None:
    """The 3d metal whose K edge is within the tolerance of ``e0``, or None."""
    edges = {element: k_edge(element) for element in METALS_3D}
    nearest = min(edges, key=lambda el: abs(edges[el] - e0))
    return nearest if abs(edges[nearest] - e0) <= EDGE_TOLERANCE_EV else None


def _element_from_edge(where: str, e0: float) -> str:
    """The 3d metal whose K edge is nearest the measured edge, within the tolerance."""
    element = _edge_element(e0)
    if element is None:
        guess = looks_like(e0)
        raise SpectrumFileError(
            f"{where}: the file does not name its absorber and the edge at {e0:.0f} eV is no 3d K edge;{guess + ';' if guess else ''} give --element"
        )
    return element


def _find_e0(energy: np.ndarray, mu: np.ndarray) -> float:
    from larch.xafs import find_e0

    return float(find_e0(energy, mu))


