"""Replica diagnostics: which trained replicas failed, and how to say so.

A replica fails when its kept weights cannot be trusted: they predict
non-finite values, its training diverged, it made no progress from its initial
weights, or its network ended predicting one constant (dead). The estimator
retrains failed replicas and drops those that still fail; this module names the
failures, summarises them and words the error when too few replicas survive.
"""

import numpy as np

__all__ = [
    "DIVERGED_FACTOR",
    "FAILED",
    "NOISE_FLOOR_CHI2",
    "NO_PROGRESS_RATIO",
    "classify_replicas",
    "ensemble_summary",
    "failure_message",
    "final_statuses",
    "held_out_prediction",
    "status_summary",
    "stuck_replicas",
]

# A replica whose loss at its last epoch exceeds this multiple of its loss at
# the first epoch (its initial weights) diverged. Measured, last/first validation
# chi^2: normal fits at most 1.5 (3-replica fits of sklearn's check data, 30 and
# 150 epochs), 1.4 after only 5 epochs, at most 0.99 on WS2 (200 replicas, lr 0.1,
# 3000 epochs, dead ones included); lr 1e3 and 1e6 on the tests' ZLP points:
# 4.6e5 to 1e28 for every replica that did not end dead.
DIVERGED_FACTOR = 100.0

# No progress: the best validation chi^2 is still at least this fraction of the
# chi^2 of the initial weights (and above NOISE_FLOOR_CHI2). Measured best/initial
# on normal fits: WS2 with the default ZLPSubtractor regressor (100 replicas,
# lr 0.1, 3000 epochs; specimen and vacuum, two seeds each) at most 0.0082 for
# every replica that is not dead, median 4e-5 to 1.2e-4 (dead ones, caught as
# dead: 0.01-0.98); the tests' ZLP points at most 0.0087 after 1000 epochs and
# 0.84 after 30-300 epochs (lr 0.01, 20 replicas). No training at all (lr 1e-6,
# 300 epochs): 0.967-0.996; one epoch: 1.
NO_PROGRESS_RATIO = 0.95

# A replica whose initial weights already fit the data to the noise has nothing
# left to gain: below this chi^2 per point it is never "no progress". A perfect
# model has a validation chi^2 of about 2 against Gaussian pseudo-data (data noise
# plus replica noise) and 1 otherwise; 4 is twice that. (Best live chi^2 on WS2:
# 2.1-2.2; sklearn's check data with sigma^2 = y: 0.7-2.8 at the first epoch.)
NOISE_FLOOR_CHI2 = 4.0

# Relative spread (of the standardised target's range) below which a replica's
# predictions count as one constant: a dead ReLU layer.
_DEAD_SPREAD = 1e-6

FAILED = ("non_finite", "diverged", "dead", "no_progress")

_EXPLAIN = {
    "non_finite": "predict NaN or infinite values",
    "diverged": f"diverged (final loss over {DIVERGED_FACTOR:g}x the initial one)",
    "dead": "predict one constant (dead units)",
    "no_progress": (
        f"made no progress (best validation chi^2 above {NO_PROGRESS_RATIO:g}x the "
        "initial one)"
    ),
    "outlier": "were rejected as chi^2 outliers (reject_outliers)",
    "stuck": "kept a chi^2 above restart_chi2 x the median after their restarts",
    "restarted": "were retrained and then trained well",
}

_ADVICE = {
    "non_finite": "lower lr or look for extreme values in X, y or sample_weight",
    "diverged": "lower lr",
    "dead": "lower lr (large steps saturate sigmoid/tanh units and kill ReLU ones)",
    "no_progress": (
        "raise max_epochs or lr (or check that the uncertainties in sample_weight "
        "are not too large for the data to say anything)"
    ),
}


def classify_replicas(predictions, best_loss, first_loss, last_loss, active, target_range):
    """Status of each replica of one training round: "ok" or a failure.

    Parameters
    ----------
    predictions : ndarray of shape (n_replicas, n_points)
        Each replica's (scaled) predictions on the training points.
    best_loss, first_loss, last_loss : ndarray of shape (n_replicas,)
        Validation chi^2 (training chi^2 without validation points) at the kept
        weights, at the first epoch and at the last epoch.
    active : ndarray of shape (n_points,) of bool
        Points with data (positive weight).
    target_range : float
        Range of the scaled targets over the active points; predictions of a
        replica spanning less than a millionth of it are one constant.

    Returns
    -------
    status : ndarray of shape (n_replicas,) of str
        "ok", "non_finite", "diverged", "dead" or "no_progress" (in this order
        of precedence when several apply).
    """
    best_loss = np.asarray(best_loss, dtype=np.float64)
    first_loss = np.asarray(first_loss, dtype=np.float64)
    last_loss = np.asarray(last_loss, dtype=np.float64)
    status = np.full(best_loss.shape, "ok", dtype="<U11")
    finite = np.isfinite(predictions).all(axis=1) & np.isfinite(best_loss)
    with np.errstate(invalid="ignore", over="ignore"):
        diverged = ~np.isfinite(last_loss) | (last_loss > DIVERGED_FACTOR * first_loss)
        no_progress = (best_loss >= NO_PROGRESS_RATIO * first_loss) & (
            best_loss > NOISE_FLOOR_CHI2
        )
    # A constant is only a failure where the data are not constant themselves.
    dead = np.zeros_like(finite)
    varies = np.ptp(predictions[:, active], axis=1) if active.sum() > 1 else None
    if varies is not None and target_range > 0:
        dead = varies <= _DEAD_SPREAD * target_range
    for name, flag in (
        ("no_progress", no_progress),
        ("dead", dead),
        ("diverged", diverged),
        ("non_finite", ~finite),
    ):  # later ones take precedence
        status[flag] = name
    return status


def stuck_replicas(chi2, good, restart_chi2):
    """Good replicas whose chi^2 exceeds ``restart_chi2`` times the good ones' median."""
    stuck = np.zeros(chi2.shape, dtype=bool)
    if restart_chi2 is not None and good.sum() > 2:
        stuck = good & (chi2 > restart_chi2 * np.median(chi2[good]))
    return stuck


def final_statuses(status, restarts, chi2, restart_chi2, reject_outliers):
    """Statuses after training, and which replicas predictions use.

    Replicas that trained become "restarted" if they were retrained, "stuck" if
    their chi^2 is still above ``restart_chi2`` times the median, "outlier" if
    ``reject_outliers`` drops them (chi^2 above the median by more than that many
    robust standard deviations, 1.4826 MAD); failed ones keep their failure.
    """
    status = status.copy()
    trained = ~np.isin(status, FAILED)
    status[trained & (restarts > 0)] = "restarted"
    status[stuck_replicas(chi2, trained, restart_chi2)] = "stuck"
    kept = trained.copy()
    if reject_outliers is not None and kept.sum() > 2:
        median = np.median(chi2[kept])
        spread = 1.4826 * np.median(np.abs(chi2[kept] - median))
        kept &= chi2 <= median + reject_outliers * max(spread, 1e-12 * median)
        status[trained & ~kept] = "outlier"
    return status, kept


def status_summary(status):
    """Counts of each status, e.g. "97 ok, 2 restarted, 1 diverged"."""
    names, counts = np.unique(status, return_counts=True)
    order = ["ok", "restarted", "stuck", "outlier", *FAILED]
    pairs = sorted(
        zip(names.tolist(), counts.tolist(), strict=True),
        key=lambda nc: order.index(nc[0]) if nc[0] in order else len(order),
    )
    return ", ".join(f"{c} {n}" for n, c in pairs)


def failure_message(status, n_restarts, lr, replica_lr, n_required):
    """Explain dropped replicas: what happened to how many, and what to change.

    ``lr`` is the estimator's learning rate, ``replica_lr`` that of each
    replica's last fit; ``n_required`` None words a warning, not an error.
    """
    n = status.size
    lr_text = f"lr={lr:g}"
    if np.min(replica_lr) < lr:
        lr_text += f", retried down to {np.min(replica_lr):g} after diverging"
    failed = [name for name in FAILED if np.any(status == name)]
    parts = [f"{int(np.sum(status == name))} {_EXPLAIN[name]}" for name in failed]
    advice = "; ".join(f"{name}: {_ADVICE[name]}" for name in failed)
    n_failed = int(np.isin(status, FAILED).sum())
    text = (
        f"{n_failed} of {n} replicas failed to train after up to {n_restarts} "
        f"restart(s) ({lr_text}): " + ", ".join(parts) + "."
    )
    if n_required is not None:
        text += f" Only {n - n_failed} trained, but min_replicas requires {n_required}."
    return text + f" To fix: {advice}. Per replica: replica_status_."


def held_out_prediction(predictions, held_out):
    """Median, for every point, over the replicas that held it out of training.

    The out-of-bag prediction of :class:`sklearn.ensemble.BaggingRegressor`
    for the 80/20 splits of the replicas: each point is predicted only by the
    networks that never saw it (about a fifth of them), so its residual is a
    held-out one.

    Parameters
    ----------
    predictions : ndarray of shape (n_replicas, n_points)
        Every kept replica's prediction.
    held_out : ndarray of shape (n_replicas, n_points) of bool
        Which points each replica held out (its validation points).

    Returns
    -------
    prediction : ndarray of shape (n_points,)
        NaN where no replica held the point out.
    """
    masked = np.where(held_out, predictions, np.nan)
    out = np.full(predictions.shape[1], np.nan)
    seen = held_out.any(axis=0)
    out[seen] = np.nanmedian(masked[:, seen], axis=0)
    return out


def ensemble_summary(est):
    """The text of :meth:`ZLPEnsembleRegressor.summary`."""
    status = est.replica_status_
    n_all = status.size
    kept = est.kept_
    chi2 = est.replica_chi2_
    lines = [
        f"ZLPEnsembleRegressor: {n_all} replicas x {est.max_epochs} epochs "
        f"(lr {est.lr:g}, hidden layers {tuple(est.hidden_layer_sizes)}, "
        f"{est.replica_method} replicas, validation fraction {est.validation_fraction:g}), "
        f"{est.n_features_in_} input features",
        f"  replicas kept: {est.n_replicas_} of {n_all} "
        f"({100 * est.n_replicas_ / n_all:.0f}%); {status_summary(status)}",
    ]
    dropped = [name for name in (*FAILED, "outlier") if np.any(status == name)]
    for name in dropped:
        lines.append(f"    {int(np.sum(status == name))} {_EXPLAIN[name]}")
    if np.any(est.replica_restarts_ > 0):
        lines.append(f"  restarts: {int(est.replica_restarts_.sum())} in all")
    if kept.any():
        q = np.nanquantile(chi2[kept], [0.0, 0.16, 0.5, 0.84, 1.0])
        v = np.nanquantile(est.replica_valid_chi2_[kept], [0.16, 0.5, 0.84])
        e = np.quantile(est.replica_best_epoch_[kept], [0.0, 0.5, 1.0])
        lines += [
            "  chi^2 per point of the kept replicas (against their pseudo-data; about 2 "
            "is a fit to the noise):",
            f"    training: median {q[2]:.3g}, 16-84% {q[1]:.3g} to {q[3]:.3g}, "
            f"range {q[0]:.3g} to {q[4]:.3g}",
            f"    validation (held-out points): median {v[1]:.3g}, 16-84% {v[0]:.3g} "
            f"to {v[2]:.3g}",
            f"    epoch of the kept weights: {e[0]:.0f} to {e[2]:.0f} (median {e[1]:.0f}) "
            f"of {est.max_epochs}"
            + (
                "; most replicas were still improving at the end: raise max_epochs"
                if e[1] >= 0.95 * est.max_epochs
                else ""
            ),
        ]
    oob = getattr(est, "oob_prediction_", None)
    if oob is not None and np.any(np.isfinite(oob)):
        lines.append(
            f"  out-of-bag predictions for {int(np.isfinite(oob).sum())} of {oob.size} "
            "training points (oob_prediction_)"
        )
    return "\n".join(lines)
