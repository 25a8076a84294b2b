"""Every processing parameter, in one frozen object, with a stable hash.

Training spectra and measured spectra go through the same feature code with the same
:class:`ProcessingSettings`; models store the settings they were trained with and
caches are keyed by :meth:`ProcessingSettings.key`, so a setting can never differ
silently between training, caching and prediction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

import numpy as np

from exafs_cn.exceptions import SettingsError

#: How E0 is placed on mu(E): see ``ProcessingSettings.e0_rule``.
E0_RULES = ("half_step", "max_derivative")


@dataclass(frozen=True)
class ProcessingSettings:
    """Larch processing: autobk, then xftf, then features.

    Defaults follow the study (Larch's R grid of 326 points from nfft 2048, kstep 0.05,
    rmax_out 10) with a k range that measured spectra also reach: every spectrum in the
    measured reference corpus gives chi(k) to at least 12/A.
    """

    # autobk: background removal. rbkg ~ half the first-shell distance keeps the
    # spline from eating the first shell; kweight 2 balances high-k noise.
    rbkg: float = 1.0
    bkg_kweight: float = 2.0
    # Spline range end: past the FT window (kmax + dk) by a margin, and no further:
    # FEFF goes to k = 20/A, and fitting knots out there costs time and buys nothing.
    bkg_kmax: float = 15.0
    # E0 given to autobk for FEFF spectra: FEFF's k = 0 energy plus this. FEFF's grid
    # starts exactly at its E0, and with the spline origin on that first sample (where
    # k = sqrt(E - E0) is singular) autobk's leastsq runs to its evaluation limit on
    # ~5% of spectra (6-47 s each). One eV later every fit of a 100-spectrum sample took
    # < 0.3 s and chi(k) matched FEFF's own chi with median r = 0.997 (k^2, 3-12/A).
    feff_e0_offset: float = 1.0
    # E0, the same rule for FEFF and measured mu(E): the first energy where the normalised
    # mu reaches half the edge step and stays there for e0_hold eV ("half_step"). Larch's
    # find_e0 (largest derivative, "max_derivative", the rule before) lands on the pre-edge
    # peak of chromates and permanganate, 12-15 eV below the half-step point on the measured
    # corpus, while FEFF's mu starts at its own E0, above half the step for 84% of the pairs.
    # Holding for 15 eV steps over pre-edge peaks (a few eV wide) and never over the main
    # edge. FEFF spectra keep FEFF's E0 + feff_e0_offset where the half-step point lies before it.
    e0_rule: str = "half_step"
    e0_hold: float = 15.0
    # xftf: forward Fourier transform to R space.
    kmin: float = 3.0
    kmax: float = 12.0
    kweight: float = 2.0
    dk: float = 1.0
    window: str = "hanning"
    nfft: int = 2048
    kstep: float = 0.05
    rmax_out: float = 10.0
    # peaks of |chi(R)| appended to the R-space features, tallest first.
    n_peaks: int = 4
    peak_rmax: float = 6.0
    # wavelet features: |Cauchy wavelet| pooled to a coarse (R, k) grid.
    wavelet_rmax: float = 6.0
    wavelet_r_bins: int = 24
    wavelet_k_bins: int = 18

    def __post_init__(self) -> None:
        # Settings are read back from model files: a value out of range would make Larch
        # allocate without bound (nfft 1e12) or divide by zero (kstep 0), so each is checked.
        if self.e0_rule not in E0_RULES:
            raise SettingsError(f"e0_rule {self.e0_rule!r}: not one of {', '.join(E0_RULES)}")
        if self.window not in _WINDOWS:
            raise SettingsError(f"window {self.window!r}: not one of {', '.join(_WINDOWS)}")
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            integral = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            numeric = integral or isinstance(value, (float, np.floating))
            if not numeric or not low <= value <= high or (name in _INTEGERS and not integral):
                kind = "an integer" if name in _INTEGERS else "a number"
                raise SettingsError(f"{name} {value!r}: must be {kind} in {low:g}-{high:g}")
        if not self.kmin < self.kmax:
            raise SettingsError(f"kmin {self.kmin:g} must lie below kmax {self.kmax:g}")

    def key(self) -> str:
        """Short stable hash of every field, for cache names and model metadata."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ProcessingSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"unknown processing settings: {', '.join(sorted(unknown))}")
        # Settings written before e0_rule existed placed a measured E0 by Larch's find_e0.
        values = {"e0_rule": "max_derivative", **values}
        return cls(**values)


#: Larch's Fourier-transform windows.
_WINDOWS = ("hanning", "parzen", "welch", "gaussian", "sine", "kaiser", "bessel")
#: Bounds of every numeric setting: wide around any sensible choice, finite for any file.
_RANGES = {
    "rbkg": (0.1, 5.0),
    "bkg_kweight": (0.0, 4.0),
    "bkg_kmax": (2.0, 30.0),
    "feff_e0_offset": (-50.0, 50.0),
    "e0_hold": (0.0, 200.0),
    "kmin": (0.0, 20.0),
    "kmax": (1.0, 30.0),
    "kweight": (0.0, 4.0),
    "dk": (0.0, 10.0),
    "nfft": (256, 65536),
    "kstep": (0.01, 0.5),
    "rmax_out": (1.0, 50.0),
    "n_peaks": (0, 50),
    "peak_rmax": (0.5, 50.0),
    "wavelet_rmax": (0.5, 50.0),
    "wavelet_r_bins": (1, 500),
    "wavelet_k_bins": (1, 500),
}
_INTEGERS = ("nfft", "n_peaks", "wavelet_r_bins", "wavelet_k_bins")

DEFAULT_SETTINGS = ProcessingSettings()
