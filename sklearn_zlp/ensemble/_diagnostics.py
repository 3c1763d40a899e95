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
    "failure_message",
    "final_statuses",
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
