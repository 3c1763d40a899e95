"""Band-gap fits that cannot be trusted say so: NaN with a status, never a bound.

Synthetic stand-ins for the failure modes of issue 11: a sharp monochromated ZLP
with a flat floor of counts from ~1 eV, windows without an onset, pedestals,
image-shaped input, and the calibration of the direct/indirect probability.
"""

import numpy as np
import pytest

from sklearn_zlp._status import describe_status
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.physics import BandGapFitter, fit_band_gap


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _stand_in(
    seed,
    *,
    fwhm=0.3,
    e_bg=1.6,
    b=1.5,
    t_over_lambda=0.5,
    pedestal=0.0,
    floor=(0.6, 0.86),
    slope=0.0,
    n_replicas=16,
    total_counts=1e7,
):
    """Subtracted replicas (n_replicas, 1, n_channels), noise sigma and the truth.

    The data minus the true ZLP, plus a floor of ``pedestal`` times the onset
    amplitude that ramps up over ``floor`` eV (as matching hands over from data
    to model between dE_0 and dE_I) and may slope by ``slope`` per eV; replicas
    add Gaussian draws of the counting and read noise, as ZLPSubtractor does.
    """
    de = min(0.025, fwhm / 5.0)
    energy = np.arange(-max(2.0, 4.0 * fwhm), max(8.0, e_bg + 3.0 + 3.0 * fwhm), de)
    d = make_synthetic_eels(
        1,
        energy=energy,
        fwhm=fwhm,
        e_bg=e_bg,
        b=b,
        t_over_lambda=t_over_lambda,
        total_counts=total_counts,
        random_state=seed,
    )
    ramp = _smoothstep((energy - floor[0]) / (floor[1] - floor[0]))
    floor_counts = pedestal * d.onset_amplitude * ramp * (1.0 + slope * (energy - floor[1]))
    spectra = d.spectra + floor_counts
    sigma = np.sqrt(np.maximum(spectra, 1.0) + 25.0)
    rng = np.random.default_rng(seed + 1000)
    x = spectra - d.zlp
    replicas = x[None] + rng.normal(size=(n_replicas,) + x.shape) * sigma
    return d, replicas, sigma


def _assert_nan_with_status(res, j=0):
    assert res.status[j] != "ok"
    describe_status(res.status[j])  # registered, with a meaning
    assert np.isnan(res.e_bg_median[j]) and np.all(np.isnan(res.e_bg_band[:, j]))
    failed = res.replica_status[:, j] != "ok"
    assert np.all(np.isnan(res.e_bg[failed, j]))


# ------------------------------------------------- sharp ZLP with a flat floor
@pytest.fixture(scope="module")
def sharp_with_floor():
    """FWHM 80 meV, a floor of counts from 0.86 eV, gap 1.6 eV (issue 11's case)."""
    return [
        _stand_in(seed, fwhm=0.08, t_over_lambda=0.2, pedestal=1.0) for seed in range(4)
    ]


def test_sharp_zlp_flat_floor_gap_recovered_not_the_bound(sharp_with_floor):
    # At 2fe5d0a fit_band_gap(window=(1, 3)) returned E_bg = 0.016 eV on every
    # seed here: the lower end of its E_bg range, window start minus half its width.
    for d, R, sig in sharp_with_floor:
        res = fit_band_gap(d.energy, R, sigma=sig, window=(1.0, 3.0), replica_axis=0)
        assert res.status.tolist() == ["ok"]
        # measured: 1.58-1.67 eV over seeds 0-4
        assert abs(res.e_bg_median[0] - d.e_bg) < 0.1
        assert np.all(res.e_bg[:, 0][np.isfinite(res.e_bg[:, 0])] > 1.0 + 0.02)


def test_sharp_zlp_flat_floor_without_background_is_nan_with_a_status(sharp_with_floor):
    for d, R, sig in sharp_with_floor:
        res = fit_band_gap(
            d.energy, R, sigma=sig, window=(1.0, 3.0), background=None, replica_axis=0
        )
        _assert_nan_with_status(res)
        assert res.status[0] in ("pedestal_dominates", "at_bound")


def test_sharp_zlp_flat_floor_automatic_window(sharp_with_floor):
    for d, R, sig in sharp_with_floor:
        res = fit_band_gap(d.energy, R, sigma=sig, zlp=d.zlp, replica_axis=0)
        assert res.status.tolist() == ["ok"]
        # the floor's step at 0.6-0.86 eV is not taken for the onset
        assert res.window[0, 0] > 0.86
        assert abs(res.e_bg_median[0] - d.e_bg) < 0.1


# ------------------------------------------------------------ no onset, bounds
def test_window_without_onset_is_nan_with_status():
    # At 2fe5d0a: a number (the fit of noise), no word.
    e = np.linspace(0.0, 4.0, 161)
    noise = np.random.default_rng(0).normal(0.0, 5.0, size=(8, 2, e.size))
    res = fit_band_gap(e, noise, window=(1.0, 3.0), sigma=5.0, replica_axis=0)
    for j in range(2):
        _assert_nan_with_status(res, j)
        assert res.status[j] == "no_onset_in_window"
    auto = fit_band_gap(e, noise, sigma=5.0, replica_axis=0)
    assert auto.status.tolist() == ["no_onset_in_window"] * 2
    assert np.all(np.isnan(auto.window))


def test_weak_direct_onset_found_by_a_wider_running_mean_when_asked():
    # A direct onset (b = 0.5) at 1e6 counts rises over a few tenths of an eV
    # and then flattens: the default 0.2 eV running mean found it in 3 of 30 zoo
    # spectra (direct_gap_sharp_zlp) and says "no_onset_in_window" on the rest;
    # smooth=(0.2, 0.4) tries 0.4 eV next and finds it. Not the default: on a
    # very thin specimen the wider width finds the rise far above the gap
    # (fit_band_gap's smooth documents both measurements).
    found, default_ok, errors = 0, 0, []
    for seed in range(8):
        d, R, sig = _stand_in(
            seed, fwhm=0.15, e_bg=1.2, b=0.5, t_over_lambda=0.2, total_counts=1e6
        )
        default = fit_band_gap(d.energy, R, sigma=sig, replica_axis=0)
        default_ok += default.status[0] == "ok"
        if default.status[0] != "ok":
            _assert_nan_with_status(default)
        res = fit_band_gap(d.energy, R, sigma=sig, replica_axis=0, smooth=(0.2, 0.4))
        if res.status[0] == "ok":
            found += 1
            errors.append(res.e_bg_median[0] - d.e_bg)
        else:
            _assert_nan_with_status(res)
    assert default_ok <= 3
    assert found >= 7
    assert np.median(np.abs(errors)) < 0.1
    # a strong onset is placed by the first width: the wider one changes nothing
    d, R, sig = _stand_in(0)
    default = fit_band_gap(d.energy, R, sigma=sig, replica_axis=0)
    both = fit_band_gap(d.energy, R, sigma=sig, replica_axis=0, smooth=(0.2, 0.4))
    assert default.status[0] == "ok"
    np.testing.assert_array_equal(default.window, both.window)
    np.testing.assert_array_equal(default.e_bg_median, both.e_bg_median)


@pytest.mark.parametrize("smooth", [0.0, -0.2, (), (0.2, np.nan), [[0.2]], "wide"])
def test_smooth_is_checked(smooth):
    e = np.linspace(0.0, 4.0, 161)
    with pytest.raises(ValueError, match="smooth must be a positive width in eV"):
        fit_band_gap(e, np.ones(e.size), smooth=smooth)


def test_first_rise_above_search_end_is_no_onset_not_a_gap():
    # A very thin specimen hides its gap in the noise; the first sustained rise
    # is then a plasmon's flank (issue 11 zoo, thin_0p02: E_bg 17.9 +- 0.03 eV
    # for a 1.6 eV gap, status "ok").
    e = np.linspace(0.0, 30.0, 1201)
    flank = 400.0 * np.clip(e - 14.0, 0, None) ** 1.5
    R = flank + np.random.default_rng(3).normal(0.0, 5.0, size=(8, e.size))
    res = fit_band_gap(e, R, sigma=5.0, replica_axis=0)
    _assert_nan_with_status(res)
    assert res.status[0] == "no_onset_in_window"
    wide = fit_band_gap(e, R, sigma=5.0, replica_axis=0, search_end=20.0)
    assert wide.status[0] == "ok"
    assert abs(wide.e_bg_median[0] - 14.0) < 0.05
    with pytest.raises(ValueError, match="search_end=0.5 eV must lie above search_start"):
        fit_band_gap(e, R, sigma=5.0, replica_axis=0, search_end=0.5)


def test_noise_free_onset_is_not_falling_below_gap():
    # With no noise the residual below the gap is rounding error; the F test
    # scaled by it alone called a fall of 1e-12 counts significant.
    d = make_synthetic_eels(1, e_bg=1.2, b=0.5, fwhm=0.15, random_state=0)
    for background in ("constant", "linear"):
        res = fit_band_gap(d.energy, d.inelastic, zlp=d.zlp, background=background)
        assert res.status.tolist() == ["ok"]
        assert abs(res.e_bg_median[0] - 1.2) < 0.01
    res = fit_band_gap(d.energy, d.ssd, background="linear")
    assert res.status.tolist() == ["ok"]


def test_flat_floor_alone_is_pedestal_dominates():
    e = np.linspace(0.0, 4.0, 161)
    rng = np.random.default_rng(1)
    floor = np.where(e > 0.9, 200.0, 0.0) + rng.normal(0.0, 5.0, size=(8, e.size))
    res = fit_band_gap(e, floor, window=(1.0, 3.0), sigma=5.0, replica_axis=0)
    _assert_nan_with_status(res)
    assert res.status[0] == "pedestal_dominates"


def test_window_starting_above_the_gap_is_at_bound_not_a_value():
    # The onset below the window cannot be pinned (least of all with a
    # pedestal); at 2fe5d0a E_bg could leave the window by half its width.
    e = np.linspace(0.0, 4.0, 161)
    y = 500.0 * np.clip(e - 1.6, 0, None) ** 1.5
    R = y + np.random.default_rng(2).normal(0.0, 5.0, size=(8, e.size))
    res = fit_band_gap(e, R, window=(2.0, 3.5), sigma=5.0, replica_axis=0)
    _assert_nan_with_status(res)
    assert res.status[0] == "at_bound"


def test_too_few_points_in_an_automatic_window():
    # 0.3 eV channels: the automatic window (about 1.6 eV wide) holds 5 channels,
    # too few for E_bg, b, A and a pedestal (6 needed); a given window says so
    # by an error instead, before anything is fitted.
    e = np.arange(0.0, 4.01, 0.3)
    y = 500.0 * np.clip(e - 1.6, 0, None) ** 1.5 + 50.0
    res = fit_band_gap(e, y, sigma=5.0)
    assert res.status.tolist() == ["too_few_points"]
    _assert_nan_with_status(res)
    assert np.all(np.isfinite(res.window))  # the window that was too short
    fine = np.arange(0.0, 4.01, 0.1)
    ok = fit_band_gap(fine, 500.0 * np.clip(fine - 1.6, 0, None) ** 1.5 + 50.0, sigma=5.0)
    assert ok.status.tolist() == ["ok"]
    with pytest.raises(ValueError, match="channels"):
        fit_band_gap(e, y, window=(1.0, 1.5), background="linear")


# ------------------------------------------------------- no vacuum: ZLP residue
def _zlp_tail_left(seed, *, n_replicas=16):
    """Issue 11's no-vacuum case: gap 2.1 eV, FWHM 0.3 eV, dE_I 0.75 eV (not 1.95).

    The model ZLP follows the data up to ~0.5 eV and falls to zero by dE_I, so
    the subtracted replicas keep the ZLP's tail under the onset (about 6x the
    onset at 2 eV). Also returns the replicas with the whole ZLP subtracted.
    """
    d = make_synthetic_eels(1, fwhm=0.3, e_bg=2.1, b=1.5, random_state=seed)
    sig = np.sqrt(np.maximum(d.spectra, 1.0) + 25.0)
    rng = np.random.default_rng(seed)
    draws = rng.normal(size=(n_replicas,) + d.spectra.shape) * sig
    kept = _smoothstep((d.energy - 0.5) / 0.25)
    tail = d.spectra - d.zlp * (1.0 - kept)
    return d, tail[None] + draws, (d.spectra - d.zlp)[None] + draws, sig


@pytest.mark.parametrize("background", ["constant", "linear"])
def test_zlp_tail_under_the_onset_is_refused_not_a_confident_gap(background):
    # At 2fe5d0a: E_bg medians 0.43-0.68 eV, no interval held 2.1 eV, no word.
    # Measured before the falling_below_gap check: "ok" with 2.26-2.31 eV
    # (constant) or 1.02-1.05 eV (linear), 68% bands 0.02-0.09 eV wide.
    for seed in range(3):
        d, tail, clean, sig = _zlp_tail_left(seed)
        res = fit_band_gap(d.energy, tail, sigma=sig, background=background, replica_axis=0)
        _assert_nan_with_status(res)
        assert res.status[0] in ("falling_below_gap", "too_few_replicas_converged")
        assert np.mean(res.replica_status[:, 0] == "falling_below_gap") >= 0.3
        if background == "constant":
            # the same spectra with the ZLP subtracted: the gap, found automatically
            ok = fit_band_gap(d.energy, clean, sigma=sig, replica_axis=0)
            assert ok.status.tolist() == ["ok"]
            # measured: 2.03-2.10 eV on seeds 0-2
            assert abs(ok.e_bg_median[0] - d.e_bg) < 0.1


# -------------------------------------------------------------------- pedestal
@pytest.mark.parametrize(
    "background, slope, b, tolerance",
    [("constant", 0.0, None, 0.08), ("linear", 0.3, 1.5, 0.15)],
    ids=["flat", "sloped"],
)
def test_pedestal_modelled_recovers_the_gap(background, slope, b, tolerance):
    # A sloped pedestal and a free b are nearly degenerate over a 1.6 eV window
    # (measured with b free: 68% bands 0.2-0.5 eV wide, 2 of 5 seeds at_bound in
    # a quarter of the replicas), so the sloped case fixes b at its true value.
    errors = []
    for seed in range(3):
        d, R, sig = _stand_in(seed, pedestal=2.0, floor=(0.4, 0.7), slope=slope)
        res = fit_band_gap(
            d.energy,
            R,
            sigma=sig,
            zlp=d.zlp,
            window=(1.0, 2.6),
            b=b,
            background=background,
            replica_axis=0,
        )
        assert res.status.tolist() == ["ok"]
        errors.append(res.e_bg_median[0] - d.e_bg)
        # the fitted pedestal at the window start is the floor added
        # (2 x the onset amplitude, times the slope's factor there)
        c0 = np.nanmedian(res.pedestal[:, 0, 0])
        expected = 2.0 * d.onset_amplitude[0] * (1.0 + slope * (1.0 - 0.7))
        assert c0 == pytest.approx(expected, rel=0.25)
    # measured: |error| <= 0.05 eV (flat), <= 0.12 eV (sloped, b fixed)
    assert np.max(np.abs(errors)) < tolerance
    # without the pedestal model: NaN with a status
    res = fit_band_gap(
        d.energy,
        R,
        sigma=sig,
        zlp=d.zlp,
        window=(1.0, 2.6),
        background=None,
        replica_axis=0,
    )
    _assert_nan_with_status(res)


def test_background_option_is_checked():
    e = np.linspace(0.0, 4.0, 161)
    with pytest.raises(ValueError, match="background must be one of"):
        fit_band_gap(e, np.ones(161), background="quadratic")


# ---------------------------------------------------------- image-shaped input
def test_image_shaped_input_is_refused_with_the_fix():
    # At 2fe5d0a a (ny, nx, n_channels) image was read as replicas x spectra.
    e = np.linspace(0.0, 4.0, 161)
    image = 500.0 * np.clip(e - np.array([1.4, 1.6, 1.8])[:, None], 0, None) ** 1.5
    image = np.stack([image, image])  # (ny=2, nx=3, n_channels)
    with pytest.raises(
        ValueError, match=r"ambiguous.*replica_axis=0.*reshape\(-1, n_channels\)"
    ):
        fit_band_gap(e, image, window=(1.0, 3.0))
    maps = fit_band_gap(e, image.reshape(-1, e.size), window=(1.0, 3.0))
    np.testing.assert_allclose(
        maps.e_bg_median.reshape(2, 3), [[1.4, 1.6, 1.8]] * 2, atol=0.01
    )
    with pytest.raises(ValueError, match="replica_axis must be 0 or 1"):
        fit_band_gap(e, image, window=(1.0, 3.0), replica_axis=2)


def test_subtraction_result_without_replicas_is_refused():
    # the real object: its .subtracted raises AttributeError (a fake with
    # subtracted = None once hid that the check missed it)
    from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
    from sklearn_zlp.datasets import make_synthetic_eels

    data = make_synthetic_eels(2, random_state=0)
    sub = ZLPSubtractor(
        data.energy,
        regressor=ZLPEnsembleRegressor(n_replicas=2, max_epochs=5),
        regions=ZLPRegionMask(de1=1.0, de2=3.0),
        random_state=0,
    ).fit(data.spectra)
    result = sub.subtract(data.spectra)
    assert not result.replicas_kept
    with pytest.raises(ValueError, match="keep_replicas=True"):
        fit_band_gap(data.energy, result)
    # with replicas: read in place (not copied), and left as they were
    kept = sub.subtract(data.spectra, keep_replicas=True)
    before = kept.subtracted.copy()
    fit_band_gap(data.energy, kept, window=(1.0, 3.0))
    assert kept.subtracted.flags.writeable
    np.testing.assert_array_equal(kept.subtracted, before)


# ------------------------------------------------------- BandGapFitter statuses
def test_fitter_gives_nan_features_and_statuses():
    e = np.linspace(0.0, 4.0, 161)
    rng = np.random.default_rng(3)
    onset = 500.0 * np.clip(e - 1.6, 0, None) ** 1.5
    X = np.vstack([onset, np.zeros_like(e)]) + rng.normal(0.0, 5.0, size=(2, e.size))
    fitter = BandGapFitter(energy_axis=e, window=(1.0, 3.0)).fit(X)
    features = fitter.transform(X)
    assert abs(features[0, 0] - 1.6) < 0.02
    assert np.all(np.isnan(features[1]))
    result = fitter.transform_result(X)
    assert result.status.tolist() == ["ok", "no_onset_in_window"]
    np.testing.assert_array_equal(result.e_bg[0], features[:, 0])


# ------------------------------------------------- direct/indirect probability
@pytest.fixture(scope="module")
def calibration_set():
    """p_indirect of synthetic spectra with known b, near the limit of detection.

    t/lambda 0.02-0.2 puts the onset from barely above the noise to clear; the
    window (E_bg - 0.6, E_bg + 1.0) eV is the automatic window's shape around
    the true gap, so that the probability is tested, not the window (with the
    automatic window the spectra it finds are all decided, p < 0.05 or > 0.95).
    """
    rng = np.random.default_rng(11)
    truth, p = [], []
    for k in range(60):
        b = (0.5, 1.5)[k % 2]
        e_bg = float(rng.uniform(1.3, 2.2))
        d, R, sig = _stand_in(
            100 + k,
            b=b,
            e_bg=e_bg,
            t_over_lambda=float(10 ** rng.uniform(-1.7, -0.7)),
            n_replicas=8,
        )
        res = fit_band_gap(
            d.energy,
            R,
            sigma=sig,
            zlp=d.zlp,
            window=(e_bg - 0.6, e_bg + 1.0),
            replica_axis=0,
        )
        if res.status[0] == "ok":
            truth.append(b == 1.5)
            p.append(res.p_indirect[0])
    return np.array(truth), np.array(p)


def test_p_indirect_is_calibrated(calibration_set):
    truth, p = calibration_set
    # measured: 37 of 60 ok; Brier score 0.082 (a coin: 0.25)
    assert truth.size >= 30 and np.all((p >= 0) & (p <= 1))
    # reliability: where p says indirect with probability q, about q of the
    # cases are indirect (binned; tolerances of ~2.5 binomial SDs)
    for lo, hi in ((0.0, 0.2), (0.2, 0.8), (0.8, 1.0001)):
        sel = (p >= lo) & (p < hi)
        if sel.sum() >= 5:
            sd = np.sqrt(max(np.mean(p[sel]) * (1 - np.mean(p[sel])), 0.04) / sel.sum())
            assert abs(np.mean(truth[sel]) - np.mean(p[sel])) < 2.5 * sd + 0.05
    # it discriminates, and the confident calls are right
    assert np.mean((p - truth) ** 2) < 0.15
    assert np.all(truth[p > 0.95]) and not np.any(truth[p < 0.05])


# ---------------------------------------------------- every status is reachable
def test_every_band_gap_status_is_set_somewhere():
    # Every status the band-gap modules register is produced by a case here, so
    # a status whose detection stops working (never set) fails this test.
    import sklearn_zlp.physics._bandgap_result as result_module
    import sklearn_zlp.physics._bandgap_spectrum as spectrum_module
    from sklearn_zlp._status import statuses
    from sklearn_zlp.physics import BandGapResult

    registered = {
        v
        for m in (spectrum_module, result_module)
        for k, v in vars(m).items()
        if k.isupper() and isinstance(v, str) and v in statuses()
    }
    seen = set()

    def record(res):
        seen.update(res.status.tolist(), res.replica_status.ravel().tolist())

    e = np.linspace(0.0, 4.0, 161)
    rng = np.random.default_rng(5)
    onset = 500.0 * np.clip(e - 1.6, 0, None) ** 1.5
    noise = rng.normal(0.0, 5.0, size=(8, e.size))
    record(fit_band_gap(e, noise, window=(1.0, 3.0), sigma=5.0, replica_axis=0))
    floor = np.where(e > 0.9, 200.0, 0.0) + noise
    record(fit_band_gap(e, floor, window=(1.0, 3.0), sigma=5.0, replica_axis=0))
    record(fit_band_gap(e, onset + noise, window=(2.0, 3.5), sigma=5.0, replica_axis=0))
    coarse = np.arange(0.0, 4.01, 0.3)
    record(fit_band_gap(coarse, 500.0 * np.clip(coarse - 1.6, 0, None) ** 1.5, sigma=5.0))
    d, tail, _, sig = _zlp_tail_left(0, n_replicas=8)
    record(fit_band_gap(d.energy, tail, sigma=sig, replica_axis=0))
    # fit_failed and too_few_replicas_converged: a result whose replicas failed
    e_bg = np.array([[1.6, np.nan], [np.nan, np.nan], [1.6, np.nan]])
    record(
        BandGapResult(
            e_bg=e_bg,
            b=np.full_like(e_bg, 1.5),
            amplitude=np.ones_like(e_bg),
            chi2=np.ones_like(e_bg),
            dof=np.array([10, 10]),
            chi2_direct=np.ones_like(e_bg),
            chi2_indirect=np.ones_like(e_bg),
            window=np.array([[1.0, 3.0], [1.0, 3.0]]),
            replica_status=np.array(
                [["ok", "fit_failed"], ["at_bound", "fit_failed"], ["ok", "fit_failed"]],
                dtype=object,
            ),
            min_replica_fraction=0.9,
        )
    )
    assert registered - seen == set()
    assert len(registered) == 8  # seven reasons and "ok"
