"""The losses of the replica networks: per-replica chi^2 and the monotonic penalty.

:meth:`~sklearn_zlp.nn.ReplicaMLP.chi2_step` computes both with their gradients in
one pass; these are their definitions in plain torch operations, differentiable.
"""

import torch

__all__ = ["monotonic_penalty", "replica_chi2"]


def replica_chi2(y_pred, y_true, weight):
    """Per-replica chi^2 as a weighted sum of squared residuals.

    With ``weight = m / (sigma^2 sum(m))`` per replica, where ``m`` is each point's
    multiplicity in the replica's split (0 outside it, bootstrap counts otherwise),
    this is ``mean((f - y)^2 / sigma^2)`` over the replica's points. Summing the
    result over replicas gives a loss whose gradient for replica r is that of its
    own chi^2.

    Parameters
    ----------
    y_pred, y_true, weight : Tensor of shape (n_replicas, n_points)

    Returns
    -------
    chi2 : Tensor of shape (n_replicas,)
    """
    return (weight * (y_pred - y_true) ** 2).sum(dim=1)


def monotonic_penalty(y_pred, pairs):
    """Per-replica mean squared rise of the model over ordered pairs of points.

    ``sum(relu(f[hi] - f[lo])^2) / n_pairs`` for every replica: zero where the
    model falls (or stays flat) from the first point of each pair to the second,
    quadratic in any rise. With pairs of neighbouring energies of one spectrum,
    this keeps the modelled ZLP monotonically falling where it is not trained
    (region II of Roest et al. 2021).

    Parameters
    ----------
    y_pred : Tensor of shape (n_replicas, n_points)
    pairs : Tensor of shape (2, n_pairs) of int64
        Indices (lo, hi) into the points axis.

    Returns
    -------
    penalty : Tensor of shape (n_replicas,)
    """
    rise = torch.relu(y_pred[:, pairs[1]] - y_pred[:, pairs[0]])
    return (rise * rise).mean(dim=1)
