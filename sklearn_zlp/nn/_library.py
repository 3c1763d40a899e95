"""The compiled kernel's shared library, and which engine runs.

The library (``_ckernel*.c``, built at install) is checked as a file before it
is loaded (:func:`check_library_file`: a truncated file would kill the process),
loaded once per process and refused when it is a build of another version of the
C source; a library that is missing, damaged or stale leaves every step on the
torch twins, with a RuntimeWarning that says so, once. Where it loads, a static
rule per (machine, variant) decides whether it is the engine
(:func:`engine_info` says which and why); the ctypes wrappers of its entry points
are in :mod:`._kernel`.

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

__all__ = [
    "ISAS",
    "LibraryError",
    "available",
    "check_library_file",
    "engine_for_call",
    "engine_info",
    "load_library",
    "run_with_engine_settings",
    "use_compiled",
]

_VERSION = 3  # ZLP_KERNEL_VERSION of _ckernel.c
_ENGINE_VARIABLES = ("SKLEARN_ZLP_KERNEL", "SKLEARN_ZLP_ISA")
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
    (module notes of ``sklearn_zlp.nn._library``); they are read at every call, and
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


def available():
    """Whether the library is built, loads and is not switched off by
    ``SKLEARN_ZLP_KERNEL=torch`` (whatever the default engine is)."""
    if os.environ.get("SKLEARN_ZLP_KERNEL", "").strip().lower() == "torch":
        return False
    return bool(_load())


def engine_for_call(isa=None):
    """(library, variant number) for this call, or None for the torch twin."""
    if isa is not None:  # an explicit variant (tests): the kernel, if the CPU runs it
        lib = _load()
        if not lib or isa not in lib.variants or ISAS.index(isa) > ISAS.index(lib.isa):
            return None
        return lib, ISAS.index(isa)
    lib, chosen, path, _ = _decide()
    return None if path != "compiled" else (lib, ISAS.index(chosen))


def engine_settings():
    """This process's engine variables, to run a joblib worker's call under."""
    return {name: os.environ.get(name) for name in _ENGINE_VARIABLES}


def run_with_engine_settings(settings, function, *args, **kwargs):
    """``function(*args, **kwargs)`` under the engine variables of ``settings``.

    A joblib worker keeps the environment it was started with, and loky reuses
    its workers across calls: without this, a worker started before the caller
    set ``SKLEARN_ZLP_KERNEL`` would train on another engine than the caller's
    own process, and a fit's last bits would depend on ``n_jobs`` and on what ran
    before. Variables already as wanted are left alone (threads of one process
    then change nothing); those changed are restored afterwards.
    """
    changed = {}
    for name, value in settings.items():
        if os.environ.get(name) != value:
            changed[name] = os.environ.get(name)
            _set_variable(name, value)
    try:
        return function(*args, **kwargs)
    finally:
        for name, value in changed.items():
            _set_variable(name, value)


def _set_variable(name, value):
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
