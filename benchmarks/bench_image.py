"""Benchmark a whole spectrum image: clustering, training, subtraction, maps.

Run from the repository root (a script, not a test)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_image.py [--quick]

A seeded synthetic image (``make_synthetic_eels``: three thickness regions,
t/lambda 0.3 / 0.7 / 1.2, band gap 1.6 eV, b 1.5, 1024 channels from -2 to
18 eV) goes through the pipeline a user runs on 2 cores:

1. clustering: ``ThicknessClusterer`` (K-means on ln N_tot, number chosen);
2. training: ``ZLPSubtractor(training="clusters")``, 100 replicas on one
   random spectrum per cluster per replica (the clustering again inside);
3. maps: ``spectral_maps`` (subtraction with every replica, t/lambda, E_bg and
   b with 68% bands and statuses), ``n_jobs`` workers.

It prints the time of each stage, pixels per second, the peak memory of the
process and its workers (sampled), and the maps' accuracy against the truth.
Side by side in the same run:

- the plain per-pixel loop a user would write (``subtract`` of one spectrum,
  then ``fit_band_gap`` on its result), timed on a sample of pixels, one core,
  against ``spectral_maps`` on the same pixels, one core;
- the arithmetic bound of the per-pixel forward pass: 2 x (sum of fan-in x
  fan-out of the network) FLOPs x replicas x channels per pixel, at this
  machine's measured float32 matmul speed on all cores;
- ``--grow``: the maps stage on larger images generated lazily (dask), peak
  memory at each size (flat: a batch, never the image);
- ``--dask N``: an N x N image through dask (``dask.distributed`` LocalCluster,
  one worker per core), throughput per worker.

``--quick`` runs a 32 x 32 version of the same pipeline (about a minute) and
prints its figures on the last line.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, load_average

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.maps import spectral_maps
from sklearn_zlp.physics import fit_band_gap
from sklearn_zlp.preprocessing import ThicknessClusterer

ENERGY = np.linspace(-2.0, 18.0, 1024)
THICKNESS = (1.2, 0.7, 0.3)
E_BG = 1.6
PHYSICS = {"e_bg": E_BG, "b": 1.5, "plasmon_energy": 15.0, "total_counts": 1e7}


def thickness_map(ny, nx, y0=0, x0=0, size=None):
    """Three regions: a thick disc, a medium ring around it, thin elsewhere."""
    size = size or max(ny, nx)
    y, x = np.mgrid[y0 : y0 + ny, x0 : x0 + nx]
    r = np.hypot(y - size / 2, x - size / 2) / size
    return np.where(r < 0.2, THICKNESS[0], np.where(r < 0.35, THICKNESS[1], THICKNESS[2]))


def synthetic_image(n, seed=0):
    return make_synthetic_eels(
        image_shape=(n, n),
        energy=ENERGY,
        t_over_lambda=thickness_map(n, n),
        random_state=seed,
        **PHYSICS,
    )


def lazy_image(n, chunk=32, seed=0):
    """An n x n image as a dask array, each chunk generated where it is computed."""
    import dask.array as da

    def block(block_info=None):
        (y0, y1), (x0, x1), _ = block_info[None]["array-location"]
        index = block_info[None]["chunk-location"]
        data = make_synthetic_eels(
            image_shape=(y1 - y0, x1 - x0),
            energy=ENERGY,
            t_over_lambda=thickness_map(y1 - y0, x1 - x0, y0, x0, n),
            random_state=seed * 100003 + index[0] * 1009 + index[1],
            **PHYSICS,
        )
        return data.spectra

    chunks = (chunk,) * (n // chunk) + ((n % chunk,) if n % chunk else ())
    return da.map_blocks(
        block,
        dtype=np.float64,
        chunks=(chunks, chunks, (ENERGY.size,)),
        meta=np.empty((0, 0, 0)),
    )


class PeakMemory:
    """Peak resident memory of this process plus its children, sampled every 50 ms."""

    def __init__(self):
        try:
            import psutil

            self._process = psutil.Process()
        except ImportError:
            self._process = None
        self.peak = 0
        self._stop = threading.Event()

    def _rss(self):
        if self._process is None:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        total = 0
        for p in [self._process, *self._process.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # a worker that just ended
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.05)

    def __enter__(self):
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def matmul_gflops(seconds=1.0):
    """Measured float32 matmul speed of this machine (all cores), GFLOP/s."""
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    a @ a
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ a
        n += 1
    return 2 * 1024**3 * n / (time.perf_counter() - start) / 1e9


def forward_flops_per_pixel(regressor, n_channels):
    sizes = [regressor.n_features_in_, *regressor.hidden_layer_sizes, 1]
    per_point = 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return per_point * regressor.n_replicas_ * n_channels


def fit_subtractor(pixels, args):
    regressor = ZLPEnsembleRegressor(
        n_replicas=args.replicas,
        max_epochs=args.epochs,
        lr=0.1,
        reject_outliers=3.0,
        n_jobs=args.jobs,
        random_state=0,
    )
    return ZLPSubtractor(
        ENERGY,
        regressor=regressor,
        regions=ZLPRegionMask(de1_method="derivative", per="cluster"),
        training="clusters",
        random_state=0,
    ).fit(pixels)


def accuracy(maps, data):
    truth_tl = np.log(data.noise_free.sum(-1) / data.zlp.sum(-1))  # over this axis
    ok_t = maps.t_over_lambda_status == "ok"
    low, high = maps.t_over_lambda_band
    ok_e = maps.e_bg_status == "ok"
    e_low, e_high = maps.e_bg_band
    return {
        "tl_ok": ok_t.mean(),
        "tl_err": np.nanmedian(np.abs(maps.t_over_lambda - truth_tl)[ok_t]),
        "tl_cov": np.mean(((low <= truth_tl) & (truth_tl <= high))[ok_t]),
        "ebg_ok": ok_e.mean(),
        "ebg_err": np.nanmedian((maps.e_bg - E_BG)[ok_e]),
        "ebg_cov": np.mean(((e_low <= E_BG) & (E_BG <= e_high))[ok_e]),
        "ebg_hw": np.nanmedian((e_high - e_low)[ok_e]) / 2,
    }


def per_pixel_loop(sub, pixels):
    """What a user writes without spectral_maps: one spectrum at a time."""
    for x in pixels:
        result = sub.subtract(x[None], keep_replicas=True)
        fit_band_gap(ENERGY, result, read_noise=sub.read_noise_)


def _grow_one(path, n, jobs):
    """One size of --grow, in a fresh process: prints its time and peak RSS."""
    import pickle
    import resource

    import dask

    with open(path, "rb") as fh:
        sub = pickle.load(fh)
    start = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=jobs):
        spectral_maps(sub, lazy_image(n), band_gap=False).compute()
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (KiB units)
    print(f"{elapsed} {peak}")


def grow(sub, sizes, jobs):
    """Peak memory of the maps stage on lazily generated images of growing size.

    Each size runs in a fresh process (the subtractor pickled), so its peak is
    its own, not that of stages or workers before it.
    """
    import pickle
    import subprocess
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "subtractor.pkl")
        with open(path, "wb") as fh:
            pickle.dump(sub, fh)
        for n in sizes:
            out = subprocess.run(
                [sys.executable, __file__, "--grow-one", path, str(n), str(jobs)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            elapsed, peak = float(out[-2]), float(out[-1])
            rows.append((n, elapsed, peak))
            print(
                f"  {n:>4} x {n:<4} t/lambda map (lazy input, {jobs} threads, own "
                f"process): {elapsed:7.1f} s, {n * n / elapsed:7.1f} pixels/s, "
                f"peak {peak:.2f} GiB (the image itself: {n * n * ENERGY.size * 8 / 2**30:.2f} GiB)",
                flush=True,
            )
    return rows


def through_dask(sub, n, jobs, band_gap):
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        image = lazy_image(n)
        start = time.perf_counter()
        maps = spectral_maps(sub, image, band_gap=band_gap).compute()
        elapsed = time.perf_counter() - start
        del client
    ok = (maps.t_over_lambda_status == "ok").mean()
    rate = n * n / elapsed
    print(
        f"  {n} x {n} through dask.distributed ({jobs} workers x 1 thread, band gap "
        f"{'on' if band_gap else 'off'}): {elapsed:.1f} s, {rate:.1f} pixels/s, "
        f"{rate / jobs:.1f} pixels/s per worker, t/lambda ok {ok:.1%}",
        flush=True,
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--grow-one"]:
        return _grow_one(argv[1], int(argv[2]), int(argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="32 x 32, about a minute")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--sample", type=int, default=64, help="pixels of the loop baseline"
    )
    parser.add_argument(
        "--grow", type=int, nargs="*", default=[], help="sizes, e.g. 128 256"
    )
    parser.add_argument("--dask", type=int, default=0, help="an N x N image through dask")
    parser.add_argument("--dask-band-gap", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.sample = 32, 16
    n = args.size
    print(
        f"# bench_image: {cpu_model()}, {os.cpu_count()} CPUs, load "
        f"{' '.join(f'{v:.2f}' for v in load_average())}; {n} x {n} x {ENERGY.size}, "
        f"{args.replicas} replicas x {args.epochs} epochs, n_jobs={args.jobs}",
        flush=True,
    )
    start = time.perf_counter()
    data = synthetic_image(n)
    pixels = data.spectra.reshape(-1, ENERGY.size)
    print(
        f"  image generated in {time.perf_counter() - start:.1f} s (not counted)",
        flush=True,
    )

    times = {}
    with PeakMemory() as memory:
        start = time.perf_counter()
        clusterer = ThicknessClusterer(random_state=0).fit(pixels)
        times["clustering"] = time.perf_counter() - start
        start = time.perf_counter()
        sub = fit_subtractor(pixels, args)
        times["training"] = time.perf_counter() - start
        start = time.perf_counter()
        maps = spectral_maps(sub, data.spectra, n_jobs=args.jobs)
        times["maps"] = time.perf_counter() - start
    total = sum(times.values())
    n_pix = n * n
    print(
        f"  clusters: {clusterer.n_clusters_} (sizes "
        f"{np.bincount(clusterer.labels_).tolist()}), dE_I per cluster "
        f"{np.round(sub.regions_.de1_cluster_, 3).tolist()} eV"
    )
    for stage, seconds in times.items():
        print(f"  {stage:>10}: {seconds:8.1f} s  ({n_pix / seconds:9.1f} pixels/s)")
    print(f"  {'total':>10}: {total:8.1f} s  ({n_pix / total:9.1f} pixels/s end to end)")
    print(f"  peak memory (process + workers): {memory.peak / 2**30:.2f} GiB")
    acc = accuracy(maps, data)
    print(
        f"  accuracy: t/lambda ok {acc['tl_ok']:.1%}, median |error| {acc['tl_err']:.4f}, "
        f"68% coverage {acc['tl_cov']:.2f}; E_bg ok {acc['ebg_ok']:.1%}, median error "
        f"{acc['ebg_err']:+.3f} eV, coverage {acc['ebg_cov']:.2f}, half-width "
        f"{acc['ebg_hw']:.3f} eV"
    )
    print(maps.summary())

    # side by side, one core: the per-pixel loop and spectral_maps on the same pixels
    sample = pixels[np.random.default_rng(1).choice(n_pix, args.sample, replace=False)]
    start = time.perf_counter()
    per_pixel_loop(sub, sample)
    loop = (time.perf_counter() - start) / args.sample
    start = time.perf_counter()
    spectral_maps(sub, sample, n_jobs=1, band_gap=False)
    subtraction = (time.perf_counter() - start) / args.sample
    start = time.perf_counter()
    spectral_maps(sub, sample, n_jobs=1)
    mapped = (time.perf_counter() - start) / args.sample
    gflops = matmul_gflops()
    bound = forward_flops_per_pixel(sub.regressor_, ENERGY.size) / (gflops * 1e9)
    print(
        f"  per pixel, one core, {args.sample} pixels: plain loop {loop * 1e3:.1f} ms, "
        f"spectral_maps {mapped * 1e3:.1f} ms (subtraction + t/lambda {subtraction * 1e3:.1f}, "
        f"band gap {(mapped - subtraction) * 1e3:.1f}): loop / maps = {loop / mapped:.2f}"
    )
    print(
        f"  forward-pass bound: {forward_flops_per_pixel(sub.regressor_, ENERGY.size) / 1e6:.1f} "
        f"MFLOP per pixel at {gflops:.0f} GFLOP/s (float32 matmul, all cores) = "
        f"{bound * 1e3:.2f} ms; maps per pixel on {args.jobs} jobs "
        f"{times['maps'] / n_pix * 1e3:.2f} ms = {times['maps'] / n_pix / bound:.0f} x the bound"
    )
    if args.grow:
        grow(sub, args.grow, args.jobs)
    if args.dask:
        through_dask(sub, args.dask, args.jobs, args.dask_band_gap)
    print(
        f"RESULT {n}x{n}x{ENERGY.size} R={args.replicas}: total {total:.1f} s "
        f"(clustering {times['clustering']:.1f}, training {times['training']:.1f}, maps "
        f"{times['maps']:.1f}), {n_pix / total:.1f} pixels/s, peak {memory.peak / 2**30:.2f} "
        f"GiB, loop/maps {loop / mapped:.2f}, E_bg ok {acc['ebg_ok']:.2f} cov "
        f"{acc['ebg_cov']:.2f}, t/lambda cov {acc['tl_cov']:.2f}"
    )


if __name__ == "__main__":
    main()
