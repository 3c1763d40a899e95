"""The torch twins of the compiled kernel's forward pass and training step.

:func:`forward` is the twin of ``zlp_forward`` and :func:`chi2_step` that of
``zlp_chi2_step`` (:mod:`._kernel`): the same computation in torch operations,
for GPUs, CPUs where the kernel is not the engine, activations it lacks and
``SKLEARN_ZLP_KERNEL=torch``. :class:`~sklearn_zlp.nn.ReplicaMLP` calls them
where the kernel declines.
"""

import torch
from torch import nn

__all__ = ["chi2_step", "forward"]


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


def forward(x, weights, biases, activations):
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


def chi2_step(
    x, weights, biases, activations, y_true, weight, valid_weight, pairs=None, penalty=None
):
    """The torch twin of ``zlp_chi2_step`` (``ReplicaMLP.chi2_step``), block by block.

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
