"""ZLPEnsembleRegressor: Monte Carlo replica ensemble of skorch networks."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .._noise import counting_variance
from .._replicas import replica_quantiles
from ..nn import ACTIVATIONS
from ..utils._sklearn_compat import Interval, StrOptions
from ._draws import MAX_SEED, draw_replica
from ._training import (
    append_monotonic_points,
    copy_replica,
    fit_chunk,
    net_predict,
    scale_inputs,
)

__all__ = ["ZLPEnsembleRegressor"]


class ZLPEnsembleRegressor(TransformerMixin, RegressorMixin, BaseEstimator):
    """Monte Carlo replica ensemble of neural networks for the zero-loss peak.

    The NNPDF method of Roest et al. (2021): ``n_replicas`` pseudo-data sets are
    drawn from the data's central values and uncertainties, one small network is
    trained on each, and the spread of the trained networks is the model's
    uncertainty. Each network models ln I (``log_target=True``) as a function of
    the point's features (energy loss first, then covariates such as ln N_tot,
    beam energy or exposure time), with inputs scaled to [0.1, 0.9], targets
    standardised, a chi^2 cost, Adam, a random 80/20 train/validation split per
    replica and look-back stopping: each replica keeps its weights at its own
    minimum validation chi^2.

    For speed, a chunk of replicas trains as one batched skorch net
    (:class:`~sklearn_zlp.nn.ReplicaMLP`: batched weights, one optimizer,
    per-replica look-back with tensor operations), and chunks run in parallel
    through :class:`sklearn.utils.parallel.Parallel`, so any joblib backend
    (loky, dask, ray) distributes them.

    Parameters
    ----------
    n_replicas : int, default=100
        Number of Monte Carlo replicas (one network each).
    hidden_layer_sizes : tuple of int, default=(10, 15, 5)
        Units per hidden layer.
    activations : tuple of str, default=("sigmoid", "sigmoid", "relu")
        Activation per hidden layer ("sigmoid", "tanh", "relu", "softplus",
        "identity"); the output is linear.
    max_epochs : int, default=2000
        Full-batch epochs per replica.
    lr : float, default=0.01
        Adam learning rate.
    lr_schedule : {"cosine"} or None, default=None
        ``"cosine"`` anneals the learning rate from ``lr`` to ``lr / 100`` over
        ``max_epochs``; None keeps it constant.
    validation_fraction : float, default=0.2
        Fraction of points each replica holds out for look-back stopping; 0 trains
        on all points and keeps the weights of the minimum training chi^2.
    replica_method : {"gaussian", "bootstrap", "none"}, default="gaussian"
        How pseudo-data are drawn: ``y + N(0, sigma)`` per point (in ln I when
        ``log_target``, i.e. relative noise sigma / y), resampling points with
        replacement, or the data themselves (replicas then differ only by
        initialisation and split).
    log_target : bool, default=True
        Model ln y (intensities must be positive) and predict exp of it.
    input_ranges : array-like of shape (n_features, 2), default=None
        (low, high) per feature mapped to [0.1, 0.9]. None uses each feature's
        range in the training data. Give wider ranges for covariates whose
        training spread is tiny, so that new spectra do not extrapolate.
    n_iter_no_change : int, default=None
        Stop a chunk once none of its replicas improved its best validation chi^2
        for this many epochs; None trains ``max_epochs``.
    max_restarts : int, default=3
        Retrain a replica whose network ended predicting a constant (all units of a
        ReLU layer dead: a plateau it can never leave) with new initial weights, up
        to this many times; its pseudo-data and split stay the same.
    restart_chi2 : float, default=5.0
        Also retrain (up to ``max_restarts`` times) a replica whose final chi^2
        exceeds this multiple of the median over replicas: stuck in a poor
        minimum rather than slow. Its new fit replaces the old one only if its
        chi^2 is lower. None retrains dead replicas only. Measured on the WS2
        fit of benchmarks/ (lr 0.1, 3000 epochs): the worst replica's chi^2
        fell from 854x the median (dead-only restarts) to 20x (10, 2 restarts)
        and 5.8x (3 to 5, 3 restarts).
    monotonic_penalty : float, default=10.0
        Weight of the penalty on any rise of the model between consecutive points
        of ``monotonic_X`` (see :meth:`fit`), added to each replica's chi^2 per
        point: the mean over pairs of the squared rise of the standardised target
        (ln y minus its mean, divided by its standard deviation) times this.
        Only used when ``fit`` gets ``monotonic_X``.
    reject_outliers : float, default=None
        Drop replicas whose final chi^2 exceeds the median by more than this many
        robust standard deviations (1.4826 MAD); None keeps all.
    point_estimate : {"median", "mean"}, default="median"
        Central value returned by :meth:`predict`.
    replicas_per_chunk : int, default=50
        Replicas trained together as one batched network (the default makes the
        paper's 100 replicas two chunks, one per core of a 2-core machine with
        ``n_jobs=2``; fixed cost per chunk and epoch favours large chunks). Results
        do not depend on it beyond float32 rounding, and not at all on ``n_jobs``.
    n_jobs : int, default=None
        Chunks trained in parallel (joblib; None means 1 unless in a
        ``joblib.parallel_config`` context).
    device : str, default="cpu"
        Torch device, e.g. "cuda".
    torch_threads : int, default=1
        Threads per chunk, for torch and for the compiled training step (which
        splits a chunk's replicas between them); tiny networks run fastest
        single-threaded with process parallelism (benchmarks/README.md: 100
        replicas x 2000 epochs in 3.5 s as two 1-thread processes, 5.8 s as one
        2-thread chunk). Results do not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seeds every replica's pseudo-data, split and initial weights.
    verbose : int, default=0
        Show a progress bar per chunk (tqdm) when > 0.

    Attributes
    ----------
    estimators_ : list of ReplicaNet
        Fitted skorch nets, one per chunk.
    n_replicas_ : int
        Replicas kept after rejection.
    n_rejected_ : int
        Replicas dropped by ``reject_outliers``.
    replica_chi2_ : ndarray of shape (n_replicas,)
        Final chi^2 of every replica on all training points (its own pseudo-data).
    replica_valid_chi2_ : ndarray of shape (n_replicas,)
        Best validation chi^2 of every replica.
    replica_best_epoch_ : ndarray of shape (n_replicas,)
        Epoch at which each replica's weights were kept.
    replica_restarts_ : ndarray of shape (n_replicas,)
        How often each replica was retrained after ending on a constant.
    kept_ : ndarray of shape (n_replicas,) of bool
        Which replicas predictions use.
    random_seeds_ : ndarray of shape (n_replicas,)
        Seed of every replica.
    n_features_in_ : int
        Number of features.

    See Also
    --------
    sklearn.ensemble.BaggingRegressor : bootstrap ensembles of sklearn estimators.

    References
    ----------
    L. I. Roest, S. E. van Heijst, L. Maduro, J. Rojo, S. Conesa-Boj, "Charting
    the low-loss region in electron energy loss spectroscopy with machine
    learning", Ultramicroscopy 222 (2021) 113202.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp import ZLPEnsembleRegressor
    >>> E = np.linspace(-1, 1, 200)[:, None]
    >>> y = 1e5 * np.exp(-0.5 * (E[:, 0] / 0.2) ** 2) + 10
    >>> reg = ZLPEnsembleRegressor(n_replicas=4, max_epochs=300, random_state=0)
    >>> reg.fit(E, y).transform(E).shape
    (200, 4)
    """

    _parameter_constraints: dict = {
        "n_replicas": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "activations": ["array-like"],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"cosine"}), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "replica_method": [StrOptions({"gaussian", "bootstrap", "none"})],
        "log_target": ["boolean"],
        "input_ranges": ["array-like", None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "max_restarts": [Interval(Integral, 0, None, closed="left")],
        "restart_chi2": [Interval(Real, 1, None, closed="neither"), None],
        "monotonic_penalty": [Interval(Real, 0, None, closed="left")],
        "reject_outliers": [Interval(Real, 0, None, closed="neither"), None],
        "point_estimate": [StrOptions({"median", "mean"})],
        "replicas_per_chunk": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "device": [str],
        "torch_threads": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_replicas=100,
        *,
        hidden_layer_sizes=(10, 15, 5),
        activations=("sigmoid", "sigmoid", "relu"),
        max_epochs=2000,
        lr=0.01,
        lr_schedule=None,
        validation_fraction=0.2,
        replica_method="gaussian",
        log_target=True,
        input_ranges=None,
        n_iter_no_change=None,
        max_restarts=3,
        restart_chi2=5.0,
        monotonic_penalty=10.0,
        reject_outliers=None,
        point_estimate="median",
        replicas_per_chunk=50,
        n_jobs=None,
        device="cpu",
        torch_threads=1,
        random_state=None,
        verbose=0,
    ):
        self.n_replicas = n_replicas
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activations = activations
        self.max_epochs = max_epochs
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.replica_method = replica_method
        self.log_target = log_target
        self.input_ranges = input_ranges
        self.n_iter_no_change = n_iter_no_change
        self.max_restarts = max_restarts
        self.restart_chi2 = restart_chi2
        self.monotonic_penalty = monotonic_penalty
        self.reject_outliers = reject_outliers
        self.point_estimate = point_estimate
        self.replicas_per_chunk = replicas_per_chunk
        self.n_jobs = n_jobs
        self.device = device
        self.torch_threads = torch_threads
        self.random_state = random_state
        self.verbose = verbose

    # -- fitting ---------------------------------------------------------------

    def _check_architecture(self):
        sizes = tuple(int(s) for s in np.atleast_1d(self.hidden_layer_sizes))
        acts = (
            (self.activations,)
            if isinstance(self.activations, str)
            else tuple(self.activations)
        )
        if len(acts) == 1 and len(sizes) > 1:
            acts = acts * len(sizes)
        if len(acts) != len(sizes) or any(s < 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} and "
                f"activations={self.activations!r} must have one positive size and one "
                "activation per hidden layer, e.g. (10, 15, 5) and "
                "('sigmoid', 'sigmoid', 'relu')."
            )
        unknown = [a for a in acts if a not in ACTIVATIONS]
        if unknown:
            raise ValueError(
                f"unknown activations {unknown}; choose from {sorted(ACTIVATIONS)}."
            )
        if self.device != "cpu" and not torch.device(self.device).type == "cpu":
            if torch.device(self.device).type == "cuda" and not torch.cuda.is_available():
                raise ValueError(
                    f"device={self.device!r} but torch finds no CUDA GPU here; use "
                    "device='cpu' or install a CUDA build of torch on a GPU machine."
                )
        return sizes, acts

    def fit(self, X, y, sample_weight=None, monotonic_X=None):
        """Train one network per Monte Carlo replica.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
            Energy loss in eV in the first column, covariates after it.
        y : array-like of shape (n_points,)
            Intensities (counts); positive when ``log_target``.
        sample_weight : array-like of shape (n_points,), default=None
            ``1 / sigma^2`` of each ``y``: the uncertainties that set both the
            chi^2 and the replicas' noise. None: counting statistics,
            ``sigma^2 = max(y, 1)`` when ``log_target``, else ``sigma = 1``.
        monotonic_X : array-like of shape (n_monotonic, n_features), default=None
            Points where the model must not rise with energy, e.g. a grid over an
            untrained energy range for each spectrum: every two consecutive rows
            with equal covariates (columns after the first) and increasing energy
            form a pair, and ``monotonic_penalty`` times the mean squared rise of
            the modelled (log) intensity over the pairs is added to each replica's
            cost. These points carry no data.

        Returns
        -------
        self : ZLPEnsembleRegressor
            Fitted estimator.
        """
        self._validate_params()
        sizes, acts = self._check_architecture()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        n_data = y.size
        pairs = None
        if monotonic_X is not None:
            X, y, sample_weight, pairs = append_monotonic_points(
                X, y, sample_weight, monotonic_X, self.log_target
            )
        if sample_weight is None:
            variance = counting_variance(y) if self.log_target else np.ones_like(y)
            active = np.ones(y.size, dtype=bool)
        else:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
            if np.any(sample_weight < 0) or not np.any(sample_weight > 0):
                raise ValueError(
                    "sample_weight is 1/sigma^2 of each point: it must be >= 0 (0 ignores "
                    "the point) and positive somewhere."
                )
            active = sample_weight > 0
            variance = np.where(active, 1.0 / np.where(active, sample_weight, 1.0), 1.0)
        if self.log_target:
            if np.any(y[active] <= 0):
                raise ValueError(
                    f"y has {int(np.sum(y[active] <= 0))} values <= 0, but log_target=True "
                    "models ln y; drop those points, give them sample_weight 0, or clip them "
                    "(e.g. y = np.maximum(y, 1)), "
                    "or set log_target=False."
                )
            safe_y = np.where(active, y, 1.0)
            target, sigma = np.log(safe_y), np.sqrt(variance) / safe_y
        else:
            target, sigma = y.copy(), np.sqrt(variance)

        if self.input_ranges is None:
            low, high = X[active].min(axis=0), X[active].max(axis=0)
            if pairs is not None:  # the penalty grid must not extrapolate either
                low = np.minimum(low, X[n_data:].min(axis=0))
                high = np.maximum(high, X[n_data:].max(axis=0))
        else:
            ranges = np.asarray(self.input_ranges, dtype=np.float64)
            if ranges.shape != (X.shape[1], 2) or np.any(ranges[:, 1] < ranges[:, 0]):
                raise ValueError(
                    f"input_ranges must have shape ({X.shape[1]}, 2) with low <= high per "
                    f"feature, got {np.shape(self.input_ranges)}."
                )
            low, high = ranges[:, 0], ranges[:, 1]
        width = np.where(high > low, high - low, 1.0)
        target_mean = float(np.mean(target[active]))
        target_scale = float(np.std(target[active])) or 1.0

        rng = check_random_state(self.random_state)
        seeds = rng.randint(MAX_SEED, size=self.n_replicas)
        scaled_target = (target - target_mean) / target_scale
        scaled_sigma = sigma / target_scale
        draws = [
            draw_replica(
                s,
                scaled_target,
                scaled_sigma,
                active,
                self.replica_method,
                self.validation_fraction,
            )
            for s in seeds
        ]
        targets = np.stack([d[0] for d in draws])
        w_train = np.stack([d[1] for d in draws])
        w_valid = None if draws[0][2] is None else np.stack([d[2] for d in draws])
        init_seeds = np.array([d[3] for d in draws])

        inputs = scale_inputs(X, low, width)
        # In units of the standardised target: a rise by one standard deviation of
        # the training targets between two grid points costs monotonic_penalty.
        penalty = self.monotonic_penalty if pairs is not None else 0.0

        chunks = [
            np.arange(i, min(i + self.replicas_per_chunk, self.n_replicas))
            for i in range(0, self.n_replicas, self.replicas_per_chunk)
        ]

        def train(groups, seeds_for_init):
            """Fit each group of replicas as one batched net, groups in parallel."""
            return Parallel(n_jobs=self.n_jobs)(
                delayed(fit_chunk)(
                    inputs,
                    targets[g],
                    w_train[g],
                    None if w_valid is None else w_valid[g],
                    seeds_for_init[g],
                    hidden_layer_sizes=sizes,
                    activations=acts,
                    max_epochs=self.max_epochs,
                    lr=self.lr,
                    lr_schedule=self.lr_schedule,
                    n_iter_no_change=self.n_iter_no_change,
                    device=self.device,
                    n_threads=self.torch_threads,
                    verbose=self.verbose,
                    description=f"replicas {g[0]}-{g[-1]}",
                    pairs=pairs,
                    penalty=penalty,
                )
                for g in groups
            )

        results = train(chunks, init_seeds)
        nets = [r[0] for r in results]
        best_epoch = np.concatenate([r[1] for r in results])
        best_loss = np.concatenate([r[2] for r in results])
        n_epochs = np.array([r[3] for r in results])
        predictions = np.concatenate([net_predict(net, inputs) for net in nets])
        restarts = np.zeros(self.n_replicas, dtype=int)
        target_range = np.ptp(scaled_target[active])
        weights_all = active / scaled_sigma**2 / active.sum()
        reference = scaled_target if self.replica_method == "bootstrap" else None

        def final_chi2(pred, rows):
            # chi^2 on all points of the replica's own pseudo-data (bootstrap: on
            # the data, not on resampled copies)
            target = targets[rows] if reference is None else reference
            return ((pred - target) ** 2 * weights_all).sum(axis=1)

        chi2 = final_chi2(predictions, slice(None))
        for attempt in range(1, self.max_restarts + 1):
            # A network whose ReLU layer died predicts one constant everywhere and can
            # never leave that plateau; one whose chi^2 is restart_chi2 times the
            # median is stuck in a poor minimum. Train such a replica again (same
            # pseudo-data and split, new initial weights from its own seed and the
            # attempt); a stuck one keeps whichever fit has the lower chi^2.
            dead = np.ptp(predictions[:, active], axis=1) <= 1e-6 * target_range
            dead |= ~np.isfinite(predictions).all(axis=1)
            stuck = np.zeros_like(dead)
            if self.restart_chi2 is not None and (~dead).sum() > 2:
                median = np.median(chi2[~dead])
                stuck = ~dead & (chi2 > self.restart_chi2 * median)
            if not (dead | stuck).any():
                break
            redo = np.flatnonzero(dead | stuck)
            new_init = init_seeds.copy()
            new_init[redo] = [
                np.random.default_rng([int(seeds[i]), attempt]).integers(MAX_SEED)
                for i in redo
            ]
            # Spread over as many groups as the first round had chunks, so the
            # retraining uses every worker; the split does not depend on n_jobs.
            n_groups = max(-(-redo.size // self.replicas_per_chunk), len(chunks))
            groups = [g for g in np.array_split(redo, n_groups) if g.size]
            retrained = train(groups, new_init)
            for group, (net, epochs, losses, _) in zip(groups, retrained, strict=True):
                new_pred = net_predict(net, inputs)
                new_chi2 = final_chi2(new_pred, group)
                for j, i in enumerate(group):
                    if not dead[i] and not new_chi2[j] < chi2[i]:
                        continue
                    chunk, pos = divmod(int(i), self.replicas_per_chunk)
                    copy_replica(net, j, nets[chunk], pos)
                    best_epoch[i] = epochs[j]
                    best_loss[i] = losses[j]
                    predictions[i] = new_pred[j]
                    chi2[i] = new_chi2[j]
            restarts[redo] += 1
        kept = np.isfinite(chi2)
        if self.reject_outliers is not None and kept.sum() > 2:
            median = np.median(chi2[kept])
            spread = 1.4826 * np.median(np.abs(chi2[kept] - median))
            kept &= chi2 <= median + self.reject_outliers * max(spread, 1e-12 * median)
        if not kept.any():
            raise RuntimeError(
                "every replica ended with a non-finite chi^2; lower lr or check the "
                "inputs for extreme values."
            )
        # Assign everything at once, so an interrupted fit leaves a fitted estimator
        # as it was.
        state = dict(
            _input_low_=low,
            _input_width_=width,
            estimators_=nets,
            _target_mean_=target_mean,
            _target_scale_=target_scale,
            random_seeds_=seeds,
            replica_chi2_=chi2,
            replica_valid_chi2_=best_loss,
            replica_best_epoch_=best_epoch,
            replica_restarts_=restarts,
            n_epochs_=n_epochs,
            kept_=kept,
            n_replicas_=int(kept.sum()),
            n_rejected_=int((~kept).sum()),
        )
        self.__dict__.update(state)
        return self

    # -- prediction --------------------------------------------------------------

    def _replica_predictions(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        inputs = scale_inputs(X, self._input_low_, self._input_width_)
        # kept replicas only, filled chunk by chunk and transformed in place: at
        # (replicas x points) floats each, temporaries cost more than the networks
        out = np.empty((self.n_replicas_, X.shape[0]))
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
        q = np.atleast_1d(np.asarray(quantiles, dtype=np.float64))
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
        levels = np.atleast_1d(np.asarray(confidence_level, dtype=np.float64))
        if np.any((levels <= 0) | (levels >= 1)):
            raise ValueError(
                f"confidence_level must lie in (0, 1), got {confidence_level!r}."
            )
        replicas = self._replica_predictions(X)
        centre = np.median if self.point_estimate == "median" else np.mean
        lower = replica_quantiles(replicas, (1 - levels) / 2).T
        upper = replica_quantiles(replicas, (1 + levels) / 2).T
        return centre(replicas, axis=0), np.stack([lower, upper], axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        return tags
