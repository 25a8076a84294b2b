"""A first-shell Larch fit started from the machine-learning answer.

The ML answer (CN, neighbour class, R1) picks a reference: the bundled site of the same
absorber and neighbour class whose single-element first shell is nearest R1, with the same
CN where there is one (:mod:`exafs_cn.datagen._fit_references`). FEFF (feff8l, the dataset's
``fast`` cluster, RPATH just past that shell, two-leg paths only) gives its first-shell
path, and Larch's ``feffit`` fits the user's chi(k) with it in R space: N (amplitude
``S02 * N``), R (``reff + dR``), sigma2 and E0 vary, S02 is fixed (at :data:`DEFAULT_S02`,
the value given, or the value fitted on a foil of the same element with N fixed at the
metal's CN). The R window spans the data's own first-shell peak, found near where the ML
R1 puts it, between the minima either side.

The fit settings are textbook ones chosen before looking at any measured spectrum (k 3 to
12/A or where the data end, k-weight 2, Hanning window with dk 1); none was tuned on the
corpus. A fit that fails (Larch's minimiser gives up, a parameter ends at its bound, the
uncertainties cannot be estimated, N is undetermined) raises :class:`FitError` with one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exafs_cn.exceptions import FitError, one_line
from exafs_cn.feff import PRESETS, FeffError, build_cluster, feff_input, run_feff_input
from exafs_cn.larch_output import captured
from exafs_cn.measured._prediction import FirstShellFit, Prediction, Reference
from exafs_cn.models._fit_references import bundled_structures_path, read_references

#: S02 when no foil is given: the middle of the 0.8-1.0 usual for 3d-metal K edges.
DEFAULT_S02 = 0.9
FIT_KMIN = 3.0
FIT_KMAX = 12.0
FIT_KWEIGHT = 2
FIT_DK = 1.0
#: How far below the true distance the first-shell peak of |chi(R)| sits (A): the search for
#: the data's peak runs over R1 minus this range.
PEAK_SHIFT = (0.1, 0.8)
#: The window never runs below this R (background) nor further than this from the peak.
WINDOW_RMIN = 0.9
WINDOW_HALF_WIDTH = 0.8
#: Parameter ranges; a fit that ends on one of them has not found a minimum.
N_RANGE = (0.0, 24.0)
DR_RANGE = (-0.5, 0.5)
SIGMA2_RANGE = (0.0, 0.05)
E0_RANGE = (-15.0, 15.0)
#: A foil's neighbour class; its S02 fit holds N at the metal reference's own CN (12 fcc/hcp, 8 bcc).
FOIL_CLASS = "metal"


class ReferencePaths:
    """FEFF first-shell paths of reference sites, run once each and kept while the object lives.

    Parameters
    ----------
    references : DataFrame, optional
        A reference table (default: the shipped one, read on first use).
    own_metal : bool
        For the neighbour class ``metal``, take a reference whose neighbours are the absorber's
        own element (False: any metal, nearest R1; what the first corpus run did).
    """

    def __init__(self, references: pd.DataFrame | None = None, own_metal: bool = True):
        self._references = references
        self.own_metal = own_metal
        self._cifs: pd.Series | None = None
        self._folder: tempfile.TemporaryDirectory | None = None
        self._paths: dict[tuple[str, int], list[tuple[Path, float]]] = {}

    @property
    def references(self) -> pd.DataFrame:
        if self._references is None:
            self._references = read_references()
        return self._references

    def choose(self, absorber: str, neighbour_class: str, r1: float, cn: int | None) -> Reference:
        """The reference of this absorber and neighbour class nearest ``r1``, of CN ``cn`` where one
        has it (for the class ``metal``: with the absorber's own element as neighbour, where one has it)."""
        table = self.references
        table = table[(table["absorber"] == absorber) & (table["neighbour_class"] == neighbour_class)]
        if table.empty:
            raise FitError(f"no bundled {absorber} site with a first shell of class {neighbour_class} to take a FEFF path from")
        if self.own_metal and neighbour_class == FOIL_CLASS and (table["neighbour"] == absorber).any():
            # The class does not say which metal; a 3d metal's metallic first shell is most
            # often its own element (a foil, a dilute alloy), and another metal's path would
            # carry that metal's amplitude and phase into N and R.
            table = table[table["neighbour"] == absorber]
        if cn is not None and (table["cn"] == cn).any():
            table = table[table["cn"] == cn]
        row = table.iloc[int(np.argmin(np.abs(table["r1"].to_numpy() - r1)))]
        return Reference(
            row["material_id"], int(row["site_index"]), absorber, row["neighbour"], int(row["cn"]), float(row["r1"]), float(row["r1_max"])
        )

    def paths(self, reference: Reference) -> list[tuple[Path, float]]:
        """The first shell's feffNNNN.dat files of ``reference`` with each one's share of its degeneracy."""
        key = (reference.material_id, reference.site_index)
        if key not in self._paths:
            self._paths[key] = self._run_feff(reference)
        return self._paths[key]

    def close(self) -> None:
        """Remove the FEFF folders."""
        if self._folder is not None:
            self._folder.cleanup()
            self._folder, self._paths = None, {}

    def __enter__(self) -> ReferencePaths:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run_feff(self, reference: Reference) -> list[tuple[Path, float]]:
        from larch.xafs import feffpath
        from pymatgen.core import Structure

        cif = self._cif(reference.material_id)
        structure = Structure.from_str(cif, fmt="cif")
        fast = PRESETS["fast"]
        # RPATH just past the shell's longest bond, two legs: FEFF writes the first shell's paths only.
        preset = dataclasses.replace(fast, name="first-shell path", rpath=round(reference.r1_max + 0.05, 3), nleg=2)
        cluster = build_cluster(structure, reference.site_index, fast.cluster_radius, omit_elements=fast.omit_elements)
        text = feff_input(cluster, preset, f"{reference.material_id} site {reference.site_index}", extra_cards=("PRINT 0 0 0 0 0 3",))
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="exafs_cn_fit_")
        try:
            run, _ = run_feff_input(text, fast.timeout_s, keep_dir=Path(self._folder.name))
        except FeffError as exc:
            raise FitError(f"FEFF failed on the reference {reference.material_id} site {reference.site_index}: {exc}") from None
        files = sorted(run.glob("feff[0-9][0-9][0-9][0-9].dat"))
        if not files:
            shutil.rmtree(run, ignore_errors=True)
            raise FitError(f"FEFF wrote no first-shell path for {reference.material_id} site {reference.site_index}")
        degens = [float(feffpath(str(f)).degen) for f in files]
        return [(f, d / sum(degens)) for f, d in zip(files, degens)]

    def _cif(self, material_id: str) -> str:
        if self._cifs is None:
            with gzip.open(bundled_structures_path(), "rb") as handle:
                table = pd.read_csv(io.BytesIO(handle.read()), usecols=["material_id", "cif"])
            self._cifs = table.set_index("material_id")["cif"]
        if material_id not in self._cifs.index:
            raise FitError(f"the reference {material_id} is not in the bundled structures")
        return str(self._cifs[material_id])


def fit_first_shell(
    prediction: Prediction,
    paths: ReferencePaths | None = None,
    s02: float = DEFAULT_S02,
    s02_source: str = "default",
    vary_s02_with_n: float | None = None,
) -> FirstShellFit:
    """Fit the first shell of a predicted spectrum, starting from its ML answer.

    Parameters
    ----------
    prediction : Prediction
        An answer of ``exafs_cn.predict`` with a CN, a neighbour class and R1 (a
        "no answer", or models without first-shell models, cannot start a fit).
    paths : ReferencePaths, optional
        Where FEFF paths are made and kept (pass one to reuse paths across spectra).
    s02 : float
        The amplitude reduction factor, fixed in the fit.
    s02_source : str
        What ``s02`` is, for the report (``"default"``, ``"given"``, ``"+- 0.04 from foil FILE"``).
    vary_s02_with_n : float, optional
        Fit S02 instead, with N fixed at this value (a foil of known structure).

    Returns
    -------
    FirstShellFit
        N, R, sigma2, E0 with Larch's uncertainties, and the R-factor.

    Raises
    ------
    FitError
        One line: no answer to start from, no reference, FEFF failed, or the fit did not converge.

    Examples
    --------
    >>> import exafs_cn
    >>> (answer,) = exafs_cn.predict("tests/data/experimental/data__Cu__cu_metal_rt.xdi")
    >>> fit = fit_first_shell(answer)
    >>> fit.reference.neighbour, round(fit.r, 1)
    ('Cu', 2.5)
    """
    if prediction.cn is None or prediction.processed is None:
        raise FitError(f"{prediction.where}: no ML answer to start a fit from ({prediction.reason or 'not predicted'})")
    if prediction.neighbour is None or prediction.r1 is None:
        raise FitError(f"{prediction.where}: the models give no neighbour class and R1 (no first-shell models in the folder)")
    if not 0.1 <= s02 <= 1.5:
        raise FitError(f"S02 = {s02:g} is outside 0.1-1.5")
    try:
        with _paths_for(paths) as paths:
            reference = paths.choose(prediction.element, prediction.neighbour, prediction.r1, prediction.cn)
            with _quiet_stdout():
                return _fit(prediction, reference, paths.paths(reference), s02, s02_source, vary_s02_with_n)
    except FitError as exc:
        raise FitError(f"{prediction.where}: {exc}") from None


def fit_foil_s02(foil: Prediction, paths: ReferencePaths | None = None) -> tuple[float, float]:
    """S02 (and its uncertainty) from a metal foil: a first-shell fit with N fixed at the metal's CN.

    The reference is the bundled metal site of the foil's element nearest the ML R1, of the
    predicted CN; its CN is the N held fixed.
    """
    if foil.neighbour is not None and foil.neighbour != FOIL_CLASS:
        raise FitError(f"{foil.where}: not a metal foil (the models read its neighbours as {foil.neighbour})")
    if foil.cn is None or foil.r1 is None:
        raise FitError(f"{foil.where}: no ML answer to start a foil fit from ({foil.reason or 'no first-shell models'})")
    try:
        with _paths_for(paths) as paths:
            reference = paths.choose(foil.element, FOIL_CLASS, foil.r1, foil.cn)
            with _quiet_stdout():
                fit = _fit(foil, reference, paths.paths(reference), DEFAULT_S02, "foil", vary_s02_with_n=float(reference.cn))
    except FitError as exc:
        raise FitError(f"{foil.where}: {exc}") from None
    return fit.s02, float(fit.s02_error)


@contextlib.contextmanager
def _paths_for(paths: ReferencePaths | None):
    """``paths``, or a ReferencePaths of the call's own, removed when the call ends."""
    if paths is not None:
        yield paths
        return
    with ReferencePaths() as own:
        yield own


def _fit(
    prediction: Prediction,
    reference: Reference,
    path_files: list[tuple[Path, float]],
    s02: float,
    s02_source: str,
    vary_s02_with_n: float | None,
) -> FirstShellFit:
    from larch import Group
    from larch.fitting import param, param_group
    from larch.xafs import feffit, feffit_dataset, feffit_transform, feffpath, xftf

    processed = prediction.processed
    k, chi = np.asarray(processed.k), np.asarray(processed.chi)
    kmax = min(FIT_KMAX, float(processed.kmax))
    if kmax - FIT_KMIN < 4:
        raise FitError(f"the data end at k = {processed.kmax:.1f}/A: too short for a fit from k = {FIT_KMIN:g}")
    transform = {"kmin": FIT_KMIN, "kmax": kmax, "kweight": FIT_KWEIGHT, "dk": FIT_DK, "window": "hanning"}
    data = Group(k=k, chi=chi)
    xftf(k, chi, group=data, **transform)
    rmin, rmax = _window(np.asarray(data.r), np.asarray(data.chir_mag), prediction.r1)
    fit_n = vary_s02_with_n is None
    params = param_group(
        s02=param(s02 if fit_n else DEFAULT_S02, vary=not fit_n, min=0.1, max=1.5),
        n=param(float(prediction.cn) if fit_n else vary_s02_with_n, vary=fit_n, min=N_RANGE[0], max=N_RANGE[1]),
        dr=param(0.0, vary=True, min=DR_RANGE[0], max=DR_RANGE[1]),
        sig2=param(0.005, vary=True, min=SIGMA2_RANGE[0], max=SIGMA2_RANGE[1]),
        e0=param(0.0, vary=True, min=E0_RANGE[0], max=E0_RANGE[1]),
    )
    pathlist = [
        feffpath(str(f), degen=1, s02=f"s02*n*{share:.6f}", e0="e0", sigma2="sig2", deltar="dr") for f, share in path_files
    ]
    reff = sum(p.reff * share for p, (_, share) in zip(pathlist, path_files))
    dataset = feffit_dataset(data=data, pathlist=pathlist, transform=feffit_transform(rmin=rmin, rmax=rmax, fitspace="r", **transform))
    try:
        with warnings.catch_warnings():  # uncertainties' and numpy's remarks from inside the fit
            warnings.simplefilter("ignore")
            out = feffit(params, dataset)
    except np.linalg.LinAlgError:  # Larch propagating a covariance that has no inverse
        raise FitError("the fit did not converge (its uncertainties could not be estimated)") from None
    except Exception as exc:  # lmfit and Larch raise assorted errors on data they cannot fit
        raise FitError(f"the fit failed ({type(exc).__name__}: {one_line(exc, 120)})") from None
    varied = ("n" if fit_n else "s02", "dr", "sig2", "e0")
    _check_converged(out, varied)
    value = {name: float(out.params[name].value) for name in ("s02", "n", "dr", "sig2", "e0")}
    error = {name: float(out.params[name].stderr) for name in varied}
    return FirstShellFit(
        n=value["n"],
        n_error=error.get("n", 0.0),
        r=reff + value["dr"],
        r_error=error["dr"],
        sigma2=value["sig2"],
        sigma2_error=error["sig2"],
        e0=value["e0"],
        e0_error=error["e0"],
        s02=value["s02"],
        s02_source=s02_source,
        r_factor=float(out.rfactor),
        s02_error=error.get("s02"),
        k_range=(FIT_KMIN, kmax),
        r_range=(rmin, rmax),
        reference=reference,
    )


@contextlib.contextmanager
def _quiet_stdout():
    """Larch's path code encodes text with ``sys.stdout.encoding``, which a notebook's or a
    doctest's stdout may not have (None: TypeError), and prints remarks nobody asked for: both
    go to this thread's UTF-8 capture while it runs (other threads keep their stdout)."""
    with captured():
        yield


def _window(r: np.ndarray, mag: np.ndarray, r1: float) -> tuple[float, float]:
    """The R window around the data's first-shell peak: the tallest local maximum where
    ``r1`` puts it, out to the minima either side (within WINDOW_RMIN and WINDOW_HALF_WIDTH)."""
    search = (r >= r1 - PEAK_SHIFT[1]) & (r <= r1 - PEAK_SHIFT[0])
    inner = np.arange(1, len(r) - 1)
    maxima = inner[(mag[inner] >= mag[inner - 1]) & (mag[inner] >= mag[inner + 1]) & search[inner]]
    if len(maxima) == 0:
        raise FitError(f"|chi(R)| has no peak between {r1 - PEAK_SHIFT[1]:.2f} and {r1 - PEAK_SHIFT[0]:.2f} A, where R1 = {r1:.2f} A puts the first shell")
    peak = int(maxima[np.argmax(mag[maxima])])
    low = peak
    while low > 0 and mag[low - 1] < mag[low] and r[low - 1] >= max(WINDOW_RMIN, r[peak] - WINDOW_HALF_WIDTH):
        low -= 1
    high = peak
    while high < len(r) - 1 and mag[high + 1] < mag[high] and r[high + 1] <= r[peak] + WINDOW_HALF_WIDTH:
        high += 1
    return float(r[low]), float(r[high])


def _check_converged(out, varied: tuple[str, ...]) -> None:
    """FitError unless the minimiser finished, every varied parameter is off its bounds and
    has an uncertainty, and the amplitude is determined (its uncertainty below its value)."""
    if not out.success:
        raise FitError(f"the fit did not converge ({one_line(out.message, 100)})")
    if out.n_independent <= len(varied):
        raise FitError(f"the window holds {out.n_independent:.1f} independent points for {len(varied)} parameters")
    for name in varied:
        par = out.params[name]
        span = par.max - par.min
        if min(par.value - par.min, par.max - par.value) < 1e-3 * span:
            at_low = par.value - par.min < par.max - par.value
            raise FitError(f"the fit did not converge ({_on_bound(name, par.value, at_low)})")
        if par.stderr is None or not np.isfinite(par.stderr):
            raise FitError(f"the fit did not converge (no uncertainty for {name})")
    amplitude = out.params[varied[0]]
    if amplitude.stderr >= abs(amplitude.value):
        raise FitError(f"the fit did not converge ({varied[0]} = {amplitude.value:.3g} +- {amplitude.stderr:.2g} is undetermined)")


def _on_bound(name: str, value: float, at_low: bool) -> str:
    """What a parameter ending on its bound says about the data, in a user's words."""
    if name == "sig2" and at_low:
        # Seen on chromates and permanganate: the measured amplitude lacks the path's low-k part.
        return "sigma2 ran to 0: the data's first-shell amplitude falls off with k more slowly than the FEFF path's, so N cannot be read"
    if name == "sig2":
        return f"sigma2 ran to {value:.2g} A^2, its upper bound: no ordered first shell where the ML R1 puts it"
    if name == "e0":
        return f"E0 ran to {value:+.0f} eV, its bound: the data's phase does not follow the FEFF path's (another neighbour or distance?)"
    if name == "dr":
        return f"R moved {value:+.2f} A from the reference's, its bound: the data's first shell is elsewhere"
    if name == "n":
        return "N ran to 0: no first-shell signal in the R window" if at_low else f"N ran to {value:.0f}, its upper bound"
    return f"{name} = {value:.4g} ended on its bound"


@dataclass(frozen=True)
class S02Choice:
    """The S02 of the fits of a run: ``value`` for every element, or a foil's for its own.

    ``foil_element`` and ``foil_value``: the element and S02 a foil gave; spectra of other
    elements keep ``value``.
    """

    value: float = DEFAULT_S02
    source: str = "default"
    foil_element: str | None = None
    foil_value: float | None = None
    foil_source: str = ""

    def for_element(self, element: str) -> tuple[float, str]:
        """The S02 of a fit of an ``element`` spectrum, and where it came from: a foil of
        another element says so instead of giving way to the default in silence."""
        if self.foil_element is None or self.foil_value is None:
            return self.value, self.source
        if self.foil_element == element:
            return self.foil_value, self.foil_source
        return self.value, f"{self.source}: the foil is {self.foil_element}, not {element}, so its S02 was not used"


def add_fits(results: list, s02: S02Choice = S02Choice(), paths: ReferencePaths | None = None) -> None:
    """Fit the first shell of every Prediction in ``results`` in place: its ``fit``, or its
    ``fit_error`` (one line) where the fit could not be made; Failures are left as they are."""
    with _paths_for(paths) as paths:
        for item in results:
            if not isinstance(item, Prediction):
                continue
            value, source = s02.for_element(item.element)
            try:
                item.fit = fit_first_shell(item, paths, value, source)
            except FitError as exc:
                item.fit_error = str(exc)
            except Exception as exc:  # one spectrum's unforeseen failure must not stop the others
                item.fit_error = f"{item.where}: the fit failed ({type(exc).__name__}: {one_line(exc, 100)}; please report this)"


def foil_s02(foil: Prediction, paths: ReferencePaths | None = None) -> S02Choice:
    """The S02Choice of a run given a foil: its element's fits use the S02 fitted on it."""
    value, error = fit_foil_s02(foil, paths)
    return S02Choice(foil_element=foil.element, foil_value=value, foil_source=f"+- {error:.2f} from foil {Path(foil.file).name}")
