"""Quality figures of a fitted ZLPSubtractor, from its training point table.

chi^2 per point of every kept replica on every training spectrum, of the median
model per spectrum, and held-out residuals in region I: each training point
predicted only by the replicas that held it out of their training (their
validation points, :attr:`ZLPEnsembleRegressor.oob_prediction_`).
"""

import numpy as np

from .._replicas import replica_median

__all__ = ["fit_quality"]


def _per_spectrum(values, owner, n_spectra):
    """Mean of ``values`` (points on the first axis) over each spectrum's points."""
    out = np.full((n_spectra, *values.shape[1:]), np.nan)
    for i in range(n_spectra):
        mine = owner == i
        if mine.any():
            with np.errstate(invalid="ignore"):
                out[i] = np.nanmean(values[mine], axis=0)
    return out


def fit_quality(regressor, table, n_spectra):
    """Quality figures of a regressor fitted on ``table`` (the point table).

    Residuals are standardised by the training uncertainties
    (``sqrt(sample_weight)``) on the data rows (region I in specimen mode, the
    trained channels in vacuum mode; not pseudo-data).

    Returns
    -------
    figures : dict
        ``training_chi2`` (n_replicas, n_spectra): chi^2 per point of each
        kept replica on each spectrum's data; ``spectrum_chi2`` (n_spectra,):
        of the median model; ``heldout_chi2`` (n_spectra,): mean squared
        held-out residual (NaN where the regressor has no ``oob_prediction_``);
        ``heldout_quantiles``: the 16th, 50th and 84th percentile of all
        held-out standardised residuals (NaN without them).
    """
    rows = table.is_data
    owner = table.spectrum[rows]
    target = table.target[rows]
    scale = np.sqrt(table.weight[rows])
    predictions = np.asarray(regressor.transform(table.points[rows]), dtype=np.float64)
    residuals = (predictions - target[:, None]) * scale[:, None]
    training = _per_spectrum(residuals**2, owner, n_spectra).T
    median = replica_median(predictions, axis=1)
    spectrum = _per_spectrum(((median - target) * scale) ** 2, owner, n_spectra)
    oob = getattr(regressor, "oob_prediction_", None)
    if oob is not None and np.shape(oob) == table.target.shape:
        held_out = (target - np.asarray(oob)[rows]) * scale
        heldout = _per_spectrum(held_out**2, owner, n_spectra)
        finite = held_out[np.isfinite(held_out)]
        quantiles = (
            np.quantile(finite, [0.16, 0.5, 0.84]) if finite.size else np.full(3, np.nan)
        )
    else:
        heldout = np.full(n_spectra, np.nan)
        quantiles = np.full(3, np.nan)
    return {
        "training_chi2": training,
        "spectrum_chi2": spectrum,
        "heldout_chi2": heldout,
        "heldout_quantiles": quantiles,
    }
