"""ZeroLossAligner: sub-channel recovery of known shifts, common axis, errors."""

import pickle

import numpy as np
import pytest
from _real_inputs import AXIS_FORMS, REAL_FORMS, REFUSED_FORMS, reference
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_zlp import ZeroLossAligner
from sklearn_zlp.datasets import load_ws2, make_synthetic_eels
from sklearn_zlp.preprocessing import find_zlp_position, zlp_fwhm


@pytest.fixture(scope="module")
def shifted():
    # Shifts of up to ~4 channels of 0.025 eV, ZLP FWHM 0.3 eV (12 channels).
    return make_synthetic_eels(
        12, shift_std=0.05, t_over_lambda=(0.2, 1.0), total_counts=5e7, random_state=11
    )


@pytest.mark.parametrize("method", ["split", "spline", "parabola"])
def test_positions_recover_known_subchannel_shifts(shifted, method):
    positions = find_zlp_position(shifted.spectra, shifted.energy, method=method)
    dispersion = shifted.energy[1] - shifted.energy[0]
    assert np.ptp(shifted.shifts) > 4 * dispersion  # really sub-channel and multi-channel
    err = np.abs(positions - shifted.shifts)
    tolerance = {"split": 0.05, "spline": 0.2, "parabola": 0.25}[method] * dispersion
    assert err.max() < tolerance, err / dispersion


@pytest.mark.parametrize("fwhm", [0.08, 0.3, 1.0])
def test_aligned_spectra_have_their_maximum_at_zero(fwhm):
    data = make_synthetic_eels(
        6, fwhm=fwhm, shift_std=0.04, total_counts=5e7, random_state=5
    )
    aligner = ZeroLossAligner(energy_axis=data.energy).fit(data.spectra)
    aligned = aligner.transform(data.spectra)
    assert aligned.shape == data.spectra.shape
    axis = aligner.energy_axis_
    assert np.count_nonzero(axis == 0.0) == 1
    np.testing.assert_allclose(np.diff(axis), data.energy[1] - data.energy[0], rtol=1e-9)
    assert axis[0] < -3.5  # the energy-gain side is kept
    residual = find_zlp_position(aligned, axis)
    dispersion = axis[1] - axis[0]
    assert np.abs(residual).max() < 0.1 * dispersion


def test_alignment_matches_the_unshifted_truth(shifted):
    # Aligning the noise-free shifted spectra must give the noise-free spectra the
    # generator makes without shifts (same thicknesses, ZLP maximum at 0 eV).
    unshifted = make_synthetic_eels(
        12, shift_std=0.0, t_over_lambda=(0.2, 1.0), total_counts=5e7, random_state=11
    )
    aligner = ZeroLossAligner(energy_axis=shifted.energy).fit(shifted.noise_free)
    aligned = aligner.transform(shifted.noise_free)
    e = aligner.energy_axis_
    truth = np.array([np.interp(e, unshifted.energy, row) for row in unshifted.noise_free])
    core = np.abs(e) < 1.0
    peak = unshifted.noise_free.max()
    # Cubic resampling of a 12-channel-wide peak: within 0.5% of its height.
    assert np.max(np.abs(aligned[:, core] - truth[:, core])) < 5e-3 * peak
    tail = (e > 2) & (e < 40)
    np.testing.assert_allclose(
        aligned[:, tail].sum(axis=1), truth[:, tail].sum(axis=1), rtol=1e-3
    )


def test_real_ws2_spectra_align_to_zero():
    ws2 = load_ws2()
    X = np.vstack([ws2.vacuum, ws2.sample])
    aligner = ZeroLossAligner(energy_axis=ws2.energy).fit(X)
    # The raw maxima sit near -0.04 eV, as the data's README says.
    np.testing.assert_allclose(aligner.zlp_positions_, -0.04, atol=0.015)
    aligned = aligner.transform(X)
    positions = find_zlp_position(aligned, aligner.energy_axis_)
    assert np.abs(positions).max() < 0.003
    # Counts are preserved away from the ends.
    inner = slice(10, -10)
    np.testing.assert_allclose(
        aligned[:, inner].sum(axis=1), X[:, inner].sum(axis=1), rtol=2e-3
    )


def test_transform_does_not_modify_input_and_pickles(shifted):
    X = shifted.spectra.copy()
    aligner = ZeroLossAligner(energy_axis=shifted.energy).fit(X)
    out = aligner.transform(X)
    np.testing.assert_array_equal(X, shifted.spectra)
    restored = pickle.loads(pickle.dumps(aligner))
    np.testing.assert_array_equal(restored.transform(X), out)
    np.testing.assert_array_equal(clone(aligner).fit(X).transform(X), out)


def test_aligner_in_a_pipeline(shifted):
    pipe = make_pipeline(
        ZeroLossAligner(energy_axis=shifted.energy), FunctionTransformer(np.log1p)
    )
    out = pipe.fit_transform(np.clip(shifted.spectra, 0, None))
    assert out.shape == shifted.spectra.shape
    names = pipe[0].get_feature_names_out()
    assert names[np.argmax(pipe[0].energy_axis_ == 0)] == "E=0"


def test_search_range_skips_a_stronger_peak():
    data = make_synthetic_eels(2, shift_std=0.03, random_state=0)
    X = data.spectra.copy()
    X[:, -100] = 10 * X.max()  # a hot pixel far from the ZLP
    positions = (
        ZeroLossAligner(energy_axis=data.energy, search_range=(-1, 1)).fit(X).zlp_positions_
    )
    np.testing.assert_allclose(positions, data.shifts, atol=0.005)


@pytest.mark.parametrize(
    ("make_args", "match"),
    [
        (lambda e, X: (e[:-1], X), "has 2000 channels but the spectra have 2001"),
        (lambda e, X: (e[::-1], X), "strictly increasing"),
        (lambda e, X: (e, np.where(np.arange(X.shape[1]) == 5, np.nan, X)), "NaN"),
        (
            lambda e, X: (e, X[:, ::-1] * 0 + np.linspace(0, 1, X.shape[1])),
            "no zero-loss peak",
        ),
    ],
)
def test_bad_input_raises_clear_errors(make_args, match):
    data = make_synthetic_eels(2, random_state=0)
    energy, X = make_args(data.energy, data.spectra)
    with pytest.raises(ValueError, match=match):
        ZeroLossAligner(energy_axis=energy).fit(X)


def test_max_shift_rejects_spectra_without_zlp_at_expected_place():
    data = make_synthetic_eels(3, random_state=0)
    aligner = ZeroLossAligner(energy_axis=data.energy, max_shift=0.5).fit(data.spectra)
    moved = np.roll(data.spectra, 80, axis=1)  # 2 eV away
    with pytest.raises(ValueError, match="max_shift"):
        aligner.transform(moved)


@pytest.mark.parametrize("fwhm", [0.05, 0.3, 1.0])
def test_fwhm_of_known_zlp(fwhm):
    from sklearn_zlp.preprocessing import zlp_fwhm

    data = make_synthetic_eels(
        2, fwhm=fwhm, t_over_lambda=0.0, total_counts=1e9, random_state=0
    )
    # Linear interpolation between channels of 0.025 eV: within a fifth of a channel.
    np.testing.assert_allclose(zlp_fwhm(data.spectra, data.energy), fwhm, atol=0.005)


# ------------------------------------------------------------ transactional fit
def test_failed_refit_keeps_the_previous_fit(shifted):
    aligner = ZeroLossAligner(energy_axis=shifted.energy).fit(shifted.spectra)
    state, out = pickle.dumps(aligner), aligner.transform(shifted.spectra)
    # Spectra with one channel less than the axis: n_features_in_ would change
    # before the axis check fails.
    with pytest.raises(ValueError, match="channels") as info:
        aligner.fit(shifted.spectra[:, :-1])
    assert pickle.dumps(aligner) == state
    np.testing.assert_array_equal(aligner.transform(shifted.spectra), out)
    assert "keeps its previous fit" in " ".join(getattr(info.value, "__notes__", []))


def test_interrupted_refit_keeps_the_previous_fit(shifted, monkeypatch):
    import sklearn_zlp.preprocessing._peak as align

    aligner = ZeroLossAligner().fit(shifted.spectra)  # numbered channels
    state, out = pickle.dumps(aligner), aligner.transform(shifted.spectra)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(align, "split_parabola_vertices", interrupt)
    with pytest.raises(KeyboardInterrupt):
        aligner.fit(shifted.spectra[:, :1500])  # fewer channels, interrupted
    monkeypatch.undo()
    assert pickle.dumps(aligner) == state
    np.testing.assert_array_equal(aligner.transform(shifted.spectra), out)


def test_interrupted_first_fit_stays_unfitted(shifted, monkeypatch):
    import sklearn_zlp.preprocessing._peak as align

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    aligner = ZeroLossAligner(energy_axis=shifted.energy)
    monkeypatch.setattr(align, "split_parabola_vertices", interrupt)
    with pytest.raises(KeyboardInterrupt) as info:
        aligner.fit(shifted.spectra)
    monkeypatch.undo()
    assert not [k for k in vars(aligner) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        aligner.transform(shifted.spectra)
    assert "stays unfitted" in " ".join(getattr(info.value, "__notes__", []))


# -------------------------------------------------------------- real array-likes
@pytest.mark.parametrize("form", REAL_FORMS)
def test_functions_take_any_real_array_like(shifted, form):
    X, energy = REAL_FORMS[form](shifted.spectra), AXIS_FORMS[form](shifted.energy)
    X64, energy64 = reference(X), reference(energy)
    np.testing.assert_array_equal(
        find_zlp_position(X, energy), find_zlp_position(X64, energy64)
    )
    np.testing.assert_array_equal(zlp_fwhm(X, energy), zlp_fwhm(X64, energy64))


@pytest.mark.parametrize("form", REAL_FORMS)
def test_aligner_takes_any_real_array_like(shifted, form):
    X, energy = REAL_FORMS[form](shifted.spectra), AXIS_FORMS[form](shifted.energy)
    X64 = reference(X)
    expected = ZeroLossAligner(energy_axis=reference(energy)).fit(X64)
    aligner = ZeroLossAligner(energy_axis=energy).fit(X)
    np.testing.assert_array_equal(aligner.energy_axis_, expected.energy_axis_)
    np.testing.assert_array_equal(aligner.transform(X), expected.transform(X64))
    np.testing.assert_array_equal(aligner.zlp_positions(X), expected.zlp_positions(X64))
    out = aligner.fit_transform(X)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected.transform(X64))


def test_integer_energy_axis_and_counts():
    # Uncalibrated data: integer channel numbers as the axis, integer counts.
    channels = np.arange(-50, 250)
    X = np.rint(1e4 * np.exp(-0.5 * ((channels - np.array([[2.3], [-1.6]])) / 4.0) ** 2))
    X = X.astype(np.int32)
    aligner = ZeroLossAligner(energy_axis=channels).fit(X)
    np.testing.assert_allclose(aligner.zlp_positions_, [2.3, -1.6], atol=0.05)
    assert aligner.energy_axis_.dtype == np.float64
    np.testing.assert_array_equal(
        find_zlp_position(X, channels), find_zlp_position(X.astype(float), channels * 1.0)
    )
    np.testing.assert_allclose(zlp_fwhm(X, channels), 2.3548 * 4.0, atol=0.1)


@pytest.mark.parametrize("form", REFUSED_FORMS)
def test_complex_and_boolean_spectra_get_a_clear_error(shifted, form):
    convert, match = REFUSED_FORMS[form]
    X, energy = convert(shifted.spectra), shifted.energy
    fitted = ZeroLossAligner(energy_axis=energy).fit(shifted.spectra)
    for call in (
        lambda: find_zlp_position(X, energy),
        lambda: zlp_fwhm(X, energy),
        lambda: ZeroLossAligner(energy_axis=energy).fit(X),
        lambda: fitted.transform(X),
        lambda: fitted.zlp_positions(X),
        lambda: find_zlp_position(shifted.spectra, convert(energy)),
        lambda: ZeroLossAligner(energy_axis=convert(energy)).fit(shifted.spectra),
    ):
        with pytest.raises(ValueError, match=match):
            call()


def test_default_aligner_refuses_what_the_sklearn_checks_feed_it():
    # The reasons given for its expected failures in test_common.py.
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"2 feature\(s\).*at least 3"):
        ZeroLossAligner().fit(rng.normal(size=(10, 2)))
    ramp = np.tile(np.arange(5.0), (3, 1))  # maxima on the last channel
    with pytest.raises(ValueError, match="no zero-loss peak"):
        ZeroLossAligner().fit(ramp)


def test_aligner_validates_each_input_once_per_call(shifted, monkeypatch):
    import sklearn_zlp._validation as validation

    counts = {}
    convert = validation.as_real_array

    def counted(X, *, name="X"):
        counts[name] = counts.get(name, 0) + 1
        return convert(X, name=name)

    monkeypatch.setattr(validation, "as_real_array", counted)
    aligner = ZeroLossAligner(energy_axis=shifted.energy.tolist())
    aligner.fit(shifted.spectra.tolist())
    assert counts == {"X": 1, "energy_axis": 1}
    counts.clear()
    aligner.transform(shifted.spectra)  # an array goes to validate_data directly
    assert counts == {"energy_axis": 1}
    counts.clear()
    find_zlp_position(shifted.spectra, shifted.energy)
    assert counts == {"spectra": 1, "energy_axis": 1}


def test_shared_peaks_searches_each_array_once(monkeypatch):
    # A fit checks alignment, places regions and measures widths on the same
    # spectra; inside shared_peaks the peak search runs once per array object.
    from sklearn_zlp.datasets import make_synthetic_eels
    from sklearn_zlp.preprocessing import _peak

    X = make_synthetic_eels(6, random_state=3).spectra
    calls = []
    search = _peak._search
    monkeypatch.setattr(_peak, "_search", lambda s, w: calls.append(w) or search(s, w))
    with _peak.shared_peaks():
        first = _peak.zlp_peaks(X)
        with _peak.shared_peaks():  # nested blocks share the outer cache
            assert _peak.zlp_peaks(X) is first
        other = _peak.zlp_peaks(X.copy())  # another object: searched again
        _peak.zlp_peaks(X, window=(0, 500))  # another window: searched again
    assert len(calls) == 3
    np.testing.assert_array_equal(other.channel, first.channel)
    assert _peak.zlp_peaks(X) is not first  # outside the block nothing is kept
    assert len(calls) == 4


def _split_vertex_reference(energy, spectrum, peak, low, high):
    """The former per-spectrum fit: lstsq residual, scipy's bounded Brent."""
    from scipy.optimize import minimize_scalar

    top = spectrum[peak]
    lo = peak
    while lo > low and spectrum[lo - 1] > 0.6 * top:
        lo -= 1
    hi = peak
    while hi < high and spectrum[hi + 1] > 0.6 * top:
        hi += 1
    lo, hi = max(min(lo, peak - 2), 0), min(max(hi, peak + 2), spectrum.size - 1)
    x = energy[lo : hi + 1]
    y = np.log(np.clip(spectrum[lo : hi + 1], top * 1e-6, None))
    step = 0.5 * (energy[peak + 1] - energy[peak - 1])

    def cost(x0):
        d2 = (x - x0) ** 2
        design = np.column_stack([np.ones_like(x), d2 * (x < x0), d2 * (x >= x0)])
        coef = np.linalg.lstsq(design, y, rcond=None)[0]
        return float(np.sum((design @ coef - y) ** 2))

    bounds = (
        min(energy[peak] - step, 0.5 * (x[0] + energy[peak])),
        max(energy[peak] + step, 0.5 * (x[-1] + energy[peak])),
    )
    return minimize_scalar(
        cost, bounds=bounds, method="bounded", options={"xatol": 1e-4 * step}
    ).x


@pytest.mark.parametrize("fwhm", [0.08, 0.4, 1.5])
def test_split_vertices_of_all_spectra_at_once_equal_scipy_one_at_a_time(fwhm):
    from sklearn_zlp.preprocessing._peak import zlp_peaks
    from sklearn_zlp.preprocessing._vertex import split_parabola_vertices

    data = make_synthetic_eels(40, fwhm=fwhm, t_over_lambda=(0.1, 2.0), random_state=7)
    X, e = data.spectra, data.energy
    peaks = zlp_peaks(X)
    ok = np.flatnonzero(peaks.status == "ok")
    assert ok.size == 40
    args = (peaks.channel[ok], peaks.low[ok], peaks.high[ok])
    fast = split_parabola_vertices(e, X[ok], *args)
    reference = [
        _split_vertex_reference(e, X[i], *(int(a[k]) for a in args))
        for k, i in enumerate(ok)
    ]
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-6 * (e[1] - e[0]))


def test_shared_peaks_as_a_decorator_leaves_nothing_behind():
    # one decorator instance serves every call: recursive and concurrent calls
    # must each open and close their own block
    from concurrent.futures import ThreadPoolExecutor

    from sklearn_zlp.preprocessing import _peak

    @_peak.shared_peaks()
    def depth(n):
        assert _peak._SHARED.get() is not None
        return depth(n - 1) if n else _peak._SHARED.get() is not None

    assert depth(3)
    assert _peak._SHARED.get() is None
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(depth, range(8)))
    assert _peak._SHARED.get() is None


def test_a_spectrum_aligns_the_same_alone_or_in_any_stack():
    """A row's result never depends on the other rows of the call: fails before
    the vertex fit ran per fit width (the WS2 vacuum rows moved by up to 6e-6
    counts when stacked with the specimen rows, from zero padding to the widest
    row's fit)."""
    from sklearn_zlp.datasets import load_ws2

    ws2 = load_ws2()
    X = np.vstack([ws2.sample, ws2.vacuum])
    aligner = ZeroLossAligner(energy_axis=ws2.energy).fit(X)
    stacked = aligner.transform(X)
    for i in range(len(X)):
        np.testing.assert_array_equal(aligner.transform(X[i : i + 1])[0], stacked[i])
    order = np.arange(len(X))[::-1]
    np.testing.assert_array_equal(aligner.transform(X[order]), stacked[order])
