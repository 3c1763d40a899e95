"""Training workers: one chunk of replicas as one batched skorch net.

Module-level functions, so that they pickle for loky, dask and ray workers.
"""

import contextlib

import numpy as np
import torch
from sklearn.base import clone
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from .._noise import counting_variance
from ..nn import ReplicaAdam, ReplicaMLP
from ..nn._kernel import uses_kernel
from ._net import ReplicaLookBack, ReplicaNet, ReplicaProgress, replica_inputs

__all__ = [
    "append_monotonic_points",
    "torch_threads",
    "copy_replica",
    "fit_chunk",
    "net_predict",
    "scale_inputs",
]

_SCALED_LOW, _SCALED_HIGH = 0.1, 0.9


def fit_chunk(
    inputs,
    targets,
    w_train,
    w_valid,
    init_seeds,
    *,
    hidden_layer_sizes,
    activations,
    max_epochs,
    lr,
    lr_schedule,
    n_iter_no_change,
    device,
    n_threads,
    description,
    pairs=None,
    penalty=0.0,
    progress=None,
):
    """Train one chunk of replicas as one batched skorch net (a joblib worker).

    Returns the fitted net (on the CPU), each replica's best epoch and its
    validation chi^2 there, and the number of epochs run. Each replica's result
    depends on that replica's data and seed alone, never on the other replicas of
    the chunk (bitwise with the compiled kernel).

    ``n_threads`` threads train the chunk: the compiled kernel takes them as an
    argument; only the torch twin needs torch's thread count, which is then set
    for the duration of this call and restored (in a joblib worker process that
    touches nothing else; under a thread-based joblib backend the threads share
    that setting, so prefer process-based backends such as loky, the default, for
    the torch twin). No other process-wide state changes.

    ``description`` names the group ("replicas 0-49", "restart 1 3-7") for
    whoever wraps this function. ``progress`` is a
    :class:`~sklearn_zlp._worker_progress.CounterSlot` that the epochs run are posted
    to for the main process's display, or None; it changes nothing else, and
    the returned net does not keep it.
    """
    n_replicas = targets.shape[0]
    callbacks = [("lookback", ReplicaLookBack(n_iter_no_change=n_iter_no_change))]
    if lr_schedule == "cosine":
        # Large steps first, small ones at the end: fast progress off the
        # initial plateau, and final weights not jittered by a large step.
        callbacks.append(
            (
                "lr_schedule",
                LRScheduler(policy=CosineAnnealingLR, T_max=max_epochs, eta_min=lr * 1e-2),
            )
        )
    if progress is not None:
        callbacks.append(("progress", ReplicaProgress(progress)))
    net = ReplicaNet(
        ReplicaMLP,
        module__n_replicas=n_replicas,
        module__n_inputs=inputs.shape[0],
        module__hidden_layer_sizes=tuple(hidden_layer_sizes),
        module__activations=tuple(activations),
        module__seeds=list(init_seeds),
        module__init_inputs=replica_inputs(inputs, w_train, w_valid),
        module__n_threads=n_threads,
        # Adam whose update of a weight never depends on which replicas share the
        # chunk (torch's fused Adam rounds tensor tails differently).
        optimizer=ReplicaAdam,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=-1,
        callbacks=callbacks,
        callbacks__print_log=None,  # tabulates a row every epoch even when silent
        verbose=0,
        device=device,
    )

    def as_tensor(a):
        if a is None:
            return None
        if isinstance(a, np.ndarray) and not a.flags.writeable:
            # joblib hands large inputs to workers as read-only memmaps, which
            # torch would share and warn about: a float32 copy of our own
            a = np.array(a, dtype=np.float32)
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    # The replica axis is skorch's sample axis: every entry leads with it (the
    # shared inputs as a stride-0 view, no copy).
    X = {
        "x": as_tensor(inputs).expand(n_replicas, *inputs.shape),
        "w_train": as_tensor(w_train),
        "w_valid": as_tensor(w_valid),
    }
    if pairs is not None and penalty > 0:
        X["pairs"] = (
            torch.as_tensor(pairs, dtype=torch.long, device=device)
            .unsqueeze(0)
            .expand(n_replicas, *pairs.shape)
        )
        X["penalty"] = torch.full(
            (n_replicas,), float(penalty), dtype=torch.float32, device=device
        )
    threads = (
        contextlib.nullcontext()
        if uses_kernel(activations, device)
        else torch_threads(n_threads)
    )
    with threads:
        net.fit(X, as_tensor(targets))
    if net.interrupted_:
        raise KeyboardInterrupt("training interrupted by the user")
    lookback = dict(net.callbacks_)["lookback"]
    best_epoch = lookback.best_epoch_.cpu().numpy()
    best_loss = lookback.best_loss_.cpu().numpy()
    # Read by the estimator's replica diagnostics (ensemble/_diagnostics.py).
    net.replica_first_loss_ = lookback.first_loss_.cpu().numpy()
    net.replica_last_loss_ = lookback.last_loss_.cpu().numpy()
    # Without its progress callback the net is the one a silent fit returns.
    net.callbacks = [(name, cb) for name, cb in net.callbacks if name != "progress"]
    _release_device(net)
    return net, best_epoch, best_loss, len(net.history)


def _release_device(net):
    """Leave nothing of a finished training run on its device or in its callbacks.

    The weights and the optimizer's moments move to the CPU (a model trained on a
    GPU predicts, pickles and loads where there is none), and the callbacks are
    replaced by unfitted clones: the look-back holds a copy of every weight and
    per-replica tensors on the training device, which a fitted model has no use for.
    """
    net.set_params(device="cpu")
    net.module_.to("cpu")
    for key, value in vars(net).items():  # the last epoch's losses per replica
        if torch.is_tensor(value):
            setattr(net, key, value.cpu())
    for state in net.optimizer_.state.values():
        for key, value in state.items():
            if torch.is_tensor(value):
                state[key] = value.cpu()
    net.callbacks = [(name, clone(cb)) for name, cb in net.callbacks]
    del net.callbacks_
    net.initialize_callbacks()


@contextlib.contextmanager
def torch_threads(n_threads):
    """torch's intra-op thread count set to ``n_threads`` inside, restored after."""
    previous = torch.get_num_threads()
    if n_threads == previous:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def append_monotonic_points(X, y, sample_weight, monotonic_X, log_target):
    """Append penalty points (weight 0, no data) and return their index pairs."""
    M = np.asarray(monotonic_X, dtype=np.float64)
    if M.ndim != 2 or M.shape[1] != X.shape[1] or not np.all(np.isfinite(M)):
        raise ValueError(
            f"monotonic_X must be a finite array of shape (n_points, {X.shape[1]}) (the "
            f"features of X), got shape {M.shape}."
        )
    same_group = np.all(M[1:, 1:] == M[:-1, 1:], axis=1)
    lo = np.flatnonzero(same_group & (M[1:, 0] > M[:-1, 0]))
    if lo.size == 0:
        raise ValueError(
            "monotonic_X has no two consecutive rows with equal covariates and "
            "increasing energy; list each spectrum's penalty energies in increasing "
            "order, one block per spectrum."
        )
    n = y.size
    if sample_weight is None:
        # The documented default sigma, made explicit so the appended points can be 0.
        sample_weight = 1.0 / counting_variance(y) if log_target else np.ones(n)
    sample_weight = np.concatenate(
        [
            np.broadcast_to(np.asarray(sample_weight, dtype=np.float64), (n,)),
            np.zeros(M.shape[0]),
        ]
    )
    y = np.concatenate([y, np.ones(M.shape[0])])
    pairs = np.stack([n + lo, n + lo + 1])
    return np.vstack([X, M]), y, sample_weight, pairs


def scale_inputs(X, low, width):
    """Features mapped to [0.1, 0.9] over (low, low + width), points on the last axis."""
    scaled = _SCALED_LOW + (_SCALED_HIGH - _SCALED_LOW) * (X - low) / width
    return np.ascontiguousarray(scaled.T)


def copy_replica(source, j, target, i):
    """Copy replica ``j`` of the net ``source`` into replica ``i`` of ``target``."""
    with torch.no_grad():
        for p_target, p_source in zip(
            target.module_.parameters(), source.module_.parameters(), strict=True
        ):
            p_target[i] = p_source[j].to(p_target.device)


def net_predict(net, inputs):
    """Scaled predictions of one chunk's replicas, shape (n_replicas, n_points).

    Through the module's one forward pass (the compiled ``zlp_forward`` or its
    torch twin), which computes each point on its own in float32, the trained
    precision: a point's prediction does not depend on the batch it came in.
    """
    module = net.module_
    device = next(module.parameters()).device
    with torch.no_grad():
        out = module(torch.as_tensor(inputs, dtype=torch.float32, device=device))
    return out.cpu().numpy()
