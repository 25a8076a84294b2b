"""Is there EXAFS in this spectrum, of the kind the model was trained on? If not, no answer.

A classifier always picks a class: a bare edge step once got CN 2 and noise CN 8, each
with a confident-looking probability. Two checks on |chi(R)|, with thresholds from the
model's own training spectra (clean and augmented, so they include weak, damped, noisy
and short ones), stand in front of it:

- amplitude: the tallest |chi(R)| between ``peak_rmin`` and ``peak_rmax`` (the first
  shells, past the background region). A spectrum with no oscillations has almost none;
  the floor is half the weakest training spectra's (their 0.1% quantile).
- noise: the mean |chi(R)| between ``noise_rmin`` and ``noise_rmax``, where EXAFS has
  faded and what remains is noise, as a share of that first-shell peak. Noise spreads
  evenly over R (0.27-0.61 for pure noise on an edge step), EXAFS concentrates in shells
  (training median 0.01); the ceiling is twice the training spectra's 99.9% quantile.

The thresholds come from training rows alone, never from measured spectra;
``studies/measured.py`` checks that no measured reference spectrum is refused (the
closest: 6.9 times the amplitude floor, 0.63 of the noise ceiling; `min_amplitude_over_floor`
and `max_noise_over_ceiling` in `studies/results/measured.json`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from exafs_cn.exceptions import ModelCheckError
from exafs_cn.features import r_grid
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings

#: Training quantiles the thresholds start from, and the margins applied to them.
AMPLITUDE_QUANTILE, AMPLITUDE_FACTOR = 0.001, 0.5
NOISE_QUANTILE, NOISE_FACTOR = 0.999, 2.0


@dataclass(frozen=True)
class NoveltyCheck:
    """Where the two checks look, and their thresholds."""

    amplitude_floor: float
    noise_ceiling: float
    peak_rmin: float = 1.0
    peak_rmax: float = 4.0
    noise_rmin: float = 7.0
    noise_rmax: float = 10.0

    @classmethod
    def fit(cls, chir_mag: np.ndarray, settings: ProcessingSettings = DEFAULT_SETTINGS) -> NoveltyCheck:
        """From training rows of |chi(R)| on Larch's grid (the ``r`` features)."""
        rows = np.asarray(chir_mag, float)
        rows = rows[np.all(np.isfinite(rows), axis=1)]
        template = cls(amplitude_floor=0.0, noise_ceiling=0.0)
        amplitude, noise = template.scores(rows, settings)
        return cls(
            amplitude_floor=float(np.quantile(amplitude, AMPLITUDE_QUANTILE) * AMPLITUDE_FACTOR),
            noise_ceiling=float(np.quantile(noise, NOISE_QUANTILE) * NOISE_FACTOR),
        )

    def scores(self, chir_mag: np.ndarray, settings: ProcessingSettings = DEFAULT_SETTINGS) -> tuple[np.ndarray, np.ndarray]:
        """First-shell amplitude and high-R noise share of each row (or one spectrum)."""
        r = r_grid(settings)
        rows = np.atleast_2d(np.asarray(chir_mag, float))[:, : len(r)]
        peak = rows[:, (r >= self.peak_rmin) & (r < self.peak_rmax)].max(axis=1)
        tail = rows[:, (r >= self.noise_rmin) & (r < self.noise_rmax)].mean(axis=1)
        return peak, tail / np.where(peak > 0, peak, np.inf)

    def reason(self, chir_mag: np.ndarray, settings: ProcessingSettings = DEFAULT_SETTINGS) -> str | None:
        """Why this spectrum gets no answer, or None when it looks like training data."""
        amplitude, noise = (float(v[0]) for v in self.scores(chir_mag, settings))
        if amplitude < self.amplitude_floor:
            return (
                f"no EXAFS oscillations: |chi(R)| peaks at {amplitude:.3g} between {self.peak_rmin:g} and {self.peak_rmax:g} A, "
                f"below {self.amplitude_floor:.3g} (half the weakest training spectra's)"
            )
        if noise > self.noise_ceiling:
            return (
                f"noise, not EXAFS: |chi(R)| at {self.noise_rmin:g}-{self.noise_rmax:g} A is {noise:.2f} of the first-shell peak "
                f"(training spectra up to {self.noise_ceiling / NOISE_FACTOR:.2f})"
            )
        return None

    def to_dict(self) -> dict:
        return asdict(self)

    def __post_init__(self) -> None:
        # Read from model files: numbers in range, or the check would pass or refuse everything.
        values = asdict(self)
        if not all(isinstance(v, (int, float)) and np.isfinite(v) and v >= 0 for v in values.values()):
            raise ModelCheckError(f"novelty check values must be finite non-negative numbers: {values}")

    @classmethod
    def from_dict(cls, values: dict) -> NoveltyCheck:
        return cls(**values)
