"""Train EELSFitter's ZLP models on the aligned WS2 spectra and time them.

Run by the python of the separate virtualenv ``benchmarks/.venv-eelsfitter``
(``make bench-eelsfitter-venv``), never by the project's own: EELSFitter is GPL and
this package never imports it. ``benchmarks/bench_ensemble.py`` (part (c)) writes the
input .npz, runs this script as a subprocess and reads the JSON it writes.

Only EELSFitter's public API is used, the way its docs describe a spectral image:
``SpectralImage(data, deltaE)``, ``cluster`` (k-means on the log of the ZLP's three
highest bins), ``get_cluster_signals``, ``TrainZeroLossPeak(...)
.train_zlp_models_scaled(lr)``, then ``load_zlp_models`` and ``get_zlp_models(int_i)``
for the predictions of every replica.

Input .npz: ``energy`` (n_channels,), eV, ZLP maximum at 0; ``spectra``
(n_spectra, n_channels), counts, aligned on that axis and finite.
Output JSON: wall time of the training, seconds per replica-epoch (epoch loops
only, without the fixed costs around them), EELSFitter's own
hyperparameters (dE1, dE2, FWHM, points per replica), the replicas that
``load_zlp_models`` keeps, and the median over kept replicas of the raw ZLP
prediction (``get_zlp_models``, not the "matched" ZLP, which copies the data near the
peak) for every spectrum on the channels with 0 <= E <= 1 eV.
"""

import argparse
import contextlib
import json
import random
import shutil
import sys
import tempfile
import time

import numpy as np
import torch


def auto_de1(trainer_kwargs, signals):
    """dE1 that EELSFitter's own kneedle heuristics pick (shift_de1 = 1), per cluster.

    Runs the public preparation steps that ``train_zlp_models_scaled`` starts with,
    on a copy of the signals, without training.
    """
    from EELSFitter.core.training import TrainZeroLossPeak

    probe = TrainZeroLossPeak(spectra=[s.copy() for s in signals], **trainer_kwargs)
    probe.set_minimum_intensities()
    probe.set_y_data()
    probe.set_dydx_data()
    probe.set_sigma()
    probe.find_fwhm_idx()
    probe.find_difflog_local_minmax_idx()
    probe.find_local_min_idx()
    probe.find_kneedle_idx()
    de1, de2, _, _ = probe.calculate_hyperparameters()
    return np.asarray(de1), np.asarray(de2)


def run(args):
    from EELSFitter import SpectralImage
    from EELSFitter.core.training import TrainZeroLossPeak

    torch.set_num_threads(args.threads)
    random.seed(args.seed)  # EELSFitter draws the spectrum of each cluster with `random`
    np.random.seed(args.seed)  # noqa: NPY002 (EELSFitter splits with the global RNG)
    torch.manual_seed(args.seed)

    data = np.load(args.npz)
    energy, spectra = data["energy"], data["spectra"].astype(float)
    de = float(np.median(np.diff(energy)))
    # A "spectral image" of one row of pixels, one pixel per spectrum.
    image = SpectralImage(spectra[None, :, :].copy(), deltaE=de)
    offset = float(np.max(np.abs(image.eaxis - energy)))
    image.cluster(n_clusters=args.clusters, seed=args.seed)
    signals = image.get_cluster_signals()

    models = tempfile.mkdtemp(prefix="eelsfitter_models_")
    kwargs = dict(
        eaxis=image.eaxis,
        cluster_centroids=image.cluster_centroids,
        n_replica=args.replicas,
        n_epochs=args.epochs,
        display_step=None,  # no progress prints
        training_report_step=0,  # no per-replica loss plots
        path_to_models=models,
    )
    de1_auto, de2_auto = auto_de1(kwargs, signals)
    shift_de1 = 1.0 if args.de1 is None else args.de1 / de1_auto
    shift_de2 = 1.0 if args.de2 is None else args.de2 / de2_auto
    trainer = TrainZeroLossPeak(
        spectra=signals, shift_de1=shift_de1, shift_de2=shift_de2, **kwargs
    )
    # Time the epoch loop of every replica apart from the fixed costs (hyperparameter
    # heuristics, saving models) by wrapping the public method it calls per replica.
    loop_seconds = []
    train_replica = trainer.train_and_evaluate_model

    def timed_train_replica(*a, **kw):
        t0 = time.perf_counter()
        train_replica(*a, **kw)
        loop_seconds.append(time.perf_counter() - t0)

    trainer.train_and_evaluate_model = timed_train_replica
    t = time.perf_counter()
    trainer.train_zlp_models_scaled(lr=args.lr)
    wall = time.perf_counter() - t

    image.load_zlp_models(path_to_models=models)
    n_kept = len(image.zlp_models)
    window = np.flatnonzero((energy >= 0) & (energy <= 1))
    medians, per_replica = [], []
    for s in spectra:
        peak = int(np.argmax(s))
        int_i = float(np.sum(np.maximum(s, 1)[peak - 1 : peak + 2]))
        predictions = image.get_zlp_models(int_i=int_i)[:, window]  # (n_kept, n_window)
        medians.append(np.median(predictions, axis=0).tolist())
        per_replica.append(predictions.tolist())
    shutil.rmtree(models, ignore_errors=True)

    return {
        "eelsfitter_version": _version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "replicas": args.replicas,
        "epochs": args.epochs,
        "lr": args.lr,
        "clusters": args.clusters,
        "spectra_per_cluster": [len(s) for s in signals],
        "wall_s": wall,
        "loop_s": sum(loop_seconds),
        "s_per_replica_epoch": sum(loop_seconds) / (args.replicas * args.epochs),
        "de1_auto": de1_auto.tolist(),
        "de2_auto": de2_auto.tolist(),
        "de1": np.asarray(trainer.de1).tolist(),
        "de2": np.asarray(trainer.de2).tolist(),
        "fwhm": np.asarray(trainer.fwhm).tolist(),
        "eaxis_max_offset_ev": offset,
        # Points of the last replica (all replicas draw one spectrum per cluster,
        # so every replica has the same counts).
        "n_train_points": int(trainer.train_x.shape[0]),
        "n_test_points": int(trainer.test_x.shape[0]),
        "n_derivative_points": int(sum(x.shape[0] for x in trainer.data_x_for_derivative)),
        "final_train_cost": trainer.loss_train_reps.tolist(),
        "final_test_cost": trainer.loss_test_reps.tolist(),
        "replicas_kept": n_kept,
        "window_channels": window.tolist(),
        "median_zlp_0_1ev": medians,  # [spectrum][channel]
        "kept_zlp_0_1ev": per_replica,  # [spectrum][kept replica][channel]
    }


def _version():
    from importlib.metadata import version

    return version("EELSFitter")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("npz", help="energy and aligned spectra")
    parser.add_argument("out", help="JSON file to write")
    parser.add_argument("--replicas", type=int, default=2, help=">= 2 (see below)")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-3, help="EELSFitter's default")
    parser.add_argument("--clusters", type=int, default=1)
    parser.add_argument(
        "--de1", type=float, default=1.8, help="dE1 in eV (<= 0: EELSFitter's own)"
    )
    parser.add_argument(
        "--de2", type=float, default=0.0, help="dE2 in eV (<= 0: EELSFitter's own)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.replicas < 2:
        # load_zlp_models reads one cost as a 0-d array and then keeps no model.
        parser.error("EELSFitter 3.1.0 loads no model back from a single replica")
    args.de1 = args.de1 if args.de1 > 0 else None
    args.de2 = args.de2 if args.de2 > 0 else None
    # EELSFitter prints its progress: keep stdout for nothing else, send it to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        result = run(args)
    with open(args.out, "w") as f:
        json.dump(result, f)
    print(json.dumps({k: v for k, v in result.items() if "zlp" not in k}))


if __name__ == "__main__":
    main()
