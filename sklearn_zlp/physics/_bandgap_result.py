"""The result of a band-gap fit: per-replica values and their replica statistics."""

from dataclasses import dataclass, field

import numpy as np

from .._replicas import replica_band, replica_median

__all__ = ["BandGapResult"]


@dataclass
class BandGapResult:
    """Band-gap fit of every replica and spectrum, with replica statistics.

    Per-fit arrays have shape (n_replicas, n_spectra); medians have shape
    (n_spectra,) and bands, like every band of the package, stack
    ``(lower, upper)`` on the first axis: shape (2, n_spectra). The input
    ``spectra`` of :func:`fit_band_gap` set n_replicas and n_spectra: a single
    spectrum counts as n_spectra=1, spectra without a replica axis as
    n_replicas=1. Statistics leave out replicas whose value is NaN (a failed
    fit); a spectrum whose every replica failed gets NaN.

    Attributes
    ----------
    e_bg, b, amplitude : ndarray of shape (n_replicas, n_spectra)
        Fitted gap (eV), exponent and amplitude ``A`` (counts per channel at
        1 eV above the gap) of ``A (E - E_bg)^b``; ``b`` is constant when fixed.
    chi2 : ndarray of shape (n_replicas, n_spectra)
        Weighted residual sum of squares of that fit.
    dof : ndarray of shape (n_spectra,)
        Channels in the window minus fitted parameters.
    chi2_direct, chi2_indirect : ndarray of shape (n_replicas, n_spectra)
        chi^2 of the fits with b fixed at 0.5 and at 1.5.
    e_bg_median, b_median : ndarray of shape (n_spectra,)
        Medians over the replicas.
    e_bg_band, b_band : ndarray of shape (2, n_spectra)
        68% band over the replicas: ``band[0]`` the 16th, ``band[1]`` the 84th
        percentile (:func:`~sklearn_zlp.physics.summarize`'s quantiles).
    e_bg_pooled_median : float
        Median over all replicas and spectra.
    e_bg_pooled_band : ndarray of shape (2,)
        68% band over all replicas and spectra, (lower, upper).
    fraction_indirect : ndarray of shape (n_spectra,)
        Fraction of replicas whose b=1.5 fit has the lower chi^2 (the rest
        prefer b=0.5), among those where both fits have a chi^2.
    preferred : list of str
        "indirect" where ``fraction_indirect > 0.5``, "direct" where it is at
        most 0.5, "undetermined" where it is NaN.
    window : ndarray of shape (n_spectra, 2)
        Fitted energy range (e_min, e_max) in eV of each spectrum.
    b_fixed : float or None
        The fixed exponent, or None when b was fitted.
    """

    e_bg: np.ndarray
    b: np.ndarray
    amplitude: np.ndarray
    chi2: np.ndarray
    dof: np.ndarray
    chi2_direct: np.ndarray
    chi2_indirect: np.ndarray
    window: np.ndarray
    b_fixed: float | None = None
    e_bg_median: np.ndarray = field(init=False)
    e_bg_band: np.ndarray = field(init=False)
    b_median: np.ndarray = field(init=False)
    b_band: np.ndarray = field(init=False)
    e_bg_pooled_median: float = field(init=False)
    e_bg_pooled_band: np.ndarray = field(init=False)
    fraction_indirect: np.ndarray = field(init=False)
    preferred: list = field(init=False)

    def __post_init__(self):
        self.e_bg_median = replica_median(self.e_bg, nan_policy="omit")
        self.e_bg_band = replica_band(self.e_bg, nan_policy="omit")
        self.b_median = replica_median(self.b, nan_policy="omit")
        self.b_band = replica_band(self.b, nan_policy="omit")
        pooled = np.reshape(self.e_bg, -1)
        self.e_bg_pooled_median = float(replica_median(pooled, nan_policy="omit"))
        self.e_bg_pooled_band = replica_band(pooled, nan_policy="omit")
        both = np.isfinite(self.chi2_direct) & np.isfinite(self.chi2_indirect)
        indirect = both & (self.chi2_indirect < self.chi2_direct)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.fraction_indirect = indirect.sum(axis=0) / both.sum(axis=0)
        self.preferred = [
            "undetermined" if not np.isfinite(f) else "indirect" if f > 0.5 else "direct"
            for f in self.fraction_indirect
        ]
