"""Coverage of the ZLP's 68% band on real spectra: leave one WS2 vacuum spectrum out.

Run from the repository root (a script, not a test)::

    .venv/bin/python benchmarks/bench_ws2_loo.py            # defaults: 100 replicas x 3000 epochs
    .venv/bin/python benchmarks/bench_ws2_loo.py --quick    # 16 x 2000 (the slow test's settings)

The bundled WS2 set (``sklearn_zlp.datasets.load_ws2``) holds three spectra
recorded in vacuum. For each, ``ZLPSubtractor(mode="vacuum")`` at its default
settings is fitted on the other two (after ``ZeroLossAligner``) and predicts the
held-out one with ``predict_zlp(X, counting_noise=True)``: the band of a new
spectrum's recorded counts. The held-out data have no known truth, but they are
a draw of what the band claims to hold, so the fraction of its channels inside
the band is the band's empirical coverage on data the model never saw. Printed
per fold and energy range: that fraction (target 0.68), the median of
prediction / data, and the median half-width of the band relative to the
prediction; then the folds pooled.

Channels are not independent (the ZLP's error is smooth), so one fold's
coverage over a range is one draw, not many: three folds are few. The synthetic
``vacuum_leave_one_out`` case of the validation zoo (``bench_accuracy.py``)
repeats the measurement with a known truth over five seeds.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see DESIGN.md

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from sklearn_zlp import ZeroLossAligner, ZLPSubtractor
from sklearn_zlp.datasets import load_ws2
from sklearn_zlp.subtraction import default_regressor

# _machine.py beside this file, whether run as a script or loaded by path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model

RANGES = ((-1.0, -0.2), (-0.2, 0.3), (0.3, 1.0), (1.0, 3.0), (3.0, 6.0))
QUICK = {"replicas": 16, "epochs": 2000}
# test-only: the smallest networks that run every fold in seconds
TINY = {"replicas": 4, "epochs": 30, "hidden": (4,), "activations": ("sigmoid",)}


def fold(vacuum, axis, held, settings):
    """One fold: rows (range, coverage, prediction/data, relative half-width)."""
    regressor = None
    if settings["replicas"] is not None:
        regressor = default_regressor(random_state=held, n_jobs=settings["jobs"])
        regressor.set_params(n_replicas=settings["replicas"], max_epochs=settings["epochs"])
        if settings.get("hidden"):
            regressor.set_params(
                hidden_layer_sizes=settings["hidden"], activations=settings["activations"]
            )
    sub = ZLPSubtractor(
        energy_axis=axis,
        mode="vacuum",
        regressor=regressor,
        n_jobs=settings["jobs"],
        random_state=held,
    )
    start = time.perf_counter()
    sub.fit(np.delete(vacuum, held, axis=0))
    low, median, high = sub.predict_zlp(vacuum[held : held + 1], counting_noise=True)
    seconds = time.perf_counter() - start
    data = vacuum[held]
    rows = []
    for lo, hi in RANGES:
        use = (axis >= lo) & (axis <= hi) & (data > 0)
        inside = (data[use] >= low[0, use]) & (data[use] <= high[0, use])
        rows.append(
            (
                (lo, hi),
                inside,
                float(np.median(median[0, use] / data[use])),
                float(np.median(0.5 * (high[0, use] - low[0, use]) / median[0, use])),
            )
        )
    return rows, seconds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="16 replicas x 2000 epochs")
    p.add_argument("--tiny", action="store_true", help="test-only: tiny networks")
    p.add_argument("--jobs", type=int, default=1, help="n_jobs of the ensemble")
    args = p.parse_args(argv)
    settings = {"jobs": args.jobs, "replicas": None, "epochs": None}
    if args.quick:
        settings.update(QUICK)
    if args.tiny:
        settings.update(TINY)
    cpu = cpu_model()
    ens = (
        "defaults (100 replicas x 3000 epochs)"
        if settings["replicas"] is None
        else f"{settings['replicas']} replicas x {settings['epochs']} epochs"
    )
    print(f"CPU: {cpu}, {os.cpu_count()} cores; ensemble: {ens}, n_jobs={args.jobs}")
    ws2 = load_ws2()
    aligner = ZeroLossAligner(energy_axis=ws2.energy).fit(ws2.vacuum)
    vacuum, axis = aligner.transform(ws2.vacuum), aligner.energy_axis_
    print(
        f"\n{'held out':<12} {'range (eV)':<13} {'channels':>8} {'coverage':>9} "
        f"{'pred/data':>10} {'half-width':>11}"
    )
    pooled = {r: [] for r in RANGES}
    for held in range(vacuum.shape[0]):
        rows, seconds = fold(vacuum, axis, held, settings)
        name = ws2.names["vacuum"][held]
        for (lo, hi), inside, ratio, width in rows:
            pooled[(lo, hi)].append(inside)
            print(
                f"{name:<12} {lo:>5.1f}..{hi:<5.1f} {inside.size:>8} {inside.mean():>9.2f} "
                f"{ratio:>10.2f} {width:>10.1%}"
            )
        print(f"{'':<12} fit and prediction {seconds:.1f} s")
    print("\npooled over the folds (target 0.68):")
    summary = {}
    for (lo, hi), parts in pooled.items():
        inside = np.concatenate(parts)
        summary[(lo, hi)] = [float(part.mean()) for part in parts]
        per_fold = " / ".join(f"{part.mean():.2f}" for part in parts)
        print(f"  {lo:>5.1f}..{hi:<5.1f} eV  {inside.mean():.2f}  (folds {per_fold})")
    return summary


if __name__ == "__main__":
    main()
