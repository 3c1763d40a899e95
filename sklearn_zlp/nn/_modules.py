"""Torch modules of sklearn-zlp: a whole ensemble of small MLPs as one module.

Nothing here knows about scikit-learn; the estimators in ``sklearn_zlp.ensemble``
build these modules and hand them to skorch.

One training step and one forward pass, each with two implementations: the
compiled kernel (``_ckernel*.c`` through :mod:`._kernel`, CPU float32, where
:func:`~sklearn_zlp.nn.engine_info` says it is the engine) and its torch twin in
:mod:`._twins` (GPUs, other CPUs, activations the kernel lacks,
``SKLEARN_ZLP_KERNEL=torch``).
Training goes through :meth:`ReplicaMLP.chi2_step`, prediction through
:meth:`ReplicaMLP.forward`; neither builds an autograd graph.
"""

import math

import torch
from torch import nn

from . import _kernel, _twins

__all__ = ["ACTIVATIONS", "ReplicaMLP"]

_FIRST_LAYER_GAIN = 16.0
_RELU_BIAS = 1.0

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
    out as (replicas, units, points), points on the last axis. Gradients of
    replica ``r`` depend only on replica ``r``'s loss, and :class:`ReplicaAdam` is
    elementwise, so training the batch equals training each replica alone; with
    the compiled kernel bitwise (each replica is computed on its own), with the
    torch twin to float32 rounding.

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
    init_inputs : array-like of shape (n_inputs, n_points), default=None
        Scaled training inputs (or a list of one such array per replica). Each
        first-layer unit's transition is then centred at a randomly drawn training
        point, so units start where the data are (e.g. in the narrow zero-loss
        region rather than in the empty gap between training regions).
        None centres the first layer at random points of the [0.1, 0.9] input box.
    n_threads : int, default=1
        Threads of the compiled training step, each on its own share of the
        replicas (results do not depend on it). The torch twin uses torch's
        threads instead, which this module never changes.
    """

    def __init__(
        self,
        n_replicas,
        n_inputs,
        hidden_layer_sizes=(10, 15, 5),
        activations=("sigmoid", "sigmoid", "relu"),
        seeds=None,
        init_inputs=None,
        n_threads=1,
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
        self.n_threads = int(n_threads)
        sizes = [int(n_inputs), *map(int, hidden_layer_sizes), 1]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(self.n_replicas, n_out, n_in))
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.empty(self.n_replicas, n_out, 1)) for n_out in sizes[1:]
        )
        self.reset_parameters(seeds, init_inputs)

    @torch.no_grad()
    def reset_parameters(self, seeds=None, init_inputs=None):
        """Initialise every replica from its own seed.

        Glorot-uniform weights for sigmoid/tanh layers and He-uniform for ReLU
        (the variance-preserving choices for each), output bias 0 (targets are
        standardised). The first layer's biases put each unit's transition at a
        random point inside the [0.1, 0.9] input box, so that from the first epoch
        every unit responds to where the data are instead of saturating; this is
        what keeps the networks off the long initial plateau. Biases of ReLU
        layers start near +1, in the units' linear part, so fewer units die in
        the first large steps (measured on WS2, lr 0.1, 3000 epochs: replicas with
        2 or more live units of the 5 went from 23% to 59%, the worst median
        error over 0-1 eV from 0.074 to 0.068).
        """
        n_in0 = self.weights[0].shape[2]
        if init_inputs is None:
            samples = [None] * self.n_replicas
        elif isinstance(init_inputs, (list, tuple)):  # one array per replica
            samples = [
                torch.as_tensor(a, dtype=torch.float32).reshape(n_in0, -1)
                for a in init_inputs
            ]
        else:
            shared = torch.as_tensor(init_inputs, dtype=torch.float32)
            samples = [shared.reshape(n_in0, -1)] * self.n_replicas
        for r in range(self.n_replicas):
            sample = samples[r]
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
                    if sample is None:
                        centre = 0.1 + 0.8 * torch.rand(n_in, generator=gen)
                    else:
                        # one random training point per unit
                        pick = torch.randint(sample.shape[1], (n_out,), generator=gen)
                        centre = sample[:, pick].T  # (n_out, n_in)
                    b[r] = -(w[r] * centre).sum(dim=1, keepdim=True)
                elif layer == len(self.weights) - 1:
                    b[r] = 0.0
                else:
                    b[r] = (torch.rand(n_out, 1, generator=gen) * 2 - 1) * 0.1
                    if act == "relu":
                        # Start ReLU units in their linear part: with zero-centred
                        # biases and lr 0.1 about 4 of 5 units of the paper's ReLU
                        # layer died on the WS2 fit (measured), wasting capacity.
                        b[r] += _RELU_BIAS

    @torch.no_grad()
    def forward(self, x, **_):
        """Every replica's prediction: the one forward pass of predictions.

        The compiled kernel's (``zlp_forward``) where it is the engine, else its
        torch twin. Both compute each point on its own, in float32, so a point's
        prediction does not depend on the other points in ``x`` (bitwise). Not
        differentiable: training goes through :meth:`chi2_step`.

        Parameters
        ----------
        x : Tensor of shape (n_inputs, n_points) or (n_replicas, n_inputs, n_points)
            Scaled inputs, points on the last axis; a 2-D input (or a 3-D one
            expanded from it, stride 0 on the replica axis) is shared.

        Returns
        -------
        out : Tensor of shape (n_replicas, n_points)
        """
        if x.dim() == 3 and (x.shape[0] == 1 or x.stride(0) == 0):
            x = x[0]
        weights = tuple(self.weights.parameters())
        biases = tuple(self.biases.parameters())
        out = _kernel.forward(x, weights, biases, self.activations)
        if out is None:
            out = _twins.forward(x, weights, biases, self.activations)
        return out

    @torch.no_grad()
    def chi2_step(self, x, y_true, weight, valid_weight=None, pairs=None, penalty=None):
        """Predictions, per-replica chi^2 and its gradient in one pass.

        The one training step: the compiled kernel's where it is the engine (CPU
        float32, see :func:`~sklearn_zlp.nn.engine_info`), else its torch twin.
        Equivalent to ``replica_chi2(f(x), y_true, weight).sum().backward()`` for
        the networks ``f`` (gradients are accumulated into ``.grad`` the same
        way), but evaluated a replica (compiled) or a block of replicas (torch) at
        a time, forward and backward together, so that every intermediate stays in
        the CPU cache instead of streaming multi-MB activations through memory once
        per operation.

        Parameters
        ----------
        x : Tensor of shape (n_inputs, n_points) or (n_replicas, n_inputs, n_points)
            As for :meth:`forward`.
        y_true, weight : Tensor of shape (n_replicas, n_points)
        valid_weight : Tensor of shape (n_replicas, n_points), default=None
            Weights of a second chi^2 (validation) from the same predictions.
        pairs : Tensor of shape (2, n_pairs) of int64, default=None
            With ``penalty`` (n_replicas,): add ``penalty * monotonic_penalty(
            y_pred, pairs)`` to each replica's training chi^2 and its gradient.

        Returns
        -------
        y_pred : Tensor of shape (n_replicas, n_points)
        chi2 : Tensor of shape (n_replicas,)
        valid_chi2 : Tensor of shape (n_replicas,) or None
        """
        if x.dim() == 3 and (x.shape[0] == 1 or x.stride(0) == 0):
            x = x[0]
        # (ParameterList indexing is slow; no detach needed under no_grad)
        weights = tuple(self.weights.parameters())
        biases = tuple(self.biases.parameters())
        args = (x, weights, biases, self.activations, y_true, weight, valid_weight)
        # the compiled step where it is the engine (float32 on the CPU, see
        # _library.py), else the same computation in torch operations (_twins.py)
        n_threads = getattr(self, "n_threads", 1)  # (modules pickled before it existed)
        grads = _kernel.chi2_step(*args, pairs, penalty, n_threads=n_threads)
        if grads is None:
            grads = _twins.chi2_step(*args, pairs, penalty)
        y_pred, chi2, valid_chi2, grad_w, grad_b = grads
        for p, g in zip((*weights, *biases), (*grad_w, *grad_b), strict=True):
            if not p.requires_grad:
                continue
            if p.grad is None:
                p.grad = g
            else:
                p.grad.add_(g)
        return y_pred, chi2, valid_chi2
