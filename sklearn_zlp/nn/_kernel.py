"""The compiled kernel (``_ckernel*.c``) through ctypes, and which engine runs.

:func:`chi2_step` computes on the CPU, in float32, what the torch twin of
``ReplicaMLP.chi2_step`` computes (predictions, training and validation chi^2,
monotonic penalty, gradients of every weight and bias), one replica at a time
with its activations in cache. :func:`forward` evaluates every replica on shared
inputs, a block of points at a time, each point on its own. :func:`adam` is the
Adam step of :class:`~sklearn_zlp.nn.ReplicaAdam`. Each returns None where it does
not apply, and the caller then uses the torch twin:

- the default engine for this CPU is the torch path, or ``SKLEARN_ZLP_KERNEL=torch``
  is set (:func:`engine_info` says which and why);
- the library is missing, damaged or stale (a RuntimeWarning says so, once);
- tensors that are not float32 or not on the CPU, or activations other than
  sigmoid, tanh, relu and identity.

Environment variables, read at every call (they never change a result beyond
float32 rounding, and the kernel's results never depend on the thread count):

``SKLEARN_ZLP_KERNEL``
    ``torch`` always uses the torch twins (silently); ``compiled`` uses the
    kernel wherever it applies, also on CPUs where the default is the torch path;
    unset or ``auto``: the default of :func:`engine_info`.
``SKLEARN_ZLP_ISA``
    ``avx512``, ``avx2`` or ``baseline``: run that variant of the kernel instead of
    the best one this CPU has (for benchmarks and tests). A variant this CPU
    cannot run is ignored with a RuntimeWarning.
"""

import ctypes
import importlib.util
import os
import platform
import struct
import sys
import threading
import types
import warnings

import torch

__all__ = [
    "adam",
    "available",
    "chi2_step",
    "engine_info",
    "forward",
    "use_compiled",
    "uses_kernel",
]

_VERSION = 3  # ZLP_KERNEL_VERSION of _ckernel.c
_ACTS = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3}
ISAS = ("baseline", "avx2", "avx512")  # ZLP_ISA_* of _ckernel.h, lowest first

# Where the compiled kernel is the default: (machine, variant) pairs measured
# faster than the torch path on a CPU of that instruction set (benchmarks/README.md,
# 20 replicas x 500 and 100 x 2000 epochs, whole fits, compiled vs torch run side
# by side). A static rule, so that which engine runs (and so the last bits of a
# fit) never depends on timing noise. Elsewhere (other architectures, not
# measured) the torch path is the default; SKLEARN_ZLP_KERNEL=compiled overrides.
_MEASURED_FASTER = {
    ("x86_64", "avx512"): "measured 1.8-2.2x faster than the torch path",
    ("x86_64", "avx2"): "measured 1.5-2.0x faster than the torch path restricted to "
    "AVX2 (the AVX2 variant on an AVX-512 CPU)",
    ("x86_64", "baseline"): "measured 1.5-1.8x faster than the torch path "
    "restricted to SSE4.2 (the baseline variant on an AVX-512 CPU)",
}
_MACHINES = {"amd64": "x86_64", "x86_64": "x86_64", "x64": "x86_64"}

_LIB = None  # load_library's namespace, False once loading failed
_LOAD_LOCK = threading.Lock()
_WARNED = set()


def _warn_once(key, message):
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _library_path():
    """The built extension's file, or None where it was not built (never imported:
    loading a damaged file as a Python module can kill the process)."""
    spec = importlib.util.find_spec(f"{__package__}._ckernel")
    return None if spec is None or not spec.has_location else spec.origin


_ELF_CLASSES = {
    # EI_CLASS: header tail after e_ident, program and section header formats
    1: ("HHIIIIIHHHHHH", "IIIIIIII", "IIIIIIIIII"),
    2: ("HHIQQQIHHHHHH", "IIQQQQQQ", "IIQQQQIIQQ"),
}


def check_library_file(path):
    """Why the shared library at ``path`` cannot be loaded safely, or None.

    ``dlopen`` maps an ELF file's segments without checking them against the file's
    size, and touching a page past the end of a truncated file kills the process
    (SIGBUS). So before loading: the ELF header, the program and section header
    tables and every loadable segment and section with file contents must lie
    within the file. Non-ELF platforms (macOS, Windows) check their own formats
    when loading; there, only the file's existence and a non-trivial size are
    checked here.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    size = len(data)
    if data[:4] != b"\x7fELF":
        if sys.platform in ("darwin", "win32") and size > 4096:
            return None
        return "it is not an ELF shared library (damaged or overwritten)"
    if size < 16 or data[4] not in _ELF_CLASSES or data[5] not in (1, 2):
        return "its ELF header is truncated or invalid"
    head, phdr, shdr = _ELF_CLASSES[data[4]]
    order = "<" if data[5] == 1 else ">"
    head, phdr, shdr = (struct.Struct(order + f) for f in (head, phdr, shdr))
    if size < 16 + head.size:
        return "its ELF header is truncated"
    (e_type, _, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, _) = (
        head.unpack_from(data, 16)
    )
    if e_type != 3:  # ET_DYN
        return "it is not an ELF shared object"
    if phnum == 0 or phentsize < phdr.size or phoff + phnum * phentsize > size:
        return f"its program header table lies beyond the end of the file ({size} bytes)"
    n_load = 0
    for k in range(phnum):
        fields = phdr.unpack_from(data, phoff + k * phentsize)
        if data[4] == 1:
            p_type, p_offset, _, _, p_filesz = fields[:5]
        else:
            p_type, _, p_offset, _, _, p_filesz = fields[:6]
        if p_type == 1:  # PT_LOAD
            n_load += 1
            if p_offset + p_filesz > size:
                return (
                    f"it is truncated: a loadable segment ends at byte "
                    f"{p_offset + p_filesz}, the file has {size}"
                )
    if n_load == 0:
        return "it has no loadable segment"
    if shnum:
        if shentsize < shdr.size or shoff + shnum * shentsize > size:
            return (
                f"its section header table lies beyond the end of the file ({size} bytes)"
            )
        for k in range(shnum):
            fields = shdr.unpack_from(data, shoff + k * shentsize)
            sh_type, sh_offset, sh_size = fields[1], fields[4], fields[5]
            if sh_type != 8 and sh_offset + sh_size > size:  # not SHT_NOBITS
                return (
                    f"it is truncated: a section ends at byte {sh_offset + sh_size}, "
                    f"the file has {size}"
                )
    return None


class LibraryError(OSError):
    """The kernel library cannot be used; the message names the file and the fix."""


def load_library(path):
    """The shared library at ``path``, checked (:func:`check_library_file`) and typed.

    Returns a namespace with ``chi2_step``, ``forward``, ``adam``, ``isa`` (the best
    variant this CPU runs, a name of ``ISAS``), ``variants`` (those built) and
    ``path``. Raises :class:`LibraryError` if the file is damaged, not loadable or
    a build of another version of the C source.
    """
    fix = (
        "Training and prediction use the torch path instead (same results to "
        "float32 rounding, slower on most CPUs). Reinstall the package to rebuild "
        "it (pip install --force-reinstall --no-deps sklearn-zlp, or pip install -e . "
        "/ make test in a source checkout), or set SKLEARN_ZLP_KERNEL=torch to "
        "silence this."
    )
    problem = check_library_file(path)
    if problem is not None:
        raise LibraryError(
            f"sklearn_zlp's compiled kernel {path} is unusable: {problem}. {fix}"
        )
    try:
        lib = ctypes.CDLL(str(path))
        version = lib.zlp_kernel_version()
    except (OSError, AttributeError) as exc:
        raise LibraryError(
            f"sklearn_zlp's compiled kernel {path} could not be loaded ({exc}). {fix}"
        ) from exc
    if version != _VERSION:
        raise LibraryError(
            f"sklearn_zlp's compiled kernel {path} is version {version}, this code "
            f"expects {_VERSION}: a stale build. {fix}"
        )
    p = ctypes.c_void_p
    i64 = ctypes.c_int64
    i32 = ctypes.c_int
    f32 = ctypes.c_float
    step = lib.zlp_chi2_step
    step.restype = i32
    step.argtypes = [i32, i32, p, p, i64, i64, p, i32, p, p, p, p, p]
    step.argtypes += [i64, p, p, p, p, p, p, p, p, i32]
    fwd = lib.zlp_forward
    fwd.restype = i32
    fwd.argtypes = [i32, i32, p, p, i64, i64, p, p, p, p, i32]
    adam_step = lib.zlp_adam
    adam_step.restype = i32
    adam_step.argtypes = [i32, p, p, p, p, p, *([f32] * 7)]
    best = int(lib.zlp_kernel_isa())
    built = int(lib.zlp_kernel_variants())
    return types.SimpleNamespace(
        chi2_step=step,
        forward=fwd,
        adam=adam_step,
        isa=ISAS[best],
        variants=tuple(name for k, name in enumerate(ISAS) if built >> k & 1),
        path=str(path),
    )


def _load():
    """The library (loaded once per process), or False; warns once on failure."""
    global _LIB
    if _LIB is None:
        with _LOAD_LOCK:
            if _LIB is None:
                path = _library_path()
                try:
                    if path is None:
                        raise LibraryError(
                            "sklearn_zlp's compiled kernel (sklearn_zlp/nn/_ckernel) is "
                            "not built: the installation found no C compiler (GCC or "
                            "clang), or the library was deleted. Training and "
                            "prediction use the torch path instead (same results to "
                            "float32 rounding, slower on most CPUs). Install a C "
                            "compiler and reinstall the package to build it, or set "
                            "SKLEARN_ZLP_KERNEL=torch to silence this."
                        )
                    _LIB = load_library(path)
                except LibraryError as exc:
                    _LIB = False
                    # A damaged or stale file always says so; a library that was
                    # never built only where it would have been used.
                    mode = os.environ.get("SKLEARN_ZLP_KERNEL", "").strip().lower()
                    if path is not None or mode == "compiled" or _default_wants_compiled():
                        _warn_once(("load", path), str(exc))
    return _LIB


def _machine():
    machine = platform.machine().lower()
    return _MACHINES.get(machine, machine)


def _default_wants_compiled():
    """Whether the static rule picks the kernel for some variant on this machine."""
    return any(m == _machine() for m, _ in _MEASURED_FASTER)


def _requested_isa(lib):
    """The variant to run: the CPU's best, or a lower one from SKLEARN_ZLP_ISA."""
    wanted = os.environ.get("SKLEARN_ZLP_ISA", "").strip().lower()
    if not wanted or wanted == lib.isa:
        return lib.isa
    if wanted not in ISAS:
        _warn_once(
            ("isa", wanted),
            f"SKLEARN_ZLP_ISA={wanted!r} is not one of {', '.join(ISAS)}; ignored "
            f"(running the {lib.isa} variant).",
        )
        return lib.isa
    if ISAS.index(wanted) > ISAS.index(lib.isa) or wanted not in lib.variants:
        _warn_once(
            ("isa", wanted),
            f"SKLEARN_ZLP_ISA={wanted!r}, but this CPU (or this build) cannot run "
            f"that variant; ignored (running the {lib.isa} variant).",
        )
        return lib.isa
    return wanted


def _decide():
    """(library or None, variant or None, path, reason): the engine of this call."""
    mode = os.environ.get("SKLEARN_ZLP_KERNEL", "").strip().lower()
    if mode == "torch":
        return None, None, "torch", "SKLEARN_ZLP_KERNEL=torch"
    lib = _load()
    if not lib:
        return None, None, "torch", "the compiled kernel is missing or unusable"
    isa = _requested_isa(lib)
    if mode == "compiled":
        return lib, isa, "compiled", "SKLEARN_ZLP_KERNEL=compiled"
    if mode not in ("", "auto"):
        _warn_once(
            ("mode", mode),
            f"SKLEARN_ZLP_KERNEL={mode!r} is not one of torch, compiled, auto; ignored.",
        )
    reason = _MEASURED_FASTER.get((_machine(), isa))
    if reason is None:
        return (
            None,
            isa,
            "torch",
            f"the compiled kernel's {isa} variant is not measured against the torch "
            f"path on {_machine()}; SKLEARN_ZLP_KERNEL=compiled uses it",
        )
    return lib, isa, "compiled", f"{isa} variant {reason}"


def engine_info():
    """Which engine trains and predicts on the CPU here, and why.

    Returns
    -------
    info : dict
        ``path``: "compiled" or "torch", the engine of CPU float32 networks whose
        activations the kernel supports (others, and GPUs, always use torch);
        ``reason``: why; ``isa``: the kernel variant that runs (or would run),
        None without a usable library; ``cpu_isa``: the best variant this CPU
        runs; ``compiled_available``: whether the library loaded; ``variants``:
        the variants built into it; ``machine``; ``library``: its file.

    Notes
    -----
    The default is a static rule per (machine, variant), from measurements of
    whole fits with the kernel and with the torch path side by side
    (benchmarks/README.md): the kernel where it was measured faster, the torch
    path elsewhere. ``SKLEARN_ZLP_KERNEL`` and ``SKLEARN_ZLP_ISA`` override it
    (module notes of ``sklearn_zlp.nn._kernel``); they are read at every call, and
    joblib worker processes see them as they were when the workers started.

    Examples
    --------
    >>> from sklearn_zlp.nn import engine_info
    >>> info = engine_info()
    >>> info["path"] in ("compiled", "torch")
    True
    """
    lib, isa, path, reason = _decide()
    loaded = _LIB or None
    return {
        "path": path,
        "reason": reason,
        "isa": isa if loaded else None,
        "cpu_isa": loaded.isa if loaded else None,
        "compiled_available": bool(loaded),
        "variants": loaded.variants if loaded else (),
        "machine": _machine(),
        "library": loaded.path if loaded else _library_path(),
    }


def use_compiled():
    """Whether CPU float32 steps of supported networks run in the kernel now."""
    return _decide()[2] == "compiled"


def uses_kernel(activations, device="cpu"):
    """Whether networks with these hidden activations on ``device`` (float32)
    train and predict in the kernel now, rather than in the torch twins."""
    return (
        torch.device(device).type == "cpu"
        and all(a in _ACTS for a in activations)
        and use_compiled()
    )


def available():
    """Whether the library is built, loads and is not switched off by
    ``SKLEARN_ZLP_KERNEL=torch`` (whatever the default engine is)."""
    if os.environ.get("SKLEARN_ZLP_KERNEL", "").strip().lower() == "torch":
        return False
    return bool(_load())


def _engine(isa=None):
    """(library, variant number) for this call, or None for the torch twin."""
    if isa is not None:  # an explicit variant (tests): the kernel, if the CPU runs it
        lib = _load()
        if not lib or isa not in lib.variants or ISAS.index(isa) > ISAS.index(lib.isa):
            return None
        return lib, ISAS.index(isa)
    lib, chosen, path, _ = _decide()
    return None if path != "compiled" else (lib, ISAS.index(chosen))


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

    Arguments and results as ``_modules._chi2_step``; ``x`` is (n_in, P) shared or
    (R, n_in, P). ``n_threads`` threads share the replicas (results do not depend
    on it); ``isa`` forces a variant (None: the engine's choice).
    """
    engine = _engine(isa)
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
    engine = _engine(isa)
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
    engine = _engine()
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
