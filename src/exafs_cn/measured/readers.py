"""Measured spectra as beamlines write them: XDI, Athena projects and plain columns.

Every reader ends in the same checks, so a file either gives spectra that the
training preprocessing can take, or one :class:`SpectrumFileError` whose message
names the file and the problem. The absorber comes from the file where it says so
(XDI ``Element.symbol``, Athena group metadata, an ``element:`` header line), else
from ``--element``; either way the edge position must agree with it, so a Cu
spectrum labelled Fe is refused rather than guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from larch.xafs.xafsutils import ETOK

from exafs_cn.datagen.structures import METALS_3D, one_line
from exafs_cn.features import MIN_KMAX, Spectrum

#: Shortest chi(k) range a prediction accepts (the issue's floor; the FT window needs ~8/A).
#: How far the measured edge (max of dmu/dE) may sit from the tabulated K edge.
EDGE_TOLERANCE_EV = 40.0

_ENERGY_NAMES = ("energy", "energy_ev", "e", "ee", "ener", "col1")
_MU_NAMES = ("mu", "xmu", "mutrans", "mu_trans", "mufluor", "mu_fluor", "mu_e")
_I0_NAMES = ("i0", "io", "izero")
_IT_NAMES = ("itrans", "it", "i1", "itr")
_IF_NAMES = ("ifluor", "if", "ifl", "fluo", "iff")
_EXPR_FUNCTIONS = {"log": np.log, "ln": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}


class SpectrumFileError(ValueError):
    """A file that cannot give a usable spectrum; the message is one line naming it."""


@dataclass(frozen=True)
class MeasuredSpectrum:
    """One spectrum of a file (an Athena project holds several), ready to process."""

    file: str
    group: str | None
    element: str
    element_source: str  # "file", "option"
    energy: np.ndarray
    mu: np.ndarray
    kmax: float

    def to_spectrum(self) -> Spectrum:
        """E0 and edge step left to Larch's pre_edge, as for any measured mu(E)."""
        name = f"{self.file}[{self.group}]" if self.group else self.file
        return Spectrum(self.energy, self.mu, self.element, name=name)


@dataclass(frozen=True)
class Columns:
    """Which arrays are energy and mu: names or numpy expressions (``log(i0/itrans)``)."""

    energy: str | None = None
    mu: str | None = None


#: Guess both from the usual names (see ``_ENERGY_NAMES``, ``_MU_NAMES``).
DEFAULT_COLUMNS = Columns()


def read_spectra(path: Path | str, element: str | None = None, columns: Columns = DEFAULT_COLUMNS) -> list[MeasuredSpectrum]:
    """All spectra in ``path``, checked; raises SpectrumFileError naming the file."""
    path = Path(path)
    if element is not None:
        element = element.strip().capitalize()
        if element not in METALS_3D:
            raise SpectrumFileError(f"{path}: --element {element}: not one of the 3d metals {','.join(METALS_3D)}")
    raw = _read_head(path)
    kind = detect_format(raw)
    if kind == "athena":
        groups = _read_athena(path)
    elif kind == "xdi":
        groups = [(None, _read_xdi(path, columns))]
    else:
        groups = [(None, _read_columns(path, columns))]
    spectra = []
    for label, (energy, mu, stated) in groups:
        where = f"{path}[{label}]" if label else str(path)
        spectra.append(_checked(where, str(path), label, energy, mu, stated, element))
    return spectra


def detect_format(head: bytes) -> str:
    """``athena``, ``xdi`` or ``columns``, from the first bytes of a file."""
    if head[:2] == b"\x1f\x8b" or head.lstrip().startswith(b"# Athena project file"):
        return "athena"
    if re.match(rb"\s*#\s*XDI/", head, re.IGNORECASE):
        return "xdi"
    return "columns"


def _read_head(path: Path) -> bytes:
    if not path.exists():
        raise SpectrumFileError(f"{path}: no such file")
    if path.is_dir():
        raise SpectrumFileError(f"{path}: is a folder, not a spectrum file")
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if not head.strip():
        raise SpectrumFileError(f"{path}: empty file")
    if head[:2] != b"\x1f\x8b" and (b"\x00" in head or _mostly_binary(head)):
        raise SpectrumFileError(f"{path}: binary file, not a text spectrum, XDI or Athena project")
    return head


def _mostly_binary(head: bytes) -> bool:
    text = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    return text < 0.9 * len(head)


def _read_xdi(path: Path, columns: Columns) -> tuple[np.ndarray, np.ndarray, str | None]:
    from larch.io import read_xdi

    try:
        group = read_xdi(str(path))
    except Exception as exc:  # xdifile raises ValueError/TypeError with C-library messages
        raise SpectrumFileError(f"{path}: unreadable XDI: {one_line(exc)}") from None
    stated = getattr(group, "element", None) or (group.attrs.get("element", {}).get("symbol") if hasattr(group, "attrs") else None)
    energy, mu = _energy_mu(path, _arrays(group), columns)
    return energy, mu, _symbol(stated)


def _read_columns(path: Path, columns: Columns) -> tuple[np.ndarray, np.ndarray, str | None]:
    from larch.io import read_ascii

    try:
        group = read_ascii(str(path))
    except Exception as exc:
        raise SpectrumFileError(f"{path}: unreadable column file: {one_line(exc)}") from None
    arrays = _arrays(group)
    if not arrays or getattr(group, "data", np.empty((0, 0))).size == 0:
        raise SpectrumFileError(f"{path}: no numeric columns found")
    header = "\n".join(getattr(group, "header", []) or [])
    match = re.search(r"(?:element(?:\.symbol)?|absorber)\s*[:=]\s*([A-Z][a-z]?)\b", header, re.IGNORECASE)
    energy, mu = _energy_mu(path, arrays, columns)
    return energy, mu, _symbol(match.group(1) if match else None)


def _read_athena(path: Path) -> list[tuple[str, tuple[np.ndarray, np.ndarray, str | None]]]:
    from larch.io import read_athena

    try:
        project = read_athena(str(path), do_preedge=False, do_bkg=False, do_fft=False)
    except Exception as exc:
        raise SpectrumFileError(f"{path}: unreadable Athena project: {one_line(exc)}") from None
    groups = []
    for name, group in (getattr(project, "groups", None) or {}).items():
        mu = getattr(group, "mu", None)
        if mu is None or not hasattr(group, "energy"):
            continue
        params = getattr(group, "athena_params", None)
        stated = getattr(group, "atsym", None) or getattr(getattr(params, "bkg", None), "z", None)
        label = getattr(group, "label", None) or name
        groups.append((str(label), (np.asarray(group.energy, float), np.asarray(mu, float), _symbol(stated))))
    if not groups:
        raise SpectrumFileError(f"{path}: Athena project holds no mu(E) groups")
    return groups


def _arrays(group) -> dict[str, np.ndarray]:
    return {k.lower(): v for k, v in vars(group).items() if isinstance(v, np.ndarray) and v.ndim == 1 and v.size > 1}


def _energy_mu(path: Path, arrays: Mapping[str, np.ndarray], columns: Columns) -> tuple[np.ndarray, np.ndarray]:
    names = ", ".join(arrays)
    energy_expr = columns.energy or next((n for n in _ENERGY_NAMES if n in arrays), None)
    if energy_expr is None:
        raise SpectrumFileError(f"{path}: no energy column; name it with --energy (columns: {names})")
    mu_expr = columns.mu or _guess_mu(arrays)
    if mu_expr is None:
        raise SpectrumFileError(f"{path}: cannot tell which column is mu; give --mu, e.g. 'log(i0/it)' (columns: {names})")
    energy = _evaluate(path, energy_expr, arrays)
    if np.nanmax(energy) < 100:  # keV, as some dispersive beamlines write
        energy = energy * 1000.0
    return energy, _evaluate(path, mu_expr, arrays)


def _guess_mu(arrays: Mapping[str, np.ndarray]) -> str | None:
    direct = next((n for n in _MU_NAMES if n in arrays), None)
    if direct:
        return direct
    i0 = next((n for n in _I0_NAMES if n in arrays), None)
    it = next((n for n in _IT_NAMES if n in arrays), None)
    fluor = next((n for n in _IF_NAMES if n in arrays), None)
    if i0 and it:
        return f"log({i0}/{it})"
    if i0 and fluor:
        return f"{fluor}/{i0}"
    if "col2" in arrays and len(arrays) == 2:
        return "col2"
    return None


def _evaluate(path: Path, expr: str, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """A column name or a numpy expression over the file's columns (no builtins)."""
    names = {k: np.asarray(v, float) for k, v in arrays.items()}
    try:
        with np.errstate(all="ignore"):
            value = eval(expr.lower(), {"__builtins__": {}, **_EXPR_FUNCTIONS}, names)  # noqa: S307 - user's own column expression
    except NameError as exc:
        raise SpectrumFileError(f"{path}: {exc} in {expr!r} (columns: {', '.join(arrays)})") from None
    except Exception as exc:
        raise SpectrumFileError(f"{path}: cannot evaluate {expr!r}: {one_line(exc)}") from None
    return np.asarray(value, float)


def _checked(
    where: str, file: str, label: str | None, energy: np.ndarray, mu: np.ndarray, stated: str | None, option: str | None
) -> MeasuredSpectrum:
    """The checks every spectrum passes before processing, in the order a person would fix them."""
    if energy.shape != mu.shape or energy.size < 30:
        raise SpectrumFileError(f"{where}: only {min(energy.size, mu.size)} data points")
    if not (np.all(np.isfinite(energy)) and np.all(np.isfinite(mu))):
        bad = int(np.sum(~np.isfinite(energy)) + np.sum(~np.isfinite(mu)))
        raise SpectrumFileError(f"{where}: {bad} NaN or infinite values in energy or mu")
    steps = np.diff(energy)
    if np.any(steps == 0):
        at = energy[1:][steps == 0][0]
        raise SpectrumFileError(f"{where}: duplicated energy {at:.2f} eV (energies must increase strictly)")
    if np.any(steps < 0):
        at = energy[1:][steps < 0][0]
        raise SpectrumFileError(f"{where}: energies not monotonic (decrease at {at:.2f} eV)")
    if stated and stated not in METALS_3D:
        raise SpectrumFileError(f"{where}: absorber {stated} (from the file) is not one of the 3d metals {','.join(METALS_3D)}")
    element = option or stated
    source = "option" if option else "file"
    if element is None:
        raise SpectrumFileError(f"{where}: the file does not name its absorber; give --element")
    edge = _k_edge(element)
    e0 = _find_e0(energy, mu)
    in_range = energy[0] + 5 < edge < energy[-1] - 50
    if not in_range or abs(e0 - edge) > EDGE_TOLERANCE_EV:
        looks_like = _looks_like(e0)
        found = f"; the edge at {e0:.0f} eV{looks_like}" if looks_like else ""
        if not in_range:
            raise SpectrumFileError(
                f"{where}: no {element} K edge ({edge:.0f} eV) in the energy range {energy[0]:.0f}-{energy[-1]:.0f} eV{found}"
            )
        raise SpectrumFileError(f"{where}: the edge at {e0:.0f} eV is not the {element} K edge ({edge:.0f} eV);{looks_like}")
    kmax = float(np.sqrt(ETOK * (energy[-1] - e0)))
    if kmax < MIN_KMAX:
        raise SpectrumFileError(f"{where}: data reach only k = {kmax:.1f}/A above the edge; at least {MIN_KMAX:g}/A needed")
    return MeasuredSpectrum(file, label, element, source, energy, mu, kmax)


def _k_edge(element: str) -> float:
    import xraydb

    return float(xraydb.xray_edge(element, "K").energy)


def _find_e0(energy: np.ndarray, mu: np.ndarray) -> float:
    from larch.xafs import find_e0

    return float(find_e0(energy, mu))


def _looks_like(e0: float) -> str:
    import xraydb

    guess = xraydb.guess_edge(e0)
    return f" looks like {guess[0]} {guess[1]}" if guess else ""


def _symbol(text: str | None) -> str | None:
    if text is None:
        return None
    text = str(text).strip()
    if text.isdigit():  # Athena stores Z in some versions
        import xraydb

        return xraydb.atomic_symbol(int(text))
    return text.capitalize() or None
