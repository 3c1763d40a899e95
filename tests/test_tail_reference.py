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
    from sklearn_zlp.subtraction._point_table import (
        tail_extrapolation,
        tail_law,
        training_table,
    )

    d = make_synthetic_eels(
        4, fwhm=0.3, t_over_lambda=(0.5, 0.8), e_bg=None, n_vacuum=3, random_state=2
    )
    de1 = 1.5
    zlp_slope = tail_law(d.zlp[0], d.energy, de1)[2]
    own = tail_law(d.spectra[0], d.energy, de1)[2]
    with_vacuum = tail_law(d.spectra[0], d.energy, de1, d.vacuum.mean(axis=0))
    assert own > zlp_slope + 0.1  # flattened by the losses
    assert abs(with_vacuum[2] - zlp_slope) < 0.05
    # the law's pseudo-data over [dE_II, 1.5 dE_II] follow the true ZLP: 1.01-1.02
    # scaled to the vacuum on the gain side, 1.04-1.05 on the loss side, where
    # the metal's losses add counts
    e3 = np.linspace(4.0, 6.0, 32)
    level = tail_extrapolation(d.spectra[0], d.energy, de1, e3, d.vacuum.mean(axis=0))
    ratio = level / np.interp(e3, d.energy, d.zlp[0])
    assert np.all(np.abs(ratio - 1) < 0.03), ratio
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


def test_tail_law_of_a_broad_zlp_is_the_vacuum_tail_beyond_de1():
    # dE_I = 1.56 eV is 2.6 FWHM: over [dE_I / 2, dE_I) the tail still steepens
    # out of the core (slope -3.36, -2.6 beyond). With that slope the
    # region-III pseudo-data lay at 0.16-0.33 of the true ZLP (the code before
    # this test, vacuum given or not); the vacuum's law beyond dE_I, scaled by
    # the counts below it, puts them at 1.04-1.06.
    from sklearn_zlp.subtraction._point_table import tail_extrapolation

    d = make_synthetic_eels(
        6, fwhm=0.6, t_over_lambda=(0.6, 1.4), total_counts=1e8, n_vacuum=3, random_state=1
    )
    de1, e3 = 1.56, np.linspace(8.6, 12.9, 32)
    reference = d.vacuum.mean(axis=0)
    for spectrum, zlp in zip(d.spectra, d.zlp, strict=True):
        truth = np.interp(e3, d.energy, zlp)
        own = tail_extrapolation(spectrum, d.energy, de1, e3) / truth
        assert np.all(own < 0.4)
        ratio = tail_extrapolation(spectrum, d.energy, de1, e3, reference) / truth
        assert np.all(np.abs(ratio - 1) < 0.1), ratio


def test_tail_pseudo_data_run_through_region_ii_only_with_vacuum_spectra():
    # Vacuum spectra show the ZLP's tail beyond dE_I, so with them the tail
    # law's pseudo-data cover region II too; without them (or asked for region
    # III only) region II is left to the network.
    from sklearn_zlp.subtraction._inputs import validate_input
    from sklearn_zlp.subtraction._point_table import (
        tail_extrapolation,
        tail_reference,
        training_table,
    )

    d = make_synthetic_eels(3, fwhm=0.3, n_vacuum=2, random_state=0)
    data = validate_input(d.spectra, ("log_total",), d.energy)
    counts = {}
    for vacuum, pseudo_data in [
        (d.vacuum, "tail"),
        (d.vacuum, "tail_region_iii"),
        (None, "tail"),
    ]:
        sub = ZLPSubtractor(
            energy_axis=d.energy,
            regressor=ZLPEnsembleRegressor(n_replicas=2, max_epochs=5, random_state=0),
            regions=ZLPRegionMask(de1=1.5, de2=4.0, vacuum=vacuum),
            pseudo_data=pseudo_data,
            random_state=0,
        ).fit(d.spectra)
        table = training_table(sub, data)
        for i, spectrum in enumerate(d.spectra):
            pseudo = ~table.is_data & (table.spectrum == i)
            energy = table.points[pseudo, 0]
            region_ii = (energy > 1.5) & (energy < 4.0)
            counts[vacuum is None, pseudo_data, i] = int(region_ii.sum())
            reference = tail_reference(sub.regions_, sub.read_noise_)
            law = tail_extrapolation(spectrum, d.energy, 1.5, energy, reference)
            ratio = table.target[pseudo] / law  # 1 / the spectrum's normalisation
            np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)
    assert {counts[False, "tail", i] for i in range(3)} == {sub.n_pseudo - 1}
    assert {counts[False, "tail_region_iii", i] for i in range(3)} == {0}
    assert {counts[True, "tail", i] for i in range(3)} == {0}
