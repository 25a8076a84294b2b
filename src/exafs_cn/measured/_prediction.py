"""What a prediction gives back: a ``Prediction`` per spectrum, or a ``Failure``.

The first-shell fit's result, ``FirstShellFit`` (with the ``Reference`` site whose FEFF
path it used), lives here too: every result type in one module, which imports no
processing (``exafs_cn.measured._fit`` makes them). Both are plain values with ``to_dict()`` (the fields of one ``exafs-cn predict --json``
line) and ``to_text()`` (its text line); ``to_dataframe`` makes a table of a series
of them, one row per spectrum, for a notebook.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported only by to_dataframe
    import pandas as pd

    from exafs_cn.features import Processed


@dataclass(frozen=True)
class Reference:
    """The bundled site whose FEFF path the fit uses."""

    material_id: str
    site_index: int
    absorber: str
    neighbour: str
    cn: int
    r1: float  # the reference's mean first-shell distance (A)
    r1_max: float  # its longest first-shell distance (A)


@dataclass(frozen=True)
class FirstShellFit:
    """A first-shell fit: Larch's values with their uncertainties (1 sigma), and how it was made.

    Attributes
    ----------
    n, r, sigma2, e0 : float
        Coordination number, distance (A), mean-square disorder (A^2), E0 shift (eV);
        each with its ``*_error``, Larch's estimate (scaled to the reduced chi-square).
    s02 : float
        The amplitude reduction factor used; ``s02_source`` says where it came from
        (``"default"``, ``"given"`` or the foil it was fitted on). ``s02_error`` is its
        uncertainty where this fit varied it (a foil's, with N fixed; ``n_error`` is then 0).
    r_factor : float
        Larch's R-factor of the fit (0 is perfect; under ~0.02 is a good first-shell fit).
    k_range, r_range : tuple of float
        The k range (1/A) and R window (A) of the fit.
    reference : Reference
        The site whose FEFF path was used.
    """

    n: float
    n_error: float
    r: float
    r_error: float
    sigma2: float
    sigma2_error: float
    e0: float
    e0_error: float
    s02: float
    s02_source: str
    r_factor: float
    k_range: tuple[float, float]
    r_range: tuple[float, float]
    reference: Reference
    s02_error: float | None = None

    def to_dict(self) -> dict:
        """The fields of the ``fit`` object of a ``--json`` line."""
        return {
            "n": round(self.n, 2),
            "n_error": round(self.n_error, 2),
            "r": round(self.r, 4),
            "r_error": round(self.r_error, 4),
            "sigma2": round(self.sigma2, 5),
            "sigma2_error": round(self.sigma2_error, 5),
            "e0": round(self.e0, 2),
            "e0_error": round(self.e0_error, 2),
            "s02": round(self.s02, 3),
            "s02_source": self.s02_source,
            "s02_error": None if self.s02_error is None else round(self.s02_error, 3),
            "r_factor": round(self.r_factor, 4),
            "k_range": [round(v, 2) for v in self.k_range],
            "r_range": [round(v, 2) for v in self.r_range],
            "reference": dataclasses.asdict(self.reference),
        }

    def to_text(self) -> str:
        ref = self.reference
        return (
            f"fit: N {self.n:.1f} +- {self.n_error:.1f}, R {self.r:.3f} +- {self.r_error:.3f} A, "
            f"sigma2 {self.sigma2:.4f} +- {self.sigma2_error:.4f} A^2, E0 {self.e0:+.1f} +- {self.e0_error:.1f} eV, "
            f"R-factor {self.r_factor:.3f} (S02 {self.s02:.2f} {self.s02_source}; "
            f"{ref.absorber}-{ref.neighbour} path of {ref.material_id} site {ref.site_index})"
        )


@dataclass
class Prediction:
    """The CN of one spectrum with its probabilities, or no answer with the reason.

    Attributes
    ----------
    file, group : str, str or None
        Where the spectrum came from (``group``: the Athena project group, else None).
    element : str
        The absorber; ``element_source`` says how it was known: ``file``, ``option``
        (given by the user) or ``edge`` (from the edge energy).
    cn : int or None
        The most probable CN class; None for "no answer" (then ``reason`` says why).
    probabilities : dict of str to float, or None
        Probability of each CN class the model knows (keys are the CNs as text, as in JSON).
    cn_mean : float or None
        Site-averaged CN, where the models have an average-CN regressor: its median, held
        within 1 of ``cn`` (``held_to_class``; ``cn_mean_model`` is the regressor's own
        value, and a note says where the two parted); ``cn_interval`` its 90% interval
        ``(low, high)``, widened to hold ``cn_mean``.
    model : str
        Which model answered (element, family, release and training date).
    e0 : float or None
        The edge energy the processing used (eV); ``e0_source`` says how it was placed:
        ``profile +8.0 eV`` (the model's E0 rule, moved to where chi(k) matches the training
        spectra best; ``e0_sharpness`` says how clearly, 0 for no preference), ``rule`` (the
        rule's, where there are no E0 references or ``--e0 rule``), ``given`` (``--e0`` an
        energy) or ``shift +5.0 eV`` (``--e0`` a shift from the rule's).
    kmax : float
        Where the data end (1/A above the edge).
    r1 : float or None
        The mean first-shell distance (A, phase-corrected: the absorber-neighbour distance,
        not the peak position in |chi(R)|), where the models have a first-shell model;
        ``r1_interval`` its 90% interval ``(low, high)``.
    neighbour : str or None
        The dominant neighbour class (``O``, ``S``, ``N``, ``halogen``, ``P``, ``C``, ``Se/As``,
        ``metal``, ``other``), with ``neighbour_probabilities`` for each class the model knows.
    fit : FirstShellFit or None
        The first-shell Larch fit started from this answer, where one was asked for
        (``predict --fit``) and converged; else ``fit_error`` says why not, where one was asked for.
    notes : tuple of str
        What was done to the data that a user should know (glitches removed, calibration
        not applied, ...).
    pre_edge_height : float or None
        The pre-edge peak height in units of the edge step
        (``exafs_cn.measured._near_edge.pre_edge_peak_height``); None where the data do not
        reach 45 eV below the edge. The measured calibration weighs it (CN 4 and 5).
    scan_time : datetime or None
        When the scan started, where the file says (XDI's ``Scan.start_time``).
    processed : Processed or None
        The processed spectrum (chi(k), |chi(R)|), for plotting; not part of ``to_dict()``.
    """

    file: str
    group: str | None
    element: str
    element_source: str
    cn: int | None
    probabilities: dict[str, float] | None
    model: str
    e0: float | None
    kmax: float
    reason: str | None = None
    notes: tuple[str, ...] = ()
    cn_mean: float | None = None
    cn_interval: tuple[float, float] | None = None
    r1: float | None = None
    r1_interval: tuple[float, float] | None = None
    neighbour: str | None = None
    neighbour_probabilities: dict[str, float] | None = None
    fit: FirstShellFit | None = None
    fit_error: str | None = None
    e0_source: str = "rule"
    e0_sharpness: float | None = None
    cn_mean_model: float | None = None
    pre_edge_height: float | None = None
    scan_time: datetime | None = None
    processed: Processed | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """``file[group]``, or ``file`` where there is no group."""
        return f"{self.file}[{self.group}]" if self.group else self.file

    @property
    def probability(self) -> float | None:
        """The probability of the answer ``cn`` (None for no answer)."""
        return None if self.cn is None or not self.probabilities else self.probabilities[str(self.cn)]

    def to_dict(self) -> dict:
        """The fields of ``exafs-cn predict --json``: plain JSON types, numbers rounded."""
        return {
            "file": self.file,
            "group": self.group,
            "element": self.element,
            "element_source": self.element_source,
            "cn": self.cn,
            "probabilities": self.probabilities,
            "cn_mean": None if self.cn_mean is None else round(self.cn_mean, 2),
            "cn_interval": None if self.cn_interval is None else [round(v, 2) for v in self.cn_interval],
            "cn_mean_model": None if self.cn_mean_model is None else round(self.cn_mean_model, 2),
            "r1": None if self.r1 is None else round(self.r1, 3),
            "r1_interval": None if self.r1_interval is None else [round(v, 3) for v in self.r1_interval],
            "neighbour": self.neighbour,
            "neighbour_probabilities": self.neighbour_probabilities,
            "fit": self.fit.to_dict() if self.fit is not None else {"error": self.fit_error} if self.fit_error else None,
            "reason": self.reason,
            "model": self.model,
            "e0": None if self.e0 is None else round(self.e0, 2),
            "e0_source": self.e0_source,
            "e0_sharpness": None if self.e0_sharpness is None else round(self.e0_sharpness, 3),
            "kmax": round(self.kmax, 2),
            "pre_edge_height": None if self.pre_edge_height is None else round(self.pre_edge_height, 3),
            "scan_time": None if self.scan_time is None else self.scan_time.isoformat(),
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """What ``exafs-cn predict`` prints: the answer's line, and the fit's indented below it
        where one was asked for."""
        fit = self.fit_line()
        return self.answer_line() + (f"\n  {fit}" if fit else "")

    def fit_line(self) -> str | None:
        """The fit's line (its values, or why it was not made); None where no fit was asked for."""
        if self.fit is not None:
            return self.fit.to_text()
        return f"fit not made: {self.fit_error}" if self.fit_error else None

    def answer_line(self) -> str:
        """The answer's line: the CN with its probabilities, the average CN and the first shell."""
        notes = f" [{'; '.join(self.notes)}]" if self.notes else ""
        if self.cn is None:
            return f"{self.where}: {self.element} no answer: {self.reason} (kmax {self.kmax:.1f}/A){notes}"
        p = self.probabilities or {}
        likely = ", ".join(f"{cn}: {prob:.2f}" for cn, prob in sorted(p.items(), key=lambda item: -item[1]) if prob >= 0.05)
        mean = ""
        if self.cn_mean is not None and self.cn_interval is not None:
            low, high = self.cn_interval
            mean = f"; mean CN {self.cn_mean:.1f}, 90% interval {low:.1f}-{high:.1f}"
        return (
            f"{self.where}: {self.element} CN {self.cn} (p {p[str(self.cn)]:.2f}; CN probabilities >= 0.05: {likely}{mean}{self._shell_text()}; "
            f"{self._e0_text()}kmax {self.kmax:.1f}/A; model {self.model}){notes}"
        )


    def _e0_text(self) -> str:
        """The E0 used, and how it was placed where the user placed it."""
        if self.e0 is None:
            return ""
        return f"E0 {self.e0:.1f} eV; " if self.e0_source == "rule" else f"E0 {self.e0:.1f} eV ({self.e0_source}); "

    def _shell_text(self) -> str:
        parts = []
        if self.r1 is not None and self.r1_interval is not None:
            parts.append(f"R1 {self.r1:.2f} A, 90% interval {self.r1_interval[0]:.2f}-{self.r1_interval[1]:.2f}")
        if self.neighbour is not None and self.neighbour_probabilities:
            parts.append(f"neighbour {self.neighbour} (p {self.neighbour_probabilities[self.neighbour]:.2f})")
        return f"; first shell: {', '.join(parts)}" if parts else ""


def held_to_class(cn_mean: float, interval: tuple[float, float], cn: int) -> tuple[float, tuple[float, float]]:
    """The mean CN moved, where it lies more than 1 from the class, to 1 from it; the interval widened to hold it.

    The class and the mean come from two models; on measured spectra they part mostly
    where the class is right and the mean is not (hcp metals get a mean of 9-10, linear
    Cu2O 4.7): held within 1 of the class, the mean is within 1 of the textbook CN for
    202 of 206 corpus spectra, against 187 unheld (``studies/measured.py``, scored with the
    class from the compound-grouped calibration). A mixture of phases, whose mean may
    truly lie further from its commonest class, keeps the regressor's value in
    ``cn_mean_model`` and a note.

    Examples
    --------
    >>> held_to_class(9.3, (8.1, 11.0), 12)
    (11.0, (8.1, 11.0))
    >>> held_to_class(4.7, (3.9, 6.0), 2)
    (3.0, (3.0, 6.0))
    >>> held_to_class(5.9, (5.2, 6.6), 6)
    (5.9, (5.2, 6.6))
    """
    held = min(max(cn_mean, cn - 1.0), cn + 1.0)
    return held, (min(interval[0], held), max(interval[1], held))


@dataclass(frozen=True)
class Failure:
    """An input that gave neither a CN nor "no answer": ``error`` is one line naming it.

    Attributes
    ----------
    file, group : str, str or None
        The input (and Athena group) it concerns.
    error : str
        What is wrong, in one line that names the file.
    """

    file: str
    group: str | None
    error: str

    def to_dict(self) -> dict:
        """The ``--json`` line of an input that failed: ``file``, ``group`` and ``error``."""
        return {"file": self.file, "group": self.group, "error": self.error}

    def to_text(self) -> str:
        return self.error


def to_dataframe(results: Iterable[Prediction | Failure]) -> pd.DataFrame:
    """A table of a series of predictions, one row per spectrum, in their order.

    Parameters
    ----------
    results : iterable of Prediction or Failure
        What ``exafs_cn.predict`` returned (for one file or many).

    Returns
    -------
    pandas.DataFrame
        Columns ``file``, ``group``, ``element``, ``cn``, ``probability`` (of that CN),
        ``cn_mean``, ``cn_low``, ``cn_high`` (its 90% interval), ``r1``, ``r1_low``,
        ``r1_high``, ``neighbour``, ``neighbour_probability``, ``e0`` (the E0 used) and
        ``e0_source`` (how it was placed), ``kmax``, ``pre_edge_height``, ``scan_time``, the fit's
        ``fit_n``, ``fit_n_error``, ``fit_r``, ``fit_r_error``, ``fit_sigma2``, ``fit_e0``,
        ``fit_r_factor`` and ``fit_error`` (where one was asked for), ``reason`` (for no answer), ``error`` (for a failure), ``notes`` (joined by
        ``"; "``), ``model``, then ``p_<CN>`` for every CN class that occurs. Missing
        values are NaN (numbers) or None.

    Examples
    --------
    >>> import exafs_cn
    >>> table = exafs_cn.to_dataframe([exafs_cn.Failure("a.xdi", None, "a.xdi: no such file")])
    >>> table[["file", "cn", "error"]].to_dict("records")
    [{'file': 'a.xdi', 'cn': None, 'error': 'a.xdi: no such file'}]
    """
    import pandas as pd

    rows = []
    for item in results:
        if isinstance(item, Failure):
            rows.append({"file": item.file, "group": item.group, "error": item.error})
            continue
        low, high = item.cn_interval if item.cn_interval is not None else (None, None)
        r1_low, r1_high = item.r1_interval if item.r1_interval is not None else (None, None)
        neighbour_p = item.neighbour_probabilities[item.neighbour] if item.neighbour and item.neighbour_probabilities else None
        row = {
            "file": item.file,
            "group": item.group,
            "element": item.element,
            "cn": item.cn,
            "probability": item.probability,
            "cn_mean": item.cn_mean,
            "cn_low": low,
            "cn_high": high,
            "r1": item.r1,
            "r1_low": r1_low,
            "r1_high": r1_high,
            "neighbour": item.neighbour,
            "neighbour_probability": neighbour_p,
            "e0": item.e0,
            "e0_source": item.e0_source,
            "kmax": item.kmax,
            "pre_edge_height": item.pre_edge_height,
            "scan_time": item.scan_time,
            **_fit_columns(item),
            "reason": item.reason,
            "notes": "; ".join(item.notes) or None,
            "model": item.model,
        }
        row.update({f"p_{cn}": p for cn, p in (item.probabilities or {}).items()})
        rows.append(row)
    columns = ["file", "group", "element", "cn", "probability", "cn_mean", "cn_low", "cn_high"]
    columns += ["r1", "r1_low", "r1_high", "neighbour", "neighbour_probability", "e0", "e0_source", "kmax", "pre_edge_height", "scan_time", *_FIT_COLUMNS]
    columns += ["reason", "error", "notes", "model"]
    classes = sorted({key for row in rows for key in row if key.startswith("p_")}, key=lambda key: int(key[2:]))
    table = pd.DataFrame(rows, columns=columns + classes)
    table["cn"] = table["cn"].astype("Int64")  # integers with missing values, not floats
    return table


_FIT_COLUMNS = ("fit_n", "fit_n_error", "fit_r", "fit_r_error", "fit_sigma2", "fit_e0", "fit_r_factor", "fit_error")


def _fit_columns(item: Prediction) -> dict:
    fit = item.fit
    if fit is None:
        return {"fit_error": item.fit_error}
    values = (fit.n, fit.n_error, fit.r, fit.r_error, fit.sigma2, fit.e0, fit.r_factor, None)
    return dict(zip(_FIT_COLUMNS, values))
