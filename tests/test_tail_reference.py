"""The ZLP tail's power law, behind the region-III pseudo-data: from the vacuum when given."""

import numpy as np

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.datasets import make_synthetic_eels


def test_tail_power_comes_from_the_vacuum_when_given():
    # A metal's losses start at 0 eV and flatten its own tail over
    # [dE_I / 2, dE_I): the region-III pseudo-data then stay too high, its ZLP's
    # total too large and t/lambda too small, beyond its band (zoo metal_no_gap:
    # -0.0006..-0.0023 against half-widths of 0.0006, 3 of 30 covered).
    from sklearn_zlp.subtraction._inputs import validate_input
    from sklearn_zlp.subtraction._point_table import tail_law, training_table

    d = make_synthetic_eels(
        4, fwhm=0.3, t_over_lambda=(0.5, 0.8), e_bg=None, n_vacuum=3, random_state=2
    )
    de1 = 1.5
    zlp_slope = tail_law(d.zlp[0], d.energy, de1)[2]
    own = tail_law(d.spectra[0], d.energy, de1)[2]
    with_vacuum = tail_law(d.spectra[0], d.energy, de1, d.vacuum.mean(axis=0))
    assert own > zlp_slope + 0.1  # flattened by the losses
    assert abs(with_vacuum[2] - zlp_slope) < 0.05
    assert with_vacuum[:2] == tail_law(d.spectra[0], d.energy, de1)[:2]  # level kept
    # the subtractor's pseudo-data follow the vacuum's power
    sub = ZLPSubtractor(
        energy_axis=d.energy,
        regressor=ZLPEnsembleRegressor(n_replicas=2, max_epochs=5, random_state=0),
        regions=ZLPRegionMask(de1=de1, de2=4.0, vacuum=d.vacuum),
        random_state=0,
    ).fit(d.spectra)
    table = training_table(sub, validate_input(d.spectra, ("log_total",), d.energy))
    pseudo = ~table.is_data & (table.spectrum == 0)
    energy = (
        np.sinh(table.points[pseudo, 0]) if sub.energy_width_ else table.points[pseudo, 0]
    )
    slope = np.polyfit(np.log(energy), np.log(table.target[pseudo]), 1)[0]
    assert abs(slope - with_vacuum[2]) < 0.02
