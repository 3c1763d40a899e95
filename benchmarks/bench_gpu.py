"""Benchmark training on a CUDA GPU against the CPU, side by side in one run.

Run from the repository root on a machine with a GPU (a script, not a test)::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_gpu.py [--epochs 500]

The same fit as part (a) of ``bench_ensemble.py`` (a ZLP-like curve of ~1000 points,
the default 10-15-5 network, no restarts, exactly ``--epochs`` epochs): the CPU
engine as installed (the compiled kernel where it was built) with ``n_jobs=2`` (the
2-core machine this project is tested on) and with every core, and ``device="cuda"``
with the whole ensemble in one chunk, for 100 and for ``--many`` replicas. It prints
replica-epochs per second, ratios to the 2-core CPU run, the GPU's share of its
FP32 arithmetic (``--peak-tflops``), and how far the GPU and CPU medians differ.
Without a GPU it says so and exits 1.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch
from _machine import cpu_model, load_average
from bench_ensemble import HIDDEN, flops_per_point, synthetic_points

from sklearn_zlp import ZLPEnsembleRegressor
from sklearn_zlp.nn import engine_info


def fit(X, y, n_replicas, epochs, *, device, n_jobs, per_chunk):
    reg = ZLPEnsembleRegressor(
        n_replicas=n_replicas,
        max_epochs=epochs,
        n_jobs=n_jobs,
        replicas_per_chunk=per_chunk,
        device=device,
        max_restarts=0,
        random_state=0,
    )
    if device != "cpu":
        torch.cuda.synchronize()
    t = time.perf_counter()
    reg.fit(X, y)
    return time.perf_counter() - t, reg


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--many", type=int, default=1000, help="GPU replicas, one chunk")
    parser.add_argument("--peak-tflops", type=float, default=67.0, help="FP32 peak")
    args = parser.parse_args()
    # Without restarts a few replicas end stuck or dead; throughput is what counts.
    warnings.simplefilter("ignore", UserWarning)
    if not torch.cuda.is_available():
        print("bench_gpu: torch finds no CUDA GPU here; run it on a GPU machine.")
        return 1
    cores = os.cpu_count() or 1
    print(f"# CPU {cpu_model()} ({cores} cores), load {load_average()[0]:.2f}")
    print(f"# GPU {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"# CPU engine: {engine_info()}")
    X, y = synthetic_points(args.points)
    work = flops_per_point(X.shape[1], HIDDEN) * len(y) * args.epochs
    # CUDA start-up and the CPU workers' start-up, outside the timings.
    fit(X, y, 4, 5, device="cuda", n_jobs=1, per_chunk=4)
    fit(X, y, cores, 5, device="cpu", n_jobs=cores, per_chunk=1)
    runs = [
        ("cpu, n_jobs=2", args.replicas, dict(device="cpu", n_jobs=2, per_chunk=50)),
        (
            f"cpu, n_jobs={cores}",
            args.replicas,
            dict(device="cpu", n_jobs=cores, per_chunk=max(1, args.replicas // cores)),
        ),
        (
            "cuda, one chunk",
            args.replicas,
            dict(device="cuda", n_jobs=1, per_chunk=args.replicas),
        ),
        ("cuda, one chunk", args.many, dict(device="cuda", n_jobs=1, per_chunk=args.many)),
    ]
    rows, medians = [], {}
    for name, n, kw in runs:
        seconds, reg = fit(X, y, n, args.epochs, **kw)
        rate = n * args.epochs / seconds
        rows.append((name, n, seconds, rate, work * n / seconds / 1e12))
        if n == args.replicas:
            medians[kw["device"]] = reg.predict(X)
        print(
            f"{name:>18} {n:5d} replicas: {seconds:8.2f} s, "
            f"{rate:10.0f} replica-epochs/s, {rows[-1][4]:.4f} TFLOP/s",
            flush=True,
        )
    base = rows[0][3]
    print("ratios (replica-epochs per second, against cpu n_jobs=2):")
    for name, n, _, rate, tflops in rows:
        print(
            f"  {name:>18} x{n:<5d}: {rate / base:7.2f}x"
            + (
                f"  ({100 * tflops / args.peak_tflops:.3f}% of FP32 peak)"
                if "cuda" in name
                else ""
            )
        )
    rel = np.abs(medians["cuda"] / medians["cpu"] - 1)
    print(
        f"median ZLP, cuda vs cpu ({args.replicas} replicas): "
        f"max |ratio - 1| {rel.max():.2e}, median {np.median(rel):.2e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
