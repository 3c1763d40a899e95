"""skorch glue of the replica ensemble: history, epoch losses and look-back."""

import numpy as np
import pytest
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.history import History

from sklearn_zlp import ZLPEnsembleRegressor
from sklearn_zlp.ensemble._net import ReplicaHistory, ReplicaLookBack, ReplicaNet
from sklearn_zlp.nn._modules import ReplicaMLP


def _filled(history):
    for e in range(4):
        history.new_epoch()
        history.record("epoch", e + 1)
        for b in range(3):
            history.new_batch()
            history.record_batch("train_loss", e * 10.0 + b)
            history.record_batch("train_batch_size", 5)
            if b != 1:
                history.record_batch("x", b)
        history.record("train_loss", float(e))
        if e % 2:
            history.record("odd", True)
    return history


ALL = slice(None)


@pytest.mark.parametrize(
    "key",
    [
        -1,
        0,
        -4,
        7,
        (-1,),
        (2,),
        (7,),
        (-1, "batches"),
        (-1, "batches", -1),
        (-1, "batches", 5),
        (-1, "batches", -1, "train_loss"),
        (-1, "batches", ALL, "train_loss"),
        (-1, "batches", ALL, ["train_batch_size", "train_loss"]),
        (-1, "batches", ALL, "x"),
        (-1, "batches", slice(1, None), "x"),
        (-2, "batches", ALL, "nope"),
        (-1, "batches", ALL, "x", 3),
        (-1, "odd"),
        (-2, "odd"),
        (-1, "nope"),
        (-1, ["epoch", "train_loss"]),
        (ALL, "train_loss"),
        (ALL, "odd"),
    ],
)
def test_replica_history_indexes_like_skorch_history(key):
    def get(history):
        try:
            return "ok", history[key]
        except (KeyError, IndexError) as exc:
            return "error", type(exc)

    assert get(_filled(ReplicaHistory())) == get(_filled(History()))


def test_epoch_losses_and_history_as_skorch_records_them(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (60, 1))
    y = np.exp(-5 * X[:, 0]) * 1e3 + 10
    params = dict(n_replicas=3, max_epochs=25, random_state=0)
    ours = ZLPEnsembleRegressor(**params).fit(X, y)
    monkeypatch.setattr(ReplicaNet, "_default_callbacks", NeuralNet._default_callbacks)
    monkeypatch.setattr(ReplicaNet, "initialize_history", NeuralNet.initialize_history)
    plain = ZLPEnsembleRegressor(**params).fit(X, y)
    for a, b in zip(ours.estimators_, plain.estimators_, strict=True):
        assert isinstance(a.history, ReplicaHistory) and type(b.history) is History

        def strip(history):
            return [{k: v for k, v in e.items() if k != "dur"} for e in history]

        assert strip(a.history) == strip(b.history)
        assert isinstance(a.history[-1, "valid_loss"], np.float64)
    np.testing.assert_array_equal(ours.transform(X), plain.transform(X))


class _Snapshots(Callback):
    """Every epoch's parameters and chi^2, as the look-back sees them."""

    def on_train_begin(self, net, **kwargs):
        self.params, self.losses = [], []

    def on_replica_loss(self, net, train_loss=None, valid_loss=None, **kwargs):
        self.params.append([p.detach().clone() for p in net.module_.parameters()])
        self.losses.append(valid_loss.clone())


def test_lookback_keeps_each_replicas_best_epoch_exactly():
    n_replicas, n_points = 4, 80
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, n_points, generator=gen)
    y = torch.sin(6 * x).expand(n_replicas, n_points) + 0.3 * torch.randn(
        n_replicas, n_points, generator=gen
    )
    valid = torch.rand(n_replicas, n_points, generator=gen) < 0.3
    w_train = (~valid).float() / (~valid).sum(1, keepdim=True)
    w_valid = valid.float() / valid.sum(1, keepdim=True)
    net = ReplicaNet(
        ReplicaMLP,
        module__n_replicas=n_replicas,
        module__n_inputs=1,
        module__seeds=list(range(n_replicas)),
        optimizer=torch.optim.Adam,
        lr=0.05,
        max_epochs=60,
        batch_size=-1,
        callbacks=[("lookback", ReplicaLookBack()), ("snap", _Snapshots())],
        callbacks__print_log=None,
    )
    net.fit(
        {"x": x.expand(n_replicas, 1, n_points), "w_train": w_train, "w_valid": w_valid}, y
    )
    lookback, snap = dict(net.callbacks_)["lookback"], dict(net.callbacks_)["snap"]
    losses = torch.stack(snap.losses)  # (epochs, replicas)
    best = losses.argmin(dim=0)
    assert len(set(best.tolist())) > 1  # replicas stop at different epochs
    np.testing.assert_array_equal(lookback.best_epoch_.numpy(), best.numpy() + 1)
    torch.testing.assert_close(
        lookback.best_loss_, losses.min(dim=0).values, rtol=0, atol=0
    )
    for i, p in enumerate(net.module_.parameters()):
        for r in range(n_replicas):
            torch.testing.assert_close(p[r], snap.params[best[r]][i][r], rtol=0, atol=0)
    assert not hasattr(lookback, "best_params_") and not hasattr(lookback, "_params")
