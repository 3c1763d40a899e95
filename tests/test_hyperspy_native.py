"""remove_zlp: HyperSpy signals in (eager, lazy, eXSpy EELSSpectrum), HyperSpy signals out."""

import numpy as np
import pytest

hs = pytest.importorskip("hyperspy.api")
exspy = pytest.importorskip("exspy")

from sklearn_zlp import ZeroLossAligner, ZLPRegionMask, ZLPSubtractor  # noqa: E402
from sklearn_zlp.datasets import make_synthetic_eels  # noqa: E402
from sklearn_zlp.hyperspy import ZLPSignals, remove_zlp  # noqa: E402
from sklearn_zlp.subtraction import default_regressor  # noqa: E402

FAST = {"n_replicas": 4, "max_epochs": 200, "random_state": 0}
ENERGY = np.linspace(-2.0, 10.0, 300)
SCALE = 12.0 / 299


def _eels(data, offset=-2.0, scale=SCALE, units="eV", title="WS2 flake"):
    """An EELSSpectrum with calibrated navigation axes and some metadata."""
    navigation = [("y", 5.0, 0.5), ("x", -1.0, 0.25)][2 - (data.ndim - 1) :]
    axes = [
        {"name": n, "size": k, "offset": o, "scale": s, "units": "nm", "navigate": True}
        for (n, o, s), k in zip(navigation, data.shape[:-1], strict=True)
    ]
    axes.append(
        {"name": "Energy loss", "size": data.shape[-1], "offset": offset, "scale": scale}
        | {"units": units, "navigate": False}
    )
    signal = exspy.signals.EELSSpectrum(np.array(data), axes=axes)
    signal.metadata.General.title = title
    signal.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 200.0)
    return signal


@pytest.fixture(scope="module")
def image():
    return make_synthetic_eels(
        image_shape=(2, 3), energy=ENERGY, n_vacuum=2, shift_std=0.02, random_state=0
    )


@pytest.fixture(scope="module")
def fitted(image):
    signal = _eels(image.spectra)
    before = signal.data.copy()
    result = remove_zlp(signal, vacuum=image.vacuum, **FAST)
    assert np.array_equal(signal.data, before)  # the input is not modified
    return signal, result


def test_outputs_are_eels_signals_on_the_inputs_axes(fitted):
    signal, res = fitted
    assert isinstance(res, ZLPSignals) and not res.lazy
    for name in ("subtracted", "subtracted_lower", "subtracted_upper", "zlp"):
        out = getattr(res, name)
        assert isinstance(out, exspy.signals.EELSSpectrum), name
        assert out.metadata.Signal.signal_type == "EELS"
        assert out.data.shape == signal.data.shape
        assert out.metadata.Acquisition_instrument.TEM.beam_energy == 200.0
        nav_in = signal.axes_manager.navigation_axes
        nav_out = out.axes_manager.navigation_axes
        for a, b in zip(nav_in, nav_out, strict=True):
            assert (a.name, a.size, a.offset, a.scale, a.units) == (
                b.name,
                b.size,
                b.offset,
                b.scale,
                b.units,
            )
        axis = out.axes_manager.signal_axes[0]
        assert axis.units == "eV" and axis.name == "Energy loss"
        assert axis.size == 300
        assert axis.scale == pytest.approx(SCALE, rel=1e-12)
        # the aligned axis: the input's, moved so that its channel nearest the median
        # ZLP position is at 0 eV
        assert axis.offset == pytest.approx(res.aligner.energy_axis_[0], abs=1e-12)
        raw = signal.axes_manager[-1].axis
        nearest = raw[np.argmin(np.abs(raw - np.median(res.aligner.zlp_positions_)))]
        assert axis.offset == pytest.approx(-2.0 - nearest, abs=1e-9)
        assert np.min(np.abs(axis.axis)) < 1e-9
    assert res.subtracted.metadata.General.title == "WS2 flake (ZLP subtracted, median)"
    assert res.zlp_upper.metadata.General.title == "WS2 flake (matched ZLP, upper)"
    assert res.subtracted_lower.metadata.ZLP_removal.confidence_level == 0.68
    assert isinstance(res.t_over_lambda, hs.signals.Signal2D)
    assert res.t_over_lambda.data.shape == (2, 3)
    x, y = res.t_over_lambda.axes_manager.signal_axes
    assert (x.name, x.scale, x.offset, x.units) == ("x", 0.25, -1.0, "nm")
    assert (y.name, y.scale, y.offset) == ("y", 0.5, 5.0)
    assert res.status.shape == (2, 3) and res.status.dtype.kind == "U"
    assert res.t_over_lambda_status.shape == (2, 3)


def test_numbers_equal_zlpsubtractor_subtract_bitwise(fitted, image):
    signal, res = fitted
    X = image.spectra.reshape(-1, 300)
    # the same pipeline by hand: aligner, vacuum mask, default ensemble, same seeds
    aligner = ZeroLossAligner(energy_axis=signal.axes_manager[-1].axis).fit(X)
    regressor = default_regressor(random_state=0).set_params(n_replicas=4, max_epochs=200)
    sub = ZLPSubtractor(
        aligner.energy_axis_,
        regressor=regressor,
        regions=ZLPRegionMask(vacuum=aligner.transform(image.vacuum)),
        random_state=0,
    ).fit(aligner.transform(X))
    direct = sub.subtract(aligner.transform(X))
    assert np.array_equal(res.energy, aligner.energy_axis_)
    pairs = {
        "subtracted": direct.subtracted_median,
        "subtracted_lower": direct.subtracted_band[0],
        "subtracted_upper": direct.subtracted_band[1],
        "zlp": direct.zlp_median,
        "zlp_lower": direct.zlp_band[0],
        "zlp_upper": direct.zlp_band[1],
    }
    for name, expected in pairs.items():
        got = getattr(res, name).data.reshape(-1, 300)
        assert np.array_equal(got, expected, equal_nan=True), name
    assert np.array_equal(res.t_over_lambda.data.ravel(), direct.t_over_lambda)
    assert np.array_equal(
        res.t_over_lambda_lower.data.ravel(), direct.t_over_lambda_band[0]
    )
    assert np.array_equal(
        res.t_over_lambda_upper.data.ravel(), direct.t_over_lambda_band[1]
    )
    assert res.status.ravel().tolist() == list(direct.status)
    assert res.t_over_lambda_status.ravel().tolist() == list(direct.t_over_lambda_status)
    # and the median lies inside its band
    assert np.all(res.subtracted_lower.data <= res.subtracted.data + 1e-9)
    assert np.all(res.subtracted.data <= res.subtracted_upper.data + 1e-9)


def test_lazy_in_lazy_out_equal_to_eager(fitted, image):
    signal, res = fitted
    lazy_signal = signal.as_lazy()
    lazy_signal.data = lazy_signal.data.rechunk((1, 2, 100))  # odd chunks, split energy
    lazy = remove_zlp(lazy_signal, vacuum=image.vacuum, **FAST)
    assert lazy.lazy and isinstance(lazy.subtracted, exspy.signals.LazyEELSSpectrum)
    assert lazy.t_over_lambda._lazy
    assert lazy.subtracted.data.chunks[:2] == ((1, 1), (2, 1))
    computed = lazy.compute()
    assert not computed.lazy and isinstance(computed.zlp, exspy.signals.EELSSpectrum)
    for name in ("subtracted", "subtracted_lower", "zlp", "zlp_upper", "t_over_lambda"):
        assert np.array_equal(
            getattr(computed, name).data, getattr(res, name).data, equal_nan=True
        ), name
    assert np.array_equal(computed.status, res.status)
    # a single lazy signal computes alone as well
    single = lazy.zlp_lower
    single.compute()
    assert np.array_equal(single.data, res.zlp_lower.data)


def test_reuse_of_the_subtractor_gives_the_same_numbers_without_fitting(
    fitted, monkeypatch
):
    signal, res = fitted

    def no_fit(*args, **kwargs):
        raise AssertionError("remove_zlp refitted a given subtractor")

    monkeypatch.setattr(ZLPSubtractor, "fit", no_fit)
    again = remove_zlp(signal, subtractor=res.subtractor)
    assert again.subtractor is res.subtractor
    for name in ("subtracted", "subtracted_upper", "zlp", "zlp_lower"):
        assert np.array_equal(getattr(again, name).data, getattr(res, name).data), name
    lazy = remove_zlp(signal.as_lazy(), subtractor=res.subtractor)
    assert lazy.lazy
    assert np.array_equal(lazy.compute().subtracted.data, res.subtracted.data)


def test_reuse_on_a_shifted_axis_resamples_onto_the_subtractors(fitted, image):
    signal, res = fitted
    # the same spectra recorded 0.3 channel further: the same axis after alignment
    moved = _eels(image.spectra, offset=-2.0 + 0.3 * SCALE)
    out = remove_zlp(moved, subtractor=res.subtractor)
    assert np.array_equal(out.energy, res.subtractor.energy_axis_)
    assert out.subtracted.axes_manager[-1].offset == pytest.approx(res.energy[0])
    # the ZLP maxima found again on 0 eV: the matched ZLP peaks at the 0 eV channel
    zero = int(np.argmin(np.abs(out.energy)))
    assert np.all(out.zlp.data.argmax(-1) == zero)


def test_kev_axis_line_scan_and_single_spectrum(fitted, image):
    signal, res = fitted
    kev = _eels(image.spectra, offset=-2.0e-3, scale=SCALE * 1e-3, units="keV")
    out = remove_zlp(kev, subtractor=res.subtractor)
    assert out.subtracted.axes_manager[-1].units == "eV"
    assert np.array_equal(out.energy, res.energy)
    # keV -> eV rounds the axis, so the aligned spectra differ by ~1e-12 relative:
    # the matched ZLP agrees to that, while the data-noise draws (seeded by a
    # digest of each spectrum's values) are new ones, so the subtracted medians
    # differ by the counting noise, not by rounding
    assert np.allclose(out.zlp.data, res.zlp.data, rtol=1e-9, atol=1e-5)
    line = remove_zlp(_eels(image.spectra[0]), subtractor=res.subtractor)
    assert line.subtracted.data.shape == (3, 300)
    assert isinstance(line.t_over_lambda, hs.signals.Signal1D)
    assert np.array_equal(line.subtracted.data, res.subtracted.data[0])
    one = remove_zlp(_eels(image.spectra[1, 2]), subtractor=res.subtractor)
    assert one.subtracted.data.shape == (300,) and one.status.shape == ()
    assert np.array_equal(one.zlp.data, res.zlp.data[1, 2])
    # a plain Signal1D is accepted too, and comes back as one
    plain = hs.signals.Signal1D(image.spectra[0])
    plain.axes_manager[-1].offset, plain.axes_manager[-1].scale = -2.0, SCALE
    plain.axes_manager[-1].units = "eV"
    out = remove_zlp(plain, subtractor=res.subtractor)
    assert type(out.subtracted) is hs.signals.Signal1D
    assert np.array_equal(out.subtracted.data, res.subtracted.data[0])


def test_wider_confidence_level_gives_wider_bands(fitted):
    signal, res = fitted
    wide = remove_zlp(signal, subtractor=res.subtractor, confidence_level=0.9)
    assert np.all(wide.subtracted_lower.data <= res.subtracted_lower.data + 1e-9)
    assert np.all(wide.subtracted_upper.data >= res.subtracted_upper.data - 1e-9)
    assert np.array_equal(wide.subtracted.data, res.subtracted.data)
    assert "90% band" in wide.subtracted_upper.metadata.ZLP_removal.statistic


def _bad_axis(signal, **changes):
    signal = signal.deepcopy()
    for key, value in changes.items():
        setattr(signal.axes_manager[-1], key, value)
    return signal


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda s, r: s.data, TypeError, "expects a HyperSpy signal"),
        (lambda s, r: hs.signals.Signal2D(s.data), ValueError, "2 signal dimensions"),
        (lambda s, r: _bad_axis(s, units="nm"), ValueError, "not an energy"),
        (lambda s, r: s.isig[::2], ValueError, "dispersion"),
        (lambda s, r: s.isig[:200], ValueError, "200 channels"),
    ],
    ids=["array", "signal2d", "nm_axis", "other_dispersion", "other_size"],
)
def test_bad_signals_raise_clear_errors(fitted, make, error, match):
    signal, res = fitted
    with pytest.raises(error, match=match):
        remove_zlp(make(signal, res), subtractor=res.subtractor)


def test_non_uniform_axis_is_refused(fitted):
    signal, _ = fitted
    s = hs.signals.Signal1D(
        signal.data[0, 0],
        axes=[{"axis": ENERGY**3 / 100 + ENERGY, "name": "E", "units": "eV"}],
    )
    with pytest.raises(ValueError, match="not uniform"):
        remove_zlp(s, **FAST)


def test_bad_options_raise_clear_errors(fitted, image):
    signal, res = fitted
    moved = _eels(image.vacuum, offset=-1.9)
    with pytest.raises(ValueError, match="vacuum signal's energy axis"):
        remove_zlp(signal, vacuum=moved, **FAST)
    with pytest.raises(ValueError, match=r"shape \(n_vacuum, 300\)"):
        remove_zlp(signal, vacuum=image.vacuum[:, :100], **FAST)
    with pytest.raises(TypeError, match="only a new fit uses"):
        remove_zlp(signal, subtractor=res.subtractor, vacuum=image.vacuum)
    with pytest.raises(TypeError, match="only a new fit uses"):
        remove_zlp(signal, subtractor=res.subtractor, mode="vacuum")
    with pytest.raises(TypeError, match="unexpected options"):
        remove_zlp(signal, n_replica=4)
    with pytest.raises(ValueError, match="covariates"):
        remove_zlp(signal, covariates=("log_total", "exposure_time"))
    with pytest.raises(ValueError, match="confidence_level"):
        remove_zlp(signal, subtractor=res.subtractor, confidence_level=68)
    with pytest.raises(TypeError, match="align must be"):
        remove_zlp(signal, subtractor=res.subtractor, align="yes")
    with pytest.raises(ValueError, match="not the subtractor's"):
        remove_zlp(
            _eels(image.spectra, offset=-1.0), subtractor=res.subtractor, align=False
        )
    with pytest.raises(ValueError, match="given both"):
        remove_zlp(signal, vacuum=image.vacuum, regions=ZLPRegionMask(vacuum=image.vacuum))
