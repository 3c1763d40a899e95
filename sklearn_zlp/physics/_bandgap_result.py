"""The result of a band-gap fit: per-replica values, statuses and replica statistics."""

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .._replicas import replica_band, replica_median
from .._status import OK, register_status, status_array

__all__ = ["BandGapResult"]

FIT_FAILED = register_status(
    "fit_failed", "the least-squares fit did not return a finite result."
)
TOO_FEW_REPLICAS = register_status(
    "too_few_replicas_converged",
    "fewer than min_replica_fraction of the replicas gave a usable fit, for mixed "
    "reasons (see replica_status); the value is NaN.",
)

# p_indirect above this says "indirect", below 1 - this "direct", else "undetermined"
_PREFERENCE_LEVEL = 0.84


@dataclass
class BandGapResult:
    """Band-gap fit of every replica and spectrum, with statuses and replica statistics.

    Per-fit arrays have shape (n_replicas, n_spectra); medians have shape
    (n_spectra,) and bands, like every band of the package, stack
    ``(lower, upper)`` on the first axis: shape (2, n_spectra). The input
    ``spectra`` of :func:`fit_band_gap` set n_replicas and n_spectra: a single
    spectrum counts as n_spectra=1, spectra without a replica axis as
    n_replicas=1.

    Every fit that fails is NaN with its reason in ``replica_status`` (never a
    bound of the parameter range). Medians and bands use the replicas whose
    status is "ok"; a spectrum where fewer than ``min_replica_fraction`` of the
    replicas are ok gets NaN, and its ``status`` says why: the most common
    reason among its replicas when it covers at least half of them, else
    "too_few_replicas_converged". ``sklearn_zlp._status.describe_status``
    explains every status.

    Attributes
    ----------
    e_bg, b, amplitude : ndarray of shape (n_replicas, n_spectra)
        Fitted gap (eV), exponent and amplitude ``A`` (counts per channel at
        1 eV above the gap) of ``A (E - E_bg)^b``; ``b`` is constant when fixed.
        NaN where the replica's fit failed.
    chi2 : ndarray of shape (n_replicas, n_spectra)
        Weighted residual sum of squares of that fit (NaN where it failed).
    dof : ndarray of shape (n_spectra,)
        Channels in the window minus fitted parameters (0 where no window).
    chi2_direct, chi2_indirect : ndarray of shape (n_replicas, n_spectra)
        chi^2 of the fits with b fixed at 0.5 and at 1.5.
    window : ndarray of shape (n_spectra, 2)
        Fitted energy range (e_min, e_max) in eV of each spectrum; NaN where the
        automatic window found no onset.
    b_fixed : float or None
        The fixed exponent, or None when b was fitted.
    replica_status : ndarray of object of shape (n_replicas, n_spectra)
        "ok" or why that replica's fit failed. None (when constructing by hand)
        derives "ok" / "fit_failed" from ``e_bg``.
    status : ndarray of object of shape (n_spectra,)
        "ok" or why the spectrum's values are NaN. None derives it from
        ``replica_status``; a given status other than "ok" (e.g. a window that
        holds no onset) overrides the replicas.
    pedestal : ndarray of shape (n_replicas, n_spectra, 2), default=None
        Fitted pedestal ``c0 + c1 (E - e_min) / (e_max - e_min)`` in counts
        (zeros where not modelled, NaN where the fit failed).
    background : {None, "constant", "linear"}
        The pedestal model used.
    p_indirect : ndarray of shape (n_spectra,), default=None
        Calibrated probability that the data prefer an indirect gap (b=1.5)
        over a direct one (b=0.5); see :func:`fit_band_gap`.
    min_replica_fraction : float, default=0.8
        Fraction of ok replicas a spectrum needs for its medians and bands.
    fraction_ok : ndarray of shape (n_spectra,)
        Fraction of the replicas whose fit is ok.
    e_bg_median, b_median : ndarray of shape (n_spectra,)
        Medians over the ok replicas; NaN where ``status`` is not "ok".
    e_bg_band, b_band : ndarray of shape (2, n_spectra)
        68% band over the ok replicas: ``band[0]`` the 16th, ``band[1]`` the
        84th percentile (:func:`~sklearn_zlp.physics.summarize`'s quantiles).
    e_bg_pooled_median : float
        Median over the ok replicas of all ok spectra.
    e_bg_pooled_band : ndarray of shape (2,)
        68% band over the same values, (lower, upper).
    fraction_indirect : ndarray of shape (n_spectra,)
        Fraction of replicas whose b=1.5 fit has the lower chi^2 (the rest
        prefer b=0.5), among those where both fits have a chi^2. Not a
        probability: see ``p_indirect``.
    preferred : list of str
        "indirect" where ``p_indirect >= 0.84``, "direct" where it is at most
        0.16, "undetermined" in between or where it is NaN (``p_indirect``
        None: from ``fraction_indirect`` with the same levels).
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
    replica_status: np.ndarray | None = None
    status: np.ndarray | None = None
    pedestal: np.ndarray | None = None
    background: str | None = None
    p_indirect: np.ndarray | None = None
    min_replica_fraction: float = 0.8
    fraction_ok: np.ndarray = field(init=False)
    e_bg_median: np.ndarray = field(init=False)
    e_bg_band: np.ndarray = field(init=False)
    b_median: np.ndarray = field(init=False)
    b_band: np.ndarray = field(init=False)
    e_bg_pooled_median: float = field(init=False)
    e_bg_pooled_band: np.ndarray = field(init=False)
    fraction_indirect: np.ndarray = field(init=False)
    preferred: list = field(init=False)

    def __post_init__(self):
        shape = np.shape(self.e_bg)
        if self.replica_status is None:
            self.replica_status = status_array(shape)
            self.replica_status[~np.isfinite(self.e_bg)] = FIT_FAILED
        ok = self.replica_status == OK
        # a failed replica's values are NaN whatever the caller passed
        for name in ("e_bg", "b", "amplitude", "chi2"):
            setattr(self, name, np.where(ok, getattr(self, name), np.nan))
        if self.pedestal is None:
            self.pedestal = np.where(ok[..., None], 0.0, np.nan) * np.ones(shape + (2,))
        self.fraction_ok = ok.mean(axis=0)
        given = self.status
        self.status = status_array(shape[1])
        for j in range(shape[1]):
            if given is not None and given[j] != OK:
                self.status[j] = given[j]
            elif self.fraction_ok[j] < self.min_replica_fraction:
                self.status[j] = _dominant_failure(self.replica_status[:, j])
        good = ok & (self.status == OK)[None, :]
        e_bg = np.where(good, self.e_bg, np.nan)
        b = np.where(good, self.b, np.nan)
        self.e_bg_median = replica_median(e_bg, nan_policy="omit")
        self.e_bg_band = replica_band(e_bg, nan_policy="omit")
        self.b_median = replica_median(b, nan_policy="omit")
        self.b_band = replica_band(b, nan_policy="omit")
        pooled = np.reshape(e_bg, -1)
        self.e_bg_pooled_median = float(replica_median(pooled, nan_policy="omit"))
        self.e_bg_pooled_band = replica_band(pooled, nan_policy="omit")
        both = np.isfinite(self.chi2_direct) & np.isfinite(self.chi2_indirect)
        indirect = both & (self.chi2_indirect < self.chi2_direct)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.fraction_indirect = indirect.sum(axis=0) / both.sum(axis=0)
        if self.p_indirect is not None:
            # nothing to classify where the onset itself failed
            self.p_indirect = np.where(self.status == OK, self.p_indirect, np.nan)
        p = self.fraction_indirect if self.p_indirect is None else self.p_indirect
        self.preferred = [_preference(v) for v in p]

    def summary(self):
        """A table of every spectrum's E_bg, b, preference and status, for a person."""
        lines = [
            f"{'spectrum':>8} {'E_bg (eV) [68%]':>22} {'b [68%]':>18} "
            f"{'p_indirect':>10} {'ok':>5}  status"
        ]
        p = self.fraction_indirect if self.p_indirect is None else self.p_indirect
        for j in range(len(self.status)):
            lo, hi = self.e_bg_band[:, j]
            blo, bhi = self.b_band[:, j]
            lines.append(
                f"{j:>8} {self.e_bg_median[j]:>7.3f} [{lo:6.3f}, {hi:6.3f}] "
                f"{self.b_median[j]:>5.2f} [{blo:4.2f}, {bhi:4.2f}] {p[j]:>10.2f} "
                f"{self.fraction_ok[j]:>5.2f}  {self.status[j]}"
            )
        return "\n".join(lines)


def _dominant_failure(statuses):
    """The most common non-ok status when it covers half the replicas or more."""
    failures = Counter(s for s in statuses if s != OK)
    if not failures:
        return TOO_FEW_REPLICAS
    name, count = failures.most_common(1)[0]
    return name if count >= 0.5 * len(statuses) else TOO_FEW_REPLICAS


def _preference(p):
    if not np.isfinite(p):
        return "undetermined"
    if p >= _PREFERENCE_LEVEL:
        return "indirect"
    if p <= 1.0 - _PREFERENCE_LEVEL:
        return "direct"
    return "undetermined"
