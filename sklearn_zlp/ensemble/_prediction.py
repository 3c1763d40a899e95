"""ZLPEnsembleRegressor's methods after fit: replicas, median, quantiles, intervals, R^2.

Every method evaluates the kept replicas (``kept_``) on the points, each network
chunk by chunk, and reduces them with the package's one quantile method
(:mod:`sklearn_zlp._replicas`).
"""

import numpy as np
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_is_fitted, validate_data

from .._replicas import replica_quantiles
from .._validation import as_real_array
from ..io._model_mixin import ModelFileMixin
from ._diagnostics import ensemble_summary, held_out_prediction
from ._inputs import as_sample_weight, real_input
from ._training import net_predict, scale_inputs

__all__ = ["EnsemblePredictionMethods"]


class EnsemblePredictionMethods(ModelFileMixin):
    """Prediction methods of :class:`~sklearn_zlp.ZLPEnsembleRegressor` (a mixin).

    With ``save``/``load`` for model files (:mod:`sklearn_zlp.io._model_mixin`).

    Left of ``RegressorMixin`` in the estimator's bases, so that its
    :meth:`score` (which checks ``y`` as ``fit`` does) is the one that runs.
    """

    def _replica_predictions(self, X):
        check_is_fitted(self)
        X = validate_data(self, real_input(X, "X"), dtype=np.float64, reset=False)
        return self._predict_scaled(scale_inputs(X, self._input_low_, self._input_width_))

    def _predict_scaled(self, inputs):
        """Kept replicas' predictions (intensity units) on scaled inputs (features, points)."""
        # kept replicas only, filled chunk by chunk and transformed in place: at
        # (replicas x points) floats each, temporaries cost more than the networks
        out = np.empty((self.n_replicas_, inputs.shape[1]))
        row = 0
        first = 0
        for net in self.estimators_:
            chunk = net_predict(net, inputs)
            kept = chunk[self.kept_[first : first + chunk.shape[0]]]
            first += chunk.shape[0]
            out[row : row + kept.shape[0]] = kept
            row += kept.shape[0]
        out *= self._target_scale_
        out += self._target_mean_
        return np.exp(out, out=out) if self.log_target else out

    def _held_out(self, inputs, draws):
        """Out-of-bag prediction of every training point (NaN without a split)."""
        if draws[0][2] is None:
            return np.full(inputs.shape[1], np.nan)
        held_out = np.stack([d[2][: inputs.shape[1]] > 0 for d in draws])[self.kept_]
        return held_out_prediction(self._predict_scaled(inputs), held_out)

    def summary(self):
        """What was trained and how well, as text for a person to read.

        The architecture and training budget, how many replicas were kept and
        why the others were dropped, the replicas' training and validation
        chi^2, and at which epoch their weights were kept.

        Returns
        -------
        text : str
        """
        check_is_fitted(self)
        return ensemble_summary(self)

    def transform(self, X):
        """Every kept replica's prediction.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
            Points to predict.

        Returns
        -------
        replicas : ndarray of shape (n_points, n_replicas_)
            One column per replica, in intensity units.
        """
        return self._replica_predictions(X).T

    def predict(self, X, return_std=False):
        """Central prediction over replicas (median by default), optionally its std.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
            Points to predict.
        return_std : bool, default=False
            Also return the standard deviation over replicas.

        Returns
        -------
        y_pred : ndarray of shape (n_points,)
            Median (or mean) over replicas, in intensity units.
        y_std : ndarray of shape (n_points,)
            Standard deviation over replicas; only if ``return_std``.
        """
        replicas = self._replica_predictions(X)
        centre = np.median if self.point_estimate == "median" else np.mean
        y_pred = centre(replicas, axis=0)
        if return_std:
            return y_pred, replicas.std(axis=0, ddof=1) if replicas.shape[
                0
            ] > 1 else np.zeros_like(y_pred)
        return y_pred

    def predict_quantiles(self, X, quantiles=(0.16, 0.5, 0.84)):
        """Quantiles of the replica predictions.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
            Points to predict.
        quantiles : array-like of float in [0, 1], default=(0.16, 0.5, 0.84)
            Quantiles to return.

        Returns
        -------
        y_quantiles : ndarray of shape (n_points, n_quantiles)
        """
        q = np.atleast_1d(as_real_array(quantiles, name="quantiles"))
        if q.ndim != 1 or np.any(~(q >= 0) | ~(q <= 1)):
            raise ValueError(
                f"quantiles must be a number or a 1-D list of numbers in [0, 1], got "
                f"{quantiles!r}; e.g. quantiles=(0.16, 0.5, 0.84)."
            )
        return replica_quantiles(self._replica_predictions(X), q).T

    def predict_interval(self, X, confidence_level=0.68):
        """Central prediction and replica intervals at the given confidence levels.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
            Points to predict.
        confidence_level : float or array-like of float in (0, 1), default=0.68
            0.68 gives the 16th to 84th percentile band of the paper.

        Returns
        -------
        y_pred : ndarray of shape (n_points,)
            As :meth:`predict`.
        y_intervals : ndarray of shape (n_points, 2, n_levels)
            Lower and upper bounds per level (the MAPIE layout).
        """
        levels = np.atleast_1d(as_real_array(confidence_level, name="confidence_level"))
        if levels.ndim != 1 or np.any(~(levels > 0) | ~(levels < 1)):
            raise ValueError(
                f"confidence_level must lie in (0, 1), got {confidence_level!r}."
            )
        replicas = self._replica_predictions(X)
        centre = np.median if self.point_estimate == "median" else np.mean
        lower = replica_quantiles(replicas, (1 - levels) / 2).T
        upper = replica_quantiles(replicas, (1 + levels) / 2).T
        return centre(replicas, axis=0), np.stack([lower, upper], axis=1)

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of :meth:`predict` on ``(X, y)``.

        As :meth:`sklearn.base.RegressorMixin.score`, with ``y`` and
        ``sample_weight`` checked as in :meth:`fit` (any real array-like).

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
            Points to predict.
        y : array-like of shape (n_points,)
            True intensities.
        sample_weight : array-like of shape (n_points,), default=None
            Weights of the points in R^2.

        Returns
        -------
        score : float
            R^2 of ``self.predict(X)`` against ``y``.
        """
        y_pred = self.predict(X)
        y = as_real_array(y, name="y")
        if sample_weight is not None:
            sample_weight = as_sample_weight(sample_weight, y_pred.size)
        return float(r2_score(y, y_pred, sample_weight=sample_weight))
