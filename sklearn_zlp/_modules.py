"""Torch modules of sklearn-zlp: a whole ensemble of small MLPs as one module.

Nothing here knows about scikit-learn; the estimators in ``_ensemble.py`` build
these modules and hand them to skorch.
"""

import math

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "ReplicaMLP", "replica_chi2"]

_FIRST_LAYER_GAIN = 16.0

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "softplus": nn.functional.softplus,
    "identity": lambda h: h,
}


class ReplicaMLP(nn.Module):
    """``n_replicas`` independent feed-forward networks evaluated as one batch.

    Layer ``l`` of replica ``r`` has weights ``weights[l][r]`` of shape
    (out, in) and bias ``biases[l][r]`` of shape (out, 1). Activations are laid
    out as (replicas, units, points) and each layer is one ``torch.baddbmm``, the
    fastest layout for tiny layers on many points (DESIGN.md, performance notes).
    Gradients of replica ``r`` depend only on replica ``r``'s loss, and Adam is
    elementwise, so training the batch equals training each replica alone.

    Parameters
    ----------
    n_replicas : int
        Number of networks.
    n_inputs : int
        Input features per point.
    hidden_layer_sizes : tuple of int, default=(10, 15, 5)
        Units per hidden layer (Roest et al. 2021).
    activations : tuple of str, default=("sigmoid", "sigmoid", "relu")
        One of :data:`ACTIVATIONS` per hidden layer; the output is linear.
    seeds : sequence of int, default=None
        One seed per replica for its initial weights; None uses torch's global RNG.
    """

    def __init__(
        self,
        n_replicas,
        n_inputs,
        hidden_layer_sizes=(10, 15, 5),
        activations=("sigmoid", "sigmoid", "relu"),
        seeds=None,
    ):
        super().__init__()
        if len(activations) != len(hidden_layer_sizes):
            raise ValueError(
                f"activations has {len(activations)} entries but hidden_layer_sizes has "
                f"{len(hidden_layer_sizes)}; give one activation per hidden layer."
            )
        unknown = [a for a in activations if a not in ACTIVATIONS]
        if unknown:
            raise ValueError(
                f"unknown activations {unknown}; choose from {sorted(ACTIVATIONS)}."
            )
        self.n_replicas = int(n_replicas)
        self.activations = tuple(activations)
        sizes = [int(n_inputs), *map(int, hidden_layer_sizes), 1]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(self.n_replicas, n_out, n_in))
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.empty(self.n_replicas, n_out, 1)) for n_out in sizes[1:]
        )
        self.reset_parameters(seeds)

    @torch.no_grad()
    def reset_parameters(self, seeds=None):
        """Initialise every replica from its own seed.

        Glorot-uniform weights for sigmoid/tanh layers and He-uniform for ReLU
        (the variance-preserving choices for each), output bias 0 (targets are
        standardised). The first layer's biases put each unit's transition at a
        random point inside the [0.1, 0.9] input box, so that from the first epoch
        every unit responds to where the data are instead of saturating; this is
        what keeps the networks off the long initial plateau.
        """
        for r in range(self.n_replicas):
            gen = torch.Generator()
            if seeds is None:
                gen.seed()
            else:
                gen.manual_seed(int(seeds[r]))
            for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                n_out, n_in = w.shape[1:]
                act = (
                    self.activations[layer] if layer < len(self.activations) else "identity"
                )
                bound = (
                    math.sqrt(6.0 / n_in)
                    if act == "relu"
                    else math.sqrt(6.0 / (n_in + n_out))
                )
                w[r] = (torch.rand(n_out, n_in, generator=gen) * 2 - 1) * bound
                if layer == 0:
                    # Steep enough that a unit's sigmoid goes from 0.12 to 0.88 across
                    # about a third of the input box, centred at a random point in it.
                    w[r] = (torch.rand(n_out, n_in, generator=gen) * 2 - 1) * (
                        _FIRST_LAYER_GAIN / math.sqrt(n_in)
                    )
                    centre = 0.1 + 0.8 * torch.rand(n_in, generator=gen)
                    b[r] = -(w[r] @ centre)[:, None]
                elif layer == len(self.weights) - 1:
                    b[r] = 0.0
                else:
                    b[r] = (torch.rand(n_out, 1, generator=gen) * 2 - 1) * 0.1

    def forward(self, x, **_):
        """Evaluate every replica.

        Parameters
        ----------
        x : Tensor of shape (n_inputs, n_points) or (n_replicas, n_inputs, n_points)
            Scaled inputs, points on the last axis; a 2-D input is shared.

        Returns
        -------
        out : Tensor of shape (n_replicas, n_points)
        """
        h = x.expand(self.n_replicas, *x.shape) if x.dim() == 2 else x
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, w, h)
            if layer < last:
                h = ACTIVATIONS[self.activations[layer]](h)
        return h[:, 0, :]


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
