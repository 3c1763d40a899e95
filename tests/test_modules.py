"""The torch twins (training step, forward pass) and ReplicaAdam against references."""

import numpy as np
import pytest
import torch

import sklearn_zlp.nn._adam as adam
import sklearn_zlp.nn._kernel as kernel
import sklearn_zlp.nn._library as library
import sklearn_zlp.nn._twins as twins
from sklearn_zlp.nn import (
    ACTIVATIONS,
    ReplicaAdam,
    ReplicaMLP,
    monotonic_penalty,
    replica_chi2,
)


def _reference_forward(x, weights, biases, activations):
    """The tests' reference: layer-by-layer torch operations under autograd."""
    n_replicas = weights[0].shape[0]
    h = x.expand(n_replicas, *x.shape) if x.dim() == 2 else x
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = torch.baddbmm(b, w, h)
        if layer < len(weights) - 1:
            h = ACTIVATIONS[activations[layer]](h)
    return h[:, 0, :]


ACTIVATION_SETS = [("sigmoid", "sigmoid", "relu"), ("tanh", "softplus", "identity")]


def _problem(shared, activations, n_replicas=5, n_points=40):
    gen = torch.Generator().manual_seed(0)
    module = ReplicaMLP(
        n_replicas, 2, activations=activations, seeds=list(range(n_replicas))
    ).double()
    shape = (2, n_points) if shared else (n_replicas, 2, n_points)
    x = torch.rand(*shape, generator=gen, dtype=torch.float64)
    y, w, wv = (
        torch.rand(n_replicas, n_points, generator=gen, dtype=torch.float64)
        for _ in range(3)
    )
    return module, x, y, w, wv


def _autograd(module, x, y, w):
    """Gradients of the summed chi^2 by layer-by-layer autograd."""
    module.zero_grad(set_to_none=True)
    pred = _reference_forward(x, module.weights, module.biases, module.activations)
    chi2 = replica_chi2(pred, y, w)
    chi2.sum().backward()
    grads = [p.grad.clone() for p in module.parameters()]
    module.zero_grad(set_to_none=True)
    return pred.detach(), chi2.detach(), grads


@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # replica blocks are for single-threaded workers
    yield
    torch.set_num_threads(previous)


def test_replica_blocks(one_thread, monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(twins, "_BLOCK_FLOATS", 1000)
    assert twins._replica_blocks(10, 300, cpu) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert twins._replica_blocks(10, 5000, cpu) == [(r, r + 1) for r in range(10)]
    assert twins._replica_blocks(3, 300, cpu) == [(0, 3)]
    torch.set_num_threads(2)  # several threads: one block, large ops
    assert twins._replica_blocks(10, 300, cpu) == [(0, 10)]


@pytest.mark.parametrize("block_floats", [1 << 17, 100, 1])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("activations", ACTIVATION_SETS)
def test_torch_twin_step_matches_autograd(
    shared, activations, block_floats, monkeypatch, one_thread
):
    monkeypatch.setattr(twins, "_BLOCK_FLOATS", block_floats)
    module, x, y, w, wv = _problem(shared, activations)
    pred_ref, chi2_ref, grads_ref = _autograd(module, x, y, w)
    pred, chi2, valid_chi2 = module.chi2_step(x, y, w, wv)
    torch.testing.assert_close(pred, pred_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(chi2, chi2_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(valid_chi2, replica_chi2(pred_ref, y, wv))
    for p, ref in zip(module.parameters(), grads_ref, strict=True):
        torch.testing.assert_close(p.grad, ref, rtol=1e-10, atol=1e-12)
    # Gradients accumulate like backward() does.
    module.chi2_step(x, y, w)
    for p, ref in zip(module.parameters(), grads_ref, strict=True):
        torch.testing.assert_close(p.grad, 2 * ref, rtol=1e-10, atol=1e-12)


def test_torch_twin_step_gradient_check():
    """The autograd reference passes a finite-difference check; the twin step equals it."""
    module, x, y, w, _ = _problem(True, ("sigmoid", "sigmoid", "relu"), 2, 15)
    params = list(module.parameters())

    def loss(*values):
        weights, biases = values[:4], values[4:]
        pred = _reference_forward(x, weights, biases, module.activations)
        return replica_chi2(pred, y, w).sum()

    module.chi2_step(x, y, w)
    analytic = [p.grad.clone() for p in params]
    numeric = torch.autograd.functional.jacobian(loss, tuple(p.detach() for p in params))
    assert torch.autograd.gradcheck(
        loss, tuple(p.detach().requires_grad_() for p in params)
    )
    for a, n in zip(analytic, numeric, strict=True):
        torch.testing.assert_close(a, n, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("block_floats", [50, 1 << 18])
def test_torch_twin_step_with_monotonic_penalty_matches_autograd(
    one_thread, monkeypatch, block_floats
):
    monkeypatch.setattr(twins, "_BLOCK_FLOATS", block_floats)
    module, x, y, w, wv = _problem(True, ("sigmoid", "sigmoid", "relu"))
    pairs = torch.tensor([[3, 4, 5, 10, 11], [4, 5, 6, 11, 12]])
    penalty = torch.tensor([0.0, 1.0, 10.0, 100.0, 1e3], dtype=torch.float64)
    module.zero_grad(set_to_none=True)
    pred = _reference_forward(x, module.weights, module.biases, module.activations)
    loss = replica_chi2(pred, y, w) + penalty * monotonic_penalty(pred, pairs)
    loss.sum().backward()
    grads_ref = [p.grad.clone() for p in module.parameters()]
    module.zero_grad(set_to_none=True)
    _, train, valid = module.chi2_step(x, y, w, wv, pairs=pairs, penalty=penalty)
    torch.testing.assert_close(train, loss.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(valid, replica_chi2(pred, y, wv).detach())
    for p, ref in zip(module.parameters(), grads_ref, strict=True):
        torch.testing.assert_close(p.grad, ref, rtol=1e-9, atol=1e-12)
    # the penalty is active for this problem (some rises), so the test can fail
    assert (monotonic_penalty(pred, pairs) > 0).any()


# -- the torch twin of the forward pass -----------------------------------------------


@pytest.mark.parametrize("activations", ACTIVATION_SETS + [("relu", "sigmoid", "tanh")])
@pytest.mark.parametrize("shared", [True, False])
def test_torch_twin_forward_matches_float64(activations, shared):
    module, x, *_ = _problem(shared, activations, n_points=500)
    reference = _reference_forward(x, module.weights, module.biases, activations).detach()
    module = module.float()
    out = twins.forward(
        x.float(), tuple(module.weights), tuple(module.biases), module.activations
    )
    assert out.dtype == torch.float32
    torch.testing.assert_close(
        out.double(), reference, rtol=0, atol=3e-6 * reference.abs().max()
    )


@pytest.mark.parametrize("activations", ACTIVATION_SETS + [("relu", "sigmoid", "tanh")])
def test_torch_twin_forward_ignores_the_batch_bitwise(activations, monkeypatch):
    """A point's prediction is the same bits whatever else is in the batch, on any
    number of threads and with any block size (correctly rounded elementwise
    operations only)."""
    module, x, *_ = _problem(True, activations, n_replicas=7, n_points=1000)
    module = module.float()
    x = x.float() * 3 - 1  # also saturated and negative units
    params = (tuple(module.weights), tuple(module.biases), module.activations)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        out = twins.forward(x, *params)
        torch.set_num_threads(3)
        for part in (slice(0, 1), slice(5, 300), slice(999, 1000), slice(1, 1000)):
            assert torch.equal(
                twins.forward(x[:, part].contiguous(), *params), out[:, part]
            )
        monkeypatch.setattr(twins, "_FORWARD_BLOCK_FLOATS", 1000)
        assert torch.equal(twins.forward(x, *params), out)
        # and each replica alone
        alone = twins.forward(
            x, [w[3:4] for w in params[0]], [b[3:4] for b in params[1]], params[2]
        )
        assert torch.equal(alone, out[3:4])
    finally:
        torch.set_num_threads(previous)


def test_module_forward_is_the_one_prediction_path(monkeypatch):
    """ReplicaMLP.forward: the kernel where it is the engine, else the twin; both
    without an autograd graph."""
    module = ReplicaMLP(3, 2, seeds=[0, 1, 2])
    x = torch.rand(2, 50)
    twin = twins.forward(x, tuple(module.weights), tuple(module.biases), module.activations)
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
    out = module(x)
    assert torch.equal(out, twin) and not out.requires_grad
    # a stride-0 expansion over replicas counts as shared inputs
    assert torch.equal(module(x.expand(3, 2, 50)), twin)
    if library.available():
        monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "compiled")
        compiled = module(x)
        assert not torch.equal(compiled, twin)  # another implementation ...
        torch.testing.assert_close(compiled, twin, rtol=1e-5, atol=1e-6)  # ... same values


def test_exact_activations_match_torch():
    z = torch.cat([torch.linspace(-100, 100, 20001), torch.tensor([0.0, -0.0, 1e-30])])
    for name, fn in twins._EXACT.items():
        torch.testing.assert_close(
            fn(z), ACTIVATIONS[name](z), rtol=3e-7, atol=1e-7, msg=name
        )
    e = torch.linspace(-87, 87, 10001)
    torch.testing.assert_close(twins._exp(e), torch.exp(e), rtol=3e-7, atol=0)
    u = torch.cat([torch.logspace(-37, 37, 10001), torch.tensor([1.0, 2.0, 0.5])])
    torch.testing.assert_close(twins._log(u), torch.log(u), rtol=0, atol=3e-7 * 86)
    assert torch.isnan(twins._sigmoid(torch.tensor([float("nan")]))).all()
    assert torch.isnan(twins._relu(torch.tensor([float("nan")]))).all()


# -- ReplicaAdam ----------------------------------------------------------------------


def _adam_problem(seed, sizes=(7, 130, 1, 64, 33)):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(n, generator=gen) for n in sizes]
    grads = [[torch.randn(n, generator=gen) * 10.0**k for n in sizes] for k in (-3, 0, 2)]
    return params, grads


def _run_adam(params, grads_per_step, lr=0.01):
    params = [torch.nn.Parameter(p.clone()) for p in params]
    optimizer = ReplicaAdam(params, lr=lr)
    for grads in grads_per_step:
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
    return [p.detach() for p in params]


def test_replica_adam_follows_torch_adam():
    params, grads = _adam_problem(0)
    ours = _run_adam(params, grads * 20)
    theirs = [torch.nn.Parameter(p.clone()) for p in params]
    optimizer = torch.optim.Adam(theirs, lr=0.01, foreach=False)
    for step in grads * 20:
        for p, g in zip(theirs, step, strict=True):
            p.grad = g.clone()
        optimizer.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("engine", ["compiled", "torch"])
def test_replica_adam_update_does_not_depend_on_the_elements_place(engine, monkeypatch):
    """The values of one tensor, split into pieces of other sizes (or padded in
    front), get the same bits: what torch's fused Adam does not guarantee."""
    if engine == "compiled" and not library.available():
        pytest.skip("compiled kernel not built")
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", engine)
    gen = torch.Generator().manual_seed(1)
    n = 1000
    p0 = torch.randn(n, generator=gen)
    steps = [torch.randn(n, generator=gen) for _ in range(5)]
    whole = _run_adam([p0], [[g] for g in steps])[0]
    cuts = [0, 3, 4, 67, 500, 999, n]
    pieces = _run_adam(
        [p0[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)],
        [[g[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)] for g in steps],
    )
    assert torch.equal(torch.cat(pieces), whole)


def test_replica_adam_kernel_and_twin_give_the_same_bits(monkeypatch):
    if not library.available():
        pytest.skip("compiled kernel not built")
    params, grads = _adam_problem(2)
    calls = []
    real = kernel.adam
    monkeypatch.setattr(
        kernel, "adam", lambda *a, **k: calls.append(real(*a, **k)) or calls[-1]
    )
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "compiled")
    compiled = _run_adam(params, grads * 4)
    assert calls and all(calls)
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
    twin = _run_adam(params, grads * 4)
    assert not calls[-1]
    for a, b in zip(compiled, twin, strict=True):
        assert torch.equal(a, b)


def test_replica_adam_scalars_are_float32_exact():
    for value in (0.9, 0.1, 1e-8, 1 / 3):
        assert adam._f32(value) == float(np.float32(value))


def test_replica_adam_rejects_bad_settings():
    p = [torch.nn.Parameter(torch.zeros(3))]
    for kwargs in (dict(lr=0), dict(betas=(1.0, 0.9)), dict(eps=-1)):
        with pytest.raises(ValueError):
            ReplicaAdam(p, **kwargs)


def test_replica_adam_pickles_and_resumes():
    import pickle

    params, grads = _adam_problem(3)
    straight = _run_adam(params, grads * 2)
    ps = [torch.nn.Parameter(p.clone()) for p in params]
    optimizer = ReplicaAdam(ps, lr=0.01)
    for step in grads:
        for p, g in zip(ps, step, strict=True):
            p.grad = g.clone()
        optimizer.step()
    ps, optimizer = pickle.loads(pickle.dumps((ps, optimizer)))
    for step in grads:
        for p, g in zip(ps, step, strict=True):
            p.grad = g.clone()
        optimizer.step()
    for a, b in zip(ps, straight, strict=True):
        assert torch.equal(a.detach(), b)
