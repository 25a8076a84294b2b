"""Which of a file's arrays are energy and mu: the user's columns or expressions, or a guess
from the column names (mu itself, transmission ln(i0/it), fluorescence if/i0)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import ExpressionError, SpectrumFileError
from exafs_cn.measured._expressions import evaluate as evaluate_expression

_ENERGY_NAMES = ("energy", "energy_ev", "e", "ee", "ener", "col1")


_MU_NAMES = ("mu", "xmu", "mutrans", "mu_trans", "mufluor", "mu_fluor", "mufluo", "mu_e")


#: Reference-foil channels: never the sample's mu, even when their name starts with "mu".
_REFERENCE_PREFIXES = ("mur", "mu_ref")


_I0_NAMES = ("i0", "io", "izero", "i_0")


_IT_NAMES = ("itrans", "it", "i1", "itr", "i_t", "i_1", "i")


_IF_NAMES = ("ifluor", "if", "ifl", "ifluo", "fluo", "fluor", "iff", "i_f")


#: What Larch and Athena name the columns of processed data: an axis and the names of what is
#: on it. A file of them holds someone's chi(k) or chi(R), whose E0 and background are not
#: the ones the models were trained with; exafs-cn needs the mu(E) they came from.
_PROCESSED_DATA = (
    ("chi(k)", "k", ("chi",)),  # Larch: k chi; Athena: k chi chik chik2 chik3 win energy
    ("chi(R)", "r", ("chir", "mag", "real", "imag")),  # Larch: r chir_mag chir_re chir_im; Athena: r real imag mag ...
    ("chi(q)", "q", ("chi",)),  # chiq, chi_q
)


@dataclass(frozen=True)
class Columns:
    """Which arrays are energy and mu: names or numpy expressions (``log(i0/itrans)``)."""

    energy: str | None = None
    mu: str | None = None


#: Guess both from the usual names (see ``_ENERGY_NAMES``, ``_MU_NAMES``).
DEFAULT_COLUMNS = Columns()


def group_arrays(group) -> dict[str, np.ndarray]:
    """A Larch group's 1-D arrays by lower-case name (its columns, for a group Larch read from a file)."""
    return {k.lower(): v for k, v in vars(group).items() if isinstance(v, np.ndarray) and v.ndim == 1 and v.size > 1}


def energy_and_mu(
    path: Path | str, arrays: Mapping[str, np.ndarray], columns: Columns, repeated: Mapping[str, list[int]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Energy and mu from the columns or expressions (keV energies are converted by :func:`checked`).

    A name the file gives two columns is refused where it is used: the XDI reader would
    take the last, the column reader the first, and neither is the user's choice.
    """
    names = ", ".join(arrays)
    kind = processed_kind(arrays)
    if kind and not (columns.energy and columns.mu) and guess_mu(arrays, by_elimination=False) is None:
        raise SpectrumFileError(
            f"{path}: holds {kind} (columns: {names}), not mu(E): exafs-cn removes the background itself, as it did for "
            "its training spectra; give the file with mu(E) or the detector columns (Athena: save the group as mu(E))",
            str(path),
        )
    energy_expr = columns.energy or guess_energy(arrays)
    if energy_expr is None:
        raise SpectrumFileError(f"{path}: no energy column; name it with --energy (columns: {names})", str(path))
    mu_expr = columns.mu or guess_mu(arrays)
    if mu_expr is None:
        raise SpectrumFileError(f"{path}: cannot tell which column is mu; give --mu, e.g. 'log(i0/it)' (columns: {names})", str(path))
    for expr in (energy_expr, mu_expr):
        for name in sorted(expression_names(expr) & set(repeated or {})):
            numbers = " and ".join(str(n) for n in repeated[name])
            raise SpectrumFileError(
                f"{path}: columns {numbers} are both named {name!r}: rename one, or give --energy/--mu naming another column",
                str(path),
            )
    return evaluate(energy_expr, arrays, str(path)), evaluate(mu_expr, arrays, str(path))


def processed_kind(arrays: Mapping[str, np.ndarray]) -> str | None:
    """``"chi(k)"``, ``"chi(R)"`` or ``"chi(q)"`` where the column names are those of processed data
    (an axis ``k``, ``r`` or ``q`` beside ``chi``-like columns), else None.

    Examples
    --------
    >>> processed_kind({"k": np.zeros(3), "chi": np.zeros(3)})
    'chi(k)'
    >>> processed_kind({"r": np.zeros(3), "chir_mag": np.zeros(3), "chir_re": np.zeros(3)})
    'chi(R)'
    >>> processed_kind({"energy": np.zeros(3), "i0": np.zeros(3), "it": np.zeros(3)}) is None
    True
    """
    for kind, axis, prefixes in _PROCESSED_DATA:
        if axis in arrays and any(name.startswith(prefixes) for name in arrays if name != axis):
            return kind
    return None


def expression_names(expr: str) -> set[str]:
    """The names a column name or an expression uses (lower case): its columns and functions."""
    return set(re.findall(r"[a-z_][a-z0-9_.]*", str(expr).lower()))


def guess_energy(arrays: Mapping[str, np.ndarray]) -> str | None:
    """The usual names, then any name with "energ" in it (``zapenergy``, ``mono_energy``), then the
    first column if it runs one way through the range of the 3d K edges (eV or keV)."""
    named = next((n for n in _ENERGY_NAMES if n in arrays), None) or next((n for n in arrays if "energ" in n), None)
    if named or not arrays:
        return named
    first, values = next(iter(arrays.items()))
    steps = np.diff(values)
    one_way = np.all(steps >= 0) or np.all(steps <= 0)
    top = float(np.nanmax(values)) * (1000.0 if np.nanmax(values) < 100 else 1.0)
    return first if one_way and 4000.0 < top < 30000.0 else None


def guess_mu(arrays: Mapping[str, np.ndarray], by_elimination: bool = True) -> str | None:
    """mu itself, else transmission ln(i0/it), else fluorescence if/i0, from the column names;
    in a file of two columns, the one that is not energy (``by_elimination``: an HDF5 group of
    two arrays, a monochromator's energy and angle, is no spectrum)."""
    direct = next((n for n in _MU_NAMES if n in arrays), None)
    if direct:
        return direct
    prefixed = [n for n in arrays if n.startswith("mu") and not n.startswith(_REFERENCE_PREFIXES)]
    if len(prefixed) == 1:  # mufluo, mu_sample, ...: one column that calls itself mu
        return prefixed[0]
    i0 = next((n for n in _I0_NAMES if n in arrays), None)
    it = next((n for n in _IT_NAMES if n in arrays), None)
    fluor = next((n for n in _IF_NAMES if n in arrays), None)
    if i0 and it:
        return f"log({i0}/{it})"
    if i0 and fluor:
        return f"{fluor}/{i0}"
    if by_elimination and len(arrays) == 2:
        energy = guess_energy(arrays)
        return next((n for n in arrays if n != energy), None) if energy else None
    return None


def evaluate(expr: str, arrays: Mapping[str, np.ndarray], where: str) -> np.ndarray:
    """A column name or an arithmetic expression over the file's columns
    (:mod:`exafs_cn.measured._expressions`: checked against a grammar of arithmetic, then
    evaluated over the columns alone); SpectrumFileError naming ``where`` otherwise."""
    try:
        return evaluate_expression(expr, arrays, where)
    except ExpressionError as exc:
        raise SpectrumFileError(str(exc), where) from None


def repeated_columns(labels) -> dict[str, list[int]]:
    """Column names a file gives more than one column, with those columns' numbers (from 1)."""
    where: dict[str, list[int]] = {}
    for number, label in enumerate(labels, start=1):
        where.setdefault(str(label).lower(), []).append(number)
    return {name: numbers for name, numbers in where.items() if len(numbers) > 1}
