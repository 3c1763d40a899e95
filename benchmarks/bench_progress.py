"""Cost of the progress display on a default-ish fit, display on and off side by side.

Run from the repository root (a script, not a test)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_progress.py [--repeats 5]

Fits ``ZLPEnsembleRegressor(n_replicas=100, max_epochs=2000, n_jobs=2)`` (the
default architecture, 2 chunks of 50 in 2 loky processes) on the WS2 region I
and III points of ``bench_ensemble.py``, alternately without a display and
inside a ``JobProgress(mode="lines")`` writing to a string (the workers post
their epochs, a thread reads them, results come back one by one). Prints each
pair's times and the median ratio on/off, and checks that both fits predict
bitwise the same. The loky workers are started once before timing.

On a shared machine wall times swing by tens of percent, so the cost is also
measured as CPU time, which other processes disturb far less: the same fit
with ``n_jobs=1`` (training, the posting callback and the reading thread all
in this process), display on and off alternately, ``time.process_time``.
"""

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _machine import cpu_model, load_average
from bench_ensemble import ws2_points

from sklearn_zlp import ZLPEnsembleRegressor
from sklearn_zlp._progress import JobProgress


def fit(X, y, w, display, max_epochs, n_jobs=2, clock=time.perf_counter):
    reg = ZLPEnsembleRegressor(
        n_replicas=100, max_epochs=max_epochs, n_jobs=n_jobs, random_state=0
    )
    out = io.StringIO()
    t = clock()
    if display:
        with JobProgress(mode="lines", stream=out) as job, job.stage("training"):
            reg.fit(X, y, sample_weight=w)
    else:
        reg.fit(X, y, sample_weight=w)
    return clock() - t, reg, out.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2000)
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}, load average {load_average()[0]:.2f}")
    X, y, w, _ = ws2_points()
    print(f"{X.shape[0]} points, 100 replicas x {args.epochs} epochs, n_jobs=2 (loky)")
    for label, n_jobs, clock in (
        ("wall time, n_jobs=2", 2, time.perf_counter),
        ("CPU time of this process, n_jobs=1", 1, time.process_time),
    ):
        print(f"-- {label}")
        pairs(X, y, w, args, n_jobs, clock)


def pairs(X, y, w, args, n_jobs, clock):
    fit(X, y, w, False, 10, n_jobs)  # start the workers
    ratios = []
    for r in range(args.repeats):
        order = (False, True) if r % 2 == 0 else (True, False)
        times = {}
        for display in order:
            times[display], reg, text = fit(X, y, w, display, args.epochs, n_jobs, clock)
            if display:
                n_lines = len(text.splitlines())
                prediction_on = reg.predict(X)
            else:
                prediction_off = reg.predict(X)
        assert np.array_equal(prediction_on, prediction_off), "display changed the fit"
        ratios.append(times[True] / times[False])
        print(
            f"pair {r}: off {times[False]:.3f} s, on {times[True]:.3f} s "
            f"({n_lines} lines), ratio {ratios[-1]:.4f}",
            flush=True,
        )
    print(
        f"median ratio on/off {statistics.median(ratios):.4f} "
        f"(min {min(ratios):.4f}, max {max(ratios):.4f}); predictions bitwise equal"
    )


if __name__ == "__main__":
    main()
