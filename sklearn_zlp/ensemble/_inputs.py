"""Input checks of ZLPEnsembleRegressor: points, targets, uncertainties, input box.

Every check raises an error that names the problem and the fix; nothing here
modifies the caller's arrays.
"""

import numpy as np
from scipy import sparse

from .._noise import counting_variance
from .._validation import as_real_array

__all__ = ["as_sample_weight", "input_box", "real_input", "targets_and_sigmas"]


def real_input(X, name):
    """``X`` checked to be real numbers, ready for ``validate_data``.

    Complex, boolean, date and text input gets the ValueError of
    :func:`~sklearn_zlp._validation.as_real_array`; entries that are not numbers
    and sparse matrices a TypeError (scikit-learn's convention). DataFrames are
    returned as they are, so that ``validate_data`` records their column names;
    everything else as a float64 copy.
    """
    if sparse.issparse(X):
        raise TypeError(
            f"{name} is a sparse matrix, and sparse input is not supported: the points "
            f"are dense; pass {name}.toarray()."
        )
    try:
        array = as_real_array(X, name=name)
    except ValueError as exc:
        if isinstance(exc.__cause__, TypeError):  # an entry that is not a number
            raise TypeError(str(exc)) from exc.__cause__
        raise
    return X if hasattr(X, "columns") else array


def as_sample_weight(sample_weight, n):
    """Sample weights as a float64 array of shape (n,) (a scalar is broadcast)."""
    weight = as_real_array(sample_weight, name="sample_weight")
    if weight.ndim == 0:
        weight = np.full(n, float(weight))
    if weight.shape != (n,):
        raise ValueError(
            f"sample_weight has shape {weight.shape}, but there are {n} points; pass "
            "one weight (1/sigma^2) per row of X, or None."
        )
    if not np.all(np.isfinite(weight)):
        raise ValueError(
            "sample_weight contains NaN or infinite values; pass finite weights "
            "(0 ignores a point)."
        )
    return weight


def targets_and_sigmas(y, sample_weight, log_target):
    """Modelled targets (ln y or y), their sigmas and the points with data.

    ``sample_weight`` is 1/sigma^2 of y (0 ignores a point); None means counting
    statistics (sigma^2 = max(y, 1)) when ``log_target``, else sigma = 1. In ln y
    the sigma is the relative one, sigma / y.
    """
    if sample_weight is None:
        variance = counting_variance(y) if log_target else np.ones_like(y)
        active = np.ones(y.size, dtype=bool)
    else:
        if np.any(sample_weight < 0):
            raise ValueError(
                "sample_weight is 1/sigma^2 of each point: it must be >= 0 (0 ignores "
                f"the point), but {int(np.sum(sample_weight < 0))} weights are negative."
            )
        if not np.any(sample_weight > 0):
            raise ValueError(
                "sample_weight is zero for every point, so no point is fitted; give "
                "the points with data a positive weight (1/sigma^2)."
            )
        active = sample_weight > 0
        variance = np.where(active, 1.0 / np.where(active, sample_weight, 1.0), 1.0)
    if not log_target:
        return y.copy(), np.sqrt(variance), active
    if np.any(y[active] <= 0):
        raise ValueError(
            f"y has {int(np.sum(y[active] <= 0))} values <= 0, but log_target=True "
            "models ln y; drop those points, give them sample_weight 0, or clip them "
            "(e.g. y = np.maximum(y, 1)), or set log_target=False."
        )
    safe_y = np.where(active, y, 1.0)
    return np.log(safe_y), np.sqrt(variance) / safe_y, active


def input_box(X, active, n_data, input_ranges):
    """(low, width) per feature: the box mapped to [0.1, 0.9].

    ``input_ranges`` (n_features, 2) if given, else the range of the points with
    data and of the penalty points (rows from ``n_data`` on), which must not
    extrapolate either.
    """
    if input_ranges is None:
        low, high = X[active].min(axis=0), X[active].max(axis=0)
        if X.shape[0] > n_data:
            low = np.minimum(low, X[n_data:].min(axis=0))
            high = np.maximum(high, X[n_data:].max(axis=0))
    else:
        ranges = as_real_array(input_ranges, name="input_ranges")
        if ranges.shape != (X.shape[1], 2) or np.any(ranges[:, 1] < ranges[:, 0]):
            raise ValueError(
                f"input_ranges must have shape ({X.shape[1]}, 2) with low <= high per "
                f"feature, got {np.shape(input_ranges)}."
            )
        low, high = ranges[:, 0], ranges[:, 1]
    return low, np.where(high > low, high - low, 1.0)
