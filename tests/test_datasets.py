"""The bundled WS2 spectra and the synthetic generator's ground truth."""

from pathlib import Path

import numpy as np
import pytest
from _real_inputs import AXIS_FORMS, REAL_FORMS, REFUSED_FORMS, reference

from sklearn_zlp.datasets import load_ws2, make_synthetic_eels, zlp_shape
from sklearn_zlp.preprocessing import find_zlp_position

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ws2_specimen4"


def test_load_ws2_shapes_axis_and_names():
    ws2 = load_ws2()
    assert ws2.energy.shape == (1981,)
    assert ws2.vacuum.shape == (3, 1981)
    assert ws2.sample.shape == (6, 1981)
    assert ws2.names["vacuum"] == ["vacuum_17", "vacuum_22", "vacuum_23"]
    assert ws2.names["sample"][0] == "sample_14" and len(ws2.names["sample"]) == 6
    # Bin centres as the data's README defines them.
    np.testing.assert_allclose(
        ws2.energy[0], -4.054 + 49.525 * 0.5 / 1981, rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(np.diff(ws2.energy), 49.525 / 1981, rtol=1e-10)
    assert "Ultramicroscopy 222 (2021) 113202" in ws2.DESCR


def test_load_ws2_values_are_the_measured_ones():
    ws2 = load_ws2()
    # ZLP maximum near -0.04 eV on the raw axis, millions of counts, some negative
    # tail channels from the dark/gain correction.
    peak = ws2.energy[ws2.sample.argmax(axis=1)]
    np.testing.assert_allclose(peak, -0.04, atol=0.02)
    assert 1e6 < ws2.sample.max() < 1e7
    assert ws2.vacuum.min() < 0
    if SHARED.exists():  # the package copy equals the project's shared data
        for row, name in zip(ws2.sample, ws2.names["sample"], strict=True):
            np.testing.assert_array_equal(row, np.loadtxt(SHARED / f"{name}.txt"))
        np.testing.assert_array_equal(ws2.vacuum[0], np.loadtxt(SHARED / "vacuum_17.txt"))


@pytest.fixture(scope="module")
def wide():
    """Axis to 250 eV so that plural scattering stays inside the window."""
    energy = np.linspace(-4.0, 250.0, 5081)
    return make_synthetic_eels(
        5,
        energy=energy,
        t_over_lambda=(0.1, 2.0),
        shift_std=0.05,
        n_vacuum=2,
        random_state=3,
    )


def test_components_add_up_to_the_spectrum(wide):
    np.testing.assert_allclose(
        wide.zlp + wide.single_scattering + wide.plural_scattering,
        wide.noise_free,
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        wide.inelastic, wide.single_scattering + wide.plural_scattering
    )
    # Noise is shot noise plus read noise: residuals normalised by the expected
    # standard deviation have unit variance.
    sigma = np.sqrt(np.clip(wide.noise_free, 0, None) + 5.0**2)
    z = (wide.spectra - wide.noise_free) / sigma
    assert abs(z.std() - 1.0) < 0.02
    assert abs(z.mean()) < 0.02


def test_thickness_recovered_from_its_own_zlp(wide):
    # Log-ratio t/lambda = ln(I_total / I_ZLP) (Egerton 2011, eq. 5.11).
    noise_free = np.log(wide.noise_free.sum(axis=1) / wide.zlp.sum(axis=1))
    np.testing.assert_allclose(noise_free, wide.t_over_lambda, rtol=2e-3)
    noisy = np.log(wide.spectra.sum(axis=1) / wide.zlp.sum(axis=1))
    np.testing.assert_allclose(noisy, wide.t_over_lambda, rtol=5e-3)


def test_zlp_area_follows_poisson_law(wide):
    np.testing.assert_allclose(
        wide.zlp.sum(axis=1), wide.total_counts * np.exp(-wide.t_over_lambda), rtol=1e-10
    )
    # Single scattering holds t/lambda times the ZLP intensity (Poisson, n = 1).
    np.testing.assert_allclose(
        wide.single_scattering.sum(axis=1),
        wide.zlp.sum(axis=1) * wide.t_over_lambda,
        rtol=2e-3,
    )
    # The ssd is the single scattering without the instrument broadening.
    np.testing.assert_allclose(
        wide.ssd.sum(axis=1), wide.single_scattering.sum(axis=1), rtol=2e-3
    )


def test_zlp_shift_and_fwhm_are_the_requested_ones(wide):
    e = wide.energy
    for zlp, shift in zip(wide.zlp, wide.shifts, strict=True):
        fine = np.linspace(shift - 0.5, shift + 0.5, 20001)
        peak = fine[np.argmax(np.interp(fine, e, zlp))]
        assert abs(peak - shift) < e[1] - e[0]
    for fwhm in (0.05, 0.3, 1.0):
        x = np.linspace(-5, 5, 200001)
        above = x[zlp_shape(x, fwhm=fwhm) >= 0.5]
        np.testing.assert_allclose(above[-1] - above[0], fwhm, rtol=1e-3)
    assert wide.fwhm == pytest.approx(0.3, rel=1e-3)


def test_gap_onset_follows_the_power_law():
    data = make_synthetic_eels(1, e_bg=1.2, b=0.5, t_over_lambda=0.4, random_state=0)
    e, ssd = data.energy, data.ssd[0]
    assert np.all(ssd[e <= 1.2] == 0)
    near = (e > 1.25) & (e < 1.7)
    model = data.onset_amplitude[0] * (e[near] - 1.2) ** 0.5
    # Within 0.5 eV of the gap the onset term dominates: plasmon gate < 3%.
    np.testing.assert_allclose(ssd[near], model, rtol=0.03)
    assert np.all(ssd[near] >= model)


def test_vacuum_spectra_are_zlp_only(wide):
    assert wide.vacuum.shape == (2, wide.energy.size)
    np.testing.assert_allclose(
        wide.vacuum_zlp.sum(axis=1), wide.total_counts.mean(), rtol=1e-10
    )
    resid = (wide.vacuum - wide.vacuum_zlp) / np.sqrt(wide.vacuum_zlp + 25.0)
    assert abs(resid.std() - 1.0) < 0.05


def test_spectral_image_thickness_varies_across_pixels():
    data = make_synthetic_eels(image_shape=(6, 7), t_over_lambda=(0.2, 1.2), random_state=1)
    assert data.spectra.shape == (6, 7, 2001)
    assert data.zlp.shape == data.inelastic.shape == (6, 7, 2001)
    assert data.t_over_lambda.shape == (6, 7)
    np.testing.assert_allclose(
        [data.t_over_lambda.min(), data.t_over_lambda.max()], [0.2, 1.2]
    )
    # Thicker pixels have weaker ZLPs.
    order = np.argsort(data.t_over_lambda.ravel())
    zlp_area = data.zlp.reshape(42, -1).sum(axis=1)
    assert np.all(np.diff(zlp_area[order]) <= 0)


def test_seed_reproducibility_and_independence():
    a = make_synthetic_eels(2, random_state=7, shift_std=0.02)
    b = make_synthetic_eels(2, random_state=7, shift_std=0.02)
    c = make_synthetic_eels(2, random_state=8, shift_std=0.02)
    np.testing.assert_array_equal(a.spectra, b.spectra)
    assert not np.allclose(a.spectra, c.spectra)


def test_metal_has_no_gap():
    data = make_synthetic_eels(1, e_bg=None, t_over_lambda=0.5, random_state=0)
    e = data.energy
    assert data.ssd[0][(e > 0.2) & (e < 1.0)].min() > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"energy": np.linspace(1, 10, 100)}, "must include 0 eV"),
        ({"energy": np.linspace(5, -5, 100)}, "strictly increasing"),
        (
            {"energy": np.r_[np.linspace(-2, 0, 50), np.linspace(0.1, 10, 50)]},
            "constant dispersion",
        ),
        ({"fwhm": 0.01}, "fewer than 2 channels"),
        ({"t_over_lambda": (1.0, 0.5)}, "low <= high"),
        ({"t_over_lambda": [0.1, 0.2]}, "3 spectra are generated"),
        ({"e_bg": 60.0}, "must lie between"),
        ({"image_shape": (0, 3)}, "positive sizes"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_eels(3, **kwargs)


# -------------------------------------------------------------- real array-likes
@pytest.mark.parametrize("form", REAL_FORMS)
def test_generator_takes_any_real_array_like(form):
    convert = REAL_FORMS[form]
    energy = AXIS_FORMS[form](np.linspace(-4.0, 46.0, 2001))
    thickness = convert(np.array([0.3, 0.5, 1.2]))
    counts = convert(np.array([1e6, 2e6, 3e6]))
    kwargs = {"fwhm": np.float32(0.3), "b": 1, "random_state": 0}
    data = make_synthetic_eels(
        3, energy=energy, t_over_lambda=thickness, total_counts=counts, **kwargs
    )
    expected = make_synthetic_eels(
        3,
        energy=reference(energy),
        t_over_lambda=reference(thickness),
        total_counts=reference(counts),
        **kwargs,
    )
    np.testing.assert_array_equal(data.spectra, expected.spectra)
    np.testing.assert_array_equal(data.t_over_lambda, reference(thickness))
    np.testing.assert_array_equal(zlp_shape(energy), zlp_shape(reference(energy)))


@pytest.mark.parametrize("form", REFUSED_FORMS)
def test_generator_refuses_complex_and_boolean_input(form):
    convert, match = REFUSED_FORMS[form]
    energy = np.linspace(-4.0, 46.0, 2001)
    for call in (
        lambda: make_synthetic_eels(2, energy=convert(energy)),
        lambda: make_synthetic_eels(2, t_over_lambda=convert(np.array([0.2, 0.5]))),
        lambda: make_synthetic_eels(2, total_counts=convert(np.array([1e6, 2e6]))),
        lambda: zlp_shape(convert(energy)),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    with pytest.raises(ValueError, match="boolean|Complex"):
        make_synthetic_eels(2, fwhm=convert(np.array([0.3, 0.4]))[0])


# ------------------------------------------- effects added for the validation zoo
def test_pedestal_adds_exactly_its_offset_and_leaves_the_draws_alone():
    plain = make_synthetic_eels(3, random_state=5)
    flat = make_synthetic_eels(3, pedestal=50.0, random_state=5)
    sloped = make_synthetic_eels(3, pedestal=30.0, pedestal_slope=2.0, random_state=5)
    e = plain.energy
    np.testing.assert_allclose(flat.spectra - plain.spectra, 50.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        sloped.spectra - plain.spectra,
        np.broadcast_to(30.0 + 2.0 * e, (3, e.size)),
        atol=1e-9,
    )
    np.testing.assert_allclose(sloped.pedestal, 30.0 + 2.0 * e, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        sloped.noise_free, plain.noise_free + sloped.pedestal, rtol=0, atol=1e-9
    )
    # the physics is untouched: the pedestal is not signal
    np.testing.assert_array_equal(sloped.zlp, plain.zlp)
    np.testing.assert_array_equal(sloped.inelastic, plain.inelastic)
    assert not plain.pedestal.any()


def test_detector_gain_scales_counts_and_the_variance():
    kw = {"n_spectra": 4, "read_noise": 3.0, "total_counts": 1e6, "random_state": 2}
    one = make_synthetic_eels(**kw)
    four = make_synthetic_eels(detector_gain=4.0, **kw)
    for name in ("zlp", "inelastic", "noise_free", "ssd", "onset_amplitude"):
        np.testing.assert_allclose(four[name], 4.0 * one[name], rtol=1e-12, err_msg=name)
    assert four.detector_gain == 4.0
    # variance = gain * counts + read^2: normalised residuals have unit variance with
    # the gain in the noise model, twice the standard deviation without it
    busy = four.noise_free > 400
    resid = (four.spectra - four.noise_free)[busy]
    z = resid / np.sqrt(4.0 * four.noise_free[busy] + 9.0)
    assert abs(z.std() - 1.0) < 0.03
    z_poisson = resid / np.sqrt(four.noise_free[busy] + 9.0)
    assert abs(z_poisson.std() - 2.0) < 0.06


def test_residual_drift_moves_every_peak_by_the_stated_amount():
    data = make_synthetic_eels(5, fwhm=0.3, residual_drift=0.5, random_state=4)
    # evenly spread over [-0.5, 0.5] FWHM, in a drawn order
    np.testing.assert_allclose(
        np.sort(data.residual_shifts), np.linspace(-0.15, 0.15, 5), rtol=0, atol=1e-12
    )
    np.testing.assert_array_equal(data.shifts, data.residual_shifts)
    located = find_zlp_position(data.zlp, data.energy)
    np.testing.assert_allclose(located, data.shifts, rtol=0, atol=2e-3)
    signed = make_synthetic_eels(2, fwhm=0.2, residual_drift=[1.0, -0.5], random_state=0)
    np.testing.assert_allclose(signed.residual_shifts, [0.2, -0.1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        find_zlp_position(signed.zlp, signed.energy), [0.2, -0.1], rtol=0, atol=2e-3
    )
    single = make_synthetic_eels(1, fwhm=0.3, residual_drift=1.0, random_state=0)
    np.testing.assert_allclose(single.residual_shifts, [0.3], rtol=0, atol=1e-12)


@pytest.mark.parametrize(("unit", "factor"), [("keV", 1e-3), ("meV", 1e3), ("eV", 1.0)])
def test_energy_unit_converts_only_the_returned_axis(unit, factor):
    ev = make_synthetic_eels(2, random_state=3)
    other = make_synthetic_eels(2, energy_unit=unit, random_state=3)
    np.testing.assert_allclose(other.energy, ev.energy * factor, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(other.energy_ev, ev.energy)
    np.testing.assert_array_equal(other.spectra, ev.spectra)
    assert other.energy_unit == unit


def _measured_fwhm(energy, row):
    """FWHM from the half-maximum crossings, linearly interpolated between channels."""
    top = row.argmax()
    half = row[top] / 2
    left = np.flatnonzero(row[:top] < half)[-1]
    right = top + np.flatnonzero(row[top:] < half)[0]
    e_left = np.interp(half, row[left : left + 2], energy[left : left + 2])
    e_right = np.interp(
        half, row[right - 1 : right + 1][::-1], energy[right - 1 : right + 1][::-1]
    )
    return e_right - e_left, energy[top] - e_left, e_right - energy[top]


def test_monochromated_zlp_has_the_requested_fwhm_and_asymmetry():
    energy = np.linspace(-0.3, 3.0, 3301)  # 1 meV channels
    data = make_synthetic_eels(
        2,
        energy=energy,
        fwhm=0.02,
        zlp_asymmetry=2.0,
        zlp_tail_fraction=0.02,
        e_bg=1.0,
        random_state=0,
    )
    for row in data.zlp:
        width, gain_side, loss_side = _measured_fwhm(energy, row)
        assert width == pytest.approx(0.02, abs=5e-4)  # half a channel
        assert loss_side / gain_side == pytest.approx(2.0, rel=0.1)
    assert data.fwhm == pytest.approx(0.02, rel=1e-3)


def test_gain_peaks_are_zlp_copies_on_the_gain_side():
    energy = np.linspace(-1.0, 6.0, 3501)
    kw = {"energy": energy, "fwhm": 0.03, "t_over_lambda": 0.2, "random_state": 1}
    plain = make_synthetic_eels(2, **kw)
    data = make_synthetic_eels(2, gain_peaks=[(-0.1, 0.02), (-0.25, 0.005)], **kw)
    np.testing.assert_array_equal(data.zlp, plain.zlp)
    np.testing.assert_array_equal(data.inelastic, plain.inelastic)
    np.testing.assert_allclose(
        data.gain_peaks.sum(axis=1), 0.025 * data.zlp.sum(axis=1), rtol=1e-6
    )
    np.testing.assert_allclose(
        data.noise_free, data.zlp + data.inelastic + data.gain_peaks, rtol=1e-12
    )
    near = (energy > -0.15) & (energy < -0.05)
    peak = energy[near][data.gain_peaks[0, near].argmax()]
    assert peak == pytest.approx(-0.1, abs=0.002)
    ratio = data.gain_peaks[0, near].max() / data.zlp[0].max()
    assert ratio == pytest.approx(0.02, rel=0.05)


def test_cherenkov_losses_sit_below_the_gap_as_stated():
    kw = {"e_bg": 2.0, "b": 0.5, "t_over_lambda": 0.4, "random_state": 0}
    plain = make_synthetic_eels(2, **kw)
    data = make_synthetic_eels(2, cherenkov_strength=0.3, cherenkov_energy=1.2, **kw)
    e = data.energy
    # other components untouched; Cherenkov-like losses are inelastic signal
    np.testing.assert_array_equal(data.single_scattering, plain.single_scattering)
    np.testing.assert_allclose(
        data.inelastic,
        data.single_scattering + data.plural_scattering + data.cherenkov,
        rtol=1e-12,
    )
    # unbroadened (ssd): zero below 1.2 eV, a square-root rise to 0.3 of the
    # onset amplitude at the gap, where the onset term is still zero
    below = (e > 1.2) & (e <= 2.0)
    expected = 0.3 * data.onset_amplitude[0] * np.sqrt((e[below] - 1.2) / 0.8)
    np.testing.assert_allclose(data.ssd[0, below], expected, rtol=1e-9)
    assert np.all(data.ssd[0, e <= 1.2] == 0)
    # broadened by the ZLP, it holds counts below the gap where there were none
    # (the gap onset, broadened by the ZLP's tails, is 10x weaker there)
    window = (e > 1.4) & (e < 1.7)
    assert np.all(data.cherenkov[0, window] > 10 * plain.inelastic[0, window])


def test_plasmon_outgrows_the_zlp_in_thick_specimens():
    energy = np.linspace(-15.0, 160.0, 1751)
    data = make_synthetic_eels(
        3,
        energy=energy,
        fwhm=2.0,
        t_over_lambda=(0.5, 2.5),
        e_bg=None,
        plasmon_energy=15.0,
        plasmon_width=1.5,
        random_state=0,
    )
    ratio = data.inelastic.max(axis=1) / data.zlp.max(axis=1)
    np.testing.assert_allclose(data.plasmon_to_zlp, ratio, rtol=1e-12)
    assert data.plasmon_to_zlp[0] < 0.5 and data.plasmon_to_zlp[-1] > 1.2
    # the strongest channel of the thickest spectrum is the plasmon, not the ZLP
    assert data.energy[data.spectra[-1].argmax()] > 10.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"detector_gain": 0.0}, "detector_gain must be a positive"),
        ({"pedestal": np.inf}, "must be finite"),
        ({"gain_peaks": [(0.1, 0.01)]}, "below 0 eV"),
        ({"gain_peaks": [(-0.1,)]}, "must be a pair"),
        ({"gain_peaks": [(-0.1, -1.0)]}, "fraction -1.0 must be positive"),
        ({"cherenkov_strength": 0.2, "e_bg": None}, "needs a band gap"),
        ({"cherenkov_strength": 0.2, "cherenkov_energy": 2.0}, "between 0 and e_bg"),
        ({"cherenkov_strength": -1.0}, "cherenkov_strength must be >= 0"),
        ({"residual_drift": -0.1}, "must be >= 0"),
        ({"residual_drift": [0.1, 0.2]}, "3 spectra are generated"),
        ({"energy_unit": "Ev"}, "not one of"),
    ],
)
def test_bad_zoo_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_eels(3, **kwargs)
