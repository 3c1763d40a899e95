"""Speed of ``fit_band_gap`` on a spectral image, vectorised vs the former per-row fit.

Run from the repository root (a script, not a test)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_bandgap.py             # ~1.5 min
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_bandgap.py --quick     # ~25 s
    .venv/bin/python benchmarks/bench_bandgap.py --spectra 64 --modes auto window    # ~2 min

Workload: an 8 x 8 image of ``make_synthetic_eels`` (1024 channels over -2..18
eV, gap 1.6 eV, b 1.5, t/lambda 0.3-1.0, plasmon 15 eV, seed 0). Its replicas
are the recorded spectra less the true ZLP times a per-replica factor ``1 +
0.02 N(0, 1)``, plus a draw of counting noise; sigma is the recorded counts'
``sqrt(max(I, 1) + 25)``. ``fit_band_gap`` fits them with the automatic window,
with ``window=(1.0, 3.0)``, with the true ZLP as the response (``zlp=``, one
per spectrum, as the tests give it) and with one ZLP per replica (the true ZLP
shifted by ``0.003 N(0, 1)`` eV per replica: responses that differ by row).

The former implementation (the band-gap modules as of ``--old-ref``, the last
commit before issue 12's vectorisation) is loaded from git beside the current
one and timed on the same spectra in the same run. Printed per mode: seconds
per spectrum (new: best of ``--repeats``), the ratio, how many replica and
spectrum statuses differ, and the largest differences of E_bg (in channels)
and b over replicas ok in both, of the medians, bands and p_indirect.

Measured on the 2-core AMD EPYC (load average about 1), seconds per spectrum,
new against old, and the ratio; no replica or spectrum status differed:

===============  ===========================  ===========================
mode             16 spectra                   64 spectra
===============  ===========================  ===========================
auto             0.028 / 0.843 (30x)          0.024 / 0.827 (35x)
window           0.021 / 0.760 (37x)          0.021 / 0.752 (37x)
zlp              0.042 / 1.501 (36x)
zlp_per_replica  0.047 / 1.429 (31x)
===============  ===========================  ===========================

A single replica's E_bg can differ by up to a channel (b by up to 0.03)
where b < 1 puts the minimum on a kink of the model (E_bg where a channel
of the onset starts): the old per-row least squares and the new
vectorised one stop on different sides of it, and neither is the better
fit throughout. Medians moved by at most 0.016 channel and 68% bands by at
most 0.09 channel (64 spectra).

Against the vectorised fit itself (``--old-ref 9aab8a6 --old-repeats 3``,
32 spectra, same machine, load average 0.9-1.5): auto 0.0181 / 0.0223 s (1.2x),
window 0.0164 / 0.0193 s (1.2x), no status differing, E_bg within 1e-11
channel and p_indirect within 2e-5 over every fit of the band-gap tests. The
time per spectrum is arithmetic on about 300 rows of 100 channels, not Python
per spectrum: the onset fits of the replicas of 4 to 32 spectra (window (1,
3), one weight row) as one stack of 1200-9600 rows took 0.78-0.90 of the
time of the same fits one spectrum at a time; larger stacks leave the cache.
"""

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.physics import fit_band_gap

# _machine.py beside this file, whether run as a script or loaded by path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, load_average

ROOT = Path(__file__).resolve().parent.parent
# the modules the vectorisation changed, loaded in this order (each imports the
# ones before it by relative import)
OLD_MODULES = (
    "_onset_model",
    "_onset_fit",
    "_bandgap_window",
    "_bandgap_spectrum",
    "_bandgap",
)
MODES = ("auto", "window", "zlp", "zlp_per_replica")


def workload(n_spectra, n_replicas, seed=1):
    """(energy, replicas (n_replicas, n_spectra, 1024), sigma, zlp, per-replica zlp)."""
    energy = np.linspace(-2, 18, 1024)
    d = make_synthetic_eels(
        image_shape=(8, 8),
        energy=energy,
        t_over_lambda=(0.3, 1.0),
        e_bg=1.6,
        plasmon_energy=15.0,
        random_state=0,
    )
    rng = np.random.default_rng(seed)
    recorded = d.spectra.reshape(-1, energy.size)[:n_spectra]
    zlp = d.zlp.reshape(-1, energy.size)[:n_spectra]
    factor = 1.0 + 0.02 * rng.standard_normal((n_replicas, n_spectra, 1))
    noise = rng.standard_normal((n_replicas,) + recorded.shape)
    replicas = recorded - factor * zlp + noise * np.sqrt(np.maximum(recorded, 1.0))
    sigma = np.sqrt(np.maximum(recorded, 1.0) + 25.0)
    shifts = 0.003 * rng.standard_normal((n_replicas, n_spectra))
    zlp_rep = np.empty(replicas.shape)
    for r in range(n_replicas):
        for j in range(n_spectra):
            zlp_rep[r, j] = np.interp(energy - shifts[r, j], energy, zlp[j])
    return energy, replicas, sigma, zlp, zlp_rep


def _git_show(ref, path):
    """The text of ``path`` at git revision ``ref``, or None where it is not there."""
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{ref}:{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def load_old(ref):
    """``fit_band_gap`` as of git revision ``ref``, or None where git cannot show it.

    A module of ``OLD_MODULES`` that the revision lacks (``_onset_model`` before
    the vectorisation) is taken from the working tree.
    """
    sources = {}
    for name in OLD_MODULES:
        src = _git_show(ref, f"sklearn_zlp/physics/{name}.py")
        if src is not None:
            sources[name] = src
        elif name == "_bandgap":
            print(f"cannot load the band-gap modules at {ref}; timing the new code only")
            return None
    old = {}
    for name, src in sources.items():
        for other in sources:
            src = src.replace(f"from .{other} import", f"from ._old{other} import")
        full = f"sklearn_zlp.physics._old{name}"
        module = types.ModuleType(full)
        module.__package__ = "sklearn_zlp.physics"
        module.__file__ = f"<{ref}:sklearn_zlp/physics/{name}.py>"
        sys.modules[full] = module
        exec(compile(src, module.__file__, "exec"), module.__dict__)
        old[name] = module
    return old["_bandgap"].fit_band_gap


def mode_kwargs(mode, sigma, zlp, zlp_rep):
    kwargs = {"replica_axis": 0, "sigma": sigma}
    if mode == "window":
        kwargs["window"] = (1.0, 3.0)
    elif mode == "zlp":
        kwargs["zlp"] = zlp
    elif mode == "zlp_per_replica":
        kwargs["zlp"] = zlp_rep
    return kwargs


def timed(fit, energy, replicas, kwargs, repeats):
    best, res = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fit(energy, replicas, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, res


def differences(energy, new, old):
    """Status mismatches and the largest differences of the new result from the old."""
    de = energy[1] - energy[0]
    both = (new.replica_status == "ok") & (old.replica_status == "ok")

    def largest(a, b, mask=None, unit=1.0):
        a, b = np.asarray(a, float), np.asarray(b, float)
        keep = np.isfinite(a) & np.isfinite(b)
        if mask is not None:
            keep &= mask
        return float(np.max(np.abs(a - b)[keep], initial=0.0)) / unit

    return {
        "replica_status": int(np.sum(new.replica_status != old.replica_status)),
        "status": int(np.sum(new.status != old.status)),
        "e_bg_ch": largest(new.e_bg, old.e_bg, both, de),
        "b": largest(new.b, old.b, both),
        "e_bg_median_ch": largest(new.e_bg_median, old.e_bg_median, unit=de),
        "e_bg_band_ch": largest(new.e_bg_band, old.e_bg_band, unit=de),
        "b_median": largest(new.b_median, old.b_median),
        "b_band": largest(new.b_band, old.b_band),
        "p_indirect": largest(new.p_indirect, old.p_indirect),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="4 spectra, one repeat")
    p.add_argument("--spectra", type=int, default=16, help="spectra fitted (max 64)")
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3, help="timings of the new code")
    p.add_argument(
        "--old-repeats",
        type=int,
        default=1,
        help="timings of the old code (more where it is about as fast: --old-ref HEAD)",
    )
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument(
        "--old-ref",
        default="81d87e8",
        help="git revision of the former implementation (default: the last "
        "commit before the vectorisation); 'none' times the new code only",
    )
    args = p.parse_args(argv)
    n_spectra = 4 if args.quick else min(args.spectra, 64)
    repeats = 1 if args.quick else args.repeats
    old_repeats = 1 if args.quick else args.old_repeats
    print(f"CPU: {cpu_model()}; load average {load_average()[0]:.2f}")
    energy, replicas, sigma, zlp, zlp_rep = workload(n_spectra, args.replicas)
    print(
        f"{n_spectra} spectra x {args.replicas} replicas x {energy.size} channels; "
        f"old: {args.old_ref}"
    )
    old_fit = None if args.old_ref == "none" else load_old(args.old_ref)
    print(
        f"\n{'mode':<16} {'new s/spec':>10} {'old s/spec':>10} {'ratio':>7}  "
        "status diffs (replica, spectrum)  max |diff| (ok in both)"
    )
    for mode in args.modes:
        kwargs = mode_kwargs(mode, sigma, zlp, zlp_rep)
        t_new, new = timed(fit_band_gap, energy, replicas, kwargs, repeats)
        line = f"{mode:<16} {t_new / n_spectra:10.4f}"
        if old_fit is not None:
            t_old, old = timed(old_fit, energy, replicas, kwargs, old_repeats)
            diff = differences(energy, new, old)
            line += (
                f" {t_old / n_spectra:10.4f} {t_old / t_new:7.1f}  "
                f"({diff['replica_status']}, {diff['status']})  "
                f"E_bg {diff['e_bg_ch']:.3f} ch, b {diff['b']:.4f}; medians E_bg "
                f"{diff['e_bg_median_ch']:.3f} ch, b {diff['b_median']:.4f}; bands "
                f"E_bg {diff['e_bg_band_ch']:.3f} ch, b {diff['b_band']:.4f}; "
                f"p_indirect {diff['p_indirect']:.2e}"
            )
        n_ok = int(np.sum(new.replica_status == "ok"))
        print(f"{line}  [new: {n_ok}/{new.replica_status.size} replicas ok]", flush=True)


if __name__ == "__main__":
    main()
