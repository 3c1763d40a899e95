"""The model ZLP through region II, where the band-gap onset lies under its tail.

A field-emission ZLP's tail falls as a power law; ln I is then convex in E, and a
network that sees E itself (the specimen-mode default, as in the paper) bridges
region II (between dE_I and the region-III pseudo-data) along a chord above the
tail: at 1e6 counts the median model ZLP lay 8-13% above the truth over 1.6-2.5 eV
and E_bg +0.15 eV high. With ``energy_scale="asinh"`` a power law is a straight
line and the excess fell to 2-6%; it is not the default because at FWHM 0.6 eV and
1e8 counts it lies 20-60% below the tail (benchmarks/README.md, "Region II").
With vacuum spectra the default now trains on their tail law through region II
(``pseudo_data="tail"``), and E follows the tail as well.
"""

import numpy as np
import pytest

from sklearn_zlp import ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.datasets import validation_zoo


def _region_ii_excess(energy_scale, pseudo_data="tail"):
    # the zoo's read_noise_0 case (1e6 counts, no read noise), its first seed
    d = validation_zoo(["read_noise_0"])["read_noise_0"].generate(0)
    sub = ZLPSubtractor(
        energy_axis=d.energy,
        regions=ZLPRegionMask(vacuum=d.vacuum),
        energy_scale=energy_scale,
        pseudo_data=pseudo_data,
        n_jobs=2,
        random_state=0,
    ).fit(d.spectra)
    zlp = sub.subtract(d.spectra).zlp_median
    excess = []
    for j, de1 in enumerate(sub.de1_):
        region = (d.energy >= de1) & (d.energy < de1 + 0.8)
        excess.append(zlp[j, region].sum() / d.zlp[j, region].sum() - 1)
    return np.array(excess)


@pytest.mark.slow
def test_vacuum_tail_through_region_ii_keeps_the_model_on_the_tail():
    # measured: 0.001-0.019 (median 0.009); region III only, the default before
    # (two seeds, 12 spectra): 0.079-0.134 (median 0.114), E_bg +0.175 eV
    excess = _region_ii_excess("linear")
    assert np.median(excess) < 0.06, np.round(excess, 3)
    assert np.min(excess) > -0.06, np.round(excess, 3)


@pytest.mark.slow
def test_asinh_energy_follows_the_tail_through_region_ii_at_low_counts():
    # region-III pseudo-data only, as without vacuum spectra; measured: asinh
    # 0.011-0.054 (median 0.043); linear, the spectrum's own tail law in region
    # III (before 0480a26), 0.088-0.134 (median 0.115)
    excess = _region_ii_excess("asinh", pseudo_data="tail_region_iii")
    assert np.median(excess) < 0.06, np.round(excess, 3)
    assert np.min(excess) > -0.06, np.round(excess, 3)
