"""Put every spectrum's zero-loss maximum at 0 eV on one common energy axis."""

import warnings
from numbers import Real

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._status import OK
from .._validation import (
    check_energy_axis,
    check_spectra,
    energy_axis_or_channels,
    validate_spectra_data,
)
from ..io._model_mixin import ModelFileMixin
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._transaction import transactional_fit
from ._peak import ZLP_AMBIGUOUS, fwhm_of_validated, locate_zlp

# fwhm_of_validated is imported from here by the subtraction module.
__all__ = ["ZeroLossAligner", "find_zlp_position", "fwhm_of_validated", "zlp_fwhm"]

_METHODS = ("split", "spline", "parabola")
_MISSING = ("raise", "nan")
# Fewest channels a maximum can be located in: the highest one and a neighbour
# on each side.
_MIN_CHANNELS = 3
# A channel within this fraction of the dispersion of 0 eV is the 0 eV channel
# (axes built with linspace put it there up to rounding).
_ZERO_CHANNEL = 1e-6


def find_zlp_position(
    spectra,
    energy_axis,
    *,
    method="split",
    search_range=None,
    missing="raise",
    return_status=False,
):
    """Locate each spectrum's zero-loss peak with sub-channel precision.

    The ZLP is the lowest-energy peak that stands out clearly, not the highest
    one: in thick specimens the plasmon can outgrow a broad ZLP, and aligning on
    it would put the plasmon at 0 eV. A clear peak stands at least 5% of the
    highest one above the spectrum's minimum and falls on both sides by at least
    a quarter of its height, on a copy despiked (median of 3 channels) and
    smoothed over 1 channel. If the peak found carries strong intensity on its
    low-energy side (more, by a quarter of its height, than the mirror-image
    point of its high-energy side), the ZLP may be merged into it as a shoulder
    and the spectrum's ZLP is ambiguous: an error, or NaN with ``missing="nan"``.

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
        (low, high) in eV: only look for the ZLP in this window. None searches
        the whole axis.
    missing : {"raise", "nan"}, default="raise"
        What to do for a spectrum without a zero-loss peak in the search window
        (its maximum lies on the window's edge) or whose ZLP is ambiguous: raise
        a ValueError that says which, or return NaN for it.
    return_status : bool, default=False
        Also return each spectrum's status: ``"ok"``, ``"zlp_not_found"`` or
        ``"zlp_ambiguous"`` (see :func:`sklearn_zlp.describe_status`).

    Returns
    -------
    positions : ndarray of shape (n_spectra,)
        Energy in eV of each spectrum's ZLP maximum on ``energy_axis``.
    status : ndarray of object of shape (n_spectra,)
        Only with ``return_status=True``.

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
    return _find_positions(
        X, energy, method, _check_search_range(search_range), missing, return_status
    )


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


def _find_positions(spectra, energy_axis, method, search_range, missing, status=False):
    """:func:`find_zlp_position` on validated float64 arrays.

    With ``status=True`` also returns each spectrum's status ("ok",
    "zlp_not_found", "zlp_ambiguous"); ``missing="raise"`` raises for the first
    spectrum that is not ok, ``"nan"`` gives it NaN.
    """
    window = None
    if search_range is not None:
        low, high = search_range
        inside = np.flatnonzero((energy_axis >= low) & (energy_axis <= high))
        if inside.size < 3:
            raise ValueError(
                f"search_range={search_range!r} eV holds {int(inside.size)} channels of "
                f"the axis [{energy_axis[0]:.4g}, {energy_axis[-1]:.4g}] eV; widen it to "
                "at least 3 channels around the zero-loss peak."
            )
        window = (int(inside[0]), int(inside[-1]))
    positions, peaks = locate_zlp(spectra, energy_axis, method, window)
    if missing == "raise":
        bad = np.flatnonzero(peaks.status != OK)
        if bad.size:
            raise ValueError(zlp_error(bad[0], peaks, spectra, energy_axis, window))
    return (positions, peaks.status) if status else positions


def zlp_error(i, peaks, spectra, energy_axis, window=None):
    """The message for spectrum ``i`` whose ZLP was not found or is ambiguous."""
    if peaks.status[i] == ZLP_AMBIGUOUS:
        e_peak = energy_axis[peaks.channel[i]]
        e_low = energy_axis[peaks.shoulder[i]]
        return (
            f"spectrum {i}: its zero-loss peak cannot be told from an inelastic peak: "
            f"the lowest-energy clear peak, at {e_peak:.4g} eV, has strong intensity on "
            f"its low-energy side (at {e_low:.4g} eV), like a plasmon with the ZLP "
            "merged into it as a shoulder, so aligning on it could put a plasmon at "
            "0 eV. Set search_range to a window around the ZLP (e.g. "
            f"({e_low - 1.0:.3g}, {e_low + 1.0:.3g})), or check the spectrum."
        )
    first = 0 if window is None else window[0]
    last = energy_axis.size - 1 if window is None else window[1]
    top = first + int(np.argmax(spectra[i, first : last + 1]))
    if top in (first, last):
        where = (
            f"its maximum in the search window lies on the window's edge "
            f"({energy_axis[top]:.4g} eV)"
        )
    else:
        where = "no peak in the search window stands out from the noise"
    return (
        f"spectrum {i}: {where}, so no zero-loss peak was found; check that the "
        "spectrum contains the ZLP, or set search_range to a window around it."
    )


def _shift_rows(spectra, shifts_in_channels):
    """Resample each row at ``channel + shift`` with cubic B-spline interpolation."""
    out = np.empty_like(spectra)
    for i, (row, shift) in enumerate(zip(spectra, shifts_in_channels, strict=True)):
        # ndimage.shift moves content by +s; sampling at j + s means shifting by -s.
        out[i] = ndimage.shift(row, -shift, order=3, mode="nearest", prefilter=True)
    return out


class ZeroLossAligner(ModelFileMixin, TransformerMixin, BaseEstimator):
    """Put each spectrum's zero-loss maximum at 0 eV on one common energy axis.

    The ZLP maximum of every spectrum is located with sub-channel precision
    (:func:`~sklearn_zlp.preprocessing.find_zlp_position`: the lowest-energy
    clear peak, not the highest one, so a plasmon that outgrows a broad ZLP in a
    thick specimen is not moved to 0 eV; a spectrum whose ZLP cannot be told
    from a plasmon is refused, see ``missing_zlp``); each spectrum is resampled
    (cubic B-spline) so that its maximum falls on 0 eV of the output axis
    :attr:`energy_axis_` (within 0.2 channel: the maximum of the resampled peak
    is located again), which keeps the energy-gain side (E < 0). The output axis has the input's dispersion and channel count, and one
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
        What to do with a spectrum that has no zero-loss peak inside the search
        window (e.g. a dead pixel of a spectral image) or one that cannot be told
        from an inelastic peak: raise a ValueError naming it, or move it like the
        median training spectrum, with or without a warning (its status is in
        :attr:`zlp_status_`).
    max_shift : float, default=None
        Largest shift (units of ``energy_axis``) allowed between a spectrum's
        maximum and the median maximum of the training spectra; beyond it
        ``transform`` raises, because the spectrum probably has no ZLP at the
        expected place. None allows any shift.

    Attributes
    ----------
    energy_axis_ : ndarray of shape (n_channels,)
        Common output axis: the input axis itself when one of its channels sits
        at 0 eV (so that later steps given the same ``energy_axis`` read the
        aligned spectra right), else the input axis translated so that its
        channel nearest the median ZLP position of the training spectra sits at
        exactly 0 eV.
    zlp_positions_ : ndarray of shape (n_spectra,)
        ZLP maxima of the training spectra on the input axis, in eV (the
        median of the others where a ZLP was not found, with ``missing_zlp``
        "warn" or "ignore").
    zlp_status_ : ndarray of object of shape (n_spectra,)
        ``"ok"``, ``"zlp_not_found"`` (no peak inside the search window) or
        ``"zlp_ambiguous"`` (a peak with strong intensity on its low-energy side,
        like a plasmon with the ZLP merged into it) for each training spectrum.
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
        """ZLP positions and statuses; lost ones (not ok) at ``reference``."""
        missing = "raise" if self.missing_zlp == "raise" else "nan"
        positions, status = _find_positions(
            X,
            energy,
            self.method,
            _check_search_range(self.search_range),
            missing,
            status=True,
        )
        lost = np.isnan(positions)
        if lost.any():
            if self.missing_zlp == "warn":
                ambiguous = int(np.sum(status == ZLP_AMBIGUOUS))
                warnings.warn(
                    f"{int(lost.sum())} spectra (first: {np.flatnonzero(lost)[:5].tolist()}) "
                    f"have no zero-loss peak inside the search window, or ({ambiguous} "
                    "of them) one that cannot be told from an inelastic peak, and are "
                    "moved like the median spectrum; set search_range around the ZLP "
                    "if this is wrong.",
                    UserWarning,
                    stacklevel=3,
                )
            if reference is None:
                reference = np.median(positions[~lost]) if (~lost).any() else 0.0
            positions[lost] = reference
        return positions, status

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
        self.zlp_positions_, self.zlp_status_ = self._positions(X, energy)
        reference = float(np.median(self.zlp_positions_))
        self._reference_ = reference
        at_zero = np.flatnonzero(np.abs(energy) <= _ZERO_CHANNEL * self.dispersion_)
        if at_zero.size:
            # The input axis has a channel at 0 eV: keep it, so that later steps of
            # a pipeline given the same energy_axis read the aligned spectra right
            # (on a translated axis they would sit a channel or more off 0 eV).
            self.energy_axis_ = energy.copy()
            self.energy_axis_[at_zero[0]] = 0.0
        else:
            # Translate the input axis so that its channel nearest the reference
            # sits at exactly 0: the output keeps the input's channel grid.
            nearest = int(np.argmin(np.abs(energy - reference)))
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
        positions, status = self._positions(X, energy, self._reference_)
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
        start = self._start(positions, energy)
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

    def _start(self, positions, energy):
        """Input channel (fractional) that output channel 0 of each spectrum samples."""
        # Output channel j holds energy_axis_[j]; in spectrum i that energy was
        # measured at energy_axis_[j] + positions[i], i.e. at input channel
        # j + start[i].
        return (self.energy_axis_[0] + positions - energy[0]) / self.dispersion_

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
        return self._positions(X, energy, self._reference_)[0]

    def get_feature_names_out(self, input_features=None):
        """Names of the output channels: their energies on :attr:`energy_axis_`."""
        check_is_fitted(self)
        return np.asarray([f"E={e:.6g}" for e in self.energy_axis_], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def zlp_fwhm(spectra, energy_axis):
    """Full width at half maximum of each spectrum's zero-loss peak, in eV.

    The ZLP is the peak :func:`find_zlp_position` finds (the lowest-energy clear
    peak, not necessarily the highest). The half-maximum crossings on both sides
    of its maximum are interpolated linearly between channels; where the ZLP is
    not found, or does not fall to half its maximum before a neighbouring peak
    rises, the width is NaN.

    Parameters
    ----------
    spectra : array-like of shape (n_spectra, n_channels) or (n_channels,)
        Intensities; any real dtype, nested lists and DataFrames work.
    energy_axis : array-like of shape (n_channels,)
        Strictly increasing energy axis in eV.

    Returns
    -------
    fwhm : ndarray of shape (n_spectra,)
        Widths in eV (NaN where not measurable).

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
