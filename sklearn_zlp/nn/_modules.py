"""Torch modules of sklearn-zlp: a whole ensemble of small MLPs as one module.

Nothing here knows about scikit-learn; the estimators in ``sklearn_zlp.ensemble``
build these modules and hand them to skorch.

One training step and one forward pass, each with two implementations: the
compiled kernel (``_ckernel*.c`` through :mod:`._kernel`, CPU float32, where
:func:`~sklearn_zlp.nn.engine_info` says it is the engine) and its torch twin
(GPUs, other CPUs, activations the kernel lacks, ``SKLEARN_ZLP_KERNEL=torch``).
Training goes through :meth:`ReplicaMLP.chi2_step`, prediction through
:meth:`ReplicaMLP.forward`; neither builds an autograd graph.
"""

import math

import torch
from torch import nn

from . import _kernel

__all__ = ["ACTIVATIONS", "ReplicaMLP", "monotonic_penalty", "replica_chi2"]

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
            out = _forward(x, weights, biases, self.activations)
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
        # _kernel.py), else the same computation in torch operations
        n_threads = getattr(self, "n_threads", 1)  # (modules pickled before it existed)
        grads = _kernel.chi2_step(*args, pairs, penalty, n_threads=n_threads)
        if grads is None:
            grads = _chi2_step(*args, pairs, penalty)
        y_pred, chi2, valid_chi2, grad_w, grad_b = grads
        for p, g in zip((*weights, *biases), (*grad_w, *grad_b), strict=True):
            if not p.requires_grad:
                continue
            if p.grad is None:
                p.grad = g
            else:
                p.grad.add_(g)
        return y_pred, chi2, valid_chi2


# -- the torch twin of the forward pass --------------------------------------------
#
# Built from correctly rounded elementwise operations only (mul, add, div, floor,
# integer bit operations; no matrix product, no torch.sigmoid/exp/log): torch
# rounds a tensor's vectorised body and its tail with different code (and splits
# matrix products by shape), so with those a point's value could change with its
# position in the batch. Here every value is a fixed sequence of IEEE operations
# on that point's inputs, whatever the batch, the block or the thread count.

_LOG2E = 1.44269504088896341
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4
_EXP_POLY = (
    1.9875691500e-4,
    1.3981999507e-3,
    8.3334519073e-3,
    4.1665795894e-2,
    1.6666665459e-1,
    5.0000001201e-1,
)
_LOG_POLY = (
    7.0376836292e-2,
    -1.1514610310e-1,
    1.1676998740e-1,
    -1.2420140846e-1,
    1.4249322787e-1,
    -1.6668057665e-1,
    2.0000714765e-1,
    -2.4999993993e-1,
    3.3333331174e-1,
)
_SQRT_HALF = 0.707106781186547524


def _exp(x):
    """exp(x) in float32 (Cephes expf, relative error ~1e-7, x clamped to +-87)."""
    x = torch.clamp(x, -87.0, 87.0)
    n = torch.floor(x * _LOG2E + 0.5)
    r = x - n * _LN2_HI
    r = r - n * _LN2_LO
    p = r * _EXP_POLY[0] + _EXP_POLY[1]
    for c in _EXP_POLY[2:]:
        p = p * r + c
    e = p * r * r + r + 1.0
    scale = ((n.to(torch.int32) + 127) << 23).view(torch.float32)  # 2^n
    return e * scale


def _log(x):
    """ln(x) in float32 for positive normal x (Cephes logf, ~1e-7 relative)."""
    bits = x.view(torch.int32)
    e = ((bits >> 23) - 126).to(x.dtype)
    m = ((bits & 0x007FFFFF) | 0x3F000000).view(torch.float32)  # in [0.5, 1)
    small = m < _SQRT_HALF
    e = torch.where(small, e - 1.0, e)
    m = torch.where(small, m + m, m) - 1.0
    z = m * m
    y = m * _LOG_POLY[0] + _LOG_POLY[1]
    for c in _LOG_POLY[2:]:
        y = y * m + c
    y = y * m * z + e * _LN2_LO - z * 0.5
    return m + y + e * _LN2_HI


def _sigmoid(z):
    return torch.reciprocal(_exp(-z) + 1.0)


def _tanh(z):
    return _sigmoid(z * 2.0) * 2.0 - 1.0


def _relu(z):
    return torch.where(z < 0, 0.0, z)  # keeps NaN, as the kernel and torch.relu do


def _softplus(z):
    # max(z, 0) + log1p(exp(-|z|)), log1p(u) = ln(1 + u) u / ((1 + u) - 1)
    u = _exp(-torch.abs(z))
    w = u + 1.0
    d = w - 1.0
    log1p = torch.where(d == 0, u, _log(w) * u / torch.where(d == 0, 1.0, d))
    return torch.clamp(z, min=0.0) + log1p


_EXACT = {
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "relu": _relu,
    "softplus": _softplus,
    "identity": lambda h: h,
}

# Points per block of the torch forward: on the CPU blocks of about 2^18 floats of
# the widest layer stay in cache; on a GPU larger blocks mean fewer kernel launches
# (64 MB per intermediate). The block size does not change any result.
_FORWARD_BLOCK_FLOATS = 1 << 18
_FORWARD_BLOCK_FLOATS_GPU = 1 << 24


def _forward(x, weights, biases, activations):
    """The torch twin of ``zlp_forward``: every replica on every point of ``x``.

    ``z[o] = b[o] + w[o, 0] h[0] + w[o, 1] h[1] + ...``, each product and sum
    rounded on its own, then the activation from :data:`_EXACT`; a point's result
    depends on that point alone (see the notes above), bitwise.
    """
    n_replicas = weights[0].shape[0]
    n_points = x.shape[-1]
    widest = max(w.shape[1] for w in weights)
    floats = _FORWARD_BLOCK_FLOATS if x.device.type == "cpu" else _FORWARD_BLOCK_FLOATS_GPU
    block = max(64, floats // max(1, n_replicas * widest) // 64 * 64)
    out = torch.empty(
        n_replicas, n_points, dtype=weights[0].dtype, device=weights[0].device
    )
    last = len(weights) - 1
    for p0 in range(0, n_points, block):
        h = x[..., p0 : p0 + block]
        if h.dim() == 2:
            h = h.unsqueeze(0)  # (1, n_in, points), broadcast over the replicas
        for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
            z = w[:, :, :1] * h[:, :1, :] + b
            for i in range(1, w.shape[2]):
                z += w[:, :, i : i + 1] * h[:, i : i + 1, :]
            h = z if layer == last else _EXACT[activations[layer]](z)
        out[:, p0 : p0 + block] = h[:, 0, :]
    return out


# -- the torch twin of the training step --------------------------------------------

# In-place activations and their derivatives written in terms of the activation's
# *output*, so the forward pass keeps one tensor per layer and nothing else; the
# derivatives overwrite the incoming gradient.
_FORWARD_INPLACE = {
    "sigmoid": torch.Tensor.sigmoid_,
    "tanh": torch.Tensor.tanh_,
    "relu": torch.Tensor.relu_,
    "softplus": lambda h: nn.functional.softplus(h),
    "identity": lambda h: h,
}


def _softplus_backward(grad, out):
    # d softplus(z)/dz = sigmoid(z) = 1 - exp(-softplus(z))
    return grad.mul_(torch.expm1(-out).neg_())


_BACKWARD_INPLACE = {
    "sigmoid": lambda g, out: torch.ops.aten.sigmoid_backward.grad_input(
        g, out, grad_input=g
    ),
    "tanh": lambda g, out: torch.ops.aten.tanh_backward.grad_input(g, out, grad_input=g),
    "relu": lambda g, out: torch.ops.aten.threshold_backward.grad_input(
        g, out, 0.0, grad_input=g
    ),
    "softplus": _softplus_backward,
    "identity": lambda g, out: g,
}


# Floats of the widest hidden layer per block of replicas in chi2_step: small
# enough that a block's activations and gradients stay in L2 (measured on a 2 MB
# L2 with two single-threaded workers: 2^17 to 2^19 within a few %, one block
# for all replicas ~10% slower).
_BLOCK_FLOATS = 1 << 18


def _replica_blocks(n_replicas, floats_per_replica, device):
    """Contiguous, near-equal blocks of replicas of at most ``_BLOCK_FLOATS``."""
    if device.type != "cpu" or torch.get_num_threads() > 1:
        # Caches are not the point on a GPU; with several CPU threads every op
        # must be large enough to be worth a parallel region (one block measured
        # 2.3x faster than blocks of 2^18 floats with 2 threads).
        return [(0, n_replicas)]
    most = max(1, _BLOCK_FLOATS // max(1, floats_per_replica))
    n_blocks = -(-n_replicas // most)
    size = -(-n_replicas // n_blocks)
    return [(r, min(r + size, n_replicas)) for r in range(0, n_replicas, size)]


def _chi2_step(
    x, weights, biases, activations, y_true, weight, valid_weight, pairs=None, penalty=None
):
    """The torch twin of ``zlp_chi2_step`` (:meth:`ReplicaMLP.chi2_step`), block by block.

    Every block reuses the same activation and gradient buffers (still in cache
    from the previous block), and backward activations run in place.
    """
    n_layers = len(weights)
    last = n_layers - 1
    n_replicas, n_out0, n_in = weights[0].shape
    n_points = x.shape[-1]
    shared = x.dim() == 2
    widths = [w.shape[1] for w in weights[:-1]]
    blocks = _replica_blocks(n_replicas, max(widths) * n_points, x.device)
    size = blocks[0][1] - blocks[0][0]
    like = dict(dtype=weights[0].dtype, device=weights[0].device)
    hidden_buffers = [torch.empty(size, n, n_points, **like) for n in widths]
    grad_buffers = [torch.empty(size, n, n_points, **like) for n in widths]
    y_pred = torch.empty(n_replicas, 1, n_points, **like)
    # Training (and validation) chi^2 from one batched product per block:
    # rows of chi_weight are the weights, chi2 = (weight * r) . r for residuals r.
    if valid_weight is None:
        chi_weight = weight.unsqueeze(1)
    else:
        chi_weight = torch.stack((weight, valid_weight), dim=1)
    chi2 = torch.empty(n_replicas, chi_weight.shape[1], 1, **like)
    residual_buffer = torch.empty(size, 1, n_points, **like)
    weighted_buffer = torch.empty(size, chi_weight.shape[1], n_points, **like)
    targets = y_true.unsqueeze(1)
    weights_t = [w.transpose(1, 2) for w in weights]
    grad_w = [torch.empty_like(w) for w in weights]
    grad_b = [torch.empty_like(b) for b in biases]
    for r0, r1 in blocks:
        nb, s = r1 - r0, slice(r0, r1)
        if shared:
            h = torch.addmm(
                biases[0][s].reshape(nb * n_out0, 1),
                weights[0][s].reshape(nb * n_out0, n_in),
                x,
                out=hidden_buffers[0][:nb].view(nb * n_out0, n_points),
            ).view(nb, n_out0, n_points)
        else:
            h = torch.baddbmm(biases[0][s], weights[0][s], x[s], out=hidden_buffers[0][:nb])
        hidden = []
        for layer in range(n_layers):
            if layer > 0:
                out = hidden_buffers[layer][:nb] if layer < last else y_pred[s]
                # bmm then add_: cheaper than baddbmm's broadcast copy of the bias
                h = torch.bmm(weights[layer][s], h, out=out).add_(biases[layer][s])
            if layer < last:
                h = _FORWARD_INPLACE[activations[layer]](h)
                hidden.append(h)
        residual = torch.sub(h, targets[s], out=residual_buffer[:nb])
        weighted = torch.mul(residual, chi_weight[s], out=weighted_buffer[:nb])
        torch.bmm(weighted, residual.transpose(1, 2), out=chi2[s])
        g = weighted[:, :1].mul_(2)  # d chi2 / d y_pred = 2 weight r
        if pairs is not None:
            # monotonic penalty: lam * mean(relu(f[hi] - f[lo])^2) per replica
            lam = penalty[s].unsqueeze(1)
            rise = torch.relu(h[:, 0, pairs[1]] - h[:, 0, pairs[0]])
            chi2[s, 0, 0] += lam[:, 0] * (rise * rise).mean(dim=1)
            d = rise.mul_(lam * (2.0 / rise.shape[1]))
            g[:, 0].index_add_(1, pairs[1], d).index_add_(1, pairs[0], d, alpha=-1.0)
        for layer in range(last, 0, -1):
            a = hidden[layer - 1]
            # (straight into the gradient: no transposed copy, measured faster here)
            torch.bmm(g, a.transpose(1, 2), out=grad_w[layer][s])
            torch.sum(g, dim=2, keepdim=True, out=grad_b[layer][s])
            g = torch.bmm(weights_t[layer][s], g, out=grad_buffers[layer - 1][:nb])
            g = _BACKWARD_INPLACE[activations[layer - 1]](g, a)
        if shared:
            torch.mm(
                g.reshape(nb * n_out0, n_points),
                x.t(),
                out=grad_w[0][s].view(nb * n_out0, n_in),
            )
        else:
            torch.bmm(g, x[s].transpose(1, 2), out=grad_w[0][s])
        torch.sum(g, dim=2, keepdim=True, out=grad_b[0][s])
    valid_chi2 = None if valid_weight is None else chi2[:, 1, 0]
    return y_pred[:, 0, :], chi2[:, 0, 0], valid_chi2, grad_w, grad_b


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
