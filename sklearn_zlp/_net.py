"""skorch glue for replica ensembles: the replica axis is skorch's sample axis.

A :class:`ReplicaNet` trains a :class:`~sklearn_zlp._modules.ReplicaMLP` whose
"samples" are replicas: one full batch holds every replica's points, the loss is
the sum over replicas of each replica's chi^2, and :class:`ReplicaLookBack` keeps
each replica's weights at its own minimum validation chi^2.
"""

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from torch import nn

from ._modules import replica_chi2

__all__ = ["ReplicaChi2Loss", "ReplicaLookBack", "ReplicaNet", "ReplicaProgressBar"]


class ReplicaChi2Loss(nn.Module):
    """Criterion returning each replica's chi^2 (see :func:`replica_chi2`)."""

    def forward(self, y_pred, y_true, weight):
        return replica_chi2(y_pred, y_true, weight)


class _EarlyStop(KeyboardInterrupt):
    """Raised by a callback to end training; skorch ends fit on KeyboardInterrupt."""


class ReplicaNet(NeuralNet):
    """A skorch ``NeuralNet`` whose samples are Monte Carlo replicas.

    ``fit(X, y)`` takes ``X = {"x": inputs, "w_train": ..., "w_valid": ...}`` and
    ``y`` of shape (n_replicas, n_points): inputs are (n_inputs, n_points) shared by
    all replicas, the weights hold each replica's split and 1/sigma^2. Every epoch
    is one full-batch step: no DataLoader, no shuffling across replicas.
    """

    def __init__(self, module, *args, criterion=ReplicaChi2Loss, **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)

    def get_split_datasets(self, X, y=None, **fit_params):
        train = ({"x": X["x"], "w": X["w_train"]}, y)
        valid = (
            ({"x": X["x"], "w": X["w_valid"]}, y) if X.get("w_valid") is not None else None
        )
        return train, valid

    def get_iterator(self, dataset, training=False):
        # The whole data set is one batch; a list can be iterated every epoch.
        return [dataset]

    def get_loss(self, y_pred, y_true, X=None, training=False):
        per_replica = self.criterion_(y_pred, y_true, X["w"])
        if training:
            self.train_replica_loss_ = per_replica.detach()
        else:
            self.valid_replica_loss_ = per_replica.detach()
        return per_replica.sum()

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
    Without validation data the training chi^2 is used.

    Parameters
    ----------
    n_iter_no_change : int, default=None
        Stop once no replica has improved its best validation chi^2 by more than
        ``tol`` (relative) for this many epochs. None trains all epochs.
    tol : float, default=1e-4
        Relative improvement that counts for ``n_iter_no_change``.
    """

    def __init__(self, n_iter_no_change=None, tol=1e-4):
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        module = net.module_
        device = next(module.parameters()).device
        self.best_loss_ = torch.full((module.n_replicas,), float("inf"), device=device)
        self.best_epoch_ = torch.zeros(module.n_replicas, dtype=torch.long, device=device)
        self.best_params_ = [p.detach().clone() for p in module.parameters()]
        self.epoch_ = 0
        self.last_improvement_ = 0

    @torch.no_grad()
    def on_epoch_end(self, net, **kwargs):
        self.epoch_ += 1
        loss = getattr(net, "valid_replica_loss_", None)
        if loss is None or not net.history[-1].get("valid_batch_count"):
            loss = net.train_replica_loss_
        loss = torch.nan_to_num(loss, nan=float("inf"))
        improved = loss < self.best_loss_
        if improved.any():
            for best, param in zip(
                self.best_params_, net.module_.parameters(), strict=True
            ):
                mask = improved.view(-1, *([1] * (param.dim() - 1)))
                best.copy_(torch.where(mask, param, best))
            significant = loss < self.best_loss_ * (1 - self.tol)
            if significant.any():
                self.last_improvement_ = self.epoch_
            self.best_loss_ = torch.where(improved, loss, self.best_loss_)
            self.best_epoch_ = torch.where(
                improved, torch.full_like(self.best_epoch_, self.epoch_), self.best_epoch_
            )
        if (
            self.n_iter_no_change is not None
            and self.epoch_ - self.last_improvement_ >= self.n_iter_no_change
        ):
            raise _EarlyStop

    @torch.no_grad()
    def on_train_end(self, net, X=None, y=None, **kwargs):
        if not hasattr(self, "best_params_") or not torch.isfinite(self.best_loss_).any():
            return
        finite = torch.isfinite(self.best_loss_)
        for best, param in zip(self.best_params_, net.module_.parameters(), strict=True):
            mask = finite.view(-1, *([1] * (param.dim() - 1)))
            param.copy_(torch.where(mask, best, param))


class ReplicaProgressBar(Callback):
    """A tqdm bar over epochs showing the median best validation chi^2."""

    def __init__(self, description="replicas", lookback_name="lookback"):
        self.description = description
        self.lookback_name = lookback_name

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=net.max_epochs, desc=self.description, leave=False)

    def on_epoch_end(self, net, **kwargs):
        self.bar_.update(1)
        if self.bar_.n % 50 == 0:
            lookback = dict(net.callbacks_).get(self.lookback_name)
            if lookback is not None:
                best = lookback.best_loss_
                self.bar_.set_postfix(
                    chi2=f"{best[torch.isfinite(best)].median().item():.3g}"
                )

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self.bar_.close()
