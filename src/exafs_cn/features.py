"""From mu(E) to model inputs, with Larch, the same way for simulated and measured data.

:func:`process` runs the study's chain (autobk -> chi(k) -> xftf -> |chi(R)|) with one
:class:`~exafs_cn.settings.ProcessingSettings`. Featurizers follow matminer's
``BaseFeaturizer`` shape (``featurize``, ``feature_labels``, ``citations``) so each
feature set states what its columns are; :func:`featurize_many` runs them over many
spectra on all cores with a progress bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from larch import Group
from larch.xafs import autobk, pre_edge, xftf
from larch.xafs.xafsutils import ETOK
from scipy import fft as scipy_fft
from scipy.signal import find_peaks, peak_prominences, peak_widths

from exafs_cn.exceptions import ProcessingError, ShortDataError, UnknownNameError
from exafs_cn.parallel import lost_reason, map_unordered
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings

LARCH_CITATION = (
    "M. Newville, Larch: an analysis package for XAFS and related spectroscopies, "
    "J. Phys.: Conf. Ser. 430, 012007 (2013)"
)
STUDY_CITATION = "Zeng, Hu, Yao (NSRL/USTC), machine-learning CN from FEFF EXAFS of MP 3d-metal compounds (2025)"


#: Shortest chi(k) range answered: the floor of the augmentation's kmax (6.5-16/A), so
#: no answer is given on data shorter than any the models were trained on. Above it the
#: models' probabilities stay about calibrated (``studies/short_data.py``: held-out
#: simulated copies ending at 6.5-7/A are right 0.60 of the time at mean confidence 0.67;
#: measured corpus scans cut at 7/A, 0.67 at 0.66 with the measured calibration).
MIN_KMAX = 6.5


@dataclass(frozen=True)
class Spectrum:
    """One mu(E), simulated or measured: the record both ways through exafs-cn share.

    ``e0`` is FEFF's edge energy where there is one: the E0 used is then never before
    it. Either way ``settings.e0_rule`` places E0 (:func:`edge_energy`). ``edge_step`` is
    1 for FEFF's mu, which FEFF normalises itself and which has no pre-edge region for a fit.
    ``e0_given`` (eV) replaces the rule's E0 and ``e0_shift`` (eV) moves whichever was used:
    a user who set E0 in Athena, or knows it is off.

    ``larch_edge``: a dict that holds, once the first processing has run, what Larch's
    pre_edge gives from its own E0; that depends on energy and mu alone, so the processings of
    one measured spectrum that share the dict (the rule's E0, the profiled one, a model trained
    with another rule) run it once. None: run it every time.
    """

    energy: np.ndarray
    mu: np.ndarray
    absorber: str
    e0: float | None = None
    edge_step: float | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)
    e0_given: float | None = None
    e0_shift: float = 0.0
    larch_edge: dict | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Processed:
    k: np.ndarray
    chi: np.ndarray
    r: np.ndarray
    chir_mag: np.ndarray
    e0: float
    group: Group
    kmax: float = float("nan")  # where the data (and so the FT window) end


def process(spectrum: Spectrum, settings: ProcessingSettings = DEFAULT_SETTINGS) -> Processed:
    """chi(k) and |chi(R)| of a spectrum: Larch's autobk then xftf with ``settings``.

    Training (FEFF) and measured spectra alike go through here, so a setting cannot differ
    between training and prediction.

    Parameters
    ----------
    spectrum : Spectrum
        mu(E) with its absorber (and FEFF's E0, or the user's E0 or shift, where there is one).
    settings : ProcessingSettings
        E0 rule, rbkg, k and R ranges, window, k-weight.

    Returns
    -------
    Processed
        k, chi(k), R, |chi(R)|, the E0 used, Larch's group and where the data end.

    Raises
    ------
    ProcessingError
        One line with the reason (no edge, E0 outside the data, too little data above the edge).
    """
    k, chi, e0, group = background(spectrum, settings)
    return transform(k, chi, e0, settings, group=group)


def background(
    spectrum: Spectrum, settings: ProcessingSettings = DEFAULT_SETTINGS, rbkg: float | None = None
) -> tuple[np.ndarray, np.ndarray, float, Group]:
    """chi(k) by Larch autobk, E0 by ``settings.e0_rule`` (normalising with pre_edge first
    when the edge step is unknown, and again from the E0 the rule gives).

    ``rbkg`` overrides the setting: augmentation varies it to mimic how people remove
    backgrounds differently.
    """
    # Absorber and edge named: Larch's pre_edge would otherwise look them up in xraydb.
    group = Group(atsym=spectrum.absorber, edge="K")
    energy = np.asarray(spectrum.energy, float)
    mu = np.asarray(spectrum.mu, float)
    known_e0, step = spectrum.e0, spectrum.edge_step
    if known_e0 is not None and not energy.min() <= known_e0 <= energy.max():
        # autobk would drop it without a word and search for an edge of its own.
        raise ProcessingError(f"E0 = {known_e0:.1f} eV lies outside the data ({energy.min():.1f} to {energy.max():.1f} eV)")
    try:
        if step is None or known_e0 is None:  # max_derivative takes Larch's E0 from pre_edge
            _larch_pre_edge(energy, mu, spectrum.larch_edge if known_e0 is None else None, group, known_e0)
        norm = group.norm if step is None else mu / step
        e0 = edge_energy(energy, norm, settings, known_e0=known_e0, larch_e0=getattr(group, "e0", None))
        if spectrum.e0_given is not None or spectrum.e0_shift:
            e0 = (e0 if spectrum.e0_given is None else float(spectrum.e0_given)) + float(spectrum.e0_shift)
            if not energy.min() <= e0 <= energy.max() - 10.0:
                raise ProcessingError(f"E0 = {e0:.1f} eV (as given) lies outside the data ({energy.min():.1f} to {energy.max():.1f} eV)")
        if step is None:
            if abs(e0 - group.e0) > 0.5:  # normalisation ranges are relative to E0: redo them from the one used
                pre_edge(energy, mu, group=group, e0=e0, make_flat=False)
            step = group.edge_step
        autobk(
            energy,
            mu,
            group=group,
            rbkg=settings.rbkg if rbkg is None else rbkg,
            e0=e0,
            ek0=e0,
            edge_step=step,
            kweight=settings.bkg_kweight,
            kmax=settings.bkg_kmax,
            # chi is the same without: the uncertainty of the background (delta_chi) is used by
            # nothing here and cost a third of autobk's time (benchmarks/predict.py).
            calc_uncertainties=False,
        )
    except ProcessingError:
        raise
    except Exception as exc:  # Larch raises assorted errors for unusable input
        raise ProcessingError(f"background removal failed: {' '.join(str(exc).split())[:160]}") from None
    return group.k, group.chi, float(e0), group


def _larch_pre_edge(energy: np.ndarray, mu: np.ndarray, cache: dict | None, group: Group, known_e0: float | None) -> None:
    """Larch's pre_edge into ``group``, or what it gave before for the same mu (``cache``,
    a spectrum's ``larch_edge``).

    Its attributes are copied as they are: a later pre_edge replaces them rather than writing
    into them, so the group is what a fresh run leaves.
    """
    if cache:
        for name, value in cache.items():
            setattr(group, name, value)
        return
    # make_flat=False: the flattened spectrum (an lmfit fit, half of pre_edge's time) is used by nothing here.
    pre_edge(energy, mu, group=group, e0=known_e0, make_flat=False)
    if cache is not None:
        cache.update((name, value) for name, value in vars(group).items() if not name.startswith("__"))


def first_shell_index(r: np.ndarray, mag: np.ndarray, window: tuple[float, float] = (1.0, 3.5)) -> int | None:
    """Index of the first shell's |chi(R)| peak: the lowest-R peak inside ``window`` (A) that
    is at least half the tallest peak there; None where the window holds no peak.

    Parameters
    ----------
    r, mag : ndarray
        R grid (A, not phase-corrected) and |chi(R)| (or any FT magnitude) on it.
    window : tuple of float
        Where a first shell can lie (open interval; its end points are never peaks).

    Returns
    -------
    int or None

    Examples
    --------
    >>> r = np.linspace(0, 6, 601)
    >>> mag = np.exp(-((r - 1.6) / 0.2) ** 2) + 2 * np.exp(-((r - 2.9) / 0.2) ** 2)
    >>> round(float(r[first_shell_index(r, mag)]), 2)
    1.6
    """
    inside = np.flatnonzero((r > window[0]) & (r < window[1]))
    peaks, _ = find_peaks(mag[inside])
    if peaks.size == 0:
        return None
    heights = mag[inside][peaks]
    return int(inside[peaks[heights >= 0.5 * heights.max()][0]])


def half_step_e0(energy: np.ndarray, norm: np.ndarray, hold: float = 15.0) -> float | None:
    """The first energy where normalised mu reaches 0.5 and stays at or above it for ``hold`` eV.

    Unlike the largest derivative, this does not land on a pre-edge peak (a few eV wide,
    then mu falls back below half the step) and does not depend on how sharp the edge is.

    Parameters
    ----------
    energy : ndarray
        Energies (eV), increasing.
    norm : ndarray
        mu(E) normalised to an edge step of 1 (Larch's ``pre_edge`` ``norm``; FEFF's mu).
    hold : float
        How long (eV) mu must stay at or above half the step.

    Returns
    -------
    float or None
        The energy, or None where mu never stays above half the step that long.

    Examples
    --------
    >>> e = np.arange(7000.0, 7300.0)
    >>> half_step_e0(e, np.clip((e - 7100.0) / 10.0, 0, 1))
    7105.0
    """
    energy, above = np.asarray(energy, float), np.asarray(norm, float) >= 0.5
    # below[i]: how many points before i lie below half; a run above from i to j has none between.
    below = np.concatenate([[0], np.cumsum(~above)])
    ends = np.searchsorted(energy, energy + hold, side="right")
    ok = above & (below[ends] == below[np.arange(energy.size)]) & (energy + hold <= energy[-1])
    first = np.flatnonzero(ok)
    return float(energy[first[0]]) if first.size else None


def edge_energy(
    energy: np.ndarray,
    norm: np.ndarray,
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    known_e0: float | None = None,
    larch_e0: float | None = None,
) -> float:
    """E0 by ``settings.e0_rule``, for FEFF (``known_e0`` given) and measured spectra alike.

    ``half_step``: :func:`half_step_e0`, never before ``known_e0`` (FEFF's grid starts at
    its E0, where mu is often above half already). ``max_derivative``: ``known_e0``, else
    Larch's find_e0 (``larch_e0``, from pre_edge).
    """
    if settings.e0_rule == "max_derivative":
        e0 = known_e0 if known_e0 is not None else larch_e0
        if e0 is None:
            raise ProcessingError("no E0: give one or normalise with pre_edge first")
        return float(e0)
    half = half_step_e0(energy, norm, settings.e0_hold)
    if half is None:
        if known_e0 is not None:
            return float(known_e0)
        raise ProcessingError(f"normalised mu never stays above half the edge step for {settings.e0_hold:g} eV: no edge to put E0 on")
    return max(half, float(known_e0)) if known_e0 is not None else half


def transform(
    k: np.ndarray,
    chi: np.ndarray,
    e0: float,
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    kmax: float | None = None,
    group: Group | None = None,
) -> Processed:
    """xftf of chi(k) with the settings' window, ending at the data's kmax when that is shorter.

    A measured spectrum (or an augmented copy) may stop before ``settings.kmax``: the
    window then ends where the data do and chi is zero beyond, as it is for the data.
    """
    group = group if group is not None else Group()
    data_kmax = float(k.max()) if kmax is None else min(float(kmax), float(k.max()))
    if data_kmax < MIN_KMAX:
        raise ShortDataError(f"chi(k) reaches only k = {data_kmax:.1f}/A; at least {MIN_KMAX:g}/A needed")
    chi = np.where(k <= data_kmax, chi, 0.0)
    xftf(
        k,
        chi,
        group=group,
        kmin=settings.kmin,
        kmax=min(settings.kmax, data_kmax),
        kweight=settings.kweight,
        dk=settings.dk,
        window=settings.window,
        rmax_out=settings.rmax_out,
        nfft=settings.nfft,
        kstep=settings.kstep,
    )
    return Processed(k, chi, group.r, group.chir_mag, float(e0), group, data_kmax)


def shifted_chi(k: np.ndarray, chi: np.ndarray, shift: float, grid: np.ndarray) -> np.ndarray:
    """chi on ``grid`` as it reads with E0 moved up by ``shift`` eV (chi(E) unchanged; zero
    where the data do not reach)."""
    source = np.sqrt(np.clip(grid**2 + shift * ETOK, 0.0, None))
    return np.interp(source, k, chi, left=0.0, right=0.0)


def reread_at_e0(processed: Processed, e0: float, settings: ProcessingSettings = DEFAULT_SETTINGS) -> Processed:
    """``processed``'s chi(E) read from another E0 and transformed with ``settings``, without a
    second background removal.

    Close to, not equal to, :func:`process` from that E0: autobk's spline and the
    normalisation follow E0. Used where that difference is measured to be small (a measured
    spectrum's average-CN features, ``exafs_cn.measured._predict``); ShortDataError where too
    little chi(k) is left above the new E0.
    """
    shift = float(e0) - processed.e0
    chi = shifted_chi(processed.k, processed.chi, shift, processed.k)
    kmax = float(np.sqrt(max(processed.kmax**2 - shift * ETOK, 0.0)))
    return transform(processed.k, chi, e0, settings, kmax=kmax)


def r_grid(settings: ProcessingSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """Larch's R grid for these settings (326 points to ~10 A by default)."""
    dr = np.pi / (settings.kstep * settings.nfft)
    return dr * np.arange(int(min(settings.nfft / 2, 1.01 + settings.rmax_out / dr)))  # as xftf does


def k_grid(settings: ProcessingSettings = DEFAULT_SETTINGS) -> np.ndarray:
    n = int(round((settings.kmax - settings.kmin) / settings.kstep)) + 1
    return settings.kmin + settings.kstep * np.arange(n)


class Featurizer:
    """matminer-style featurizer over :class:`Processed` spectra."""

    name = ""

    def __init__(self, settings: ProcessingSettings = DEFAULT_SETTINGS):
        self.settings = settings

    def featurize(self, processed: Processed) -> np.ndarray:
        raise NotImplementedError

    def feature_labels(self) -> list[str]:
        raise NotImplementedError

    def citations(self) -> list[str]:
        return [LARCH_CITATION, STUDY_CITATION]

    def implementors(self) -> list[str]:
        return ["exafs-cn"]


class RSpaceFeaturizer(Featurizer):
    """|chi(R)| on Larch's grid: the study's main input (326 values)."""

    name = "r"

    def featurize(self, processed: Processed) -> np.ndarray:
        return np.asarray(processed.chir_mag[: len(r_grid(self.settings))], float)

    def feature_labels(self) -> list[str]:
        return [f"|chi(R)| R={r:.3f}" for r in r_grid(self.settings)]


def tallest_peaks(processed: Processed, settings: ProcessingSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R and |chi(R)| below ``peak_rmax``, and the indices of its ``n_peaks`` tallest peaks sorted by R.

    Sorted by R so that the i-th peak means "i-th shell", not "i-th tallest".
    """
    keep = processed.r < settings.peak_rmax
    r, mag = processed.r[keep], processed.chir_mag[keep]
    idx, _ = find_peaks(mag)
    return r, mag, np.sort(idx[np.argsort(mag[idx])[::-1][: settings.n_peaks]])


class PeakFeaturizer(Featurizer):
    """Positions and heights of the tallest |chi(R)| peaks below ``peak_rmax``.

    Sorted by R so that column i means "i-th shell", not "i-th tallest"; missing
    peaks are zeros.
    """

    name = "peaks"

    def featurize(self, processed: Processed) -> np.ndarray:
        n = self.settings.n_peaks
        r, mag, idx = tallest_peaks(processed, self.settings)
        out = np.zeros(2 * n)
        out[: len(idx)] = r[idx]
        out[n : n + len(idx)] = mag[idx]
        return out

    def feature_labels(self) -> list[str]:
        n = self.settings.n_peaks
        return [f"peak {i + 1} R" for i in range(n)] + [f"peak {i + 1} height" for i in range(n)]


class ShellFeaturizer(Featurizer):
    """Shape of the tallest |chi(R)| peaks below ``peak_rmax``: position, height, width, prominence, area.

    The peak list of :class:`PeakFeaturizer` says where shells are; a shell's width
    (disorder, or two unresolved distances) and its area (height x width, which grows
    with the number of neighbours) are what carry the CN, and a tree reads them far
    more easily from one column each than from the ~10 grid points under a peak.
    Widths and prominences are scipy's ``peak_widths``/``peak_prominences``. Sorted by R;
    missing peaks are zeros.
    """

    name = "shells"
    QUANTITIES = ("R", "height", "width", "prominence", "area")

    def featurize(self, processed: Processed) -> np.ndarray:
        r, mag, idx = tallest_peaks(processed, self.settings)
        out = np.zeros((len(self.QUANTITIES), self.settings.n_peaks))
        if len(idx):
            dr = float(r[1] - r[0])
            width = peak_widths(mag, idx, rel_height=0.5)[0] * dr
            prominence = peak_prominences(mag, idx)[0]
            out[:, : len(idx)] = [r[idx], mag[idx], width, prominence, mag[idx] * width]
        return out.ravel()

    def feature_labels(self) -> list[str]:
        return [f"peak {i + 1} {q}" for q in self.QUANTITIES for i in range(self.settings.n_peaks)]


class ComplexRFeaturizer(Featurizer):
    """Real and imaginary parts of chi(R) below ``peak_rmax``.

    |chi(R)| drops the phase, and the phase is where a shell's distance and its
    scatterer's kind (light O against heavy metal neighbours) show most sharply.
    """

    name = "r_complex"

    def _rows(self) -> int:
        return int(np.searchsorted(r_grid(self.settings), self.settings.peak_rmax))

    def featurize(self, processed: Processed) -> np.ndarray:
        n = self._rows()
        return np.concatenate([processed.group.chir_re[:n], processed.group.chir_im[:n]])

    def feature_labels(self) -> list[str]:
        grid = r_grid(self.settings)[: self._rows()]
        return [f"Re chi(R) R={r:.3f}" for r in grid] + [f"Im chi(R) R={r:.3f}" for r in grid]


class KSpaceFeaturizer(Featurizer):
    """k^w chi(k) on the fixed grid kmin..kmax."""

    name = "k"

    def featurize(self, processed: Processed) -> np.ndarray:
        grid = k_grid(self.settings)
        return np.interp(grid, processed.k, processed.chi) * grid**self.settings.kweight

    def feature_labels(self) -> list[str]:
        return [f"k^{self.settings.kweight:g} chi k={k:.2f}" for k in k_grid(self.settings)]


class KWeightsFeaturizer(Featurizer):
    """k^1 chi(k) and k^3 chi(k) on the fixed grid: the weights beside the study's k^2.

    Light neighbours (O, N) scatter most at low k, heavy ones (metals) at high k; the
    low and high weights give each end of the range a scale of its own.
    """

    name = "k_weights"
    WEIGHTS = (1, 3)

    def featurize(self, processed: Processed) -> np.ndarray:
        grid = k_grid(self.settings)
        chi = np.interp(grid, processed.k, processed.chi)
        return np.concatenate([chi * grid**w for w in self.WEIGHTS])

    def feature_labels(self) -> list[str]:
        return [f"k^{w} chi k={k:.2f}" for w in self.WEIGHTS for k in k_grid(self.settings)]


class WaveletFeaturizer(Featurizer):
    """|Cauchy wavelet transform| (Larch), mean-pooled to a coarse (R, k) grid.

    The full transform is 326 x 401 complex values per spectrum; pooling to
    ``wavelet_r_bins x wavelet_k_bins`` over R < wavelet_rmax and kmin..kmax keeps
    the shell-by-wavenumber picture at a size a model can take.
    """

    name = "wavelet"

    def _edges(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        return (
            np.linspace(0.0, s.wavelet_rmax, s.wavelet_r_bins + 1),
            np.linspace(s.kmin, s.kmax, s.wavelet_k_bins + 1),
        )

    def featurize(self, processed: Processed) -> np.ndarray:
        s = self.settings
        k = np.arange(0, processed.k.max() + s.kstep / 2, s.kstep)
        chi = np.interp(k, processed.k, processed.chi)
        r, mag = cauchy_wavelet_magnitude(k, chi, kweight=s.kweight, rmax_out=s.rmax_out, nfft=s.nfft, rmax=s.wavelet_rmax)
        r_edges, k_edges = self._edges()
        # Both axes are sorted, so each bin is a contiguous block: pool by block means.
        r_idx = np.searchsorted(r, r_edges)
        k_idx = np.searchsorted(k, k_edges)
        mag = mag[r_idx[0] : r_idx[-1], k_idx[0] : k_idx[-1]]
        sums = np.add.reduceat(np.add.reduceat(mag, r_idx[:-1] - r_idx[0], axis=0), k_idx[:-1] - k_idx[0], axis=1)
        pooled = sums / np.outer(np.diff(r_idx), np.diff(k_idx))
        return pooled.ravel()

    def feature_labels(self) -> list[str]:
        r_edges, k_edges = self._edges()
        return [
            f"|W| R={r_edges[i]:.2f}-{r_edges[i + 1]:.2f} k={k_edges[j]:.1f}-{k_edges[j + 1]:.1f}"
            for i in range(len(r_edges) - 1)
            for j in range(len(k_edges) - 1)
        ]


def cauchy_wavelet_magnitude(
    k: np.ndarray, chi: np.ndarray, kweight: float = 0.0, rmax_out: float = 10.0, nfft: int = 2048, rmax: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """|Cauchy wavelet transform| of chi(k): Larch's ``cauchy_wavelet`` (Munoz, Argoul, Farges), faster.

    The same transform, grid and normalisation, with three savings that change nothing
    a feature sees (agreement with Larch within 1e-6, tests/test_features.py): the
    filter bank, which does not depend on the spectrum, is computed once per grid and
    cached; only the R rows up to ``rmax`` are transformed (the features pool R < 6 A
    of the 10 A grid); and the inverse FFTs of all rows run as one single-precision
    scipy.fft call instead of a Python loop of double-precision ones. The wavelet was
    ~80% of featurizing every feature set (benchmarks/features.py).

    Returns the R grid of the rows kept and |W| (rows x len(k)).
    """
    kstep = np.round(1000.0 * (k[1] - k[0])) / 1000.0
    r, bank = _cauchy_filter_bank(float(kstep), int(nfft), float(rmax_out), None if rmax is None else float(rmax))
    weighted = np.asarray(chi, float) * k**kweight if kweight != 0 else np.asarray(chi, float)
    half = nfft // 2
    padded = np.zeros(half)
    padded[: min(len(k), half)] = weighted[:half]
    spectrum = np.fft.fft(padded, n=2 * nfft)[:nfft]
    rows = scipy_fft.ifft((bank * spectrum).astype(np.complex64), 2 * nfft, axis=1)[:, : len(k)]
    return r, np.abs(rows).astype(float)


@lru_cache(maxsize=8)
def _cauchy_filter_bank(kstep: float, nfft: int, rmax_out: float, rmax: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Larch's R grid and the Cauchy filter of each of its rows up to ``rmax`` (all without it)."""
    rstep = (np.pi / 2048) / kstep
    nrpts = int(np.round((rmax_out - 1.0e-7) / rstep))
    r = np.linspace(0, rmax_out, nrpts)
    r[0] = 1.0e-19
    rows = nrpts if rmax is None else min(nrpts, int(np.searchsorted(r, rmax, side="right")) + 1)
    omega = 2 * np.pi * (1.0 / kstep) * np.arange(nfft) / (2 * nfft)
    scale = nrpts / (2 * r[:rows])
    cauchy_sum = np.log(2 * np.pi) - np.log(1.0 + np.arange(nrpts)).sum()
    aom = scale[:, None] * omega[None, :]
    aom[aom == 0] = 1.0e-19
    grid, bank = r[:rows], np.exp(cauchy_sum + nrpts * np.log(aom) - aom)
    grid.flags.writeable = bank.flags.writeable = False  # shared by every call through the cache
    return grid, bank


#: Every named feature set: the study's four first, then the richer inputs of our own models.
FEATURE_SETS: dict[str, tuple[type[Featurizer], ...]] = {
    "r": (RSpaceFeaturizer,),
    "r_peaks": (RSpaceFeaturizer, PeakFeaturizer),
    "k": (KSpaceFeaturizer,),
    "wavelet": (WaveletFeaturizer,),
    "shells": (ShellFeaturizer,),
    "r_complex": (ComplexRFeaturizer,),
    "k_weights": (KWeightsFeaturizer,),
}
#: The sets the study compared, in the order they are reported.
STUDY_FEATURE_SETS = ("r", "r_peaks", "k", "wavelet")


def featurizers_for(feature_set: str, settings: ProcessingSettings = DEFAULT_SETTINGS) -> list[Featurizer]:
    if feature_set not in FEATURE_SETS:
        raise UnknownNameError(f"unknown feature set {feature_set!r}; choose from {', '.join(FEATURE_SETS)}")
    return [cls(settings) for cls in FEATURE_SETS[feature_set]]


def feature_labels(feature_set: str, settings: ProcessingSettings = DEFAULT_SETTINGS) -> list[str]:
    return [label for f in featurizers_for(feature_set, settings) for label in f.feature_labels()]


def featurize(spectrum: Spectrum, feature_set: str, settings: ProcessingSettings = DEFAULT_SETTINGS) -> np.ndarray:
    processed = process(spectrum, settings)
    return np.concatenate([f.featurize(processed) for f in featurizers_for(feature_set, settings)])


@dataclass(frozen=True)
class _Chunk:
    spectra: tuple[Spectrum, ...]
    feature_sets: tuple[str, ...]
    settings: ProcessingSettings
    offset: int


def _featurize_chunk(chunk: _Chunk) -> tuple[int, dict[str, np.ndarray], list[str | None]]:
    """Features of a chunk of spectra; a spectrum that fails gives NaNs and its reason."""
    featurizers = {name: featurizers_for(name, chunk.settings) for name in chunk.feature_sets}
    sizes = {name: len(feature_labels(name, chunk.settings)) for name in chunk.feature_sets}
    out = {name: np.full((len(chunk.spectra), sizes[name]), np.nan) for name in chunk.feature_sets}
    errors: list[str | None] = []
    for i, spectrum in enumerate(chunk.spectra):
        try:
            processed = process(spectrum, chunk.settings)
        except ProcessingError as exc:
            errors.append(str(exc))
            continue
        errors.append(None)
        for name, items in featurizers.items():
            out[name][i] = np.concatenate([f.featurize(processed) for f in items])
    return chunk.offset, out, errors


def featurize_many(
    spectra: Sequence[Spectrum],
    feature_sets: Sequence[str] = ("r",),
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int = 64,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], list[str | None]]:
    """Feature matrices (one per feature set) for many spectra, on all cores.

    Each spectrum is processed once for all requested feature sets. Rows of spectra
    that could not be processed are NaN, and the second return value gives why.
    """
    for name in feature_sets:
        featurizers_for(name, settings)  # validate names before starting workers
    chunks = [
        _Chunk(tuple(spectra[i : i + chunk_size]), tuple(feature_sets), settings, i)
        for i in range(0, len(spectra), chunk_size)
    ]
    sizes = {name: len(feature_labels(name, settings)) for name in feature_sets}
    matrices = {name: np.full((len(spectra), sizes[name]), np.nan) for name in feature_sets}
    errors: list[str | None] = [None] * len(spectra)

    def lost(chunk: _Chunk, exc: BaseException) -> tuple[int, dict[str, np.ndarray], list[str | None]]:
        nan = {name: np.full((len(chunk.spectra), sizes[name]), np.nan) for name in feature_sets}
        return chunk.offset, nan, [lost_reason(exc)] * len(chunk.spectra)

    for offset, out, errs in map_unordered(
        _featurize_chunk,
        chunks,
        workers=workers,
        scheduler=scheduler,
        total=len(chunks),
        desc="features (chunks)",
        progress=progress,
        on_error=lost,
    ):
        for name in feature_sets:
            matrices[name][offset : offset + len(errs)] = out[name]
        errors[offset : offset + len(errs)] = errs
    return matrices, errors
