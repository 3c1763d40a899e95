"""The compiled kernel (_ckernel*.c): every variant against float64 autograd, the
choice of variant and engine, and loading a damaged library."""

import ctypes
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import sysconfig
import textwrap
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import sklearn_zlp.nn._kernel as kernel
import sklearn_zlp.nn._library as library
import sklearn_zlp.nn._twins as twins
from sklearn_zlp import ZLPEnsembleRegressor
from sklearn_zlp.nn import (
    ACTIVATIONS,
    ReplicaMLP,
    engine_info,
    monotonic_penalty,
    replica_chi2,
)


def _has_c_compiler():
    cc = sysconfig.get_config_var("CC") or "cc"
    return shutil.which(shlex.split(cc)[0]) is not None


def _runnable_isas():
    lib = library._load() if library.available() else None
    if not lib:
        return ()
    return tuple(
        i for i in lib.variants if library.ISAS.index(i) <= library.ISAS.index(lib.isa)
    )


needs_kernel = pytest.mark.skipif(
    not library.available(), reason="compiled kernel not built (no C compiler)"
)


def _isa_params():
    """Every variant the kernel has, skipped (with the reason) where this CPU lacks it."""
    runnable = _runnable_isas()
    return [
        pytest.param(
            isa,
            marks=pytest.mark.skipif(
                isa not in runnable,
                reason=f"this CPU (or build) cannot run the {isa} variant",
            ),
        )
        for isa in library.ISAS
    ]


@pytest.fixture
def default_engine(monkeypatch):
    """The kernel's default engine, whatever the environment running the tests."""
    monkeypatch.delenv("SKLEARN_ZLP_KERNEL", raising=False)
    monkeypatch.delenv("SKLEARN_ZLP_ISA", raising=False)


@pytest.mark.skipif(not _has_c_compiler(), reason="no C compiler to build the kernel")
def test_kernel_is_built_where_a_compiler_exists(default_engine):
    """`pip install -e .` (make test) builds the extension; a silent build failure
    would leave every user on the slower torch path."""
    assert library.available()
    info = engine_info()
    assert info["compiled_available"] and "baseline" in info["variants"]
    if info["machine"] == "x86_64":
        assert info["variants"] == ("baseline", "avx2", "avx512")


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


def autograd_forward(x, weights, biases, activations):
    """The test's reference: layer-by-layer torch operations under autograd."""
    n_replicas = weights[0].shape[0]
    h = x.expand(n_replicas, *x.shape) if x.dim() == 2 else x
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = torch.baddbmm(b, w, h)
        if layer < len(weights) - 1:
            h = ACTIVATIONS[activations[layer]](h)
    return h[:, 0, :]


def _reference(module, x, y, w, wv, pairs=None, penalty=None):
    """Float64 autograd: predictions, losses and gradients of the summed loss."""
    weights = [p.detach().double().requires_grad_() for p in module.weights]
    biases = [p.detach().double().requires_grad_() for p in module.biases]
    pred = autograd_forward(x.double(), weights, biases, module.activations)
    loss = replica_chi2(pred, y.double(), w.double())
    if pairs is not None:
        loss = loss + penalty.double() * monotonic_penalty(pred, pairs)
    loss.sum().backward()
    valid = replica_chi2(pred, y.double(), wv.double()).detach()
    grads = [p.grad for p in (*weights, *biases)]
    return pred.detach(), loss.detach(), valid, grads


def _compiled(module, x, y, w, wv, pairs=None, penalty=None, isa=None, n_threads=1):
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
        n_threads=n_threads,
        isa=isa,
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

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(kernel, name, recording)
    return calls


PROBLEMS = [
    (1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 1000),  # the paper's network
    (2, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 37),  # padding inside a chunk
    (3, (20, 17), ("tanh", "relu"), 300),  # wider than one vector, odd widths
    (2, (3,), ("identity",), 64),
    (1, (4, 4, 4, 4, 4), ("sigmoid", "tanh", "relu", "identity", "sigmoid"), 513),
    (2, (), (), 10),  # a linear model
    (1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 1),
]


@needs_kernel
@pytest.mark.parametrize("isa", _isa_params())
@pytest.mark.parametrize("n_inputs, hidden, activations, n_points", PROBLEMS)
@pytest.mark.parametrize("shared", [True, False])
def test_every_variant_matches_float64_autograd(
    isa, n_inputs, hidden, activations, n_points, shared
):
    module, x, y, w, wv = _problem(n_inputs, hidden, activations, n_points, shared=shared)
    _assert_matches(
        _compiled(module, x, y, w, wv, isa=isa), _reference(module, x, y, w, wv)
    )
    # and without validation weights
    pred, chi2, valid, *_ = _compiled(module, x, y, w, None, isa=isa)
    assert valid is None


@needs_kernel
@pytest.mark.parametrize("isa", _isa_params())
def test_every_variant_with_monotonic_penalty(isa):
    module, x, y, w, wv = _problem(1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 200)
    pairs = torch.stack([torch.arange(0, 150), torch.arange(1, 151)])
    penalty = torch.tensor([0.0, 1.0, 10.0, 1e3])
    ref = _reference(module, x, y, w, wv, pairs, penalty)
    assert (monotonic_penalty(ref[0], pairs) > 0).all()  # the penalty is active
    _assert_matches(_compiled(module, x, y, w, wv, pairs, penalty, isa=isa), ref)


@needs_kernel
@pytest.mark.parametrize("isa", _isa_params())
def test_every_variant_on_saturated_units(isa, threads):
    """Inputs far outside the box (|z| ~ 1e3): the clamped exp stays finite, and
    the step is as accurate as the torch twin's float32 (saturated sigmoids lose
    their derivative to float32 rounding in both)."""
    threads(1)
    module, x, y, w, wv = _problem(1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 100)
    x = x * 200.0 - 100.0
    out = _compiled(module, x, y, w, wv, isa=isa)
    assert all(torch.isfinite(t).all() for t in (out[0], out[1], *out[3], *out[4]))
    ref = _reference(module, x, y, w, wv)
    with torch.no_grad():
        grads = twins.chi2_step(
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
@pytest.mark.parametrize("isa", _isa_params())
def test_every_variant_propagates_nan(isa):
    """A diverged replica must show up as NaN (the look-back and restarts rely on it)."""
    module, x, y, w, wv = _problem(1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 100)
    with torch.no_grad():
        module.weights[1][2, 0, 0] = float("nan")
    pred, chi2, valid, *_ = _compiled(module, x, y, w, wv, isa=isa)
    assert torch.isnan(chi2[2]) and torch.isnan(valid[2])
    assert torch.isfinite(chi2[[0, 1, 3]]).all()
    out = kernel.forward(
        x, tuple(module.weights), tuple(module.biases), module.activations, isa=isa
    )
    assert torch.isnan(out[2]).all() and torch.isfinite(out[[0, 1, 3]]).all()


@needs_kernel
@pytest.mark.parametrize("isa", _isa_params())
def test_every_variant_identical_for_any_thread_count_and_replica_group(isa):
    """Each replica is computed on its own: same bits on 1-3 threads, and alone or
    with others (what makes training independent of replicas_per_chunk)."""
    module, x, y, w, wv = _problem(2, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 300, 7)
    results = [_compiled(module, x, y, w, wv, isa=isa, n_threads=n) for n in (1, 2, 3)]
    for other in results[1:]:
        for a, b in zip(results[0][:3], other[:3], strict=True):
            assert torch.equal(a, b)
        first, now = (*results[0][3], *results[0][4]), (*other[3], *other[4])
        for a, b in zip(first, now, strict=True):
            assert torch.equal(a, b)
    # replicas 2..4 as a group of their own
    part = slice(2, 5)
    sub = types.SimpleNamespace(
        weights=[p[part] for p in module.weights],
        biases=[p[part] for p in module.biases],
        activations=module.activations,
    )
    alone = _compiled(sub, x, y[part], w[part], wv[part], isa=isa)
    for a, b in zip(alone[:3], results[0][:3], strict=True):
        assert torch.equal(a, b[part])
    for a, b in zip((*alone[3], *alone[4]), (*results[0][3], *results[0][4]), strict=True):
        assert torch.equal(a, b[part])


@needs_kernel
@pytest.mark.parametrize("isa", _isa_params())
@pytest.mark.parametrize(
    "n_inputs, hidden, activations",
    [
        (2, (10, 15, 5), ("sigmoid", "sigmoid", "relu")),
        (3, (20, 17), ("tanh", "relu")),
        (1, (3,), ("identity",)),
    ],
)
def test_every_variant_forward_matches_float64_and_ignores_the_batch(
    isa, n_inputs, hidden, activations
):
    module, x, *_ = _problem(n_inputs, hidden, activations, 1000, n_replicas=5)
    params = (tuple(module.weights), tuple(module.biases), module.activations)
    out = kernel.forward(x, *params, n_threads=1, isa=isa)
    reference = autograd_forward(
        x.double(),
        [w.detach().double() for w in module.weights],
        [b.detach().double() for b in module.biases],
        activations,
    )
    torch.testing.assert_close(
        out.double(), reference, rtol=0, atol=2e-6 * reference.abs().max()
    )
    # a point's prediction is the same whatever else is in the batch, on any
    # number of threads
    for part in (slice(0, 1), slice(5, 300), slice(999, 1000), slice(300, 1000)):
        again = kernel.forward(x[:, part].contiguous(), *params, n_threads=3, isa=isa)
        assert torch.equal(again, out[:, part])


@needs_kernel
def test_a_variant_the_cpu_lacks_is_refused_not_run():
    """The C side refuses an instruction set above what the CPU runs (status 3)
    rather than executing instructions the CPU lacks."""
    lib = library._load()
    sizes = (ctypes.c_int64 * 2)(1, 1)
    acts = (ctypes.c_int32 * 1)(0)
    x = torch.ones(1, 4)
    w, b = torch.ones(1, 1, 1), torch.zeros(1, 1, 1)
    out = torch.empty(1, 4)
    ptrs = ctypes.c_void_p * 1
    args = (1, sizes, acts, 1, 4, x.data_ptr(), ptrs(w.data_ptr()), ptrs(b.data_ptr()))
    best = library.ISAS.index(lib.isa)
    assert lib.forward(best, *args, out.data_ptr(), 1) == 0
    assert lib.forward(best + 1, *args, out.data_ptr(), 1) == 3
    assert lib.forward(-1, *args, out.data_ptr(), 1) == 3


# -- which variant and which engine run -----------------------------------------------


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(library, "_WARNED", set())


def _fake_cpu(monkeypatch, best):
    """The real library, reporting ``best`` as the best variant of this CPU."""
    lib = library._load()
    monkeypatch.setattr(
        library, "_LIB", types.SimpleNamespace(**{**vars(lib), "isa": best})
    )


@needs_kernel
@pytest.mark.parametrize("isa", _isa_params())
def test_isa_environment_variable_forces_that_variant(
    isa, monkeypatch, default_engine, fresh_warnings
):
    monkeypatch.setenv("SKLEARN_ZLP_ISA", isa)
    calls = []
    lib = library._load()
    real = lib.chi2_step

    def recording(variant, *args):
        calls.append(library.ISAS[variant])
        return real(variant, *args)

    monkeypatch.setattr(
        library, "_LIB", types.SimpleNamespace(**{**vars(lib), "chi2_step": recording})
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = engine_info()
        module, x, y, w, wv = _problem(1, (10, 15, 5), ("sigmoid", "sigmoid", "relu"), 100)
        forced = module.chi2_step(x, y, w, wv)
    assert info["isa"] == isa and info["path"] == "compiled"
    assert calls == [isa]
    explicit = _compiled(module, x, y, w, wv, isa=isa)
    for a, b in zip(forced, explicit[:3], strict=True):
        assert torch.equal(a, b)


@needs_kernel
@pytest.mark.parametrize("value", ["avx512", "sse9", "AVX-512"])
def test_isa_the_cpu_lacks_or_unknown_warns_once_and_is_ignored(
    value, monkeypatch, default_engine, fresh_warnings
):
    _fake_cpu(monkeypatch, "avx2")  # as on an AVX2-only CPU
    monkeypatch.setenv("SKLEARN_ZLP_ISA", value)
    with pytest.warns(RuntimeWarning, match="SKLEARN_ZLP_ISA") as record:
        info = engine_info()
        engine_info()
    assert len(record) == 1
    assert info["isa"] == "avx2" and info["path"] == "compiled"


@needs_kernel
@pytest.mark.parametrize("best", ["avx512", "avx2", "baseline"])
def test_default_is_the_kernel_on_every_measured_x86_instruction_set(
    best, monkeypatch, default_engine, fresh_warnings
):
    """A static rule (benchmarks/README.md): on x86-64 each variant beat the torch
    path at its own instruction set, so the default uses it."""
    _fake_cpu(monkeypatch, best)
    monkeypatch.setattr(library, "_machine", lambda: "x86_64")
    info = engine_info()
    assert info["path"] == "compiled" and info["isa"] == best
    assert "faster than the torch path" in info["reason"]
    assert kernel.uses_kernel(("sigmoid", "relu"))
    assert not kernel.uses_kernel(("softplus",))  # not in the kernel
    assert not kernel.uses_kernel(("sigmoid",), device="meta")  # not on the CPU


@needs_kernel
def test_default_is_torch_where_the_kernel_is_not_measured(
    monkeypatch, default_engine, fresh_warnings
):
    monkeypatch.setattr(library, "_machine", lambda: "aarch64")
    _fake_cpu(monkeypatch, "baseline")
    info = engine_info()
    assert info["path"] == "torch" and "not measured" in info["reason"]
    module, x, y, w, wv = _problem(1, (4,), ("sigmoid",), 20)
    assert (
        kernel.chi2_step(
            x,
            tuple(module.weights),
            tuple(module.biases),
            module.activations,
            y,
            w,
            wv,
            None,
            None,
        )
        is None
    )
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "compiled")  # opting in
    assert engine_info()["path"] == "compiled"
    assert (
        kernel.forward(x, tuple(module.weights), tuple(module.biases), module.activations)
        is not None
    )


def test_torch_engine_by_environment_is_silent(monkeypatch, fresh_warnings):
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
    monkeypatch.setattr(library, "_LIB", None)
    monkeypatch.setattr(library, "_library_path", lambda: "/nonexistent/_ckernel.so")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = engine_info()
        assert not library.available()
    assert info["path"] == "torch" and info["reason"] == "SKLEARN_ZLP_KERNEL=torch"
    assert library._LIB is None  # never even loaded


def test_kernel_declines_what_it_does_not_support(monkeypatch):
    module, x, y, w, wv = _problem(1, (4, 3), ("softplus", "relu"), 20)
    args = (tuple(module.weights), tuple(module.biases))
    assert kernel.chi2_step(x, *args, module.activations, y, w, wv, None, None) is None
    module64, x, y, w, wv = _problem(1, (4, 3), ("sigmoid", "relu"), 20)
    module64 = module64.double()
    args = (tuple(module64.weights), tuple(module64.biases), module64.activations)
    assert kernel.chi2_step(x.double(), *args, y, w, wv, None, None) is None
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
    assert not library.available()
    module, x, y, w, wv = _problem(1, (4, 3), ("sigmoid", "relu"), 20)
    args = (tuple(module.weights), tuple(module.biases))
    assert kernel.chi2_step(x, *args, module.activations, y, w, wv, None, None) is None


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
def test_inconsistent_shapes_and_indices_go_to_the_torch_path(default_engine):
    """The C code trusts shapes and indices: anything off must not reach it."""
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


@needs_kernel
def test_module_step_uses_the_kernel_and_matches_the_torch_twin(
    monkeypatch, default_engine
):
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


@needs_kernel
@pytest.mark.parametrize("penalty", [0.0, 10.0])
def test_ensemble_fit_same_with_kernel_and_torch_twin(monkeypatch, default_engine, penalty):
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
        monkeypatch.setenv("SKLEARN_ZLP_KERNEL", engine)
        reg = ZLPEnsembleRegressor(**kwargs, monotonic_X=monotonic)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reg.fit(X, y)
        fits[engine] = reg.transform(X)
    np.testing.assert_allclose(fits["compiled"], fits["torch"], rtol=1e-3)


@needs_kernel
def test_ensemble_predictions_use_the_compiled_forward(monkeypatch, default_engine):
    """Same fitted ensemble, both forward passes: equal to float32 rounding."""
    rng = np.random.default_rng(1)
    X = np.column_stack([np.linspace(-0.5, 2.0, 150), rng.normal(size=150)])
    y = 1e4 * np.exp(-0.5 * (X[:, 0] / 0.2) ** 2) + 20.0
    reg = ZLPEnsembleRegressor(n_replicas=6, max_epochs=30, random_state=0).fit(X, y)
    calls = _record_calls(monkeypatch, "forward")
    compiled = reg.transform(X)
    assert calls and all(calls)
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
    twin = reg.transform(X)
    assert not calls[-1]
    np.testing.assert_allclose(compiled, twin, rtol=2e-5)


# -- a damaged or missing library -----------------------------------------------------


def _built_library():
    path = library._library_path()
    if path is None:
        pytest.skip("compiled kernel not built (no C compiler)")
    return Path(path)


def _middle_of_largest_segment(data):
    """Byte offset halfway through the largest PT_LOAD segment of an ELF64 file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        pytest.skip("not a little-endian ELF64 library")
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    segments = []
    for k in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + k * phentsize
        )
        if p_type == 1:
            segments.append((p_filesz, p_offset))
    size, offset = max(segments)
    return offset + size // 2


def _damage(source, target, how):
    data = source.read_bytes()
    if how == "missing":
        return
    if how == "truncated in code":
        # cut in the middle of the largest loadable segment (the code): mapping
        # it touches pages past the end of the file
        target.write_bytes(data[: _middle_of_largest_segment(data)])
    elif how == "truncated at the end":
        target.write_bytes(data[:-100])
    elif how == "garbage":
        target.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif how == "empty":
        target.write_bytes(b"")
    elif how == "intact":
        target.write_bytes(data)


_FIT_SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("always")
    import numpy as np
    import sklearn_zlp.nn._library as library
    if sys.argv[1] != "-":
        library._library_path = lambda: sys.argv[1]
    from sklearn_zlp import ZLPEnsembleRegressor
    from sklearn_zlp.nn import engine_info
    E = np.linspace(-1, 1, 80)[:, None]
    y = 1e4 * np.exp(-0.5 * (E[:, 0] / 0.3) ** 2) + 10
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = ZLPEnsembleRegressor(n_replicas=3, max_epochs=20, random_state=0)
        out = reg.fit(E, y).transform(E)
        info = engine_info()
    print(json.dumps(dict(
        out=out.tolist(), info=info,
        warnings=[(w.category.__name__, str(w.message)) for w in caught],
    )))
    """
)


def _run_fit(library_file, env_engine=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKLEARN_ZLP_")}
    if env_engine:
        env["SKLEARN_ZLP_KERNEL"] = env_engine
    done = subprocess.run(
        [sys.executable, "-c", _FIT_SCRIPT, str(library_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"the process died ({done.returncode}):\n{done.stderr[-2000:]}"
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def torch_twin_fit():
    """The same fit on the torch twin, chosen by the environment (no warning)."""
    return _run_fit("-", env_engine="torch")


def test_torch_twin_fit_is_silent(torch_twin_fit):
    assert torch_twin_fit["warnings"] == []
    assert torch_twin_fit["info"]["path"] == "torch"


@pytest.mark.slow
@pytest.mark.parametrize(
    "how", ["truncated in code", "truncated at the end", "garbage", "empty", "missing"]
)
def test_damaged_library_warns_once_and_falls_back(how, tmp_path, torch_twin_fit):
    """No crash (SIGBUS from a truncated file), one warning naming the file and
    the fix, the torch twin, and its results exactly."""
    damaged = tmp_path / "_ckernel.so"
    _damage(_built_library(), damaged, how)
    result = _run_fit(damaged)
    runtime = [m for c, m in result["warnings"] if c == "RuntimeWarning"]
    assert len(runtime) == 1, result["warnings"]
    if how == "missing":
        assert "could not be loaded" in runtime[0] or "cannot be read" in runtime[0]
    assert str(damaged) in runtime[0] and "einstall" in runtime[0]
    assert result["info"]["path"] == "torch" and not result["info"]["compiled_available"]
    assert result["out"] == torch_twin_fit["out"]


@needs_kernel
@pytest.mark.slow
def test_intact_copy_loads_and_a_truncated_one_would_crash_without_the_check(tmp_path):
    """The check is what saves the process: an intact copy runs compiled, and
    dlopen of the truncated copy without it dies of SIGBUS (or refuses it)."""
    intact = tmp_path / "intact.so"
    _damage(_built_library(), intact, "intact")
    result = _run_fit(intact)
    assert result["warnings"] == [] and result["info"]["path"] == "compiled"
    truncated = tmp_path / "truncated.so"
    _damage(_built_library(), truncated, "truncated in code")
    code = f"import ctypes; ctypes.CDLL({str(truncated)!r}).zlp_kernel_isa()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode != 0


@pytest.mark.parametrize(
    "how, reason",
    [
        ("truncated in code", "truncated"),
        ("truncated at the end", "beyond the end of the file"),
        ("garbage", "not an ELF"),
        ("empty", "not an ELF"),
        ("missing", "cannot be read"),
    ],
)
def test_check_library_file_names_the_problem(how, reason, tmp_path):
    damaged = tmp_path / "lib.so"
    source = _built_library()
    if sys.platform in ("darwin", "win32"):
        pytest.skip("ELF checks")
    _damage(source, damaged, how)
    assert reason in library.check_library_file(damaged)
    assert library.check_library_file(source) is None


@needs_kernel
def test_stale_build_warns_once_and_falls_back(monkeypatch, default_engine, fresh_warnings):
    monkeypatch.setattr(library, "_LIB", None)
    monkeypatch.setattr(library, "_VERSION", library._VERSION + 1000)
    with pytest.warns(RuntimeWarning, match="stale build") as record:
        assert not library.available()
        assert engine_info()["path"] == "torch"
    assert len(record) == 1
    monkeypatch.setattr(library, "_LIB", None)  # reloaded with the right version after
