"""The compiled training step (_ckernel.c) against float64 autograd and the torch path."""

import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import sklearn_zlp.nn._kernel as kernel
import sklearn_zlp.nn._modules as modules
from sklearn_zlp import ZLPEnsembleRegressor
from sklearn_zlp.nn._modules import (
    ReplicaMLP,
    _reference_forward,
    monotonic_penalty,
    replica_chi2,
)


def _has_c_compiler():
    cc = sysconfig.get_config_var("CC") or "cc"
    return shutil.which(shlex.split(cc)[0]) is not None


needs_kernel = pytest.mark.skipif(
    not kernel.available(), reason="compiled training step not built (no C compiler)"
)


@pytest.mark.skipif(not _has_c_compiler(), reason="no C compiler to build the kernel")
def test_kernel_is_built_where_a_compiler_exists(monkeypatch):
    """`pip install -e .` (make test) builds the extension; a silent build failure
    would leave every user on the slower torch path."""
    monkeypatch.delenv("SKLEARN_ZLP_KERNEL", raising=False)
    assert kernel.available()


@pytest.fixture
def threads():
    previous = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(previous)


def _problem(n_inputs, hidden, activations, n_points, n_replicas=4, shared=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    module = ReplicaMLP(
        n_replicas,
        n_inputs,
        hidden_layer_sizes=hidden,
        activations=activations,
        seeds=list(range(n_replicas)),
    )
    shape = (n_inputs, n_points) if shared else (n_replicas, n_inputs, n_points)
    x = 0.1 + 0.8 * torch.rand(*shape, generator=gen)
    y = torch.randn(n_replicas, n_points, generator=gen)
    w = torch.rand(n_replicas, n_points, generator=gen) / n_points
    wv = torch.rand(n_replicas, n_points, generator=gen) / n_points
    return module, x, y, w, wv


def _reference(module, x, y, w, wv, pairs=None, penalty=None):
    """Float64 autograd: predictions, losses and gradients of the summed loss."""
    weights = [p.detach().double().requires_grad_() for p in module.weights]
    biases = [p.detach().double().requires_grad_() for p in module.biases]
    pred = _reference_forward(x.double(), weights, biases, module.activations)
    loss = replica_chi2(pred, y.double(), w.double())
    if pairs is not None:
        loss = loss + penalty.double() * monotonic_penalty(pred, pairs)
    loss.sum().backward()
    valid = replica_chi2(pred, y.double(), wv.double()).detach()
    grads = [p.grad for p in (*weights, *biases)]
    return pred.detach(), loss.detach(), valid, grads


def _compiled(module, x, y, w, wv, pairs=None, penalty=None):
    out = kernel.chi2_step(
        x,
        tuple(module.weights),
        tuple(module.biases),
        module.activations,
        y,
        w,
        wv,
        pairs,
        penalty,
    )
    assert out is not None, "the compiled step declined a problem it supports"
    return out


def _assert_matches(out, ref, rtol=2e-5):
    pred, chi2, valid, grad_w, grad_b = out
    pred_ref, chi2_ref, valid_ref, grads_ref = ref
    scale = pred_ref.abs().max()
    torch.testing.assert_close(pred.double(), pred_ref, rtol=0, atol=rtol * scale)
    torch.testing.assert_close(chi2.double(), chi2_ref, rtol=rtol, atol=0)
    if valid is not None:
        torch.testing.assert_close(valid.double(), valid_ref, rtol=rtol, atol=0)
    for g, g_ref in zip((*grad_w, *grad_b), grads_ref, strict=True):
        # per replica, relative to that replica's largest gradient in the layer
        tol = rtol * g_ref.abs().flatten(1).amax(dim=1).clamp_min(1e-30)
        err = (g.double() - g_ref).abs().flatten(1).amax(dim=1)
        assert (err <= tol).all(), (err / tol).max()


def _record_calls(monkeypatch, name):
    """Wrap ``kernel.<name>``; the list records whether each call ran compiled."""
    calls = []
    original = getattr(kernel, name)

    def recording(*args):
        out = original(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(kernel, name, recording)
    return calls


@needs_kernel
@pytest.mark.parametrize(
    "n_inputs, hidden, activations, n_points",
    [
        (1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 1000),  # the paper's network
        (2, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 37),  # padding inside a chunk
        (3, (20, 17), ("tanh", "relu"), 300),  # wider than one vector, odd widths
        (2, (3,), ("identity",), 64),
        (1, (4, 4, 4, 4, 4), ("sigmoid", "tanh", "relu", "identity", "sigmoid"), 513),
        (2, (), (), 10),  # a linear model
        (1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 1),
    ],
)
@pytest.mark.parametrize("shared", [True, False])
def test_compiled_step_matches_float64_autograd(
    n_inputs, hidden, activations, n_points, shared, threads
):
    threads(1)
    module, x, y, w, wv = _problem(n_inputs, hidden, activations, n_points, shared=shared)
    _assert_matches(_compiled(module, x, y, w, wv), _reference(module, x, y, w, wv))
    # and without validation weights
    pred, chi2, valid, *_ = _compiled(module, x, y, w, None)
    assert valid is None


@needs_kernel
def test_compiled_step_with_monotonic_penalty(threads):
    threads(1)
    module, x, y, w, wv = _problem(1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 200)
    pairs = torch.stack([torch.arange(0, 150), torch.arange(1, 151)])
    penalty = torch.tensor([0.0, 1.0, 10.0, 1e3])
    ref = _reference(module, x, y, w, wv, pairs, penalty)
    assert (monotonic_penalty(ref[0], pairs) > 0).all()  # the penalty is active
    _assert_matches(_compiled(module, x, y, w, wv, pairs, penalty), ref)


@needs_kernel
def test_compiled_step_saturated_units(threads, monkeypatch):
    """Inputs far outside the box (|z| ~ 1e3): the clamped exp stays finite, and
    the step is as accurate as torch's float32 path (saturated sigmoids lose
    their derivative to float32 rounding in both)."""
    threads(1)
    module, x, y, w, wv = _problem(1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 100)
    x = x * 200.0 - 100.0
    out = _compiled(module, x, y, w, wv)
    assert all(torch.isfinite(t).all() for t in (out[0], out[1], *out[3], *out[4]))
    ref = _reference(module, x, y, w, wv)
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
    with torch.no_grad():
        grads = modules._chi2_step(
            x, tuple(module.weights), tuple(module.biases), module.activations, y, w, wv
        )[3:]
    torch_grads = (*grads[0], *grads[1])
    for g, g_torch, g_ref in zip((*out[3], *out[4]), torch_grads, ref[3], strict=True):
        scale = g_ref.abs().max()
        err = (g.double() - g_ref).abs().max()
        err_torch = (g_torch.double() - g_ref).abs().max()
        assert err <= 2 * err_torch + 1e-6 * scale
    torch.testing.assert_close(out[0].double(), ref[0], rtol=1e-5, atol=1e-5)


@needs_kernel
def test_compiled_step_propagates_nan(threads):
    """A diverged replica must show up as NaN (the look-back and restarts rely on it)."""
    threads(1)
    module, x, y, w, wv = _problem(1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 100)
    with torch.no_grad():
        module.weights[1][2, 0, 0] = float("nan")
    pred, chi2, valid, *_ = _compiled(module, x, y, w, wv)
    assert torch.isnan(chi2[2]) and torch.isnan(valid[2])
    assert torch.isfinite(chi2[[0, 1, 3]]).all()


@needs_kernel
def test_compiled_step_identical_for_any_thread_count(threads):
    module, x, y, w, wv = _problem(2, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 300, 7)
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(_compiled(module, x, y, w, wv))
    for other in results[1:]:
        for a, b in zip(results[0][:3], other[:3], strict=True):
            assert torch.equal(a, b)
        first, now = (*results[0][3], *results[0][4]), (*other[3], *other[4])
        for a, b in zip(first, now, strict=True):
            assert torch.equal(a, b)


@needs_kernel
def test_module_step_uses_the_kernel_and_matches_the_torch_path(monkeypatch, threads):
    threads(1)
    module, x, y, w, wv = _problem(2, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 500)
    calls = _record_calls(monkeypatch, "chi2_step")
    pred, chi2, valid = module.chi2_step(x, y, w, wv)
    compiled_grads = [p.grad.clone() for p in module.parameters()]
    assert calls == [True]
    module.zero_grad(set_to_none=True)
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
    pred_t, chi2_t, valid_t = module.chi2_step(x, y, w, wv)
    assert calls == [True, False]
    torch.testing.assert_close(pred, pred_t, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(chi2, chi2_t, rtol=1e-5, atol=0)
    torch.testing.assert_close(valid, valid_t, rtol=1e-5, atol=0)
    for g, p in zip(compiled_grads, module.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-5 * p.grad.abs().max())


def test_kernel_declines_what_it_does_not_support(monkeypatch, threads):
    threads(1)
    module, x, y, w, wv = _problem(1, (4, 3), ("softplus", "relu"), 20)
    args = (tuple(module.weights), tuple(module.biases))
    assert kernel.chi2_step(x, *args, module.activations, y, w, wv, None, None) is None
    module64, x, y, w, wv = _problem(1, (4, 3), ("sigmoid", "relu"), 20)
    module64 = module64.double()
    args = (tuple(module64.weights), tuple(module64.biases), module64.activations)
    assert kernel.chi2_step(x.double(), *args, y, w, wv, None, None) is None
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
    assert not kernel.available()
    module, x, y, w, wv = _problem(1, (4, 3), ("sigmoid", "relu"), 20)
    args = (tuple(module.weights), tuple(module.biases))
    assert kernel.chi2_step(x, *args, module.activations, y, w, wv, None, None) is None


@needs_kernel
def test_stale_build_warns_and_falls_back(monkeypatch):
    monkeypatch.setattr(kernel, "_LIB", None)
    monkeypatch.setattr(kernel, "_VERSION", kernel._VERSION + 1000)
    with pytest.warns(RuntimeWarning, match="stale build"):
        assert not kernel.available()
    monkeypatch.setattr(kernel, "_LIB", None)  # reloaded with the right version after


@needs_kernel
@pytest.mark.parametrize("penalty", [0.0, 10.0])
def test_ensemble_fit_same_with_kernel_and_torch_path(monkeypatch, penalty):
    """Whole fits agree: same seeds, same epochs, float32 rounding apart."""
    rng = np.random.default_rng(0)
    energy = np.linspace(-0.5, 2.0, 120)
    truth = 1e5 * np.exp(-0.5 * (energy / 0.15) ** 2) + 50.0
    y = rng.poisson(truth).astype(float) + 1.0
    X = energy[:, None]
    kwargs = dict(n_replicas=4, max_epochs=40, random_state=0, max_restarts=0)
    kwargs.update(monotonic_penalty=penalty)
    monotonic = X[energy > 0.5] if penalty else None
    fits = {}
    for engine in ("compiled", "torch"):
        if engine == "torch":
            monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
        reg = ZLPEnsembleRegressor(**kwargs, monotonic_X=monotonic)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reg.fit(X, y)
        fits[engine] = reg.transform(X)
    np.testing.assert_allclose(fits["compiled"], fits["torch"], rtol=1e-3)


def _cpu_flags():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


_ISA_FLAGS = {
    "x86-64": set(),
    "x86-64-v3": {"avx2", "fma", "bmi2"},
    "x86-64-v4": {"avx512f", "avx512bw", "avx512dq", "avx512vl"},
}


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64")
    or not _has_c_compiler(),
    reason="builds x86-64 variants with the system C compiler",
)
@pytest.mark.parametrize("march", sorted(_ISA_FLAGS))
def test_every_instruction_set_clone_is_correct(march, tmp_path, monkeypatch, threads):
    """The installed library runs the clone for this CPU only; build each variant
    (baseline SSE2, AVX2, AVX-512) alone and check it like the installed one."""
    if not _ISA_FLAGS[march] <= _cpu_flags():
        pytest.skip(f"this CPU cannot run {march}")
    threads(1)
    source = Path(kernel.__file__).with_name("_ckernel.c")
    library = tmp_path / f"ckernel_{march}.so"
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    command = [*cc, "-O3", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math"]
    command += ["-Wno-psabi", "-shared", "-fPIC", "-pthread", "-DZLP_NO_CLONES"]
    command += [f"-march={march}", f"-I{sysconfig.get_paths()['include']}"]
    command += [str(source), "-o", str(library)]
    subprocess.run(command, check=True, capture_output=True)
    monkeypatch.setattr(kernel, "_LIB", kernel.load_library(library))
    monkeypatch.delenv("SKLEARN_ZLP_KERNEL", raising=False)
    for n_inputs, hidden, activations, n_points in [
        (2, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 130),
        (3, (20, 17), ("tanh", "relu"), 64),
    ]:
        module, x, y, w, wv = _problem(n_inputs, hidden, activations, n_points)
        pairs = torch.stack([torch.arange(0, 60), torch.arange(1, 61)])
        penalty = torch.tensor([0.0, 1.0, 10.0, 1e3])
        reference = _reference(module, x, y, w, wv, pairs, penalty)
        _assert_matches(_compiled(module, x, y, w, wv, pairs, penalty), reference)
        predictions = kernel.forward(
            x, tuple(module.weights), tuple(module.biases), module.activations
        )
        torch.testing.assert_close(
            predictions.double(), reference[0], rtol=0, atol=2e-6 * reference[0].abs().max()
        )


@needs_kernel
@pytest.mark.parametrize(
    "n_inputs, hidden, activations",
    [
        (2, (10, 15, 5), ("sigmoid", "sigmoid", "relu")),
        (3, (20, 17), ("tanh", "relu")),
        (1, (3,), ("identity",)),
    ],
)
def test_compiled_forward_matches_float64_and_ignores_the_batch(
    n_inputs, hidden, activations, threads
):
    module, x, *_ = _problem(n_inputs, hidden, activations, 1000, n_replicas=5)
    params = (tuple(module.weights), tuple(module.biases), module.activations)
    threads(1)
    out = kernel.forward(x, *params)
    reference = _reference_forward(
        x.double(),
        [w.detach().double() for w in module.weights],
        [b.detach().double() for b in module.biases],
        activations,
    )
    torch.testing.assert_close(
        out.double(), reference, rtol=0, atol=2e-6 * reference.abs().max()
    )
    # a point's prediction is the same whatever else is in the batch, on any
    # number of threads (the float64 torch fallback guarantees the same)
    threads(3)
    for part in (slice(0, 1), slice(5, 300), slice(999, 1000), slice(300, 1000)):
        assert torch.equal(kernel.forward(x[:, part].contiguous(), *params), out[:, part])


@needs_kernel
def test_ensemble_predictions_use_the_compiled_forward(monkeypatch):
    """Same fitted ensemble, both forward paths: equal to float32 rounding."""
    rng = np.random.default_rng(1)
    X = np.column_stack([np.linspace(-0.5, 2.0, 150), rng.normal(size=150)])
    y = 1e4 * np.exp(-0.5 * (X[:, 0] / 0.2) ** 2) + 20.0
    reg = ZLPEnsembleRegressor(n_replicas=6, max_epochs=30, random_state=0).fit(X, y)
    calls = _record_calls(monkeypatch, "forward")
    compiled = reg.transform(X)
    assert calls and all(calls)
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
    fallback = reg.transform(X)
    assert not calls[-1]
    np.testing.assert_allclose(compiled, fallback, rtol=2e-5)


def test_compiled_forward_declines_what_it_does_not_support():
    module, x, *_ = _problem(1, (4, 3), ("softplus", "relu"), 20)
    params = (tuple(module.weights), tuple(module.biases), module.activations)
    assert kernel.forward(x, *params) is None
    module, x, *_ = _problem(1, (4, 3), ("sigmoid", "relu"), 20, shared=False)
    params = (tuple(module.weights), tuple(module.biases), module.activations)
    assert kernel.forward(x, *params) is None  # per-replica inputs: torch path
    module = module.double()
    params = (tuple(module.weights), tuple(module.biases), module.activations)
    assert kernel.forward(x[0].double(), *params) is None


@needs_kernel
def test_inconsistent_shapes_and_indices_go_to_the_torch_path(threads):
    """The C code trusts shapes and indices: anything off must not reach it."""
    threads(1)
    module, x, y, w, wv = _problem(2, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 50)
    params = (tuple(module.weights), tuple(module.biases), module.activations)
    penalty = torch.ones(4)
    bad_pairs = torch.tensor([[0, 1], [1, 50]])  # 50 is past the last point
    assert kernel.chi2_step(x, *params, y, w, wv, bad_pairs, penalty) is None
    assert kernel.chi2_step(x[:1], *params, y, w, wv, None, None) is None
    assert kernel.chi2_step(x, *params, y[:, :10], w, wv, None, None) is None
    assert kernel.forward(x[:1], *params) is None
    with pytest.raises(IndexError):
        module.chi2_step(x, y, w, wv, pairs=bad_pairs, penalty=penalty)
