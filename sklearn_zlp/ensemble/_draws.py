"""Monte Carlo replicas: pseudo-data, train/validation split and seeds per replica."""

import numpy as np

__all__ = ["MAX_SEED", "draw_replica"]

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
