"""The one place that turns Monte Carlo replicas into medians and bands.

Replicas always lie on the first axis. Bands are ``(lower, upper)`` stacked on
the first axis of the result, so ``band[0]`` is the lower and ``band[1]`` the
upper edge, whatever the shape of the rest: a band of per-spectrum values has
shape (2, n_spectra), a band of spectra (2, n_spectra, n_channels).

Quantiles use numpy's ``method="normal_unbiased"`` (Blom's plotting positions):
approximately unbiased for normally distributed replicas. numpy's default
(``"linear"``) narrows a 68% band of n replicas by about ``1.8 / n``: 11% with
16 replicas, 2% with 100.

Replica values that failed (a fit that did not converge, a ratio of
non-positive integrals) are NaN. ``nan_policy="omit"`` summarises the replicas
that did not fail and returns NaN only where every replica failed;
``"propagate"`` (the default) returns NaN wherever any replica is NaN.
"""

import warnings

import numpy as np

__all__ = [
    "QUANTILE_METHOD",
    "replica_band",
    "replica_median",
    "replica_quantiles",
    "sorted_band",
    "sorted_median",
]

QUANTILE_METHOD = "normal_unbiased"
_NAN_POLICIES = ("propagate", "omit")


def _check_nan_policy(nan_policy):
    if nan_policy not in _NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {_NAN_POLICIES}, got {nan_policy!r}.")
    return nan_policy == "omit"


def replica_quantiles(replicas, quantiles, axis=0, *, nan_policy="propagate"):
    """Quantiles over the replica axis (Blom's plotting positions).

    Parameters
    ----------
    replicas : array-like of shape (n_replicas, ...)
        Replica values on ``axis``.
    quantiles : float or array-like of float in [0, 1]
        Quantiles to return.
    axis : int, default=0
        The replica axis.
    nan_policy : {"propagate", "omit"}, default="propagate"
        "omit" leaves NaN replicas (failed values) out; all-NaN positions give
        NaN without a warning.

    Returns
    -------
    values : ndarray of shape (n_quantiles, ...) or (...) for a scalar quantile
    """
    omit = _check_nan_policy(nan_policy)
    q = np.asarray(quantiles, dtype=np.float64)
    if np.any((q < 0) | (q > 1)) or not np.all(np.isfinite(q)):
        raise ValueError(f"quantiles must lie in [0, 1], got {quantiles!r}.")
    if not omit:
        return np.quantile(replicas, q, axis=axis, method=QUANTILE_METHOD)
    with warnings.catch_warnings():
        # An all-NaN slice is a spectrum whose every replica failed: NaN says so.
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(replicas, q, axis=axis, method=QUANTILE_METHOD)


def replica_band(replicas, confidence_level=0.68, axis=0, *, nan_policy="propagate"):
    """Central interval over replicas: ``(lower, upper)`` on the first axis.

    Parameters
    ----------
    replicas : array-like of shape (n_replicas, ...)
    confidence_level : float in (0, 1), default=0.68
        0.68 gives the 16th to 84th percentile band of Roest et al. (2021).
    axis : int, default=0
        The replica axis.
    nan_policy : {"propagate", "omit"}, default="propagate"
        See :func:`replica_quantiles`.

    Returns
    -------
    band : ndarray of shape (2, ...)
    """
    level = float(confidence_level)
    if not 0 < level < 1:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level!r}.")
    return replica_quantiles(
        replicas, [(1 - level) / 2, (1 + level) / 2], axis=axis, nan_policy=nan_policy
    )


def replica_median(replicas, axis=0, *, nan_policy="propagate"):
    """Median over the replica axis, equal to ``np.median(replicas, axis=axis)``.

    Partitioned along contiguous rows of a transposed copy: 1.6x faster than
    numpy's strided partition at 100 x 102 x 1981 (measured 0.31 s against 0.49 s).
    With ``nan_policy="omit"`` it equals ``np.nanmedian`` (NaN, without a
    warning, where every replica is NaN).
    """
    omit = _check_nan_policy(nan_policy)
    # Always a copy: the partition below works in place, and when the replica
    # axis already is the last, contiguous one, moveaxis returns the caller's array.
    rows = np.array(np.moveaxis(np.asarray(replicas), axis, -1), order="C", copy=True)
    if not omit:
        return np.median(rows, axis=-1, overwrite_input=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(rows, axis=-1, overwrite_input=True)


def sorted_median(ordered):
    """:func:`replica_median` of replicas already sorted on axis 0 (NaN last), bitwise.

    Picked, not partitioned: for callers that sort once for several statistics.
    """
    n = ordered.shape[0]
    middle = ordered[(n - 1) // 2 : n // 2 + 1]
    out = np.add.reduce(middle, axis=0) / middle.shape[0]
    return np.where(np.isnan(ordered[-1]), np.nan, out)


def sorted_band(ordered, confidence_level=0.68):
    """:func:`replica_band` of replicas already sorted on axis 0 (NaN last), bitwise.

    numpy's ``normal_unbiased`` quantile (virtual index ``n q + 3/8 + q / 4 -
    1``, linear interpolation between its neighbours) picked from the sorted
    values instead of partitioned out of them.
    """
    level = float(confidence_level)
    if not 0 < level < 1:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level!r}.")
    n = ordered.shape[0]
    q = np.array([(1 - level) / 2, (1 + level) / 2])
    alpha = beta = 3 / 8.0
    virtual = n * q + (alpha + q * (1 - alpha - beta)) - 1
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous[above], following[above] = -1, -1
    below = virtual < 0
    previous[below], following[below] = 0, 0
    gamma = virtual - previous
    out = []
    for k in range(2):
        a, b = ordered[int(previous[k])], ordered[int(following[k])]
        t = gamma[k]
        diff = b - a
        value = a + diff * t
        if t >= 0.5:
            value = b - diff * (1 - t)
        out.append(np.where(np.isnan(ordered[-1]), np.nan, value))
    return np.stack(out)
