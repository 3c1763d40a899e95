"""Input checks shared by the estimators and functions of sklearn-zlp.

Every error names what was wrong with the input and how to fix it.
"""

import numpy as np
from sklearn.utils.validation import validate_data


def as_real_array(X, *, name="X"):
    """Any array-like of real numbers as a new float64 ndarray (never a view).

    Accepts NumPy arrays of any real or integer dtype (float32, int, uint...),
    nested lists, pandas DataFrames and Series, and object arrays of numbers.
    Complex, boolean, date/time and non-numeric input gets a ValueError that
    says what was passed and what to pass instead. The result is always a copy,
    so nothing downstream can modify the caller's data.

    Parameters
    ----------
    X : array-like
        Input of any shape.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    array : ndarray of float64
    """
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
        X = X.to_numpy()  # pandas (and pandas-like) containers
    try:
        raw = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be an array of real numbers; could not convert it: {exc}. "
            "Pass a NumPy array, a nested list of equal-length rows or a DataFrame."
        ) from exc
    _reject_non_real(raw.dtype.kind, raw.dtype, name)
    try:
        return np.array(raw, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must contain only real numbers, but a value could not be read as "
            f"a number ({exc}); clean the data or parse it with sklearn_zlp.io.read_spectra."
        ) from exc


def _reject_non_real(kind, dtype, name):
    """Raise the clear error for complex, boolean and date/time dtypes."""
    if kind == "c":
        raise ValueError(
            f"{name} holds complex numbers ({dtype}): Complex data not supported. "
            f"EEL intensities are real; pass {name}.real (or np.abs({name})) if that is "
            "what you mean."
        )
    if kind == "b":
        raise ValueError(
            f"{name} is boolean ({dtype}), not intensities; pass counts as numbers "
            f"({name}.astype(float) if the booleans really are 0/1 counts)."
        )
    if kind in "mM":
        raise ValueError(
            f"{name} holds dates or time spans ({dtype}), not intensities; pass the "
            "counts as numbers."
        )


def check_energy_axis(energy_axis, n_channels=None, *, name="energy_axis", uniform=False):
    """Validate an energy axis in eV and return it as a float64 copy.

    Parameters
    ----------
    energy_axis : array-like of shape (n_channels,)
        Channel centres in eV, strictly increasing.
    n_channels : int, default=None
        If given, the number of channels the spectra have; the axis must match it.
    name : str, default="energy_axis"
        Name used in error messages.
    uniform : bool, default=False
        Also require a constant dispersion (to 0.1% of a channel).

    Returns
    -------
    energy : ndarray of shape (n_channels,)
        A float64 copy of the axis.
    """
    if energy_axis is None:
        raise ValueError(
            f"{name} is None; pass the energy loss of every channel in eV, "
            "e.g. energy_axis=np.linspace(-4.0, 45.0, n_channels)."
        )
    energy = as_real_array(energy_axis, name=name)
    if energy.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one energy per channel), got shape {energy.shape}; "
            "spectra share one axis, pass e.g. energy[0] if you have one per spectrum."
        )
    if energy.size < 2:
        raise ValueError(f"{name} needs at least 2 channels, got {energy.size}.")
    if not np.all(np.isfinite(energy)):
        raise ValueError(
            f"{name} contains NaN or infinite values at channels "
            f"{np.flatnonzero(~np.isfinite(energy))[:5].tolist()}; pass finite energies in eV."
        )
    steps = np.diff(energy)
    if not np.all(steps > 0):
        bad = int(np.flatnonzero(steps <= 0)[0])
        raise ValueError(
            f"{name} must be strictly increasing, but channel {bad + 1} "
            f"({energy[bad + 1]:.6g} eV) does not exceed channel {bad} "
            f"({energy[bad]:.6g} eV); sort the channels (and the spectra with them) "
            "or pass the axis in increasing order."
        )
    if uniform and np.ptp(steps) > 1e-3 * np.mean(steps):
        raise ValueError(
            f"{name} must have a constant dispersion here, but its steps range from "
            f"{steps.min():.6g} to {steps.max():.6g} eV; resample the spectra onto a "
            "uniform axis first."
        )
    if n_channels is not None and energy.size != n_channels:
        raise ValueError(
            f"{name} has {energy.size} channels but the spectra have {n_channels}; "
            "pass the axis that belongs to these spectra (one energy per column of X)."
        )
    return energy


def check_spectra(X, *, name="X", allow_nd=False, copy=True, allow_nan=False):
    """Validate spectra as a float64 array with channels on the last axis.

    Parameters
    ----------
    X : array-like of shape (n_spectra, n_channels) or (..., n_channels)
        Intensities in counts.
    name : str, default="X"
        Name used in error messages.
    allow_nd : bool, default=False
        Accept any number of leading (navigation) axes, e.g. a spectral image
        (ny, nx, n_channels). Otherwise a single spectrum must be given as one row.
    copy : bool, default=True
        Ignored: the result is always a new float64 array
        (:func:`as_real_array`), so callers can never modify the user's array.
    allow_nan : bool, default=False
        Accept NaN (values that failed, each with a status elsewhere); infinite
        values are refused either way.

    Returns
    -------
    spectra : ndarray
        Float64 array with the same shape.
    """
    spectra = as_real_array(X, name=name)
    if spectra.ndim == 1 and not allow_nd:
        raise ValueError(
            f"{name} is 1-D with {spectra.size} values; spectra are rows, so pass a "
            f"single spectrum as {name}.reshape(1, -1)."
        )
    if spectra.ndim < 1 or (spectra.ndim != 2 and not allow_nd):
        raise ValueError(
            f"{name} must be 2-D (n_spectra, n_channels), got shape {spectra.shape}; "
            f"flatten navigation axes with {name}.reshape(-1, {name}.shape[-1])."
        )
    if spectra.size == 0:
        raise ValueError(
            f"{name} is empty (shape {spectra.shape}); pass at least one spectrum."
        )
    if allow_nan and np.any(np.isinf(spectra)):
        raise ValueError(
            f"{name} contains {int(np.sum(np.isinf(spectra)))} infinite values; NaN "
            "may mark values that failed, infinities cannot be written."
        )
    if not allow_nan and not np.all(np.isfinite(spectra)):
        n_bad = int(np.sum(~np.isfinite(spectra)))
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite values; remove or interpolate "
            "those channels (e.g. np.nan_to_num or masking dead pixels) first."
        )
    return spectra


def energy_axis_or_channels(energy_axis, n_channels, *, uniform=False):
    """``check_energy_axis``, or channel numbers 0, 1, ... when the axis is None.

    Estimators accept ``energy_axis=None`` for uncalibrated data (and for
    scikit-learn's common checks, whose random data have no axis).
    """
    if energy_axis is None:
        return np.arange(n_channels, dtype=np.float64)
    return check_energy_axis(energy_axis, n_channels, uniform=uniform)


# An aligned ZLP may sit this fraction of its FWHM from 0 eV, or this fraction of a
# channel, whichever is more. Every energy read from a spectrum (band-gap onset,
# dE_I) is measured from 0 eV, so an offset shifts them by as much: E_bg by the
# offset itself. At 5% of the FWHM that is 0.11 of the E_bg 68% half-band measured
# on synthetic spectra (0.45 FWHM: 0.136 eV at FWHM 0.3 eV) and a third of it
# where the band is 0.15 FWHM wide; coverage stays within 63-73%. The channel
# floor is what sub-channel location can promise on coarsely sampled peaks: the
# aligner's own output sits within 0.08 channel of 0 eV at 3 or more channels per
# FWHM, within 0.2 channel at 2-2.5 (measured on 60 synthetic spectra per
# sampling, FWHM 0.3 eV), and the WS2 spectra within 0.09 channel (2 meV).
ALIGNED_FWHM_FRACTION = 0.05
ALIGNED_CHANNEL_FRACTION = 0.3
# A low-loss ZLP is 0.003 to 3 eV wide (monochromated to thermionic); a width
# outside this range on an axis given in eV means the axis is in another unit.
ZLP_FWHM_RANGE = (2e-3, 10.0)


def units_hint(fwhm, name="energy_axis"):
    """The sentence that says which unit an axis whose ZLP is ``fwhm`` "eV" wide is in.

    None when ``fwhm`` is a plausible width in eV (or not finite).
    """
    low, high = ZLP_FWHM_RANGE
    if not np.isfinite(fwhm) or low <= fwhm <= high:
        return None
    if fwhm < low:
        unit, factor, scaled = "keV", "1000", fwhm * 1e3
    else:
        unit, factor, scaled = "meV", "0.001", fwhm * 1e-3
    return (
        f"The zero-loss peak is {fwhm:.3g} eV wide on {name}, but low-loss ZLPs are "
        f"{low:g}-{high:g} eV wide: check the units of {name}; it looks like {unit} "
        f"(then the ZLP is {scaled:.3g} eV wide): multiply it by {factor} to get eV "
        f"(read_spectra(path, energy_unit={unit!r}) converts a file's axis)."
    )


def check_zlp_at_zero(spectra, energy, name="spectra"):
    """Raise unless every spectrum's zero-loss peak sits at 0 eV, within a tolerance.

    The axis must include 0 eV; each spectrum's ZLP (the lowest-energy clear
    peak, located below one channel as :class:`~sklearn_zlp.ZeroLossAligner`
    does) must be found, and its maximum must lie within
    ``max(ALIGNED_FWHM_FRACTION * FWHM, ALIGNED_CHANNEL_FRACTION * channel)`` of
    0 eV. An axis on which the ZLP's width is implausible for eV (below 2 meV or
    above 10 eV: keV or meV) is refused with a hint about its units.
    """
    # Imported here: preprocessing imports this module.
    from .preprocessing._peak import (
        ZLP_AMBIGUOUS,
        fwhm_of_validated,
        locate_zlp,
    )

    if not energy[0] <= 0 <= energy[-1]:
        raise ValueError(
            f"energy_axis runs from {energy[0]:.4g} to {energy[-1]:.4g} eV and does not "
            "include 0 eV, where the zero-loss peak must sit; pass the low-loss range "
            "with the ZLP (and align it with ZeroLossAligner)."
        )
    empty = np.flatnonzero(~(spectra.max(axis=1) > 0))
    if empty.size:
        raise ValueError(
            f"{name} {empty[:5].tolist()} have no positive counts (all <= 0 counts), "
            "so no zero-loss peak; remove empty spectra (e.g. dead pixels) first."
        )
    positions, peaks = locate_zlp(spectra, energy)
    fwhm = fwhm_of_validated(spectra, energy, peaks)
    hint = units_hint(float(np.nanmedian(fwhm)) if np.isfinite(fwhm).any() else np.nan)
    if hint is not None:
        raise ValueError(f"{name}: {hint}")
    lost = np.flatnonzero(~np.isfinite(positions))
    if lost.size:
        ambiguous = lost[peaks.status[lost] == ZLP_AMBIGUOUS]
        what = (
            f"{ambiguous.size} of them have one that cannot be told from an inelastic "
            "peak (a ZLP merged into a stronger plasmon)"
            if ambiguous.size
            else "their maximum lies on the axis' edge or nothing stands out from the noise"
        )
        raise ValueError(
            f"{name} {lost[:5].tolist()} have no zero-loss peak that can be located "
            f"({what}), so it is not at 0 eV: the zero-loss peak must sit at 0 eV. "
            "Check these spectra, and align them with ZeroLossAligner first and pass "
            "its energy_axis_."
        )
    zero = int(np.argmin(np.abs(energy)))
    channel = float(np.diff(energy)[min(zero, energy.size - 2)])
    width = np.where(np.isfinite(fwhm), fwhm, 0.0)
    tolerance = np.maximum(
        ALIGNED_FWHM_FRACTION * width, ALIGNED_CHANNEL_FRACTION * channel
    )
    bad = np.flatnonzero(np.abs(positions) > tolerance)
    if bad.size:
        shown = bad[:5]
        flat = _flat_top(spectra[bad[0]])
        saturated = (
            f" Spectrum {bad[0]} holds its maximum in {flat} adjacent channels: a "
            "saturated (clipped) ZLP has no position; record it within the detector's "
            "range, or leave such spectra out."
            if flat >= _SATURATED_CHANNELS
            else ""
        )
        raise ValueError(
            f"{name} {shown.tolist()} have their zero-loss peak at "
            f"{np.round(positions[shown], 4).tolist()} eV, not at 0 eV: more than "
            f"{np.round(tolerance[shown], 4).tolist()} eV away (the tolerance: 5% of "
            "the ZLP's FWHM or 0.3 channel, whichever is more). Every energy read from a "
            "spectrum is measured from 0 eV, so such an offset shifts the band gap and "
            "every onset by as much. Align the spectra with ZeroLossAligner first and "
            f"pass its energy_axis_.{saturated}"
        )


# A maximum repeated exactly in this many adjacent channels is a clipped top.
_SATURATED_CHANNELS = 3


def _flat_top(spectrum):
    """Length of the longest run of adjacent channels holding the maximum exactly."""
    at_top = np.concatenate([[0], (spectrum == spectrum.max()).astype(int), [0]])
    edges = np.flatnonzero(np.diff(at_top))
    return int(np.max(edges[1::2] - edges[::2]))


def validate_spectra_data(
    estimator,
    X,
    *,
    reset,
    dtype=np.float64,
    allow_nan=False,
    min_channels=1,
    name="X",
):
    """``validate_data`` for spectra, with the package's clear dtype errors.

    scikit-learn's ``validate_data`` casts booleans to numbers silently; here
    complex, boolean and date/time input (arrays, Series, DataFrame columns,
    nested lists) is refused first with the message of :func:`as_real_array`.
    Everything else goes through ``validate_data`` once, which records
    ``n_features_in_`` and DataFrame column names on ``reset`` and checks them
    otherwise.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator whose ``fit`` (``reset=True``) or other method calls this.
    X : array-like of shape (n_spectra, n_channels)
        Spectra, one per row.
    reset : bool
        True in ``fit``, False in every method of a fitted estimator.
    dtype : dtype or tuple of dtypes, default=np.float64
        Passed to ``validate_data``: a tuple keeps any of its dtypes.
    allow_nan : bool, default=False
        Accept NaN (never infinity), e.g. masked channels.
    min_channels : int, default=1
        Fewest channels (features) ``X`` must have.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    X : ndarray of shape (n_spectra, n_channels)
        A new array when the input needed conversion, otherwise possibly the
        caller's array: callers must not write into it.
    """
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(X, "columns"):
        # DataFrame: per-column dtypes (pandas extension dtypes carry .kind too).
        for column, col_dtype in zip(X.columns, dtypes, strict=True):
            _reject_non_real(
                getattr(col_dtype, "kind", "O"), col_dtype, f"{name} column {column!r}"
            )
    elif hasattr(X, "dtype") and not hasattr(X, "tocsr"):
        _reject_non_real(getattr(X.dtype, "kind", "O"), X.dtype, name)
    elif not hasattr(X, "tocsr"):
        # Nested lists and other sequences: one float64 conversion here, which
        # validate_data then keeps as it is.
        X = as_real_array(X, name=name)
    X = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=dtype,
        ensure_all_finite="allow-nan" if allow_nan else True,
    )
    if X.shape[1] < min_channels:
        raise ValueError(
            f"{name} has {X.shape[1]} feature(s) (channels) but "
            f"{type(estimator).__name__} needs at least {min_channels}; pass the "
            "spectra as rows with one column per energy channel."
        )
    return X


def as_real_scalar(value, *, name):
    """One real number as a Python float; arrays, complex and bool get a ValueError.

    Parameters
    ----------
    value : real number or 0-d array-like
        E.g. an int, a float, ``np.float32(2.0)``.
    name : str
        Name used in error messages.

    Returns
    -------
    value : float
    """
    array = as_real_array(value, name=name)
    if array.ndim != 0:
        raise ValueError(f"{name} must be a single number, got shape {array.shape}.")
    return float(array)
