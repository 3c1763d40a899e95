"""The compiled training step and forward pass (``_ckernel.c``), through ctypes.

:func:`chi2_step` computes on the CPU, in float32, what the torch path of
``ReplicaMLP.chi2_step`` computes (predictions, training and validation chi^2,
monotonic penalty, gradients of every weight and bias), one replica at a time
with its activations in cache (benchmarks/README.md). :func:`forward` evaluates
every replica on shared inputs, a block of points at a time, without the
(replicas x units x points) intermediates of a batched torch forward. Both return
None where they do not apply, and the caller then uses the torch path:

- the extension was not built (no C compiler at install time);
- ``SKLEARN_ZLP_KERNEL=torch`` is set in the environment;
- tensors that are not float32 or not on the CPU, or activations other than
  sigmoid, tanh, relu and identity.

Both run on ``torch.get_num_threads()`` threads, each on its own share of the
replicas.
"""

import ctypes
import os
import types
import warnings

import torch

__all__ = ["available", "chi2_step", "forward"]

_VERSION = 2  # ZLP_KERNEL_VERSION of _ckernel.c
_ACTS = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3}
_LIB = None  # load_library's namespace, False once loading failed


def load_library(path):
    """The shared library at ``path``: its typed ``chi2_step`` and ``forward``.

    Raises OSError or AttributeError if it cannot be loaded, RuntimeError if it is
    a build of another version of the C source.
    """
    lib = ctypes.CDLL(str(path))
    version = lib.zlp_kernel_version()
    if version != _VERSION:
        raise RuntimeError(
            f"sklearn_zlp's compiled training step ({path}) is version {version}, this "
            f"code expects {_VERSION}: a stale build. Training uses the slower torch "
            "path; reinstall the package (pip install -e . or make test) to rebuild it."
        )
    p = ctypes.c_void_p
    i64 = ctypes.c_int64
    step = lib.zlp_chi2_step
    step.restype = ctypes.c_int
    step.argtypes = [ctypes.c_int, p, p, i64, i64, p, ctypes.c_int, p, p, p, p, p]
    step.argtypes += [i64, p, p, p, p, p, p, p, p, ctypes.c_int]
    forward = lib.zlp_forward
    forward.restype = ctypes.c_int
    forward.argtypes = [ctypes.c_int, p, p, i64, i64, p, p, p, p, ctypes.c_int]
    return types.SimpleNamespace(chi2_step=step, forward=forward)


def _load():
    global _LIB
    if _LIB is None:
        try:
            from . import _ckernel

            _LIB = load_library(_ckernel.__file__)
        except (ImportError, OSError, AttributeError):
            _LIB = False
        except RuntimeError as stale:
            warnings.warn(str(stale), RuntimeWarning, stacklevel=3)
            _LIB = False
    return _LIB


def available():
    """Whether the compiled step is built and enabled (see the module notes)."""
    return os.environ.get("SKLEARN_ZLP_KERNEL", "").lower() != "torch" and bool(_load())


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


def chi2_step(
    x, weights, biases, activations, y_true, weight, valid_weight, pairs, penalty
):
    """The compiled step, or None where it does not apply (module notes).

    Arguments and results as ``_modules._chi2_step``; ``x`` is (n_in, P) shared or
    (R, n_in, P).
    """
    if not available():
        return None
    if any(a not in _ACTS for a in activations):
        return None
    tensors = [x, *weights, *biases, y_true, weight]
    if valid_weight is not None:
        tensors.append(valid_weight)
    if penalty is not None:
        tensors.append(penalty)
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
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
    weights = [w.contiguous() for w in weights]
    biases = [b.contiguous() for b in biases]
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
    status = _load().chi2_step(
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
        torch.get_num_threads(),
    )
    if status == 2:
        raise MemoryError("the compiled training step could not allocate its buffers")
    if status != 0:
        return None
    return y_pred, chi2, valid_chi2, grad_w, grad_b


def forward(x, weights, biases, activations):
    """Predictions of every replica on shared inputs, or None (module notes).

    Parameters
    ----------
    x : Tensor of shape (n_inputs, n_points)
    weights, biases : sequences of Tensor, as ``ReplicaMLP``'s parameters
    activations : sequence of str

    Returns
    -------
    out : Tensor of shape (n_replicas, n_points), float32, or None
        Each point's prediction depends on that point alone (not on the batch).
    """
    if not available() or any(a not in _ACTS for a in activations) or x.dim() != 2:
        return None
    if any(
        t.device.type != "cpu" or t.dtype != torch.float32 for t in (x, *weights, *biases)
    ):
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
    status = _load().forward(
        n,
        (ctypes.c_int64 * len(sizes))(*sizes),
        (ctypes.c_int32 * max(1, len(activations)))(*(_ACTS[a] for a in activations)),
        n_replicas,
        n_points,
        _ptr(x),
        (ctypes.c_void_p * n)(*map(_ptr, weights)),
        (ctypes.c_void_p * n)(*map(_ptr, biases)),
        _ptr(out),
        torch.get_num_threads(),
    )
    if status == 2:
        raise MemoryError("the compiled forward pass could not allocate its buffers")
    return out if status == 0 else None
