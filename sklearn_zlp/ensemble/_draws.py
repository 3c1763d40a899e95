"""Monte Carlo replicas: pseudo-data, train/validation split and seeds per replica."""

import numpy as np

from .._validation import as_real_array

__all__ = ["MAX_SEED", "check_replica_targets", "draw_replica", "given_pseudo_data"]

MAX_SEED = np.iinfo(np.int32).max


def draw_replica(seed, target, sigma, active, method, validation_fraction):
    """Pseudo-data, split and initialisation seed of one replica, from its own seed.

    Only ``active`` points (positive sample weight) take part. Returns the
    replica's targets, its training and validation weights (each normalised so
    that the weighted sum of squared residuals is the mean chi^2 over the
    replica's points) and the seed for its network's initial weights.
    """
    rng = np.random.default_rng(seed)
    n = target.size
    index = np.flatnonzero(active)
    multiplicity = active.astype(np.float64)
    if method == "gaussian":
        target = target + rng.normal(0.0, sigma)
    elif method == "bootstrap":
        multiplicity[index] = rng.multinomial(
            index.size, np.full(index.size, 1.0 / index.size)
        )
    n_valid = int(round(validation_fraction * index.size))
    valid = np.zeros(n, dtype=bool)
    if n_valid > 0:
        valid[rng.permutation(index)[:n_valid]] = True
    inv_var = 1.0 / sigma**2

    def weights(mask):
        m = multiplicity * mask
        total = m.sum()
        return m * inv_var / total if total > 0 else np.zeros(n)

    init_seed = int(rng.integers(MAX_SEED))
    return target, weights(~valid), weights(valid) if n_valid > 0 else None, init_seed


def given_pseudo_data(draws, replica_targets, log_target, target, active, mean, scale):
    """The draws with each replica's targets replaced by its column of ``replica_targets``.

    ``target`` (ln y when ``log_target``) holds the data points first and the
    monotonic points (no data) after them; those keep the central value. The
    split, weights and initialisation seed of every draw stay.
    """
    given = np.log(replica_targets) if log_target else replica_targets
    n_data = given.shape[0]
    out = []
    for r, d in enumerate(draws):
        own = target.copy()
        own[:n_data] = np.where(active[:n_data], given[:, r], target[:n_data])
        out.append(((own - mean) / scale, *d[1:]))
    return out


def check_replica_targets(est, replica_targets, y, sample_weight):
    """Each replica's own pseudo-data (n_points, n_replicas), validated for ``est``.

    Values at points without weight are replaced by 1 (they are never fitted).
    """
    n_replicas, log_target = est.n_replicas, est.log_target
    given = as_real_array(replica_targets, name="replica_targets")
    if given.shape != (y.size, n_replicas):
        raise ValueError(
            f"replica_targets must have shape (n_points, n_replicas) = "
            f"({y.size}, {n_replicas}), one column of pseudo-data per replica; "
            f"got {given.shape}."
        )
    active = np.ones(y.size, bool) if sample_weight is None else sample_weight > 0
    bad = ~np.isfinite(given[active])
    if log_target:
        bad |= ~(given[active] > 0)
    if bad.any():
        positive = " and positive (log_target=True models ln y)" if log_target else ""
        raise ValueError(
            f"replica_targets has {int(bad.sum())} values that are not finite"
            f"{positive} at points with a positive sample_weight; clip them, e.g. "
            "np.maximum(replica_targets, 1)."
        )
    return np.where(active[:, None], given, 1.0)
