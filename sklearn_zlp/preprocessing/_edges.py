"""The edges of the training regions: dE_I and dE_II estimated from the spectra.

The networks of Roest et al. (2021) see a specimen spectrum only where the ZLP is
known: region I, -dE_I < E < dE_I, where the ZLP dominates, and region III,
E > dE_II, where the ZLP is negligible. In region II, dE_I <= E <= dE_II, ZLP and
inelastic signal overlap and the model predicts. This module estimates the two
edges from the spectra.
"""

from numbers import Real

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import savgol_filter

from .._noise import counting_variance
from .._status import OK
from .._validation import (
    as_real_array,
    check_energy_axis,
    check_spectra,
    check_zlp_at_zero,
)
from ._de1_methods import (
    _de1_curvature,
    _de1_derivative,
    _de1_ratio,
    _de1_tail,
    _dispersion,
    _first_persistent,
    _log,
    _run_length,
    _smooth,
)
from ._plausibility import de1_plausibility

__all__ = ["estimate_de1", "estimate_de2"]

_DE1_METHODS = ("derivative", "ratio", "curvature", "tail")
_DE2_METHODS = ("snr", "multiple")


# Fewest channels an automatic edge can be estimated from.
MIN_CHANNELS = 5


def _check_inputs(spectra, energy_axis, name="spectra"):
    """Spectra and a uniform axis, validated once at a public function's entry."""
    X = check_spectra(spectra, name=name)
    energy = check_energy_axis(energy_axis, X.shape[1], uniform=True)
    if energy.size < MIN_CHANNELS:
        raise ValueError(
            f"{name} have {energy.size} channels; estimating region edges needs at "
            f"least {MIN_CHANNELS}."
        )
    return X, energy


def _check_method(method, choices):
    methods = ("auto", *choices)
    if method not in methods:
        raise ValueError(f"method={method!r} is not one of {methods}; pick one of them.")


def _check_smoothing(smoothing, tolerance):
    if not (isinstance(smoothing, Real) and smoothing >= 0):
        raise ValueError(f"smoothing={smoothing!r} must be a float >= 0 (eV).")
    if not (isinstance(tolerance, Real) and tolerance > 0):
        raise ValueError(f"tolerance={tolerance!r} must be a float > 0.")


def resolve_de1_method(method, has_vacuum):
    """The dE_I method that ``"auto"`` stands for: "ratio" with vacuum spectra."""
    if method == "auto":
        return "ratio" if has_vacuum else "curvature"
    return method


def _check_vacuum(vacuum, n_channels):
    V = check_spectra(vacuum, name="vacuum")
    if V.shape[1] != n_channels:
        raise ValueError(
            f"vacuum spectra have {V.shape[1]} channels but the specimen spectra have "
            f"{n_channels}; align both onto the same energy axis (e.g. with "
            "ZeroLossAligner and the same axis) before passing vacuum."
        )
    return V


def estimate_de1(
    spectra,
    energy_axis,
    *,
    method="auto",
    vacuum=None,
    smoothing=0.1,
    tolerance=0.2,
    return_status=False,
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
    method : {"auto", "derivative", "ratio", "curvature", "tail"}, default="auto"
        ``"derivative"``: first zero crossing, beyond the ZLP's half maximum, of
        the smoothed dI/dE: where the spectrum stops falling because inelastic
        intensity rises. ``"ratio"``: first energy beyond the vacuum ZLP's core
        (its steepest fall) from which d ln I/dE of the specimen exceeds that of
        the mean vacuum spectrum by more than ``tolerance`` times its magnitude
        (the specimen falls less steeply) for at least ``2 * smoothing`` eV (and 3
        channels); needs ``vacuum``. ``"curvature"``: the knee (kneedle: largest
        distance below the chord) of smoothed ln I against ln E between the
        steepest fall of ln I and the derivative zero crossing. ``"auto"``:
        ``"tail"``: like ``"ratio"`` with the power law of the spectrum's own
        ZLP tail (fitted over 2.5-3.5 smoothed FWHM) in place of a vacuum
        spectrum; NaN where the spectrum already deviates there. ``"auto"``:
        ``"ratio"`` when ``vacuum`` is given, otherwise ``"curvature"``; see Notes.
    vacuum : array-like of shape (n_vacuum, n_channels), default=None
        Vacuum (ZLP-only) spectra on the same aligned axis.
    smoothing : float, default=0.1
        Standard deviation in eV of the Gaussian kernel that smooths the spectra
        before differentiating.
    tolerance : float, default=0.2
        Relative deviation of the log-derivatives for ``"ratio"``.
    return_status : bool, default=False
        Also return each spectrum's status: ``"ok"``, ``"de1_not_found"``,
        ``"de1_near_peak"`` or ``"de1_inelastic_dominates"`` (see Notes and
        :func:`sklearn_zlp.describe_status`).

    Returns
    -------
    de1 : ndarray of shape (n_spectra,)
        dE_I in eV; NaN for a spectrum where the method finds no edge (no zero
        crossing, or a specimen that never deviates from the vacuum) or finds
        an implausible one (see ``return_status``).
    status : ndarray of object of shape (n_spectra,)
        Only with ``return_status=True``.

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
    gap: without vacuum spectra a dE_I within 3 (smoothed) FWHM of the peak is
    NaN, ``"de1_near_peak"``; past a rise, ``"de1_inelastic_dominates"``.
    ``"ratio"`` tracks the gap there (dE_I 0.1-0.4 eV below it, inelastic
    intensity below 15% of the ZLP's); give vacuum spectra where you have them.
    Without them, ``"tail"`` is the option where the knee is the core's bend:
    on the validation zoo's ``no_vacuum_gap_2p1`` (gap 2.1 eV, FWHM 0.3 eV) it
    gives 1.88-2.08 eV (seeds 0-1) and the band gap follows within 0.1 eV in
    78% of the spectra (median error 0.04 eV, quick ensembles), but on a
    gapless spectrum image (FWHM 1 eV, losses rising from the plasmon's flank)
    it lands at 3.6-5.8 eV and biases t/lambda, and on a sharp ZLP with a flat
    floor of counts it stops at the floor (0.9-1.5 eV, gap 1.6 eV). It is not
    the default for that reason.

    References
    ----------
    L. I. Roest et al., Ultramicroscopy 222 (2021) 113202 (training regions).
    V. Satopaa et al., "Finding a 'Kneedle' in a haystack", ICDCS Workshops (2011).

    Examples
    --------
    >>> from sklearn_zlp.datasets import make_synthetic_eels
    >>> from sklearn_zlp.preprocessing import estimate_de1
    >>> data = make_synthetic_eels(2, e_bg=2.0, n_vacuum=2, random_state=0)
    >>> de1 = estimate_de1(data.spectra, data.energy, vacuum=data.vacuum)
    >>> bool(((de1 > 1.5) & (de1 < 2.0)).all())
    True

    Without vacuum spectra the knee of these spectra is the ZLP's own bend:

    >>> estimate_de1(data.spectra, data.energy, return_status=True)
    (array([nan, nan]), array(['de1_near_peak', 'de1_near_peak'], dtype=object))
    """
    X, energy = _check_inputs(spectra, energy_axis)
    _check_method(method, _DE1_METHODS)
    _check_smoothing(smoothing, tolerance)
    method = resolve_de1_method(method, vacuum is not None)
    V = None
    if method == "ratio":
        if vacuum is None:
            raise ValueError(
                'method="ratio" compares with vacuum spectra; pass vacuum=... (aligned '
                'like the specimen) or use method="curvature".'
            )
        V = _check_vacuum(vacuum, X.shape[1])
    check_zlp_at_zero(X, energy)
    if V is not None:
        check_zlp_at_zero(V, energy, name="vacuum spectra")
    de1, status = _estimate_de1(
        X, _smooth(X, energy, smoothing), energy, method, V, smoothing, tolerance
    )
    return (de1, status) if return_status else de1


def _estimate_de1(X, smoothed, energy, method, vacuum, smoothing, tolerance):
    """dE_I of validated spectra (ZLP at 0 eV checked) and its status.

    ``method`` is not "auto". Implausible edges are NaN with their status (see
    :func:`de1_plausibility`).
    """
    if method == "derivative":
        de1 = _de1_derivative(smoothed, energy)[0]
    elif method == "curvature":
        de1 = _de1_curvature(smoothed, energy)
    elif method == "tail":
        de1 = _de1_tail(smoothed, energy, smoothing, tolerance)
    else:
        de1 = _de1_ratio(smoothed, energy, vacuum, smoothing, tolerance)
    status = de1_plausibility(smoothed, energy, de1, near_peak=method != "ratio")
    return np.where(status == OK, de1, np.nan), status


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
            spread = v_sigma if v_sigma is not None else np.sqrt(counting_variance(v_mean))
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
    >>> from sklearn_zlp.preprocessing import estimate_de2
    >>> data = make_synthetic_eels(2, e_bg=2.0, random_state=0)
    >>> estimate_de2(data.spectra, data.energy, method="multiple", de1=1.5)
    array([4.5, 4.5])
    """
    X, energy = _check_inputs(spectra, energy_axis)
    _check_method(method, _DE2_METHODS)
    _check_smoothing(smoothing, tolerance)
    if not (isinstance(factor, Real) and factor > 1):
        raise ValueError(f"factor={factor!r} must be a float > 1, so that dE_II > dE_I.")
    de1_method = resolve_de1_method("auto", vacuum is not None)
    needs_spectra = de1 is None or method != "multiple"
    V = None
    if vacuum is not None and needs_spectra:
        V = _check_vacuum(vacuum, X.shape[1])
    if de1 is not None:
        de1 = as_real_array(de1, name="de1")
        if de1.ndim > 1 or de1.size not in (1, X.shape[0]):
            raise ValueError(
                f"de1 has shape {de1.shape}; pass one dE_I in eV or one per spectrum "
                f"({X.shape[0]})."
            )
        de1 = np.broadcast_to(de1.reshape(-1), (X.shape[0],)).copy()
    if not needs_spectra:
        return factor * de1
    check_zlp_at_zero(X, energy)
    if V is not None:
        check_zlp_at_zero(V, energy, name="vacuum spectra")
    smoothed = _smooth(X, energy, smoothing)
    if de1 is None:
        de1 = _estimate_de1(X, smoothed, energy, de1_method, V, smoothing, tolerance)[0]
    return _estimate_de2(X, smoothed, energy, method, de1, V, factor, smoothing)


def _estimate_de2(X, smoothed, energy, method, de1, vacuum, factor, smoothing):
    """dE_II of validated spectra (ZLP at 0 eV checked) from their dE_I."""
    if method == "multiple":
        return factor * de1
    de2 = _de2_snr(X, smoothed, energy, de1, vacuum, smoothing)
    if method == "auto":
        de2 = np.where(np.isnan(de2), factor * de1, de2)
    return de2


def _energy_names(energy):
    return np.asarray([f"E={e:.6g}" for e in energy], dtype=object)
