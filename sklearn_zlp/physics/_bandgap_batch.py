"""Onset fits of many spectra at once, each in a window of its own.

A fit of one spectrum's replicas costs mostly the fixed price of its
iterations' array operations on a few hundred rows (measured line by line on 16
spectra of the bench_image.py image: the refinement took 16 of the 21 ms per
100-replica spectrum, most of it per iteration), so spectra are fitted together.
The model ``(E - E_bg)^b`` depends on ``E - E_bg`` only: on the relative axis
``u = E - E_start`` of its window, with ``t = E_bg - E_start``, it is the same
for every window of the same channels on a uniform axis. Windows of equal
length are therefore fitted in one call (up to ``_ROWS_PER_CALL`` rows), and
``E_bg = E_start + t``. Every operation of the fit is row
by row (:mod:`._onset_model`), so a spectrum's fit does not depend on the
spectra fitted with it. A fit convolved with a response starts its
convolution at the lowest gap of its rows, so such fits run one spectrum at a
time.
"""

import contextlib
from typing import NamedTuple

import numpy as np

from ._onset_fit import fit_onsets_many

__all__ = ["WindowRows", "fit_windows", "one_blas_thread"]

# Rows fitted in one call (a spectrum's replicas times its fits): about forty
# spectra of 100 replicas x 3 fits. A call's iterations run until its slowest
# row ends, at a fixed price per iteration, so larger calls share that tail;
# beyond cache sizes each row costs more. Band gap per 100-replica pixel,
# 82-channel windows, one core, side by side: 10.4-10.5 ms at 1536 rows,
# 9.3-10.3 at 3072, 9.2-9.4 at 6144, 8.9-9.3 at 12288 (32 spectra a call).
_ROWS_PER_CALL = 12288
# Relative spread of the channel width below which an axis counts as uniform.
_UNIFORM = 1e-6


class WindowRows(NamedTuple):
    """One spectrum's rows to fit in its window ``energy[start : start + size]``.

    ``y`` and ``w`` (m, size): counts and weights (1 / sigma); ``kernels``
    (k_energy, weights (m, n_k)) or None: one response per row; ``resolution``:
    the Gaussian FWHM of the response, or None.
    """

    start: int
    size: int
    y: np.ndarray
    w: np.ndarray
    kernels: tuple | None = None
    resolution: float | None = None


def _step(energy):
    """The channel width of a uniform axis, or None."""
    if energy.size < 2:
        return None
    steps = np.diff(energy)
    step = (energy[-1] - energy[0]) / (energy.size - 1)
    return step if np.all(np.abs(steps - step) <= _UNIFORM * abs(step)) else None


def _row_groups(w):
    """The weight row of every row of one spectrum as numbers 0, 1, ..."""
    if np.all(w == w[0]):
        return np.zeros(w.shape[0], dtype=np.intp)
    return np.unique(w, axis=0, return_inverse=True)[1].ravel()


def fit_windows(energy, jobs, exponents, *, background, margin_always=False):
    """:func:`fit_onsets_many` of every job's rows in its window.

    The gap is searched from the window's first channel to 2.5 channels
    below its last (to its last in windows of at most 4 channels, unless
    ``margin_always``). Returns, per job, the list of OnsetFits (one per
    exponent) with E_bg on ``energy``.
    """
    step = _step(energy)
    groups = {}
    for i, job in enumerate(jobs):
        alone = job.kernels is not None or job.resolution is not None
        key = ("alone", i) if alone else (job.size, None if step else job.start)
        groups.setdefault(key, []).append(i)
    out = [None] * len(jobs)
    for members in groups.values():
        chunk, rows = [], 0
        for i in members:
            chunk.append(i)
            rows += jobs[i].y.shape[0] * len(exponents)
            if rows >= _ROWS_PER_CALL:
                _fit_chunk(
                    energy, step, jobs, chunk, exponents, background, margin_always, out
                )
                chunk, rows = [], 0
        if chunk:
            _fit_chunk(energy, step, jobs, chunk, exponents, background, margin_always, out)
    return out


def _fit_chunk(energy, step, jobs, chunk, exponents, background, margin_always, out):
    first = jobs[chunk[0]]
    if step is not None:
        u = step * np.arange(first.size)
    else:
        u = energy[first.start : first.start + first.size] - energy[first.start]
    de = u[1] - u[0] if u.size > 1 else 1.0
    hi = u[-1] - 2.5 * de if (u.size > 4 or margin_always) else u[-1]
    ids, offset = [], 0
    for i in chunk:
        ids.append(offset + _row_groups(jobs[i].w))
        offset = ids[-1].max() + 1
    fits = fit_onsets_many(
        u,
        np.vstack([jobs[i].y for i in chunk]),
        np.vstack([jobs[i].w for i in chunk]),
        exponents,
        0.0,
        hi,
        resolution=first.resolution,
        kernels=first.kernels,
        background=background,
        groups=np.concatenate(ids),
    )
    at = 0
    for i in chunk:
        m = jobs[i].y.shape[0]
        parts = [f.take(slice(at, at + m)) for f in fits]
        for part in parts:
            part.e_bg = part.e_bg + energy[jobs[i].start]
        out[i] = parts
        at += m


def one_blas_thread():
    """A context that runs BLAS on one thread (where threadpoolctl is there).

    The vectorised fits make many small matrix products (100-300 rows by
    about 100 channels); a multi-threaded BLAS gains little on them and
    loses much when other work holds the cores it waits for. 8 spectra x 100
    replicas of ``benchmarks/bench_bandgap.py`` on 2 cores, OpenBLAS's 2
    threads against one: with another process running (load average 2),
    0.062 against 0.025 s per spectrum (window (1, 3)) and 0.39 against
    0.048 s (``zlp``); on an idle machine 0.018 against 0.020 s and 0.034
    against 0.039 s.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dependency of scikit-learn; without it, leave BLAS be
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
