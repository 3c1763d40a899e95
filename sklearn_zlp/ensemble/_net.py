"""skorch glue for replica ensembles: the replica axis is skorch's sample axis.

A :class:`ReplicaNet` trains a :class:`~sklearn_zlp.nn.ReplicaMLP` whose
"samples" are replicas: one full batch holds every replica's points, the loss is
the sum over replicas of each replica's chi^2, and :class:`ReplicaLookBack` keeps
each replica's weights at its own minimum validation chi^2.
"""

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, PassthroughScoring
from skorch.dataset import unpack_data
from skorch.history import History
from skorch.utils import TeeGenerator
from torch import nn

from ..nn import ReplicaAdam, monotonic_penalty, replica_chi2

__all__ = [
    "ReplicaChi2Loss",
    "ReplicaHistory",
    "ReplicaLookBack",
    "ReplicaNet",
    "ReplicaProgress",
]


class ReplicaChi2Loss(nn.Module):
    """Criterion returning each replica's chi^2 (see :func:`replica_chi2`)."""

    def forward(self, y_pred, y_true, weight):
        return replica_chi2(y_pred, y_true, weight)


class ReplicaHistory(History):
    """A skorch ``History`` whose per-epoch look-ups do not copy every epoch.

    ``History.__getitem__`` starts from a copy of the whole list, so each
    ``record``/``record_batch`` and each epoch-level look-up (``history[-1, ...]``,
    as skorch's own callbacks do several times per epoch) costs time proportional
    to the number of epochs so far. Indexing one epoch here resolves the same
    query on that epoch alone; the results are the same.
    """

    def __getitem__(self, i):
        if isinstance(i, int):
            return list.__getitem__(self, i)
        if isinstance(i, tuple) and 0 < len(i) <= 4 and isinstance(i[0], int):
            return History([list.__getitem__(self, i[0])])[(0, *i[1:])]
        return super().__getitem__(i)


class _EpochLossScoring(PassthroughScoring):
    """``PassthroughScoring`` that reads a single batch straight from the epoch.

    A :class:`ReplicaNet` epoch is one batch; this records exactly what
    ``PassthroughScoring`` records (its batch-size weighted mean of one value is
    ``(score * size) / size``) without its history queries and ``np.average``,
    and falls back to it for any other number of batches.
    """

    def on_epoch_end(self, net, **kwargs):
        batches = net.history[-1].get("batches", [])
        size_key = "train_batch_size" if self.on_train else "valid_batch_size"
        if len(batches) != 1 or not isinstance(batches[0].get(self.name, 0.0), float):
            return super().on_epoch_end(net, **kwargs)
        batch = batches[0]
        if self.name not in batch:
            return None  # as PassthroughScoring: no such score this epoch
        size = batch.get(size_key)
        if not isinstance(size, int) or size <= 0:
            return super().on_epoch_end(net, **kwargs)
        score = np.float64((batch[self.name] * size) / size)
        is_best = self._is_best_score(score)
        if is_best:
            self.best_score_ = score
        net.history.record(self.name, score)
        if is_best is not None:
            net.history.record(self.name + "_best", bool(is_best))
        return None


class _EarlyStop(KeyboardInterrupt):
    """Raised by a callback to end training; skorch ends fit on KeyboardInterrupt."""


class ReplicaNet(NeuralNet):
    """A skorch ``NeuralNet`` whose samples are Monte Carlo replicas.

    ``fit(X, y)`` takes ``X = {"x": inputs, "w_train": ..., "w_valid": ...}`` and
    ``y`` of shape (n_replicas, n_points): inputs are (n_inputs, n_points) shared by
    all replicas, the weights hold each replica's split and 1/sigma^2. Every epoch
    is one full-batch step: no DataLoader, no shuffling across replicas.
    Optional entries ``"pairs"`` (n_replicas, 2, n_pairs) of point indices and
    ``"penalty"`` (n_replicas,) add ``penalty * monotonic_penalty(y_pred, pairs)``
    to each replica's training loss (the model must not rise from the first point
    of a pair to the second).

    All points share one forward pass: training and validation points differ only
    by their weights, so the training step computes both chi^2 from the same
    predictions, records ``valid_loss`` in the history as skorch's validation loop
    would, and hands every replica's chi^2 to callbacks that define
    ``on_replica_loss`` *before* the optimizer step, so that a look-back keeps
    exactly the weights that produced its validation chi^2. Skorch's separate
    validation pass is skipped.

    Training goes through the module's fused step only (``ReplicaMLP.chi2_step``:
    the compiled kernel or its torch twin; no autograd graph), so the criterion
    must be :class:`ReplicaChi2Loss`; anything else raises a TypeError at the first
    step. The default optimizer, :class:`~sklearn_zlp.nn.ReplicaAdam`, updates each
    weight independently of how replicas are grouped.
    """

    def __init__(
        self, module, *args, criterion=ReplicaChi2Loss, optimizer=ReplicaAdam, **kwargs
    ):
        super().__init__(module, *args, criterion=criterion, optimizer=optimizer, **kwargs)

    @property
    def _default_callbacks(self):
        # skorch's epoch-level losses, recorded without re-reading the history.
        return [
            (
                name,
                _EpochLossScoring(
                    name=cb.name, lower_is_better=cb.lower_is_better, on_train=cb.on_train
                )
                if type(cb) is PassthroughScoring
                else cb,
            )
            for name, cb in super()._default_callbacks
        ]

    def initialize_history(self):
        if self.history_ is None:
            self.history_ = ReplicaHistory()
        else:
            self.history_.clear()
        return self

    def get_split_datasets(self, X, y=None, **fit_params):
        # Validation is evaluated inside the training step (see the class notes).
        train = {"x": X["x"], "w": X["w_train"]}
        for key in ("w_valid", "pairs", "penalty"):
            if X.get(key) is not None:
                train[key] = X[key]
        return (train, y), None

    def get_iterator(self, dataset, training=False):
        # The whole data set is one batch; a list can be iterated every epoch.
        return [dataset]

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Sum over replicas of each replica's chi^2 (and monotonic penalty).

        Not used for training (:meth:`train_step_single` computes the same loss
        and its gradient in the module's fused step), only where skorch asks for
        a loss of given predictions.
        """
        per_replica = self.criterion_(y_pred, y_true, X["w"])
        pairs = X.get("pairs")
        if pairs is not None:
            per_replica = per_replica + X["penalty"] * monotonic_penalty(y_pred, pairs[0])
        return per_replica.sum()

    def _check_trainable(self, fit_params):
        """The one training path needs the module's fused step and the chi^2 loss."""
        problems = []
        if fit_params:
            problems.append(f"fit parameters {sorted(fit_params)} (none are used)")
        if type(self.criterion_) is not ReplicaChi2Loss:
            problems.append(
                f"criterion {type(self.criterion_).__name__} (the step computes "
                "ReplicaChi2Loss itself)"
            )
        if type(self).get_loss is not ReplicaNet.get_loss:
            problems.append("an overridden get_loss (the step computes the chi^2 itself)")
        if not callable(getattr(self.module_, "chi2_step", None)):
            problems.append(
                f"module {type(self.module_).__name__} without a chi2_step method "
                "(use sklearn_zlp.nn.ReplicaMLP or a subclass)"
            )
        if problems:
            raise TypeError(
                "ReplicaNet trains through its module's chi2_step (the compiled kernel "
                "or its torch twin), which cannot honour " + "; ".join(problems) + "."
            )

    def train_step_single(self, batch, **fit_params):
        # Forward, chi^2 and backward of every replica in one fused step
        # (ReplicaMLP.chi2_step), the only training path: no autograd graph.
        self._check_trainable(fit_params)
        Xi, yi = unpack_data(batch)
        self._set_training(True)
        pairs = Xi.get("pairs")
        y_pred, train, valid = self.module_.chi2_step(
            Xi["x"],
            yi,
            Xi["w"],
            Xi.get("w_valid"),
            pairs=None if pairs is None else pairs[0],
            penalty=Xi.get("penalty"),
        )
        self.train_replica_loss_ = train
        self.valid_replica_loss_ = valid
        return {"loss": train.sum(), "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        valid = self.valid_replica_loss_
        if valid is not None:
            self.history.record_batch("valid_loss", valid.sum().item())
            self.history.record_batch("valid_batch_size", valid.shape[0])
            self.history.record("valid_batch_count", 1)
        for _, cb in self.callbacks_:
            hook = getattr(cb, "on_replica_loss", None)
            if hook is not None:
                hook(self, train_loss=self.train_replica_loss_, valid_loss=valid)
        self._step_optimizer(None)
        return step

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        self.interrupted_ = False
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except _EarlyStop:
            raise
        except KeyboardInterrupt:
            # skorch swallows KeyboardInterrupt; remember that it was the user's.
            self.interrupted_ = True
            raise


class ReplicaLookBack(Callback):
    """Keep every replica's weights at its own minimum validation chi^2.

    Tracked with tensor operations over the replica axis: no loop over replicas.
    :class:`ReplicaNet` calls :meth:`on_replica_loss` with the chi^2 of the
    current weights before the optimizer step, so the kept weights are exactly
    those that produced the kept chi^2; ``best_epoch_`` is the (1-based) epoch of
    that evaluation, i.e. the weights after ``best_epoch_ - 1`` optimizer steps.
    Without validation data the training chi^2 is used.

    Parameters
    ----------
    n_iter_no_change : int, default=None
        A replica stops once its best validation chi^2 has not improved by more
        than ``tol`` (relative) for this many epochs: from then on its kept weights
        no longer change. Training ends when every replica has stopped. Each
        replica's result is therefore the same whichever replicas share its
        chunk. None trains all epochs.
    tol : float, default=1e-4
        Relative improvement that counts for ``n_iter_no_change``.
    """

    def __init__(self, n_iter_no_change=None, tol=1e-4):
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        module = net.module_
        device = next(module.parameters()).device
        n = module.n_replicas
        self.best_loss_ = torch.full((n,), float("inf"), device=device)
        self.best_epoch_ = torch.zeros(n, dtype=torch.long, device=device)
        self.best_params_ = [p.detach().clone() for p in module.parameters()]
        # Raw (NaN kept) losses of the first and the latest evaluation, for the
        # estimator's no-progress and divergence diagnostics.
        self.first_loss_ = torch.full_like(self.best_loss_, float("nan"))
        self.last_loss_ = torch.full_like(self.best_loss_, float("nan"))
        self._params = [p.detach() for p in module.parameters()]  # copied from, each epoch
        self.epoch_ = 0
        # per replica: the epoch of its last significant improvement
        self.last_improvement_ = torch.zeros(n, dtype=torch.long, device=device)

    def on_epoch_begin(self, net, **kwargs):
        self.epoch_ += 1

    def _stopped(self):
        """Replicas without a significant improvement for n_iter_no_change epochs."""
        if self.n_iter_no_change is None:
            return None
        return self.epoch_ - self.last_improvement_ > self.n_iter_no_change

    @torch.no_grad()
    def on_replica_loss(self, net, train_loss=None, valid_loss=None, **kwargs):
        loss = train_loss if valid_loss is None else valid_loss
        if self.epoch_ == 1:
            self.first_loss_.copy_(loss)
        self.last_loss_.copy_(loss)
        loss = torch.nan_to_num(loss, nan=float("inf"))
        improved = loss < self.best_loss_
        stopped = self._stopped()
        if stopped is not None:
            improved &= ~stopped
        if improved.any():
            params = self._params
            if improved.all():
                for best, param in zip(self.best_params_, params, strict=True):
                    best.copy_(param)
            else:
                for best, param in zip(self.best_params_, params, strict=True):
                    mask = improved.view(-1, *([1] * (param.dim() - 1)))
                    torch.where(mask, param, best, out=best)
            significant = improved & (loss < self.best_loss_ * (1 - self.tol))
            self.last_improvement_.masked_fill_(significant, self.epoch_)
            self.best_loss_ = torch.where(improved, loss, self.best_loss_)
            self.best_epoch_.masked_fill_(improved, self.epoch_)

    def on_epoch_end(self, net, **kwargs):
        if self.n_iter_no_change is not None and bool(
            (self.epoch_ - self.last_improvement_ >= self.n_iter_no_change).all()
        ):
            raise _EarlyStop

    @torch.no_grad()
    def on_train_end(self, net, X=None, y=None, **kwargs):
        self.__dict__.pop("_params", None)
        if not hasattr(self, "best_params_") or not torch.isfinite(self.best_loss_).any():
            return
        finite = torch.isfinite(self.best_loss_)
        for best, param in zip(self.best_params_, net.module_.parameters(), strict=True):
            mask = finite.view(-1, *([1] * (param.dim() - 1)))
            param.copy_(torch.where(mask, best, param))
        del self.best_params_  # restored into the module; no second copy to pickle


class ReplicaProgress(Callback):
    """Post the epochs run to a counter slot the main process reads (a joblib worker).

    Parameters
    ----------
    slot : CounterSlot
        From :class:`sklearn_zlp._worker_progress.EpochCounters`; posted at most every
        ``slot.interval`` seconds (one clock read per epoch otherwise), and
        ``max_epochs`` at the end of training, early stopped or not: the group
        is done. Where the slot's file cannot be opened nothing is posted.
    """

    def __init__(self, slot=None):
        self.slot = slot

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.epochs_ = 0
        self.writer_ = None if self.slot is None else self.slot.open()

    def on_epoch_end(self, net, **kwargs):
        self.epochs_ += 1
        if self.writer_ is not None:
            self.writer_.post(self.epochs_)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        writer = self.__dict__.pop("writer_", None)
        if writer is not None:
            interrupted = getattr(net, "interrupted_", False)
            writer.post(self.epochs_ if interrupted else net.max_epochs, force=True)
            writer.close()


def replica_inputs(inputs, w_train, w_valid):
    """Input points each replica trains or validates on (for the data-centred init).

    Shared when every replica uses the same points, else one array per replica,
    so that a replica's initialisation never depends on the rest of its chunk.
    """
    used = np.asarray(w_train) > 0
    if w_valid is not None:
        used |= np.asarray(w_valid) > 0
    inputs = np.asarray(inputs, dtype=np.float32)
    if np.all(used == used[:1]):
        return inputs[:, used[0]]
    return [inputs[:, u] for u in used]
