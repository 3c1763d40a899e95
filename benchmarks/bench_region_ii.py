"""The model ZLP through region II and what it does to E_bg, side by side.

Run from the repository root (a script, not a test)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_region_ii.py            # ~9 min
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_region_ii.py --quick    # ~2 min

WS2-like synthetic spectra (six per seed, FWHM 0.3 eV, indirect gap at 1.6 eV, which
is where the vacuum spectra put dE_I, three vacuum references), at 1e6 counts
without read noise and at 1e7 counts with read noise 5, through ``ZLPSubtractor``
at its defaults but for ``energy_scale`` (E, the specimen default, or asinh) and
``pseudo_data`` (``--pseudo-data``), then
``fit_band_gap`` of the result, unconvolved (its default) and convolved with the
matched ZLP replicas (``zlp=result.zlp``). Per row: the median model ZLP over the
true ZLP beyond dE_I (the region-II excess), the median E_bg error, the share
within 0.1 eV and the 68% coverage of E_bg, and the coverage of the true inelastic
signal over 1.3-4 eV by the subtracted band. benchmarks/README.md, "Region II",
holds a full run.
"""

import argparse
import time
import warnings

import numpy as np

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.physics import fit_band_gap

E_BG = 1.6
AXIS = np.round(np.arange(-4.0, 46.0 + 1e-9, 0.025), 6)
SETS = {"1e6": (1e6, 0.0, 2000), "1e7": (1e7, 5.0, 2100)}  # counts, read noise, seed


def run(scale, counts, read_noise, seed, regressor, pseudo_data="tail"):
    d = make_synthetic_eels(
        6,
        energy=AXIS,
        fwhm=0.3,
        t_over_lambda=(0.3, 0.7),
        e_bg=E_BG,
        b=1.5,
        total_counts=counts,
        read_noise=read_noise,
        n_vacuum=3,
        random_state=seed,
    )
    sub = ZLPSubtractor(
        energy_axis=AXIS,
        regressor=regressor,
        regions=ZLPRegionMask(vacuum=d.vacuum),
        energy_scale=scale,
        pseudo_data=pseudo_data,
        n_jobs=2,
        random_state=seed,
    ).fit(d.spectra)
    res = sub.subtract(d.spectra, keep_replicas=True)
    excess = [
        res.zlp_median[j, band].sum() / d.zlp[j, band].sum() - 1
        for j, de1 in enumerate(sub.de1_)
        for band in [(AXIS >= de1) & (AXIS < de1 + 0.8)]
    ]
    window = (AXIS >= 1.3) & (AXIS <= 4.0)
    low, high = res.subtracted_band[:, :, window]
    truth = d.inelastic[:, window]
    out = {
        "excess": excess,
        "inelastic": [float(np.mean((low <= truth) & (truth <= high)))],
    }
    for conv in (False, True):
        gap = fit_band_gap(
            AXIS, res, read_noise=sub.read_noise_, zlp=res.zlp if conv else None
        )
        ok = gap.status == "ok"
        covered = (gap.e_bg_band[0] <= E_BG) & (gap.e_bg_band[1] >= E_BG)
        out[conv] = (list(gap.e_bg_median[ok] - E_BG), list(covered[ok]), int((~ok).sum()))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 16 x 1000 replicas")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--scales", nargs="+", default=["linear", "asinh"])
    parser.add_argument(
        "--pseudo-data",
        default="tail",
        choices=["tail", "tail_region_iii"],
        help="tail: through region II with the vacuum spectra (the default); "
        "tail_region_iii: region III only (the default before 0480a26)",
    )
    args = parser.parse_args()
    seeds = 1 if args.quick else args.seeds
    warnings.simplefilter("ignore", UserWarning)
    print(
        "counts  input   region-II excess  conv  flagged  median error  within 0.1  "
        "E_bg coverage  inelastic coverage"
    )
    start = time.perf_counter()
    for name, (counts, read_noise, seed0) in SETS.items():
        for scale in args.scales:
            rows = {"excess": [], "inelastic": [], False: ([], [], 0), True: ([], [], 0)}
            for k in range(seeds):
                regressor = (
                    ZLPEnsembleRegressor(
                        n_replicas=16, max_epochs=1000, lr=0.1, random_state=seed0 + k
                    )
                    if args.quick
                    else None
                )
                got = run(scale, counts, read_noise, seed0 + k, regressor, args.pseudo_data)
                rows["excess"] += got["excess"]
                rows["inelastic"] += got["inelastic"]
                for conv in (False, True):
                    err, cov, flagged = rows[conv]
                    rows[conv] = (
                        err + got[conv][0],
                        cov + got[conv][1],
                        flagged + got[conv][2],
                    )
            for conv in (False, True):
                err, cov, flagged = (np.asarray(v) for v in rows[conv])
                print(
                    f"{name:>6}  {scale:<6}  {np.median(rows['excess']):+16.3f}  "
                    f"{'yes' if conv else 'no':>4}  {int(flagged):>7}  "
                    f"{np.median(err):+12.3f}  {np.mean(np.abs(err) < 0.1):10.2f}  "
                    f"{np.mean(cov):13.2f}  {np.mean(rows['inelastic']):18.2f}",
                    flush=True,
                )
    print(f"{seeds} seed(s) x 6 spectra per row; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
