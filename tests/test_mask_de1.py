"""dE_I without vacuum references says when it is implausible; one spectrum's
failure does not abort a fit that uses the median of all (issue 11).

At 2fe5d0a: without vacuum spectra dE_I came out 0.75 eV (2.5 FWHM) below a
2.1 eV gap, silently; past the plasmon of a thick specimen (11-16 eV); and one
spectrum without a dE_I aborted ZLPRegionMask and ZLPSubtractor fits with
"found no dE_I", although they use the median dE_I of all spectra.
"""

import numpy as np
import pytest

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp._status import describe_status
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.preprocessing import estimate_de1


@pytest.fixture(scope="module")
def no_vacuum():
    # The case: band gap 2.1 eV, FWHM 0.3 eV, no vacuum reference.
    return make_synthetic_eels(6, fwhm=0.3, e_bg=2.1, n_vacuum=3, random_state=0)


def test_a_de1_near_the_peak_is_nan_with_its_status(no_vacuum):
    # Measured: the curvature knee at 0.75 eV (2.5 FWHM) in every spectrum, the
    # ZLP's own core-to-tail bend; the gap is at 7 FWHM.
    data = no_vacuum
    de1, status = estimate_de1(data.spectra, data.energy, return_status=True)
    assert list(status) == ["de1_near_peak"] * 6
    assert np.isnan(de1).all()
    assert np.isnan(estimate_de1(data.spectra, data.energy)).all()
    assert "FWHM" in describe_status("de1_near_peak")


def test_a_mask_without_any_plausible_de1_refuses(no_vacuum):
    data = no_vacuum
    with pytest.raises(
        ValueError, match=r"no plausible dE_I for every spectrum: 6 'de1_near_peak'.*vacuum"
    ):
        ZLPRegionMask(energy_axis=data.energy).fit(data.spectra)


def test_with_vacuum_spectra_de1_follows_the_gap(no_vacuum):
    # The "ratio" method: measured 1.9-2.0 eV, all ok.
    data = no_vacuum
    de1, status = estimate_de1(
        data.spectra, data.energy, vacuum=data.vacuum, return_status=True
    )
    assert list(status) == ["ok"] * 6
    assert np.all((de1 > data.e_bg - 0.6) & (de1 <= data.e_bg + 0.2)), de1
    mask = ZLPRegionMask(energy_axis=data.energy, vacuum=data.vacuum).fit(data.spectra)
    assert list(mask.de1_status_) == ["ok"] * 6


def test_a_de1_past_the_plasmon_is_flagged():
    # Thick specimen, broad ZLP: at 2fe5d0a the knee of the thickest spectrum lay
    # at 11.5 eV, past its 8 eV plasmon, where the spectrum has risen far above
    # its minimum.
    energy = np.linspace(-10.0, 90.0, 1001)
    data = make_synthetic_eels(
        4,
        energy=energy,
        fwhm=2.5,
        t_over_lambda=[0.3, 1.0, 1.5, 2.0],
        plasmon_energy=8.0,
        plasmon_width=2.0,
        e_bg=None,
        random_state=0,
    )
    de1, status = estimate_de1(data.spectra, energy, return_status=True)
    assert status[-1] == "de1_inelastic_dominates"
    assert set(status) <= {"de1_near_peak", "de1_inelastic_dominates"}
    assert np.isnan(de1).all()
    assert "inelastic" in describe_status("de1_inelastic_dominates")


# -- one spectrum without dE_I (a hole in the film: vacuum in the specimen set) -------
@pytest.fixture(scope="module")
def with_hole():
    energy = np.arange(-1.0, 4.0, 0.01)
    data = make_synthetic_eels(
        3,
        energy=energy,
        fwhm=0.3,
        e_bg=1.2,
        total_counts=1e8,
        n_vacuum=4,
        random_state=0,
    )
    # the last spectrum never deviates from the vacuum ZLP: no dE_I ("ratio")
    X = np.vstack([data.spectra, data.vacuum[:1]])
    return energy, X, data.vacuum[1:]


def test_one_spectrum_without_de1_does_not_abort_the_mask(with_hole):
    energy, X, vacuum = with_hole
    mask = ZLPRegionMask(energy_axis=energy, vacuum=vacuum).fit(X)
    assert list(mask.de1_status_) == ["ok", "ok", "ok", "de1_not_found"]
    assert np.isnan(mask.de1_[3]) and np.isnan(mask.de2_[3])
    assert mask.de1_all_ == np.median(mask.de1_[:3])
    assert mask.de2_all_ == np.median(mask.de2_[:3])
    de1, de2 = mask.edges(X)  # per="all": every spectrum gets the median edges
    np.testing.assert_array_equal(de1, mask.de1_all_)
    assert np.isfinite(mask.transform(X)[3, np.abs(energy) < 0.5 * de1[3]]).all()


def test_per_spectrum_edges_still_need_every_spectrum(with_hole):
    energy, X, vacuum = with_hole
    mask = ZLPRegionMask(energy_axis=energy, vacuum=vacuum, per="spectrum")
    with pytest.raises(
        ValueError, match=r"spectra \[3\] \(per=\"spectrum\".*de1_not_found"
    ):
        mask.fit(X)


def test_a_minority_with_de1_does_not_speak_for_the_rest(with_hole):
    # Zoo spectrum_image_1000 (no vacuum, no gap): 97% of 1000 pixels had no
    # plausible dE_I and the median of the other 3% was used for all of them
    # (t/lambda -0.01, 2% of 68% bands holding the truth, no status).
    energy, X, vacuum = with_hole
    holes = np.vstack([X[:1], X[3:], X[3:]])  # one specimen spectrum, two holes
    with pytest.raises(
        ValueError,
        match=r"no plausible dE_I for 2 of 3 spectra \(per=\"all\" takes the median "
        r"dE_I of the others only when they are at least half\).*de1_not_found",
    ):
        ZLPRegionMask(energy_axis=energy, vacuum=vacuum).fit(holes)
    # half is enough
    mask = ZLPRegionMask(energy_axis=energy, vacuum=vacuum).fit(holes[:2])
    assert list(mask.de1_status_) == ["ok", "de1_not_found"]


def test_one_spectrum_without_de1_does_not_abort_the_subtractor(with_hole):
    energy, X, vacuum = with_hole
    sub = ZLPSubtractor(
        energy_axis=energy,
        regressor=ZLPEnsembleRegressor(n_replicas=2, max_epochs=10, random_state=0),
        regions=ZLPRegionMask(vacuum=vacuum),
        random_state=0,
    ).fit(X)
    assert list(sub.regions_.de1_status_) == ["ok", "ok", "ok", "de1_not_found"]
    np.testing.assert_array_equal(sub.de1_, sub.regions_.de1_all_)
    assert np.isfinite(sub.transform(X)).all()


def test_tail_method_finds_de1_below_the_gap_without_vacuum():
    # Issue 11's no-vacuum case: the curvature knee is the ZLP's own core bend
    # (NaN, de1_near_peak); the tail's power law shows where the gap comes in.
    from sklearn_zlp.datasets import make_synthetic_eels
    from sklearn_zlp.preprocessing import estimate_de1

    data = make_synthetic_eels(4, fwhm=0.3, e_bg=2.1, random_state=3)
    knee, knee_status = estimate_de1(data.spectra, data.energy, return_status=True)
    assert list(knee_status) == ["de1_near_peak"] * 4
    de1, status = estimate_de1(data.spectra, data.energy, method="tail", return_status=True)
    assert list(status) == ["ok"] * 4
    assert np.all((de1 > 1.5) & (de1 < 2.2)), de1


def test_tail_method_is_nan_when_the_tail_is_never_a_power_law():
    # A gap inside the tail's fitting segment (2.5-3.5 FWHM): no clean tail, NaN.
    from sklearn_zlp.datasets import make_synthetic_eels
    from sklearn_zlp.preprocessing import estimate_de1

    data = make_synthetic_eels(3, fwhm=0.6, e_bg=1.5, random_state=4)
    de1, status = estimate_de1(data.spectra, data.energy, method="tail", return_status=True)
    assert np.all(np.isnan(de1)), de1
    assert list(status) == ["de1_not_found"] * 3
