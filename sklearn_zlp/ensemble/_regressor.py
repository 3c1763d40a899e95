"""ZLPEnsembleRegressor: Monte Carlo replica ensemble of skorch networks."""

import math
import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._validation import as_real_array
from ..nn import ACTIVATIONS
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._transaction import transactional_fit
from ._checkpoint import UNRESUMABLE
from ._diagnostics import (
    FAILED,
    failure_message,
    final_statuses,
    status_summary,
)
from ._draws import MAX_SEED, check_replica_targets, draw_replica, given_pseudo_data
from ._inputs import as_sample_weight, input_box, real_input, targets_and_sigmas
from ._prediction import EnsemblePredictionMethods
from ._trainer import EnsembleTraining
from ._training import append_monotonic_points, scale_inputs

__all__ = ["ZLPEnsembleRegressor"]


class ZLPEnsembleRegressor(
    TransformerMixin, EnsemblePredictionMethods, RegressorMixin, BaseEstimator
):
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
        Retrain a replica whose training failed, up to this many times, with new
        initial weights (its pseudo-data and split stay the same): its kept
        weights predict non-finite values; it diverged (its final loss exceeds
        100 times its initial one); it made no progress (its best validation
        chi^2 is still above 0.95 times that of its initial weights, and above 4
        per point); or it is dead (it predicts one constant: all units of a ReLU
        layer dead or every sigmoid saturated, a plateau it can never leave). A
        replica that diverged or went non-finite retrains at a tenth of its
        learning rate, and again at a tenth after every later failure. Replicas
        that still fail are dropped and reported in ``replica_status_``. The
        thresholds and the measurements behind them are in
        ``sklearn_zlp/ensemble/_diagnostics.py``.
    restart_chi2 : float, default=5.0
        Also retrain (up to ``max_restarts`` times) a replica whose final chi^2
        exceeds this multiple of the median over replicas: stuck in a poor
        minimum rather than slow. Its new fit replaces the old one only if its
        chi^2 is lower. None retrains failed replicas only. Measured on the WS2
        fit of benchmarks/ (lr 0.1, 3000 epochs): the worst replica's chi^2
        fell from 854x the median (dead-only restarts) to 20x (10, 2 restarts)
        and 5.8x (3 to 5, 3 restarts).
    monotonic_X : array-like of shape (n_monotonic, n_features), default=None
        Points where the model must not rise with energy, e.g. a grid over an
        untrained energy range for each spectrum: every two consecutive rows
        with equal covariates (columns after the first) and increasing energy
        form a pair, and ``monotonic_penalty`` times the mean squared rise of
        the modelled (log) intensity over the pairs is added to each replica's
        cost. These points carry no data. A constructor parameter, not a fit
        parameter, so that cross-validation never slices it like the samples.
    monotonic_penalty : float, default=10.0
        Weight of the penalty on any rise of the model between consecutive points
        of ``monotonic_X``, added to each replica's chi^2 per point: the mean
        over pairs of the squared rise of the standardised target (ln y minus its
        mean, divided by its standard deviation) times this. Only used with
        ``monotonic_X``.
    reject_outliers : float, default=None
        Drop replicas whose final chi^2 exceeds the median by more than this many
        robust standard deviations (1.4826 MAD) of the replicas that trained;
        None keeps all.
    min_replicas : int or float, default=0.5
        Fewest replicas that must train (not fail, see ``max_restarts``) for the
        fit to succeed; a float in (0, 1] is a fraction of ``n_replicas``. With
        fewer, ``fit`` raises a RuntimeError that says what failed and what to
        change; with enough, failed replicas are dropped with one UserWarning.
    point_estimate : {"median", "mean"}, default="median"
        Central value returned by :meth:`predict`.
    replicas_per_chunk : int, default=50
        Replicas trained together as one batched network (the default makes the
        paper's 100 replicas two chunks, one per core of a 2-core machine with
        ``n_jobs=2``; fixed cost per chunk and epoch favours large chunks). Results
        do not depend on it, nor on ``n_jobs``: bitwise on the CPU, as every
        replica trains with its own arithmetic in the compiled step and Adam
        (tests/test_modules_net.py).
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
    checkpoint_dir : str or path-like, default=None
        Directory where each finished group of replicas (a chunk, or a group of
        restarts) is written as soon as it finishes, as ``.npz`` arrays plus JSON
        (nothing that executes code when loaded). A later fit with the same data
        and parameters (and an int ``random_state``) loads the groups it finds
        instead of training them, so an interrupted fit resumes where it stopped;
        the result equals an uninterrupted fit bitwise. A checkpoint is used only
        if its fingerprint (inputs, targets, sample weights, ``monotonic_X``,
        every parameter that changes training, the replica seeds and the
        versions of sklearn-zlp, torch and skorch) matches and its checksum is
        intact; foreign, stale or corrupt files are ignored with a warning and
        replaced. Loaded networks carry their weights, not their training
        history or optimizer state. None writes nothing.
    random_state : int, RandomState instance or None, default=None
        Seeds every replica's pseudo-data, split and initial weights.
    verbose : int, default=0
        When > 0, one progress display for the whole fit (all chunks, restarts) on
        stderr; inside a ``sklearn_zlp._progress.JobProgress`` the fit reports there.

    Attributes
    ----------
    estimators_ : list of ReplicaNet
        Fitted skorch nets, one per chunk (every replica, dropped ones included).
    n_replicas_ : int
        Replicas kept: those predictions use.
    n_rejected_ : int
        Replicas dropped, for failing to train or by ``reject_outliers``
        (``replica_status_`` says which).
    replica_status_ : ndarray of shape (n_replicas,) of str
        What became of each replica. Kept: "ok" (trained at the first attempt),
        "restarted" (failed or stuck at first, trained well when retrained),
        "stuck" (chi^2 still above ``restart_chi2`` times the median after its
        restarts; kept, drop such replicas with ``reject_outliers``). Dropped:
        "outlier" (``reject_outliers``), and the failures that restarts did not
        cure: "non_finite", "diverged", "no_progress", "dead" (see
        ``max_restarts`` for their definitions).
    replica_chi2_ : ndarray of shape (n_replicas,)
        Final chi^2 per point of every replica on all training points (its own
        pseudo-data; bootstrap: the data); NaN where it is not finite.
    replica_valid_chi2_ : ndarray of shape (n_replicas,)
        Best validation chi^2 of every replica (the one look-back kept).
    replica_initial_chi2_ : ndarray of shape (n_replicas,)
        Validation chi^2 of every replica's initial weights: the yardstick of
        "no_progress".
    replica_best_epoch_ : ndarray of shape (n_replicas,)
        Epoch at which each replica's weights were kept (1: the initial weights).
    replica_restarts_ : ndarray of shape (n_replicas,)
        How often each replica was retrained.
    replica_lr_ : ndarray of shape (n_replicas,)
        Learning rate of each replica's kept fit: ``lr``, or less for a replica
        retrained after diverging.
    kept_ : ndarray of shape (n_replicas,) of bool
        Which replicas predictions use.
    oob_prediction_ : ndarray of shape (n_samples,)
        Held-out ("out-of-bag") prediction of every training point: the median
        over the kept replicas that held the point out of their training (their
        validation points, about ``validation_fraction`` of the replicas), in
        intensity units; NaN where no kept replica held it out (always with
        ``validation_fraction=0``). Residuals against it are held-out residuals
        (the precedent: ``BaggingRegressor.oob_prediction_``).
    n_checkpoint_loaded_ : int
        Replica trainings (first round and restarts) loaded from
        ``checkpoint_dir`` instead of run.
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
        "monotonic_X": ["array-like", None],
        "reject_outliers": [Interval(Real, 0, None, closed="neither"), None],
        "min_replicas": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="right"),
        ],
        "point_estimate": [StrOptions({"median", "mean"})],
        "replicas_per_chunk": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "device": [str],
        "torch_threads": [Interval(Integral, 1, None, closed="left")],
        "checkpoint_dir": [str, os.PathLike, None],
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
        monotonic_X=None,
        monotonic_penalty=10.0,
        reject_outliers=None,
        min_replicas=0.5,
        point_estimate="median",
        replicas_per_chunk=50,
        n_jobs=None,
        device="cpu",
        torch_threads=1,
        checkpoint_dir=None,
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
        self.monotonic_X = monotonic_X
        self.monotonic_penalty = monotonic_penalty
        self.reject_outliers = reject_outliers
        self.min_replicas = min_replicas
        self.point_estimate = point_estimate
        self.replicas_per_chunk = replicas_per_chunk
        self.n_jobs = n_jobs
        self.device = device
        self.torch_threads = torch_threads
        self.checkpoint_dir = checkpoint_dir
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

    @transactional_fit
    def fit(self, X, y, sample_weight=None, replica_targets=None):
        """Train one network per Monte Carlo replica.

        Transactional: if it raises or is interrupted, the estimator keeps its
        previous fit (or stays unfitted), and the exception says so in a note.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
            Energy loss in eV in the first column, covariates after it. Any
            array-like of real numbers (lists, integer or float32 arrays,
            DataFrames).
        y : array-like of shape (n_points,)
            Intensities (counts); positive when ``log_target``.
        sample_weight : array-like of shape (n_points,), default=None
            ``1 / sigma^2`` of each ``y``: the uncertainties that set both the
            chi^2 and the replicas' noise. None: counting statistics,
            ``sigma^2 = max(y, 1)`` when ``log_target``, else ``sigma = 1``.
        replica_targets : array-like of shape (n_points, n_replicas), default=None
            Each replica's pseudo-data in place of a draw around ``y`` (e.g. one
            spectrum per thickness cluster, ``ZLPSubtractor(training="clusters")``);
            ``y`` and ``sample_weight`` still set the chi^2, splits and seeds
            are drawn as usual. Positive where weighted when ``log_target``.

        Returns
        -------
        self : ZLPEnsembleRegressor
            Fitted estimator.

        Raises
        ------
        RuntimeError
            When fewer than ``min_replicas`` replicas trained (see
            ``replica_status_`` in the message for what failed and what to change).
        """
        self._validate_params()
        sizes, acts = self._check_architecture()
        X, y = validate_data(
            self,
            real_input(X, "X"),
            as_real_array(y, name="y"),
            dtype=np.float64,
            y_numeric=True,
        )
        if sample_weight is not None:
            sample_weight = as_sample_weight(sample_weight, y.size)
        if replica_targets is not None:
            replica_targets = check_replica_targets(self, replica_targets, y, sample_weight)
        n_required = self._required_replicas()
        n_data = y.size
        pairs = None
        if self.monotonic_X is not None:
            X, y, sample_weight, pairs = append_monotonic_points(
                X,
                y,
                sample_weight,
                as_real_array(self.monotonic_X, name="monotonic_X"),
                self.log_target,
            )
        target, sigma, active = targets_and_sigmas(y, sample_weight, self.log_target)
        low, width = input_box(X, active, n_data, self.input_ranges)
        target_mean = float(np.mean(target[active]))
        target_scale = float(np.std(target[active])) or 1.0

        if self.checkpoint_dir is not None and self.random_state is None:
            warnings.warn(UNRESUMABLE, UserWarning, stacklevel=3)  # past transactional_fit
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
        if replica_targets is not None:
            own = (
                replica_targets,
                self.log_target,
                target,
                active,
                target_mean,
                target_scale,
            )
            draws = given_pseudo_data(draws, *own)
        inputs = scale_inputs(X, low, width)
        # A constant is the right answer where the targets or the inputs do not vary.
        varies = np.ptp(inputs[:, active], axis=1).max() > 0 if active.any() else False
        training = EnsembleTraining(
            inputs=inputs,
            targets=np.stack([d[0] for d in draws]),
            w_train=np.stack([d[1] for d in draws]),
            w_valid=None if draws[0][2] is None else np.stack([d[2] for d in draws]),
            init_seeds=np.array([d[3] for d in draws]),
            seeds=seeds,
            chi2_weights=active / scaled_sigma**2 / active.sum(),
            reference=scaled_target if self.replica_method == "bootstrap" else None,
            active=active,
            target_range=float(np.ptp(scaled_target[active])) if varies else 0.0,
            pairs=pairs,
            # In units of the standardised target: a rise by one standard deviation
            # of the training targets between two grid points costs the penalty.
            penalty=self.monotonic_penalty if pairs is not None else 0.0,
            net_params=dict(
                hidden_layer_sizes=sizes,
                activations=acts,
                max_epochs=self.max_epochs,
                lr_schedule=self.lr_schedule,
                n_iter_no_change=self.n_iter_no_change,
                device=self.device,
                n_threads=self.torch_threads,
            ),
            lr=self.lr,
            replicas_per_chunk=self.replicas_per_chunk,
            n_jobs=self.n_jobs,
            checkpoint_dir=self.checkpoint_dir,
            verbose=self.verbose,
        )
        fit = training.train(self.max_restarts, self.restart_chi2)
        status, chi2 = fit["status"], fit["chi2"]
        trained = ~np.isin(status, FAILED)
        if trained.sum() < n_required:
            raise RuntimeError(
                failure_message(status, self.max_restarts, self.lr, fit["lr"], n_required)
            )
        status, kept = final_statuses(
            status, fit["restarts"], chi2, self.restart_chi2, self.reject_outliers
        )
        if not trained.all():
            warnings.warn(
                f"ZLPEnsembleRegressor: {status_summary(status)}. "
                + failure_message(status, self.max_restarts, self.lr, fit["lr"], None),
                UserWarning,
                stacklevel=3,  # past transactional_fit to the caller
            )
        # Every attribute is a new object: transactional_fit restores the previous
        # ones by putting the old __dict__ back.
        self.__dict__.update(
            _input_low_=low,
            _input_width_=width,
            estimators_=fit["nets"],
            _target_mean_=target_mean,
            _target_scale_=target_scale,
            random_seeds_=seeds,
            replica_chi2_=chi2,
            replica_valid_chi2_=fit["best_loss"],
            replica_initial_chi2_=fit["first_loss"],
            replica_best_epoch_=fit["best_epoch"],
            replica_restarts_=fit["restarts"],
            replica_lr_=fit["lr"],
            replica_status_=status,
            n_epochs_=fit["n_epochs"],
            kept_=kept,
            n_replicas_=int(kept.sum()),
            n_rejected_=int((~kept).sum()),
            n_checkpoint_loaded_=training.n_loaded,
        )
        self.oob_prediction_ = self._held_out(inputs[:, :n_data], draws)
        return self

    def _required_replicas(self):
        if isinstance(self.min_replicas, Integral):
            required = int(self.min_replicas)
        else:
            required = max(1, math.ceil(self.min_replicas * self.n_replicas))
        if required > self.n_replicas:
            raise ValueError(
                f"min_replicas={self.min_replicas!r} asks for more replicas than "
                f"n_replicas={self.n_replicas}; lower it or train more replicas."
            )
        return required

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        # ln y is modelled when log_target: targets must be positive.
        tags.target_tags.positive_only = bool(self.log_target)
        # Without sample_weight the uncertainties are counting statistics
        # (sigma^2 = y): on sklearn's small synthetic targets (1 to ~13 once made
        # positive) that is 30-100% relative noise, and an honest fit to such data
        # scores R^2 0.2-0.3 (0.75 when sample_weight gives sigma = 0.01).
        if tags.regressor_tags is not None:
            tags.regressor_tags.poor_score = bool(self.log_target)
        return tags
