"""Put every spectrum's zero-loss maximum at 0 eV on one common energy axis."""

import warnings
from numbers import Real

import numpy as np
from scipy import ndimage, optimize
from scipy.interpolate import CubicSpline
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import (
    check_energy_axis,
    check_spectra,
    energy_axis_or_channels,
    validate_spectra_data,
)
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._transaction import transactional_fit

__all__ = ["ZeroLossAligner", "find_zlp_position"]


_METHODS = ("split", "spline", "parabola")
_MISSING = ("raise", "nan")
# Fewest channels a maximum can be located in: the highest one and a neighbour
# on each side.
_MIN_CHANNELS = 3


def find_zlp_position(
    spectra, energy_axis, *, method="split", search_range=None, missing="raise"
):
    """Locate each spectrum's zero-loss maximum with sub-channel precision.

    Parameters
    ----------
    spectra : array-like of shape (n_spectra, n_channels)
        Intensities; any real dtype, nested lists and DataFrames work.
    energy_axis : array-like of shape (n_channels,)
        Strictly increasing energy axis in eV.
    method : {"split", "spline", "parabola"}, default="split"
        ``"split"``: vertex of a parabola with different curvature on each side,
        fitted to ln I over the channels above 60% of the maximum (unbiased for
        asymmetric peaks, averages the noise of many channels);
        ``"spline"``: maximum of the cubic spline through the channels around the
        highest one;
        ``"parabola"``: vertex of the parabola through the highest channel and its
        two neighbours (the classic three-point estimate).
    search_range : tuple of float, default=None
        (low, high) in eV: only look for the maximum in this window, e.g. to skip a
        strong plasmon. None searches the whole axis.
    missing : {"raise", "nan"}, default="raise"
        What to do for a spectrum whose maximum lies on the edge of the search
        window (no peak there): raise a ValueError, or return NaN for it.

    Returns
    -------
    positions : ndarray of shape (n_spectra,)
        Energy in eV of each spectrum's maximum on ``energy_axis``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.preprocessing import find_zlp_position
    >>> energy = np.linspace(-2, 8, 401)
    >>> X = np.exp(-0.5 * ((energy - 0.013) / 0.1) ** 2)[None]
    >>> np.round(find_zlp_position(X, energy), 4)
    array([0.013])
    """
    X = check_spectra(spectra, name="spectra")
    energy = check_energy_axis(energy_axis, X.shape[1])
    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not one of {_METHODS}; pick one of them.")
    if missing not in _MISSING:
        raise ValueError(f"missing={missing!r} is not one of {_MISSING}; pick one of them.")
    if energy.size < _MIN_CHANNELS:
        raise ValueError(
            f"spectra have {energy.size} channels; locating a peak needs at least "
            f"{_MIN_CHANNELS}."
        )
    return _find_positions(X, energy, method, _check_search_range(search_range), missing)


def _check_search_range(search_range):
    """(low, high) as floats with low < high, or None."""
    if search_range is None:
        return None
    try:
        low, high = (float(v) for v in search_range)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"search_range={search_range!r} must be a pair (low, high) of energies in "
            "eV, e.g. (-1.0, 1.0) around the zero-loss peak."
        ) from exc
    if not low < high:
        raise ValueError(
            f"search_range={search_range!r} must have low < high (energies in eV)."
        )
    return low, high


def _find_positions(spectra, energy_axis, method, search_range, missing):
    """:func:`find_zlp_position` on validated float64 arrays."""
    window = np.ones(energy_axis.size, dtype=bool)
    if search_range is not None:
        low, high = search_range
        window = (energy_axis >= low) & (energy_axis <= high)
        if window.sum() < 3:
            raise ValueError(
                f"search_range={search_range!r} eV holds {int(window.sum())} channels of "
                f"the axis [{energy_axis[0]:.4g}, {energy_axis[-1]:.4g}] eV; widen it to "
                "at least 3 channels around the zero-loss peak."
            )
    candidates = np.flatnonzero(window)
    n_channels = energy_axis.size
    positions = np.empty(spectra.shape[0])
    for i, spectrum in enumerate(spectra):
        peak = candidates[np.argmax(spectrum[candidates])]
        if peak in (0, n_channels - 1) or peak in (candidates[0], candidates[-1]):
            if missing == "nan":
                positions[i] = np.nan
                continue
            raise ValueError(
                f"spectrum {i}: its maximum in the search window lies on the window's "
                f"edge ({energy_axis[peak]:.4g} eV), so no zero-loss peak was found; "
                "check that the spectrum contains the ZLP, or set search_range to a "
                "window around it."
            )
        if method == "parabola":
            y0, y1, y2 = spectrum[peak - 1 : peak + 2]
            curvature = y0 - 2.0 * y1 + y2
            offset = 0.5 * (y0 - y2) / curvature if curvature < 0 else 0.0
            step = 0.5 * (energy_axis[peak + 1] - energy_axis[peak - 1])
            positions[i] = energy_axis[peak] + offset * step
        elif method == "split":
            positions[i] = _split_parabola_vertex(energy_axis, spectrum, peak)
        else:
            lo, hi = max(peak - 4, 0), min(peak + 5, n_channels)
            spline = CubicSpline(energy_axis[lo:hi], spectrum[lo:hi])
            roots = spline.derivative().roots(extrapolate=False)
            left, right = energy_axis[peak - 1], energy_axis[peak + 1]
            roots = roots[(roots >= left) & (roots <= right)]
            positions[i] = (
                energy_axis[peak] if roots.size == 0 else roots[np.argmax(spline(roots))]
            )
    return positions


def _split_parabola_vertex(energy_axis, spectrum, peak, fraction=0.6):
    """Vertex of a split parabola fitted to ln I over the channels above ``fraction``.

    ln I of an asymmetric peak is close to a parabola with different curvatures on
    its two sides; fitting both sides and the shared vertex by least squares uses
    every channel near the top, so the estimate is unbiased for asymmetric peaks and
    averages the noise of many channels.
    """
    top = spectrum[peak]
    lo = peak
    while lo > 0 and spectrum[lo - 1] > fraction * top:
        lo -= 1
    hi = peak
    while hi < spectrum.size - 1 and spectrum[hi + 1] > fraction * top:
        hi += 1
    # At least two channels per side, or three points would fit any vertex exactly.
    lo, hi = max(min(lo, peak - 2), 0), min(max(hi, peak + 2), spectrum.size - 1)
    x = energy_axis[lo : hi + 1]
    y = np.log(np.clip(spectrum[lo : hi + 1], top * 1e-6, None))
    step = 0.5 * (energy_axis[peak + 1] - energy_axis[peak - 1])

    def cost(x0):
        d2 = (x - x0) ** 2
        design = np.column_stack([np.ones_like(x), d2 * (x < x0), d2 * (x >= x0)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        return float(np.sum((design @ coef - y) ** 2))

    result = optimize.minimize_scalar(
        cost,
        bounds=(energy_axis[peak] - step, energy_axis[peak] + step),
        method="bounded",
        options={"xatol": 1e-4 * step},
    )
    return float(result.x)


def _shift_rows(spectra, shifts_in_channels):
    """Resample each row at ``channel + shift`` with cubic B-spline interpolation."""
    out = np.empty_like(spectra)
    for i, (row, shift) in enumerate(zip(spectra, shifts_in_channels, strict=True)):
        # ndimage.shift moves content by +s; sampling at j + s means shifting by -s.
        out[i] = ndimage.shift(row, -shift, order=3, mode="nearest", prefilter=True)
    return out


class ZeroLossAligner(TransformerMixin, BaseEstimator):
    """Put each spectrum's zero-loss maximum at 0 eV on one common energy axis.

    The ZLP maximum of every spectrum is located with sub-channel precision; each
    spectrum is resampled (cubic B-spline) so that its maximum falls exactly on
    0 eV of the output axis :attr:`energy_axis_`, which keeps the energy-gain side
    (E < 0). The output axis has the input's dispersion and channel count, and one
    of its channels sits exactly at 0 eV, so downstream steps can rely on
    ``energy_axis_ == 0`` marking the peak.

    Parameters
    ----------
    energy_axis : array-like of shape (n_channels,), default=None
        Energy of every channel in eV, strictly increasing and uniform (constant
        dispersion). None numbers the channels 0, 1, ..., n_channels - 1, so
        positions are in channels (only for data without a calibration).
    method : {"split", "spline", "parabola"}, default="split"
        How the maximum is refined below one channel; see
        :func:`~sklearn_zlp.preprocessing.find_zlp_position`.
    search_range : tuple of float, default=None
        (low, high) window in the units of ``energy_axis`` in which to look for the
        ZLP maximum. None: the whole spectrum.
    missing_zlp : {"raise", "warn", "ignore"}, default="raise"
        What to do with a spectrum that has no maximum inside the search window
        (e.g. a dead pixel of a spectral image): raise a ValueError naming it, or
        leave it unshifted, with or without a warning.
    max_shift : float, default=None
        Largest shift (units of ``energy_axis``) allowed between a spectrum's
        maximum and the median maximum of the training spectra; beyond it
        ``transform`` raises, because the spectrum probably has no ZLP at the
        expected place. None allows any shift.

    Attributes
    ----------
    energy_axis_ : ndarray of shape (n_channels,)
        Common output axis: input axis translated so that the channel nearest the
        median ZLP position of the training spectra sits at exactly 0 eV.
    zlp_positions_ : ndarray of shape (n_spectra,)
        ZLP maxima of the training spectra on the input axis, in eV.
    dispersion_ : float
        Energy step in eV per channel.
    n_features_in_ : int
        Number of channels.

    See Also
    --------
    sklearn_zlp.datasets.make_synthetic_eels : spectra with known ZLP shifts.

    Notes
    -----
    Resampling takes values beyond the ends of the measured range from the nearest
    measured channel; at most ``ceil(|shift| / dispersion)`` channels at one end
    of each spectrum are affected; :meth:`zlp_positions` tells how far each
    spectrum moves.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp import ZeroLossAligner
    >>> energy = np.linspace(-2, 8, 401)
    >>> X = np.exp(-0.5 * ((energy - np.array([[0.013], [-0.04]])) / 0.1) ** 2)
    >>> aligner = ZeroLossAligner(energy_axis=energy).fit(X)
    >>> aligned = aligner.transform(X)
    >>> aligner.energy_axis_[aligned.argmax(axis=1)]
    array([0., 0.])
    >>> np.round(aligner.zlp_positions(X), 3)
    array([ 0.013, -0.04 ])
    """

    _parameter_constraints: dict = {
        "energy_axis": ["array-like", None],
        "method": [StrOptions({"split", "spline", "parabola"})],
        "search_range": [tuple, list, None],
        "missing_zlp": [StrOptions({"raise", "warn", "ignore"})],
        "max_shift": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        energy_axis=None,
        *,
        method="split",
        search_range=None,
        missing_zlp="raise",
        max_shift=None,
    ):
        self.energy_axis = energy_axis
        self.method = method
        self.search_range = search_range
        self.missing_zlp = missing_zlp
        self.max_shift = max_shift

    def _positions(self, X, energy, reference=None):
        missing = "raise" if self.missing_zlp == "raise" else "nan"
        positions = _find_positions(
            X, energy, self.method, _check_search_range(self.search_range), missing
        )
        lost = np.isnan(positions)
        if lost.any():
            if self.missing_zlp == "warn":
                warnings.warn(
                    f"{int(lost.sum())} spectra (first: {np.flatnonzero(lost)[:5].tolist()}) "
                    "have no zero-loss maximum inside the search window and are left "
                    "unshifted; set search_range around the ZLP if this is wrong.",
                    UserWarning,
                    stacklevel=3,
                )
            if reference is None:
                reference = np.median(positions[~lost]) if (~lost).any() else 0.0
            positions[lost] = reference
        return positions

    def _axis(self, n_channels):
        return energy_axis_or_channels(self.energy_axis, n_channels, uniform=True)

    def _validated(self, X):
        """X and the input axis, validated once for a method of a fitted aligner."""
        check_is_fitted(self)
        X = validate_spectra_data(self, X, reset=False)
        return X, self._axis(X.shape[1])

    @transactional_fit
    def fit(self, X, y=None):
        """Learn the common output axis from the training spectra.

        A fit that fails or is interrupted leaves the aligner as it was.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Spectra, one per row, on ``energy_axis``; any real dtype, nested
            lists and DataFrames work.
        y : None
            Ignored.

        Returns
        -------
        self : ZeroLossAligner
            Fitted aligner.
        """
        self._validate_params()
        X = validate_spectra_data(self, X, reset=True, min_channels=_MIN_CHANNELS)
        energy = self._axis(X.shape[1])
        self.dispersion_ = float((energy[-1] - energy[0]) / (energy.size - 1))
        self.zlp_positions_ = self._positions(X, energy)
        reference = float(np.median(self.zlp_positions_))
        # Translate the input axis so that its channel nearest the reference sits at
        # exactly 0: the output keeps the input's channel grid, shifted sub-channel.
        nearest = int(np.argmin(np.abs(energy - reference)))
        self._reference_ = reference
        self.energy_axis_ = energy - energy[nearest]
        return self

    def transform(self, X):
        """Resample each spectrum so that its ZLP maximum sits at 0 eV.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Spectra on ``energy_axis``.

        Returns
        -------
        X_aligned : ndarray of shape (n_spectra, n_channels)
            Spectra on :attr:`energy_axis_`.
        """
        X, energy = self._validated(X)
        positions = self._positions(X, energy, self._reference_)
        if self.max_shift is not None:
            deviation = np.abs(positions - self._reference_)
            if np.any(deviation > self.max_shift):
                bad = np.flatnonzero(deviation > self.max_shift)
                raise ValueError(
                    f"spectra {bad[:5].tolist()} have their maximum "
                    f"{deviation[bad[0]]:.4g} from the training spectra's median ZLP "
                    f"position, more than max_shift={self.max_shift}; check that they "
                    "contain the ZLP, or raise max_shift."
                )
        # Output channel j holds energy_axis_[j]; in spectrum i that energy was
        # measured at energy_axis_[j] + positions[i], i.e. at input channel
        # j + start[i].
        start = (self.energy_axis_[0] + positions - energy[0]) / self.dispersion_
        n_edge = np.ceil(np.abs(start)).astype(int)
        if np.any(n_edge > X.shape[1] // 4):
            warnings.warn(
                f"{int(np.sum(n_edge > X.shape[1] // 4))} spectra moved by more than a "
                "quarter of the axis; their ends are filled with edge values. Check "
                "search_range and that the ZLP is where you expect.",
                UserWarning,
                stacklevel=2,
            )
        return _shift_rows(X, start)

    def zlp_positions(self, X):
        """ZLP maximum of each spectrum on the input axis, in eV.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Spectra on ``energy_axis``.

        Returns
        -------
        positions : ndarray of shape (n_spectra,)
            The shift that :meth:`transform` removes from each spectrum.
        """
        X, energy = self._validated(X)
        return self._positions(X, energy, self._reference_)

    def get_feature_names_out(self, input_features=None):
        """Names of the output channels: their energies on :attr:`energy_axis_`."""
        check_is_fitted(self)
        return np.asarray([f"E={e:.6g}" for e in self.energy_axis_], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def zlp_fwhm(spectra, energy_axis):
    """Full width at half maximum of each spectrum's highest peak, in eV.

    The half-maximum crossings on both sides of the maximum are interpolated
    linearly between channels.

    Parameters
    ----------
    spectra : array-like of shape (n_spectra, n_channels) or (n_channels,)
        Intensities; any real dtype, nested lists and DataFrames work.
    energy_axis : array-like of shape (n_channels,)
        Strictly increasing energy axis in eV.

    Returns
    -------
    fwhm : ndarray of shape (n_spectra,)
        Widths in eV.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.preprocessing import zlp_fwhm
    >>> e = np.linspace(-2, 2, 4001)
    >>> float(np.round(zlp_fwhm(np.exp(-0.5 * (e / 0.1) ** 2)[None], e)[0], 4))
    0.2355
    """
    spectra = check_spectra(spectra, name="spectra", allow_nd=True)
    if spectra.ndim == 1:
        spectra = spectra[None]
    elif spectra.ndim > 2:
        raise ValueError(
            f"spectra must have shape (n_spectra, n_channels), got {spectra.shape}; "
            "flatten navigation axes with spectra.reshape(-1, spectra.shape[-1])."
        )
    energy_axis = check_energy_axis(energy_axis, spectra.shape[1])
    return fwhm_of_validated(spectra, energy_axis)


def fwhm_of_validated(spectra, energy_axis):
    """:func:`zlp_fwhm` of spectra (n_spectra, n_channels) and an axis already validated.

    For callers that validated their input once at their public entry point;
    each width depends on its own spectrum only.
    """
    widths = np.empty(spectra.shape[0])
    for i, y in enumerate(spectra):
        peak = int(np.argmax(y))
        half = 0.5 * y[peak]
        below = np.flatnonzero(y[:peak] < half)
        above = np.flatnonzero(y[peak:] < half)
        if below.size == 0 or above.size == 0:
            widths[i] = np.nan
            continue
        l1 = below[-1]
        r1 = peak + above[0]
        left = np.interp(half, [y[l1], y[l1 + 1]], energy_axis[l1 : l1 + 2])
        right = np.interp(half, [y[r1], y[r1 - 1]], [energy_axis[r1], energy_axis[r1 - 1]])
        widths[i] = right - left
    return widths
