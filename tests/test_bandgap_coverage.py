"""The 68% band of E_bg holds the truth in about 68% of spectra it was not tuned on.

The automatic window's upper margin (``_bandgap_window.window_margins``) was
tuned on two cases (gap 2.1 eV under a 0.3 eV FWHM and gap 2.5 eV under 0.6 eV,
seeds 0-39). The cases here were not used for tuning, and their seeds (from
100) differ from those of every other test.
"""

import numpy as np
import pytest
from test_bandgap_failures import _stand_in

from sklearn_zlp.physics import fit_band_gap

# name: keyword arguments of the stand-in (make_synthetic_eels, minus the true
# ZLP, plus noise draws as replicas)
HELD_OUT = {
    "indirect 1.6 eV, FWHM 0.3 eV": dict(fwhm=0.3, e_bg=1.6, b=1.5),
    "direct 1.2 eV, FWHM 0.15 eV": dict(fwhm=0.15, e_bg=1.2, b=0.5),
    "indirect 3.5 eV, FWHM 1 eV": dict(fwhm=1.0, e_bg=3.5, b=1.5),
    "sharp 0.08 eV ZLP, flat floor": dict(
        fwhm=0.08, e_bg=1.6, b=1.5, t_over_lambda=0.2, pedestal=1.0
    ),
}
N_PER_CASE = 25
N_REPLICAS = 24
FIRST_SEED = 100


def _covered(case):
    """(covered, error) of every seed's 68% band of a case; NaN where not ok."""
    covered, errors = [], []
    for seed in range(FIRST_SEED, FIRST_SEED + N_PER_CASE):
        d, R, sig = _stand_in(seed, n_replicas=N_REPLICAS, **HELD_OUT[case])
        res = fit_band_gap(d.energy, R, sigma=sig, zlp=d.zlp, replica_axis=0)
        if res.status[0] != "ok":
            covered.append(np.nan)
            errors.append(np.nan)
            continue
        lo, hi = res.e_bg_band[:, 0]
        covered.append(float(lo <= d.e_bg <= hi))
        errors.append(res.e_bg_median[0] - d.e_bg)
    return np.array(covered), np.array(errors)


@pytest.mark.slow
def test_e_bg_band_coverage_on_held_out_cases():
    per_case = {case: _covered(case) for case in HELD_OUT}
    hits = np.concatenate([c for c, _ in per_case.values()])
    ok = np.isfinite(hits)
    # every case is fitted (a status is allowed on a few seeds, not on most)
    assert ok.mean() >= 0.9
    n = int(ok.sum())
    coverage = hits[ok].mean()
    # Binomial error of the coverage over n ~ 100 spectra: sqrt(0.68 * 0.32 / n)
    # ~ 0.047. Accept the target 63-73% widened by 1.5 of those (0.56-0.80).
    # Measured: 0.71 (70 of 99; one direct-gap seed is falling_below_gap).
    # Per case: 0.64, 0.75, 0.48 and 0.96 (16/25, 18/24, 12/25, 24/25). With
    # the former window (1.0 eV + 1 FWHM above the gap; seeds 0-39, 40
    # replicas) they were 0.43, 0.80, 0.00 (bias +0.27 eV) and 0.93: about
    # 0.54 pooled, which fails here.
    se = np.sqrt(0.68 * 0.32 / n)
    assert 0.63 - 1.5 * se <= coverage <= 0.73 + 1.5 * se, coverage
    for case, (hit, err) in per_case.items():
        fine = np.isfinite(hit)
        # each case on its own: 25 seeds, 3 binomial SDs (0.28) below 0.68 (the
        # broad-ZLP case, biased by about half its band's width, sits at 0.48;
        # the sharp-ZLP case's band is about twice as wide as its error, 0.96)
        assert hit[fine].mean() >= 0.40, (case, hit[fine].mean())
        # the zoo's tolerance of E_bg (measured: |median error| <= 0.056 eV)
        assert abs(np.median(err[fine])) < 0.1, (case, np.median(err[fine]))
