"""Training regions of the ZLP model: find dE_I and dE_II, mask or crop channels.

The networks of Roest et al. (2021) see a specimen spectrum only where the ZLP is
known: region I, -dE_I < E < dE_I, where the ZLP dominates, and region III,
E > dE_II, where the ZLP is negligible. In region II, dE_I <= E <= dE_II, ZLP and
inelastic signal overlap and the model predicts. This module estimates the two
edges from the spectra and turns them into masks.
"""

from numbers import Integral, Real

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter
from scipy.signal import savgol_filter
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import (
    check_energy_axis,
    check_spectra,
    check_zlp_at_zero,
    energy_axis_or_channels,
)
from .utils._sklearn_compat import Interval, StrOptions

__all__ = ["EnergyWindow", "ZLPRegionMask", "estimate_de1", "estimate_de2"]

# ln I is taken of max(I_smoothed, _LOG_FLOOR * max(I_smoothed)): dark-corrected
# tails are negative or zero, and a floor relative to the peak works for counts
# and for normalised intensities alike.
_LOG_FLOOR = 1e-7

_DE1_METHODS = ("derivative", "ratio", "curvature")
_DE2_METHODS = ("snr", "multiple")


# --------------------------------------------------------------------------- helpers
def _dispersion(energy):
    return float((energy[-1] - energy[0]) / (energy.size - 1))


def _smooth(spectra, energy, smoothing):
    """Gaussian smoothing along the channels; ``smoothing`` is the sigma in eV."""
    sigma = smoothing / _dispersion(energy)
    if sigma < 0.3:  # below a third of a channel the kernel is a delta
        return np.array(spectra, dtype=np.float64)
    return gaussian_filter1d(spectra, sigma, axis=-1, mode="nearest")


def _log(smoothed):
    floor = _LOG_FLOOR * np.max(smoothed, axis=-1, keepdims=True)
    floor = np.where(floor > 0, floor, np.finfo(np.float64).tiny)
    return np.log(np.maximum(smoothed, floor))


def _run_length(energy, smoothing):
    """Channels a condition must hold for to count as persistent, not noise."""
    return max(3, int(np.ceil(2.0 * smoothing / _dispersion(energy))))


def _first_persistent(condition, start, run):
    """First index >= start from which ``condition`` holds for ``run`` channels."""
    tail = condition[start:].astype(int)
    if tail.size == 0:
        return None
    run = min(run, tail.size)
    held = np.convolve(tail, np.ones(run, dtype=int), mode="valid") == run
    hits = np.flatnonzero(held)
    return start + int(hits[0]) if hits.size else None


def _check_inputs(spectra, energy_axis, name="spectra"):
    X = check_spectra(spectra, name=name)
    energy = check_energy_axis(energy_axis, X.shape[1], uniform=True)
    if energy.size < 5:
        raise ValueError(
            f"{name} have {energy.size} channels; estimating region edges needs at "
            "least 5 channels on each side of the zero-loss peak."
        )
    return X, energy


def _check_vacuum(vacuum, n_channels):
    V = check_spectra(vacuum, name="vacuum")
    if V.shape[1] != n_channels:
        raise ValueError(
            f"vacuum spectra have {V.shape[1]} channels but the specimen spectra have "
            f"{n_channels}; align both onto the same energy axis (e.g. with "
            "ZeroLossAligner and the same axis) before passing vacuum."
        )
    return V


def _half_max_index(row, peak):
    """First channel beyond ``peak`` where ``row`` falls below half its maximum."""
    below = np.flatnonzero(row[peak:] < 0.5 * row[peak])
    return peak + int(below[0]) if below.size else row.size - 1


def _zero_crossing(energy, derivative, start):
    """Energy where ``derivative`` first becomes >= 0 at or after ``start`` (interpolated)."""
    hits = np.flatnonzero(derivative[start:] >= 0)
    if hits.size == 0:
        return np.nan, None
    j = start + int(hits[0])
    if j == 0 or derivative[j - 1] >= 0:
        return float(energy[j]), j
    d0, d1 = derivative[j - 1], derivative[j]
    return float(energy[j - 1] + (energy[j] - energy[j - 1]) * (-d0) / (d1 - d0)), j


# --------------------------------------------------------------------------- dE_I
def _de1_derivative(smoothed, energy):
    out = np.full(smoothed.shape[0], np.nan)
    ends = np.full(smoothed.shape[0], smoothed.shape[1] - 1)
    for i, row in enumerate(smoothed):
        peak = int(np.argmax(row))
        start = _half_max_index(row, peak)
        out[i], end = _zero_crossing(energy, np.gradient(row, energy), start)
        if end is not None:
            ends[i] = end
    return out, ends


def _steepest(log_row, energy, peak, stop, *, loglog=False):
    """Channel of the steepest fall of ln I (against E or ln E) from the half maximum."""
    start = _half_max_index(np.exp(log_row - log_row.max()), peak)
    stop = max(stop, start + 1)
    slope = np.gradient(log_row, energy)
    if loglog:
        slope = slope * np.clip(energy, 0.0, None)
    return start + int(np.argmin(slope[start:stop]))


def _de1_curvature(smoothed, energy):
    _, ends = _de1_derivative(smoothed, energy)
    log_s = _log(smoothed)
    out = np.full(smoothed.shape[0], np.nan)
    for i, row in enumerate(log_s):
        peak = int(np.argmax(row))
        end = int(ends[i])
        start = _steepest(row, energy, peak, end, loglog=True)
        if end - start < 3 or energy[start] <= 0:
            continue
        # Kneedle (Satopaa et al. 2011) on ln I against ln E: a power-law ZLP tail is
        # a straight line there, so the knee marks where the tail stops being a
        # power law because inelastic intensity comes in.
        x = np.log(energy[start : end + 1])
        y = row[start : end + 1]
        xs = (x - x[0]) / (x[-1] - x[0])
        span = y[0] - y[-1]
        if not span > 0:
            continue
        ys = (y - y[-1]) / span
        out[i] = float(energy[start + int(np.argmax((1.0 - xs) - ys))])
    return out


def _de1_ratio(smoothed, energy, vacuum, smoothing, tolerance):
    v_smooth = _smooth(vacuum.mean(axis=0), energy, smoothing)
    v_log = _log(v_smooth[None])[0]
    v_slope = np.gradient(v_log, energy)
    v_peak = int(np.argmax(v_log))
    # The vacuum's core edge: its steepest fall while above 1e-4 of its maximum.
    above = np.flatnonzero(v_smooth[v_peak:] < 1e-4 * v_smooth[v_peak])
    stop = v_peak + int(above[0]) if above.size else energy.size - 1
    start = _steepest(v_log, energy, v_peak, stop)
    run = _run_length(energy, smoothing)
    s_slope = np.gradient(_log(smoothed), energy, axis=1)
    out = np.full(smoothed.shape[0], np.nan)
    for i, slope in enumerate(s_slope):
        # One-sided: inelastic intensity makes the specimen fall *less* steeply than
        # the vacuum ZLP; a specimen that falls faster is a broader/narrower core,
        # not an inelastic onset.
        deviates = (slope - v_slope) > tolerance * np.abs(v_slope)
        j = _first_persistent(deviates, start, run)
        if j is not None:
            out[i] = float(energy[j])
    return out


def estimate_de1(
    spectra, energy_axis, *, method="auto", vacuum=None, smoothing=0.1, tolerance=0.2
):
    """Estimate dE_I, the upper edge of the ZLP-dominated region I, per spectrum.

    Parameters
    ----------
    spectra : array-like of shape (n_spectra, n_channels)
        Specimen spectra aligned so that the ZLP maximum sits at 0 eV (see
        :class:`~sklearn_zlp.ZeroLossAligner`). Negative (dark-corrected) values
        are allowed.
    energy_axis : array-like of shape (n_channels,)
        Uniform, strictly increasing energy axis in eV.
    method : {"auto", "derivative", "ratio", "curvature"}, default="auto"
        ``"derivative"``: first zero crossing, beyond the ZLP's half maximum, of
        the smoothed dI/dE: where the spectrum stops falling because inelastic
        intensity rises. ``"ratio"``: first energy beyond the vacuum ZLP's core
        (its steepest fall) from which d ln I/dE of the specimen exceeds that of
        the mean vacuum spectrum by more than ``tolerance`` times its magnitude
        (the specimen falls less steeply) for at least ``2 * smoothing`` eV (and 3
        channels); needs ``vacuum``. ``"curvature"``: the knee (kneedle: largest
        distance below the chord) of smoothed ln I against ln E between the
        steepest fall of ln I and the derivative zero crossing. ``"auto"``:
        ``"ratio"`` when ``vacuum`` is given, otherwise ``"curvature"``; see Notes.
    vacuum : array-like of shape (n_vacuum, n_channels), default=None
        Vacuum (ZLP-only) spectra on the same aligned axis.
    smoothing : float, default=0.1
        Standard deviation in eV of the Gaussian kernel that smooths the spectra
        before differentiating.
    tolerance : float, default=0.2
        Relative deviation of the log-derivatives for ``"ratio"``.

    Returns
    -------
    de1 : ndarray of shape (n_spectra,)
        dE_I in eV; NaN for a spectrum where the method finds no edge (no zero
        crossing, or a specimen that never deviates from the vacuum).

    Notes
    -----
    Measured on the six aligned WS2 spectra of :func:`~sklearn_zlp.datasets.load_ws2`
    (published dE_I: 1.7-1.9 eV, band gap 1.6 eV), with the defaults:
    ``"ratio"`` 1.78-1.98 eV, ``"curvature"`` 1.70-2.03 eV, ``"derivative"``
    2.48-2.73 eV. The derivative crosses zero only where the inelastic intensity
    already equals the ZLP's (on synthetic spectra up to ~1x the ZLP at a
    0.6 eV wide ZLP), too far out for region I, hence ``"auto"`` uses the
    curvature knee without vacuum spectra: a power-law ZLP tail is a straight
    line in ln I against ln E, so its knee marks where the spectrum leaves it.
    The knee is conservative where the ZLP itself bends sharply from core to
    tail: on the synthetic spectra of
    :func:`~sklearn_zlp.datasets.make_synthetic_eels` (Gaussian core plus
    power-law tails) it finds that bend, about 2x the FWHM, well below the band
    gap. ``"ratio"`` tracks the gap there (dE_I 0.1-0.4 eV below it, inelastic
    intensity below 15% of the ZLP's); give vacuum spectra where you have them.

    References
    ----------
    L. I. Roest et al., Ultramicroscopy 222 (2021) 113202 (training regions).
    V. Satopaa et al., "Finding a 'Kneedle' in a haystack", ICDCS Workshops (2011).

    Examples
    --------
    >>> from sklearn_zlp.datasets import make_synthetic_eels
    >>> from sklearn_zlp._regions import estimate_de1
    >>> data = make_synthetic_eels(2, e_bg=2.0, random_state=0)
    >>> de1 = estimate_de1(data.spectra, data.energy, method="curvature")
    >>> bool(((de1 > 0.5) & (de1 < 2.5)).all())
    True
    """
    X, energy = _check_inputs(spectra, energy_axis)
    methods = ("auto", *_DE1_METHODS)
    if method not in methods:
        raise ValueError(f"method={method!r} is not one of {methods}; pick one of them.")
    if method == "auto":
        method = "ratio" if vacuum is not None else "curvature"
    if not (isinstance(smoothing, Real) and smoothing >= 0):
        raise ValueError(f"smoothing={smoothing!r} must be a float >= 0 (eV).")
    if not (isinstance(tolerance, Real) and tolerance > 0):
        raise ValueError(f"tolerance={tolerance!r} must be a float > 0.")
    check_zlp_at_zero(X, energy)
    smoothed = _smooth(X, energy, smoothing)
    if method == "derivative":
        return _de1_derivative(smoothed, energy)[0]
    if method == "curvature":
        return _de1_curvature(smoothed, energy)
    if vacuum is None:
        raise ValueError(
            'method="ratio" compares with vacuum spectra; pass vacuum=... (aligned '
            'like the specimen) or use method="curvature".'
        )
    V = _check_vacuum(vacuum, X.shape[1])
    check_zlp_at_zero(V, energy, name="vacuum spectra")
    return _de1_ratio(smoothed, energy, V, smoothing, tolerance)


# --------------------------------------------------------------------------- dE_II
def _local_noise(X, energy, smoothing):
    """Noise per channel: robust local scatter of the spectrum about a local fit.

    The residual from a running quadratic (Savitzky-Golay over ``4 * smoothing``)
    follows the steep ZLP tail without a curvature bias; its running median
    absolute value over ``10 * smoothing`` (/ 0.6745, the Gaussian MAD factor)
    ignores the ZLP core. Measured from the data, it holds whatever the detector
    adds (read noise, gain; the WS2 spectra scatter ~2x more than sqrt(I)) and
    needs no units.
    """
    step = _dispersion(energy)
    half = max(2, int(np.ceil(2.0 * smoothing / step)))
    residual = X - savgol_filter(X, 2 * half + 1, 2, axis=-1, mode="interp")
    size = 2 * max(2, int(np.ceil(5.0 * smoothing / step))) + 1
    return median_filter(np.abs(residual), size=(1, size), mode="nearest") / 0.6745


def _de2_snr(X, smoothed, energy, de1, vacuum, smoothing):
    run = _run_length(energy, smoothing)
    out = np.full(X.shape[0], np.nan)
    if vacuum is not None:
        v_mean = _smooth(vacuum.mean(axis=0), energy, smoothing)
        if vacuum.shape[0] >= 2:
            v_sigma = np.sqrt(_smooth(vacuum.var(axis=0, ddof=1), energy, smoothing))
        else:
            v_sigma = None
    log_s = _log(smoothed)
    noise = _local_noise(X, energy, smoothing)
    for i in range(X.shape[0]):
        if not np.isfinite(de1[i]):
            continue
        region_i = np.abs(energy) < de1[i]
        beyond = int(np.searchsorted(energy, de1[i], side="right"))
        if vacuum is not None:
            scale = X[i, region_i].sum() / max(v_mean[region_i].sum(), 1e-300)
            zlp = scale * v_mean
            spread = v_sigma if v_sigma is not None else np.sqrt(np.maximum(v_mean, 1.0))
            sigma = np.sqrt(noise[i] ** 2 + (scale * spread) ** 2)
        else:
            # Power law ln I = c - p ln E fitted to the tail just below dE_I.
            fit = (energy >= 0.6 * de1[i]) & (energy < de1[i]) & (energy > 0)
            if fit.sum() < 3:
                continue
            p = np.polyfit(np.log(energy[fit]), log_s[i, fit], 1)
            zlp = np.zeros_like(energy)
            pos = energy > 0
            zlp[pos] = np.exp(np.polyval(p, np.log(energy[pos])))
            sigma = noise[i]
        j = _first_persistent(zlp < sigma, beyond, run)
        if j is not None:
            out[i] = float(energy[j])
    return out


def estimate_de2(
    spectra,
    energy_axis,
    *,
    method="auto",
    de1=None,
    vacuum=None,
    factor=3.0,
    smoothing=0.1,
    tolerance=0.2,
):
    """Estimate dE_II, the lower edge of the ZLP-free region III, per spectrum.

    Parameters
    ----------
    spectra : array-like of shape (n_spectra, n_channels)
        Specimen spectra aligned so that the ZLP maximum sits at 0 eV.
    energy_axis : array-like of shape (n_channels,)
        Uniform, strictly increasing energy axis in eV.
    method : {"auto", "snr", "multiple"}, default="auto"
        ``"snr"``: first energy beyond dE_I from which the ZLP's signal-to-noise
        ratio I_ZLP / sigma stays below 1 for ``2 * smoothing`` eV (and 3
        channels). sigma always contains the specimen's own noise per channel,
        measured from the data (robust local scatter about a running quadratic,
        so it includes read noise and detector gain and needs no units). With
        ``vacuum``, I_ZLP is the smoothed mean vacuum spectrum scaled to the
        specimen's intensity in region I (-dE_I < E < dE_I), and the scaled
        spread (standard deviation) of the vacuum spectra, or their counting noise
        ``sqrt(max(I, 1))`` with a single one, is added to sigma in quadrature:
        the ZLP is negligible where it is below the uncertainty of a specimen
        channel. Without, I_ZLP is a power law ``A E^-p`` fitted to the
        specimen's smoothed ln I over ``0.6 dE_I <= E < dE_I`` and extrapolated.
        ``"multiple"``: ``factor * dE_I``. ``"auto"``: ``"snr"`` for each
        spectrum where it finds a crossing, ``"multiple"`` for the rest.
    de1 : float or array-like of shape (n_spectra,), default=None
        dE_I in eV; None estimates it with :func:`estimate_de1` (``"auto"``,
        with ``vacuum``, ``smoothing`` and ``tolerance``).
    vacuum : array-like of shape (n_vacuum, n_channels), default=None
        Vacuum spectra on the same aligned axis.
    factor : float, default=3.0
        dE_II / dE_I for ``"multiple"``.
    smoothing : float, default=0.1
        Gaussian smoothing sigma in eV.
    tolerance : float, default=0.2
        Passed to :func:`estimate_de1` when ``de1`` is None.

    Returns
    -------
    de2 : ndarray of shape (n_spectra,)
        dE_II in eV, always above dE_I; NaN where ``method="snr"`` finds no
        crossing or dE_I is NaN.

    Notes
    -----
    Measured on the six aligned WS2 spectra with the defaults and automatic
    dE_I: with the vacuum spectra 5.95-7.25 eV, without them 4.6-6.0 eV. The WS2
    specimen spectra scatter about 2.4x more than sqrt(I) (~120 counts at
    3-10 eV), which is why the crossing lies below the 8-12 eV where the vacuum
    ZLP reaches sqrt(I) alone. Without vacuum spectra the power law inherits the
    quality of dE_I: fitted just above a narrow ZLP core it falls too steeply
    and dE_II comes out early; pass vacuum spectra where you have them.

    Examples
    --------
    >>> from sklearn_zlp.datasets import make_synthetic_eels
    >>> from sklearn_zlp._regions import estimate_de2
    >>> data = make_synthetic_eels(2, e_bg=2.0, random_state=0)
    >>> estimate_de2(data.spectra, data.energy, method="multiple", de1=1.5)
    array([4.5, 4.5])
    """
    X, energy = _check_inputs(spectra, energy_axis)
    methods = ("auto", *_DE2_METHODS)
    if method not in methods:
        raise ValueError(f"method={method!r} is not one of {methods}; pick one of them.")
    if not (isinstance(factor, Real) and factor > 1):
        raise ValueError(f"factor={factor!r} must be a float > 1, so that dE_II > dE_I.")
    if de1 is None:
        de1 = estimate_de1(
            X, energy, vacuum=vacuum, smoothing=smoothing, tolerance=tolerance
        )
    de1 = np.broadcast_to(np.asarray(de1, dtype=np.float64), (X.shape[0],)).copy()
    if method == "multiple":
        return factor * de1
    check_zlp_at_zero(X, energy)
    V = None
    if vacuum is not None:
        V = _check_vacuum(vacuum, X.shape[1])
        check_zlp_at_zero(V, energy, name="vacuum spectra")
    smoothed = _smooth(X, energy, smoothing)
    de2 = _de2_snr(X, smoothed, energy, de1, V, smoothing)
    if method == "auto":
        de2 = np.where(np.isnan(de2), factor * de1, de2)
    return de2


# --------------------------------------------------------------------------- estimators
def _energy_names(energy):
    return np.asarray([f"E={e:.6g}" for e in energy], dtype=object)


class ZLPRegionMask(TransformerMixin, BaseEstimator):
    """Learn the training regions dE_I, dE_II and mask region II of aligned spectra.

    Region I, -dE_I < E < dE_I, is where the ZLP dominates; region II,
    dE_I <= E <= dE_II, where ZLP and inelastic signal overlap (the model only
    predicts there); region III, E > dE_II, where the ZLP is negligible.
    :meth:`transform` sets region II and the far gain side (E <= -dE_I) to
    ``fill_value``, so that only the training channels (regions I and III) remain.
    Each edge is estimated from the spectra (:func:`estimate_de1`,
    :func:`estimate_de2`) or set by the user, then multiplied by its shift.

    Parameters
    ----------
    energy_axis : array-like of shape (n_channels,), default=None
        Aligned energy axis in eV with the ZLP maximum at 0 eV (e.g.
        ``ZeroLossAligner.energy_axis_``); automatic edges need a uniform axis.
        None numbers the channels 0, 1, ..., so user-given edges are in channels
        (only for data without a calibration).
    de1 : "auto" or float, default="auto"
        dE_I in eV, or "auto" to estimate it with ``de1_method``.
    de2 : "auto" or float, default="auto"
        dE_II in eV, or "auto" to estimate it with ``de2_method`` from the
        (unshifted) dE_I.
    de1_method : {"auto", "derivative", "ratio", "curvature"}, default="auto"
        See :func:`estimate_de1`; "auto" is "ratio" with ``vacuum``, otherwise
        "curvature".
    de2_method : {"auto", "snr", "multiple"}, default="auto"
        See :func:`estimate_de2`.
    de1_shift : float, default=1.0
        Factor applied to dE_I, automatic or user-given (the parameter to tune).
    de2_shift : float, default=1.0
        Factor applied to dE_II, automatic or user-given.
    de2_factor : float, default=3.0
        dE_II / dE_I for ``de2_method="multiple"`` (and the "auto" fallback).
    per : {"all", "spectrum"}, default="all"
        "all": every spectrum gets the median edges of the training spectra,
        :attr:`de1_all_` and :attr:`de2_all_`. "spectrum": each spectrum passed
        to :meth:`transform` gets its own edges, estimated the same way
        (user-given floats are the same for all).
    vacuum : array-like of shape (n_vacuum, n_channels), default=None
        Vacuum spectra on the same aligned axis, for the "ratio" and "snr"
        methods.
    smoothing : float, default=0.1
        Gaussian smoothing sigma in eV of the edge estimates.
    tolerance : float, default=0.2
        Relative deviation of the "ratio" method.
    fill_value : float, default=np.nan
        Value written into the masked channels.
    min_channels : int, default=5
        Fewest channels region I and region III must each hold.

    Attributes
    ----------
    de1_ : ndarray of shape (n_spectra,)
        dE_I in eV of each training spectrum (shift applied).
    de2_ : ndarray of shape (n_spectra,)
        dE_II in eV of each training spectrum (shift applied).
    de1_all_ : float
        Median of :attr:`de1_`.
    de2_all_ : float
        Median of :attr:`de2_`.
    energy_axis_ : ndarray of shape (n_channels,)
        The axis used (channel numbers when ``energy_axis`` is None).
    n_features_in_ : int
        Number of channels.

    See Also
    --------
    ZeroLossAligner : puts the ZLP maximum at 0 eV, which this step requires.
    EnergyWindow : crops channels to an energy range.

    Notes
    -----
    The edges are estimated from the unshifted values (dE_II from the unshifted
    dE_I), then each is multiplied by its shift, so the two shifts act
    independently.

    References
    ----------
    L. I. Roest, S. E. van Heijst, L. Maduro, J. Rojo, S. Conesa-Boj, "Charting
    the low-loss region in electron energy loss spectroscopy with machine
    learning", Ultramicroscopy 222 (2021) 113202.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp._regions import ZLPRegionMask
    >>> energy = np.linspace(-2, 10, 481)
    >>> X = np.exp(-0.5 * (energy / 0.2) ** 2)[None] * 1e4 + 10.0
    >>> mask = ZLPRegionMask(energy_axis=energy, de1=1.0, de2=3.0).fit(X)
    >>> Xt = mask.transform(X)
    >>> bool(np.isnan(Xt[0, (energy >= 1.0) & (energy <= 3.0)]).all())
    True
    >>> mask.edges(X)
    (array([1.]), array([3.]))
    """

    _parameter_constraints: dict = {
        "energy_axis": ["array-like", None],
        "de1": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "de2": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "de1_method": [StrOptions({"auto", *_DE1_METHODS})],
        "de2_method": [StrOptions({"auto", *_DE2_METHODS})],
        "de1_shift": [Interval(Real, 0, None, closed="neither")],
        "de2_shift": [Interval(Real, 0, None, closed="neither")],
        "de2_factor": [Interval(Real, 1, None, closed="neither")],
        "per": [StrOptions({"all", "spectrum"})],
        "vacuum": ["array-like", None],
        "smoothing": [Interval(Real, 0, None, closed="left")],
        "tolerance": [Interval(Real, 0, None, closed="neither")],
        "fill_value": [Real],
        "min_channels": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        energy_axis=None,
        *,
        de1="auto",
        de2="auto",
        de1_method="auto",
        de2_method="auto",
        de1_shift=1.0,
        de2_shift=1.0,
        de2_factor=3.0,
        per="all",
        vacuum=None,
        smoothing=0.1,
        tolerance=0.2,
        fill_value=np.nan,
        min_channels=5,
    ):
        self.energy_axis = energy_axis
        self.de1 = de1
        self.de2 = de2
        self.de1_method = de1_method
        self.de2_method = de2_method
        self.de1_shift = de1_shift
        self.de2_shift = de2_shift
        self.de2_factor = de2_factor
        self.per = per
        self.vacuum = vacuum
        self.smoothing = smoothing
        self.tolerance = tolerance
        self.fill_value = fill_value
        self.min_channels = min_channels

    def _axis(self, n_channels):
        return energy_axis_or_channels(self.energy_axis, n_channels)

    def _estimate(self, X, energy):
        """Edges of every row of X, shifts applied."""
        n = X.shape[0]
        vacuum = self._vacuum_
        if self.de1 == "auto":
            de1 = estimate_de1(
                X,
                energy,
                method=self.de1_method,
                vacuum=vacuum,
                smoothing=self.smoothing,
                tolerance=self.tolerance,
            )
            lost = np.flatnonzero(np.isnan(de1))
            if lost.size:
                raise ValueError(
                    f"spectra {lost[:5].tolist()}: de1_method={self.de1_method!r} found "
                    "no dE_I (no zero crossing, or no deviation from the vacuum "
                    "spectra); set de1 to a value in eV, or try another de1_method or "
                    "a larger smoothing."
                )
        else:
            de1 = np.full(n, float(self.de1))
        if self.de2 == "auto":
            de2 = estimate_de2(
                X,
                energy,
                method=self.de2_method,
                de1=de1,
                vacuum=vacuum,
                factor=self.de2_factor,
                smoothing=self.smoothing,
            )
            lost = np.flatnonzero(np.isnan(de2))
            if lost.size:
                raise ValueError(
                    f"spectra {lost[:5].tolist()}: de2_method={self.de2_method!r} found "
                    "no energy where the ZLP falls below the noise; set de2 to a value "
                    'in eV or use de2_method="auto" (falls back to de2_factor * dE_I).'
                )
        else:
            de2 = np.full(n, float(self.de2))
        return de1 * self.de1_shift, de2 * self.de2_shift

    def _check_edges(self, X, energy, de1, de2):
        bad = np.flatnonzero(de1 >= de2)
        if bad.size:
            raise ValueError(
                f"dE_I ({de1[bad[0]]:.4g} eV) >= dE_II ({de2[bad[0]]:.4g} eV) for spectra "
                f"{bad[:5].tolist()}: region II would be empty. Lower de1 or de1_shift, "
                "or raise de2 or de2_shift."
            )
        peaks = energy[np.argmax(X, axis=1)]
        bad = np.flatnonzero(np.abs(peaks) >= de1)
        if bad.size:
            raise ValueError(
                f"spectra {bad[:5].tolist()} have their maximum at "
                f"{peaks[bad[:5]].round(4).tolist()} eV, outside region I "
                f"(|E| < dE_I = {de1[bad[0]]:.4g} eV): the zero-loss peak must sit at "
                "0 eV. Align the spectra with ZeroLossAligner first and pass its "
                "energy_axis_."
            )
        n_one = np.sum(np.abs(energy)[None] < de1[:, None], axis=1)
        n_three = np.sum(energy[None] > de2[:, None], axis=1)
        for name, counts, edge in (("I", n_one, "de1"), ("III", n_three, "de2")):
            bad = np.flatnonzero(counts < self.min_channels)
            if bad.size:
                raise ValueError(
                    f"region {name} holds {int(counts[bad[0]])} channels for spectra "
                    f"{bad[:5].tolist()}, fewer than min_channels={self.min_channels}; "
                    f"{'raise' if name == 'I' else 'lower'} {edge} (or {edge}_shift), "
                    "use a longer energy axis, or lower min_channels."
                )

    def fit(self, X, y=None):
        """Learn dE_I and dE_II from the training spectra.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Aligned spectra on ``energy_axis``.
        y : None
            Ignored.

        Returns
        -------
        self : ZLPRegionMask
            Fitted mask.
        """
        self._validate_params()
        X = validate_data(self, X, dtype=np.float64)
        energy = self._axis(X.shape[1])
        self._vacuum_ = None
        if self.vacuum is not None:
            self._vacuum_ = _check_vacuum(self.vacuum, X.shape[1])
        de1, de2 = self._estimate(X, energy)
        self._check_edges(X, energy, de1, de2)
        self.de1_, self.de2_ = de1, de2
        self.de1_all_ = float(np.median(de1))
        self.de2_all_ = float(np.median(de2))
        self.energy_axis_ = energy
        if self.per == "all":
            self._check_edges(X, energy, *self._shared(X.shape[0]))
        return self

    def _shared(self, n):
        return np.full(n, self.de1_all_), np.full(n, self.de2_all_)

    def _validated(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X, self._axis(X.shape[1])

    def _edges(self, X, energy):
        if self.per == "all":
            de1, de2 = self._shared(X.shape[0])
        else:
            de1, de2 = self._estimate(X, energy)
        self._check_edges(X, energy, de1, de2)
        return de1, de2

    def edges(self, X):
        """dE_I and dE_II in eV for each spectrum, shifts applied.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Aligned spectra on ``energy_axis``.

        Returns
        -------
        de1 : ndarray of shape (n_spectra,)
            dE_I of each spectrum.
        de2 : ndarray of shape (n_spectra,)
            dE_II of each spectrum.
        """
        X, energy = self._validated(X)
        return self._edges(X, energy)

    def region_mask(self, X):
        """Which channels are training channels (region I or region III).

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Aligned spectra on ``energy_axis``.

        Returns
        -------
        mask : ndarray of bool of shape (n_spectra, n_channels)
            True for -dE_I < E < dE_I (region I) and E > dE_II (region III).
        """
        X, energy = self._validated(X)
        return self._mask(energy, *self._edges(X, energy))

    @staticmethod
    def _mask(energy, de1, de2):
        return (np.abs(energy)[None] < de1[:, None]) | (energy[None] > de2[:, None])

    def transform(self, X):
        """Copy of X with region II and the far gain side set to ``fill_value``.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Aligned spectra on ``energy_axis``.

        Returns
        -------
        X_masked : ndarray of shape (n_spectra, n_channels)
            Channels outside regions I and III (dE_I <= E <= dE_II, and
            E <= -dE_I) hold ``fill_value``; the input is not modified.
        """
        X, energy = self._validated(X)
        out = np.array(X, dtype=np.float64, copy=True)
        out[~self._mask(energy, *self._edges(X, energy))] = self.fill_value
        return out

    def get_feature_names_out(self, input_features=None):
        """Names of the output channels: their energies, ``"E=<eV>"``."""
        check_is_fitted(self)
        return _energy_names(self.energy_axis_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class EnergyWindow(TransformerMixin, BaseEstimator):
    """Keep the channels with ``e_min <= E <= e_max``.

    The bounds are inclusive to a millionth of a channel, so float rounding in
    the axis does not drop the channel at an edge.

    Parameters
    ----------
    energy_axis : array-like of shape (n_channels,), default=None
        Strictly increasing energy axis in eV; None numbers the channels 0, 1, ...
    e_min : float, default=None
        Lowest energy kept, in eV; None keeps everything from the first channel.
    e_max : float, default=None
        Highest energy kept, in eV; None keeps everything up to the last channel.

    Attributes
    ----------
    energy_axis_ : ndarray of shape (n_channels_out,)
        The cropped axis, matching the output columns.
    support_ : ndarray of bool of shape (n_channels,)
        Which input channels are kept.
    n_features_in_ : int
        Number of input channels.

    See Also
    --------
    ZLPRegionMask : masks region II instead of cropping.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp._regions import EnergyWindow
    >>> energy = np.linspace(-1.0, 4.0, 11)
    >>> window = EnergyWindow(energy_axis=energy, e_min=1.0, e_max=2.0)
    >>> window.fit_transform(np.ones((2, 11))).shape
    (2, 3)
    >>> window.energy_axis_
    array([1. , 1.5, 2. ])
    """

    _parameter_constraints: dict = {
        "energy_axis": ["array-like", None],
        "e_min": [Real, None],
        "e_max": [Real, None],
    }

    def __init__(self, energy_axis=None, e_min=None, e_max=None):
        self.energy_axis = energy_axis
        self.e_min = e_min
        self.e_max = e_max

    def _axis(self, n_channels):
        return energy_axis_or_channels(self.energy_axis, n_channels)

    def fit(self, X, y=None):
        """Find the channels inside the window.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Spectra on ``energy_axis`` (NaN allowed, e.g. from ZLPRegionMask).
        y : None
            Ignored.

        Returns
        -------
        self : EnergyWindow
            Fitted window.
        """
        self._validate_params()
        X = validate_data(
            self, X, dtype=(np.float64, np.float32), ensure_all_finite="allow-nan"
        )
        energy = self._axis(X.shape[1])
        low = -np.inf if self.e_min is None else self.e_min
        high = np.inf if self.e_max is None else self.e_max
        # A millionth of a channel of slack: an axis built as -4 + 0.025 * i holds
        # 0.99999999... where the user means 1.0, and that channel belongs inside.
        slack = 1e-6 * float(np.min(np.diff(energy))) if energy.size > 1 else 0.0
        support = (energy >= low - slack) & (energy <= high + slack)
        if not support.any():
            raise ValueError(
                f"the window e_min={self.e_min}, e_max={self.e_max} holds no channel of "
                f"the axis [{energy[0]:.6g}, {energy[-1]:.6g}]; choose e_min <= e_max "
                "inside the axis range."
            )
        self.support_ = support
        self.energy_axis_ = energy[support]
        return self

    def transform(self, X):
        """Crop the spectra to the window.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Spectra on ``energy_axis``.

        Returns
        -------
        X_cropped : ndarray of shape (n_spectra, n_channels_out)
            The columns of the channels in :attr:`energy_axis_`.
        """
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            dtype=(np.float64, np.float32),
            ensure_all_finite="allow-nan",
            reset=False,
        )
        return X[:, self.support_]

    def get_feature_names_out(self, input_features=None):
        """Names of the output channels: their energies, ``"E=<eV>"``."""
        check_is_fitted(self)
        return _energy_names(self.energy_axis_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
