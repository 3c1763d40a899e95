"""The band-gap fit on the true inelastic signal: what the instrument response does to E_bg.

Run from the repository root (a script, not a test)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_onset_response.py           # ~2.5 min
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_onset_response.py --quick   # ~1 min

No network and no ZLP subtraction: the replicas are the *true* inelastic signal
of ``make_synthetic_eels`` (six spectra per seed, indirect gap b = 1.5, t/lambda
0.3-0.7, 1e7 counts, read noise 5, 50 meV channels) plus one draw of the
recorded spectrum's noise (the "observed" spectrum) and 24 further draws around
it (the replicas). ``fit_band_gap`` then fits them with its automatic window and
constant pedestal, side by side with three responses: none (its default for
arrays and subtraction results alike), a Gaussian of the ZLP's FWHM
(``resolution``) and the true ZLP itself (``zlp``). Per row: the median E_bg
error over the ok spectra, its range, the share within 0.1 eV, the 68% coverage
of the replicas' band (noise only: no ZLP uncertainty is in these replicas, so
coverage below 68% is bias, not a narrow band) and the statuses.

What it isolates: any E_bg error here comes from the onset model and its window,
not from the ZLP subtraction; the zoo's E_bg errors are this plus the
subtraction's. benchmarks/README.md, "The onset fit and the instrument
response", holds a full run.
"""

import argparse
import collections
import time
import warnings

import numpy as np

from sklearn_zlp._noise import counting_variance
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.physics import fit_band_gap

AXIS = np.round(np.arange(-6.0, 40.0 + 1e-9, 0.05), 6)
RESPONSES = ("none", "gaussian", "true_zlp")


def replicas(gap, fwhm, seed, n_replicas=24, read_noise=5.0):
    """(replicas (n_replicas, 6, n_channels), their sigma, true ZLP (6, n_channels)) of one seed."""
    d = make_synthetic_eels(
        6,
        energy=AXIS,
        fwhm=fwhm,
        e_bg=gap,
        b=1.5,
        t_over_lambda=(0.3, 0.7),
        total_counts=1e7,
        read_noise=read_noise,
        random_state=seed,
    )
    inelastic = d.inelastic.reshape(6, -1)
    zlp = d.zlp.reshape(6, -1)
    # the recorded spectrum's noise, with the package's one noise model
    sigma = np.sqrt(counting_variance(inelastic + zlp, read_noise))
    rng = np.random.default_rng(seed)
    observed = inelastic + rng.normal(size=inelastic.shape) * sigma
    reps = observed[None] + rng.normal(size=(n_replicas,) + inelastic.shape) * sigma[None]
    return reps, np.broadcast_to(sigma, reps.shape), zlp


def fit(gap, fwhm, response, seeds):
    errors, covered, statuses = [], [], collections.Counter()
    for seed in seeds:
        reps, sigma, zlp = replicas(gap, fwhm, seed)
        kw = {}
        if response == "gaussian":
            kw["resolution"] = fwhm
        elif response == "true_zlp":
            kw["zlp"] = np.broadcast_to(zlp, reps.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = fit_band_gap(AXIS, reps, replica_axis=0, sigma=sigma, **kw)
        for j, status in enumerate(g.status):
            statuses[str(status)] += 1
            if status == "ok":
                errors.append(g.e_bg_median[j] - gap)
                low, high = g.e_bg_band[:, j]
                covered.append(low <= gap <= high)
    return np.array(errors), np.array(covered), statuses


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one seed, two widths")
    p.add_argument("--seeds", type=int, default=3, help="seeds per row (default 3)")
    args = p.parse_args(argv)
    widths = (0.3, 1.0) if args.quick else (0.3, 0.5, 0.7, 1.0, 1.5)
    seeds = range(1 if args.quick else args.seeds)
    print(
        f"true inelastic signal + noise draws, {len(seeds)} seed(s) x 6 spectra per row, "
        "24 replicas, b = 1.5, 1e7 counts, 50 meV channels"
    )
    print(
        f"\n{'gap':>4} {'FWHM':>5} {'response':<9} {'ok':>3} {'median err':>10} "
        f"{'range':>16} {'within 0.1':>10} {'coverage':>8}  statuses  (s)"
    )
    for gap in (2.0, 3.5):
        for fwhm in widths:
            for response in RESPONSES:
                t0 = time.perf_counter()
                err, cov, st = fit(gap, fwhm, response, seeds)
                n = err.size
                text = (
                    f"{np.median(err):+10.3f} {err.min():+7.3f}..{err.max():+7.3f} "
                    f"{np.mean(np.abs(err) <= 0.1):10.2f} {cov.mean():8.2f}"
                    if n
                    else f"{'-':>10} {'-':>16} {'-':>10} {'-':>8}"
                )
                print(
                    f"{gap:4.1f} {fwhm:5.1f} {response:<9} {n:3d} {text}  {dict(st)} "
                    f"({time.perf_counter() - t0:.0f})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
