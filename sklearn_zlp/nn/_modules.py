"""Torch modules of sklearn-zlp: a whole ensemble of small MLPs as one module.

Nothing here knows about scikit-learn; the estimators in ``_ensemble.py`` build
these modules and hand them to skorch.
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
    init_inputs : array-like of shape (n_inputs, n_points), default=None
        Scaled training inputs (or a list of one such array per replica). Each
        first-layer unit's transition is then centred at a randomly drawn training
        point, so units start where the data are (e.g. in the narrow zero-loss
        region rather than in the empty gap between training regions).
        None centres the first layer at random points of the [0.1, 0.9] input box.
    """

    def __init__(
        self,
        n_replicas,
        n_inputs,
        hidden_layer_sizes=(10, 15, 5),
        activations=("sigmoid", "sigmoid", "relu"),
        seeds=None,
        init_inputs=None,
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

    def forward(self, x, **_):
        """Evaluate every replica.

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
            x = x[0]  # shared inputs: the first layer becomes one GEMM
        params = (*self.weights, *self.biases)
        if x.requires_grad or not all(a in _BACKWARD for a in self.activations):
            return _reference_forward(x, self.weights, self.biases, self.activations)
        return _FusedReplicaMLP.apply(x, self.activations, *params)

    @torch.no_grad()
    def compiled_forward(self, x):
        """:meth:`forward` on shared inputs in the compiled kernel, or None.

        Each point's prediction depends on that point alone (not on the batch);
        None where the kernel does not apply (``_kernel.forward``) or ``forward``
        is overridden.
        """
        if type(self).forward is not _PLAIN_FORWARD:
            return None
        return _kernel.forward(
            x,
            tuple(self.weights.parameters()),
            tuple(self.biases.parameters()),
            self.activations,
        )

    def supports_fused_step(self, x):
        """Whether :meth:`chi2_step` can train on ``x`` (see ReplicaNet)."""
        return (
            type(self).forward is _PLAIN_FORWARD  # not overridden, nor patched
            and not x.requires_grad
            and all(a in _BACKWARD for a in self.activations)
        )

    @torch.no_grad()
    def chi2_step(self, x, y_true, weight, valid_weight=None, pairs=None, penalty=None):
        """Predictions, per-replica chi^2 and its gradient in one pass.

        Equivalent to ``replica_chi2(self(x), y_true, weight).sum().backward()``
        (gradients are accumulated into ``.grad`` the same way), but evaluated a
        block of replicas at a time, forward and backward together, so that every
        intermediate stays in the CPU cache instead of streaming multi-MB
        activations through memory once per operation.

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
        # the compiled step where it applies (float32 on the CPU, see _kernel.py),
        # else the same computation in torch operations
        grads = _kernel.chi2_step(*args, pairs, penalty)
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


_PLAIN_FORWARD = ReplicaMLP.forward


def _reference_forward(x, weights, biases, activations):
    """Plain autograd evaluation (inputs that need gradients, custom activations)."""
    n_replicas = weights[0].shape[0]
    h = x.expand(n_replicas, *x.shape) if x.dim() == 2 else x
    last = len(weights) - 1
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = torch.baddbmm(b, w, h)
        if layer < last:
            h = ACTIVATIONS[activations[layer]](h)
    return h[:, 0, :]


def _sigmoid_backward(grad, out):
    return torch.ops.aten.sigmoid_backward(grad, out)


def _tanh_backward(grad, out):
    return torch.ops.aten.tanh_backward(grad, out)


def _relu_backward(grad, out):
    return torch.ops.aten.threshold_backward(grad, out, 0.0)


def _softplus_backward(grad, out):
    # d softplus(z)/dz = sigmoid(z) = 1 - exp(-softplus(z))
    return grad.mul_(torch.expm1(-out).neg_())


def _identity_backward(grad, out):
    return grad


# In-place activations and their derivatives written in terms of the activation's
# *output*, so the forward pass saves one tensor per layer and nothing else.
_FORWARD_INPLACE = {
    "sigmoid": torch.Tensor.sigmoid_,
    "tanh": torch.Tensor.tanh_,
    "relu": torch.Tensor.relu_,
    "softplus": lambda h: nn.functional.softplus(h),
    "identity": lambda h: h,
}
_BACKWARD = {
    "sigmoid": _sigmoid_backward,
    "tanh": _tanh_backward,
    "relu": _relu_backward,
    "softplus": _softplus_backward,
    "identity": _identity_backward,
}

# The same derivatives, overwriting the incoming gradient (fused training step).
_BACKWARD_INPLACE = {
    "sigmoid": lambda g, out: torch.ops.aten.sigmoid_backward.grad_input(
        g, out, grad_input=g
    ),
    "tanh": lambda g, out: torch.ops.aten.tanh_backward.grad_input(g, out, grad_input=g),
    "relu": lambda g, out: torch.ops.aten.threshold_backward.grad_input(
        g, out, 0.0, grad_input=g
    ),
    "softplus": _softplus_backward,
    "identity": _identity_backward,
}


def _weight_grad(g, a):
    """``g @ a^T`` per replica, a sum over points of tiny outer products.

    MKL runs these long-K, tiny-M/N products faster with the larger of the two
    small dimensions as rows, so pick the orientation (measured, up to ~1.7x).
    """
    if g.shape[1] >= a.shape[1]:
        return torch.bmm(g, a.transpose(1, 2))
    return torch.bmm(a, g.transpose(1, 2)).transpose(1, 2).contiguous()


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
    """Forward, chi^2 and backward of :meth:`ReplicaMLP.chi2_step`, block by block.

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


class _FusedReplicaMLP(torch.autograd.Function):
    """Forward and backward of the whole batched MLP in one autograd node.

    Compared with layer-by-layer autograd this saves each hidden layer's output
    once (activations are applied in place and their derivatives computed from
    their outputs, e.g. sigmoid' = s (1 - s)), evaluates the first layer on
    shared inputs as a single GEMM over all replicas and units, and never
    materialises the inputs expanded over replicas in the backward pass.
    """

    @staticmethod
    def forward(ctx, x, activations, *params):
        n_layers = len(params) // 2
        weights, biases = params[:n_layers], params[n_layers:]
        n_replicas, n_out, n_in = weights[0].shape
        shared = x.dim() == 2
        if shared:
            # (R, out, in) @ (in, P) over all replicas at once: (R * out, P).
            h = torch.addmm(
                biases[0].reshape(n_replicas * n_out, 1),
                weights[0].reshape(n_replicas * n_out, n_in),
                x,
            ).view(n_replicas, n_out, x.shape[-1])
        else:
            h = torch.baddbmm(biases[0], weights[0], x)
        saved = []
        for layer in range(n_layers):
            if layer > 0:
                h = torch.baddbmm(biases[layer], weights[layer], h)
            if layer < n_layers - 1:
                h = _FORWARD_INPLACE[activations[layer]](h)
                saved.append(h)
        ctx.activations = activations
        ctx.shared = shared
        ctx.save_for_backward(x, *weights, *saved)
        return h[:, 0, :]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, *rest = ctx.saved_tensors
        n_layers = len(ctx.activations) + 1
        weights, hidden = rest[:n_layers], rest[n_layers:]
        grad_w = [None] * n_layers
        grad_b = [None] * n_layers
        g = grad_out.unsqueeze(1)  # (R, 1, P)
        for layer in range(n_layers - 1, 0, -1):
            a = hidden[layer - 1]
            grad_w[layer] = _weight_grad(g, a)
            grad_b[layer] = g.sum(dim=2, keepdim=True)
            g = _BACKWARD[ctx.activations[layer - 1]](
                torch.bmm(weights[layer].transpose(1, 2), g), a
            )
        n_replicas, n_out, n_in = weights[0].shape
        if ctx.shared:
            grad_w[0] = torch.mm(g.reshape(n_replicas * n_out, -1), x.t()).view(
                n_replicas, n_out, n_in
            )
        else:
            grad_w[0] = torch.bmm(g, x.transpose(1, 2))
        grad_b[0] = g.sum(dim=2, keepdim=True)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(weights[0].transpose(1, 2), g)
            if ctx.shared:
                grad_x = grad_x.sum(dim=0)
        return (grad_x, None, *grad_w, *grad_b)


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
