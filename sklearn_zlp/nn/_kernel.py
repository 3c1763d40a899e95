"""The compiled kernel's entry points (``_ckernel*.c``) through ctypes.

:func:`chi2_step` computes on the CPU, in float32, what the torch twin of
``ReplicaMLP.chi2_step`` computes (predictions, training and validation chi^2,
monotonic penalty, gradients of every weight and bias), one replica at a time
with its activations in cache. :func:`forward` evaluates every replica on shared
inputs, a block of points at a time, each point on its own. :func:`adam` is the
Adam step of :class:`~sklearn_zlp.nn.ReplicaAdam`. Each returns None (:func:`adam`
False) where it does not apply, and the caller then uses the torch twin:

- the compiled kernel is not the engine of this call (:mod:`._library`: the
  default for this CPU is the torch path, ``SKLEARN_ZLP_KERNEL=torch`` is set, or
  the library is missing, damaged or stale);
- tensors that are not float32 or not on the CPU, or activations other than
  sigmoid, tanh, relu and identity.
"""

import ctypes

import torch

from . import _library

__all__ = ["adam", "chi2_step", "forward", "uses_kernel"]

_ACTS = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3}


def uses_kernel(activations, device="cpu"):
    """Whether networks with these hidden activations on ``device`` (float32)
    train and predict in the kernel now, rather than in the torch twins."""
    return (
        torch.device(device).type == "cpu"
        and all(a in _ACTS for a in activations)
        and _library.use_compiled()
    )


def _ptr(t):
    return None if t is None else t.data_ptr()


def _network_sizes(x, weights, biases):
    """Layer sizes (inputs first), or None where the shapes do not chain.

    The C code trusts every shape it is given; anything inconsistent goes to the
    torch path, which raises the usual error.
    """
    n_replicas = weights[0].shape[0]
    sizes = [weights[0].shape[2], *(w.shape[1] for w in weights)]
    if len(biases) != len(weights) or x.shape[-2] != sizes[0]:
        return None
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        if tuple(w.shape) != (n_replicas, sizes[layer + 1], sizes[layer]):
            return None
        if tuple(b.shape) != (n_replicas, sizes[layer + 1], 1):
            return None
    return sizes


def _cpu_float32(tensors):
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def chi2_step(
    x,
    weights,
    biases,
    activations,
    y_true,
    weight,
    valid_weight,
    pairs,
    penalty,
    *,
    n_threads=1,
    isa=None,
):
    """The compiled step, or None where it does not apply (module notes).

    Arguments and results as ``_twins.chi2_step``; ``x`` is (n_in, P) shared or
    (R, n_in, P). ``n_threads`` threads share the replicas (results do not depend
    on it); ``isa`` forces a variant (None: the engine's choice).
    """
    engine = _library.engine_for_call(isa)
    if engine is None or any(a not in _ACTS for a in activations):
        return None
    tensors = [x, *weights, *biases, y_true, weight]
    if valid_weight is not None:
        tensors.append(valid_weight)
    if penalty is not None:
        tensors.append(penalty)
    if not _cpu_float32(tensors):
        return None
    n_replicas = weights[0].shape[0]
    n_points = x.shape[-1]
    sizes = _network_sizes(x, weights, biases)
    per_point = [y_true, weight] + ([] if valid_weight is None else [valid_weight])
    if sizes is None or any(tuple(t.shape) != (n_replicas, n_points) for t in per_point):
        return None
    if x.dim() == 3 and x.shape[0] != n_replicas:
        return None
    x = x.contiguous()
    weights = [w.detach().contiguous() for w in weights]
    biases = [b.detach().contiguous() for b in biases]
    y_true = y_true.contiguous()
    weight = weight.contiguous()
    if valid_weight is not None:
        valid_weight = valid_weight.contiguous()
    like = dict(dtype=torch.float32)
    y_pred = torch.empty(n_replicas, n_points, **like)
    chi2 = torch.empty(n_replicas, **like)
    valid_chi2 = None if valid_weight is None else torch.empty(n_replicas, **like)
    grad_w = [torch.empty_like(w) for w in weights]
    grad_b = [torch.empty_like(b) for b in biases]
    n_pairs = 0
    lo = hi = lam = None
    if pairs is not None and penalty is not None and pairs.shape[-1] > 0:
        lo = pairs[0].to(torch.int64).contiguous()
        hi = pairs[1].to(torch.int64).contiguous()
        lam = penalty.contiguous()
        n_pairs = int(lo.shape[0])
        if tuple(lam.shape) != (n_replicas,) or not (
            0 <= int(pairs.min()) and int(pairs.max()) < n_points
        ):
            return None  # the torch path raises the indexing error
    size_arr = (ctypes.c_int64 * len(sizes))(*sizes)
    act_arr = (ctypes.c_int32 * max(1, len(activations)))(*(_ACTS[a] for a in activations))
    n = len(weights)
    w_arr = (ctypes.c_void_p * n)(*map(_ptr, weights))
    b_arr = (ctypes.c_void_p * n)(*map(_ptr, biases))
    gw_arr = (ctypes.c_void_p * n)(*map(_ptr, grad_w))
    gb_arr = (ctypes.c_void_p * n)(*map(_ptr, grad_b))
    lib, variant = engine
    status = lib.chi2_step(
        variant,
        n,
        size_arr,
        act_arr,
        n_replicas,
        n_points,
        _ptr(x),
        int(x.dim() == 2),
        w_arr,
        b_arr,
        _ptr(y_true),
        _ptr(weight),
        _ptr(valid_weight),
        n_pairs,
        _ptr(lo),
        _ptr(hi),
        _ptr(lam),
        _ptr(y_pred),
        _ptr(chi2),
        _ptr(valid_chi2),
        gw_arr,
        gb_arr,
        int(n_threads),
    )
    if status == 2:
        raise MemoryError("the compiled training step could not allocate its buffers")
    if status != 0:
        return None
    return y_pred, chi2, valid_chi2, grad_w, grad_b


def forward(x, weights, biases, activations, *, n_threads=None, isa=None):
    """Predictions of every replica on shared inputs, or None (module notes).

    Parameters
    ----------
    x : Tensor of shape (n_inputs, n_points)
    weights, biases : sequences of Tensor, as ``ReplicaMLP``'s parameters
    activations : sequence of str
    n_threads : int, default=None
        Threads sharing the replicas; None: ``torch.get_num_threads()``.
    isa : str, default=None
        Force a variant (tests); None: the engine's choice.

    Returns
    -------
    out : Tensor of shape (n_replicas, n_points), float32, or None
        Each point's prediction depends on that point alone (not on the batch).
    """
    engine = _library.engine_for_call(isa)
    if engine is None or any(a not in _ACTS for a in activations) or x.dim() != 2:
        return None
    if not _cpu_float32((x, *weights, *biases)):
        return None
    n_replicas, n_points = weights[0].shape[0], x.shape[-1]
    sizes = _network_sizes(x, weights, biases)
    if sizes is None:
        return None
    x = x.contiguous()
    weights = [w.detach().contiguous() for w in weights]
    biases = [b.detach().contiguous() for b in biases]
    out = torch.empty(n_replicas, n_points, dtype=torch.float32)
    n = len(weights)
    lib, variant = engine
    status = lib.forward(
        variant,
        n,
        (ctypes.c_int64 * len(sizes))(*sizes),
        (ctypes.c_int32 * max(1, len(activations)))(*(_ACTS[a] for a in activations)),
        n_replicas,
        n_points,
        _ptr(x),
        (ctypes.c_void_p * n)(*map(_ptr, weights)),
        (ctypes.c_void_p * n)(*map(_ptr, biases)),
        _ptr(out),
        torch.get_num_threads() if n_threads is None else int(n_threads),
    )
    if status == 2:
        raise MemoryError("the compiled forward pass could not allocate its buffers")
    return out if status == 0 else None


def adam(params, grads, exp_avgs, exp_avg_sqs, scalars, cache=None):
    """One Adam step in the kernel (``zlp_adam``), or False where it does not apply.

    ``scalars`` are the seven float32-exact scalars of ``zlp_adam`` (b1, c1, b2, c2,
    s2, eps, lr1). ``cache`` (a dict kept by the caller) holds the pointer arrays
    of parameters and moments between steps, which do not move.
    """
    engine = _library.engine_for_call()
    if engine is None:
        return False
    n = len(params)
    key = tuple(t.data_ptr() for t in (*params, *exp_avgs, *exp_avg_sqs))
    key += tuple(p.numel() for p in params)
    if cache is None or cache.get("key") != key:
        # parameters and moments are checked once, when they (re)appear
        tensors = (*params, *exp_avgs, *exp_avg_sqs)
        if not _cpu_float32(tensors) or not all(t.is_contiguous() for t in tensors):
            return False
        if any(
            m.shape != p.shape or v.shape != p.shape
            for p, m, v in zip(params, exp_avgs, exp_avg_sqs, strict=True)
        ):
            return False
        arrays = (
            (ctypes.c_int64 * n)(*(p.numel() for p in params)),
            (ctypes.c_void_p * n)(*(p.data_ptr() for p in params)),
            (ctypes.c_void_p * n)(*(m.data_ptr() for m in exp_avgs)),
            (ctypes.c_void_p * n)(*(v.data_ptr() for v in exp_avg_sqs)),
        )
        if cache is not None:
            cache.clear()
            cache.update(key=key, arrays=arrays)
    else:
        arrays = cache["arrays"]
    if not all(
        g.dtype == torch.float32
        and g.device.type == "cpu"
        and g.is_contiguous()
        and g.shape == p.shape
        for g, p in zip(grads, params, strict=True)
    ):
        return False
    sizes, p_arr, m_arr, v_arr = arrays
    g_arr = (ctypes.c_void_p * n)(*(g.data_ptr() for g in grads))
    engine[0].adam(n, sizes, p_arr, g_arr, m_arr, v_arr, *scalars)
    return True
