"""Benchmark the replica ensemble: throughput and time to a good ZLP fit.

Run from the repository root (a script, not a test)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_ensemble.py [--quick]

(a) Throughput: wall time of 100 replicas x 2000 epochs on ~1000 points per
    replica with the vectorised engine (``ZLPEnsembleRegressor``, ``n_jobs=2``)
    as installed (the default engine), against one ordinary skorch
    ``NeuralNetRegressor`` per replica (timed on a few replicas and epochs and
    extrapolated linearly), and against the arithmetic lower bound (FLOPs of the
    architecture at this machine's measured single-core matmul speed).
(e) Engines, side by side in one run (``--skip e`` to leave out): every variant of
    the compiled kernel this CPU runs (forced with ``SKLEARN_ZLP_ISA``) against the
    torch path (``SKLEARN_ZLP_KERNEL=torch``) restricted to the same instruction
    set (``ATEN_CPU_CAPABILITY``, ``MKL_ENABLE_INSTRUCTIONS``,
    ``DNNL_MAX_CPU_ISA``: the stand-in for a CPU that has no more than that), and
    the unrestricted torch path; each in a fresh subprocess (the variables must be
    set before the workers start), interleaved, ``--repeats`` times, medians. It
    prints which engine the default picks here and on a CPU of each instruction set
    (``sklearn_zlp.nn.engine_info``).
(b) Time to quality on the real WS2 spectra: wall time and epochs until the
    ensemble's median ZLP is within 10% of every specimen spectrum over 0-1 eV,
    every replica's chi^2 is within a few times the median and no replica is
    flat over 0-1 eV, with no replica dropped (``--reject`` drops outliers).
(c) EELSFitter 3.1.0 side by side, if its separate virtualenv exists at
    ``benchmarks/.venv-eelsfitter`` (``make bench-eelsfitter-venv``; GPL: never
    imported by this package or this script). ``benchmarks/eelsfitter_driver.py``
    runs in that venv as a subprocess on the same aligned WS2 spectra (one core):
    its ms per replica-epoch, its time extrapolated to 100 replicas, and its
    0-1 eV quality (same metric as (b)), with ratios to (a) and (b) of this run.
(d) Inference: ``ZLPSubtractor.transform`` of ~1000 spectra with 100 replicas, with
    the compiled forward pass (each variant this CPU runs) and with the torch path.

Everything is measured in one run, side by side: the machine may be shared. The
header prints the CPU, its instruction sets, the load average, and the engine the
default picked.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from joblib import parallel_config
from torch import nn

from sklearn_zlp import ZeroLossAligner, ZLPEnsembleRegressor, ZLPSubtractor
from sklearn_zlp.datasets import load_ws2
from sklearn_zlp.nn import engine_info
from sklearn_zlp.nn._library import _MEASURED_FASTER, ISAS
from sklearn_zlp.subtraction import default_regressor

HIDDEN = (10, 15, 5)
EF_VENV = Path(__file__).parent / ".venv-eelsfitter"
EF_DRIVER = Path(__file__).parent / "eelsfitter_driver.py"
# n_epochs of the training example in the docstring of EELSFitter 3.1.0's SpectralImage.
EF_DOCS_EPOCHS = 150_000


def flops_per_point(n_inputs, hidden=HIDDEN):
    """FLOPs of one training epoch per replica and point (matmuls only).

    Forward 2*sum(in*out); backward: weight gradients 2*sum(in*out) and input
    gradients 2*sum(in*out) for every layer but the first.
    """
    sizes = [n_inputs, *hidden, 1]
    macs = [i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    return 2 * sum(macs) * 3 - 2 * macs[0]


def single_core_gflops(n=1024, repeats=20):
    """Best single-thread float32 matmul speed of this machine, GFLOP/s."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        best = np.inf
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
        return 2 * n**3 / best / 1e9
    finally:
        torch.set_num_threads(previous)


def synthetic_points(n_points=1000, seed=0):
    """One spectrum-like curve: counts of a ZLP with tails on -0.5..3 eV."""
    rng = np.random.default_rng(seed)
    energy = np.linspace(-0.5, 3.0, n_points)
    truth = 1e6 * (np.exp(-0.5 * (energy / 0.1) ** 2) + 1e-3 / (1 + (energy / 0.3) ** 2))
    return energy[:, None], rng.poisson(truth).astype(float) + 1.0


def time_vectorised(X, y, n_replicas, epochs, n_jobs, per_chunk, threads):
    reg = ZLPEnsembleRegressor(
        n_replicas=n_replicas,
        max_epochs=epochs,
        n_jobs=n_jobs,
        replicas_per_chunk=per_chunk,
        torch_threads=threads,
        # Throughput of exactly n_replicas x epochs: no retraining of dead or
        # stuck replicas (that is quality work, measured in part (b)).
        max_restarts=0,
        random_state=0,
    )
    t = time.perf_counter()
    reg.fit(X, y)
    return time.perf_counter() - t


# The torch path restricted to each variant's instruction set: ATen's own kernels
# (ATEN_CPU_CAPABILITY), MKL's GEMMs and oneDNN. "baseline" is SSE4.2 for torch
# (its lowest setting) but SSE2 for the kernel, a slight advantage to torch.
TORCH_ISA_ENV = {
    "avx512": {},
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "DNNL_MAX_CPU_ISA": "AVX2",
    },
    "baseline": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "DNNL_MAX_CPU_ISA": "SSE41",
    },
}


def cpu_flags():
    """(model name, the instruction-set flags that matter here) from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), []
    model, flags = platform.machine(), set()
    for line in text.splitlines():
        if line.startswith("model name") and model == platform.machine():
            model = line.split(":", 1)[1].strip()
        if line.startswith(("flags", "Features")):
            flags = set(line.split(":", 1)[1].split())
    wanted = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "asimd"]
    return model, [f for f in wanted if f in flags]


def time_in_subprocess(args, per_chunk, env_updates):
    """Part (a)'s fit in a fresh process with ``env_updates``; (wall, what ran).

    A subprocess, because the variables must be set before the joblib workers
    start; it warms its own workers up, as this process does.
    """
    command = [sys.executable, __file__, "--time-vectorised-only"]
    command += [f"--replicas={args.replicas}", f"--epochs={args.epochs}"]
    command += [f"--points={args.points}", f"--n-jobs={args.n_jobs}"]
    command += ["--per-chunk", str(per_chunk)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKLEARN_ZLP_")}
    env.update(env_updates)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"run with {env_updates} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["wall"], result


def engines_part(args, per_chunk):
    """Part (e): every kernel variant vs the torch path at the same instruction set."""
    info = engine_info()
    runnable = [
        isa
        for isa in ISAS[::-1]
        if info["cpu_isa"] and ISAS.index(isa) <= ISAS.index(info["cpu_isa"])
    ]
    configs = {}
    for isa in runnable:
        configs[f"compiled {isa}"] = {
            "SKLEARN_ZLP_KERNEL": "compiled",
            "SKLEARN_ZLP_ISA": isa,
        }
        configs[f"torch {isa}"] = {"SKLEARN_ZLP_KERNEL": "torch", **TORCH_ISA_ENV[isa]}
    configs["default"] = {}
    print(
        f"\n(e) engines: {args.replicas} replicas x {args.epochs} epochs x {args.points} "
        f"points, n_jobs={args.n_jobs}, replicas_per_chunk={per_chunk}; each run a fresh "
        f"process, {args.repeats} interleaved repeat(s), medians"
    )
    if not runnable:
        print("  compiled kernel not available here: only the torch path runs")
    walls = {name: [] for name in configs}
    cpus = {name: [] for name in configs}
    ran = {}
    for _ in range(args.repeats):
        for name, env in configs.items():
            wall, result = time_in_subprocess(args, per_chunk, env)
            walls[name].append(wall)
            cpus[name].append(result["cpu"])
            ran[name] = result
    median = {name: float(np.median(w)) for name, w in walls.items()}
    cpu = {name: float(np.median(c)) for name, c in cpus.items()}
    machine = info["machine"]
    # With n_jobs=1 all the work runs in the timed process, whose CPU time does not
    # grow when other processes share the cores (wall time does).
    show_cpu = args.n_jobs == 1
    print(
        "  variant   compiled   torch, same ISA   torch/compiled"
        + ("   (CPU time: compiled, torch, ratio)" if show_cpu else "")
        + "   default on a CPU whose best is this"
    )
    for isa in runnable:
        c, t = median[f"compiled {isa}"], median[f"torch {isa}"]
        rule = "compiled" if (machine, isa) in _MEASURED_FASTER else "torch"
        torch_isa = ran[f"torch {isa}"]["torch_isa"]
        cc, ct = cpu[f"compiled {isa}"], cpu[f"torch {isa}"]
        print(
            f"  {isa:9s} {c:7.2f} s   {t:7.2f} s ({torch_isa:7s})   {t / c:6.2f}x"
            + (f"   ({cc:6.2f} s, {ct:6.2f} s, {ct / cc:4.2f}x)" if show_cpu else "")
            + f"   {rule}"
        )
    d = ran["default"]
    print(
        f"  default here: {median['default']:.2f} s, {d['engine']['path']}"
        + (f" {d['engine']['isa']}" if d["engine"]["path"] == "compiled" else "")
        + f" ({d['engine']['reason']})"
    )
    if runnable:
        best = runnable[0]
        verdict = (
            "at least as fast as"
            if median["default"] <= 1.02 * median[f"torch {best}"]
            else "SLOWER than"
        )
        print(
            f"  -> the default is {verdict} the torch path on this CPU "
            f"({median['default']:.2f} s vs {median[f'torch {best}']:.2f} s)"
        )
    for name, w in walls.items():
        if len(w) > 1:
            print(
                f"    {name}: wall "
                + ", ".join(f"{v:.2f}" for v in w)
                + (" cpu " + ", ".join(f"{v:.2f}" for v in cpus[name]) if show_cpu else "")
            )


def warm_up(n_jobs):
    """Start the worker processes (and import torch there) before timing."""
    X0, y0 = synthetic_points(50)
    # One chunk per worker, so that every worker has imported torch.
    ZLPEnsembleRegressor(
        n_replicas=2 * n_jobs, max_epochs=2, n_jobs=n_jobs, replicas_per_chunk=2
    ).fit(X0, y0)


class _MLP(nn.Module):
    def __init__(self, n_inputs=1):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_inputs, HIDDEN[0]),
            nn.Sigmoid(),
            nn.Linear(HIDDEN[0], HIDDEN[1]),
            nn.Sigmoid(),
            nn.Linear(HIDDEN[1], HIDDEN[2]),
            nn.ReLU(),
            nn.Linear(HIDDEN[2], 1),
        )

    def forward(self, x):
        return self.layers(x)


def time_plain_skorch(X, y, n_replicas, epochs):
    """One ordinary skorch NeuralNetRegressor per replica: full batch, Adam, 80/20."""
    from skorch import NeuralNetRegressor

    Xt = ((X - X.min(0)) / np.ptp(X, axis=0) * 0.8 + 0.1).astype(np.float32)
    yt = np.log(y)[:, None].astype(np.float32)
    yt = (yt - yt.mean()) / yt.std()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t = time.perf_counter()
        for r in range(n_replicas):
            torch.manual_seed(r)
            NeuralNetRegressor(
                _MLP,
                module__n_inputs=X.shape[1],
                optimizer=torch.optim.Adam,
                lr=0.01,
                max_epochs=epochs,
                batch_size=-1,
                verbose=0,
            ).fit(Xt, yt)
        return time.perf_counter() - t
    finally:
        torch.set_num_threads(previous)


def ws2_points(gain_from=-0.5, de_i=1.8, de_ii=(8.0, 12.0), stride_iii=4, sigma_iii=0.5):
    """Region I (with the gain side) and region III pseudo-data of the WS2 specimens.

    Inputs (E, ln N_tot), targets counts, sample_weight 1/sigma^2 with
    sigma^2 = max(counts, 1); region III points ask for 1 count with sigma
    ``sigma_iii``, pushing the ZLP to ~zero there (the "Lagrange multiplier").
    """
    ws2 = load_ws2()
    aligner = ZeroLossAligner(energy_axis=ws2.energy).fit(ws2.sample)
    spectra, energy = aligner.transform(ws2.sample), aligner.energy_axis_
    X, y, w, spectrum = [], [], [], []
    for i, s in enumerate(spectra):
        region_i = (energy >= gain_from) & (energy < de_i) & np.isfinite(s)
        region_iii = np.flatnonzero((energy > de_ii[0]) & (energy < de_ii[1]))[::stride_iii]
        e = np.concatenate([energy[region_i], energy[region_iii]])
        X.append(np.column_stack([e, np.full(e.size, np.log(np.nansum(s)))]))
        y.append(np.concatenate([s[region_i], np.ones(region_iii.size)]))
        w.append(
            np.concatenate(
                [1 / np.maximum(s[region_i], 1), np.full(region_iii.size, sigma_iii**-2)]
            )
        )
        spectrum.append(np.full(e.size, i))
    return np.vstack(X), np.concatenate(y), np.concatenate(w), np.concatenate(spectrum)


def quality(reg, X, y, spectrum, chi2_factor):
    """Worst relative error of the median ZLP over 0-1 eV, and max/median chi^2.

    Both over the replicas the ensemble keeps (``reject_outliers`` drops replicas
    whose final chi^2 is an outlier, as Roest et al. 2021 do). Also each kept
    replica's own worst error over 0-1 eV (largest over replicas) and the number of
    replicas flat over 0-1 eV of some spectrum (less than a factor 2 from 0 to
    1 eV: on the plateau; the same test as for EELSFitter in part (c)).
    """
    worst = 0.0
    replica_worst = 0.0
    flat = np.zeros(reg.n_replicas_, dtype=bool)
    for i in np.unique(spectrum):
        m = (spectrum == i) & (X[:, 0] >= 0) & (X[:, 0] <= 1)
        worst = max(worst, float(np.max(np.abs(reg.predict(X[m]) / y[m] - 1))))
        replicas = reg.transform(X[m])  # (points, kept replicas)
        replica_worst = max(replica_worst, float(np.max(np.abs(replicas / y[m, None] - 1))))
        flat |= np.ptp(np.log(np.maximum(replicas, 1e-30)), axis=0) < np.log(2)
    chi2 = reg.replica_chi2_[reg.kept_]
    ratio = float(chi2.max() / np.median(chi2))
    ok = worst <= 0.1 and ratio <= chi2_factor and not flat.any()
    return worst, ratio, ok, replica_worst, int(flat.sum())


def run_eelsfitter(spectra, energy, replicas, epochs, clusters):
    """Train EELSFitter's ZLP models in its own venv; the driver's JSON as a dict."""
    with tempfile.TemporaryDirectory(prefix="bench_eelsfitter_") as tmp:
        npz, out = Path(tmp, "ws2.npz"), Path(tmp, "result.json")
        np.savez(npz, energy=energy, spectra=spectra)
        command = [str(EF_VENV / "bin" / "python"), str(EF_DRIVER), str(npz), str(out)]
        command += [f"--replicas={replicas}", f"--epochs={epochs}"]
        command += [f"--clusters={clusters}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"EELSFitter driver failed:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())


def eelsfitter_part(args, ours):
    """Part (c): EELSFitter on the WS2 spectra, against (a) and (b) of this run."""
    if not (EF_VENV / "bin" / "python").exists():
        print(
            f"\n(c) EELSFitter: skipped ({EF_VENV} not found). Create it with "
            "`make bench-eelsfitter-venv` (EELSFitter==3.1.0 and torch==2.13.0 in a "
            "venv of their own; GPL, never imported by sklearn_zlp)."
        )
        return
    ws2 = load_ws2()
    aligner = ZeroLossAligner(energy_axis=ws2.energy).fit(ws2.sample)
    spectra, energy = aligner.transform(ws2.sample), aligner.energy_axis_
    runs = [(args.ef_replicas, args.ef_epochs)]
    if args.ef_long:
        runs.append((4, 20000))
    print(
        f"\n(c) EELSFitter (its venv, subprocess, 1 torch thread): TrainZeroLossPeak"
        f".train_zlp_models_scaled on the {len(spectra)} aligned WS2 spectra in "
        f"{args.ef_clusters} cluster(s), lr=1e-3 (its default), dE1=1.8 eV, its own dE2"
    )
    needed = None
    for replicas, epochs in runs:
        r = run_eelsfitter(spectra, energy, replicas, epochs, args.ef_clusters)
        window = np.asarray(r["window_channels"])
        data = spectra[:, window]
        worst = float(np.max(np.abs(np.asarray(r["median_zlp_0_1ev"]) / data - 1)))
        flat = sum(
            float(np.ptp(np.log(np.asarray(p)[0]))) < np.log(2)
            for p in zip(*r["kept_zlp_0_1ev"], strict=True)
        )
        ms = r["s_per_replica_epoch"] * 1e3
        ok = worst <= 0.1
        print(
            f"  {replicas} replicas x {epochs} epochs: {r['wall_s']:.1f} s wall "
            f"({r['loop_s']:.1f} s in the epoch loops) = {ms:.2f} ms/replica-epoch; "
            f"{r['n_train_points']} train + {r['n_test_points']} test + "
            f"{r['n_derivative_points']} derivative points per replica; "
            f"dE2 = {', '.join(f'{v:.2f}' for v in r['de2'])} eV"
        )
        print(
            f"    worst median error 0-1 eV {worst:.3f} {'PASS' if ok else 'fail'}; "
            f"kept {r['replicas_kept']}/{replicas} (its chi^2 cut), {flat} kept "
            f"replica(s) flat over 0-1 eV; final train costs "
            f"{', '.join(f'{c:.3g}' for c in r['final_train_cost'])}"
        )
        if ok and needed is None:
            needed = epochs
    epochs_100 = needed or EF_DOCS_EPOCHS
    extrapolated = r["s_per_replica_epoch"] * 100 * epochs_100
    print(
        f"  EXTRAPOLATED to 100 replicas x {epochs_100} epochs "
        + (
            "(the fewest epochs that passed here)"
            if needed
            else f"(no run here reached 10%; {EF_DOCS_EPOCHS} is the n_epochs of "
            "EELSFitter's own SpectralImage example, an assumption)"
        )
        + f": {extrapolated:.0f} s = {extrapolated / 3600:.1f} h on one core"
    )
    if "a" in ours:
        a = ours["a"]
        ours_ms = a["wall"] / (a["replicas"] * a["epochs"]) * 1e3
        print(
            f"  vs (a): our engine {ours_ms:.3f} ms/replica-epoch wall on "
            f"{args.n_jobs} cores ({ours_ms * args.n_jobs:.3f} core-ms) on "
            f"{a['points']} points -> EELSFitter {ms / ours_ms:.0f}x per wall second, "
            f"{ms / (ours_ms * args.n_jobs):.0f}x per core-second; plain skorch "
            f"{a['skorch_ms']:.1f} ms/replica-epoch on 1 core (EELSFitter / plain "
            f"skorch {ms / a['skorch_ms']:.2f})"
        )
    else:
        print("  vs (a): skipped in this run (--skip a), no ratio")
    if "b" in ours:
        b = ours["b"]
        print(
            f"  vs (b): our {b['replicas']} replicas x {b['epochs']} epochs "
            f"{'PASSED' if b['ok'] else 'did not pass'} in {b['wall']:.1f} s "
            f"(worst {b['worst']:.3f}) -> EELSFitter's extrapolated time is "
            f"{extrapolated / b['wall']:.0f}x that; at our {b['epochs']} epochs it "
            f"would take {r['s_per_replica_epoch'] * 100 * b['epochs']:.0f} s for "
            f"100 replicas"
        )
    else:
        print("  vs (b): skipped in this run (--skip b), no ratio")


def inference_part(args):
    """Part (d): ZLPSubtractor.transform on many spectra, compiled vs torch path.

    The ensemble is trained for a few epochs only: the fit's quality does not
    change the cost of evaluating it. Both runs in this process (prediction does
    not use the joblib workers), the torch one with ``SKLEARN_ZLP_KERNEL=torch``.
    """
    ws2 = load_ws2()
    aligner = ZeroLossAligner(energy_axis=ws2.energy).fit(ws2.sample)
    spectra = aligner.transform(ws2.sample)
    reg = ZLPEnsembleRegressor(
        n_replicas=args.replicas, max_epochs=20, n_jobs=args.n_jobs, random_state=0
    )
    sub = ZLPSubtractor(
        energy_axis=aligner.energy_axis_, regressor=reg, random_state=0
    ).fit(spectra)
    many = np.tile(spectra, (-(-args.spectra // len(spectra)), 1))[: args.spectra]
    print(
        f"\n(d) inference: ZLPSubtractor.transform of {many.shape[0]} spectra x "
        f"{many.shape[1]} channels (the 6 WS2 spectra repeated), {sub.regressor_.n_replicas_}"
        f" replicas, batch_size={sub.batch_size}, one process"
    )
    info = engine_info()
    runnable = [
        isa
        for isa in ISAS[::-1]
        if info["cpu_isa"] and ISAS.index(isa) <= ISAS.index(info["cpu_isa"])
    ]
    engines = {
        f"compiled {isa}": dict(SKLEARN_ZLP_KERNEL="compiled", SKLEARN_ZLP_ISA=isa)
        for isa in runnable
    }
    engines["torch"] = dict(SKLEARN_ZLP_KERNEL="torch")
    # warm up before timing: the first batch-sized call pays for its allocations
    sub.transform(many[: sub.batch_size])
    walls = {}
    for engine, env in engines.items():
        # read at every call: set here, in this process, for predictions only
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            t = time.perf_counter()
            sub.transform(many)
            walls[engine] = time.perf_counter() - t
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        print(
            f"  {engine:16s} forward: {walls[engine]:6.2f} s "
            f"({walls[engine] / many.shape[0] * 1e3:.1f} ms per spectrum)"
        )
    for engine in walls:
        if engine != "torch":
            print(
                f"  -> {engine} {walls['torch'] / walls[engine]:.2f}x the torch path's speed"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer replicas/epochs")
    parser.add_argument(
        "--time-vectorised-only", action="store_true", help=argparse.SUPPRESS
    )
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--per-chunk", type=int, nargs="+", default=[50, 25])
    parser.add_argument("--skorch-replicas", type=int, default=2)
    parser.add_argument("--skorch-epochs", type=int, default=50)
    parser.add_argument(
        "--lr", type=float, default=None, help="lr for part (b) (ZLPSubtractor's)"
    )
    parser.add_argument(
        "--lr-schedule", choices=["cosine"], default=None, help="lr_schedule for (b)"
    )
    parser.add_argument(
        "--budgets", type=int, nargs="+", default=[1000, 2000, 3000, 5000, 8000]
    )
    parser.add_argument("--chi2-factor", type=float, default=5.0)
    parser.add_argument(
        "--reject", type=float, default=0.0, help="reject_outliers for (b); 0 keeps all"
    )
    parser.add_argument("--skip", choices=["a", "b", "c", "d", "e"], nargs="*", default=[])
    parser.add_argument("--repeats", type=int, default=1, help="(e): runs per engine")
    parser.add_argument("--spectra", type=int, default=1020, help="(d) spectra")
    parser.add_argument("--ef-replicas", type=int, default=2, help="(c), >= 2")
    parser.add_argument("--ef-epochs", type=int, default=1000, help="(c)")
    parser.add_argument("--ef-clusters", type=int, default=1, help="(c)")
    parser.add_argument(
        "--ef-long", action="store_true", help="(c): also 4 replicas x 20000 epochs"
    )
    args = parser.parse_args()
    if args.quick:
        args.replicas, args.epochs = 20, 500
        args.skorch_replicas, args.skorch_epochs = 1, 20
        args.budgets = [500, 1000, 2000]
        args.spectra = 102

    if args.time_vectorised_only:  # one run of part (e), as a subprocess
        with parallel_config(backend="loky"):
            warm_up(args.n_jobs)
            X, y = synthetic_points(args.points)
            cpu = time.process_time()  # this process's threads (all work if n_jobs=1)
            wall = time_vectorised(
                X, y, args.replicas, args.epochs, args.n_jobs, args.per_chunk[0], 1
            )
            cpu = time.process_time() - cpu
        capability = torch.backends.cpu.get_cpu_capability().lower()
        result = {
            "wall": wall,
            "cpu": cpu,
            "engine": engine_info(),
            "torch_isa": capability,
        }
        print(json.dumps(result))
        return
    model, flags = cpu_flags()
    info = engine_info()
    print(f"machine: {model}, {platform.machine()}, {os.cpu_count()} cores")
    print(f"instruction sets: {' '.join(flags) or 'unknown'}")
    print(f"load average now: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"torch {torch.__version__}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print(
        f"default engine: {info['path']}"
        + (f" ({info['isa']} variant)" if info["path"] == "compiled" else "")
        + f": {info['reason']}; kernel variants built: "
        + (", ".join(info["variants"]) or "none")
        + f"; best for this CPU: {info['cpu_isa']}"
    )
    with parallel_config(backend="loky"):
        warm_up(args.n_jobs)

        if "a" not in args.skip:
            X, y = synthetic_points(args.points)
            n_rep, n_ep = args.replicas, args.epochs
            print(f"\n(a) throughput: {n_rep} replicas x {n_ep} epochs x {len(y)} points")
            gflops = single_core_gflops()
            flop = flops_per_point(X.shape[1]) * n_rep * n_ep * len(y)
            bound1 = flop / (gflops * 1e9)
            print(
                f"  arithmetic: {flops_per_point(X.shape[1])} FLOP/point/replica/epoch "
                f"-> {flop / 1e9:.0f} GFLOP; this machine's 1-thread sgemm: "
                f"{gflops:.0f} GFLOP/s (measured now)"
            )
            print(
                f"  lower bound: {bound1:.2f} s on one core, "
                f"{bound1 / args.n_jobs:.2f} s on {args.n_jobs} cores"
            )
            results = {}
            for per_chunk in args.per_chunk:
                wall = time_vectorised(X, y, n_rep, n_ep, args.n_jobs, per_chunk, 1)
                results[per_chunk] = wall
                print(
                    f"  vectorised skorch engine (default engine), n_jobs={args.n_jobs}, "
                    f"replicas_per_chunk={per_chunk}, 1 thread/worker: {wall:.2f} s "
                    f"({wall / n_ep * 1e3:.2f} ms/epoch for all replicas; "
                    f"{wall / bound1:.1f}x the 1-core bound, "
                    f"{wall / (bound1 / args.n_jobs):.1f}x the {args.n_jobs}-core bound)"
                )
            best_chunk = min(results, key=results.get)
            wall = time_vectorised(X, y, n_rep, n_ep, 1, n_rep, args.n_jobs)
            print(
                f"  vectorised, one process, {args.n_jobs} torch threads, one chunk: "
                f"{wall:.2f} s (the compiled step splits the replicas over the threads)"
            )
            best = min(results.values())
            sk_r, sk_e = args.skorch_replicas, args.skorch_epochs
            sk = time_plain_skorch(X, y, sk_r, sk_e)
            per = sk / (sk_r * sk_e)
            extrapolated = per * n_rep * n_ep
            print(
                f"  plain skorch NeuralNetRegressor per replica (DataLoader, "
                f"batch_size=-1, 80/20 ValidSplit, Adam, 1 thread): {sk:.2f} s for "
                f"{sk_r} replica(s) x {sk_e} epochs = {per * 1e3:.1f} ms/replica-epoch"
            )
            print(
                f"    EXTRAPOLATED linearly to {n_rep} x {n_ep}: {extrapolated:.0f} s on "
                f"one core ({extrapolated / args.n_jobs:.0f} s if spread over "
                f"{args.n_jobs} cores)"
            )
            print(
                f"  speed-up of the best vectorised run: {extrapolated / best:.0f}x vs "
                f"plain skorch on one core, {extrapolated / args.n_jobs / best:.0f}x vs "
                f"plain skorch on {args.n_jobs} cores"
            )

        if "e" not in args.skip:
            engines_part(args, best_chunk if "a" not in args.skip else args.per_chunk[0])

        if "b" not in args.skip:
            X, y, w, spectrum = ws2_points()
            # by default the learning rate ZLPSubtractor's ensemble uses on spectra
            lr = args.lr or default_regressor().lr
            print(
                f"\n(b) time to quality on WS2 ({len(y)} points: region I from -0.5 to "
                f"1.8 eV and region III pseudo-data 8-12 eV of 6 specimen spectra), "
                f"{args.replicas} replicas, lr={lr}, lr_schedule={args.lr_schedule}, "
                f"n_jobs={args.n_jobs}"
            )
            print(
                "  criterion: median ZLP within 10% of every spectrum over 0-1 eV, "
                f"max kept replica chi^2 <= {args.chi2_factor:g} x median and no kept "
                "replica flat over 0-1 eV; "
                + (
                    f"replicas with chi^2 > median + {args.reject:g} x 1.4826 MAD are "
                    "dropped"
                    if args.reject
                    else "no replica is dropped (reject_outliers=None)"
                )
            )
            for budget in args.budgets:
                reg = ZLPEnsembleRegressor(
                    n_replicas=args.replicas,
                    max_epochs=budget,
                    lr=lr,
                    lr_schedule=args.lr_schedule,
                    n_jobs=args.n_jobs,
                    replicas_per_chunk=-(-args.replicas // args.n_jobs),
                    reject_outliers=args.reject or None,
                    random_state=0,
                )
                t = time.perf_counter()
                reg.fit(X, y, sample_weight=w)
                wall = time.perf_counter() - t
                worst, ratio, ok, replica_worst, flat = quality(
                    reg, X, y, spectrum, args.chi2_factor
                )
                print(
                    f"  {budget:5d} epochs: {wall:6.1f} s  worst median error 0-1 eV "
                    f"{worst:6.3f}  chi2 max/median {ratio:8.2f}  "
                    f"kept {reg.n_replicas_}/{args.replicas}  flat {flat}  "
                    f"worst single replica {replica_worst:.2f}  "
                    f"{'PASS' if ok else 'fail'}"
                )
                if ok:
                    print(f"  -> good after {budget} epochs, {wall:.1f} s wall")
                    break
            else:
                print("  -> criterion not met within the budgets tried")

    if "d" not in args.skip:
        inference_part(args)

    if "c" not in args.skip:
        # Numbers of (a) and (b) above, left in this scope by their blocks.
        ours = {}
        if "a" not in args.skip:
            ours["a"] = dict(
                wall=best,
                replicas=n_rep,
                epochs=n_ep,
                points=args.points,
                skorch_ms=per * 1e3,
            )
        if "b" not in args.skip:
            ours["b"] = dict(
                wall=wall, epochs=budget, worst=worst, ok=ok, replicas=args.replicas
            )
        eelsfitter_part(args, ours)


if __name__ == "__main__":
    main()
